//! A validator network as users run it: `lightstreams testnet` writes four validators, each runs
//! as its own process on loopback, transactions sent to any of them become final on all, and
//! the chain survives a `kill -9` of one validator, which catches up when it returns.

mod common;

use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, U256};
use common::{Node, signed_tx};
use serde_json::{Value, json};

fn head(node: &Node) -> u64 {
    node.u256("eth_blockNumber", json!([])).to::<u64>()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free loopback port with the next three free too (the validators' consensus ports).
fn free_port_range(n: u16) -> u16 {
    for _ in 0..50 {
        let base = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if base > 65000 {
            continue;
        }
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range");
}

fn block(node: &Node, number: u64) -> Value {
    node.ok("eth_getBlockByNumber", json!([format!("0x{number:x}"), false]))
}

#[test]
fn four_validators_agree_survive_a_kill_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let port = free_port_range(4).to_string();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(["testnet", "--validators", "4", "--rpc-port", "0", "--gateway-port", "0", "--consensus-port", &port, "--dir"])
        .arg(&net)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let config = |i: usize| net.join(format!("node{i}")).join("config.toml");
    let mut nodes: Vec<Node> = (0..4).map(|i| Node::start_config(&config(i))).collect();
    wait_until("every validator to finalize block 3", Duration::from_secs(60), || nodes.iter().all(|n| head(n) >= 3));

    // Each validator gets transfers from its own sender; each lands when its validator leads.
    let keys = [common::KEY0, common::KEY1];
    let to = Address::repeat_byte(0x42);
    let mut hashes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        for nonce in 0..5u64 {
            let raw = signed_tx(key, nonce, Some(to), U256::from(1 + nonce), Bytes::new(), 21_000);
            hashes.push(nodes[i].ok("eth_sendRawTransaction", json!([raw])).as_str().unwrap().to_string());
        }
    }
    for hash in &hashes {
        for n in &nodes {
            n.wait_receipt(hash, Duration::from_secs(60));
        }
    }
    assert_eq!(nodes[3].u256("eth_getBalance", json!([to, "latest"])), U256::from(2 * (1 + 2 + 3 + 4 + 5)));

    // kill -9 one validator: the other three keep finalizing.
    nodes[3].kill9();
    let before = head(&nodes[0]);
    wait_until("three validators to finalize 8 more blocks", Duration::from_secs(60), || {
        nodes[..3].iter().all(|n| head(n) >= before + 8)
    });
    // It comes back, replays what it missed, and holds the very same blocks.
    nodes[3] = Node::start_config(&config(3));
    let target = head(&nodes[0]);
    wait_until("the restarted validator to catch up", Duration::from_secs(60), || head(&nodes[3]) >= target);
    for number in [1, before, target] {
        let reference = block(&nodes[0], number);
        for n in &nodes[1..] {
            let b = block(n, number);
            assert_eq!(b["hash"], reference["hash"], "block {number}");
            assert_eq!(b["stateRoot"], reference["stateRoot"], "block {number}");
        }
    }
    // Blocks credit their proposers: more than one validator proposed.
    let miners: std::collections::HashSet<String> =
        (1..=target).map(|n| block(&nodes[0], n)["miner"].as_str().unwrap().to_string()).collect();
    assert!(miners.len() >= 3, "{miners:?}");
}

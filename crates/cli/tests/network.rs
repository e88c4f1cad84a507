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

/// A free loopback port with the next `n - 1` free too (the validators' consensus ports). Taken
/// below Linux's ephemeral range (32768–60999), where the port-0 binds of tests running beside
/// this one cannot land on it between this check and the node's bind.
fn free_port_range(n: u16) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..200 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let base = 20_000 + (h.finish() % 12_000) as u16;
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range");
}

fn block(node: &Node, number: u64) -> Value {
    node.ok("eth_getBlockByNumber", json!([format!("0x{number:x}"), false]))
}

/// Writes a network of 4 validators and `full` full nodes into `dir` (RPC on fixed ports when
/// `fixed_rpc`, since the key-release committee lists them) and starts every validator; a full
/// node's config is `dir/net/full<j>/config.toml`.
fn network(dir: &std::path::Path, fixed_rpc: bool, full: u16) -> (Vec<Node>, impl Fn(usize) -> std::path::PathBuf) {
    let net = dir.join("net");
    let port = free_port_range(4 + full).to_string();
    let rpc = if fixed_rpc { free_port_range(4 + full).to_string() } else { "0".into() };
    let p2p = free_port_range(4 + full).to_string();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(["testnet", "--validators", "4", "--rpc-port", &rpc, "--gateway-port", "0", "--consensus-port", &port])
        .args(["--full-nodes", &full.to_string(), "--p2p-port", &p2p, "--dir"])
        .arg(&net)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // Nodes 0..4 are the validators, 4.. the full nodes.
    let config = move |i: usize| match i {
        0..4 => net.join(format!("node{i}")).join("config.toml"),
        j => net.join(format!("full{}", j - 4)).join("config.toml"),
    };
    let nodes: Vec<Node> = (0..4).map(|i| Node::start_config(&config(i))).collect();
    wait_until("every validator to finalize block 3", Duration::from_secs(60), || nodes.iter().all(|n| head(n) >= 3));
    (nodes, config)
}

#[test]
fn four_validators_agree_survive_a_kill_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, config) = network(dir.path(), false, 1);
    // A full node: it follows the validators, verifies what they finalize, serves RPC, and
    // passes the transactions sent to it on to them.
    let mut full = Node::start_config(&config(4));

    // Each validator gets transfers from its own sender, and the full node from a third; each
    // lands when a validator leads.
    let keys = [common::KEY0, common::KEY1, common::KEY2];
    let to = Address::repeat_byte(0x42);
    let mut hashes = Vec::new();
    wait_until("the full node to follow", Duration::from_secs(60), || head(&full) >= 3);
    for (i, key) in keys.iter().enumerate() {
        let via = nodes.get(i).unwrap_or(&full);
        for nonce in 0..5u64 {
            let raw = signed_tx(key, nonce, Some(to), U256::from(1 + nonce), Bytes::new(), 21_000);
            hashes.push(via.ok("eth_sendRawTransaction", json!([raw])).as_str().unwrap().to_string());
        }
    }
    for hash in &hashes {
        for n in nodes.iter().chain([&full]) {
            n.wait_receipt(hash, Duration::from_secs(60));
        }
    }
    assert_eq!(nodes[3].u256("eth_getBalance", json!([to, "latest"])), U256::from(3 * (1 + 2 + 3 + 4 + 5)));
    assert_eq!(full.u256("eth_getBalance", json!([to, "latest"])), U256::from(3 * (1 + 2 + 3 + 4 + 5)));
    // It proposes nothing and credits no account; it holds no key-release share.
    assert_eq!(full.ok("eth_coinbase", json!([])), json!(format!("{:#x}", Address::ZERO)));
    let r = full.call("lightstreams_releaseKey", json!(["0x00"]));
    assert!(r["error"]["message"].as_str().unwrap().contains("not a key-release member"), "{r}");
    let committee = full.ok("lightstreams_committee", json!([]));
    assert_eq!(committee["endpoints"].as_array().unwrap().len(), 4, "{committee}");
    // Dev methods are refused on a validator: its chain is the network's, not its own.
    for (method, params) in [("evm_mine", json!([])), ("anvil_setBalance", json!([to, "0x1"])), ("evm_snapshot", json!([]))] {
        let r = nodes[0].call(method, params);
        assert_eq!(r["error"]["code"], json!(-32601), "{method}: {r}");
        assert_eq!(
            r["error"]["message"].as_str().unwrap(),
            format!("the method {method} is only available on a dev node (`lightstreams node --dev`)")
        );
    }

    // The validators are IPFS peers of each other (testnet names them as bootstrap peers): a
    // file uploaded to one reads through another's gateway.
    let body: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    let client = reqwest::blocking::Client::new();
    let cid = nodes[0].add(&body);
    let read = client.get(format!("{}/ipfs/{cid}", nodes[2].gateway)).timeout(Duration::from_secs(30)).send().unwrap();
    assert_eq!(read.status(), 200);
    assert!(read.bytes().unwrap() == body, "the bytes read through validator 2 differ");

    // net_peerCount is each node's connected consensus peers: a validator's are the other three
    // and the full node, the full node's the four validators.
    let peers = |n: &Node| n.u256("net_peerCount", json!([])).to::<u64>();
    wait_until("every node to count four peers", Duration::from_secs(30), || nodes.iter().chain([&full]).all(|n| peers(n) == 4));

    // A steady load of transfers to validator 0 (40, one every 50 ms) while validator 3 is
    // killed: none may be lost.
    let load_url = nodes[0].url.clone();
    let to_load = Address::repeat_byte(0x43);
    let load = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        (0..40u64)
            .map(|nonce| {
                let raw = signed_tx(common::KEY3, nonce, Some(to_load), U256::from(1), Bytes::new(), 21_000);
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]});
                let r: Value = client.post(&load_url).json(&body).send().unwrap().json().unwrap();
                std::thread::sleep(Duration::from_millis(50));
                r["result"].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
            })
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(500));

    // kill -9 one validator mid-load: the other three keep finalizing, and the full node follows.
    nodes[3].kill9();
    wait_until("the others to count three peers", Duration::from_secs(30), || nodes[..3].iter().chain([&full]).all(|n| peers(n) == 3));
    let before = head(&nodes[0]);
    wait_until("three validators to finalize 8 more blocks", Duration::from_secs(60), || {
        nodes[..3].iter().all(|n| head(n) >= before + 8)
    });
    let loaded = load.join().unwrap();
    // It comes back, replays what it missed, and holds the very same blocks.
    nodes[3] = Node::start_config(&config(3));
    let target = head(&nodes[0]);
    // While it replays, eth_syncing may show geth's progress object (how long replay takes
    // decides whether a poll sees it); once caught up it says false, like the others.
    let mut progress = Vec::new();
    wait_until("the restarted validator to catch up", Duration::from_secs(60), || {
        let s = nodes[3].ok("eth_syncing", json!([]));
        if s.is_object() {
            progress.push(s);
        }
        head(&nodes[3]) >= target
    });
    for p in &progress {
        let n = |k: &str| u64::from_str_radix(p[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        assert!(n("startingBlock") <= n("currentBlock") && n("currentBlock") < n("highestBlock"), "{p}");
    }
    wait_until("every validator to say it is not syncing", Duration::from_secs(30), || {
        nodes.iter().all(|n| n.ok("eth_syncing", json!([])) == json!(false))
    });
    // kill -9 the full node: it restarts from what it had committed and catches up.
    full.kill9();
    let gone = head(&nodes[0]);
    wait_until("the validators to finalize 4 more blocks", Duration::from_secs(60), || head(&nodes[0]) >= gone + 4);
    full = Node::start_config(&config(4));
    let target = head(&nodes[0]);
    wait_until("the full node to catch up", Duration::from_secs(60), || head(&full) >= target);
    // Every transfer of the load is final on every node, the restarted ones included.
    for hash in &loaded {
        for n in nodes.iter().chain([&full]) {
            assert_eq!(n.wait_receipt(hash, Duration::from_secs(30))["status"], json!("0x1"));
        }
    }
    for n in nodes.iter().chain([&full]) {
        assert_eq!(n.u256("eth_getBalance", json!([to_load, "latest"])), U256::from(40));
    }
    for number in [1, before, target] {
        let reference = block(&nodes[0], number);
        for n in nodes[1..].iter().chain([&full]) {
            let b = block(n, number);
            assert_eq!(b["hash"], reference["hash"], "block {number}");
            assert_eq!(b["stateRoot"], reference["stateRoot"], "block {number}");
        }
    }
    // Each validator's eth_coinbase is its own account, the one its blocks credit.
    let network: Value = serde_json::from_slice(&std::fs::read(dir.path().join("net/network.json")).unwrap()).unwrap();
    for (i, n) in nodes.iter().enumerate() {
        let coinbase = n.ok("eth_coinbase", json!([])).as_str().unwrap().to_lowercase();
        assert_eq!(coinbase, network["validators"][i]["address"].as_str().unwrap().to_lowercase());
    }
    // Blocks credit their proposers: more than one validator proposed.
    let miners: std::collections::HashSet<String> =
        (1..=target).map(|n| block(&nodes[0], n)["miner"].as_str().unwrap().to_string()).collect();
    assert!(miners.len() >= 3, "{miners:?}");
}

/// Runs `lightstreams` against `node`, keeping keys in `keys`.
fn ls(node: &Node, keys: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(args)
        .args(["--node", &node.gateway, "--rpc", &node.url])
        .env("LIGHTSTREAMS_KEYS", keys)
        .output()
        .expect("run lightstreams")
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure, got {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The product on a network: the key of a sold file is released by 3 of the 4 validators, each
/// checking the purchase on its own finalized state; with 2 of 4 gone nothing is released.
#[test]
fn a_buyer_gets_the_key_from_three_of_four_validators() {
    const CREATOR: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    const BUYER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _) = network(dir.path(), true, 0);
    let (creator_keys, buyer_keys) = (dir.path().join("creator"), dir.path().join("buyer"));
    let song: Vec<u8> = b"FOUR-VALIDATORS-".iter().copied().cycle().take(300_000).collect();
    let src = dir.path().join("song.flac");
    std::fs::write(&src, &song).unwrap();
    let added = ok(&ls(&nodes[0], &creator_keys, &["file", "add", "--json", "--from", CREATOR, "--price", "1", src.to_str().unwrap()]));
    let cid = serde_json::from_str::<Value>(&added).unwrap()["Hash"].as_str().unwrap().to_string();
    let out_path = dir.path().join("out.flac");
    let out = out_path.to_str().unwrap();

    // The buyer's node is another validator: it fetches the ciphertext from the creator's.
    let e = err(&ls(&nodes[1], &buyer_keys, &["file", "get", &cid, "-o", out, "--from", BUYER]));
    assert!(e.contains("only 0 of 3 key shares answered") && e.contains("no read access"), "{e}");
    ok(&ls(&nodes[1], &buyer_keys, &["file", "buy", &cid, "--from", BUYER]));
    // At once, without waiting for the other validators: a member that has not finalized the
    // purchase yet would refuse, and the client would ask it again (paid.rs tests the retry).
    ok(&ls(&nodes[1], &buyer_keys, &["file", "get", &cid, "-o", out, "--from", BUYER]));
    assert_eq!(std::fs::read(&out_path).unwrap(), song);

    // The creator's node goes: its validator is the one down, and the buyer's node serves the
    // ciphertext it fetched; the other three validators are the threshold.
    nodes[0].kill9();
    std::fs::remove_file(&out_path).unwrap();
    ok(&ls(&nodes[1], &buyer_keys, &["file", "get", &cid, "-o", out, "--from", BUYER]));
    assert_eq!(std::fs::read(&out_path).unwrap(), song);
    // Two down: two shares reveal nothing, and nothing is written.
    nodes[2].kill9();
    std::fs::remove_file(&out_path).unwrap();
    let e = err(&ls(&nodes[1], &buyer_keys, &["file", "get", &cid, "-o", out, "--from", BUYER]));
    assert!(e.contains("only 2 of 3 key shares answered"), "{e}");
    assert!(!out_path.exists());
}

/// JSON-RPC `eth_blockNumber` at `url`, or None when nothing answers.
fn block_number_at(url: &str) -> Option<u64> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []});
    let r: Value = reqwest::blocking::Client::new().post(url).json(&body).timeout(Duration::from_secs(2)).send().ok()?.json().ok()?;
    u64::from_str_radix(r["result"].as_str()?.trim_start_matches("0x"), 16).ok()
}

#[test]
fn testnet_run_starts_every_node_and_stops_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let (rpc, consensus, p2p) = (free_port_range(2), free_port_range(2), free_port_range(2));
    let mut testnet = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(["testnet", "--validators", "1", "--full-nodes", "1", "--run", "--gateway-port", "0"])
        .args(["--rpc-port", &rpc.to_string(), "--consensus-port", &consensus.to_string(), "--p2p-port", &p2p.to_string()])
        .arg("--dir")
        .arg(dir.path().join("net"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = testnet.stdout.take().unwrap();
    let lines = std::thread::spawn(move || std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok).collect::<Vec<_>>());
    let urls = [format!("http://127.0.0.1:{rpc}"), format!("http://127.0.0.1:{}", rpc + 1)];
    // The validator finalizes and the full node follows.
    wait_until("both nodes past block 3", Duration::from_secs(60), || {
        urls.iter().all(|u| block_number_at(u).is_some_and(|n| n >= 3))
    });
    // SIGTERM to `testnet --run` stops both nodes, and it exits cleanly.
    unsafe { libc::kill(testnet.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = testnet.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = testnet.kill();
            panic!("testnet --run did not stop within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    for u in &urls {
        assert_eq!(block_number_at(u), None, "{u} still answers");
    }
    let out = lines.join().unwrap();
    // Every line of a node's output carries its name.
    assert!(out.iter().any(|l| l.starts_with("node0 | Listening on")), "{out:?}");
    assert!(out.iter().any(|l| l.starts_with("full0 | Listening on")), "{out:?}");
}

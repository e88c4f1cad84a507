//! Whole-node tests: the real binary on loopback, driven over JSON-RPC.

mod common;

use std::time::{Duration, Instant};

use alloy_primitives::{Bytes, U256};
use common::*;
use serde_json::json;


fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

#[test]
fn dev_genesis_funds_the_test_accounts() {
    let node = Node::start(None, &[]);
    assert_eq!(node.ok("eth_chainId", json!([])), json!("0x539"));
    assert_eq!(node.ok("net_version", json!([])), json!("1337"));
    assert_eq!(node.ok("eth_blockNumber", json!([])), json!("0x0"));
    let accounts = node.ok("eth_accounts", json!([]));
    assert_eq!(accounts.as_array().unwrap().len(), 10);
    assert_eq!(accounts[0].as_str().unwrap().to_lowercase(), DEV0.to_string().to_lowercase());
    assert_eq!(node.u256("eth_getBalance", json!([DEV0, "latest"])), eth(10_000));
    let genesis = node.ok("eth_getBlockByNumber", json!(["earliest", false]));
    assert_eq!(genesis["number"], json!("0x0"));
    assert_eq!(genesis["baseFeePerGas"], json!("0x3b9aca00"));
}

#[test]
fn transfer_is_mined_within_a_block_time_and_costs_exactly_gas() {
    let node = Node::start(None, &[]);
    let raw = signed_tx(KEY0, 0, Some(DEV1), eth(1), Bytes::new(), 21_000);
    let sent = Instant::now();
    let hash = node.ok("eth_sendRawTransaction", json!([raw]));
    let receipt = node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    // 100 ms block time in tests; allow scheduling slack but not a second block time's worth.
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["gasUsed"], json!("0x5208"));
    let price: U256 = receipt["effectiveGasPrice"].as_str().unwrap().parse().unwrap();
    let block = receipt["blockNumber"].as_str().unwrap().to_string();
    assert_eq!(node.u256("eth_getBalance", json!([DEV1, block])), eth(10_001));
    assert_eq!(
        node.u256("eth_getBalance", json!([DEV0, block])),
        eth(10_000) - eth(1) - price * U256::from(21_000)
    );
    // History: the balance before the block is still readable.
    assert_eq!(node.u256("eth_getBalance", json!([DEV1, "0x0"])), eth(10_000));
    assert_eq!(node.ok("eth_getTransactionCount", json!([DEV0, "latest"])), json!("0x1"));
    // The same transaction again is refused with geth's wording.
    let again = node.call("eth_sendRawTransaction", json!([raw]));
    let msg = again["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("nonce too low") || msg.contains("already known"), "{again}");
    // The block hash is the keccak of the RLP header the node serves.
    let b = node.ok("eth_getBlockByNumber", json!([block, true]));
    assert_eq!(b["transactions"][0]["hash"], hash);
    assert_eq!(b["hash"], receipt["blockHash"]);
}

#[test]
fn bad_input_gets_errors_and_the_node_keeps_serving() {
    let node = Node::start(None, &[]);
    // Malformed RLP.
    let r = node.call("eth_sendRawTransaction", json!(["0xdeadbeef"]));
    assert!(r["error"]["code"].as_i64().is_some(), "{r}");
    // Not hex at all.
    let r = node.call("eth_getBalance", json!(["not-an-address", "latest"]));
    assert_eq!(r["error"]["code"], json!(-32602), "{r}");
    // Unknown method.
    let r = node.call("eth_noSuchThing", json!([]));
    assert_eq!(r["error"]["code"], json!(-32601), "{r}");
    // Not JSON.
    let (_, r) = node.raw("{this is not json");
    assert_eq!(r["error"]["code"], json!(-32700), "{r}");
    // A body over the limit.
    let huge = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\",\"params\":[\"{}\"]}}", "a".repeat(6 << 20));
    // The server answers 413 as soon as it sees the length; a client still writing the body may
    // find the connection closed instead. Either way the request is refused.
    match node.try_raw(&huge) {
        Ok((status, _)) => assert_eq!(status, 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // A batch over the limit.
    let batch: Vec<_> = (0..1001).map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_chainId"})).collect();
    let (_, r) = node.raw(&serde_json::to_string(&batch).unwrap());
    assert!(r.to_string().contains("error"), "{r}");
    // A batch within it answers every call.
    let batch: Vec<_> = (0..3).map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_chainId"})).collect();
    let (_, r) = node.raw(&serde_json::to_string(&batch).unwrap());
    assert_eq!(r.as_array().map(|a| a.len()), Some(3), "{r}");
    // Wrong chain id.
    let other_chain = {
        use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
        use alloy_eips::eip2718::Encodable2718;
        use alloy_network::TxSignerSync;
        let mut tx = TxEip1559 { chain_id: 1, gas_limit: 21_000, max_fee_per_gas: 10_000_000_000, to: alloy_primitives::TxKind::Call(DEV1), ..Default::default() };
        let sig = signer(KEY0).sign_transaction_sync(&mut tx).unwrap();
        let env: TxEnvelope = tx.into_signed(sig).into();
        format!("0x{}", alloy_primitives::hex::encode(env.encoded_2718()))
    };
    let r = node.call("eth_sendRawTransaction", json!([other_chain]));
    assert!(r["error"]["message"].as_str().unwrap_or_default().contains("chain id"), "{r}");
    // Intrinsic gas too low.
    let r = node.call("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(DEV1), U256::from(1), Bytes::new(), 20_000)]));
    assert!(r["error"]["message"].as_str().unwrap_or_default().contains("intrinsic gas too low"), "{r}");
    // Still alive, still at genesis, nothing was stored.
    assert_eq!(node.ok("eth_blockNumber", json!([])), json!("0x0"));
    assert_eq!(node.u256("eth_getBalance", json!([DEV0, "latest"])), eth(10_000));
}

#[test]
fn kill_9_and_restart_keeps_head_state_root_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(Some(dir.path()), &[]);
    let mut last = String::new();
    for nonce in 0..20u64 {
        let raw = signed_tx(KEY0, nonce, Some(DEV1), U256::from(1000 + nonce), Bytes::new(), 21_000);
        last = node.ok("eth_sendRawTransaction", json!([raw])).as_str().unwrap().to_string();
        if nonce % 5 == 0 {
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    node.wait_receipt(&last, Duration::from_secs(10));
    // Keep writing while we kill it.
    for nonce in 20..40u64 {
        let raw = signed_tx(KEY0, nonce, Some(DEV1), U256::from(1), Bytes::new(), 21_000);
        node.call("eth_sendRawTransaction", json!([raw]));
    }
    std::thread::sleep(Duration::from_millis(130));
    // What the node called final just before it dies must be exactly there after it restarts.
    let before = node.ok("eth_getBlockByNumber", json!(["latest", false]));
    let balance_before = node.u256("eth_getBalance", json!([DEV1, before["number"]]));
    node.kill9();

    let node = Node::start(Some(dir.path()), &[]);
    let head = node.ok("eth_getBlockByNumber", json!(["latest", false]));
    let number = |b: &serde_json::Value| u64::from_str_radix(b["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(number(&before) >= 1);
    assert!(number(&head) >= number(&before), "head went back from {} to {}", before["number"], head["number"]);
    let after = node.ok("eth_getBlockByNumber", json!([before["number"], false]));
    assert_eq!(after["hash"], before["hash"]);
    assert_eq!(after["stateRoot"], before["stateRoot"]);
    assert_eq!(node.u256("eth_getBalance", json!([DEV1, before["number"]])), balance_before);
    // Every block is intact and links to its parent.
    let mut child = head.clone();
    while child["number"] != json!("0x0") {
        let parent = node.ok("eth_getBlockByHash", json!([child["parentHash"], false]));
        assert!(!parent.is_null(), "missing parent of {}", child["number"]);
        child = parent;
    }
    // The balance matches the nonce: every mined transfer's value arrived, no more, no less.
    let nonce = node.u256("eth_getTransactionCount", json!([DEV0, "latest"])).to::<u64>();
    let expected: U256 = (0..nonce).map(|i| U256::from(if i < 20 { 1000 + i } else { 1 })).sum();
    assert_eq!(node.u256("eth_getBalance", json!([DEV1, "latest"])), eth(10_000) + expected);
    // And the chain keeps going from where it was.
    let raw = signed_tx(KEY0, nonce, Some(DEV1), U256::from(1), Bytes::new(), 21_000);
    let hash = node.ok("eth_sendRawTransaction", json!([raw]));
    node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
}

#[test]
fn sigterm_shuts_down_cleanly_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(Some(dir.path()), &[]);
    let raw = signed_tx(KEY0, 0, Some(DEV1), U256::from(5), Bytes::new(), 21_000);
    node.ok("eth_sendRawTransaction", json!([raw]));
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = node.child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "node did not stop within 2 s");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "exit status {status}");
    // It restarts on the same data directory.
    let node = Node::start(Some(dir.path()), &[]);
    assert_eq!(node.ok("eth_chainId", json!([])), json!("0x539"));
}

#[test]
fn contracts_are_predeployed_and_described_over_rpc() {
    let node = Node::start(None, &[]);
    let c = node.ok("lightstreams_contracts", json!([]));
    let registry = c["FileRegistry"]["address"].as_str().unwrap().to_lowercase();
    assert_eq!(registry, "0x4c53000000000000000000000000000000000001");
    assert_eq!(c["Market"]["address"].as_str().unwrap().to_lowercase(), "0x4c53000000000000000000000000000000000002");
    assert!(c["Market"]["abi"].as_array().unwrap().iter().any(|f| f["name"] == "buy"));
    let code = node.ok("eth_getCode", json!([registry, "earliest"]));
    assert!(code.as_str().unwrap().len() > 100, "registry code at genesis");
    // The Market's immutables point at the registry, and the registry answers hasAccess.
    use alloy_sol_types::SolCall;
    let call = |to: &str, data: Vec<u8>| {
        node.ok("eth_call", json!([{"to": to, "data": format!("0x{}", alloy_primitives::hex::encode(data))}, "latest"]))
    };
    let market = c["Market"]["address"].as_str().unwrap().to_string();
    let reg = call(&market, ls_contracts::Market::registryCall {}.abi_encode());
    assert_eq!(reg.as_str().unwrap(), format!("0x{:0>64}", registry.trim_start_matches("0x")));
    let has = call(
        &registry,
        ls_contracts::FileRegistry::hasAccessCall { fileId: Default::default(), account: DEV0, level: 1 }.abi_encode(),
    );
    assert_eq!(has.as_str().unwrap(), format!("0x{:0>64}", "0"), "unknown file: no access");
}

#[test]
fn metrics_follow_the_chain_in_prometheus_text() {
    let node = Node::start(None, &["--metrics-addr", "127.0.0.1:0"]);
    let url = node.metrics.clone().expect("the node printed its metrics address");
    let raw = signed_tx(KEY0, 0, Some(DEV1), U256::from(1), Bytes::new(), 21_000);
    let hash = node.ok("eth_sendRawTransaction", json!([raw]));
    node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    // A second block, right after the first: one block interval to time.
    let raw = signed_tx(KEY0, 1, Some(DEV1), U256::from(1), Bytes::new(), 21_000);
    let hash = node.ok("eth_sendRawTransaction", json!([raw]));
    node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    let head = node.u256("eth_blockNumber", json!([])).to::<u64>();
    let text = reqwest::blocking::get(&url).unwrap().text().unwrap();
    let gauge = |name: &str| -> u64 {
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or_else(|| panic!("no {name} in {text}")).parse().unwrap()
    };
    assert!(text.contains("# TYPE lightstreams_head_block gauge"), "{text}");
    assert!(gauge("lightstreams_head_block") >= head && head >= 1);
    assert_eq!(gauge("lightstreams_txpool_pending"), 0);
    // This test's own calls so far: a send, one receipt poll or more, a block number.
    assert!(gauge("lightstreams_rpc_calls_total") >= 3, "{text}");
    // A 100 ms block time: both blocks were timed, and the gap between them.
    let count = |name: &str| -> f64 {
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or_else(|| panic!("no {name} in {text}")).parse().unwrap()
    };
    assert!(text.contains("# TYPE lightstreams_block_interval_ms histogram"), "{text}");
    assert!(count("lightstreams_finality_latency_ms_count") >= 2.0, "{text}");
    assert!(count("lightstreams_block_interval_ms_count") >= 1.0, "{text}");
    let sum = count("lightstreams_block_interval_ms_sum");
    let n = count("lightstreams_block_interval_ms_count");
    assert!(sum / n >= 50.0, "a 100 ms block time, intervals {sum} / {n}");
}

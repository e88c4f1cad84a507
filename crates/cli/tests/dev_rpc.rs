//! The dev-node methods (anvil's and hardhat's) on the real binary: mining and time, state
//! edits, snapshot/revert (state, head, pool and filters), mining modes, and that a node
//! killed after any of them restarts with the same chain.

mod common;

use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256};
use common::*;
use serde_json::{Value, json};

fn num(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().expect("hex quantity").trim_start_matches("0x"), 16).expect("hex quantity")
}

fn head(node: &Node) -> u64 {
    num(&node.ok("eth_blockNumber", json!([])))
}

fn block(node: &Node, tag: &str) -> Value {
    node.ok("eth_getBlockByNumber", json!([tag, false]))
}

fn timestamp(node: &Node) -> u64 {
    num(&block(node, "latest")["timestamp"])
}

#[test]
fn mining_and_time() {
    let node = Node::start(None, &[]);
    assert_eq!(node.ok("evm_mine", json!([])), json!("0x0"));
    assert_eq!(head(&node), 1, "evm_mine seals an empty block");
    let now = timestamp(&node);

    // A given timestamp, then time moved on by an hour.
    node.ok("evm_mine", json!([now + 100]));
    assert_eq!((head(&node), timestamp(&node)), (2, now + 100));
    let offset = node.ok("evm_increaseTime", json!([3600]));
    assert!(offset.as_i64().unwrap() >= 3600, "total offset in seconds: {offset}");
    node.ok("evm_mine", json!([]));
    assert!(timestamp(&node) >= now + 3600, "evm_increaseTime moves the next block's time");

    // The next block's timestamp exactly, however it is sealed (here by a transaction).
    let next = timestamp(&node) + 1000;
    assert_eq!(node.ok("evm_setNextBlockTimestamp", json!([next])), Value::Null);
    let hash =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(DEV1), U256::from(1), Bytes::new(), 21_000)]));
    let receipt = node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    let mined = node.ok("eth_getBlockByNumber", json!([receipt["blockNumber"], false]));
    assert_eq!(num(&mined["timestamp"]), next);
    // A timestamp before the head's is refused.
    let r = node.call("evm_setNextBlockTimestamp", json!([next - 10]));
    assert_eq!(r["error"]["code"], json!(-32000), "{r}");
    let r = node.call("evm_setNextBlockTimestamp", json!([u64::MAX / 100]));
    assert_eq!(r["error"]["code"], json!(-32602), "{r}");

    // anvil_mine / hardhat_mine: count and interval (hex quantities, as hardhat sends them).
    // The dev producer seals one trailing block after a block with transactions: wait for it.
    let trailing = num(&receipt["blockNumber"]) + 1;
    let start = std::time::Instant::now();
    while head(&node) < trailing {
        assert!(start.elapsed() < Duration::from_secs(10), "no trailing block");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (h, t) = (head(&node), timestamp(&node));
    assert_eq!(node.ok("hardhat_mine", json!(["0x5", "0xa"])), Value::Null);
    assert_eq!(head(&node), h + 5);
    assert_eq!(timestamp(&node), t + 50);
    node.ok("anvil_mine", json!([2]));
    assert_eq!(head(&node), h + 7);
    let r = node.call("anvil_mine", json!([10_001]));
    assert_eq!(r["error"]["code"], json!(-32602), "{r}");

    // hardhat_metadata and anvil_nodeInfo describe the chain.
    let meta = node.ok("hardhat_metadata", json!([]));
    assert_eq!((meta["chainId"].clone(), meta["latestBlockNumber"].clone()), (json!(1337), json!(h + 7)));
    let info = node.ok("anvil_nodeInfo", json!([]));
    assert_eq!(info["currentBlockNumber"], json!(h + 7));
    assert_eq!(info["environment"]["chainId"], json!(1337));
}

#[test]
fn state_edits_are_blocks_that_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let who = Address::repeat_byte(0x77);
    // Runtime code: return sload(0).
    let code = "0x600054600052602060 00f3".replace(' ', "");
    let check = |node: &Node| {
        assert_eq!(node.u256("eth_getBalance", json!([who, "latest"])), U256::from(12345));
        assert_eq!(node.ok("eth_getTransactionCount", json!([who, "latest"])), json!("0x7"));
        assert_eq!(node.ok("eth_getCode", json!([who, "latest"])), json!(code));
        assert_eq!(node.ok("eth_getStorageAt", json!([who, "0x0", "latest"])), json!(format!("0x{:064x}", 42)));
        // The code runs against the storage set beside it.
        assert_eq!(node.ok("eth_call", json!([{"to": who}, "latest"])), json!(format!("0x{:064x}", 42)));
    };
    let mut node = Node::start(Some(dir.path()), &[]);
    assert_eq!(node.ok("anvil_setBalance", json!([who, "0x3039"])), Value::Null);
    assert_eq!(node.ok("hardhat_setNonce", json!([who, "0x7"])), json!(true));
    assert_eq!(node.ok("anvil_setCode", json!([who, code])), Value::Null);
    assert_eq!(node.ok("hardhat_setStorageAt", json!([who, "0x0", format!("0x{:064x}", 42)])), json!(true));
    check(&node);
    assert_eq!(head(&node), 4, "each edit is one block");
    // The edits' blocks are ordinary blocks: no transactions, a state root like any other.
    let edit = block(&node, "0x4");
    assert_eq!(edit["transactions"], json!([]));
    node.kill9();
    let node = Node::start(Some(dir.path()), &[]);
    assert_eq!(head(&node), 4);
    check(&node);
    // The chain goes on from there: a dev account spends after the edits.
    let hash =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(who), U256::from(5), Bytes::new(), 60_000)]));
    assert_eq!(node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5))["status"], json!("0x1"));
    assert_eq!(node.u256("eth_getBalance", json!([who, "latest"])), U256::from(12350));
}

#[test]
fn snapshot_and_revert_restore_state_head_pool_and_filters_and_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(Some(dir.path()), &[]);
    let to = Address::repeat_byte(0x55);
    let start_balance = node.u256("eth_getBalance", json!([DEV0, "latest"]));
    let snap = node.ok("evm_snapshot", json!([]));
    assert_eq!(snap, json!("0x0"));
    let head0 = head(&node);
    let filter = node.ok("eth_newBlockFilter", json!([]));

    // After the snapshot: a transfer, an edit, and a transaction left waiting in the pool.
    let hash =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(to), U256::from(9), Bytes::new(), 21_000)]));
    node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    node.ok("anvil_setBalance", json!([DEV1, "0x1"]));
    let later = node.ok("evm_snapshot", json!([]));
    node.ok("evm_setAutomine", json!([false]));
    let waiting =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 1, Some(to), U256::from(1), Bytes::new(), 21_000)]));
    assert_eq!(node.ok("txpool_status", json!([]))["pending"], json!("0x1"));
    assert!(head(&node) > head0);
    // The filter has seen those blocks; after the revert it must report the new ones anyway.
    assert!(!node.ok("eth_getFilterChanges", json!([filter])).as_array().unwrap().is_empty());

    assert_eq!(node.ok("evm_revert", json!([snap])), json!(true));
    assert_eq!(head(&node), head0);
    assert_eq!(node.u256("eth_getBalance", json!([DEV0, "latest"])), start_balance);
    assert_eq!(node.u256("eth_getBalance", json!([to, "latest"])), U256::ZERO);
    assert_eq!(node.ok("eth_getTransactionCount", json!([DEV0, "latest"])), json!("0x0"));
    assert_eq!(node.ok("eth_getTransactionReceipt", json!([hash])), Value::Null);
    assert_eq!(node.ok("eth_getTransactionByHash", json!([hash])), Value::Null);
    assert_eq!(node.ok("eth_getTransactionByHash", json!([waiting])), Value::Null, "the pool is emptied");
    assert_eq!(node.ok("txpool_status", json!([]))["pending"], json!("0x0"));
    assert_eq!(block(&node, &format!("0x{:x}", head0 + 1)), Value::Null);
    // The snapshot and the later one are used up.
    assert_eq!(node.ok("evm_revert", json!([snap])), json!(false));
    assert_eq!(node.ok("evm_revert", json!([later])), json!(false));

    // The block filter reports the blocks mined after the revert, from the head on.
    assert_eq!(node.ok("eth_getFilterChanges", json!([filter])), json!([]));
    node.ok("evm_mine", json!([]));
    let changes = node.ok("eth_getFilterChanges", json!([filter]));
    assert_eq!(changes, json!([block(&node, "latest")["hash"]]));

    // kill -9 after the revert: the same chain comes back, and it goes on.
    let after = (head(&node), block(&node, "latest")["hash"].clone());
    node.kill9();
    let node = Node::start(Some(dir.path()), &[]);
    assert_eq!((head(&node), block(&node, "latest")["hash"].clone()), after);
    assert_eq!(node.u256("eth_getBalance", json!([to, "latest"])), U256::ZERO);
    let hash =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(to), U256::from(3), Bytes::new(), 21_000)]));
    node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    assert_eq!(node.u256("eth_getBalance", json!([to, "latest"])), U256::from(3));
    // Proofs after the revert lead to the new head's state root.
    let proof = node.ok("eth_getProof", json!([to, [], "latest"]));
    assert_eq!(proof["balance"], json!("0x3"));
}

#[test]
fn automine_off_interval_mining_and_dropped_transactions() {
    let node = Node::start(None, &[]);
    node.ok("evm_setAutomine", json!([false]));
    let hash =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(DEV1), U256::from(1), Bytes::new(), 21_000)]));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(node.ok("eth_getTransactionReceipt", json!([hash])), Value::Null, "nothing is sealed without automine");
    node.ok("evm_mine", json!([]));
    assert_eq!(node.ok("eth_getTransactionReceipt", json!([hash]))["status"], json!("0x1"));

    let dropped =
        node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 1, Some(DEV1), U256::from(1), Bytes::new(), 21_000)]));
    assert_eq!(node.ok("hardhat_dropTransaction", json!([dropped])), json!(true));
    assert_eq!(node.ok("anvil_dropTransaction", json!([dropped])), Value::Null);
    assert_eq!(node.ok("txpool_status", json!([]))["pending"], json!("0x0"));

    // Interval mining seals empty blocks on its own.
    let h = head(&node);
    node.ok("evm_setIntervalMining", json!([100]));
    let start = std::time::Instant::now();
    while head(&node) < h + 3 {
        assert!(start.elapsed() < Duration::from_secs(10), "interval mining sealed no blocks");
        std::thread::sleep(Duration::from_millis(50));
    }
    node.ok("evm_setIntervalMining", json!([0]));
    std::thread::sleep(Duration::from_millis(300));
    let h = head(&node);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(head(&node), h, "interval 0 turns it off (automine is still off)");
}

#[test]
fn impersonated_accounts_send_without_a_key_and_the_chain_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(Some(dir.path()), &[]);
    let whale = Address::repeat_byte(0x99);
    let to = Address::repeat_byte(0x98);
    node.ok("anvil_setBalance", json!([whale, "0xde0b6b3a7640000"]));
    let tx = json!({"from": whale, "to": to, "value": "0x7"});
    let r = node.call("eth_sendTransaction", json!([tx]));
    assert_eq!(r["error"]["message"], json!("unknown account"), "no key, not impersonated: {r}");

    assert_eq!(node.ok("anvil_impersonateAccount", json!([whale])), json!(true));
    let hash = node.ok("eth_sendTransaction", json!([tx]));
    let receipt = node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(5));
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["from"].as_str().unwrap().to_lowercase(), whale.to_string().to_lowercase());
    assert_eq!(node.u256("eth_getBalance", json!([to, "latest"])), U256::from(7));
    // Another impersonated sender with the very same fields gets another transaction (hash).
    let other = Address::repeat_byte(0x97);
    node.ok("hardhat_setBalance", json!([other, "0xde0b6b3a7640000"]));
    node.ok("hardhat_impersonateAccount", json!([other]));
    let same = node.ok("eth_sendTransaction", json!([{"from": other, "to": to, "value": "0x7", "nonce": "0x0"}]));
    assert_ne!(same, hash);
    node.wait_receipt(same.as_str().unwrap(), Duration::from_secs(5));
    assert_eq!(node.u256("eth_getBalance", json!([to, "latest"])), U256::from(14));

    assert_eq!(node.ok("anvil_stopImpersonatingAccount", json!([whale])), json!(true));
    let r = node.call("eth_sendTransaction", json!([tx]));
    assert_eq!(r["error"]["message"], json!("unknown account"), "{r}");

    // The impersonated transaction is an ordinary part of the chain after a kill -9.
    node.kill9();
    let node = Node::start(Some(dir.path()), &[]);
    let again = node.ok("eth_getTransactionByHash", json!([hash]));
    assert_eq!(again["from"].as_str().unwrap().to_lowercase(), whale.to_string().to_lowercase());
    assert_eq!(node.ok("eth_getTransactionReceipt", json!([hash]))["status"], json!("0x1"));
}

/// What hardhat's network helpers and chai matchers rely on (found by tests/compat/hardhat):
/// the client version they accept, a receipt there as soon as the submission is answered, a
/// pending `evm_setNextBlockTimestamp` honoured by `hardhat_mine` with an interval, and calls
/// and estimates at the pending block seeing that time.
#[test]
fn what_hardhat_helpers_rely_on() {
    let node = Node::start(None, &["--automine", "--block-time", "10s"]);
    let version = node.ok("web3_clientVersion", json!([]));
    assert!(version.as_str().unwrap().starts_with("HardhatNetwork/lightstreams/v"), "{version}");

    // Mined on arrival: the receipt is there at once, although blocks come every 10 s.
    let raw = signed_tx(KEY0, 0, Some(DEV1), U256::from(1), Bytes::new(), 21_000);
    let hash = node.ok("eth_sendRawTransaction", json!([raw]));
    let receipt = node.ok("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
    let hash = node.ok("eth_sendTransaction", json!([{"from": DEV0, "to": DEV1, "value": "0x1"}]));
    assert!(!node.ok("eth_getTransactionReceipt", json!([hash])).is_null());
    // evm_setAutomine(false) stops it; (true) brings it back.
    node.ok("evm_setAutomine", json!([false]));
    let hash = node.ok("eth_sendTransaction", json!([{"from": DEV0, "to": DEV1, "value": "0x1"}]));
    assert!(node.ok("eth_getTransactionReceipt", json!([hash])).is_null());
    node.ok("evm_mine", json!([]));
    assert!(!node.ok("eth_getTransactionReceipt", json!([hash])).is_null());
    node.ok("evm_setAutomine", json!([true]));

    // A contract returning block.timestamp (TIMESTAMP, MSTORE at 0, RETURN 32 bytes).
    let clock = Address::repeat_byte(0x77);
    node.ok("hardhat_setCode", json!([clock, "0x4260005260206000f3"]));
    let next = timestamp(&node) + 5000;
    node.ok("evm_setNextBlockTimestamp", json!([next]));
    let at = |tag: &str| U256::from_str_radix(node.ok("eth_call", json!([{"to": clock}, tag])).as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(at("pending"), U256::from(next), "a pending call runs at the next block's time");
    assert!(at("latest") < U256::from(next));
    // The helpers' mine() sends an interval of 1: the first block still takes the set time.
    node.ok("hardhat_mine", json!(["0x1", "0x1"]));
    assert_eq!(timestamp(&node), next);
}

//! geth's txpool_ namespace on a real node: what is pending, what waits behind a nonce gap.

mod common;

use alloy_primitives::{Bytes, U256};
use common::{DEV1, KEY0, Node, signed_tx};
use serde_json::json;

const DEV0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

#[test]
fn txpool_status_content_and_inspect_split_pending_from_queued() {
    // A block time long enough that nothing is mined while we look.
    let node = Node::start(None, &["--block-time", "1h"]);
    let h0 = node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 0, Some(DEV1), U256::from(5), Bytes::new(), 21_000)]));
    let h2 = node.ok("eth_sendRawTransaction", json!([signed_tx(KEY0, 2, Some(DEV1), U256::from(7), Bytes::new(), 21_000)]));
    assert_eq!(node.ok("txpool_status", json!([])), json!({"pending": "0x1", "queued": "0x1"}));

    let content = node.ok("txpool_content", json!([]));
    let pending = &content["pending"][DEV0];
    let queued = &content["queued"][DEV0];
    assert_eq!(pending["0"]["hash"], h0, "{content}");
    assert_eq!(queued["2"]["hash"], h2, "{content}");
    assert_eq!(pending.as_object().unwrap().len(), 1);
    assert_eq!(queued.as_object().unwrap().len(), 1);

    let inspect = node.ok("txpool_inspect", json!([]));
    let line = inspect["pending"][DEV0]["0"].as_str().unwrap();
    assert!(line.contains(": 5 wei + 21000 gas × "), "{line}");
    assert!(line.to_lowercase().starts_with(&DEV1.to_string().to_lowercase()), "{line}");
    assert!(inspect["queued"][DEV0]["2"].as_str().unwrap().contains(": 7 wei + 21000 gas"), "{inspect}");
}

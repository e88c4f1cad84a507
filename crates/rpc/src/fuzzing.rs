//! Body of the `rpc_request` fuzz target in `fuzz/`: one JSON-RPC request, as any client may
//! send it, against a dev chain in memory. It lives here so `tests/fuzz_corpus.rs` replays it on
//! stable in every test run.

use std::{sync::{Arc, OnceLock}, time::Duration};

use jsonrpsee::RpcModule;
use serde_json::Value;

use crate::{EthApi, RpcLimits};

struct Harness {
    rt: tokio::runtime::Runtime,
    module: RpcModule<EthApi>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let spec = ls_primitives::dev::dev_chain_spec(1337, 30_000_000, 0);
        let store = Arc::new(ls_storage::Store::in_memory().expect("in-memory store"));
        let pool = ls_txpool::PoolConfig { chain_id: 1337, ..Default::default() };
        let chain = ls_chain::Chain::open(spec, store, pool).expect("dev chain opens");
        let mut limits = RpcLimits::default();
        // Keep every input fast: what matters is the handling, not how long code may run.
        limits.call.gas_cap = 1_000_000;
        limits.call.timeout = Duration::from_millis(200);
        let signers = vec![ls_primitives::dev::dev_signer(0)];
        let api = EthApi::new(chain, signers, "lightstreams/fuzz".into()).with_limits(limits);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Harness { rt, module: crate::module(api) }
    })
}

/// Whatever the bytes, the answer to a request is one JSON-RPC response for the same id,
/// with exactly one of `result` and `error`, and the chain's head does not move.
pub fn rpc_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(request) = serde_json::from_str::<Value>(text) else { return };
    // Subscriptions live as long as their connection; there is none here.
    if request.get("method").and_then(Value::as_str).is_some_and(|m| m.contains("subscribe")) {
        return;
    }
    let h = harness();
    let ask = |text: &str| {
        let (response, _) = h.rt.block_on(h.module.raw_json_request(text, 1)).ok()?;
        Some(serde_json::from_str::<Value>(response.get()).expect("every response is JSON"))
    };
    const HEAD: &str = r#"{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber"}"#;
    let head_before = ask(HEAD).expect("eth_blockNumber answers")["result"].clone();
    let Some(response) = ask(text) else { return };
    assert_eq!(response["jsonrpc"], "2.0", "{response}");
    assert_eq!(response.get("id"), request.get("id"), "{response}");
    assert!(response.get("result").is_some() != response.get("error").is_some(), "{response}");
    if let Some(e) = response.get("error") {
        assert!(e["code"].is_i64() && e["message"].is_string(), "{response}");
    }
    assert_eq!(ask(HEAD).expect("eth_blockNumber answers")["result"], head_before);
}

//! eth_syncing: `false` on a node without a sync source (a dev node) and on one within
//! `SYNC_SLACK` blocks of what the network finalized; geth's progress object beyond that.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use ls_chain::Chain;
use ls_primitives::dev::dev_chain_spec;
use ls_rpc::{EthApi, SYNC_SLACK};
use serde_json::{Value, json};

async fn syncing(module: &jsonrpsee::RpcModule<EthApi>) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_syncing", "params": []}).to_string();
    let (response, _) = module.raw_json_request(&request, 1).await.unwrap();
    serde_json::from_str::<Value>(response.get()).unwrap()["result"].clone()
}

#[tokio::test]
async fn eth_syncing_follows_the_networks_finalized_height() {
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let chain = Chain::open(spec, Arc::new(ls_storage::Store::in_memory().unwrap()), Default::default()).unwrap();
    for _ in 0..3 {
        chain.build_block(true).unwrap().unwrap();
    }
    let plain = ls_rpc::module(EthApi::new(chain.clone(), vec![], "test".into()));
    assert_eq!(syncing(&plain).await, json!(false));

    let highest = Arc::new(AtomicU64::new(3));
    let h = highest.clone();
    let module = ls_rpc::module(EthApi::new(chain.clone(), vec![], "test".into()).with_sync_target(Arc::new(move || h.load(Ordering::Relaxed))));
    assert_eq!(syncing(&module).await, json!(false), "caught up");
    highest.store(3 + SYNC_SLACK, Ordering::Relaxed);
    assert_eq!(syncing(&module).await, json!(false), "a block or two behind is live, not syncing");
    highest.store(40, Ordering::Relaxed);
    assert_eq!(syncing(&module).await, json!({"startingBlock": "0x3", "currentBlock": "0x3", "highestBlock": "0x28"}));
    chain.build_block(true).unwrap().unwrap();
    assert_eq!(syncing(&module).await["currentBlock"], "0x4");
    highest.store(4, Ordering::Relaxed);
    assert_eq!(syncing(&module).await, json!(false), "caught up again");
}

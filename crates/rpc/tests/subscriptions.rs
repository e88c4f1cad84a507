//! The node-wide cap on open subscriptions: reached, refused with -32005, freed when one closes.

use std::{sync::Arc, time::Duration};

use ls_rpc::{EthApi, RpcLimits};

#[tokio::test]
async fn subscriptions_are_capped_node_wide_and_freed_on_close() {
    let spec = ls_primitives::dev::dev_chain_spec(1337, 30_000_000, 0);
    let store = Arc::new(ls_storage::Store::in_memory().unwrap());
    let chain = ls_chain::Chain::open(spec, store, Default::default()).unwrap();
    let limits = RpcLimits { max_subscriptions: 2, ..Default::default() };
    let module = ls_rpc::module(EthApi::new(chain, vec![], "test".into()).with_limits(limits));
    let a = module.subscribe_unbounded("eth_subscribe", ["newHeads"]).await.unwrap();
    let _b = module.subscribe_unbounded("eth_subscribe", ["newPendingTransactions"]).await.unwrap();
    let refused = module.subscribe_unbounded("eth_subscribe", ["newHeads"]).await.unwrap_err();
    assert!(refused.to_string().contains("too many subscriptions"), "{refused}");
    drop(a);
    // The closed subscription's task ends and frees its slot.
    for attempt in 0.. {
        match module.subscribe_unbounded("eth_subscribe", ["newHeads"]).await {
            Ok(_) => break,
            Err(e) if attempt < 100 => {
                assert!(e.to_string().contains("too many subscriptions"), "{e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("slot never freed: {e}"),
        }
    }
}

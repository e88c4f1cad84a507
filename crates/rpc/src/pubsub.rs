//! eth_subscribe over WebSocket: newHeads, logs, newPendingTransactions.

use std::sync::Arc;

use alloy_rpc_types_eth::{Filter, pubsub::SubscriptionKind};
use jsonrpsee::{
    PendingSubscriptionSink, RpcModule, SubscriptionMessage, core::SubscriptionError, types::Params,
};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::api::{EthApi, block_logs, pending_transaction, rpc_header};

pub(crate) fn register(m: &mut RpcModule<EthApi>) {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params: Params<'static>, pending: PendingSubscriptionSink, api: Arc<EthApi>, _| async move {
            let Some(_slot) = api.open_subscription() else {
                pending.reject(crate::error::limit_exceeded("too many subscriptions open on this node")).await;
                return Ok(());
            };
            let mut seq = params.sequence();
            let kind: SubscriptionKind = match seq.next() {
                Ok(k) => k,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            match kind {
                SubscriptionKind::NewHeads => {
                    forward(pending, api.chain.subscribe(), |ev| {
                        Ok(vec![msg(&rpc_header(&ev.block.header, ev.block.hash, None))?])
                    })
                    .await
                }
                SubscriptionKind::Logs => {
                    let filter: Filter = match seq.optional_next() {
                        Ok(f) => f.unwrap_or_default(),
                        Err(e) => {
                            pending.reject(e).await;
                            return Ok(());
                        }
                    };
                    if let Err(e) = api.check_filter(&filter) {
                        pending.reject(e).await;
                        return Ok(());
                    }
                    forward(pending, api.chain.subscribe(), move |ev| {
                        if !filter.matches_bloom(ev.block.header.logs_bloom) {
                            return Ok(vec![]);
                        }
                        block_logs(&ev.block, &ev.receipts)
                            .iter()
                            .filter(|log| filter.matches(&log.inner))
                            .map(msg)
                            .collect()
                    })
                    .await
                }
                SubscriptionKind::NewPendingTransactions => {
                    let full: bool = seq.optional_next().ok().flatten().unwrap_or(false);
                    let pool = api.chain.pool().clone();
                    forward(pending, pool.subscribe(), move |hash| {
                        if !full {
                            return Ok(vec![msg(&hash)?]);
                        }
                        // Already mined or evicted: nothing to announce.
                        pool.get(&hash).map(|tx| msg(&pending_transaction(&tx))).into_iter().collect()
                    })
                    .await
                }
                other => {
                    pending
                        .reject(crate::error::invalid_params(format!("unsupported subscription: {other:?}")))
                        .await;
                    Ok(())
                }
            }
        },
    )
    .expect("subscription names are unique");
}

/// Accepts the subscription and sends what `each` makes of every event until the client goes
/// away or the source closes. A subscriber that falls behind skips what it missed.
async fn forward<T: Clone>(
    pending: PendingSubscriptionSink,
    mut rx: Receiver<T>,
    mut each: impl FnMut(T) -> Result<Vec<SubscriptionMessage>, serde_json::Error>,
) -> Result<(), SubscriptionError> {
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    for m in each(ev)? {
                        if sink.send(m).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}

fn msg(value: &impl serde::Serialize) -> Result<SubscriptionMessage, serde_json::Error> {
    Ok(serde_json::value::to_raw_value(value)?.into())
}

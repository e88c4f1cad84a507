//! eth_subscribe over WebSocket: newHeads, logs, newPendingTransactions.

use std::sync::Arc;

use alloy_rpc_types_eth::{Filter, pubsub::SubscriptionKind};
use jsonrpsee::{
    PendingSubscriptionSink, RpcModule, SubscriptionMessage, core::SubscriptionError, types::Params,
};
use tokio::sync::broadcast::error::RecvError;

use crate::api::{EthApi, block_logs, rpc_header};

pub(crate) fn register(m: &mut RpcModule<EthApi>) {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params: Params<'static>, pending: PendingSubscriptionSink, api: Arc<EthApi>, _| async move {
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
                    let mut rx = api.chain.subscribe();
                    let sink = pending.accept().await?;
                    loop {
                        tokio::select! {
                            _ = sink.closed() => break,
                            ev = rx.recv() => match ev {
                                Ok(ev) => {
                                    let header = rpc_header(&ev.block.header, ev.block.hash, None);
                                    let msg = msg(&header)?;
                                    if sink.send(msg).await.is_err() { break; }
                                }
                                Err(RecvError::Lagged(_)) => continue,
                                Err(RecvError::Closed) => break,
                            }
                        }
                    }
                }
                SubscriptionKind::Logs => {
                    let filter: Filter = match seq.optional_next() {
                        Ok(f) => f.unwrap_or_default(),
                        Err(e) => {
                            pending.reject(e).await;
                            return Ok(());
                        }
                    };
                    let mut rx = api.chain.subscribe();
                    let sink = pending.accept().await?;
                    loop {
                        tokio::select! {
                            _ = sink.closed() => break,
                            ev = rx.recv() => match ev {
                                Ok(ev) => {
                                    if !filter.matches_bloom(ev.block.header.logs_bloom) { continue; }
                                    for log in block_logs(&ev.block, &ev.receipts) {
                                        if !filter.matches(&log.inner) { continue; }
                                        let msg = msg(&log)?;
                                        if sink.send(msg).await.is_err() { return Ok(()); }
                                    }
                                }
                                Err(RecvError::Lagged(_)) => continue,
                                Err(RecvError::Closed) => break,
                            }
                        }
                    }
                }
                SubscriptionKind::NewPendingTransactions => {
                    let full: bool = seq.optional_next().ok().flatten().unwrap_or(false);
                    let mut rx = api.chain.pool().subscribe();
                    let sink = pending.accept().await?;
                    loop {
                        tokio::select! {
                            _ = sink.closed() => break,
                            ev = rx.recv() => match ev {
                                Ok(hash) => {
                                    let msg = if full {
                                        match api.chain.pool().get(&hash) {
                                            Some(tx) => msg(&alloy_rpc_types_eth::Transaction {
                                                inner: (*tx).clone(),
                                                block_hash: None,
                                                block_number: None,
                                                transaction_index: None,
                                                effective_gas_price: None,
                                                block_timestamp: None,
                                            })?,
                                            None => continue,
                                        }
                                    } else {
                                        msg(&hash)?
                                    };
                                    if sink.send(msg).await.is_err() { break; }
                                }
                                Err(RecvError::Lagged(_)) => continue,
                                Err(RecvError::Closed) => break,
                            }
                        }
                    }
                }
                other => {
                    pending
                        .reject(crate::error::invalid_params(format!("unsupported subscription: {other:?}")))
                        .await;
                }
            }
            Ok::<(), SubscriptionError>(())
        },
    )
    .expect("subscription names are unique");
}

fn msg(value: &impl serde::Serialize) -> Result<SubscriptionMessage, serde_json::Error> {
    Ok(serde_json::value::to_raw_value(value)?.into())
}

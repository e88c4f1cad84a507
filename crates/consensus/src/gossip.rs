//! Transaction gossip between validators: a transaction that becomes pending in one node's
//! pool goes to every peer, batched; what arrives is checked by the pool like any submission
//! (so a transaction already known stops there, and nothing loops). A peer that sends bytes
//! that do not decode as signed transactions is blocked. What stays pending for a whole
//! [`RESEND_EVERY`] is sent again.

use std::{collections::HashSet, sync::Arc, time::Duration};

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::B256;
use bytes::{Bytes, BytesMut};
use commonware_codec::{Copying, Decode, Write};
use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use ls_chain::Chain;
use ls_txpool::PoolError;
use tracing::{debug, warn};

/// Most transactions in one gossip message.
pub const MAX_BATCH: usize = 256;
/// How long the first transaction of a batch waits for company.
pub const BATCH_DELAY: Duration = Duration::from_millis(20);

/// Encodes raw transactions as one gossip message.
pub fn encode_batch(raw: Vec<Vec<u8>>) -> Bytes {
    let mut out = BytesMut::new();
    raw.write(&mut out);
    out.freeze()
}

/// Decodes a gossip message: at most [`MAX_BATCH`] transactions of at most `max_tx_bytes`.
pub fn decode_batch(bytes: &[u8], max_tx_bytes: usize) -> Result<Vec<Vec<u8>>, commonware_codec::Error> {
    let cfg = (commonware_codec::RangeCfg::new(..=MAX_BATCH), (commonware_codec::RangeCfg::new(..=max_tx_bytes), ()));
    // decode_cfg refuses trailing bytes.
    Vec::<Vec<u8>>::decode_cfg(Copying(bytes), &cfg)
}

/// Runs gossip on `(sender, receiver)` until the runtime stops.
pub async fn gossip_transactions<E, S, R, B>(context: E, chain: Arc<Chain>, (mut sender, mut receiver): (S, R), mut blocker: B)
where
    E: commonware_runtime::Clock + commonware_runtime::Spawner + commonware_runtime::Supervisor,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    let max_tx_bytes = chain.pool().config().max_tx_bytes;
    let inbound_chain = chain.clone();
    context.child("inbound").spawn(move |_| async move {
        loop {
            let (peer, message) = match receiver.recv().await {
                Ok(m) => m,
                Err(e) => {
                    debug!(error = %e, "transaction gossip stopped");
                    return;
                }
            };
            let batch = match decode_batch(message.as_ref(), max_tx_bytes) {
                Ok(b) => b,
                Err(e) => {
                    warn!(%peer, error = %e, "blocking a peer that gossips garbage");
                    blocker.block(peer);
                    continue;
                }
            };
            for raw in batch {
                match inbound_chain.submit_raw(&raw) {
                    Ok(_) | Err(PoolError::AlreadyKnown) => {}
                    Err(e @ (PoolError::Decode(_) | PoolError::InvalidSender(_) | PoolError::Oversized { .. })) => {
                        warn!(%peer, error = %e, "blocking a peer that gossips invalid transactions");
                        blocker.block(peer.clone());
                        break;
                    }
                    // Valid elsewhere, not here (nonce used, fee below our base fee...): drop it.
                    Err(e) => debug!(%peer, error = %e, "gossiped transaction not taken"),
                }
            }
        }
    });
    let mut pending = chain.pool().subscribe();
    // Pending transactions seen at the last resend tick.
    let mut seen: HashSet<B256> = HashSet::new();
    let mut tick = context.current() + RESEND_EVERY;
    loop {
        let first = tokio::select! {
            _ = context.sleep_until(tick) => {
                tick = context.current() + RESEND_EVERY;
                let raw = stuck(&chain, &mut seen);
                if !raw.is_empty() {
                    debug!(count = raw.len(), "resending transactions still pending");
                    sender.send(Recipients::All, encode_batch(raw), false);
                }
                continue;
            }
            next = pending.recv() => match next {
                Ok(h) => h,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    debug!(missed = n, "transaction gossip lagged behind the pool");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        let mut hashes = vec![first];
        let deadline = context.sleep(BATCH_DELAY);
        futures::pin_mut!(deadline);
        while hashes.len() < MAX_BATCH {
            tokio::select! {
                _ = &mut deadline => break,
                next = pending.recv() => match next {
                    Ok(h) => hashes.push(h),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        let raw: Vec<Vec<u8>> = hashes
            .iter()
            .filter_map(|h| chain.pool().get(h))
            .map(|tx| {
                let mut out = Vec::with_capacity(tx.inner().encode_2718_len());
                tx.inner().encode_2718(&mut out);
                out
            })
            .collect();
        if !raw.is_empty() {
            sender.send(Recipients::All, encode_batch(raw), false);
        }
    }
}

/// How often transactions that stayed pending are sent again. Gossip sends a transaction once,
/// to the peers connected then: one that reached a node before any peer did (a full node that
/// just started, a validator cut off for a while) would otherwise wait in its pool forever.
pub const RESEND_EVERY: Duration = Duration::from_secs(2);

/// Raw transactions pending now that were pending at the last tick too (at most [`MAX_BATCH`],
/// in nonce order per sender), and remembers what is pending now for the next tick.
fn stuck(chain: &Chain, seen: &mut HashSet<B256>) -> Vec<Vec<u8>> {
    let now = chain.pool().pending_txs();
    let mut raw = Vec::new();
    for tx in &now {
        if raw.len() == MAX_BATCH {
            break;
        }
        if seen.contains(tx.inner().tx_hash()) {
            let mut out = Vec::with_capacity(tx.inner().encode_2718_len());
            tx.inner().encode_2718(&mut out);
            raw.push(out);
        }
    }
    *seen = now.iter().map(|tx| *tx.inner().tx_hash()).collect();
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_bounds_hold() {
        let raw = vec![vec![1u8; 10], vec![2u8; 300]];
        let bytes = encode_batch(raw.clone());
        assert_eq!(decode_batch(&bytes, 1024).unwrap(), raw);
        assert!(decode_batch(&bytes, 100).is_err(), "a transaction over the size limit");
        let many = vec![vec![0u8; 1]; MAX_BATCH + 1];
        assert!(decode_batch(&encode_batch(many), 1024).is_err(), "too many transactions");
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode_batch(&longer, 1024).is_err(), "trailing bytes");
        for cut in 0..bytes.len() {
            assert!(decode_batch(&bytes[..cut], 1024).is_err());
        }
    }
}

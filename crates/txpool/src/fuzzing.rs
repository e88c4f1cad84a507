//! Bodies of the fuzz targets in `fuzz/` that take transaction bytes from outside. They live
//! here so `tests/fuzz_corpus.rs` replays them on stable in every test run.

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, U256, keccak256};

use crate::{PoolConfig, StateView, TxPool};

/// Every sender exists with plenty of coin, so admission gets past the balance check.
struct Rich;

impl StateView for Rich {
    fn account(&self, _: Address) -> Result<(u64, U256), Box<dyn std::error::Error + Send + Sync>> {
        Ok((0, U256::MAX >> 8))
    }
}

/// `eth_sendRawTransaction`'s bytes: decoding is strict (what decodes re-encodes to the same
/// bytes and hashes to keccak256 of them), and admission either refuses with an error and leaves
/// the pool as it was, or holds exactly that transaction.
pub fn raw_transaction(data: &[u8]) {
    let pool = TxPool::new(PoolConfig { max_txs: 4, ..Default::default() });
    let tx = match pool.decode_raw(data) {
        Ok(tx) => tx,
        Err(_) => {
            assert!(pool.is_empty());
            return;
        }
    };
    assert_eq!(tx.inner().encoded_2718(), data, "decoded transaction re-encodes differently");
    assert_eq!(*tx.inner().tx_hash(), keccak256(data));
    match pool.add(tx, &Rich, 1) {
        Ok(hash) => {
            assert_eq!(hash, keccak256(data));
            assert!(pool.get(&hash).is_some());
            assert_eq!(pool.len().0 + pool.len().1, 1);
        }
        Err(_) => assert!(pool.is_empty()),
    }
}

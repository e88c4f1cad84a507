//! Block building against an in-memory store.

use std::sync::Arc;

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use ls_chain::Chain;
use ls_primitives::dev::{dev_chain_spec, dev_signer};
use ls_storage::Store;
use ls_txpool::PoolConfig;

fn chain(gas_limit: u64) -> Arc<Chain> {
    let spec = dev_chain_spec(1337, gas_limit, 0);
    Chain::open(spec, Arc::new(Store::in_memory().unwrap()), PoolConfig { block_gas_limit: gas_limit, ..Default::default() })
        .unwrap()
}

fn transfer(s: &PrivateKeySigner, nonce: u64, gas: u64) -> Recovered<TxEnvelope> {
    ls_testkit::eip1559(s, nonce, Some(Address::repeat_byte(7)), U256::from(1), Default::default(), gas)
}

#[test]
fn empty_pool_seals_nothing_unless_asked() {
    let c = chain(30_000_000);
    assert!(c.build_block(false).unwrap().is_none());
    assert_eq!(c.store().head().unwrap(), 0);
    let b = c.build_block(true).unwrap().unwrap();
    assert_eq!(b.block.number(), 1);
    assert!(b.block.transactions.is_empty());
    assert_eq!(c.head().hash, b.block.hash);
    assert_eq!(c.store().head().unwrap(), 1);
}

#[test]
fn a_tx_that_does_not_fit_holds_back_its_sender_only() {
    let c = chain(60_000);
    let (a, b) = (dev_signer(0), dev_signer(1));
    c.submit(transfer(&a, 0, 50_000)).unwrap(); // uses 21 000, leaves 39 000
    c.submit(transfer(&b, 0, 45_000)).unwrap(); // does not fit in what is left
    c.submit(transfer(&b, 1, 21_000)).unwrap(); // would fit, but must wait behind b/0
    c.submit(transfer(&a, 1, 21_000)).unwrap();
    let first = c.build_block(false).unwrap().unwrap();
    let senders: Vec<_> = first.block.senders.clone();
    assert!(senders.iter().all(|s| *s == a.address()), "{senders:?}");
    assert_eq!(first.block.transactions.len(), 2);
    let second = c.build_block(false).unwrap().unwrap();
    assert_eq!(second.block.senders, vec![b.address(), b.address()]);
    assert_eq!(c.pool().len(), (0, 0));
    let state = c.store().latest_state().unwrap();
    assert_eq!(state.account(b.address()).unwrap().unwrap().nonce, 2);
}

#[test]
fn next_base_fee_follows_the_head() {
    let c = chain(30_000_000);
    let before = c.next_base_fee();
    c.submit(transfer(&dev_signer(0), 0, 21_000)).unwrap();
    c.build_block(false).unwrap().unwrap();
    // A nearly empty block lowers the base fee.
    assert!(c.next_base_fee() < before);
}

#[test]
fn a_pending_transaction_sent_again_is_known_and_a_mined_one_is_too_old() {
    use alloy_eips::eip2718::Encodable2718;
    use ls_txpool::PoolError;
    let c = chain(30_000_000);
    let tx = transfer(&dev_signer(0), 0, 21_000);
    let raw = tx.inner().encoded_2718();
    assert_eq!(c.submit_raw(&raw).unwrap(), *tx.tx_hash());
    // Gossip hands every transaction over once per peer: the copies are refused by their hash.
    assert!(matches!(c.submit_raw(&raw), Err(PoolError::AlreadyKnown)), "{:?}", c.submit_raw(&raw));
    assert!(matches!(c.submit(tx.clone()), Err(PoolError::AlreadyKnown)));
    assert_eq!(c.pool().len(), (1, 0));
    c.build_block(false).unwrap().unwrap();
    assert!(matches!(c.submit_raw(&raw), Err(PoolError::NonceTooLow { tx: 0, state: 1 })), "{:?}", c.submit_raw(&raw));
    // Bytes that are not a transaction still get the decoder's error, not "known".
    assert!(matches!(c.submit_raw(&raw[..raw.len() - 1]), Err(PoolError::Decode(_))));
}

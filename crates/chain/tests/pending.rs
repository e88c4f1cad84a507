//! The path a BFT engine drives: one node proposes a block on a parent that may not be final,
//! others verify it by re-executing, and every node finalizes it without executing it again.

use std::sync::Arc;

use alloy_consensus::{SignableTransaction, TxEip7702, TxEnvelope, transaction::Recovered};
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use ls_chain::{Chain, ChainError, ManualClock, MAX_FUTURE_DRIFT_MS, PendingBlock};
use ls_primitives::{
    SealedBlock,
    dev::{dev_chain_spec, dev_signer},
    timestamp_ms,
};
use ls_storage::Store;
use ls_txpool::PoolConfig;

const START_MS: u64 = 1_700_000_000_000;

fn node(clock: &ManualClock) -> Arc<Chain> {
    let spec = dev_chain_spec(1337, 30_000_000, START_MS / 1000);
    Chain::open_with_clock(spec, Arc::new(Store::in_memory().unwrap()), PoolConfig::default(), Arc::new(clock.clone()))
        .unwrap()
}

fn transfer(s: &PrivateKeySigner, nonce: u64, to: u8) -> Recovered<TxEnvelope> {
    ls_testkit::eip1559(s, nonce, Some(Address::repeat_byte(to)), U256::from(1_000 + nonce), Bytes::new(), 21_000)
}

fn balance(c: &Chain, a: Address) -> U256 {
    c.store().latest_state().unwrap().account(a).unwrap().map(|a| a.balance).unwrap_or_default()
}

fn invalid_reason(r: Result<Arc<PendingBlock>, ChainError>) -> String {
    match r {
        Err(ChainError::Invalid { reason, .. }) => reason,
        other => panic!("expected an invalid block, got {other:?}"),
    }
}

/// `block` with its header changed by `f` (and so another hash).
fn tampered(block: &SealedBlock, f: impl FnOnce(&mut alloy_consensus::Header)) -> SealedBlock {
    let mut header = block.header.clone();
    f(&mut header);
    SealedBlock::new(header, block.transactions.clone(), block.senders.clone())
}

#[test]
fn a_proposal_on_a_pending_parent_verifies_and_finalizes_everywhere() {
    let clock = ManualClock::new(START_MS + 1_000);
    let (proposer, follower) = (node(&clock), node(&clock));
    let alice = dev_signer(0);
    proposer.submit(transfer(&alice, 0, 7)).unwrap();
    proposer.submit(transfer(&dev_signer(1), 0, 8)).unwrap();

    let b1 = proposer.propose(proposer.head().hash, Address::repeat_byte(0xb1)).unwrap();
    assert_eq!(b1.block.transactions.len(), 2);
    assert_eq!(b1.block.header.beneficiary, Address::repeat_byte(0xb1));
    assert_eq!(timestamp_ms(&b1.block.header), START_MS + 1_000);
    // Nothing is written until the block is final.
    assert_eq!(proposer.store().head().unwrap(), 0);

    // Alice's next transaction arrives; the next proposal builds on the pending block and
    // leaves out what that block already holds.
    clock.advance_millis(250);
    proposer.submit(transfer(&alice, 1, 7)).unwrap();
    let b2 = proposer.propose(b1.hash(), Address::repeat_byte(0xb2)).unwrap();
    assert_eq!(b2.block.transactions.len(), 1);
    assert_eq!(b2.block.header.parent_hash, b1.hash());
    assert_eq!(timestamp_ms(&b2.block.header), START_MS + 1_250);

    // The follower re-executes both and reaches the same blocks, roots included.
    assert_eq!(follower.verify(&b1.block).unwrap().hash(), b1.hash());
    assert_eq!(follower.verify(&b2.block).unwrap().hash(), b2.hash());

    for c in [&proposer, &follower] {
        c.finalize(b1.hash()).unwrap();
        let last = c.finalize(b2.hash()).unwrap();
        assert_eq!(last.block.header.state_root, b2.block.header.state_root);
        assert_eq!(c.head().hash, b2.hash());
        assert_eq!(balance(c, Address::repeat_byte(7)), U256::from(1_000 + 1_001));
        assert_eq!(c.pending_len(), 0);
    }
    assert_eq!(proposer.pool().len(), (0, 0));
}

#[test]
fn finalizing_one_branch_drops_the_other() {
    let clock = ManualClock::new(START_MS + 1_000);
    let c = node(&clock);
    let genesis = c.head().hash;
    let a = c.propose(genesis, Address::repeat_byte(1)).unwrap();
    clock.advance_millis(1);
    let b = c.propose(genesis, Address::repeat_byte(2)).unwrap();
    let on_b = c.propose(b.hash(), Address::repeat_byte(3)).unwrap();
    assert_ne!(a.hash(), b.hash());
    assert_eq!(c.pending_len(), 3);
    c.finalize(a.hash()).unwrap();
    assert_eq!(c.pending_len(), 0);
    assert!(matches!(c.finalize(b.hash()), Err(ChainError::UnknownBlock(_))));
    assert!(matches!(c.propose(on_b.hash(), Address::ZERO), Err(ChainError::UnknownParent(_))));
}

#[test]
fn finalize_refuses_a_block_whose_parent_is_not_the_head() {
    let clock = ManualClock::new(START_MS + 1_000);
    let c = node(&clock);
    let b1 = c.propose(c.head().hash, Address::ZERO).unwrap();
    let b2 = c.propose(b1.hash(), Address::ZERO).unwrap();
    assert!(c.finalize(b2.hash()).is_err());
    assert_eq!(c.store().head().unwrap(), 0);
    c.finalize(b1.hash()).unwrap();
    c.finalize(b2.hash()).unwrap();
    assert_eq!(c.store().head().unwrap(), 2);
}

#[test]
fn verify_refuses_headers_that_break_a_rule() {
    let clock = ManualClock::new(START_MS + 1_000);
    let (proposer, follower) = (node(&clock), node(&clock));
    proposer.submit(transfer(&dev_signer(0), 0, 7)).unwrap();
    let good = proposer.propose(proposer.head().hash, Address::ZERO).unwrap().block.clone();

    let cases: Vec<(&str, SealedBlock)> = vec![
        ("state root", tampered(&good, |h| h.state_root = B256::repeat_byte(1))),
        ("gas used", tampered(&good, |h| h.gas_used += 1)),
        ("receipts root", tampered(&good, |h| h.receipts_root = B256::repeat_byte(2))),
        ("transactions root", tampered(&good, |h| h.transactions_root = B256::repeat_byte(3))),
        ("logs bloom", tampered(&good, |h| h.logs_bloom.0[0] = 1)),
        ("base fee", tampered(&good, |h| h.base_fee_per_gas = Some(7))),
        ("gas limit", tampered(&good, |h| h.gas_limit += 1)),
        ("number", tampered(&good, |h| h.number = 5)),
        ("extra data", tampered(&good, |h| h.extra_data = Bytes::from_static(b"lightstreams"))),
        ("ahead of ours", tampered(&good, |h| {
            let ms = START_MS + 1_000 + MAX_FUTURE_DRIFT_MS + 1;
            h.extra_data = Bytes::copy_from_slice(&ms.to_be_bytes());
            h.timestamp = ms / 1000;
        })),
        ("before its parent", tampered(&good, |h| {
            let ms = START_MS - 1;
            h.extra_data = Bytes::copy_from_slice(&ms.to_be_bytes());
            h.timestamp = ms / 1000;
        })),
        ("timestamp", tampered(&good, |h| h.timestamp += 1)),
        ("header differs", tampered(&good, |h| h.mix_hash = B256::repeat_byte(4))),
    ];
    for (expected, block) in cases {
        let reason = invalid_reason(follower.verify(&block));
        assert!(reason.contains(expected), "{expected}: {reason}");
    }
    // A block claiming a hash its header does not have.
    let mut lying = good.clone();
    lying.hash = B256::repeat_byte(9);
    assert!(invalid_reason(follower.verify(&lying)).contains("hash"));
    // An unknown parent is not an invalid block (it may arrive later), but is refused.
    let orphan = tampered(&good, |h| h.parent_hash = B256::repeat_byte(5));
    assert!(matches!(follower.verify(&orphan), Err(ChainError::UnknownParent(_))));
    // None of it left anything behind; the honest block still verifies.
    assert_eq!(follower.pending_len(), 0);
    assert_eq!(follower.verify(&good).unwrap().hash(), good.hash);
}

#[test]
fn verify_applies_the_pool_rules_to_every_transaction() {
    let clock = ManualClock::new(START_MS + 1_000);
    let (proposer, follower) = (node(&clock), node(&clock));
    let signer = dev_signer(0);
    proposer.submit(transfer(&signer, 0, 7)).unwrap();
    let good = proposer.propose(proposer.head().hash, Address::ZERO).unwrap().block.clone();
    let with_txs = |txs: Vec<TxEnvelope>| {
        let senders = vec![signer.address(); txs.len()];
        SealedBlock::new(good.header.clone(), txs, senders)
    };

    // Another chain's transaction.
    let mut other_chain = ls_testkit::eip1559(&signer, 0, Some(Address::ZERO), U256::ZERO, Bytes::new(), 21_000);
    if let TxEnvelope::Eip1559(signed) = other_chain.inner() {
        let mut tx = signed.tx().clone();
        tx.chain_id = 1;
        let sig = signer.sign_transaction_sync(&mut tx).unwrap();
        other_chain = Recovered::new_unchecked(tx.into_signed(sig).into(), signer.address());
    }
    assert!(invalid_reason(follower.verify(&with_txs(vec![other_chain.into_inner()]))).contains("chain id"));

    // A set-code (EIP-7702) transaction is refused, not executed.
    let mut set_code = TxEip7702 {
        chain_id: 1337,
        nonce: 0,
        gas_limit: 100_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1,
        to: Address::ZERO,
        ..Default::default()
    };
    let sig = signer.sign_transaction_sync(&mut set_code).unwrap();
    let set_code: TxEnvelope = set_code.into_signed(sig).into();
    assert!(invalid_reason(follower.verify(&with_txs(vec![set_code]))).contains("type"));

    // A transaction whose nonce is already used fails execution: the block is invalid.
    let replay = transfer(&signer, 0, 7).into_inner();
    let twice = with_txs(vec![replay.clone(), replay]);
    assert!(invalid_reason(follower.verify(&twice)).contains("transaction 1"));

    // A sender list that lies, or none (as blocks arrive from the network), is ignored:
    // senders are recovered from signatures.
    for senders in [vec![Address::repeat_byte(0xee)], vec![]] {
        let mut lying = good.clone();
        lying.senders = senders;
        assert_eq!(follower.verify(&lying).unwrap().block.senders, vec![signer.address()]);
    }
}

#[test]
fn a_follower_recovers_the_senders_of_a_large_block_it_never_saw() {
    let clock = ManualClock::new(START_MS + 1_000);
    let (proposer, follower) = (node(&clock), node(&clock));
    // 5 senders x 30: more than the follower recovers on one thread, none in its pool.
    for s in 0..5 {
        let signer = dev_signer(s);
        for nonce in 0..30 {
            proposer.submit(transfer(&signer, nonce, 9)).unwrap();
        }
    }
    let block = proposer.propose(proposer.head().hash, Address::ZERO).unwrap();
    assert_eq!(block.block.transactions.len(), 150);
    assert_eq!(follower.pool().len(), (0, 0));
    let mut bare = block.block.clone();
    bare.senders.clear();
    let verified = follower.verify(&bare).unwrap();
    assert_eq!(verified.hash(), block.hash());
    assert_eq!(verified.block.senders, block.block.senders);
}

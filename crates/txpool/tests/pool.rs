//! Pool behaviour: geth's errors, gap queueing and promotion, replacement, ordering, pruning,
//! eviction, and invariants under random operation sequences.

use std::collections::HashMap;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy, transaction::Recovered};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use ls_txpool::{PoolConfig, PoolError, StateView, TxPool};
use proptest::prelude::*;

#[derive(Default)]
struct MemState(HashMap<Address, (u64, U256)>);

impl StateView for MemState {
    fn account(&self, a: Address) -> Result<(u64, U256), Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.get(&a).copied().unwrap_or_default())
    }
}

const BASE_FEE: u64 = 1_000;

fn key(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(i + 1)).unwrap()
}

fn rich(signers: &[&PrivateKeySigner]) -> MemState {
    MemState(signers.iter().map(|s| (s.address(), (0, U256::from(10u128.pow(24))))).collect())
}

fn tx(s: &PrivateKeySigner, nonce: u64, max_fee: u128, tip: u128) -> Recovered<TxEnvelope> {
    tx_with(s, nonce, max_fee, tip, 21_000, 1337, Bytes::new())
}

fn tx_with(s: &PrivateKeySigner, nonce: u64, max_fee: u128, tip: u128, gas: u64, chain_id: u64, input: Bytes) -> Recovered<TxEnvelope> {
    let mut t = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(0xee)),
        value: U256::from(1),
        access_list: Default::default(),
        input,
    };
    let sig = s.sign_transaction_sync(&mut t).unwrap();
    Recovered::new_unchecked(t.into_signed(sig).into(), s.address())
}

fn pool() -> TxPool {
    TxPool::new(PoolConfig { chain_id: 1337, block_gas_limit: 30_000_000, ..Default::default() })
}

#[test]
fn errors_carry_geths_messages() {
    let a = key(0);
    let state = rich(&[&a]);
    let p = pool();
    let e = p.add(tx_with(&a, 0, 2_000, 1, 21_000, 1, Bytes::new()), &state, BASE_FEE).unwrap_err();
    assert_eq!(e.to_string(), "invalid chain id for signer: have 1 want 1337");
    let e = p.add(tx_with(&a, 0, 2_000, 1, 20_000, 1337, Bytes::new()), &state, BASE_FEE).unwrap_err();
    assert_eq!(e.to_string(), "intrinsic gas too low: gas 20000, minimum needed 21000");
    let e = p.add(tx_with(&a, 0, 2_000, 1, 31_000_000, 1337, Bytes::new()), &state, BASE_FEE).unwrap_err();
    assert_eq!(e, PoolError::GasLimit);
    let e = p.add(tx(&a, 0, 2_000, 3_000), &state, BASE_FEE).unwrap_err();
    assert!(e.to_string().starts_with("max priority fee per gas higher than max fee per gas"), "{e}");
    let e = p.add(tx(&a, 0, 999, 1), &state, BASE_FEE).unwrap_err();
    assert!(e.to_string().starts_with("max fee per gas less than block base fee"), "{e}");
    // EIP-7623 floor: 100 non-zero bytes need 21000 + 4000 floor > 21000 + 1600 intrinsic.
    let e = p.add(tx_with(&a, 0, 2_000, 1, 22_600, 1337, vec![1u8; 100].into()), &state, BASE_FEE).unwrap_err();
    assert_eq!(e.to_string(), "insufficient gas for floor data gas cost: gas 22600, minimum needed 25000");
    let poor = key(9);
    let e = p.add(tx(&poor, 0, 2_000, 1), &state, BASE_FEE).unwrap_err();
    assert_eq!(e.to_string(), "insufficient funds for gas * price + value: balance 0, tx cost 42000001, overshot 42000001");
    let mut moved = rich(&[&a]);
    moved.0.get_mut(&a.address()).unwrap().0 = 5;
    let e = p.add(tx(&a, 3, 2_000, 1), &moved, BASE_FEE).unwrap_err();
    assert_eq!(e.to_string(), "nonce too low: next nonce 5, tx nonce 3");
    let ok = tx(&a, 0, 2_000, 1);
    p.add(ok.clone(), &state, BASE_FEE).unwrap();
    assert_eq!(p.add(ok, &state, BASE_FEE).unwrap_err(), PoolError::AlreadyKnown);
    // Pre-EIP-155 legacy transactions are refused.
    let mut legacy = TxLegacy { chain_id: None, nonce: 1, gas_price: 2_000, gas_limit: 21_000, to: TxKind::Call(a.address()), value: U256::ZERO, input: Bytes::new() };
    let sig = a.sign_transaction_sync(&mut legacy).unwrap();
    let raw = TxEnvelope::from(legacy.into_signed(sig)).encoded_2718();
    assert_eq!(p.add_raw(&raw, &state, BASE_FEE).unwrap_err(), PoolError::NotReplayProtected);
    // Garbage bytes.
    assert!(matches!(p.add_raw(&[0x02, 0xc0], &state, BASE_FEE).unwrap_err(), PoolError::Decode(_)));
    assert!(matches!(p.add_raw(&[], &state, BASE_FEE).unwrap_err(), PoolError::Decode(_)));
    // Oversized.
    let big = vec![0u8; 200 * 1024];
    assert!(matches!(p.add_raw(&big, &state, BASE_FEE).unwrap_err(), PoolError::Oversized { .. }));
    assert_eq!(p.len(), (1, 0));
}

#[test]
fn gaps_queue_and_promote() {
    let a = key(0);
    let state = rich(&[&a]);
    let p = pool();
    let mut rx = p.subscribe();
    let h2 = p.add(tx(&a, 2, 2_000, 1), &state, BASE_FEE).unwrap();
    assert_eq!(p.len(), (0, 1));
    assert_eq!(p.best(BASE_FEE).count(), 0);
    assert_eq!(p.pending_nonce(a.address(), 0), 0);
    let h0 = p.add(tx(&a, 0, 2_000, 1), &state, BASE_FEE).unwrap();
    assert_eq!(p.len(), (1, 1));
    let h1 = p.add(tx(&a, 1, 2_000, 1), &state, BASE_FEE).unwrap();
    assert_eq!(p.len(), (3, 0));
    assert_eq!(p.pending_nonce(a.address(), 0), 3);
    // Announced in the order they became executable.
    let announced: Vec<B256> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(announced, vec![h0, h1, h2]);
    let order: Vec<u64> = p.best(BASE_FEE).map(|t| alloy_consensus::Transaction::nonce(t.inner())).collect();
    assert_eq!(order, vec![0, 1, 2]);
}

#[test]
fn replacement_needs_a_ten_percent_bump() {
    let a = key(0);
    let state = rich(&[&a]);
    let p = pool();
    let first = p.add(tx(&a, 0, 2_000, 100), &state, BASE_FEE).unwrap();
    assert_eq!(p.add(tx(&a, 0, 2_199, 110), &state, BASE_FEE).unwrap_err(), PoolError::ReplaceUnderpriced);
    assert_eq!(p.add(tx(&a, 0, 2_200, 109), &state, BASE_FEE).unwrap_err(), PoolError::ReplaceUnderpriced);
    let second = p.add(tx(&a, 0, 2_200, 110), &state, BASE_FEE).unwrap();
    assert!(p.get(&first).is_none());
    assert!(p.get(&second).is_some());
    assert_eq!(p.len(), (1, 0));
}

#[test]
fn best_orders_by_tip_and_skips_invalid_senders() {
    let (a, b, c) = (key(0), key(1), key(2));
    let state = rich(&[&a, &b, &c]);
    let p = pool();
    p.add(tx(&a, 0, 10_000, 5), &state, BASE_FEE).unwrap();
    p.add(tx(&a, 1, 10_000, 500), &state, BASE_FEE).unwrap();
    p.add(tx(&b, 0, 10_000, 50), &state, BASE_FEE).unwrap();
    p.add(tx(&c, 0, 10_000, 20), &state, BASE_FEE).unwrap();
    p.add(tx(&c, 1, 10_000, 20), &state, BASE_FEE).unwrap();
    let order: Vec<(Address, u64)> =
        p.best(BASE_FEE).map(|t| (t.signer(), alloy_consensus::Transaction::nonce(t.inner()))).collect();
    // b (50) first; then c (20) twice; a's first tx tips 5, so a comes last despite its second.
    assert_eq!(order, vec![(b.address(), 0), (c.address(), 0), (c.address(), 1), (a.address(), 0), (a.address(), 1)]);
    let mut best = p.best(BASE_FEE);
    let first = best.next().unwrap();
    assert_eq!(first.signer(), b.address());
    let second = best.next().unwrap();
    best.mark_invalid(second.signer());
    let rest: Vec<Address> = best.map(|t| t.signer()).collect();
    assert_eq!(rest, vec![a.address(), a.address()]);
}

#[test]
fn on_block_prunes_mined_and_stale() {
    let (a, b) = (key(0), key(1));
    let mut state = rich(&[&a, &b]);
    let p = pool();
    let h0 = p.add(tx(&a, 0, 2_000, 1), &state, BASE_FEE).unwrap();
    let h1 = p.add(tx(&a, 1, 2_000, 1), &state, BASE_FEE).unwrap();
    let h2 = p.add(tx(&a, 2, 2_000, 1), &state, BASE_FEE).unwrap();
    let hb = p.add(tx(&b, 0, 2_000, 1), &state, BASE_FEE).unwrap();
    // Block mined a0 and a1 (and b0 some other way: its nonce moved without our tx).
    state.0.get_mut(&a.address()).unwrap().0 = 2;
    state.0.get_mut(&b.address()).unwrap().0 = 1;
    p.on_block(&[h0, h1, hb], &state, BASE_FEE);
    assert!(p.get(&h0).is_none() && p.get(&h1).is_none() && p.get(&hb).is_none());
    assert!(p.get(&h2).is_some());
    assert_eq!(p.len(), (1, 0));
    assert_eq!(p.pending_nonce(a.address(), 2), 3);
}

#[test]
fn full_pool_evicts_the_cheapest_tail() {
    let signers: Vec<_> = (0..4).map(key).collect();
    let refs: Vec<_> = signers.iter().collect();
    let state = rich(&refs);
    let p = TxPool::new(PoolConfig { max_txs: 3, ..Default::default() });
    p.add(tx(&signers[0], 0, 10_000, 30), &state, BASE_FEE).unwrap();
    let cheap = p.add(tx(&signers[1], 0, 10_000, 10), &state, BASE_FEE).unwrap();
    p.add(tx(&signers[2], 0, 10_000, 20), &state, BASE_FEE).unwrap();
    // Paying less than everyone: refused.
    assert_eq!(p.add(tx(&signers[3], 0, 10_000, 5), &state, BASE_FEE).unwrap_err(), PoolError::Full);
    // Paying more than the cheapest: it takes its place.
    let rich_tx = p.add(tx(&signers[3], 0, 10_000, 40), &state, BASE_FEE).unwrap();
    assert!(p.get(&cheap).is_none());
    assert!(p.get(&rich_tx).is_some());
    assert_eq!(p.len(), (3, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Random adds and blocks keep the pool bounded, gap-free in its pending runs, and yield
    /// strictly increasing nonces per sender.
    #[test]
    fn invariants_hold(ops in prop::collection::vec((0u8..4, 0u64..6, 1u128..50, any::<bool>()), 1..60)) {
        let signers: Vec<_> = (0..4).map(key).collect();
        let refs: Vec<_> = signers.iter().collect();
        let mut state = rich(&refs);
        let p = TxPool::new(PoolConfig { max_txs: 12, max_per_sender: 5, ..Default::default() });
        for (who, nonce, tip, mine) in ops {
            let s = &signers[who as usize];
            let _ = p.add(tx(s, nonce, 10_000, tip), &state, BASE_FEE);
            if mine {
                // Mine everything best() yields, as a block would.
                let mined: Vec<_> = p.best(BASE_FEE).collect();
                for t in &mined {
                    state.0.get_mut(&t.signer()).unwrap().0 += 1;
                }
                let hashes: Vec<B256> = mined.iter().map(|t| *t.tx_hash()).collect();
                p.on_block(&hashes, &state, BASE_FEE);
            }
            let (pending, queued) = p.len();
            prop_assert!(pending + queued <= 12);
            let mut last: HashMap<Address, u64> = HashMap::new();
            for t in p.best(BASE_FEE) {
                let n = alloy_consensus::Transaction::nonce(t.inner());
                let expected = last.get(&t.signer()).map(|l| l + 1).unwrap_or(state.0[&t.signer()].0);
                prop_assert_eq!(n, expected, "pending run must start at the state nonce and have no gap");
                last.insert(t.signer(), n);
            }
        }
    }
}

//! Block build, verify and finalize time against the size of the state.
//!
//! `cargo run --release -p ls-chain --example build_verify -- --accounts 1000000 --txs 2000`
//!
//! Two nodes open the same genesis holding `--accounts` funded accounts (in redb files in a
//! temporary directory). `--txs` senders each submit one transfer to a random account; the
//! first node proposes a block with all of them, the second verifies it (re-executes and
//! compares roots), and both finalize it. The cost should follow the block's changes, not the
//! state: compare a run with 10 000 accounts against one with 1 000 000.

use std::{sync::Arc, time::Instant};

use alloy_primitives::{Address, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use ls_chain::Chain;
use ls_primitives::{GenesisAccount, dev::dev_chain_spec};
use ls_storage::Store;
use ls_txpool::PoolConfig;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let accounts = arg("--accounts", 10_000);
    let txs = arg("--txs", 2_000).min(accounts);
    let gas_limit = 30_000_000u64.max(21_000 * txs as u64 * 2);
    let mut spec = dev_chain_spec(1337, gas_limit, 0);
    let senders: Vec<PrivateKeySigner> =
        (0..txs).map(|i| PrivateKeySigner::from_bytes(&keccak256((i as u64).to_be_bytes())).unwrap()).collect();
    let funded = U256::from(10u128.pow(21));
    for s in &senders {
        spec.alloc.insert(s.address(), GenesisAccount { balance: funded, ..Default::default() });
    }
    for i in 0..accounts.saturating_sub(txs) {
        let addr = Address::from_word(keccak256((i as u64 | 1 << 63).to_be_bytes()));
        spec.alloc.insert(addr, GenesisAccount { balance: U256::from(1), ..Default::default() });
    }
    let dir = tempfile::tempdir().unwrap();
    let pool = PoolConfig { block_gas_limit: gas_limit, max_txs: txs + 1, ..Default::default() };
    let t = Instant::now();
    let open = |name: &str| {
        let store = Arc::new(Store::open(dir.path().join(name)).unwrap());
        Chain::open(spec.clone(), store, pool.clone()).unwrap()
    };
    let (proposer, verifier) = (open("a.redb"), open("b.redb"));
    let genesis_s = t.elapsed().as_secs_f64();
    // Warm the finalized trie (loaded once after start, as on a running node).
    let warm = proposer.propose(proposer.head().hash, Address::ZERO).unwrap();
    verifier.verify(&warm.block).unwrap();
    proposer.finalize(warm.hash()).unwrap();
    verifier.finalize(warm.hash()).unwrap();

    for (i, s) in senders.iter().enumerate() {
        let to = Address::from_word(keccak256(((i as u64 * 7919 % accounts as u64) | (1 << 63)).to_be_bytes()));
        proposer.submit(ls_testkit::eip1559(s, 0, Some(to), U256::from(1), Bytes::new(), 21_000)).unwrap();
    }
    let t = Instant::now();
    let block = proposer.propose(proposer.head().hash, Address::ZERO).unwrap();
    let propose_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(block.block.transactions.len(), txs);
    let t = Instant::now();
    verifier.verify(&block.block).unwrap();
    let verify_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    verifier.finalize(block.hash()).unwrap();
    let finalize_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "{{\"accounts\":{accounts},\"txs\":{txs},\"genesis_s\":{genesis_s:.1},\"propose_ms\":{propose_ms:.1},\"verify_ms\":{verify_ms:.1},\"finalize_ms\":{finalize_ms:.1}}}"
    );
}

//! Helpers shared by the workspace's tests (a dev-dependency only).

use std::path::{Path, PathBuf};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;

/// Chain id of the dev chain the tests run.
pub const CHAIN_ID: u64 = 1337;

/// An EIP-1559 transaction on the dev chain (fee cap 10 gwei, tip 1 gwei), signed by `signer`.
/// `to: None` creates a contract.
pub fn eip1559(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Option<Address>,
    value: U256,
    input: Bytes,
    gas: u64,
) -> Recovered<TxEnvelope> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: to.map_or(TxKind::Create, TxKind::Call),
        value,
        access_list: Default::default(),
        input,
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("local signing cannot fail");
    Recovered::new_unchecked(tx.into_signed(sig).into(), signer.address())
}

/// `0x`-hex of a transaction's EIP-2718 encoding, as eth_sendRawTransaction takes it.
pub fn raw_hex(tx: &TxEnvelope) -> String {
    format!("0x{}", alloy_primitives::hex::encode(tx.encoded_2718()))
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable test directory") {
            let p = entry.expect("readable entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Deterministic pseudo-random bytes (xorshift64): no two chunks alike, so content-addressed
/// blocks never deduplicate by accident. `seed` must be non-zero.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Replays a fuzz target on stable: every file of its committed corpus, then each seed, every
/// 7th truncation of it and 300 deterministic mutations (bit flips, byte sets, splices).
/// Panics if the corpus directory is missing or empty: a replay that silently runs nothing
/// would pass forever. Returns how many corpus files ran.
pub fn replay_fuzz_target(corpus: &Path, seeds: &[Vec<u8>], mut run: impl FnMut(&[u8])) -> usize {
    let entries = std::fs::read_dir(corpus)
        .unwrap_or_else(|e| panic!("fuzz corpus {} is missing: {e}", corpus.display()));
    let mut files = 0;
    for e in entries {
        let path = e.expect("corpus entry").path();
        run(&std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())));
        files += 1;
    }
    assert!(files > 0, "fuzz corpus {} is empty", corpus.display());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in seeds.iter().filter(|s| !s.is_empty()) {
        run(seed);
        for cut in (0..seed.len()).step_by(7) {
            run(&seed[..cut]);
        }
        for _ in 0..300 {
            let mut m = seed.clone();
            for _ in 0..=(next() % 4) {
                let at = (next() as usize) % m.len();
                match next() % 3 {
                    0 => m[at] ^= 1 << (next() % 8),
                    1 => m[at] = next() as u8,
                    _ => {
                        let len = (next() as usize % 16).min(m.len() - at);
                        let chunk = m[at..at + len].to_vec();
                        let to = (next() as usize) % m.len();
                        m.splice(to..to, chunk);
                    }
                }
            }
            run(&m);
        }
    }
    files
}

/// Writes `seeds` into `corpus` as `seed-N` files (for `LS_WRITE_FUZZ_SEEDS=1` runs).
pub fn write_fuzz_seeds(corpus: &Path, seeds: &[Vec<u8>]) {
    std::fs::create_dir_all(corpus).expect("create corpus dir");
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(corpus.join(format!("seed-{i}")), s).expect("write seed");
    }
}

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

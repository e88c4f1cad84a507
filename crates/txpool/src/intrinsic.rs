//! Intrinsic gas and the EIP-7623 calldata floor, as of Prague.

use alloy_consensus::Transaction;
use alloy_primitives::TxKind;

/// EIP-3860 limit on init code.
pub const MAX_INITCODE_SIZE: usize = 49_152;

/// The gas a transaction costs before executing anything, and its EIP-7623 floor.
pub fn intrinsic_gas(tx: &impl Transaction) -> (u64, u64) {
    let input = tx.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let nonzeros = input.len() as u64 - zeros;
    let mut gas = 21_000 + zeros * 4 + nonzeros * 16;
    if tx.kind() == TxKind::Create {
        gas += 32_000 + 2 * (input.len() as u64).div_ceil(32);
    }
    if let Some(list) = tx.access_list() {
        for item in list.iter() {
            gas += 2_400 + 1_900 * item.storage_keys.len() as u64;
        }
    }
    let tokens = zeros + 4 * nonzeros;
    let floor = 21_000 + 10 * tokens;
    (gas, floor)
}

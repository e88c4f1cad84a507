//! What a block did to the state, as the executor reports it to storage.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};

/// An account's fields other than its storage root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountInfo {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
}

/// The net effect of a block on one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountChange {
    /// The account after the block; `None` deletes it (self-destructed, or empty and touched).
    pub info: Option<AccountInfo>,
    /// New bytecode, stored under `info.code_hash`.
    pub code: Option<Bytes>,
    /// Drop all storage the account had before the block, then apply `storage`.
    pub wipe_storage: bool,
    /// Slot -> value after the block (zero deletes the slot).
    pub storage: BTreeMap<B256, U256>,
}

/// The net effect of a block on the state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateChanges {
    pub accounts: BTreeMap<Address, AccountChange>,
}

//! Table definitions. Keys are fixed-size byte arrays and tuples so redb orders them usefully:
//! hashed tables iterate in trie order, history tables iterate per address by block number.

use redb::TableDefinition;

/// "head" -> block number (u64 BE), "genesis" -> hash, "chain_id" -> u64 BE.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// number -> RLP header.
pub const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// block hash -> number.
pub const HASH_TO_NUMBER: TableDefinition<[u8; 32], u64> = TableDefinition::new("hash_to_number");
/// number -> [`ls_primitives::types::StoredBody`].
pub const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
/// number -> RLP list of EIP-2718 receipts.
pub const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// tx hash -> (block number, index in block).
pub const TX_LOOKUP: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_lookup");

/// address -> RLP(TrieAccount): the latest state.
pub const ACCOUNTS: TableDefinition<[u8; 20], &[u8]> = TableDefinition::new("accounts");
/// (address, slot) -> value (32 bytes BE); zero values are absent.
pub const STORAGE: TableDefinition<([u8; 20], [u8; 32]), [u8; 32]> = TableDefinition::new("storage");
/// code hash -> bytecode.
pub const CODE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("code");

/// Tables older stores kept (hashed copies of `accounts` and `storage`, in trie order), deleted
/// on open: the tries are loaded from the plain tables, and a second copy cost a random-key
/// write per changed account and slot in every block.
pub const DROPPED: [&str; 2] = ["hashed_accounts", "hashed_storage"];

/// (address, n) -> the account as it was before block n (empty: it did not exist).
pub const ACCOUNT_HISTORY: TableDefinition<([u8; 20], u64), &[u8]> =
    TableDefinition::new("account_history");
/// (address, slot, n) -> the slot's value before block n.
pub const STORAGE_HISTORY: TableDefinition<([u8; 20], [u8; 32], u64), [u8; 32]> =
    TableDefinition::new("storage_history");

//! State and storage roots with alloy-trie's `HashBuilder`.
//!
//! The live tries are kept in memory ([`crate::mpt::Trie`]) and re-hash only changed paths, so
//! a block's root costs what the block changed; these helpers load them from the plain tables
//! and compute roots from scratch for genesis checks and tests.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, TrieAccount};
use redb::ReadableTable;

use crate::{StorageError, error::corrupt, mpt::Trie};

/// RLP of a storage value as the storage trie holds it.
pub(crate) fn storage_leaf(value: &U256) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    value.encode(&mut out);
    out
}

/// Loads the storage trie of `address` from the plain `storage` table (its slots are one key
/// range; each is hashed on the way in).
pub(crate) fn load_storage_trie(
    table: &impl ReadableTable<([u8; 20], [u8; 32]), [u8; 32]>,
    address: Address,
) -> Result<Trie, StorageError> {
    let addr = address.0.0;
    let mut trie = Trie::default();
    for entry in table.range((addr, [0u8; 32])..=(addr, [0xffu8; 32]))? {
        let (key, value) = entry?;
        let (_, slot) = key.value();
        trie.insert(keccak256(slot), storage_leaf(&U256::from_be_bytes(value.value())));
    }
    Ok(trie)
}

/// Loads the whole account trie from the plain `accounts` table, hashing every address
/// (O(accounts): once after start, or after an unwind). There is no hashed copy of the state
/// on disk: it would cost a second random-key write per changed account in every block.
pub(crate) fn load_trie(table: &impl ReadableTable<[u8; 20], &'static [u8]>) -> Result<Trie, StorageError> {
    let mut trie = Trie::default();
    for entry in table.iter()? {
        let (key, value) = entry?;
        trie.insert(keccak256(key.value()), value.value().to_vec());
    }
    Ok(trie)
}

/// Storage root of a storage map, computed in memory (for genesis checks and tests).
pub fn storage_root_of<'a>(slots: impl IntoIterator<Item = (&'a B256, &'a U256)>) -> B256 {
    let mut leaves: Vec<(B256, Vec<u8>)> = slots
        .into_iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(k, v)| (keccak256(k), storage_leaf(v)))
        .collect();
    leaves.sort_by_key(|l| l.0);
    root_of_sorted(&leaves)
}

/// State root of a genesis allocation, computed in memory.
pub fn state_root_of_alloc(spec: &ls_primitives::ChainSpec) -> B256 {
    let mut leaves: Vec<(B256, Vec<u8>)> = spec
        .alloc
        .iter()
        .map(|(addr, acc)| {
            let storage: Vec<(B256, U256)> =
                acc.storage.iter().map(|(k, v)| (*k, U256::from_be_bytes(v.0))).collect();
            let trie_acc = TrieAccount {
                nonce: acc.nonce,
                balance: acc.balance,
                storage_root: storage_root_of(storage.iter().map(|(k, v)| (k, v))),
                code_hash: if acc.code.is_empty() {
                    alloy_primitives::KECCAK256_EMPTY
                } else {
                    keccak256(&acc.code)
                },
            };
            let mut rlp = Vec::new();
            trie_acc.encode(&mut rlp);
            (keccak256(addr), rlp)
        })
        .collect();
    leaves.sort_by_key(|l| l.0);
    root_of_sorted(&leaves)
}

fn root_of_sorted(leaves: &[(B256, Vec<u8>)]) -> B256 {
    if leaves.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    let mut hb = HashBuilder::default();
    for (k, v) in leaves {
        hb.add_leaf(Nibbles::unpack(k), v);
    }
    hb.root()
}

pub(crate) fn decode_account(bytes: &[u8]) -> Result<TrieAccount, StorageError> {
    let mut buf = bytes;
    alloy_rlp::Decodable::decode(&mut buf).map_err(|e| corrupt("accounts", e))
}

pub(crate) fn encode_account(acc: &TrieAccount) -> Vec<u8> {
    let mut out = Vec::with_capacity(acc.length());
    acc.encode(&mut out);
    out
}

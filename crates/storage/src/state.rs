//! Point-in-time reads of the state.

use std::cell::OnceCell;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Decodable;
use alloy_trie::TrieAccount;
use redb::{ReadOnlyTable, ReadTransaction};

use crate::{
    StateReader, StorageError,
    error::corrupt,
    mpt::Trie,
    tables::*,
    trie::{decode_account, load_storage_trie, load_trie},
};

/// A read-only table opened on first use.
type Lazy<K, V> = OnceCell<ReadOnlyTable<K, V>>;

/// The state after one block, read from a consistent snapshot of the database.
///
/// For the head it reads the plain state tables; for an older block it consults the changesets:
/// the first change to an account (or slot) after the block holds the value it had then.
pub struct StateView {
    at: Option<u64>,
    head: u64,
    txn: ReadTransaction,
    // Opened on first use: most reads touch one or two tables.
    accounts: Lazy<[u8; 20], &'static [u8]>,
    storage: Lazy<([u8; 20], [u8; 32]), [u8; 32]>,
    code: Lazy<[u8; 32], &'static [u8]>,
    headers: Lazy<u64, &'static [u8]>,
    account_history: Lazy<([u8; 20], u64), &'static [u8]>,
    storage_history: Lazy<([u8; 20], [u8; 32], u64), [u8; 32]>,
}

/// Opens `def` in `txn` once, caching it in `cell`.
fn table<'a, K: redb::Key + 'static, V: redb::Value + 'static>(
    cell: &'a OnceCell<ReadOnlyTable<K, V>>,
    txn: &ReadTransaction,
    def: redb::TableDefinition<'static, K, V>,
) -> Result<&'a ReadOnlyTable<K, V>, StorageError> {
    if let Some(t) = cell.get() {
        return Ok(t);
    }
    let t = txn.open_table(def)?;
    Ok(cell.get_or_init(|| t))
}

impl std::fmt::Debug for StateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateView").field("block", &self.block_number()).finish_non_exhaustive()
    }
}

impl StateView {
    pub(crate) fn new(txn: ReadTransaction, at: Option<u64>, head: u64) -> Result<Self, StorageError> {
        Ok(Self {
            at,
            head,
            txn,
            accounts: OnceCell::new(),
            storage: OnceCell::new(),
            code: OnceCell::new(),
            headers: OnceCell::new(),
            account_history: OnceCell::new(),
            storage_history: OnceCell::new(),
        })
    }

    /// The block whose post-state this view shows.
    pub fn block_number(&self) -> u64 {
        self.at.unwrap_or(self.head)
    }

    /// The newest block when the view was opened.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The account, or `None` if it does not exist.
    pub fn account(&self, address: Address) -> Result<Option<TrieAccount>, StorageError> {
        let addr = address.0.0;
        if let Some(at) = self.at {
            let mut later = table(&self.account_history, &self.txn, ACCOUNT_HISTORY)?.range((addr, at + 1)..=(addr, u64::MAX))?;
            if let Some(entry) = later.next() {
                let (_, pre) = entry?;
                let pre = pre.value();
                return if pre.is_empty() { Ok(None) } else { decode_account(pre).map(Some) };
            }
        }
        table(&self.accounts, &self.txn, ACCOUNTS)?.get(addr)?.map(|v| decode_account(v.value())).transpose()
    }

    /// A storage slot's value (zero when unset).
    pub fn storage(&self, address: Address, slot: B256) -> Result<U256, StorageError> {
        let addr = address.0.0;
        if let Some(at) = self.at {
            let mut later =
                table(&self.storage_history, &self.txn, STORAGE_HISTORY)?.range((addr, slot.0, at + 1)..=(addr, slot.0, u64::MAX))?;
            if let Some(entry) = later.next() {
                let (_, pre) = entry?;
                return Ok(U256::from_be_bytes(pre.value()));
            }
        }
        Ok(table(&self.storage, &self.txn, STORAGE)?.get((addr, slot.0))?.map(|v| U256::from_be_bytes(v.value())).unwrap_or_default())
    }

    /// Bytecode by its hash.
    pub fn code(&self, code_hash: B256) -> Result<Option<Bytes>, StorageError> {
        Ok(table(&self.code, &self.txn, CODE)?.get(code_hash.0)?.map(|v| Bytes::copy_from_slice(v.value())))
    }

    /// Hash of block `number`, if it is at or below this view's block.
    pub fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        if number > self.block_number() {
            return Ok(None);
        }
        let Some(raw) = table(&self.headers, &self.txn, HEADERS)?.get(number)? else { return Ok(None) };
        let header = alloy_consensus::Header::decode(&mut raw.value()).map_err(|e| corrupt("headers", e))?;
        Ok(Some(header.hash_slow()))
    }

    /// The account trie, loaded from the accounts table (O(accounts): done once after start).
    pub(crate) fn load_account_trie(&self) -> Result<Trie, StorageError> {
        self.head_only()?;
        load_trie(&self.txn.open_table(ACCOUNTS)?)
    }

    /// One account's storage trie, loaded from its slots.
    pub(crate) fn load_storage_trie(&self, address: Address) -> Result<Trie, StorageError> {
        self.head_only()?;
        load_storage_trie(&self.txn.open_table(STORAGE)?, address)
    }

    /// The plain tables hold the newest state only (older blocks go through the changesets).
    pub(crate) fn head_only(&self) -> Result<(), StorageError> {
        match self.at {
            None => Ok(()),
            Some(n) => Err(StorageError::UnknownBlock { requested: n, head: self.head }),
        }
    }
}

impl StateReader for StateView {
    fn account(&self, address: Address) -> Result<Option<TrieAccount>, StorageError> {
        StateView::account(self, address)
    }
    fn storage(&self, address: Address, slot: B256) -> Result<U256, StorageError> {
        StateView::storage(self, address, slot)
    }
    fn code(&self, code_hash: B256) -> Result<Option<Bytes>, StorageError> {
        StateView::code(self, code_hash)
    }
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        StateView::block_hash(self, number)
    }
    fn block_number(&self) -> u64 {
        StateView::block_number(self)
    }
}

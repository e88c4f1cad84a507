//! Point-in-time reads of the state.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Decodable;
use alloy_trie::TrieAccount;
use redb::{ReadOnlyTable, ReadTransaction};

use crate::{StorageError, error::corrupt, tables::*, trie::decode_account};

/// The state after one block, read from a consistent snapshot of the database.
///
/// For the head it reads the plain state tables; for an older block it consults the changesets:
/// the first change to an account (or slot) after the block holds the value it had then.
pub struct StateView {
    at: Option<u64>,
    head: u64,
    accounts: ReadOnlyTable<[u8; 20], &'static [u8]>,
    storage: ReadOnlyTable<([u8; 20], [u8; 32]), [u8; 32]>,
    code: ReadOnlyTable<[u8; 32], &'static [u8]>,
    headers: ReadOnlyTable<u64, &'static [u8]>,
    account_history: ReadOnlyTable<([u8; 20], u64), &'static [u8]>,
    storage_history: ReadOnlyTable<([u8; 20], [u8; 32], u64), [u8; 32]>,
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
            accounts: txn.open_table(ACCOUNTS)?,
            storage: txn.open_table(STORAGE)?,
            code: txn.open_table(CODE)?,
            headers: txn.open_table(HEADERS)?,
            account_history: txn.open_table(ACCOUNT_HISTORY)?,
            storage_history: txn.open_table(STORAGE_HISTORY)?,
        })
    }

    /// The block whose post-state this view shows.
    pub fn block_number(&self) -> u64 {
        self.at.unwrap_or(self.head)
    }

    /// The account, or `None` if it does not exist.
    pub fn account(&self, address: Address) -> Result<Option<TrieAccount>, StorageError> {
        let addr = address.0.0;
        if let Some(at) = self.at {
            let mut later = self.account_history.range((addr, at + 1)..=(addr, u64::MAX))?;
            if let Some(entry) = later.next() {
                let (_, pre) = entry?;
                let pre = pre.value();
                return if pre.is_empty() { Ok(None) } else { decode_account(pre).map(Some) };
            }
        }
        self.accounts.get(addr)?.map(|v| decode_account(v.value())).transpose()
    }

    /// A storage slot's value (zero when unset).
    pub fn storage(&self, address: Address, slot: B256) -> Result<U256, StorageError> {
        let addr = address.0.0;
        if let Some(at) = self.at {
            let mut later =
                self.storage_history.range((addr, slot.0, at + 1)..=(addr, slot.0, u64::MAX))?;
            if let Some(entry) = later.next() {
                let (_, pre) = entry?;
                return Ok(U256::from_be_bytes(pre.value()));
            }
        }
        Ok(self.storage.get((addr, slot.0))?.map(|v| U256::from_be_bytes(v.value())).unwrap_or_default())
    }

    /// Bytecode by its hash.
    pub fn code(&self, code_hash: B256) -> Result<Option<Bytes>, StorageError> {
        Ok(self.code.get(code_hash.0)?.map(|v| Bytes::copy_from_slice(v.value())))
    }

    /// Hash of block `number`, if it is at or below this view's block.
    pub fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        if number > self.block_number() {
            return Ok(None);
        }
        let Some(raw) = self.headers.get(number)? else { return Ok(None) };
        let header = alloy_consensus::Header::decode(&mut raw.value()).map_err(|e| corrupt("headers", e))?;
        Ok(Some(header.hash_slow()))
    }
}

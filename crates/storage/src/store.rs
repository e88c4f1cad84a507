use std::path::Path;

use alloy_consensus::{Header, TxEnvelope};
use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use ls_primitives::{
    ChainSpec, SealedBlock, StoredReceipt,
    types::{StoredBody, decode_receipts, encode_receipts},
};
use parking_lot::Mutex;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::{
    AccountChange, AccountInfo, StateChanges, StateView, StorageError,
    error::corrupt,
    tables::*,
    mpt::Trie,
    trie::{decode_account, encode_account, load_storage_trie, load_trie, storage_leaf},
};

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLocation {
    pub block: u64,
    pub index: u32,
}

/// The chain database. Cheap to share behind an `Arc`; readers never block the writer.
pub struct Store {
    db: Database,
    /// The account trie, kept in memory so a block re-hashes only the paths it changed. Built
    /// from `hashed_accounts` on first use; dropped (and rebuilt later) if a commit fails.
    tries: Mutex<Option<Tries>>,
}

/// The state trie in memory: the account trie and the storage tries of accounts touched since
/// start. Either is loaded from the hashed tables on first use.
#[derive(Debug, Default)]
pub(crate) struct Tries {
    accounts: Trie,
    storage: std::collections::HashMap<B256, Trie>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let db = Database::builder().create(path)?;
        Self::init_tables(db)
    }

    /// A store on redb's in-memory backend: same code, nothing on disk.
    pub fn in_memory() -> Result<Self, StorageError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init_tables(db)
    }

    fn init_tables(db: Database) -> Result<Self, StorageError> {
        let txn = db.begin_write()?;
        txn.open_table(META)?;
        txn.open_table(HEADERS)?;
        txn.open_table(HASH_TO_NUMBER)?;
        txn.open_table(BODIES)?;
        txn.open_table(RECEIPTS)?;
        txn.open_table(TX_LOOKUP)?;
        txn.open_table(ACCOUNTS)?;
        txn.open_table(STORAGE)?;
        txn.open_table(CODE)?;
        txn.open_table(HASHED_ACCOUNTS)?;
        txn.open_table(HASHED_STORAGE)?;
        txn.open_table(ACCOUNT_HISTORY)?;
        txn.open_table(STORAGE_HISTORY)?;
        txn.commit()?;
        Ok(Self { db, tries: Mutex::new(None) })
    }

    /// Writes the genesis block if the store is empty, or checks that the stored chain is the one
    /// `spec` describes. Returns the genesis block.
    pub fn init_genesis(&self, spec: &ChainSpec) -> Result<SealedBlock, StorageError> {
        let expected = spec.genesis_header(crate::state_root_of_alloc(spec));
        let expected_hash = expected.hash_slow();
        if let Some(stored) = self.meta_b256("genesis")? {
            if stored != expected_hash {
                return Err(StorageError::GenesisMismatch { stored, expected: expected_hash });
            }
            return self
                .block(0)?
                .ok_or_else(|| corrupt("headers", "genesis hash recorded but block 0 missing"));
        }
        let mut changes = StateChanges::default();
        for (addr, acc) in &spec.alloc {
            let code = (!acc.code.is_empty()).then(|| acc.code.clone());
            changes.accounts.insert(
                *addr,
                AccountChange {
                    info: Some(AccountInfo {
                        nonce: acc.nonce,
                        balance: acc.balance,
                        code_hash: code.as_ref().map(keccak256).unwrap_or(KECCAK256_EMPTY),
                    }),
                    code,
                    wipe_storage: false,
                    storage: acc.storage.iter().map(|(k, v)| (*k, U256::from_be_bytes(v.0))).collect(),
                },
            );
        }
        let txn = self.begin_write()?;
        let mut trie = self.tries.lock();
        let state_root = apply_changes(&txn, 0, &changes, &mut trie)?;
        if state_root != expected.state_root {
            *trie = None;
            return Err(corrupt("hashed_accounts", "genesis state root differs from the in-memory root"));
        }
        let block = SealedBlock::new(expected, vec![], vec![]);
        write_block(&txn, &block, &[])?;
        txn.open_table(META)?.insert("genesis", block.hash.as_slice())?;
        commit_or_forget(txn, &mut trie)?;
        Ok(block)
    }

    fn begin_write(&self) -> Result<WriteTransaction, StorageError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        Ok(txn)
    }

    /// Commits a block in one transaction: applies `changes` to the state, fills in the header's
    /// state root, and stores header, body, receipts and indexes. `header` must carry everything
    /// else (transactions and receipts roots, bloom, gas used).
    pub fn commit_block(
        &self,
        mut header: Header,
        transactions: Vec<TxEnvelope>,
        senders: Vec<Address>,
        receipts: &[StoredReceipt],
        changes: &StateChanges,
    ) -> Result<SealedBlock, StorageError> {
        let txn = self.begin_write()?;
        let head = read_head(&txn.open_table(META)?)?;
        if header.number != head + 1 {
            return Err(StorageError::NotChild { number: header.number, head });
        }
        let mut trie = self.tries.lock();
        let applied = apply_changes(&txn, header.number, changes, &mut trie)
            .and_then(|root| {
                header.state_root = root;
                let block = SealedBlock::new(header, transactions, senders);
                write_block(&txn, &block, receipts)?;
                Ok(block)
            });
        match applied {
            Ok(block) => {
                commit_or_forget(txn, &mut trie)?;
                Ok(block)
            }
            Err(e) => {
                *trie = None;
                Err(e)
            }
        }
    }

    fn meta_b256(&self, key: &str) -> Result<Option<B256>, StorageError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(META)?;
        Ok(table.get(key)?.map(|v| B256::from_slice(v.value())))
    }

    /// Number of the newest block.
    pub fn head(&self) -> Result<u64, StorageError> {
        let txn = self.db.begin_read()?;
        read_head(&txn.open_table(META)?)
    }

    pub fn header(&self, number: u64) -> Result<Option<Header>, StorageError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(HEADERS)?;
        table
            .get(number)?
            .map(|v| Header::decode(&mut v.value()).map_err(|e| corrupt("headers", e)))
            .transpose()
    }

    pub fn block_number(&self, hash: B256) -> Result<Option<u64>, StorageError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(HASH_TO_NUMBER)?.get(hash.0)?.map(|v| v.value()))
    }

    pub fn block(&self, number: u64) -> Result<Option<SealedBlock>, StorageError> {
        let txn = self.db.begin_read()?;
        let Some(header) = txn.open_table(HEADERS)?.get(number)? else { return Ok(None) };
        let header = Header::decode(&mut header.value()).map_err(|e| corrupt("headers", e))?;
        let body = txn
            .open_table(BODIES)?
            .get(number)?
            .ok_or_else(|| corrupt("bodies", format!("block {number} has a header but no body")))?;
        let (transactions, senders) =
            StoredBody::decode_parts(body.value()).map_err(|e| corrupt("bodies", e))?;
        Ok(Some(SealedBlock::new(header, transactions, senders)))
    }

    pub fn receipts(&self, number: u64) -> Result<Option<Vec<StoredReceipt>>, StorageError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECEIPTS)?;
        table
            .get(number)?
            .map(|v| decode_receipts(v.value()).map_err(|e| corrupt("receipts", e)))
            .transpose()
    }

    pub fn transaction_location(&self, hash: B256) -> Result<Option<BlockLocation>, StorageError> {
        let txn = self.db.begin_read()?;
        Ok(txn
            .open_table(TX_LOOKUP)?
            .get(hash.0)?
            .map(|v| {
                let (block, index) = v.value();
                BlockLocation { block, index }
            }))
    }

    /// The state after block `number` (`None`: the head). Reads see one consistent snapshot.
    pub fn state_at(&self, number: Option<u64>) -> Result<StateView, StorageError> {
        let txn = self.db.begin_read()?;
        let head = read_head(&txn.open_table(META)?)?;
        let at = match number {
            Some(n) if n > head => return Err(StorageError::UnknownBlock { requested: n, head }),
            Some(n) if n < head => Some(n),
            _ => None,
        };
        StateView::new(txn, at, head)
    }

    /// The newest state.
    pub fn latest_state(&self) -> Result<StateView, StorageError> {
        self.state_at(None)
    }
}

fn read_head(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64, StorageError> {
    match meta.get("head")? {
        Some(v) => {
            let bytes: [u8; 8] = v.value().try_into().map_err(|_| corrupt("meta", "head is not 8 bytes"))?;
            Ok(u64::from_be_bytes(bytes))
        }
        None => Ok(0),
    }
}

fn write_block(
    txn: &WriteTransaction,
    block: &SealedBlock,
    receipts: &[StoredReceipt],
) -> Result<(), StorageError> {
    let number = block.number();
    let mut rlp = Vec::with_capacity(block.header.length());
    block.header.encode(&mut rlp);
    txn.open_table(HEADERS)?.insert(number, rlp.as_slice())?;
    txn.open_table(HASH_TO_NUMBER)?.insert(block.hash.0, number)?;
    txn.open_table(BODIES)?.insert(number, StoredBody::from_block(block).encode_to_vec().as_slice())?;
    txn.open_table(RECEIPTS)?.insert(number, encode_receipts(receipts).as_slice())?;
    {
        let mut lookup = txn.open_table(TX_LOOKUP)?;
        for (i, tx) in block.transactions.iter().enumerate() {
            lookup.insert(tx.tx_hash().0, (number, i as u32))?;
        }
    }
    txn.open_table(META)?.insert("head", number.to_be_bytes().as_slice())?;
    Ok(())
}

/// Applies `changes` as block `number`, recording pre-images in the history tables, and returns
/// the new state root.
fn apply_changes(
    txn: &WriteTransaction,
    number: u64,
    changes: &StateChanges,
    trie: &mut Option<Tries>,
) -> Result<B256, StorageError> {
    let tries = match trie {
        Some(t) => t,
        // First block since start: load the account trie once (re-applying this block's
        // updates below is idempotent).
        None => trie.insert(Tries { accounts: load_trie(&txn.open_table(HASHED_ACCOUNTS)?)?, ..Default::default() }),
    };
    let mut leaf_updates: Vec<(B256, Option<Vec<u8>>)> = Vec::with_capacity(changes.accounts.len());
    let mut accounts = txn.open_table(ACCOUNTS)?;
    let mut storage = txn.open_table(STORAGE)?;
    let mut code = txn.open_table(CODE)?;
    let mut hashed_accounts = txn.open_table(HASHED_ACCOUNTS)?;
    let mut hashed_storage = txn.open_table(HASHED_STORAGE)?;
    let mut account_history = txn.open_table(ACCOUNT_HISTORY)?;
    let mut storage_history = txn.open_table(STORAGE_HISTORY)?;

    for (address, change) in &changes.accounts {
        let addr = address.0.0;
        let hashed_addr = keccak256(address).0;
        let old = accounts.get(addr)?.map(|v| v.value().to_vec());
        account_history.insert((addr, number), old.as_deref().unwrap_or(&[]))?;
        let old = old.as_deref().map(decode_account).transpose()?;

        let mut storage_touched = false;
        let mut slot_updates: Vec<(B256, Option<Vec<u8>>)> = Vec::new();
        let wiped = change.wipe_storage || change.info.is_none();
        if wiped {
            tries.storage.remove(&B256::from(hashed_addr));
            let slots: Vec<([u8; 32], [u8; 32])> = storage
                .range((addr, [0u8; 32])..=(addr, [0xffu8; 32]))?
                .map(|e| e.map(|(k, v)| (k.value().1, v.value())))
                .collect::<Result<_, _>>()?;
            for (slot, value) in slots {
                storage_history.insert((addr, slot, number), value)?;
                storage.remove((addr, slot))?;
                hashed_storage.remove((hashed_addr, keccak256(slot).0))?;
                storage_touched = true;
            }
        }
        if change.info.is_some() {
            for (slot, value) in &change.storage {
                let key = (addr, slot.0);
                let old_value = storage.get(key)?.map(|v| v.value()).unwrap_or([0u8; 32]);
                let new_value = value.to_be_bytes::<32>();
                if old_value == new_value {
                    continue;
                }
                // A wiped slot already has its pre-image recorded.
                if storage_history.get((addr, slot.0, number))?.is_none() {
                    storage_history.insert((addr, slot.0, number), old_value)?;
                }
                let hashed_slot = keccak256(slot).0;
                if value.is_zero() {
                    storage.remove(key)?;
                    hashed_storage.remove((hashed_addr, hashed_slot))?;
                    slot_updates.push((B256::from(hashed_slot), None));
                } else {
                    storage.insert(key, new_value)?;
                    hashed_storage.insert((hashed_addr, hashed_slot), new_value)?;
                    slot_updates.push((B256::from(hashed_slot), Some(storage_leaf(value))));
                }
                storage_touched = true;
            }
        }

        match &change.info {
            None => {
                accounts.remove(addr)?;
                hashed_accounts.remove(hashed_addr)?;
                leaf_updates.push((B256::from(hashed_addr), None));
            }
            Some(info) => {
                if let Some(bytecode) = &change.code {
                    code.insert(info.code_hash.0, bytecode.as_ref())?;
                }
                let storage_root = if storage_touched {
                    let key = B256::from(hashed_addr);
                    let t = match tries.storage.entry(key) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        // Loaded after this block's writes: already up to date.
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(load_storage_trie(&hashed_storage, hashed_addr)?)
                        }
                    };
                    for (slot, value) in slot_updates {
                        match value {
                            Some(v) => t.insert(slot, v),
                            None => t.remove(slot),
                        }
                    }
                    t.root()
                } else {
                    old.map(|a| a.storage_root).unwrap_or(EMPTY_ROOT_HASH)
                };
                let record = encode_account(&TrieAccount {
                    nonce: info.nonce,
                    balance: info.balance,
                    storage_root,
                    code_hash: info.code_hash,
                });
                accounts.insert(addr, record.as_slice())?;
                hashed_accounts.insert(hashed_addr, record.as_slice())?;
                leaf_updates.push((B256::from(hashed_addr), Some(record)));
            }
        }
    }
    for (key, value) in leaf_updates {
        match value {
            Some(v) => tries.accounts.insert(key, v),
            None => tries.accounts.remove(key),
        }
    }
    Ok(tries.accounts.root())
}

fn commit_or_forget(txn: WriteTransaction, trie: &mut Option<Tries>) -> Result<(), StorageError> {
    txn.commit().map_err(|e| {
        *trie = None;
        StorageError::from(e)
    })
}

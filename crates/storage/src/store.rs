use std::{collections::BTreeMap, path::Path, sync::Arc};

use alloy_consensus::{Header, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use alloy_rlp::{Decodable, Encodable};
use ls_primitives::{
    ChainSpec, SealedBlock, StoredReceipt,
    types::{StoredBody, decode_receipts, encode_receipts},
};
use parking_lot::Mutex;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};

use crate::{
    AccountChange, AccountInfo, PendingState, StateChanges, StateReader, StateUpdate, StateView, StorageError,
    error::corrupt,
    mpt::Trie,
    tables::*,
    trie::encode_account,
    update::Tries,
};

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLocation {
    pub block: u64,
    pub index: u32,
}

/// An account and some of its storage slots with their Merkle proofs (EIP-1186), at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The state root the proofs lead to.
    pub state_root: B256,
    /// The account, or `None` if it does not exist (then `account_proof` proves the absence).
    pub account: Option<TrieAccount>,
    /// RLP of the account trie's nodes from the root towards `keccak(address)`.
    pub account_proof: Vec<Bytes>,
    /// One per requested slot, in request order.
    pub storage: Vec<SlotProof>,
}

/// A storage slot's value and its proof in the account's storage trie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotProof {
    pub slot: B256,
    /// Zero when unset (the proof then proves the absence; empty when the trie is empty).
    pub value: U256,
    pub proof: Vec<Bytes>,
}

/// The chain database. Cheap to share behind an `Arc`; readers never block the writer.
pub struct Store {
    db: Database,
    /// The tries after the block named (the finalized head when it is current), kept in
    /// memory so a block re-hashes only the paths it changed. The account trie is built from
    /// `accounts` on first use, storage tries as accounts are touched; dropped (and
    /// rebuilt later) if a commit fails.
    tries: Mutex<Option<(u64, Tries)>>,
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
        txn.open_table(ACCOUNT_HISTORY)?;
        txn.open_table(STORAGE_HISTORY)?;
        let dropped: Vec<_> = txn.list_tables()?.filter(|t| DROPPED.contains(&t.name())).collect();
        for table in dropped {
            txn.delete_table(table)?;
        }
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
        let view = self.latest_state()?;
        let mut update = crate::update::resolve(&view, 0, &changes, Tries::default(), &mut |_, _| Ok(Trie::default()))?;
        drop(view);
        if update.state_root != expected.state_root {
            return Err(corrupt("accounts", "genesis state root differs from the in-memory root"));
        }
        let block = SealedBlock::new(expected, vec![], vec![]);
        update.seal(block.hash, B256::ZERO);
        let txn = self.begin_write()?;
        write_update(&txn, &update)?;
        write_block(&txn, &block, &[])?;
        txn.open_table(META)?.insert("genesis", block.hash.as_slice())?;
        let mut tries = self.tries.lock();
        txn.commit()?;
        *tries = Some((0, update.tries));
        Ok(block)
    }

    fn begin_write(&self) -> Result<WriteTransaction, StorageError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        Ok(txn)
    }

    /// Resolves `changes`, made by block `number`, on top of the pending blocks `layers`
    /// (newest first; empty: on top of the finalized head `view`). Nothing is written.
    pub fn resolve(
        &self,
        view: &StateView,
        layers: &[Arc<StateUpdate>],
        number: u64,
        changes: &StateChanges,
    ) -> Result<StateUpdate, StorageError> {
        let parent = PendingState::new(view, layers)?;
        let finalized = view.block_number();
        if parent.block_number() + 1 != number {
            return Err(StorageError::NotChild { number, head: parent.block_number() });
        }
        let tries = match parent.layers().first() {
            Some(newest) => {
                // Storage tries no live layer changed are the finalized ones: read them from
                // the cache or the database, so this map stays as small as the pending chain.
                let mut tries = newest.tries.clone();
                tries.storage.retain(|_, (n, _)| *n > finalized);
                tries
            }
            None => self.head_tries(view)?,
        };
        let mut load = |address: Address, hashed: B256| -> Result<Trie, StorageError> {
            if let Some((n, cached)) = &*self.tries.lock()
                && *n == finalized
                && let Some((_, t)) = cached.storage.get(&hashed)
            {
                return Ok(t.clone());
            }
            view.load_storage_trie(address)
        };
        crate::update::resolve(&parent, number, changes, tries, &mut load)
    }

    /// The tries after the finalized head, which `view` must show.
    fn head_tries(&self, view: &StateView) -> Result<Tries, StorageError> {
        let mut cache = self.tries.lock();
        if let Some((n, t)) = &*cache
            && *n == view.block_number()
        {
            return Ok(Tries { accounts: t.accounts.clone(), storage: Default::default() });
        }
        // First block since start (or the cache is at another block): load the trie once.
        let accounts = view.load_account_trie()?;
        *cache = Some((view.block_number(), Tries { accounts: accounts.clone(), storage: Default::default() }));
        Ok(Tries { accounts, storage: Default::default() })
    }

    /// Writes `block`, whose state changes `update` holds, in one transaction. Refuses a block
    /// that is not the child of the head or whose state root is not the update's.
    pub fn commit(
        &self,
        block: &SealedBlock,
        receipts: &[StoredReceipt],
        update: &StateUpdate,
    ) -> Result<(), StorageError> {
        let number = block.number();
        if update.number != number || update.block_hash != block.hash {
            return Err(StorageError::UpdateMismatch { number, reason: "the update belongs to another block" });
        }
        if update.state_root != block.header.state_root {
            return Err(StorageError::UpdateMismatch { number, reason: "state root differs" });
        }
        let txn = self.begin_write()?;
        let head = read_head(&txn.open_table(META)?)?;
        let head_hash = match txn.open_table(HEADERS)?.get(head)? {
            Some(raw) => Header::decode(&mut raw.value()).map_err(|e| corrupt("headers", e))?.hash_slow(),
            None => return Err(corrupt("headers", format!("head {head} has no header"))),
        };
        if number != head + 1 || block.header.parent_hash != head_hash {
            return Err(StorageError::NotChild { number, head });
        }
        write_update(&txn, update)?;
        write_block(&txn, block, receipts)?;
        let mut cache = self.tries.lock();
        if let Err(e) = txn.commit() {
            *cache = None;
            return Err(e.into());
        }
        *cache = Some(match cache.take() {
            Some((n, mut t)) if n == head => {
                t.accounts = update.tries.accounts.clone();
                t.storage.extend(update.tries.storage.iter().map(|(k, v)| (*k, v.clone())));
                (number, t)
            }
            _ => (number, update.tries.clone()),
        });
        Ok(())
    }

    /// Resolves and commits a block on top of the head in one step: fills in the header's
    /// state root from `changes` and stores header, body, receipts and indexes. `header` must
    /// carry everything else (transactions and receipts roots, bloom, gas used).
    pub fn commit_block(
        &self,
        mut header: Header,
        transactions: Vec<TxEnvelope>,
        senders: Vec<Address>,
        receipts: &[StoredReceipt],
        changes: &StateChanges,
    ) -> Result<SealedBlock, StorageError> {
        let view = self.latest_state()?;
        let mut update = self.resolve(&view, &[], header.number, changes)?;
        drop(view);
        header.state_root = update.state_root;
        let parent_hash = header.parent_hash;
        let block = SealedBlock::new(header, transactions, senders);
        update.seal(block.hash, parent_hash);
        self.commit(&block, receipts, &update)?;
        Ok(block)
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

    /// Merkle proofs (EIP-1186) of `address` and its `slots` in the state `view` shows, which
    /// must be the newest block when the view was opened: the tries are kept for the head only
    /// ([`StorageError::NoHistoricalProof`] otherwise). Uses the in-memory tries when they are
    /// at the view's block, else loads them from the view's snapshot (O(accounts), only when a
    /// block was committed in between).
    pub fn proof(&self, view: &StateView, address: Address, slots: &[B256]) -> Result<AccountProof, StorageError> {
        view.head_only()
            .map_err(|_| StorageError::NoHistoricalProof { requested: view.block_number(), head: view.head() })?;
        let n = view.block_number();
        let hashed = keccak256(address);
        let (accounts, cached_storage) = {
            let mut cache = self.tries.lock();
            match &mut *cache {
                Some((at, t)) if *at == n => {
                    // Hash once under the lock, so clones share the cached node references.
                    t.accounts.root();
                    let storage = t.storage.get_mut(&hashed).map(|(_, s)| {
                        s.root();
                        s.clone()
                    });
                    (Some(t.accounts.clone()), storage)
                }
                _ => (None, None),
            }
        };
        let mut accounts = match accounts {
            Some(t) => t,
            None => view.load_account_trie()?,
        };
        let state_root = accounts.root();
        let account_proof = accounts.proof(hashed);
        let account = view.account(address)?;
        let storage_root = account.map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
        let mut storage = if storage_root == EMPTY_ROOT_HASH {
            Trie::default()
        } else {
            match cached_storage {
                Some(t) => t,
                None => view.load_storage_trie(address)?,
            }
        };
        if storage.root() != storage_root {
            return Err(corrupt("storage", format!("storage trie of {address} differs from its account's root")));
        }
        let storage = slots
            .iter()
            .map(|slot| {
                Ok(SlotProof { slot: *slot, value: view.storage(address, *slot)?, proof: storage.proof(keccak256(slot)) })
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(AccountProof { state_root, account, account_proof, storage })
    }
}

impl Store {
    /// Removes every block above `number` and restores the state they changed from their
    /// changesets (dev nodes: `evm_revert`), in one write transaction: a crash leaves all of it
    /// or none. Before committing, the restored account trie's root must equal block `number`'s
    /// state root (else nothing changes). Costs a scan of the history tables and a load of the
    /// account trie: meant for dev chains, not for reorganizing a large one.
    pub fn unwind_to(&self, number: u64) -> Result<(), StorageError> {
        let txn = self.begin_write()?;
        let head = read_head(&txn.open_table(META)?)?;
        if number > head {
            return Err(StorageError::UnknownBlock { requested: number, head });
        }
        if number == head {
            return Ok(());
        }
        let target = match txn.open_table(HEADERS)?.get(number)? {
            Some(raw) => Header::decode(&mut raw.value()).map_err(|e| corrupt("headers", e))?,
            None => return Err(corrupt("headers", format!("block {number} has no header"))),
        };
        {
            // Each changed account's oldest pre-image after `number` is its value at `number`
            // (keys sort by address, then block).
            let mut account_history = txn.open_table(ACCOUNT_HISTORY)?;
            let mut restore: BTreeMap<[u8; 20], Vec<u8>> = BTreeMap::new();
            let mut stale = Vec::new();
            for entry in account_history.iter()? {
                let (key, value) = entry?;
                let (addr, block) = key.value();
                if block > number {
                    stale.push((addr, block));
                    restore.entry(addr).or_insert_with(|| value.value().to_vec());
                }
            }
            let mut accounts = txn.open_table(ACCOUNTS)?;
            for (addr, pre) in &restore {
                if pre.is_empty() {
                    accounts.remove(addr)?;
                } else {
                    accounts.insert(addr, pre.as_slice())?;
                }
            }
            for key in stale {
                account_history.remove(key)?;
            }

            let mut storage_history = txn.open_table(STORAGE_HISTORY)?;
            let mut restore: BTreeMap<([u8; 20], [u8; 32]), [u8; 32]> = BTreeMap::new();
            let mut stale = Vec::new();
            for entry in storage_history.iter()? {
                let (key, value) = entry?;
                let (addr, slot, block) = key.value();
                if block > number {
                    stale.push((addr, slot, block));
                    restore.entry((addr, slot)).or_insert_with(|| value.value());
                }
            }
            let mut storage = txn.open_table(STORAGE)?;
            for ((addr, slot), value) in &restore {
                if *value == [0u8; 32] {
                    storage.remove((*addr, *slot))?;
                } else {
                    storage.insert((*addr, *slot), *value)?;
                }
            }
            for key in stale {
                storage_history.remove(key)?;
            }

            let mut headers = txn.open_table(HEADERS)?;
            let mut bodies = txn.open_table(BODIES)?;
            let mut hash_to_number = txn.open_table(HASH_TO_NUMBER)?;
            let mut tx_lookup = txn.open_table(TX_LOOKUP)?;
            let mut receipts = txn.open_table(RECEIPTS)?;
            for n in number + 1..=head {
                if let Some(raw) = headers.remove(n)? {
                    let header = Header::decode(&mut raw.value()).map_err(|e| corrupt("headers", e))?;
                    hash_to_number.remove(header.hash_slow().0)?;
                }
                if let Some(raw) = bodies.remove(n)? {
                    let (transactions, _) = StoredBody::decode_parts(raw.value()).map_err(|e| corrupt("bodies", e))?;
                    for tx in transactions {
                        tx_lookup.remove(tx.tx_hash().0)?;
                    }
                }
                receipts.remove(n)?;
            }
            let root = crate::trie::load_trie(&accounts)?.root();
            if root != target.state_root {
                return Err(corrupt(
                    "account_history",
                    format!("unwinding to block {number} gives state root {root}, the block has {}", target.state_root),
                ));
            }
            txn.open_table(META)?.insert("head", number.to_be_bytes().as_slice())?;
        }
        let mut cache = self.tries.lock();
        // Whatever happens, the cached tries are of a block that is gone: reload on next use.
        *cache = None;
        txn.commit()?;
        Ok(())
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

/// Writes a resolved update as block `update.number`, recording pre-images in the history
/// tables.
fn write_update(txn: &WriteTransaction, update: &StateUpdate) -> Result<(), StorageError> {
    let number = update.number;
    let mut accounts = txn.open_table(ACCOUNTS)?;
    let mut storage = txn.open_table(STORAGE)?;
    let mut code = txn.open_table(CODE)?;
    let mut account_history = txn.open_table(ACCOUNT_HISTORY)?;
    let mut storage_history = txn.open_table(STORAGE_HISTORY)?;

    for (hash, bytecode) in &update.code {
        code.insert(hash.0, bytecode.as_ref())?;
    }
    for (address, record) in &update.accounts {
        let addr = address.0.0;
        let old = accounts.get(addr)?.map(|v| v.value().to_vec());
        account_history.insert((addr, number), old.as_deref().unwrap_or(&[]))?;

        if let Some(writes) = update.storage.get(address) {
            if writes.wiped {
                let slots: Vec<([u8; 32], [u8; 32])> = storage
                    .range((addr, [0u8; 32])..=(addr, [0xffu8; 32]))?
                    .map(|e| e.map(|(k, v)| (k.value().1, v.value())))
                    .collect::<Result<_, _>>()?;
                for (slot, value) in slots {
                    storage_history.insert((addr, slot, number), value)?;
                    storage.remove((addr, slot))?;
                }
            }
            for (slot, value) in &writes.slots {
                let key = (addr, slot.0);
                let old_value = storage.get(key)?.map(|v| v.value()).unwrap_or([0u8; 32]);
                // A wiped slot already has its pre-image recorded.
                if storage_history.get((addr, slot.0, number))?.is_none() {
                    storage_history.insert((addr, slot.0, number), old_value)?;
                }
                if value.is_zero() {
                    storage.remove(key)?;
                } else {
                    storage.insert(key, value.to_be_bytes::<32>())?;
                }
            }
        }
        match record {
            None => {
                accounts.remove(addr)?;
            }
            Some(acc) => {
                accounts.insert(addr, encode_account(acc).as_slice())?;
            }
        }
    }
    Ok(())
}

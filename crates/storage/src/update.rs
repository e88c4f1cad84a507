//! A block's effect on the state, resolved against its parent before anything is written:
//! the new account records (storage roots included), the storage writes, new code, the tries
//! after the block and so the state root.
//!
//! This is what lets a node seal a block it has not committed (a proposal), check a block it
//! received (a verification), and later commit either without executing it again. A chain of
//! pending blocks reads through [`PendingState`]: their updates, newest first, over the
//! finalized [`StateView`].

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};

use crate::{
    StateChanges, StateView, StorageError,
    mpt::Trie,
    trie::{encode_account, storage_leaf},
};

/// Point-in-time reads of the state, whoever holds it: the finalized store ([`StateView`]) or
/// pending blocks over it ([`PendingState`]). The EVM, the pool and RPC read through this.
pub trait StateReader {
    /// The account, or `None` if it does not exist.
    fn account(&self, address: Address) -> Result<Option<TrieAccount>, StorageError>;
    /// A storage slot's value (zero when unset).
    fn storage(&self, address: Address, slot: B256) -> Result<U256, StorageError>;
    /// Bytecode by its hash.
    fn code(&self, code_hash: B256) -> Result<Option<Bytes>, StorageError>;
    /// Hash of block `number`, if it is at or below this state's block.
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError>;
    /// The block whose post-state this is.
    fn block_number(&self) -> u64;
}

/// The in-memory tries after some block: the account trie and the storage tries loaded so far,
/// each with the number of the last block that changed it. Cloning is cheap (shared nodes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tries {
    pub(crate) accounts: Trie,
    pub(crate) storage: HashMap<B256, (u64, Trie)>,
}

/// Storage writes of one account in one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SlotWrites {
    /// Every slot the account had before the block is gone.
    pub(crate) wiped: bool,
    /// Slots whose value changed (zero: deleted).
    pub(crate) slots: BTreeMap<B256, U256>,
}

/// One block's resolved state changes; see the module docs.
#[derive(Debug, Clone)]
pub struct StateUpdate {
    pub(crate) number: u64,
    /// Set by [`StateUpdate::seal`] once the header (which holds the state root) is final.
    pub(crate) block_hash: B256,
    pub(crate) parent_hash: B256,
    pub(crate) accounts: BTreeMap<Address, Option<TrieAccount>>,
    pub(crate) storage: BTreeMap<Address, SlotWrites>,
    pub(crate) code: HashMap<B256, Bytes>,
    pub(crate) tries: Tries,
    pub(crate) state_root: B256,
}

impl StateUpdate {
    /// The state root after the block.
    pub fn state_root(&self) -> B256 {
        self.state_root
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn block_hash(&self) -> B256 {
        self.block_hash
    }

    pub fn parent_hash(&self) -> B256 {
        self.parent_hash
    }

    /// Records the hash of the block this update belongs to (its header carries
    /// [`Self::state_root`], so the hash is known only after the update).
    pub fn seal(&mut self, block_hash: B256, parent_hash: B256) {
        self.block_hash = block_hash;
        self.parent_hash = parent_hash;
    }

    fn account(&self, address: &Address) -> Option<Option<TrieAccount>> {
        self.accounts.get(address).copied()
    }

    fn slot(&self, address: &Address, slot: &B256) -> Option<U256> {
        if let Some(w) = self.storage.get(address) {
            if let Some(v) = w.slots.get(slot) {
                return Some(*v);
            }
            if w.wiped {
                return Some(U256::ZERO);
            }
        }
        // A deleted account has no storage.
        matches!(self.accounts.get(address), Some(None)).then_some(U256::ZERO)
    }
}

/// The state after a pending block: its update and its pending ancestors' (newest first) over
/// the finalized state. Layers at or below the finalized block are skipped, so a chain of
/// updates stays readable while the blocks under it are being finalized.
pub struct PendingState<'a> {
    base: &'a StateView,
    layers: &'a [Arc<StateUpdate>],
}

impl std::fmt::Debug for PendingState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingState").field("block", &self.block_number()).finish_non_exhaustive()
    }
}

impl<'a> PendingState<'a> {
    /// `layers` must be consecutive blocks, newest first, whose oldest one above `base` is a
    /// child of `base`'s block; [`PendingState::new`] checks it.
    pub fn new(base: &'a StateView, layers: &'a [Arc<StateUpdate>]) -> Result<Self, StorageError> {
        let finalized = base.block_number();
        let live = layers.iter().take_while(|l| l.number > finalized).count();
        let layers = &layers[..live];
        if let Some(oldest) = layers.last() {
            let finalized_hash = base.block_hash(finalized)?;
            if oldest.number != finalized + 1 || Some(oldest.parent_hash) != finalized_hash {
                return Err(StorageError::NotOnFinalizedChain { number: oldest.number, finalized });
            }
        }
        Ok(Self { base, layers })
    }

    /// The pending layers still above the finalized block, newest first.
    pub fn layers(&self) -> &'a [Arc<StateUpdate>] {
        self.layers
    }
}

impl StateReader for PendingState<'_> {
    fn account(&self, address: Address) -> Result<Option<TrieAccount>, StorageError> {
        for l in self.layers {
            if let Some(a) = l.account(&address) {
                return Ok(a);
            }
        }
        self.base.account(address)
    }

    fn storage(&self, address: Address, slot: B256) -> Result<U256, StorageError> {
        for l in self.layers {
            if let Some(v) = l.slot(&address, &slot) {
                return Ok(v);
            }
        }
        self.base.storage(address, slot)
    }

    fn code(&self, code_hash: B256) -> Result<Option<Bytes>, StorageError> {
        for l in self.layers {
            if let Some(c) = l.code.get(&code_hash) {
                return Ok(Some(c.clone()));
            }
        }
        self.base.code(code_hash)
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        for l in self.layers {
            if l.number == number {
                return Ok(Some(l.block_hash));
            }
        }
        self.base.block_hash(number)
    }

    fn block_number(&self) -> u64 {
        self.layers.first().map(|l| l.number).unwrap_or_else(|| self.base.block_number())
    }
}

/// Resolves `changes`, made by block `number` on top of `parent` (whose tries are `tries`),
/// into a [`StateUpdate`]. `load_storage` supplies the storage trie of an account no pending
/// ancestor touched (from the finalized cache or the database).
pub(crate) fn resolve(
    parent: &dyn StateReader,
    number: u64,
    changes: &StateChanges,
    mut tries: Tries,
    load_storage: &mut dyn FnMut(Address, B256) -> Result<Trie, StorageError>,
) -> Result<StateUpdate, StorageError> {
    let mut accounts = BTreeMap::new();
    let mut storage = BTreeMap::new();
    let mut code = HashMap::new();
    for (address, change) in &changes.accounts {
        let hashed = keccak256(address);
        let wiped = change.wipe_storage || change.info.is_none();
        let mut writes = SlotWrites { wiped, slots: BTreeMap::new() };
        if wiped {
            tries.storage.insert(hashed, (number, Trie::default()));
        }
        let Some(info) = &change.info else {
            accounts.insert(*address, None);
            storage.insert(*address, writes);
            tries.accounts.remove(hashed);
            continue;
        };
        for (slot, value) in &change.storage {
            let old = if wiped { U256::ZERO } else { parent.storage(*address, *slot)? };
            if old != *value {
                writes.slots.insert(*slot, *value);
            }
        }
        let storage_root = if wiped || !writes.slots.is_empty() {
            let entry = match tries.storage.entry(hashed) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert((number, load_storage(*address, hashed)?)),
            };
            entry.0 = number;
            for (slot, value) in &writes.slots {
                let key = keccak256(slot);
                if value.is_zero() {
                    entry.1.remove(key);
                } else {
                    entry.1.insert(key, storage_leaf(value));
                }
            }
            entry.1.root()
        } else {
            parent.account(*address)?.map(|a| a.storage_root).unwrap_or(EMPTY_ROOT_HASH)
        };
        if let Some(bytecode) = &change.code {
            code.insert(info.code_hash, bytecode.clone());
        }
        let record = TrieAccount { nonce: info.nonce, balance: info.balance, storage_root, code_hash: info.code_hash };
        tries.accounts.insert(hashed, encode_account(&record));
        accounts.insert(*address, Some(record));
        if wiped || !writes.slots.is_empty() {
            storage.insert(*address, writes);
        }
    }
    let state_root = tries.accounts.root();
    Ok(StateUpdate {
        number,
        block_hash: B256::ZERO,
        parent_hash: B256::ZERO,
        accounts,
        storage,
        code,
        tries,
        state_root,
    })
}

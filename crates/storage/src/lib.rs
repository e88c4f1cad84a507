//! Chain storage on redb.
//!
//! One [`Store`] holds the whole chain: headers, bodies, receipts, a transaction index, the
//! latest state (plain and keccak-hashed, the latter ordered as the state trie wants it) and
//! per-block changesets that let any past block's state be read back.
//!
//! Writing a block is one redb write transaction ([`Store::commit_block`]): a crash leaves either
//! the whole block or none of it, and the head pointer moves in the same transaction.
//!
//! A block can also be resolved before it is written: [`Store::resolve`] turns a block's
//! changes into a [`StateUpdate`] (state root included) on top of the finalized state or of
//! pending blocks ([`PendingState`]), and [`Store::commit`] writes it later without
//! recomputing anything. Every reader of state goes through [`StateReader`].
//!
//! [`Store::in_memory`] runs the very same code on redb's in-memory backend, for tests.

mod changes;
mod mpt;
mod error;
mod state;
mod store;
mod tables;
mod trie;
mod update;

pub use changes::{AccountChange, AccountInfo, StateChanges};
pub use error::StorageError;
pub use state::StateView;
pub use store::{AccountProof, BlockLocation, SlotProof, Store};
pub use trie::{state_root_of_alloc, storage_root_of};
pub use update::{PendingState, StateReader, StateUpdate};

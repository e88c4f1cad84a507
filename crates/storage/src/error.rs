use alloy_primitives::B256;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    #[error("corrupt record in table {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("block {number} does not extend the head {head}")]
    NotChild { number: u64, head: u64 },
    #[error("this data directory holds another chain (genesis {stored}, expected {expected})")]
    GenesisMismatch { stored: B256, expected: B256 },
    #[error("block {number} is not on the finalized chain (finalized block is {finalized})")]
    NotOnFinalizedChain { number: u64, finalized: u64 },
    #[error("block {number} does not match its state update: {reason}")]
    UpdateMismatch { number: u64, reason: &'static str },
    #[error("state of block {requested} is not available (head is {head})")]
    UnknownBlock { requested: u64, head: u64 },
    #[error("proofs are served for the newest block only (block {requested} requested, head is {head})")]
    NoHistoricalProof { requested: u64, head: u64 },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self { StorageError::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

pub(crate) fn corrupt(table: &'static str, reason: impl ToString) -> StorageError {
    StorageError::Corrupt { table, reason: reason.to_string() }
}

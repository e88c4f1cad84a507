use std::sync::Arc;

use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256};
use ls_storage::{StateReader, StorageError};
use revm::{
    DatabaseRef,
    bytecode::Bytecode,
    database_interface::DBErrorMarker,
    state::AccountInfo,
};

/// A storage error seen through revm.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct DbError(pub Arc<StorageError>);

impl DBErrorMarker for DbError {}

impl From<StorageError> for DbError {
    fn from(e: StorageError) -> Self {
        Self(Arc::new(e))
    }
}

/// revm's view of a state snapshot: the finalized store or pending blocks over it.
pub struct StateDb<'a>(pub &'a dyn StateReader);

impl std::fmt::Debug for StateDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StateDb").field(&self.0.block_number()).finish()
    }
}

impl DatabaseRef for StateDb<'_> {
    type Error = DbError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.0.account(address)?.map(|acc| AccountInfo {
            balance: acc.balance,
            nonce: acc.nonce,
            code_hash: acc.code_hash,
            code: None,
            ..Default::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK256_EMPTY {
            return Ok(Bytecode::default());
        }
        Ok(self.0.code(code_hash)?.map(Bytecode::new_raw).unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.0.storage(address, B256::from(index))?)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.0.block_hash(number)?.unwrap_or_default())
    }
}

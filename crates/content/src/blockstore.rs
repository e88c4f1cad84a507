//! The block storage boundary.

use std::collections::HashMap;

use bytes::Bytes;
use cid::Cid;
use parking_lot::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum BlockstoreError {
    #[error("block {0} does not match its hash")]
    Corrupt(Cid),
    #[error("blockstore I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Content-addressed blocks. Implementations verify nothing on `put` (the caller hashed) but
/// must never return bytes that do not match the CID.
pub trait Blockstore: Send + Sync {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError>;
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError>;
    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError>;
}

/// Blocks in a hash map.
#[derive(Debug, Default)]
pub struct MemBlockstore {
    blocks: RwLock<HashMap<Cid, Bytes>>,
}

impl MemBlockstore {
    pub fn len(&self) -> usize {
        self.blocks.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.read().is_empty()
    }
}

impl Blockstore for MemBlockstore {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        self.blocks.write().insert(cid, data);
        Ok(())
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        Ok(self.blocks.read().get(cid).cloned())
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.blocks.read().contains_key(cid))
    }
}

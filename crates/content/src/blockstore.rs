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

/// Content-addressed blocks. `put` trusts the caller's CID; stores that keep bytes outside the
/// process must verify them on `get` and report [`BlockstoreError::Corrupt`].
pub trait Blockstore: Send + Sync {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError>;
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError>;
    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError>;
    /// Removes a block; `false` if it was not there.
    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError>;
    /// Every block's CID, in no particular order (for garbage collection and listings).
    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError>;
    /// A block's length, without reading it where the store can tell otherwise.
    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockstoreError> {
        Ok(self.get(cid)?.map(|b| b.len() as u64))
    }
    /// Makes every `put` so far durable. Stores that write through need not do anything.
    fn flush(&self) -> Result<(), BlockstoreError> {
        Ok(())
    }
    /// Gives back disk space that deleted blocks still hold; returns the bytes given back.
    /// Stores that free space as they delete need not do anything.
    fn compact(&self) -> Result<u64, BlockstoreError> {
        Ok(0)
    }
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

    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.blocks.write().remove(cid).is_some())
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        Ok(self.blocks.read().keys().copied().collect())
    }
}

/// The CIDs named by the files in `dir`; names that are not CIDs are not ours and are skipped.
pub(crate) fn cids_in(dir: &std::path::Path) -> std::io::Result<Vec<Cid>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(cid) = entry?.file_name().to_str().and_then(|n| Cid::try_from(n).ok()) {
            out.push(cid);
        }
    }
    Ok(out)
}

/// Whether `data` hashes to `cid` (sha2-256 only; other hashes are not accepted).
pub(crate) fn matches(cid: &Cid, data: &[u8]) -> bool {
    use sha2::Digest;
    cid.hash().code() == 0x12 && cid.hash().digest() == &sha2::Sha256::digest(data)[..]
}

/// A size-bounded, least-recently-used cache of verified blocks in front of another store.
///
/// Reads that hit skip the disk and the re-hash; writes go straight through (an upload does not
/// evict what readers use); deletes invalidate.
pub struct CachedBlockstore<B> {
    inner: B,
    budget: usize,
    cache: parking_lot::Mutex<(lru::LruCache<Cid, Bytes>, usize)>,
}

impl<B: Blockstore> CachedBlockstore<B> {
    /// Keeps at most `budget` bytes of block data in memory.
    pub fn new(inner: B, budget: usize) -> Self {
        Self { inner, budget, cache: parking_lot::Mutex::new((lru::LruCache::unbounded(), 0)) }
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Bytes of block data held right now.
    pub fn cached_bytes(&self) -> usize {
        self.cache.lock().1
    }
}

impl<B: Blockstore> Blockstore for CachedBlockstore<B> {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        self.inner.put(cid, data)
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        if let Some(b) = self.cache.lock().0.get(cid) {
            return Ok(Some(b.clone()));
        }
        let got = self.inner.get(cid)?;
        if let Some(b) = &got
            && b.len() <= self.budget
        {
            let mut guard = self.cache.lock();
            let (lru, used) = &mut *guard;
            if let Some(old) = lru.put(*cid, b.clone()) {
                *used -= old.len();
            }
            *used += b.len();
            while *used > self.budget {
                let Some((_, evicted)) = lru.pop_lru() else { break };
                *used -= evicted.len();
            }
        }
        Ok(got)
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        // Always the store's answer: a read racing a delete may leave a stale cache entry,
        // which must never make a missing block look present.
        self.inner.has(cid)
    }

    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        {
            let mut guard = self.cache.lock();
            let (lru, used) = &mut *guard;
            if let Some(old) = lru.pop(cid) {
                *used -= old.len();
            }
        }
        self.inner.delete(cid)
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        self.inner.cids()
    }

    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockstoreError> {
        self.inner.size(cid)
    }

    fn flush(&self) -> Result<(), BlockstoreError> {
        self.inner.flush()
    }

    fn compact(&self) -> Result<u64, BlockstoreError> {
        self.inner.compact()
    }
}

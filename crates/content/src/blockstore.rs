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
    /// Makes every `put` so far durable. Stores that write through need not do anything.
    fn flush(&self) -> Result<(), BlockstoreError> {
        Ok(())
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

/// Blocks as files under a directory, `blocks/<2-char shard>/<cid>`, as Kubo's flatfs does.
///
/// Writes go to `tmp/` and are fsynced, then renamed into place, so a crash never leaves a
/// partial block visible. Every read re-hashes the bytes: a block damaged on disk is reported
/// as [`BlockstoreError::Corrupt`], never returned.
#[derive(Debug)]
pub struct FsBlockstore {
    root: std::path::PathBuf,
    tmp_counter: std::sync::atomic::AtomicU64,
}

impl FsBlockstore {
    pub fn open(root: impl Into<std::path::PathBuf>) -> Result<Self, BlockstoreError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blocks"))?;
        let tmp = root.join("tmp");
        // Leftovers of an interrupted write are garbage by construction.
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root, tmp_counter: Default::default() })
    }

    fn path(&self, cid: &Cid) -> std::path::PathBuf {
        let name = cid.to_string();
        let shard = &name[name.len().saturating_sub(3)..name.len().saturating_sub(1)];
        self.root.join("blocks").join(shard).join(name)
    }
}

/// Whether `data` hashes to `cid` (sha2-256 only; other hashes are not accepted).
pub(crate) fn matches(cid: &Cid, data: &[u8]) -> bool {
    use sha2::Digest;
    cid.hash().code() == 0x12 && cid.hash().digest() == &sha2::Sha256::digest(data)[..]
}

impl Blockstore for FsBlockstore {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        use std::io::Write;
        let path = self.path(&cid);
        if path.exists() {
            return Ok(());
        }
        let n = self.tmp_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.root.join("tmp").join(format!("{}-{n}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        drop(f);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        let data = match std::fs::read(self.path(cid)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !matches(cid, &data) {
            return Err(BlockstoreError::Corrupt(*cid));
        }
        Ok(Some(data.into()))
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.path(cid).exists())
    }

    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        match std::fs::remove_file(self.path(cid)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(self.root.join("blocks"))? {
            for entry in std::fs::read_dir(shard?.path())? {
                // Names that are not CIDs are not ours: leave them alone.
                if let Some(cid) = entry?.file_name().to_str().and_then(|n| Cid::try_from(n).ok()) {
                    out.push(cid);
                }
            }
        }
        Ok(out)
    }
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

    fn flush(&self) -> Result<(), BlockstoreError> {
        self.inner.flush()
    }
}

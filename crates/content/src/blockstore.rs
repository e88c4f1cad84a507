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
/// A `put` writes the block to `tmp/`. Every [`FLUSH_EVERY`] puts a background thread makes
/// the pending files durable with one filesystem sync, renames them into place and syncs
/// again, while the writer goes on; [`Blockstore::flush`] waits for that and does the same for
/// the rest. So a crash never leaves a partial block visible, and adding a large file costs
/// two syncs per batch, overlapped with hashing and encryption, instead of one per block.
/// Pending blocks are readable before they are flushed; `tmp/` is cleared on open. Every read
/// re-hashes the bytes: a block damaged on disk is reported as [`BlockstoreError::Corrupt`],
/// never returned.
#[derive(Debug)]
pub struct FsBlockstore {
    shared: std::sync::Arc<FsShared>,
    tmp_counter: std::sync::atomic::AtomicU64,
    /// The batch being flushed in the background, if any.
    background: parking_lot::Mutex<Option<std::thread::JoinHandle<std::io::Result<()>>>>,
}

#[derive(Debug)]
struct FsShared {
    root: std::path::PathBuf,
    /// Blocks written to `tmp/` and not yet renamed into place.
    pending: parking_lot::Mutex<HashMap<Cid, std::path::PathBuf>>,
    /// One flush (or delete) at a time.
    flushing: parking_lot::Mutex<()>,
}

/// Puts between background flushes (64 MiB of 256 KiB blocks): bounds what a crash can lose
/// and what the pending list holds.
pub const FLUSH_EVERY: usize = 256;

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
        let shared = FsShared { root, pending: Default::default(), flushing: Default::default() };
        Ok(Self { shared: std::sync::Arc::new(shared), tmp_counter: Default::default(), background: Default::default() })
    }

    fn path(&self, cid: &Cid) -> std::path::PathBuf {
        self.shared.path(cid)
    }

    fn read(path: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits for the background flush, if one runs, and returns its outcome.
    fn join_background(&self) -> std::io::Result<()> {
        self.background.lock().take().map_or(Ok(()), join_flush)
    }
}

/// The outcome of a background flush.
fn join_flush(h: std::thread::JoinHandle<std::io::Result<()>>) -> std::io::Result<()> {
    h.join().unwrap_or_else(|_| Err(std::io::Error::other("block flush thread panicked")))
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

impl FsShared {
    fn path(&self, cid: &Cid) -> std::path::PathBuf {
        let name = cid.to_string();
        let shard = &name[name.len().saturating_sub(3)..name.len().saturating_sub(1)];
        self.root.join("blocks").join(shard).join(name)
    }

    /// Makes everything written under the root durable.
    fn sync_all(&self, files: &[std::path::PathBuf]) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let _ = files;
            use std::os::fd::AsRawFd;
            let dir = std::fs::File::open(&self.root)?;
            // SAFETY: syncfs only reads the descriptor, which `dir` keeps open for the call.
            if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        {
            for f in files {
                if let Ok(f) = std::fs::File::open(f) {
                    f.sync_all()?;
                }
            }
            std::fs::File::open(self.root.join("blocks"))?.sync_all()
        }
    }

    /// Flushes every block pending when it starts.
    fn flush_pending(&self) -> std::io::Result<()> {
        let _one = self.flushing.lock();
        let batch: Vec<(Cid, std::path::PathBuf)> = self.pending.lock().iter().map(|(c, p)| (*c, p.clone())).collect();
        if batch.is_empty() {
            return Ok(());
        }
        let tmps: Vec<_> = batch.iter().map(|(_, p)| p.clone()).collect();
        // Contents first, then names: a block appears only once its bytes are on disk.
        self.sync_all(&tmps)?;
        for (cid, tmp) in &batch {
            let path = self.path(cid);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(tmp, &path)?;
        }
        self.sync_all(&[])?;
        let mut pending = self.pending.lock();
        for (cid, _) in &batch {
            pending.remove(cid);
        }
        Ok(())
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
        if self.shared.pending.lock().contains_key(&cid) || self.path(&cid).exists() {
            return Ok(());
        }
        let n = self.tmp_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.shared.root.join("tmp").join(format!("{}-{n}", std::process::id()));
        std::fs::File::create(&tmp)?.write_all(&data)?;
        let waiting = {
            let mut pending = self.shared.pending.lock();
            if pending.contains_key(&cid) {
                // Another put of the same block got there first (the network and a reader both
                // store a fetched block): ours would be orphaned in `tmp/` until a restart.
                drop(pending);
                let _ = std::fs::remove_file(&tmp);
                return Ok(());
            }
            pending.insert(cid, tmp);
            pending.len()
        };
        if waiting >= FLUSH_EVERY {
            let mut bg = self.background.lock();
            let busy = bg.as_ref().is_some_and(|h| !h.is_finished());
            // One batch in flight; if the writer gets a whole batch ahead of it, wait.
            if !busy || waiting >= 2 * FLUSH_EVERY {
                bg.take().map_or(Ok(()), join_flush)?;
                let shared = self.shared.clone();
                *bg = Some(std::thread::Builder::new().name("block-flush".into()).spawn(move || shared.flush_pending())?);
            }
        }
        Ok(())
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        let path = self.path(cid);
        let mut data = Self::read(&path)?;
        if data.is_none() {
            let tmp = self.shared.pending.lock().get(cid).cloned();
            if let Some(tmp) = tmp {
                // A flush may have renamed it since: then it is in place.
                data = match Self::read(&tmp)? {
                    Some(d) => Some(d),
                    None => Self::read(&path)?,
                };
            }
        }
        let Some(data) = data else { return Ok(None) };
        if !matches(cid, &data) {
            return Err(BlockstoreError::Corrupt(*cid));
        }
        Ok(Some(data.into()))
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.shared.pending.lock().contains_key(cid) || self.path(cid).exists())
    }

    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        let _flush = self.shared.flushing.lock();
        let was_pending = match self.shared.pending.lock().remove(cid) {
            Some(tmp) => std::fs::remove_file(tmp).is_ok(),
            None => false,
        };
        match std::fs::remove_file(self.path(cid)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(was_pending),
            Err(e) => Err(e.into()),
        }
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        let mut out: Vec<Cid> = self.shared.pending.lock().keys().copied().collect();
        for shard in std::fs::read_dir(self.shared.root.join("blocks"))? {
            out.extend(cids_in(&shard?.path())?);
        }
        out.sort_unstable_by_key(|c| c.to_bytes());
        out.dedup();
        Ok(out)
    }

    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockstoreError> {
        let len = |p: &std::path::Path| match std::fs::metadata(p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        let path = self.path(cid);
        if let Some(n) = len(&path)? {
            return Ok(Some(n));
        }
        let tmp = self.shared.pending.lock().get(cid).cloned();
        // As in `get`: a flush may have renamed it in between.
        Ok(match tmp {
            Some(tmp) => match len(&tmp)? {
                Some(n) => Some(n),
                None => len(&path)?,
            },
            None => None,
        })
    }

    fn flush(&self) -> Result<(), BlockstoreError> {
        self.join_background()?;
        Ok(self.shared.flush_pending()?)
    }
}

impl Drop for FsBlockstore {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            // Nothing to return it to: the batch is lost whole, as in a crash.
            eprintln!("block store: flushing on close failed: {e}");
        }
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

    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockstoreError> {
        self.inner.size(cid)
    }

    fn flush(&self) -> Result<(), BlockstoreError> {
        self.inner.flush()
    }
}

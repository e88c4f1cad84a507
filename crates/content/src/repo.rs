//! Pins and garbage collection: which DAGs the node keeps, and removing everything else.
//!
//! Pins are recursive (a pinned root keeps every block it reaches). Additions run under a
//! shared lock and [`Repo::gc`] under an exclusive one, so a collection never removes blocks of
//! an upload that has not been pinned yet; blocks left by an upload that failed are unpinned
//! and go at the next collection, as in Kubo.

use std::{collections::HashSet, path::PathBuf};

use cid::Cid;
use parking_lot::RwLock;

use crate::{
    Blockstore, BlockstoreError,
    decode::{LinkError, RAW, links},
};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("block {0} is not in this node's store")]
    Missing(Cid),
    #[error("block {cid}: {source}")]
    Links { cid: Cid, source: Box<LinkError> },
    #[error("{0} is not pinned")]
    NotPinned(Cid),
    #[error(transparent)]
    Store(#[from] BlockstoreError),
    #[error("pin store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Where pins are recorded.
pub trait PinStore: Send + Sync {
    /// Records `cid`; adding it twice is not an error.
    fn add(&self, cid: &Cid) -> Result<(), RepoError>;
    /// `false` if it was not pinned.
    fn remove(&self, cid: &Cid) -> Result<bool, RepoError>;
    fn list(&self) -> Result<Vec<Cid>, RepoError>;
    fn contains(&self, cid: &Cid) -> Result<bool, RepoError>;
}

/// Pins in memory.
#[derive(Debug, Default)]
pub struct MemPins(RwLock<HashSet<Cid>>);

impl PinStore for MemPins {
    fn add(&self, cid: &Cid) -> Result<(), RepoError> {
        self.0.write().insert(*cid);
        Ok(())
    }

    fn remove(&self, cid: &Cid) -> Result<bool, RepoError> {
        Ok(self.0.write().remove(cid))
    }

    fn list(&self) -> Result<Vec<Cid>, RepoError> {
        Ok(self.0.read().iter().copied().collect())
    }

    fn contains(&self, cid: &Cid) -> Result<bool, RepoError> {
        Ok(self.0.read().contains(cid))
    }
}

/// Pins as empty files named by CID under a directory: a pin exists once its rename is on
/// disk, so a crash leaves each pin either recorded or not.
#[derive(Debug)]
pub struct FsPins {
    dir: PathBuf,
}

impl FsPins {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, RepoError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn sync_dir(&self) -> Result<(), RepoError> {
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

impl PinStore for FsPins {
    fn add(&self, cid: &Cid) -> Result<(), RepoError> {
        let path = self.dir.join(cid.to_string());
        if !path.exists() {
            let tmp = self.dir.join(format!(".{cid}.tmp"));
            std::fs::File::create(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            self.sync_dir()?;
        }
        Ok(())
    }

    fn remove(&self, cid: &Cid) -> Result<bool, RepoError> {
        match std::fs::remove_file(self.dir.join(cid.to_string())) {
            Ok(()) => {
                self.sync_dir()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self) -> Result<Vec<Cid>, RepoError> {
        let mut out = crate::blockstore::cids_in(&self.dir)?;
        out.sort_by_key(|c| c.to_string());
        Ok(out)
    }

    fn contains(&self, cid: &Cid) -> Result<bool, RepoError> {
        Ok(self.dir.join(cid.to_string()).exists())
    }
}

/// What a collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Blocks kept because a pin reaches them.
    pub kept: usize,
    /// CIDs of the blocks removed.
    pub removed: Vec<Cid>,
    /// Bytes those blocks held.
    pub freed_bytes: u64,
}

/// A blockstore with its pins.
pub struct Repo<B: ?Sized = dyn Blockstore> {
    gc: RwLock<()>,
    pins: Box<dyn PinStore>,
    blocks: std::sync::Arc<B>,
}

impl<B: Blockstore + ?Sized> Repo<B> {
    pub fn new(blocks: std::sync::Arc<B>, pins: impl PinStore + 'static) -> Self {
        Self { gc: RwLock::new(()), pins: Box::new(pins), blocks }
    }

    pub fn blocks(&self) -> &std::sync::Arc<B> {
        &self.blocks
    }

    /// Runs `write` (which adds blocks and returns a root) with collection held off, then pins
    /// the root when `pin` is set. Nothing `write` stored can be collected before it is pinned.
    pub fn add<E: From<RepoError>>(&self, pin: bool, write: impl FnOnce(&B) -> Result<Cid, E>) -> Result<Cid, E> {
        Ok(self.add_roots(pin, |s| write(s).map(|r| vec![r]))?[0])
    }

    /// As [`Repo::add`], for writes with several roots (a CAR). The blocks are made durable
    /// ([`Blockstore::flush`]) before any pin names them.
    pub fn add_roots<E: From<RepoError>>(
        &self,
        pin: bool,
        write: impl FnOnce(&B) -> Result<Vec<Cid>, E>,
    ) -> Result<Vec<Cid>, E> {
        let _adding = self.gc.read();
        let roots = write(&self.blocks)?;
        self.blocks.flush().map_err(RepoError::from)?;
        if pin {
            for root in &roots {
                self.pins.add(root)?;
            }
        }
        Ok(roots)
    }

    /// Pins `root` once every block it reaches is in the store.
    pub fn pin(&self, root: &Cid) -> Result<(), RepoError> {
        let _adding = self.gc.read();
        // Every block is read, raw leaves too, and written back: a store that fetches what it
        // lacks from peers (the node's, which stores fetched blocks a moment later, in the
        // background) then holds the whole DAG, durably, before the pin names it.
        walk(self.blocks.as_ref(), [*root], true)?;
        self.blocks.flush()?;
        self.pins.add(root)
    }

    /// Removes a pin; its blocks go at the next collection unless another pin reaches them.
    pub fn unpin(&self, root: &Cid) -> Result<(), RepoError> {
        if self.pins.remove(root)? { Ok(()) } else { Err(RepoError::NotPinned(*root)) }
    }

    pub fn pins(&self) -> Result<Vec<Cid>, RepoError> {
        self.pins.list()
    }

    pub fn is_pinned(&self, root: &Cid) -> Result<bool, RepoError> {
        self.pins.contains(root)
    }

    /// Removes every block no pin reaches. If any pinned DAG cannot be walked (a block missing
    /// or unreadable), nothing is removed and the error says which.
    pub fn gc(&self) -> Result<GcReport, RepoError> {
        let report = self.gc_locked()?;
        self.compact()?;
        Ok(report)
    }

    /// Gives the disk space of what was removed back, outside the collection's lock (the store
    /// keeps itself consistent; uploads need not wait for it). Also after a round that removed
    /// nothing: space a compaction had to leave for later (a pack still being written) goes then.
    fn compact(&self) -> Result<(), RepoError> {
        self.blocks.compact()?;
        Ok(())
    }

    fn gc_locked(&self) -> Result<GcReport, RepoError> {
        let _collecting = self.gc.write();
        let keep = reachable(self.blocks.as_ref(), self.pins.list()?)?;
        let mut report = GcReport { kept: keep.len(), ..Default::default() };
        for cid in self.blocks.cids()? {
            if keep.contains(&cid) {
                continue;
            }
            // Size for the report (not the block: garbage is not read back); a block whose size
            // cannot be had is removed all the same.
            let size = self.blocks.size(&cid).ok().flatten().unwrap_or(0);
            if self.blocks.delete(&cid)? {
                report.freed_bytes += size;
                report.removed.push(cid);
            }
        }
        Ok(report)
    }

    /// Removes unpinned blocks (the cache of fetched content) until they hold at most `quota`
    /// bytes. Blocks named in `recent` (least recently used first) go after every other
    /// unpinned block, in that order: an unpinned block nobody has used this run (left by an
    /// earlier run, or an unpinned upload) is the oldest there is. Runs under the same
    /// exclusive lock as [`Repo::gc`], so an upload in progress loses nothing.
    pub fn trim(&self, quota: u64, recent: &[Cid]) -> Result<GcReport, RepoError> {
        let report = self.trim_locked(quota, recent)?;
        self.compact()?;
        Ok(report)
    }

    fn trim_locked(&self, quota: u64, recent: &[Cid]) -> Result<GcReport, RepoError> {
        let _collecting = self.gc.write();
        let keep = reachable(self.blocks.as_ref(), self.pins.list()?)?;
        let mut report = GcReport { kept: keep.len(), ..Default::default() };
        let mut cached: Vec<(Cid, u64)> = Vec::new();
        let mut total = 0u64;
        for cid in self.blocks.cids()? {
            if !keep.contains(&cid) {
                let size = self.blocks.size(&cid).ok().flatten().unwrap_or(0);
                total += size;
                cached.push((cid, size));
            }
        }
        if total <= quota {
            return Ok(report);
        }
        let position: std::collections::HashMap<&Cid, usize> = recent.iter().enumerate().map(|(i, c)| (c, i + 1)).collect();
        cached.sort_by_key(|(cid, _)| position.get(cid).copied().unwrap_or(0));
        for (cid, size) in cached {
            if total <= quota {
                break;
            }
            if self.blocks.delete(&cid)? {
                report.freed_bytes += size;
                report.removed.push(cid);
            }
            total -= size;
        }
        Ok(report)
    }
}

/// Every CID reachable from `roots`, each checked present; raw blocks are not read.
pub fn reachable<B: Blockstore + ?Sized>(store: &B, roots: impl IntoIterator<Item = Cid>) -> Result<HashSet<Cid>, RepoError> {
    walk(store, roots, false)
}

/// [`reachable`]; with `pinning`, every block is read (raw ones too, not only checked with
/// `has`) and put back (a no-op where it is stored already).
fn walk<B: Blockstore + ?Sized>(
    store: &B,
    roots: impl IntoIterator<Item = Cid>,
    pinning: bool,
) -> Result<HashSet<Cid>, RepoError> {
    let mut seen = HashSet::new();
    let mut stack: Vec<Cid> = roots.into_iter().collect();
    while let Some(cid) = stack.pop() {
        if seen.contains(&cid) {
            continue;
        }
        if pinning {
            let block = store.get(&cid)?.ok_or(RepoError::Missing(cid))?;
            if cid.codec() != RAW {
                stack.extend(links(&cid, &block).map_err(|source| RepoError::Links { cid, source: Box::new(source) })?);
            }
            store.put(cid, block)?;
        } else if cid.codec() == RAW {
            if !store.has(&cid)? {
                return Err(RepoError::Missing(cid));
            }
        } else {
            let block = store.get(&cid)?.ok_or(RepoError::Missing(cid))?;
            stack.extend(links(&cid, &block).map_err(|source| RepoError::Links { cid, source: Box::new(source) })?);
        }
        seen.insert(cid);
    }
    Ok(seen)
}

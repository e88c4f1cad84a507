//! A blockstore that reads locally and fetches what is missing from peers.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use cid::Cid;
use ls_content::{Blockstore, BlockstoreError};

use crate::{FetchError, NetworkHandle};

/// Serves blocks from `local`; on a miss (or a local block that fails its hash check) asks the
/// connected peers over Bitswap, waits at most `timeout`, verifies the block against its CID
/// and keeps it in `local`. Everything else (`put`, `has`, `delete`, `cids`, `size`) is
/// `local`'s answer, so `has` never goes to the network and GC sees only what is here.
///
/// **GC.** A fetched block is stored unpinned: a cache entry that the next `gc` removes unless
/// a pin reaches it. A fetch in progress cannot lose its block to a collection: the bytes go
/// from the network to the caller in memory (the local copy is written beside, not read back).
/// Work that needs fetched blocks to stay until it pins them (`Repo::pin` walking a DAG)
/// already runs under the repo's add lock, which holds collections off. The node bounds the
/// cache with `Repo::trim` (`--cache-size`), in the order [`FetchingBlockstore::recent`] keeps.
///
/// `get` blocks its thread for up to `timeout` per missing block; call it where the gateway and
/// exporter already call the store: on the blocking pool, never from async code.
///
/// **Prefetch.** A fetched dag-pb node's links are remembered (for the last [`PARENTS`] such
/// nodes); when a child of one is missed, the next [`PREFETCH`] siblings are wanted at once in
/// the background, so a sequential read (a whole file, a range over many leaves) costs about
/// one round trip per [`PREFETCH`] blocks instead of one per block. A range read overshoots by
/// at most that many blocks.
///
/// **Copies follow demand.** A fetched block that is no known node's child (the root of what a
/// reader asked for: the gateway reads the root first) is announced in the DHT
/// ([`NetworkHandle::provide`], in the background, once per [`ANNOUNCED`] roots remembered), so
/// later readers' provider lookups find this node as well as the origin and their sessions
/// spread over both. A cached copy may be trimmed later; a reader asking then hears DONT_HAVE
/// and moves on.
///
/// **Local writes.** `put` (an upload through the gateway or the repo) tells the network
/// ([`NetworkHandle::notify_local`]), so a peer already waiting for the block gets it.
pub struct FetchingBlockstore {
    local: Arc<dyn Blockstore>,
    net: NetworkHandle,
    timeout: Duration,
    /// Links of recently fetched dag-pb nodes, and for each such link its parent and position.
    parents: parking_lot::Mutex<Parents>,
    /// Blocks read or fetched, most recent last out: the order in which a cache quota removes
    /// unpinned ones (see `Repo::trim`).
    recent: parking_lot::Mutex<lru::LruCache<Cid, ()>>,
    /// Roots announced lately (not announced again).
    announced: parking_lot::Mutex<lru::LruCache<Cid, ()>>,
}

/// Fetched roots remembered as announced.
pub const ANNOUNCED: usize = 1024;

/// Blocks whose last use is remembered for the cache quota (256 Ki blocks of 256 KiB: 64 GiB);
/// older ones count as never used, so they are the first to go.
pub const RECENT: usize = 256 * 1024;

/// Fetched dag-pb nodes whose links are kept for prefetching.
pub const PARENTS: usize = 64;
/// Siblings wanted ahead of a missed child (8 × 256 KiB = 2 MiB of leaves).
pub const PREFETCH: usize = 8;

struct Parents {
    links: lru::LruCache<Cid, Arc<Vec<Cid>>>,
    position: std::collections::HashMap<Cid, (Cid, usize)>,
}

impl FetchingBlockstore {
    pub fn new(local: Arc<dyn Blockstore>, net: NetworkHandle, timeout: Duration) -> Self {
        let parents = Parents {
            links: lru::LruCache::new(std::num::NonZeroUsize::new(PARENTS).expect("non-zero constant")),
            position: Default::default(),
        };
        Self {
            local,
            net,
            timeout,
            parents: parking_lot::Mutex::new(parents),
            recent: parking_lot::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(RECENT).expect("non-zero constant"),
            )),
            announced: parking_lot::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(ANNOUNCED).expect("non-zero constant"),
            )),
        }
    }

    /// The blocks read or fetched lately, least recently used first.
    pub fn recent(&self) -> Vec<Cid> {
        let recent = self.recent.lock();
        let mut out: Vec<Cid> = recent.iter().map(|(c, _)| *c).collect();
        out.reverse();
        out
    }

    /// Remembers the links of a fetched dag-pb node.
    fn remember(&self, cid: &Cid, block: &[u8]) {
        if cid.codec() != ls_content::decode::DAG_PB {
            return;
        }
        let Ok(links) = ls_content::decode::links(cid, block) else {
            return;
        };
        if links.is_empty() {
            return;
        }
        let mut p = self.parents.lock();
        for (i, c) in links.iter().enumerate() {
            p.position.insert(*c, (*cid, i));
        }
        if let Some((old, old_links)) = p.links.push(*cid, Arc::new(links))
            && old != *cid
        {
            for c in old_links.iter() {
                if p.position.get(c).is_some_and(|(parent, _)| *parent == old) {
                    p.position.remove(c);
                }
            }
        }
    }

    /// Wants the next [`PREFETCH`] siblings of `cid` that are not here, in the background.
    fn prefetch_after(&self, cid: &Cid) {
        self.prefetch(cid, 1, PREFETCH);
    }

    /// Keeps the window full while a read goes through blocks that came by prefetch: reading
    /// sibling `i` wants sibling `i + PREFETCH` (if it is not here), so about [`PREFETCH`] blocks
    /// stay in flight ahead of a sequential reader instead of one round trip per window.
    fn prefetch_ahead(&self, cid: &Cid) {
        self.prefetch(cid, PREFETCH, 1);
    }

    /// Wants `count` siblings of `cid` starting `skip` places after it, those not here.
    fn prefetch(&self, cid: &Cid, skip: usize, count: usize) {
        let next: Vec<Cid> = {
            let mut p = self.parents.lock();
            let Some((parent, i)) = p.position.get(cid).copied() else {
                return;
            };
            let Some(links) = p.links.get(&parent).cloned() else {
                return;
            };
            links.iter().skip(i + skip).take(count).copied().collect()
        };
        for c in next {
            if self.local.has(&c).unwrap_or(true) {
                continue;
            }
            // The want lives until its block comes or the timeout; the Bitswap client stores
            // the block, and a reader asking meanwhile joins the same want.
            self.net.spawn_prefetch(c, self.timeout);
        }
    }

    pub fn local(&self) -> &Arc<dyn Blockstore> {
        &self.local
    }

    /// `None` when no peer is connected: then a miss is a miss, answered at once, as on a node
    /// without a network. The block is verified against `cid` ([`NetworkHandle::get_block`]).
    fn fetch(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        match self.net.get_block_blocking(*cid, self.timeout) {
            Ok(d) => Ok(Some(d)),
            Err(FetchError::NoPeers { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn unavailable(e: FetchError) -> BlockstoreError {
    let kind = match e {
        FetchError::Timeout { .. } => std::io::ErrorKind::TimedOut,
        _ => std::io::ErrorKind::Other,
    };
    BlockstoreError::Io(std::io::Error::new(kind, e.to_string()))
}

impl Blockstore for FetchingBlockstore {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        self.local.put(cid, data)?;
        self.net.notify_local(vec![cid]);
        Ok(())
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        match self.local.get(cid) {
            Ok(Some(b)) => {
                self.recent.lock().put(*cid, ());
                self.prefetch_ahead(cid);
                Ok(Some(b))
            }
            Ok(None) => {
                let root = !self.parents.lock().position.contains_key(cid);
                self.prefetch_after(cid);
                let got = self.fetch(cid)?;
                if let Some(b) = &got {
                    self.recent.lock().put(*cid, ());
                    // The Bitswap client stores what it fetches too; a present block is a no-op.
                    self.local.put(*cid, b.clone())?;
                    self.remember(cid, b);
                    if root && self.announced.lock().put(*cid, ()).is_none() {
                        self.net.spawn_provide(*cid);
                    }
                }
                Ok(got)
            }
            Err(BlockstoreError::Corrupt(_)) => {
                tracing::warn!(%cid, "local block fails its hash check; fetching it from peers");
                // The damaged copy stays until a good one is here (it still stops `gc` from
                // treating a pinned DAG as whole).
                let b = self.fetch(cid)?.ok_or(BlockstoreError::Corrupt(*cid))?;
                self.local.delete(cid)?;
                self.local.put(*cid, b.clone())?;
                Ok(Some(b))
            }
            Err(e) => Err(e),
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        self.local.has(cid)
    }

    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        self.local.delete(cid)
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        self.local.cids()
    }

    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockstoreError> {
        self.local.size(cid)
    }

    fn flush(&self) -> Result<(), BlockstoreError> {
        self.local.flush()
    }
}

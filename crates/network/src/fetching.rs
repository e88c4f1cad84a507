//! A blockstore that reads locally and fetches what is missing from peers.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use cid::Cid;
use ls_content::{Blockstore, BlockstoreError};

use crate::{FetchError, NetworkHandle};

/// Serves blocks from `local`; on a miss (or a local block that fails its hash check) asks the
/// connected peers over Bitswap, waits at most `timeout`, and returns the block, verified
/// against its CID (the network stores it in `local` in the background). Everything else
/// (`put`, `has`, `delete`, `cids`, `size`) is `local`'s answer, so `has` never goes to the
/// network and GC sees only what is here.
///
/// **GC.** A fetched block is stored unpinned: a cache entry that the next `gc` removes unless
/// a pin reaches it. A fetch in progress cannot lose its block to a collection: the bytes go
/// from the network to the caller in memory (the local copy is written beside, not read back).
/// Work that needs fetched blocks to stay until it pins them (`Repo::pin` walking a DAG)
/// already runs under the repo's add lock, which holds collections off. The node bounds the
/// cache with `Repo::trim` (`--cache-size`), in the order [`FetchingBlockstore::recent`] keeps,
/// and tells this store what went ([`FetchingBlockstore::withdraw`]).
///
/// `get` blocks its thread for up to `timeout` per missing block; call it where the gateway and
/// exporter already call the store: on the blocking pool, never from async code.
///
/// **Read-ahead.** The links of every dag-pb node read are remembered (for the last [`PARENTS`]
/// such nodes). Reading child `i` of one wants the siblings up to `i + w` that are neither here
/// nor wanted yet, in the background, where the window `w` starts at [`PREFETCH`] and grows by
/// one with each child of that node read, up to [`PREFETCH_MAX`]: a small range costs at most
/// [`PREFETCH`] blocks it does not need, a whole file keeps [`PREFETCH_MAX`] blocks in flight.
/// When the window reaches the last child, the node's next sibling (the next intermediate node
/// of a large file) is wanted too. Blocks so fetched are kept in memory for the reader (at most
/// [`READY_BYTES`]) besides being stored, so a sequential read does not read them back from
/// disk.
///
/// **Provider lookups.** A block that is no known node's child (the root of what a reader
/// asked for: the gateway reads the root first) starts a Kademlia provider lookup; its
/// children and read-ahead do not (the network still starts one for a want nobody answers, see
/// `crate::LOOKUP_AFTER`), so reading a file costs one lookup, not one per block.
///
/// **Copies follow demand.** A fetched root is announced in the DHT
/// ([`NetworkHandle::provide`], in the background, once per [`ANNOUNCED`] roots remembered), so
/// later readers' provider lookups find this node as well as the origin. When the cache trims
/// the root or a block below it, the announcement is withdrawn ([`FetchingBlockstore::withdraw`]).
///
/// **Local writes.** `put` (an upload through the gateway or the repo) tells the network
/// ([`NetworkHandle::notify_local`]), so a peer already waiting for the block gets it.
pub struct FetchingBlockstore {
    local: Arc<dyn Blockstore>,
    net: NetworkHandle,
    timeout: Duration,
    /// Links of recently read dag-pb nodes, and for each such link its parent and position.
    parents: parking_lot::Mutex<Parents>,
    /// Blocks read or fetched, most recent last out: the order in which a cache quota removes
    /// unpinned ones (see `Repo::trim`).
    recent: parking_lot::Mutex<lru::LruCache<Cid, ()>>,
    /// Roots announced lately (not announced again).
    announced: parking_lot::Mutex<lru::LruCache<Cid, ()>>,
    /// Read-ahead blocks not read yet.
    ready: Arc<parking_lot::Mutex<Ready>>,
}

/// Fetched roots remembered as announced.
pub const ANNOUNCED: usize = 1024;

/// Blocks whose last use is remembered for the cache quota (256 Ki blocks of 256 KiB: 64 GiB);
/// older ones count as never used, so they are the first to go.
pub const RECENT: usize = 256 * 1024;

/// Read dag-pb nodes whose links are kept for read-ahead.
pub const PARENTS: usize = 64;
/// Siblings wanted ahead of the first child read (8 × 256 KiB = 2 MiB of leaves).
pub const PREFETCH: usize = 8;
/// The most siblings wanted ahead of a sequential reader (32 × 256 KiB = 8 MiB of leaves).
pub const PREFETCH_MAX: usize = 32;
/// Read-ahead blocks kept in memory until read (the oldest go first; they are stored anyway).
pub const READY_BYTES: usize = 32 << 20;

/// How deep `withdraw` climbs from a removed block to the root it belongs to.
const MAX_CLIMB: usize = 64;

struct Node {
    links: Arc<Vec<Cid>>,
    /// Children wanted (or found here) so far: `links[..wanted_to]`.
    wanted_to: usize,
    /// Children read so far (the read-ahead window grows with it).
    read: usize,
}

struct Parents {
    links: lru::LruCache<Cid, Node>,
    position: std::collections::HashMap<Cid, (Cid, usize)>,
}

struct Ready {
    blocks: lru::LruCache<Cid, Bytes>,
    bytes: usize,
}

impl Ready {
    fn insert(&mut self, cid: Cid, b: Bytes) {
        self.bytes += b.len();
        if let Some(old) = self.blocks.put(cid, b) {
            self.bytes -= old.len();
        }
        while self.bytes > READY_BYTES {
            let Some((_, old)) = self.blocks.pop_lru() else {
                break;
            };
            self.bytes -= old.len();
        }
    }

    fn take(&mut self, cid: &Cid) -> Option<Bytes> {
        let b = self.blocks.pop(cid)?;
        self.bytes -= b.len();
        Some(b)
    }
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
            ready: Arc::new(parking_lot::Mutex::new(Ready { blocks: lru::LruCache::unbounded(), bytes: 0 })),
        }
    }

    /// The blocks read or fetched lately, least recently used first.
    pub fn recent(&self) -> Vec<Cid> {
        let recent = self.recent.lock();
        let mut out: Vec<Cid> = recent.iter().map(|(c, _)| *c).collect();
        out.reverse();
        out
    }

    /// Blocks the cache removed (`Repo::trim`): a root this node announced, or one whose
    /// blocks these were (as far as the links remembered tell), is no longer announced
    /// ([`NetworkHandle::stop_providing`]), so readers are not sent here for a file this node
    /// no longer holds whole. Returns the roots withdrawn.
    pub fn withdraw(&self, removed: &[Cid]) -> Vec<Cid> {
        let mut roots = std::collections::HashSet::new();
        {
            let parents = self.parents.lock();
            for cid in removed {
                let mut c = *cid;
                for _ in 0..MAX_CLIMB {
                    roots.insert(c);
                    match parents.position.get(&c) {
                        Some((parent, _)) => c = *parent,
                        None => break,
                    }
                }
            }
        }
        let mut withdrawn = Vec::new();
        let mut announced = self.announced.lock();
        for root in roots {
            if announced.pop(&root).is_some() {
                self.net.stop_providing(root);
                withdrawn.push(root);
            }
        }
        withdrawn
    }

    /// Remembers the links of a dag-pb node read.
    fn remember(&self, cid: &Cid, block: &[u8]) {
        if cid.codec() != ls_content::decode::DAG_PB {
            return;
        }
        if self.parents.lock().links.contains(cid) {
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
        let node = Node { links: Arc::new(links), wanted_to: 0, read: 0 };
        if let Some((old, old_node)) = p.links.push(*cid, node)
            && old != *cid
        {
            for c in old_node.links.iter() {
                if p.position.get(c).is_some_and(|(parent, _)| *parent == old) {
                    p.position.remove(c);
                }
            }
        }
    }

    /// `cid` is being read: wants the siblings ahead of it that are not wanted yet (see
    /// "Read-ahead" above), and the parent's next sibling once the window reaches the end.
    fn read_ahead(&self, cid: &Cid) {
        let mut want = Vec::new();
        {
            let mut p = self.parents.lock();
            let Some((parent, i)) = p.position.get(cid).copied() else {
                return;
            };
            let next_parent = p.position.get(&parent).copied();
            let Some(node) = p.links.get_mut(&parent) else {
                return;
            };
            let window = (PREFETCH + node.read).min(PREFETCH_MAX);
            node.read += 1;
            let from = node.wanted_to.max(i + 1);
            let to = (i + 1 + window).min(node.links.len());
            if from < to {
                want.extend_from_slice(&node.links[from..to]);
                node.wanted_to = to;
            }
            let at_end = to == node.links.len() && from < to;
            if at_end
                && let Some((grand, j)) = next_parent
                && let Some(g) = p.links.get_mut(&grand)
                && j + 1 < g.links.len()
                && g.wanted_to <= j + 1
            {
                want.push(g.links[j + 1]);
                g.wanted_to = j + 2;
            }
        }
        for c in want {
            if self.ready.lock().blocks.contains(&c) || self.local.has(&c).unwrap_or(true) {
                continue;
            }
            // The want lives until its block comes or the timeout; the Bitswap client stores
            // the block, and a reader asking meanwhile joins the same want.
            let ready = self.ready.clone();
            self.net.spawn_prefetch(c, self.timeout, move |b| ready.lock().insert(c, b));
        }
    }

    pub fn local(&self) -> &Arc<dyn Blockstore> {
        &self.local
    }

    /// `None` when no peer is connected: then a miss is a miss, answered at once, as on a node
    /// without a network. The block is verified against `cid` ([`NetworkHandle::get_block`]).
    fn fetch(&self, cid: &Cid, lookup: bool) -> Result<Option<Bytes>, BlockstoreError> {
        match self.net.get_block_blocking(*cid, self.timeout, lookup) {
            Ok(d) => Ok(Some(d)),
            Err(FetchError::NoPeers { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A block read (from memory, the local store or peers): remembered as used, its links
    /// kept, what follows it wanted.
    fn read(&self, cid: &Cid, b: &Bytes) {
        self.recent.lock().put(*cid, ());
        self.remember(cid, b);
        self.read_ahead(cid);
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
        // Read ahead and verified when it came; stored by the network besides.
        let ready = self.ready.lock().take(cid);
        if let Some(b) = ready {
            self.read(cid, &b);
            return Ok(Some(b));
        }
        match self.local.get(cid) {
            Ok(Some(b)) => {
                self.read(cid, &b);
                Ok(Some(b))
            }
            Ok(None) => {
                let root = !self.parents.lock().position.contains_key(cid);
                // The siblings ahead are wanted before this block is waited for.
                self.read_ahead(cid);
                // The network stores what it fetched (in the background).
                let got = self.fetch(cid, root)?;
                if let Some(b) = &got {
                    self.recent.lock().put(*cid, ());
                    self.remember(cid, b);
                    self.ready.lock().take(cid);
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
                let b = self.fetch(cid, true)?.ok_or(BlockstoreError::Corrupt(*cid))?;
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

    fn compact(&self) -> Result<u64, BlockstoreError> {
        self.local.compact()
    }
}

//! Streaming UnixFS importer with Kubo's `ipfs add` layout.

use std::io::Read;

use bytes::Bytes;
use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

use crate::{
    Blockstore, BlockstoreError,
    decode::{DAG_PB, RAW},
    pb::{Link, pb_node, unixfs_file},
};

/// Kubo's default chunk size (256 KiB).
pub const CHUNK_SIZE: usize = 262_144;
/// Most links in one node of the balanced layout (Kubo's default).
pub const MAX_LINKS: usize = 174;

const SHA2_256: u64 = 0x12;

/// Which CIDs to make, as `ipfs add` / `ipfs add --cid-version 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CidVersion {
    /// CIDv0, dag-pb leaves (UnixFS file nodes).
    #[default]
    V0,
    /// CIDv1, raw leaves, dag-pb interior nodes.
    V1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    pub cid_version: CidVersion,
    pub chunk_size: usize,
    pub max_links: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { cid_version: CidVersion::V0, chunk_size: CHUNK_SIZE, max_links: MAX_LINKS }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the input: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] BlockstoreError),
    #[error("invalid import options: {0}")]
    Options(&'static str),
}

/// The root of an imported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub root: Cid,
    /// File size in bytes.
    pub size: u64,
    /// Bytes of all blocks of the DAG (what `ipfs object stat` calls CumulativeSize).
    pub dag_size: u64,
}

/// A finished node, as its parent links to it.
struct Child {
    cid: Cid,
    /// Bytes of file content below it.
    file_size: u64,
    /// Encoded size of it and everything below it.
    tsize: u64,
}

pub(crate) fn hash(codec: u64, block: &[u8], version: CidVersion) -> Cid {
    let digest = Sha256::digest(block);
    let mh = Multihash::<64>::wrap(SHA2_256, &digest).expect("a 32-byte digest fits a 64-byte multihash");
    match (version, codec) {
        (CidVersion::V0, DAG_PB) => Cid::new_v0(mh).expect("sha2-256 dag-pb is a valid CIDv0"),
        _ => Cid::new_v1(codec, mh),
    }
}

struct Builder<'a, S: ?Sized> {
    store: &'a S,
    opts: ImportOptions,
    /// levels[i]: finished nodes at height i waiting for a parent.
    levels: Vec<Vec<Child>>,
}

impl<S: Blockstore + ?Sized> Builder<'_, S> {
    fn leaf(&self, chunk: &[u8]) -> Result<Child, ImportError> {
        let (codec, block) = match self.opts.cid_version {
            CidVersion::V1 => (RAW, Bytes::copy_from_slice(chunk)),
            CidVersion::V0 => (DAG_PB, Bytes::from(pb_node(&[], &unixfs_file(chunk, chunk.len() as u64, &[])))),
        };
        let cid = hash(codec, &block, self.opts.cid_version);
        let tsize = block.len() as u64;
        self.store.put(cid, block)?;
        Ok(Child { cid, file_size: chunk.len() as u64, tsize })
    }

    fn parent(&self, children: Vec<Child>) -> Result<Child, ImportError> {
        let file_size = children.iter().map(|c| c.file_size).sum();
        let blocksizes: Vec<u64> = children.iter().map(|c| c.file_size).collect();
        let links: Vec<Link> = children.iter().map(|c| Link { cid: c.cid.to_bytes(), name: String::new(), tsize: c.tsize }).collect();
        let block = Bytes::from(pb_node(&links, &unixfs_file(&[], file_size, &blocksizes)));
        let cid = hash(DAG_PB, &block, self.opts.cid_version);
        let tsize = block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        self.store.put(cid, block)?;
        Ok(Child { cid, file_size, tsize })
    }

    /// Adds a node at `height`, closing full parents upward.
    fn push(&mut self, mut height: usize, mut node: Child) -> Result<(), ImportError> {
        loop {
            if self.levels.len() <= height {
                self.levels.push(Vec::with_capacity(self.opts.max_links));
            }
            self.levels[height].push(node);
            if self.levels[height].len() < self.opts.max_links {
                return Ok(());
            }
            let full = std::mem::take(&mut self.levels[height]);
            node = self.parent(full)?;
            height += 1;
        }
    }

    /// Closes the partial parents left at every level, bottom up, into one root.
    fn finish(mut self) -> Result<Child, ImportError> {
        let mut height = 0;
        loop {
            let top = self.levels.len() - 1;
            let pending = std::mem::take(&mut self.levels[height]);
            if height == top && pending.len() == 1 {
                return Ok(pending.into_iter().next().expect("one node"));
            }
            if !pending.is_empty() {
                let p = self.parent(pending)?;
                if self.levels.len() <= height + 1 {
                    self.levels.push(Vec::new());
                }
                self.levels[height + 1].push(p);
            }
            height += 1;
        }
    }
}

/// Reads `input` to its end and stores it as a UnixFS file; returns the root CID.
pub fn import<S: Blockstore + ?Sized>(
    mut input: impl Read,
    store: &S,
    opts: ImportOptions,
) -> Result<Imported, ImportError> {
    if opts.chunk_size == 0 || opts.chunk_size > 1 << 20 {
        return Err(ImportError::Options("chunk size must be 1 byte to 1 MiB"));
    }
    if opts.max_links < 2 {
        return Err(ImportError::Options("a node needs room for at least 2 links"));
    }
    let mut b = Builder { store, opts, levels: Vec::new() };
    let mut buf = vec![0u8; opts.chunk_size];
    let mut size = 0u64;
    let mut chunks = 0u64;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 && chunks > 0 {
            break;
        }
        size += n as u64;
        chunks += 1;
        let leaf = b.leaf(&buf[..n])?;
        b.push(0, leaf)?;
        if n < opts.chunk_size {
            break;
        }
    }
    let root = b.finish()?;
    Ok(Imported { root: root.cid, size, dag_size: root.tsize })
}

/// Fills `buf` unless the input ends first; returns how much was read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

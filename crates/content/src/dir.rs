//! UnixFS directories: building one (as `ipfs add -r` lays it out), listing one, and resolving
//! `/ipfs/<cid>/a/b` paths through them.

use bytes::Bytes;
use cid::Cid;

use crate::{
    Blockstore, BlockstoreError, CidVersion,
    blockstore::matches,
    decode::{DAG_PB, DecodeError, decode_pb_node, decode_unixfs_type, unixfs_type},
    importer::hash,
    pb::{Link, pb_node, unixfs_directory},
};

/// One named entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub cid: Cid,
    /// Bytes of the entry's whole DAG.
    pub tsize: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("{0} is not in this node's store")]
    Missing(Cid),
    #[error("block {0} does not match its hash")]
    Corrupt(Cid),
    #[error("no link named {name:?} under {parent}")]
    NoSuchEntry { parent: Cid, name: String },
    #[error("{0} is not a directory, so a path cannot continue below it")]
    NotADirectory(Cid),
    #[error("{0} is a sharded (HAMT) directory, which this node cannot walk yet")]
    Sharded(Cid),
    #[error("invalid name {0:?}: names are non-empty and hold no '/'")]
    BadName(String),
    #[error("two entries named {0:?}")]
    Duplicate(String),
    #[error("block {cid}: {error}")]
    Decode { cid: Cid, error: DecodeError },
    #[error(transparent)]
    Store(#[from] BlockstoreError),
}

/// Stores a directory of `entries` (sorted by name, as Kubo does); returns it as an entry of
/// its parent would name it (CID and cumulative size).
pub fn put_directory<S: Blockstore + ?Sized>(
    store: &S,
    name: impl Into<String>,
    mut entries: Vec<DirEntry>,
    version: CidVersion,
) -> Result<DirEntry, PathError> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, e) in entries.iter().enumerate() {
        if e.name.is_empty() || e.name.contains('/') {
            return Err(PathError::BadName(e.name.clone()));
        }
        if i > 0 && entries[i - 1].name == e.name {
            return Err(PathError::Duplicate(e.name.clone()));
        }
    }
    // Cumulative sizes are advisory (they come from the entries' makers): saturate, never wrap.
    let below = entries.iter().fold(0u64, |acc, e| acc.saturating_add(e.tsize));
    let links: Vec<Link> =
        entries.into_iter().map(|e| Link { cid: e.cid.to_bytes(), name: e.name, tsize: e.tsize }).collect();
    let block = pb_node(&links, &unixfs_directory());
    let cid = hash(DAG_PB, &block, version);
    let tsize = below.saturating_add(block.len() as u64);
    store.put(cid, Bytes::from(block))?;
    Ok(DirEntry { name: name.into(), cid, tsize })
}

/// The entries of `cid` if it is a plain directory, `None` if it is a file or a raw block.
pub fn list_directory<S: Blockstore + ?Sized>(store: &S, cid: &Cid) -> Result<Option<Vec<DirEntry>>, PathError> {
    if cid.codec() != DAG_PB {
        return Ok(None);
    }
    let block = store.get(cid)?.ok_or(PathError::Missing(*cid))?;
    if !matches(cid, &block) {
        return Err(PathError::Corrupt(*cid));
    }
    let decode = |error| PathError::Decode { cid: *cid, error };
    let node = decode_pb_node(&block).map_err(decode)?;
    match decode_unixfs_type(node.data.as_deref().unwrap_or_default()).map_err(decode)? {
        unixfs_type::DIRECTORY => Ok(Some(
            node.links
                .into_iter()
                .map(|l| DirEntry { name: l.name.unwrap_or_default(), cid: l.cid, tsize: l.tsize.unwrap_or(0) })
                .collect(),
        )),
        unixfs_type::HAMT_SHARD => Err(PathError::Sharded(*cid)),
        _ => Ok(None),
    }
}

/// Follows `path` (segments separated by `/`, empty segments ignored) from `root`.
pub fn resolve_path<S: Blockstore + ?Sized>(store: &S, root: &Cid, path: &str) -> Result<Cid, PathError> {
    let mut cur = *root;
    for name in path.split('/').filter(|s| !s.is_empty()) {
        let entries = list_directory(store, &cur)?.ok_or(PathError::NotADirectory(cur))?;
        cur = entries
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| PathError::NoSuchEntry { parent: cur, name: name.to_string() })?
            .cid;
    }
    Ok(cur)
}

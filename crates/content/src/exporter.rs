//! Reads UnixFS files back, whole or any byte range, fetching only the blocks the range covers.

use std::io::Write;

use bytes::Bytes;
use cid::Cid;

use crate::{
    Blockstore, BlockstoreError,
    decode::{DAG_PB, DecodeError, RAW, decode_pb_node, decode_unixfs_file},
};

/// Deepest DAG followed (a balanced 174-ary tree of depth 10 holds far more than any file).
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("block {0} is not in the store")]
    Missing(Cid),
    #[error("block {0} does not match its CID")]
    Corrupt(Cid),
    #[error("unsupported codec {codec:#x} in {cid}")]
    Codec { cid: Cid, codec: u64 },
    #[error("unsupported hash function {code:#x} in {cid}")]
    Hash { cid: Cid, code: u64 },
    #[error("malformed block {cid}: {error}")]
    Decode { cid: Cid, error: DecodeError },
    #[error("inconsistent UnixFS node {0}: sizes do not match its links")]
    Inconsistent(Cid),
    #[error("UnixFS node {0} claims more than 2^64 - 1 bytes")]
    SizeOverflow(Cid),
    #[error("DAG deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("range {start}-{end} is outside the file of {size} bytes")]
    Range { start: u64, end: u64, size: u64 },
    #[error(transparent)]
    Store(#[from] BlockstoreError),
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
}

fn get_verified<S: Blockstore + ?Sized>(store: &S, cid: &Cid) -> Result<Bytes, ExportError> {
    let data = store.get(cid)?.ok_or(ExportError::Missing(*cid))?;
    if cid.hash().code() != 0x12 {
        return Err(ExportError::Hash { cid: *cid, code: cid.hash().code() });
    }
    // Whatever the store does, bytes that do not match their CID never reach the reader.
    if !crate::blockstore::matches(cid, &data) {
        return Err(ExportError::Corrupt(*cid));
    }
    Ok(data)
}

/// What a node holds: its own inline bytes, then its children in order.
struct Node {
    data: Vec<u8>,
    children: Vec<(Cid, u64)>,
}

fn load<S: Blockstore + ?Sized>(store: &S, cid: &Cid) -> Result<(Node, u64), ExportError> {
    let block = get_verified(store, cid)?;
    match cid.codec() {
        RAW => {
            let len = block.len() as u64;
            Ok((Node { data: block.to_vec(), children: vec![] }, len))
        }
        DAG_PB => {
            let decode = |error| ExportError::Decode { cid: *cid, error };
            let pb = decode_pb_node(&block).map_err(decode)?;
            let fs = decode_unixfs_file(pb.data.as_deref().unwrap_or_default()).map_err(decode)?;
            if fs.blocksizes.len() != pb.links.len() {
                return Err(ExportError::Inconsistent(*cid));
            }
            // The sizes come from outside (imported CARs, peers): sum them without wrapping.
            let size = fs
                .blocksizes
                .iter()
                .try_fold(fs.data.len() as u64, |acc, b| acc.checked_add(*b))
                .ok_or(ExportError::SizeOverflow(*cid))?;
            if fs.filesize.is_some_and(|f| f != size) {
                return Err(ExportError::Inconsistent(*cid));
            }
            let children = pb.links.iter().map(|l| l.cid).zip(fs.blocksizes).collect();
            Ok((Node { data: fs.data, children }, size))
        }
        codec => Err(ExportError::Codec { cid: *cid, codec }),
    }
}

/// Size in bytes of the file at `root`.
pub fn file_size<S: Blockstore + ?Sized>(store: &S, root: &Cid) -> Result<u64, ExportError> {
    Ok(load(store, root)?.1)
}

/// Writes bytes `start..end` of the file at `root` to `out`, reading only the blocks that
/// range covers. `end` past the file is an error; an empty range writes nothing.
pub fn read_range<S: Blockstore + ?Sized>(
    store: &S,
    root: &Cid,
    start: u64,
    end: u64,
    out: &mut impl Write,
) -> Result<(), ExportError> {
    let (node, size) = load(store, root)?;
    if start > end || end > size {
        return Err(ExportError::Range { start, end, size });
    }
    walk(store, node, 0, start, end, out, 0)
}

/// Writes the whole file at `root` to `out`; returns its size.
pub fn read_all<S: Blockstore + ?Sized>(store: &S, root: &Cid, out: &mut impl Write) -> Result<u64, ExportError> {
    let size = file_size(store, root)?;
    read_range(store, root, 0, size, out)?;
    Ok(size)
}

fn walk<S: Blockstore + ?Sized>(
    store: &S,
    node: Node,
    base: u64,
    start: u64,
    end: u64,
    out: &mut impl Write,
    depth: usize,
) -> Result<(), ExportError> {
    if depth > MAX_DEPTH {
        return Err(ExportError::TooDeep);
    }
    let mut pos = base;
    // `load` checked that this node's sizes sum within a u64 and `base` + that sum is within
    // the parent's checked size, so these adds cannot wrap; the checks keep it so regardless.
    let inline_end = pos.saturating_add(node.data.len() as u64);
    if start < inline_end && end > pos {
        let from = (start.max(pos) - pos) as usize;
        let to = (end.min(inline_end) - pos) as usize;
        out.write_all(&node.data[from..to])?;
    }
    pos = inline_end;
    for (cid, size) in node.children {
        let child_end = pos.checked_add(size).ok_or(ExportError::SizeOverflow(cid))?;
        if start < child_end && end > pos {
            let (child, actual) = load(store, &cid)?;
            if actual != size {
                return Err(ExportError::Inconsistent(cid));
            }
            walk(store, child, pos, start, end, out, depth + 1)?;
        }
        if child_end >= end {
            break;
        }
        pos = child_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemBlockstore, importer::hash, pb::{Link, pb_node, unixfs_file}, CidVersion};

    #[test]
    fn sizes_that_overflow_u64_are_an_error_not_a_wrap() {
        let store = MemBlockstore::default();
        let leaf = Bytes::from(pb_node(&[], &unixfs_file(b"x", 1, &[])));
        let leaf_cid = hash(DAG_PB, &leaf, CidVersion::V0);
        store.put(leaf_cid, leaf).unwrap();
        let link = || Link { cid: leaf_cid.to_bytes(), name: String::new(), tsize: 1 };
        // Two children claiming u64::MAX and 1 bytes: their sum does not fit in a u64.
        let root = Bytes::from(pb_node(&[link(), link()], &unixfs_file(&[], 0, &[u64::MAX, 1])));
        let root_cid = hash(DAG_PB, &root, CidVersion::V0);
        store.put(root_cid, root).unwrap();
        assert!(matches!(file_size(&store, &root_cid), Err(ExportError::SizeOverflow(c)) if c == root_cid));
        let mut out = Vec::new();
        assert!(matches!(read_range(&store, &root_cid, 0, 1, &mut out), Err(ExportError::SizeOverflow(_))));
        assert!(out.is_empty());
    }
}

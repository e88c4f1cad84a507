//! CARv1 (content-addressed archives): export a DAG for any IPFS node, import one from anywhere.

use std::{
    collections::HashSet,
    io::{Read, Write},
};

use bytes::Bytes;
use cid::Cid;

use crate::{
    Blockstore, BlockstoreError,
    blockstore::matches,
    decode::MAX_BLOCK_SIZE,
    pb::varint,
};

/// Largest CAR header accepted.
const MAX_HEADER: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("not a CARv1: {0}")]
    Header(String),
    #[error("truncated CAR: {0}")]
    Truncated(&'static str),
    #[error("section of {0} bytes exceeds the block size limit")]
    TooLarge(u64),
    #[error("invalid CID in section: {0}")]
    Cid(String),
    #[error("block {0} does not match its CID")]
    Corrupt(Cid),
    #[error("block {0} is not in the store")]
    Missing(Cid),
    #[error("cannot follow links of codec {0:#x}")]
    Codec(u64),
    #[error("malformed block {0}")]
    Malformed(Cid),
    #[error(transparent)]
    Store(#[from] BlockstoreError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

fn header(root: &Cid) -> Vec<u8> {
    // dag-cbor {"roots": [CID(root)], "version": 1}, keys in canonical order.
    let cid = root.to_bytes();
    let mut h = vec![0xa2, 0x65];
    h.extend_from_slice(b"roots");
    h.push(0x81);
    h.extend_from_slice(&[0xd8, 0x2a]); // tag 42
    let len = cid.len() + 1;
    if len < 24 {
        h.push(0x40 | len as u8);
    } else {
        h.extend_from_slice(&[0x58, len as u8]);
    }
    h.push(0x00);
    h.extend_from_slice(&cid);
    h.push(0x67);
    h.extend_from_slice(b"version");
    h.push(0x01);
    h
}

fn write_header(root: &Cid, out: &mut impl Write) -> std::io::Result<()> {
    let h = header(root);
    let mut buf = Vec::new();
    varint(&mut buf, h.len() as u64);
    out.write_all(&buf)?;
    out.write_all(&h)
}

fn write_section(cid: &Cid, data: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let cid_bytes = cid.to_bytes();
    let mut buf = Vec::new();
    varint(&mut buf, (cid_bytes.len() + data.len()) as u64);
    out.write_all(&buf)?;
    out.write_all(&cid_bytes)?;
    out.write_all(data)
}

/// A CARv1 holding one block, rooted at it (a client sends a manifest this way: the node pins
/// it once the ciphertext it links to is there).
pub fn single_block_car(cid: &Cid, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_header(cid, &mut out).and_then(|()| write_section(cid, data, &mut out));
    out
}

/// Writes the DAG under `root` as a CARv1: root first, then depth-first in link order, each
/// block once. dag-pb, raw and dag-json (manifests) blocks are followed.
pub fn export_car<S: Blockstore + ?Sized>(store: &S, root: &Cid, out: &mut impl Write) -> Result<u64, CarError> {
    write_header(root, out)?;
    let mut seen = HashSet::new();
    let mut stack = vec![*root];
    let mut blocks = 0;
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        let data = store.get(&cid)?.ok_or(CarError::Missing(cid))?;
        if !matches(&cid, &data) {
            return Err(CarError::Corrupt(cid));
        }
        write_section(&cid, &data, out)?;
        blocks += 1;
        let links = crate::decode::links(&cid, &data).map_err(|e| match e {
            crate::decode::LinkError::Codec(c) => CarError::Codec(c),
            _ => CarError::Malformed(cid),
        })?;
        stack.extend(links.into_iter().rev());
    }
    Ok(blocks)
}

fn read_varint(r: &mut impl Read) -> Result<Option<u64>, CarError> {
    let mut v = 0u64;
    for i in 0..10 {
        let mut b = [0u8; 1];
        if r.read(&mut b)? == 0 {
            return if i == 0 { Ok(None) } else { Err(CarError::Truncated("inside a varint")) };
        }
        v |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] < 0x80 {
            return Ok(Some(v));
        }
    }
    Err(CarError::Truncated("varint too long"))
}

/// Reads a CARv1 into `store`, verifying every block before it is stored. Returns its roots.
///
/// On an error the blocks already stored stay (each matches its CID, and none is pinned):
/// deleting them here could remove a block that a concurrent upload found present and relies
/// on. They go at the next garbage collection, as the leftovers of a failed upload do.
pub fn import_car<S: Blockstore + ?Sized>(store: &S, mut input: impl Read) -> Result<Vec<Cid>, CarError> {
    let input = &mut input;
    let hlen = read_varint(input)?.ok_or(CarError::Truncated("empty input"))?;
    if hlen == 0 || hlen > MAX_HEADER {
        return Err(CarError::Header(format!("header length {hlen}")));
    }
    let mut h = vec![0u8; hlen as usize];
    input.read_exact(&mut h).map_err(|_| CarError::Truncated("header"))?;
    let roots = parse_header(&h)?;
    while let Some(len) = read_varint(input)? {
        if len > MAX_BLOCK_SIZE as u64 + 128 {
            return Err(CarError::TooLarge(len));
        }
        let mut section = vec![0u8; len as usize];
        input.read_exact(&mut section).map_err(|_| CarError::Truncated("section"))?;
        let mut cursor = std::io::Cursor::new(&section[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::Cid(e.to_string()))?;
        let data = &section[cursor.position() as usize..];
        if !matches(&cid, data) {
            return Err(CarError::Corrupt(cid));
        }
        if !store.has(&cid)? {
            store.put(cid, Bytes::copy_from_slice(data))?;
        }
    }
    Ok(roots)
}

/// Extracts the roots from a dag-cbor CARv1 header (only the shapes CAR writers produce).
fn parse_header(h: &[u8]) -> Result<Vec<Cid>, CarError> {
    let bad = |m: &str| CarError::Header(m.to_string());
    // Find "version": 1.
    let version_at = h.windows(8).position(|w| w == b"\x67version").ok_or_else(|| bad("no version"))?;
    if h.get(version_at + 8) != Some(&0x01) {
        return Err(bad("version is not 1"));
    }
    let roots_at = h.windows(6).position(|w| w == b"\x65roots").ok_or_else(|| bad("no roots"))?;
    let mut p = roots_at + 6;
    let count = match h.get(p) {
        Some(b) if (0x80..0x98).contains(b) => (b - 0x80) as usize,
        _ => return Err(bad("roots is not a short array")),
    };
    p += 1;
    let mut roots = Vec::with_capacity(count);
    for _ in 0..count {
        if h.get(p..p + 2) != Some(&[0xd8, 0x2a]) {
            return Err(bad("root is not a CID (tag 42)"));
        }
        p += 2;
        let (len, skip) = match h.get(p) {
            Some(b) if (0x40..0x58).contains(b) => ((b - 0x40) as usize, 1),
            Some(0x58) => (*h.get(p + 1).ok_or_else(|| bad("short"))? as usize, 2),
            _ => return Err(bad("root CID is not a byte string")),
        };
        p += skip;
        let bytes = h.get(p..p + len).ok_or_else(|| bad("root CID truncated"))?;
        if bytes.first() != Some(&0x00) {
            return Err(bad("root CID lacks the 0x00 prefix"));
        }
        roots.push(Cid::try_from(&bytes[1..]).map_err(|e| CarError::Cid(e.to_string()))?);
        p += len;
    }
    Ok(roots)
}

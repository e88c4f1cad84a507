//! Bounded decoders for dag-pb nodes and UnixFS data, for blocks from anywhere (Kubo, Helia,
//! peers). Unknown fields are skipped; every length is checked against the input.

use cid::Cid;

/// Largest block accepted (Bitswap's limit).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;
/// Most links one node may carry.
pub const MAX_NODE_LINKS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("block of {0} bytes is larger than the 2 MiB limit")]
    TooLarge(usize),
    #[error("malformed protobuf: {0}")]
    Protobuf(&'static str),
    #[error("invalid CID in link: {0}")]
    Cid(String),
    #[error("node has more than {MAX_NODE_LINKS} links")]
    TooManyLinks,
    #[error("not a UnixFS file (type {0})")]
    NotAFile(u64),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Protobuf("truncated varint"))?;
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err(DecodeError::Protobuf("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::Protobuf("varint too long"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Protobuf("length overflows"))?;
        if len > self.buf.len() {
            return Err(DecodeError::Protobuf("length past the end"));
        }
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(b)
    }

    /// Next (field, wire type), or None at the end.
    fn key(&mut self) -> Result<Option<(u64, u8)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some((k >> 3, (k & 7) as u8)))
    }

    fn skip(&mut self, wire: u8) -> Result<(), DecodeError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            _ => Err(DecodeError::Protobuf("unsupported wire type")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Protobuf("truncated field"));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

/// A decoded dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    pub links: Vec<PbLink>,
    pub data: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    pub cid: Cid,
    pub name: Option<String>,
    pub tsize: Option<u64>,
}

pub fn decode_pb_node(block: &[u8]) -> Result<PbNode, DecodeError> {
    if block.len() > MAX_BLOCK_SIZE {
        return Err(DecodeError::TooLarge(block.len()));
    }
    let mut r = Reader { buf: block };
    let mut node = PbNode::default();
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (2, 2) => {
                if node.links.len() >= MAX_NODE_LINKS {
                    return Err(DecodeError::TooManyLinks);
                }
                node.links.push(decode_link(r.bytes()?)?);
            }
            (1, 2) => node.data = Some(r.bytes()?.to_vec()),
            (1 | 2, _) => return Err(DecodeError::Protobuf("wrong wire type for a PBNode field")),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(node)
}

fn decode_link(buf: &[u8]) -> Result<PbLink, DecodeError> {
    let mut r = Reader { buf };
    let (mut cid, mut name, mut tsize) = (None, None, None);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, 2) => cid = Some(Cid::try_from(r.bytes()?).map_err(|e| DecodeError::Cid(e.to_string()))?),
            (2, 2) => name = Some(String::from_utf8(r.bytes()?.to_vec()).map_err(|_| DecodeError::Protobuf("link name is not UTF-8"))?),
            (3, 0) => tsize = Some(r.varint()?),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(PbLink { cid: cid.ok_or(DecodeError::Protobuf("link without a hash"))?, name, tsize })
}

/// The parts of a UnixFS `Data` message a file reader needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnixFsFile {
    pub data: Vec<u8>,
    pub filesize: Option<u64>,
    pub blocksizes: Vec<u64>,
}

/// UnixFS node types (the `Type` field of the `Data` message).
pub mod unixfs_type {
    pub const RAW: u64 = 0;
    pub const DIRECTORY: u64 = 1;
    pub const FILE: u64 = 2;
    pub const METADATA: u64 = 3;
    pub const SYMLINK: u64 = 4;
    pub const HAMT_SHARD: u64 = 5;
}

/// The `Type` of a UnixFS `Data` message.
pub fn decode_unixfs_type(buf: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader { buf };
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, 0) => return r.varint(),
            (_, w) => r.skip(w)?,
        }
    }
    Err(DecodeError::Protobuf("UnixFS data without a type"))
}

/// Decodes UnixFS data of type File (2) or Raw (0).
pub fn decode_unixfs_file(buf: &[u8]) -> Result<UnixFsFile, DecodeError> {
    let mut r = Reader { buf };
    let mut f = UnixFsFile::default();
    let mut ty = None;
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, 0) => ty = Some(r.varint()?),
            (2, 2) => f.data = r.bytes()?.to_vec(),
            (3, 0) => f.filesize = Some(r.varint()?),
            (4, 0) => {
                if f.blocksizes.len() >= MAX_NODE_LINKS {
                    return Err(DecodeError::TooManyLinks);
                }
                f.blocksizes.push(r.varint()?)
            }
            (4, 2) => {
                // Packed encoding, as some writers use.
                let mut packed = Reader { buf: r.bytes()? };
                while !packed.buf.is_empty() {
                    if f.blocksizes.len() >= MAX_NODE_LINKS {
                        return Err(DecodeError::TooManyLinks);
                    }
                    f.blocksizes.push(packed.varint()?);
                }
            }
            (_, w) => r.skip(w)?,
        }
    }
    match ty {
        Some(0) | Some(2) => Ok(f),
        Some(t) => Err(DecodeError::NotAFile(t)),
        None => Err(DecodeError::Protobuf("UnixFS data without a type")),
    }
}

/// dag-pb multicodec.
pub const DAG_PB: u64 = 0x70;
/// raw multicodec.
pub const RAW: u64 = 0x55;
/// dag-json multicodec.
pub const DAG_JSON: u64 = 0x0129;

/// Why a block's links could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("cannot follow links of codec {0:#x}")]
    Codec(u64),
    #[error("malformed dag-pb: {0}")]
    Pb(#[from] DecodeError),
    #[error("malformed dag-json: {0}")]
    Json(String),
}

/// The CIDs a block links to, in order, for the codecs this store understands: dag-pb (its
/// links), raw (none) and dag-json (every `{"/": "<cid>"}`, depth-first, as manifests use).
pub fn links(cid: &Cid, block: &[u8]) -> Result<Vec<Cid>, LinkError> {
    match cid.codec() {
        RAW => Ok(Vec::new()),
        DAG_PB => Ok(decode_pb_node(block)?.links.into_iter().map(|l| l.cid).collect()),
        DAG_JSON => {
            if block.len() > MAX_BLOCK_SIZE {
                return Err(DecodeError::TooLarge(block.len()).into());
            }
            let v: serde_json::Value = serde_json::from_slice(block).map_err(|e| LinkError::Json(e.to_string()))?;
            let mut out = Vec::new();
            json_links(&v, &mut out, 0)?;
            Ok(out)
        }
        c => Err(LinkError::Codec(c)),
    }
}

fn json_links(v: &serde_json::Value, out: &mut Vec<Cid>, depth: usize) -> Result<(), LinkError> {
    use serde_json::Value;
    if depth > 64 {
        return Err(LinkError::Json("nested deeper than 64 levels".into()));
    }
    match v {
        Value::Object(m) if m.len() == 1 && m.get("/").is_some_and(Value::is_string) => {
            let s = m["/"].as_str().expect("checked");
            out.push(Cid::try_from(s).map_err(|e| LinkError::Json(format!("bad link {s:?}: {e}")))?);
        }
        Value::Object(m) => m.values().try_for_each(|x| json_links(x, out, depth + 1))?,
        Value::Array(a) => a.iter().try_for_each(|x| json_links(x, out, depth + 1))?,
        _ => {}
    }
    Ok(())
}

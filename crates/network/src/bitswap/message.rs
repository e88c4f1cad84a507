//! Bitswap 1.2 messages: the protobuf schema (field numbers from the spec,
//! `specs.ipfs.tech/bitswap-protocol`), length-prefixed framing with a size bound checked before
//! anything is buffered, and the CID prefixes blocks travel with.

use bytes::Bytes;
use cid::Cid;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use prost::Message as _;

use crate::store::{MAX_BLOCK_SIZE, SHA2_256};

/// Largest message read or written (Kubo, Helia and beetswap use the same bound).
pub const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Multicodec of dag-pb, the only codec a CIDv0 can have.
const DAG_PB: u64 = 0x70;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(message, optional, tag = "1")]
    pub wantlist: Option<Wantlist>,
    /// Bitswap 1.0.0 blocks (bare bytes, CIDv0 implied). Read but never written.
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub blocks: Vec<Bytes>,
    #[prost(message, repeated, tag = "3")]
    pub payload: Vec<Block>,
    #[prost(message, repeated, tag = "4")]
    pub block_presences: Vec<BlockPresence>,
    #[prost(int32, tag = "5")]
    pub pending_bytes: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Wantlist {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    /// Whether this list replaces the previous one rather than updating it.
    #[prost(bool, tag = "2")]
    pub full: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// The CID, as bytes.
    #[prost(bytes = "bytes", tag = "1")]
    pub block: Bytes,
    #[prost(int32, tag = "2")]
    pub priority: i32,
    #[prost(bool, tag = "3")]
    pub cancel: bool,
    #[prost(enumeration = "WantType", tag = "4")]
    pub want_type: i32,
    #[prost(bool, tag = "5")]
    pub send_dont_have: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WantType {
    Block = 0,
    Have = 1,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Block {
    /// CID version, codec, multihash code and digest length, as four varints.
    #[prost(bytes = "bytes", tag = "1")]
    pub prefix: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub data: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockPresence {
    #[prost(bytes = "bytes", tag = "1")]
    pub cid: Bytes,
    #[prost(enumeration = "PresenceType", tag = "2")]
    pub r#type: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PresenceType {
    Have = 0,
    DontHave = 1,
}

/// Why a message could not be read. `Closed` is the peer ending the stream between messages.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("stream closed")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("a message of {0} bytes (the limit is {MAX_MESSAGE_SIZE})")]
    TooLarge(u64),
    #[error("a malformed length prefix")]
    BadPrefix,
    #[error("a malformed message: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Reads one length-prefixed message. The declared length is checked against
/// [`MAX_MESSAGE_SIZE`] before a byte of the body is buffered.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Message, ReadError> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        match r.read(&mut b).await? {
            0 if i == 0 => return Err(ReadError::Closed),
            0 => return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            _ => {}
        }
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        if len > MAX_MESSAGE_SIZE as u64 {
            return Err(ReadError::TooLarge(len));
        }
        if b[0] & 0x80 == 0 {
            let mut body = vec![0u8; len as usize];
            r.read_exact(&mut body).await?;
            return Ok(Message::decode(Bytes::from(body))?);
        }
    }
    Err(ReadError::BadPrefix)
}

/// Writes one length-prefixed message and flushes it.
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, msg: &Message) -> std::io::Result<()> {
    write_with(w, msg, &mut Vec::new()).await
}

/// [`write`], encoding into `buf` (cleared first), so a writer can keep one buffer for all its
/// messages rather than allocate (and fault in) megabytes for each.
pub async fn write_with<W: AsyncWrite + Unpin>(w: &mut W, msg: &Message, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    buf.reserve(msg.encoded_len() + 5);
    msg.encode_length_delimited(buf).map_err(std::io::Error::other)?;
    w.write_all(buf).await?;
    w.flush().await
}

/// The prefix a block of `cid` travels with: version, codec, hash code and digest length, four
/// varints for CIDv0 too (`[0, 0x70, 0x12, 0x20]`), as go-cid and Helia write it.
pub fn prefix(cid: &Cid) -> Bytes {
    let mut out = Vec::with_capacity(8);
    for v in [cid.version() as u64, cid.codec(), cid.hash().code(), cid.hash().size() as u64] {
        let mut b = unsigned_varint::encode::u64_buffer();
        out.extend_from_slice(unsigned_varint::encode::u64(v, &mut b));
    }
    Bytes::from(out)
}

/// Why a received block is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("a malformed CID prefix")]
    BadPrefix,
    #[error("a block of {0} bytes (the limit is {MAX_BLOCK_SIZE})")]
    TooLarge(usize),
    #[error("hash function {0:#x} (only sha2-256 is accepted)")]
    UnsupportedHash(u64),
}

/// The CID a received block has: its prefix with the sha2-256 of its bytes. A block is named by
/// what its bytes hash to, so a block that is not what was wanted simply has another CID.
/// Hashing is the caller's cost (up to 2 MiB): call it off the async threads.
pub fn block_cid(prefix: &[u8], data: &[u8]) -> Result<Cid, BlockError> {
    use sha2::Digest;
    if data.len() > MAX_BLOCK_SIZE {
        return Err(BlockError::TooLarge(data.len()));
    }
    let mut rest = prefix;
    let mut next = || -> Result<u64, BlockError> {
        let (v, r) = unsigned_varint::decode::u64(rest).map_err(|_| BlockError::BadPrefix)?;
        rest = r;
        Ok(v)
    };
    let first = next()?;
    // Older peers wrote a CIDv0 prefix as the bare multihash header [0x12, 0x20].
    let (version, codec, code, size) =
        if first == SHA2_256 { (0, DAG_PB, SHA2_256, next()?) } else { (first, next()?, next()?, next()?) };
    if !rest.is_empty() {
        return Err(BlockError::BadPrefix);
    }
    if code != SHA2_256 {
        return Err(BlockError::UnsupportedHash(code));
    }
    if size != 32 {
        return Err(BlockError::BadPrefix);
    }
    let mh = cid::multihash::Multihash::<64>::wrap(SHA2_256, &sha2::Sha256::digest(data))
        .map_err(|_| BlockError::BadPrefix)?;
    match (version, codec) {
        (0, DAG_PB) => Ok(Cid::new_v0(mh).map_err(|_| BlockError::BadPrefix)?),
        (1, codec) => Ok(Cid::new_v1(codec, mh)),
        _ => Err(BlockError::BadPrefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> cid::multihash::Multihash<64> {
        use sha2::Digest;
        cid::multihash::Multihash::wrap(SHA2_256, &sha2::Sha256::digest(data)).unwrap()
    }

    #[test]
    fn prefixes_are_four_varints_and_name_the_block() {
        let v0 = Cid::new_v0(sha(b"node")).unwrap();
        assert_eq!(&prefix(&v0)[..], &[0, 0x70, 0x12, 0x20]);
        assert_eq!(block_cid(&prefix(&v0), b"node").unwrap(), v0);
        assert_eq!(block_cid(&[0x12, 0x20], b"node").unwrap(), v0, "the old CIDv0 form is read");
        let raw = Cid::new_v1(0x55, sha(b"leaf"));
        assert_eq!(&prefix(&raw)[..], &[1, 0x55, 0x12, 0x20]);
        assert_eq!(block_cid(&prefix(&raw), b"leaf").unwrap(), raw);
        // Other bytes under the same prefix are another block.
        assert_ne!(block_cid(&prefix(&raw), b"leaF").unwrap(), raw);
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert_eq!(block_cid(&[1, 0x55, 0x13, 0x40], b"x"), Err(BlockError::UnsupportedHash(0x13)));
        assert_eq!(block_cid(&[1, 0x55, 0x12, 0x10], b"x"), Err(BlockError::BadPrefix));
        assert_eq!(block_cid(&[1, 0x55, 0x12], b"x"), Err(BlockError::BadPrefix));
        assert_eq!(block_cid(&[1, 0x55, 0x12, 0x20, 0], b"x"), Err(BlockError::BadPrefix));
        assert_eq!(block_cid(&[0x80], b"x"), Err(BlockError::BadPrefix));
        assert_eq!(block_cid(&[2, 0x55, 0x12, 0x20], b"x"), Err(BlockError::BadPrefix));
        assert_eq!(block_cid(&[0, 0x55, 0x12, 0x20], b"x"), Err(BlockError::BadPrefix), "CIDv0 is dag-pb only");
        let big = vec![0u8; MAX_BLOCK_SIZE + 1];
        assert_eq!(block_cid(&[1, 0x55, 0x12, 0x20], &big), Err(BlockError::TooLarge(MAX_BLOCK_SIZE + 1)));
    }

    #[tokio::test]
    async fn messages_round_trip_and_oversized_ones_are_refused_before_buffering() {
        let msg = Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry {
                    block: Bytes::from(Cid::new_v1(0x55, sha(b"a")).to_bytes()),
                    priority: 1,
                    cancel: false,
                    want_type: WantType::Have as i32,
                    send_dont_have: true,
                }],
                full: true,
            }),
            payload: vec![Block { prefix: prefix(&Cid::new_v1(0x55, sha(b"b"))), data: Bytes::from_static(b"b") }],
            block_presences: vec![BlockPresence {
                cid: Bytes::from(Cid::new_v1(0x55, sha(b"c")).to_bytes()),
                r#type: PresenceType::DontHave as i32,
            }],
            ..Default::default()
        };
        let mut buf = Vec::new();
        write(&mut buf, &msg).await.unwrap();
        write(&mut buf, &Message::default()).await.unwrap();
        let mut r = futures::io::Cursor::new(buf);
        assert_eq!(read(&mut r).await.unwrap(), msg);
        assert_eq!(read(&mut r).await.unwrap(), Message::default());
        assert!(matches!(read(&mut r).await, Err(ReadError::Closed)));

        // 4 MiB + 1 declared: refused on the prefix alone.
        let mut huge = Vec::new();
        let mut b = unsigned_varint::encode::u64_buffer();
        huge.extend_from_slice(unsigned_varint::encode::u64(MAX_MESSAGE_SIZE as u64 + 1, &mut b));
        assert!(matches!(read(&mut futures::io::Cursor::new(huge)).await, Err(ReadError::TooLarge(_))));
        // A prefix that never ends, and a body cut short.
        let endless = vec![0x80u8; 12];
        assert!(matches!(
            read(&mut futures::io::Cursor::new(endless)).await,
            Err(ReadError::TooLarge(_) | ReadError::BadPrefix)
        ));
        assert!(matches!(read(&mut futures::io::Cursor::new(vec![5, 1, 2])).await, Err(ReadError::Io(_))));
        // Garbage that is not protobuf.
        assert!(matches!(
            read(&mut futures::io::Cursor::new(vec![3, 0xff, 0xff, 0xff])).await,
            Err(ReadError::Decode(_))
        ));
    }
}

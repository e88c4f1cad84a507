//! The manifest names an encrypted file: cipher, segment size, lengths, media type, the
//! ciphertext root, the nonce prefix, and how a reader gets the key (`keyRelease`: an object this
//! crate carries without reading; the client puts the chain's file id, key version and the file
//! key wrapped to the validator committee there). It is stored as one canonical dag-json block
//! (CIDv1, codec 0x0129); its CID is the file's content id.

use bytes::Bytes;
use cid::Cid;
use serde_json::{Map, Value, json};

use crate::{Blockstore, BlockstoreError, SEGMENT};

pub use crate::decode::DAG_JSON;
/// Largest manifest accepted.
pub const MAX_MANIFEST: usize = 64 * 1024;
pub const CIPHER: &str = "aes-256-gcm-stream";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub plaintext_len: u64,
    pub media_type: String,
    pub ciphertext: Cid,
    pub nonce_prefix: [u8; 7],
    /// How a reader gets the key, for the client to read (`None`: only whoever holds the key).
    /// Content knows nothing of the chain: it checks only that this is a JSON object.
    pub key_release: Option<Map<String, Value>>,
}

/// Most STREAM segments one file may have (the segment index is 32 bits).
pub const MAX_SEGMENTS: u64 = 1 << 32;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid: {0}")]
    Invalid(String),
    #[error("manifest {0} is not in the store")]
    Missing(Cid),
    #[error("block {0} is not a manifest (codec {1:#x})")]
    NotAManifest(Cid, u64),
    #[error(transparent)]
    Store(#[from] BlockstoreError),
}

impl Manifest {
    /// Canonical dag-json: keys sorted, no whitespace, links as {"/": cid}.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = json!({
            "version": 1,
            "cipher": CIPHER,
            "segmentSize": SEGMENT,
            "plaintextLength": self.plaintext_len,
            "mediaType": self.media_type,
            "ciphertext": { "/": self.ciphertext.to_string() },
            "noncePrefix": hex::encode(self.nonce_prefix),
        });
        if let (Some(release), Some(obj)) = (&self.key_release, v.as_object_mut()) {
            obj.insert("keyRelease".into(), Value::Object(release.clone()));
        }
        // serde_json's default map is a BTreeMap: keys come out sorted bytewise.
        serde_json::to_vec(&v).expect("a JSON value always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let bad = |m: &str| ManifestError::Invalid(m.to_string());
        if bytes.len() > MAX_MANIFEST {
            return Err(bad("larger than 64 KiB"));
        }
        let v: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        if v.get("version") != Some(&json!(1)) {
            return Err(bad("unsupported version"));
        }
        if v.get("cipher") != Some(&json!(CIPHER)) {
            return Err(bad("unsupported cipher"));
        }
        if v.get("segmentSize") != Some(&json!(SEGMENT)) {
            return Err(bad("unsupported segment size"));
        }
        // `Map` indexing panics on a missing key: every field goes through `get`.
        let field = |k: &str| v.get(k).unwrap_or(&Value::Null);
        let ciphertext = field("ciphertext").get("/").and_then(Value::as_str).ok_or_else(|| bad("no ciphertext link"))?;
        let prefix = hex::decode(field("noncePrefix").as_str().ok_or_else(|| bad("no nonce prefix"))?)
            .map_err(|_| bad("nonce prefix is not hex"))?;
        let plaintext_len = field("plaintextLength").as_u64().ok_or_else(|| bad("no plaintext length"))?;
        if plaintext_len.div_ceil(SEGMENT as u64) > MAX_SEGMENTS {
            return Err(bad("plaintext length needs more than 2^32 segments"));
        }
        let media_type = field("mediaType").as_str().unwrap_or("application/octet-stream");
        // It ends up in terminals (`file ls`) and headers: printable ASCII only.
        if media_type.len() > 255 || !media_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(bad("media type is not printable ASCII of at most 255 bytes"));
        }
        let key_release = match v.get("keyRelease") {
            None => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(_) => return Err(bad("keyRelease is not an object")),
        };
        Ok(Manifest {
            plaintext_len,
            media_type: media_type.to_string(),
            ciphertext: Cid::try_from(ciphertext).map_err(|e| ManifestError::Invalid(e.to_string()))?,
            nonce_prefix: prefix.try_into().map_err(|_| bad("nonce prefix is not 7 bytes"))?,
            key_release,
        })
    }

    /// Stores the manifest; returns its CID (the file's id).
    pub fn store<S: Blockstore + ?Sized>(&self, store: &S) -> Result<Cid, ManifestError> {
        let bytes = self.encode();
        let cid = block_cid(DAG_JSON, &bytes);
        store.put(cid, Bytes::from(bytes))?;
        Ok(cid)
    }

    /// Loads and checks a manifest by CID.
    pub fn load<S: Blockstore + ?Sized>(store: &S, cid: &Cid) -> Result<Self, ManifestError> {
        if cid.codec() != DAG_JSON {
            return Err(ManifestError::NotAManifest(*cid, cid.codec()));
        }
        let bytes = store.get(cid)?.ok_or(ManifestError::Missing(*cid))?;
        if !crate::blockstore::matches(cid, &bytes) {
            return Err(ManifestError::Invalid(format!("block {cid} does not match its CID")));
        }
        Self::decode(&bytes)
    }
}

pub(crate) fn block_cid(codec: u64, bytes: &[u8]) -> Cid {
    crate::importer::hash(codec, bytes, crate::CidVersion::V1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemBlockstore;

    #[test]
    fn round_trip_and_canonical_bytes() {
        let m = Manifest {
            plaintext_len: 12345,
            media_type: "video/mp4".into(),
            ciphertext: Cid::try_from("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku").unwrap(),
            nonce_prefix: [1, 2, 3, 4, 5, 6, 7],
            key_release: None,
        };
        let bytes = m.encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("{\"cipher\":\"aes-256-gcm-stream\",\"ciphertext\":{\"/\":\"bafk"), "{text}");
        assert!(!text.contains(' '));
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        let store = MemBlockstore::default();
        let cid = m.store(&store).unwrap();
        assert_eq!(cid.codec(), DAG_JSON);
        assert_eq!(Manifest::load(&store, &cid).unwrap(), m);
        // Same manifest, same id.
        assert_eq!(m.store(&store).unwrap(), cid);
        for bad in [&b"{}"[..], b"not json", &text.replace("\"version\":1", "\"version\":2").into_bytes()] {
            assert!(Manifest::decode(bad).is_err());
        }
        // Terminal escapes in the media type, impossible lengths, a key release that is not an
        // object: refused.
        for (from, to) in [
            ("\"video/mp4\"", "\"video/mp4\\u001b[2J\""),
            ("12345", "1152921504606846976"),
            ("\"version\":1", "\"keyRelease\":[1],\"version\":1"),
        ] {
            let b = text.replace(from, to);
            assert_ne!(b, text);
            assert!(Manifest::decode(b.as_bytes()).is_err(), "{b}");
        }
        // A key release rides along, in canonical order, and comes back as it went.
        let with = Manifest { key_release: Some(json!({"fileId": "0x01", "keyVersion": 1}).as_object().unwrap().clone()), ..m };
        let text = String::from_utf8(with.encode()).unwrap();
        assert!(text.contains(",\"keyRelease\":{\"fileId\":\"0x01\",\"keyVersion\":1},\"mediaType\""), "{text}");
        assert_eq!(Manifest::decode(text.as_bytes()).unwrap(), with);
    }
}

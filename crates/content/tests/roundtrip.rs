//! Import then export: whole files and random ranges, any tree shape; corrupt and malformed
//! input is an error, never a panic or wrong bytes.

use cid::Cid;
use ls_content::{
    Blockstore, CidVersion, ImportOptions, MemBlockstore, decode::decode_pb_node, file_size, import, read_all,
    read_range,
};
use proptest::prelude::*;

fn opts(v: bool, chunk: usize, links: usize) -> ImportOptions {
    ImportOptions { cid_version: if v { CidVersion::V1 } else { CidVersion::V0 }, chunk_size: chunk, max_links: links }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn import_export_round_trips(
        data in prop::collection::vec(any::<u8>(), 0..5_000),
        v1 in any::<bool>(),
        chunk in 1usize..64,
        links in 2usize..6,
        a in any::<u64>(),
        b in any::<u64>(),
    ) {
        let store = MemBlockstore::default();
        let got = import(&data[..], &store, opts(v1, chunk, links)).unwrap();
        prop_assert_eq!(file_size(&store, &got.root).unwrap(), data.len() as u64);
        let mut out = Vec::new();
        read_all(&store, &got.root, &mut out).unwrap();
        prop_assert_eq!(&out, &data);
        let len = data.len() as u64;
        let (s, e) = if len == 0 { (0, 0) } else { let (x, y) = (a % (len + 1), b % (len + 1)); (x.min(y), x.max(y)) };
        let mut part = Vec::new();
        read_range(&store, &got.root, s, e, &mut part).unwrap();
        prop_assert_eq!(&part[..], &data[s as usize..e as usize]);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_pb_node(&bytes);
        let _ = ls_content::decode::decode_unixfs_file(&bytes);
    }
}

#[test]
fn ranges_past_the_end_are_refused() {
    let store = MemBlockstore::default();
    let got = import(&[7u8; 1000][..], &store, opts(false, 100, 3)).unwrap();
    let mut out = Vec::new();
    assert!(read_range(&store, &got.root, 10, 1001, &mut out).is_err());
    assert!(read_range(&store, &got.root, 20, 10, &mut out).is_err());
    assert!(out.is_empty());
}

/// A store that returns someone else's bytes for one block.
struct Tampered {
    inner: MemBlockstore,
    victim: Cid,
}

impl Blockstore for Tampered {
    fn put(&self, cid: Cid, data: bytes::Bytes) -> Result<(), ls_content::BlockstoreError> {
        self.inner.put(cid, data)
    }
    fn get(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, ls_content::BlockstoreError> {
        let mut b = self.inner.get(cid)?;
        if *cid == self.victim
            && let Some(d) = b.as_mut()
        {
            let mut v = d.to_vec();
            v[0] ^= 1;
            *d = v.into();
        }
        Ok(b)
    }
    fn has(&self, cid: &Cid) -> Result<bool, ls_content::BlockstoreError> {
        self.inner.has(cid)
    }
    fn delete(&self, cid: &Cid) -> Result<bool, ls_content::BlockstoreError> {
        self.inner.delete(cid)
    }
    fn cids(&self) -> Result<Vec<Cid>, ls_content::BlockstoreError> {
        self.inner.cids()
    }
}

#[test]
fn a_corrupt_block_is_detected() {
    let inner = MemBlockstore::default();
    let got = import(&vec![3u8; 10_000][..], &inner, opts(true, 1000, 4)).unwrap();
    // Corrupt the first leaf under the root.
    let root_block = inner.get(&got.root).unwrap().unwrap();
    let first = decode_pb_node(&root_block).unwrap().links[0].cid;
    let store = Tampered { inner, victim: first };
    let err = read_all(&store, &got.root, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("does not match its CID"), "{err}");
    // A range that avoids the corrupt block still reads.
    let mut tail = Vec::new();
    read_range(&store, &got.root, 9_000, 10_000, &mut tail).unwrap();
    assert_eq!(tail, vec![3u8; 1000]);
}

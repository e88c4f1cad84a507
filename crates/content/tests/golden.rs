//! Same bytes in, same CID out as Kubo's `ipfs add`: the vectors in testdata/unixfs were made by
//! ipfs-unixfs-importer configured as Kubo (see its README).

use std::io::Read;

use ls_content::{CidVersion, ImportOptions, MemBlockstore, import};

/// byte(i) = (i * 31 + 7) % 251, as generate.mjs makes it.
struct Pattern {
    pos: u64,
    len: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = ((self.pos + i as u64) * 31 + 7).rem_euclid(251) as u8;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[test]
fn cids_match_kubo_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/unixfs/vectors.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 8);
    for vec in vectors {
        let size = vec["size"].as_u64().unwrap();
        for (version, key) in [(CidVersion::V0, "cid_v0"), (CidVersion::V1, "cid_v1_raw_leaves")] {
            let store = MemBlockstore::default();
            let opts = ImportOptions { cid_version: version, ..Default::default() };
            let got = import(Pattern { pos: 0, len: size }, &store, opts).unwrap();
            assert_eq!(got.root.to_string(), vec[key].as_str().unwrap(), "{} {key}", vec["name"]);
            assert_eq!(got.size, size);
        }
    }
}

#[test]
fn bad_options_are_refused() {
    let store = MemBlockstore::default();
    assert!(import(&b"x"[..], &store, ImportOptions { chunk_size: 0, ..Default::default() }).is_err());
    assert!(import(&b"x"[..], &store, ImportOptions { max_links: 1, ..Default::default() }).is_err());
    assert!(store.is_empty(), "nothing stored");
}

#[test]
fn a_failing_reader_is_an_error() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let err = import(Broken, &MemBlockstore::default(), ImportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("disk on fire"));
}

//! Same bytes in, same CID out as Kubo's `ipfs add`: the vectors in testdata/unixfs were made by
//! ipfs-unixfs-importer configured as Kubo (see its README).

use std::io::Read;

use ls_content::{CidVersion, DirEntry, ImportOptions, MemBlockstore, PathError, import, list_directory, put_directory, resolve_path};

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

/// Builds the directory of `files` (relative path → size) bottom-up, as `ipfs add -r` does.
fn build_dir(store: &MemBlockstore, name: &str, files: &[(String, u64)], version: CidVersion) -> DirEntry {
    let mut entries = Vec::new();
    let mut subdirs: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
    for (path, len) in files {
        match path.split_once('/') {
            Some((dir, rest)) => subdirs.entry(dir.to_string()).or_default().push((rest.to_string(), *len)),
            None => {
                let opts = ImportOptions { cid_version: version, ..Default::default() };
                let f = import(Pattern { pos: 0, len: *len }, store, opts).unwrap();
                entries.push(DirEntry { name: path.clone(), cid: f.root, tsize: f.dag_size });
            }
        }
    }
    for (dir, files) in subdirs {
        entries.push(build_dir(store, &dir, &files, version));
    }
    put_directory(store, name, entries, version).unwrap()
}

#[test]
fn directories_match_kubo_and_paths_resolve() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/unixfs/vectors.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let d = &v["directory"];
    let files: Vec<(String, u64)> =
        d["files"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    for (version, key) in [(CidVersion::V0, "cid_v0"), (CidVersion::V1, "cid_v1_raw_leaves")] {
        let store = MemBlockstore::default();
        let root = build_dir(&store, "dir", &files, version);
        let want = d[key].as_object().unwrap();
        assert_eq!(root.cid.to_string(), want["dir"].as_str().unwrap(), "{key}");
        // Every path the importer printed resolves to the same CID here.
        for (p, cid) in want {
            let rel = p.strip_prefix("dir").unwrap();
            assert_eq!(resolve_path(&store, &root.cid, rel).unwrap().to_string(), cid.as_str().unwrap(), "{key} {p}");
        }
        let names: Vec<String> = list_directory(&store, &root.cid).unwrap().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["a.txt", "b.bin", "sub"]);
        // Files are not directories; missing names and paths below files are errors.
        let file = resolve_path(&store, &root.cid, "/b.bin").unwrap();
        assert_eq!(list_directory(&store, &file).unwrap(), None);
        assert!(matches!(resolve_path(&store, &root.cid, "nope"), Err(PathError::NoSuchEntry { .. })));
        assert!(matches!(resolve_path(&store, &root.cid, "b.bin/x"), Err(PathError::NotADirectory(c)) if c == file));
    }
    let store = MemBlockstore::default();
    let e = DirEntry { name: "a/b".into(), cid: build_dir(&store, "x", &[], CidVersion::V0).cid, tsize: 4 };
    assert!(matches!(put_directory(&store, "d", vec![e.clone()], CidVersion::V0), Err(PathError::BadName(_))));
    let twice = vec![DirEntry { name: "a".into(), ..e.clone() }, DirEntry { name: "a".into(), ..e }];
    assert!(matches!(put_directory(&store, "d", twice, CidVersion::V0), Err(PathError::Duplicate(_))));
}

//! The fuzz targets (fuzz/, cargo-fuzz) on stable, in every test run: each committed corpus
//! input, plus deterministic mutations of real seeds (every truncation, byte flips, splices).
//! `LS_WRITE_FUZZ_SEEDS=1` writes the seeds into fuzz/corpus for cargo-fuzz to start from.

use ls_content::{
    CidVersion, DirEntry, FileKey, ImportOptions, Manifest, MemBlockstore, export_car, fuzzing, import, put_directory,
};

fn corpus_dir(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Real inputs: CARs of a file and a directory, their dag-pb blocks, a manifest.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let store = MemBlockstore::default();
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let opts = ImportOptions { chunk_size: 1000, max_links: 2, ..Default::default() };
    let file = import(&data[..], &store, opts).unwrap();
    let v1 = import(&data[..500], &store, ImportOptions { cid_version: CidVersion::V1, chunk_size: 200, ..Default::default() }).unwrap();
    let dir = put_directory(
        &store,
        "d",
        vec![
            DirEntry { name: "a".into(), cid: file.root, tsize: file.dag_size },
            DirEntry { name: "b".into(), cid: v1.root, tsize: v1.dag_size },
        ],
        CidVersion::V0,
    )
    .unwrap();
    let mut out = Vec::new();
    for root in [file.root, dir.cid] {
        let mut car = Vec::new();
        export_car(&store, &root, &mut car).unwrap();
        out.push(("car", car));
    }
    for cid in [file.root, v1.root, dir.cid] {
        out.push(("dag_pb", ls_content::Blockstore::get(&store, &cid).unwrap().unwrap().to_vec()));
    }
    let (_, prefix) = FileKey::generate(&mut rand::rng());
    let m = Manifest { plaintext_len: 3000, media_type: "video/mp4".into(), ciphertext: file.root, nonce_prefix: prefix, key_release: serde_json::json!({"fileId": "0x01", "keyVersion": 1, "wrappedKey": "0x00ff"}).as_object().cloned() };
    out.push(("manifest", m.encode()));
    out
}

fn run(target: &str, input: &[u8]) {
    match target {
        "car" => fuzzing::car(input),
        "dag_pb" => fuzzing::dag_pb(input),
        "manifest" => fuzzing::manifest(input),
        other => panic!("unknown target {other}"),
    }
}

#[test]
fn fuzz_targets_hold_on_corpus_and_mutations() {
    let seeds = seeds();
    for target in ["car", "dag_pb", "manifest"] {
        let dir = corpus_dir(target);
        let mine: Vec<Vec<u8>> = seeds.iter().filter(|(t, _)| *t == target).map(|(_, b)| b.clone()).collect();
        if std::env::var_os("LS_WRITE_FUZZ_SEEDS").is_some() {
            ls_testkit::write_fuzz_seeds(&dir, &mine);
        }
        // A missing or empty corpus fails inside; the count is of corpus files, apart from the
        // mutations, so that mutations alone cannot meet it.
        let files = ls_testkit::replay_fuzz_target(&dir, &mine, |input| run(target, input));
        assert!(files >= mine.len(), "corpus {} holds {files} inputs, fewer than its {} seeds", dir.display(), mine.len());
    }
}

//! One suite, run against every Blockstore.


use ls_content::{Blockstore, BlockstoreError, FsBlockstore, ImportOptions, MemBlockstore, import, read_all};

fn suite(store: &dyn Blockstore) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let got = import(&data[..], store, ImportOptions::default()).unwrap();
    assert!(store.has(&got.root).unwrap());
    let mut out = Vec::new();
    read_all(store, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
    // Enumeration names every block exactly once.
    let mut cids = store.cids().unwrap();
    cids.sort_by_key(|c| c.to_bytes());
    let before = cids.len();
    cids.dedup();
    assert_eq!(cids.len(), before);
    assert_eq!(cids.len(), 3, "two leaves and a root");
    assert!(cids.contains(&got.root));
    // Idempotent puts.
    let block = store.get(&got.root).unwrap().unwrap();
    assert_eq!(store.size(&got.root).unwrap(), Some(block.len() as u64));
    store.put(got.root, block.clone()).unwrap();
    assert_eq!(store.get(&got.root).unwrap().unwrap(), block);
    // Delete.
    assert!(store.delete(&got.root).unwrap());
    assert!(!store.delete(&got.root).unwrap());
    assert!(!store.has(&got.root).unwrap());
    assert_eq!(store.get(&got.root).unwrap(), None);
    assert_eq!(store.size(&got.root).unwrap(), None);
}

#[test]
fn mem_blockstore() {
    suite(&MemBlockstore::default());
}

#[test]
fn cached_blockstore() {
    suite(&ls_content::CachedBlockstore::new(MemBlockstore::default(), 1 << 20));
}

#[test]
fn fs_blockstore() {
    let dir = tempfile::tempdir().unwrap();
    suite(&FsBlockstore::open(dir.path()).unwrap());
}

#[test]
fn fs_blockstore_detects_corruption_on_disk_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlockstore::open(dir.path()).unwrap();
    let got = import(&b"hello lightstreams"[..], &store, ImportOptions::default()).unwrap();
    // A leftover temp file from a crash is cleared on open, and blocks persist.
    std::fs::write(dir.path().join("tmp").join("partial"), b"half a blo").unwrap();
    drop(store);
    let store = FsBlockstore::open(dir.path()).unwrap();
    assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none());
    assert!(store.get(&got.root).unwrap().is_some());
    // Flip a byte on disk: reported, never returned.
    let file = ls_testkit::files_under(&dir.path().join("blocks")).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[3] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    assert!(matches!(store.get(&got.root), Err(BlockstoreError::Corrupt(c)) if c == got.root));
}

#[test]
fn fs_blockstore_batches_are_all_or_nothing_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let store = FsBlockstore::open(dir.path()).unwrap();
    let got = import(&data[..], &store, ImportOptions::default()).unwrap();
    // Readable before the flush, from the pending files.
    let mut out = Vec::new();
    read_all(&store, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
    assert!(ls_testkit::files_under(&dir.path().join("blocks")).is_empty(), "nothing in place before a flush");
    let root_len = store.get(&got.root).unwrap().unwrap().len() as u64;
    assert_eq!(store.size(&got.root).unwrap(), Some(root_len), "pending blocks have a size");
    // A crash now (no flush, no drop): on reopen the batch is gone whole.
    std::mem::forget(store);
    let store = FsBlockstore::open(dir.path()).unwrap();
    assert!(!store.has(&got.root).unwrap());
    assert!(store.cids().unwrap().is_empty());

    let got = import(&data[..], &store, ImportOptions::default()).unwrap();
    store.flush().unwrap();
    std::mem::forget(store);
    let store = FsBlockstore::open(dir.path()).unwrap();
    assert_eq!(store.cids().unwrap().len(), 4);
    let mut out = Vec::new();
    read_all(&store, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn fs_blockstore_flushes_in_the_background_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = ls_testkit::noise(0x2545_f491_4f6c_dd1d, 1_500_000);
    // 1 KiB chunks: well over FLUSH_EVERY blocks, so several batches flush while importing.
    let opts = ImportOptions { chunk_size: 1024, ..Default::default() };
    let store = FsBlockstore::open(dir.path()).unwrap();
    let got = import(&data[..], &store, opts).unwrap();
    assert!(ls_testkit::files_under(&dir.path().join("blocks")).len() >= ls_content::FLUSH_EVERY, "earlier batches are in place");
    store.flush().unwrap();
    let blocks = store.cids().unwrap().len();
    assert!(blocks > 1465, "{blocks}");
    std::mem::forget(store);
    let store = FsBlockstore::open(dir.path()).unwrap();
    assert_eq!(store.cids().unwrap().len(), blocks);
    let mut out = Vec::new();
    read_all(&store, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn fs_blockstore_puts_of_the_same_block_at_once_leave_one_file() {
    // The network and a reader both store a fetched block; racing puts must not orphan files
    // in tmp/ that nothing lists or deletes.
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(FsBlockstore::open(dir.path()).unwrap());
    let data = bytes::Bytes::from(vec![7u8; 100_000]);
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&data[..]);
    let cid = cid::Cid::new_v1(0x55, cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap());
    for _ in 0..20 {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, d) = (store.clone(), data.clone());
                std::thread::spawn(move || s.put(cid, d).unwrap())
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let files = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert!(files <= 1, "{files} files in tmp/ for one pending block");
        assert!(store.delete(&cid).unwrap());
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "delete leaves nothing behind");
    }
}

//! One suite, run against every Blockstore.


use std::path::Path;

use bytes::Bytes;
use cid::Cid;
use ls_content::{
    Blockstore, BlockstoreError, ImportOptions, MemBlockstore, MemPins, PackBlockstore, PackOptions, Repo, import, pack_files, read_all,
};

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
fn pack_blockstore() {
    let dir = tempfile::tempdir().unwrap();
    suite(&PackBlockstore::open(dir.path()).unwrap());
}

/// The files under `dir` as a process killed right now leaves them (redb and the packs are
/// copied as they are, without the store's cooperation): reopening the copy is a restart.
fn killed(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(dir, copy.path());
    copy
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn cid_of(data: &[u8]) -> Cid {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(data);
    Cid::new_v1(0x55, cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap())
}

fn packed_bytes(dir: &Path) -> u64 {
    pack_files(dir).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum()
}

#[test]
fn pack_blockstore_detects_corruption_on_disk_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackBlockstore::open(dir.path()).unwrap();
    let got = import(&b"hello lightstreams"[..], &store, ImportOptions::default()).unwrap();
    drop(store);
    let store = PackBlockstore::open(dir.path()).unwrap();
    assert!(store.get(&got.root).unwrap().is_some());
    // Flip a byte on disk: reported, never returned.
    let pack = pack_files(dir.path()).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[3] ^= 0xff;
    std::fs::write(&pack, bytes).unwrap();
    assert!(matches!(store.get(&got.root), Err(BlockstoreError::Corrupt(c)) if c == got.root));
    // A pack cut short (damage from outside) is corruption too, not an I/O error.
    std::fs::OpenOptions::new().write(true).open(&pack).unwrap().set_len(2).unwrap();
    assert!(matches!(store.get(&got.root), Err(BlockstoreError::Corrupt(c)) if c == got.root));
}

#[test]
fn pack_blockstore_batches_are_all_or_nothing_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let store = PackBlockstore::open(dir.path()).unwrap();
    let got = import(&data[..], &store, ImportOptions::default()).unwrap();
    // Readable before the flush.
    let mut out = Vec::new();
    read_all(&store, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
    let root_len = store.get(&got.root).unwrap().unwrap().len() as u64;
    assert_eq!(store.size(&got.root).unwrap(), Some(root_len), "pending blocks have a size");
    assert!(packed_bytes(dir.path()) >= data.len() as u64, "the bytes are in a pack already");
    // Killed now: on restart the batch is gone whole, and so are its bytes.
    let crash = killed(dir.path());
    let after = PackBlockstore::open(crash.path()).unwrap();
    assert!(!after.has(&got.root).unwrap());
    assert!(after.cids().unwrap().is_empty());
    assert_eq!(packed_bytes(crash.path()), 0, "unindexed bytes are cut off");
    // The store goes on working there.
    let again = import(&data[..], &after, ImportOptions::default()).unwrap();
    after.flush().unwrap();
    assert_eq!(after.cids().unwrap().len(), 4);

    store.flush().unwrap();
    let crash = killed(dir.path());
    let after = PackBlockstore::open(crash.path()).unwrap();
    assert_eq!(after.cids().unwrap().len(), 4);
    let mut out = Vec::new();
    read_all(&after, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
    assert_eq!(got.root, again.root);
}

#[test]
fn pack_blockstore_cuts_a_torn_write_and_drops_unknown_packs_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackBlockstore::open(dir.path()).unwrap();
    let one = Bytes::from(vec![1u8; 5000]);
    store.put(cid_of(&one), one.clone()).unwrap();
    store.flush().unwrap();
    drop(store);
    // What a crash mid-batch leaves: half a block after the committed end, and a pack the
    // index never heard of.
    let pack = pack_files(dir.path()).into_iter().next().unwrap();
    let committed = std::fs::metadata(&pack).unwrap().len();
    std::fs::OpenOptions::new().append(true).open(&pack).and_then(|mut f| std::io::Write::write_all(&mut f, &[9u8; 777])).unwrap();
    std::fs::write(dir.path().join("packs").join("00000099.pack"), [3u8; 100]).unwrap();
    let store = PackBlockstore::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&pack).unwrap().len(), committed);
    assert_eq!(pack_files(dir.path()), vec![pack.clone()]);
    assert_eq!(store.get(&cid_of(&one)).unwrap(), Some(one));
    // Appends go on after the committed end.
    let two = Bytes::from(vec![2u8; 3000]);
    store.put(cid_of(&two), two.clone()).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = PackBlockstore::open(dir.path()).unwrap();
    assert_eq!(store.get(&cid_of(&two)).unwrap(), Some(two));
    assert_eq!(packed_bytes(dir.path()), committed + 3000);
}

#[test]
fn pack_blockstore_flushes_in_the_background_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = ls_testkit::noise(0x2545_f491_4f6c_dd1d, 1_500_000);
    // 1 KiB chunks: well over FLUSH_EVERY blocks, so several batches flush while importing.
    let opts = ImportOptions { chunk_size: 1024, ..Default::default() };
    let store = PackBlockstore::open(dir.path()).unwrap();
    let got = import(&data[..], &store, opts).unwrap();
    // Earlier batches are durable without a flush: a crash now keeps them.
    let early = PackBlockstore::open(killed(dir.path()).path()).unwrap().cids().unwrap().len();
    assert!(early >= ls_content::FLUSH_EVERY, "{early} blocks durable");
    store.flush().unwrap();
    let blocks = store.cids().unwrap().len();
    assert!(blocks > 1465, "{blocks}");
    let crash = killed(dir.path());
    let after = PackBlockstore::open(crash.path()).unwrap();
    assert_eq!(after.cids().unwrap().len(), blocks);
    let mut out = Vec::new();
    read_all(&after, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn pack_blockstore_puts_of_the_same_block_at_once_keep_one_and_leave_nothing_after_delete() {
    // The network and a reader both store a fetched block.
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(PackBlockstore::open(dir.path()).unwrap());
    let data = Bytes::from(vec![7u8; 100_000]);
    let cid = cid_of(&data);
    for _ in 0..20 {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, d) = (store.clone(), data.clone());
                std::thread::spawn(move || s.put(cid, d).unwrap())
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(store.cids().unwrap(), vec![cid]);
        assert!(store.delete(&cid).unwrap());
        assert!(!store.has(&cid).unwrap());
    }
    store.compact().unwrap();
    assert_eq!(store.disk_bytes(), 0, "deleted and compacted: nothing left on disk");
}

#[test]
fn gc_gives_the_space_of_removed_blocks_back_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let opts = PackOptions { pack_size: 200_000 };
    let store = std::sync::Arc::new(PackBlockstore::open_with(dir.path(), opts).unwrap());
    let repo = Repo::new(store.clone(), MemPins::default());
    let small = ImportOptions { chunk_size: 10_000, ..Default::default() };
    let (keep, drop_me) = (ls_testkit::noise(1, 600_000), ls_testkit::noise(2, 1_400_000));
    let add = |data: &[u8], pin: bool| {
        repo.add(pin, |s| -> Result<Cid, Box<dyn std::error::Error>> { Ok(import(data, s, small)?.root) }).unwrap()
    };
    let kept = add(&keep, true);
    add(&drop_me, false);
    let before = packed_bytes(dir.path());
    assert!(before >= 2_000_000, "{before}");
    let report = repo.gc().unwrap();
    assert!(report.freed_bytes >= 1_400_000, "{report:?}");
    // Packs at least half dead were rewritten: what remains is at most about twice what is kept.
    let after = packed_bytes(dir.path());
    assert!(after < 2 * 620_000, "{after} bytes of packs for 600 kB kept");
    assert_eq!(after, store.disk_bytes());
    let check = |s: &PackBlockstore| {
        let mut out = Vec::new();
        read_all(s, &kept, &mut out).unwrap();
        assert_eq!(out, keep);
    };
    check(&store);
    // The moves are durable: a restart right after reads the same.
    let crash = killed(dir.path());
    check(&PackBlockstore::open_with(crash.path(), opts).unwrap());
    drop(repo);
    drop(std::sync::Arc::into_inner(store).unwrap());
    let store = PackBlockstore::open_with(dir.path(), opts).unwrap();
    check(&store);
    assert_eq!(store.cids().unwrap().len(), reachable_count(&store, kept));
}

fn reachable_count(store: &PackBlockstore, root: Cid) -> usize {
    ls_content::reachable(store, [root]).unwrap().len()
}

#[test]
fn reads_stay_whole_while_packs_are_compacted_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(PackBlockstore::open_with(dir.path(), PackOptions { pack_size: 64 << 10 }).unwrap());
    let small = ImportOptions { chunk_size: 4096, ..Default::default() };
    let keep = ls_testkit::noise(3, 300_000);
    let root = import(&keep[..], store.as_ref(), small).unwrap().root;
    let kept = ls_content::reachable(store.as_ref(), [root]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (store, stop, kept) = (store.clone(), stop.clone(), kept.clone());
        std::thread::spawn(move || {
            for round in 0..30u64 {
                let junk = ls_testkit::noise(100 + round, 200_000);
                import(&junk[..], store.as_ref(), ImportOptions { chunk_size: 4096, ..Default::default() }).unwrap();
                for cid in store.cids().unwrap() {
                    if !kept.contains(&cid) {
                        store.delete(&cid).unwrap();
                    }
                }
                store.compact().unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut reads = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) && reads < 10_000 {
        let mut out = Vec::new();
        read_all(store.as_ref(), &root, &mut out).unwrap();
        assert_eq!(out, keep);
        reads += 1;
    }
    churn.join().unwrap();
    assert!(reads > 0);
    assert!(store.disk_bytes() < 2 * 320_000 + (64 << 10), "{} bytes on disk", store.disk_bytes());
}

#[test]
fn a_store_in_the_one_file_per_block_layout_moves_into_packs() {
    let dir = tempfile::tempdir().unwrap();
    let data = ls_testkit::noise(9, 700_000);
    let mem = MemBlockstore::default();
    let got = import(&data[..], &mem, ImportOptions::default()).unwrap();
    // The earlier layout: blocks/<two chars before the last of the CID>/<cid>, and tmp/.
    for cid in mem.cids().unwrap() {
        let name = cid.to_string();
        let shard = dir.path().join("blocks").join(&name[name.len() - 3..name.len() - 1]);
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::write(shard.join(&name), mem.get(&cid).unwrap().unwrap()).unwrap();
    }
    // One damaged block: left out (a peer can supply it), not moved as it is.
    let bad = Bytes::from_static(b"bit rot");
    let bad_cid = cid_of(b"what it was");
    let name = bad_cid.to_string();
    let shard = dir.path().join("blocks").join(&name[name.len() - 3..name.len() - 1]);
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(&name), &bad).unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::write(dir.path().join("tmp").join("123-4"), b"half").unwrap();

    let store = PackBlockstore::open(dir.path()).unwrap();
    assert_eq!(store.migrated(), mem.len());
    assert!(!dir.path().join("blocks").exists() && !dir.path().join("tmp").exists());
    assert!(!store.has(&bad_cid).unwrap());
    let mut out = Vec::new();
    read_all(&store, &got.root, &mut out).unwrap();
    assert_eq!(out, data);
    drop(store);
    let store = PackBlockstore::open(dir.path()).unwrap();
    assert_eq!(store.migrated(), 0);
    assert_eq!(store.cids().unwrap().len(), mem.len());
}

#[test]
fn a_delete_is_durable_after_a_flush_and_garbage_at_worst_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackBlockstore::open(dir.path()).unwrap();
    let (a, b) = (Bytes::from(vec![1u8; 1000]), Bytes::from(vec![2u8; 1000]));
    store.put(cid_of(&a), a.clone()).unwrap();
    store.put(cid_of(&b), b.clone()).unwrap();
    store.flush().unwrap();
    assert!(store.delete(&cid_of(&a)).unwrap());
    // Killed before anything made the delete durable: the block is back, whole.
    let early = PackBlockstore::open(killed(dir.path()).path()).unwrap();
    assert_eq!(early.get(&cid_of(&a)).unwrap(), Some(a.clone()));
    store.flush().unwrap();
    let later = PackBlockstore::open(killed(dir.path()).path()).unwrap();
    assert!(!later.has(&cid_of(&a)).unwrap());
    assert_eq!(later.get(&cid_of(&b)).unwrap(), Some(b));
}

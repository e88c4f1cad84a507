//! Pins, garbage collection and the read cache.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use cid::Cid;
use ls_content::{
    Blockstore, BlockstoreError, CachedBlockstore, FileKey, FsPins, ImportOptions, Manifest, MemBlockstore, PackBlockstore,
    MemPins, Repo, RepoError, decrypt_range, encrypt_import, import, read_all,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Pseudo-random bytes (no two chunks alike, so blocks do not deduplicate by accident).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    ls_testkit::noise(0x9e37_79b9_7f4a_7c15 ^ u64::from(seed), n)
}

fn add(repo: &Repo, data: &[u8], pin: bool) -> Cid {
    repo.add(pin, |s| -> Result<Cid, Error> { Ok(import(data, s, ImportOptions::default())?.root) }).unwrap()
}

fn mem_repo() -> Repo {
    Repo::new(Arc::new(MemBlockstore::default()) as Arc<dyn Blockstore>, MemPins::default())
}

#[test]
fn trim_removes_unpinned_blocks_oldest_first_down_to_the_quota() {
    let repo = mem_repo();
    let pinned = add(&repo, &bytes(600_000, 1), true);
    let loose = |seed| {
        let data = bytes(300_000, seed);
        let cid = Cid::new_v1(0x55, cid::multihash::Multihash::<64>::wrap(0x12, &sha256(&data)).unwrap());
        repo.blocks().put(cid, Bytes::from(data)).unwrap();
        cid
    };
    // `old` is unpinned and unknown to the cache order (left by an earlier run); a, b, c were
    // fetched in that order, then `a` was read again: least recently used first is b, c, a.
    let (old, a, b, c) = (loose(10), loose(11), loose(12), loose(13));
    let recent = [b, c, a];
    // Under the quota: nothing goes.
    assert!(repo.trim(4 * 300_000, &recent).unwrap().removed.is_empty());
    // Room for two: the unknown block and the least recently used go, in that order.
    let report = repo.trim(2 * 300_000, &recent).unwrap();
    assert_eq!(report.removed, vec![old, b]);
    assert_eq!(report.freed_bytes, 600_000);
    assert!(repo.blocks().has(&c).unwrap() && repo.blocks().has(&a).unwrap());
    // A quota of zero empties the cache and never touches a pinned block.
    let report = repo.trim(0, &recent).unwrap();
    assert_eq!(report.removed, vec![c, a]);
    let mut out = Vec::new();
    read_all(repo.blocks().as_ref(), &pinned, &mut out).unwrap();
    assert_eq!(out, bytes(600_000, 1));
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

#[test]
fn gc_keeps_what_pins_reach_and_removes_the_rest() {
    let repo = mem_repo();
    let kept = add(&repo, &bytes(600_000, 1), true);
    let loose = add(&repo, &bytes(600_000, 2), false);
    let total = repo.blocks().cids().unwrap().len();
    assert_eq!(total, 8, "two files of three leaves and a root");

    let report = repo.gc().unwrap();
    assert_eq!(report.kept, 4);
    assert_eq!(report.removed.len(), 4);
    assert!(report.removed.contains(&loose));
    assert!(report.freed_bytes > 600_000);
    let mut out = Vec::new();
    read_all(repo.blocks().as_ref(), &kept, &mut out).unwrap();
    assert_eq!(out, bytes(600_000, 1));
    assert!(!repo.blocks().has(&loose).unwrap());

    // A second collection has nothing to do; unpinning frees the rest.
    assert!(repo.gc().unwrap().removed.is_empty());
    repo.unpin(&kept).unwrap();
    assert!(matches!(repo.unpin(&kept), Err(RepoError::NotPinned(c)) if c == kept));
    assert_eq!(repo.gc().unwrap().removed.len(), 4);
    assert!(repo.blocks().cids().unwrap().is_empty());
}

#[test]
fn blocks_shared_with_a_pinned_file_survive() {
    let repo = mem_repo();
    let data = bytes(300_000, 3);
    let a = add(&repo, &data, true);
    // Same first chunk, different tail: the first leaf is shared.
    let mut other = data.clone();
    other.extend_from_slice(b"tail");
    add(&repo, &other, false);
    repo.gc().unwrap();
    let mut out = Vec::new();
    read_all(repo.blocks().as_ref(), &a, &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn pin_needs_every_block_and_gc_refuses_an_incomplete_pin() {
    let repo = mem_repo();
    let root = add(&repo, &bytes(600_000, 4), false);
    let loose = add(&repo, &bytes(10, 5), false);
    let leaf = repo.blocks().cids().unwrap().into_iter().find(|c| *c != root && *c != loose).unwrap();
    let block = repo.blocks().get(&leaf).unwrap().unwrap();
    repo.blocks().delete(&leaf).unwrap();
    assert!(matches!(repo.pin(&root), Err(RepoError::Missing(c)) if c == leaf));
    assert!(!repo.is_pinned(&root).unwrap());

    // Pinned while complete, then damaged: collection removes nothing and names the block.
    repo.blocks().put(leaf, block).unwrap();
    repo.pin(&root).unwrap();
    repo.blocks().delete(&leaf).unwrap();
    assert!(matches!(repo.gc(), Err(RepoError::Missing(c)) if c == leaf));
    assert!(repo.blocks().has(&loose).unwrap(), "nothing removed when the mark phase failed");
}

/// A store like the node's `FetchingBlockstore`: it has what is local, and `get` fetches the
/// rest, handing it to the reader at once and writing it a moment later (here: never); only
/// `flush` makes writes durable.
#[derive(Default)]
struct WriteBehind {
    local: MemBlockstore,
    remote: MemBlockstore,
    durable: parking_lot::Mutex<std::collections::HashSet<Cid>>,
}

impl Blockstore for WriteBehind {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        self.local.put(cid, data)
    }
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        Ok(self.local.get(cid)?.or(self.remote.get(cid)?))
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        self.local.has(cid)
    }
    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        self.local.delete(cid)
    }
    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        self.local.cids()
    }
    fn flush(&self) -> Result<(), BlockstoreError> {
        self.durable.lock().extend(self.local.cids()?);
        Ok(())
    }
}

#[test]
fn pinning_a_dag_held_elsewhere_fetches_every_block_raw_leaves_too() {
    for cid_version in [ls_content::CidVersion::V0, ls_content::CidVersion::V1] {
        let remote = MemBlockstore::default();
        let options = ImportOptions { cid_version, ..Default::default() };
        let root = import(&bytes(700_000, 9)[..], &remote, options).unwrap().root;
        let expected = remote.cids().unwrap().len();
        assert!(expected > 2, "a root over several leaves");
        let store = Arc::new(WriteBehind { remote, ..Default::default() });
        let repo = Repo::new(store.clone() as Arc<dyn Blockstore>, MemPins::default());
        repo.pin(&root).unwrap_or_else(|e| panic!("{cid_version:?}: {e}"));
        assert!(repo.is_pinned(&root).unwrap());
        assert_eq!(store.local.len(), expected, "{cid_version:?}: every block is here now");
        // And it is complete for collection, which only checks raw leaves are there.
        assert_eq!(repo.gc().unwrap().removed.len(), 0);
    }
}

#[test]
fn a_pin_exists_only_once_every_block_is_stored_here_and_durable() {
    let remote = MemBlockstore::default();
    let root = import(&bytes(700_000, 4)[..], &remote, ImportOptions::default()).unwrap().root;
    let all: std::collections::HashSet<Cid> = remote.cids().unwrap().into_iter().collect();
    let store = Arc::new(WriteBehind { remote, ..Default::default() });
    let repo = Repo::new(store.clone() as Arc<dyn Blockstore>, MemPins::default());
    repo.pin(&root).unwrap();
    assert_eq!(*store.durable.lock(), all, "every block written here and flushed before the pin");
    assert_eq!(repo.gc().unwrap().removed.len(), 0);
}

#[test]
fn a_manifest_pin_keeps_its_ciphertext() {
    let repo = mem_repo();
    let plain = bytes(700_000, 6);
    let (key, prefix) = FileKey::generate(&mut rand::rng());
    let id = repo
        .add(true, |s| -> Result<Cid, Error> {
            let f = encrypt_import(&plain[..], s, &key, prefix)?;
            let m = Manifest {
                plaintext_len: f.plaintext_len,
                media_type: "video/mp4".into(),
                ciphertext: f.ciphertext.root,
                nonce_prefix: prefix,
                key_release: None,
            };
            Ok(m.store(s)?)
        })
        .unwrap();
    add(&repo, b"garbage", false);
    assert_eq!(repo.gc().unwrap().removed.len(), 1);
    let m = Manifest::load(repo.blocks().as_ref(), &id).unwrap();
    let mut out = Vec::new();
    decrypt_range(repo.blocks().as_ref(), &m.ciphertext, m.plaintext_len, &key, prefix, 0, m.plaintext_len, &mut out).unwrap();
    assert_eq!(out, plain);
}

#[test]
fn gc_waits_for_an_add_in_progress() {
    let repo = Arc::new(mem_repo());
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let gc_done = Arc::new(AtomicBool::new(false));
    let adder = {
        let repo = repo.clone();
        let gc_done = gc_done.clone();
        std::thread::spawn(move || {
            repo.add(true, |s| -> Result<Cid, Error> {
                let root = import(&bytes(600_000, 7)[..], s, ImportOptions::default())?.root;
                entered_tx.send(()).unwrap();
                // The blocks are written and not yet pinned: a collection now must wait.
                std::thread::sleep(Duration::from_millis(200));
                assert!(!gc_done.load(Ordering::SeqCst), "gc ran while an add held unpinned blocks");
                Ok(root)
            })
            .unwrap()
        })
    };
    entered_rx.recv().unwrap();
    let report = repo.gc().unwrap();
    gc_done.store(true, Ordering::SeqCst);
    let root = adder.join().unwrap();
    assert!(report.removed.is_empty());
    let mut out = Vec::new();
    read_all(repo.blocks().as_ref(), &root, &mut out).unwrap();
    assert_eq!(out, bytes(600_000, 7));
}

#[test]
fn fs_pins_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Repo::new(
            Arc::new(PackBlockstore::open(dir.path().join("blocks")).unwrap()) as Arc<dyn Blockstore>,
            FsPins::open(dir.path().join("pins")).unwrap(),
        )
    };
    let root = add(&open(), &bytes(300_000, 8), true);
    let loose = add(&open(), &bytes(300_000, 9), false);
    let repo = open();
    assert_eq!(repo.pins().unwrap(), vec![root]);
    repo.gc().unwrap();
    assert!(repo.blocks().has(&root).unwrap());
    assert!(!repo.blocks().has(&loose).unwrap());
    // Stray files in the pin directory are not pins.
    std::fs::write(dir.path().join("pins").join("not-a-cid"), b"").unwrap();
    drop(repo);
    assert_eq!(open().pins().unwrap(), vec![root]);
}

/// Counts reads that reach the store behind the cache.
#[derive(Default)]
struct Counting {
    inner: MemBlockstore,
    gets: AtomicUsize,
}

impl Blockstore for Counting {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        self.inner.put(cid, data)
    }
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        self.inner.has(cid)
    }
    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        self.inner.delete(cid)
    }
    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        self.inner.cids()
    }
}

#[test]
fn the_read_cache_stays_within_its_budget() {
    let budget = 600 * 1024;
    let cache = CachedBlockstore::new(Counting::default(), budget);
    let root = import(&bytes(4 << 20, 10)[..], &cache, ImportOptions { cid_version: ls_content::CidVersion::V1, ..Default::default() })
        .unwrap()
        .root;
    assert_eq!(cache.cached_bytes(), 0, "writes do not fill the cache");
    let mut out = Vec::new();
    read_all(&cache, &root, &mut out).unwrap();
    assert_eq!(out, bytes(4 << 20, 10));
    assert!(cache.cached_bytes() <= budget, "{} > {budget}", cache.cached_bytes());
    assert!(cache.cached_bytes() >= 2 * 256 * 1024, "the most recent leaves stay");

    // The last leaf is hot: reading it again does not reach the store.
    let leaves = ls_content::decode::decode_pb_node(&cache.get(&root).unwrap().unwrap()).unwrap().links;
    let last = leaves.last().unwrap().cid;
    cache.get(&last).unwrap().unwrap();
    let before = cache_gets(&cache);
    cache.get(&last).unwrap().unwrap();
    assert_eq!(cache_gets(&cache), before);

    // Deleting invalidates.
    cache.delete(&last).unwrap();
    assert_eq!(cache.get(&last).unwrap(), None);
    assert!(!cache.has(&last).unwrap());
}

fn cache_gets(c: &CachedBlockstore<Counting>) -> usize {
    c.inner().gets.load(Ordering::SeqCst)
}

/// A CAR reader that stops at `gate` until told to go on, then ends (a truncated CAR).
struct GatedCar {
    data: Vec<u8>,
    pos: usize,
    reached: Option<std::sync::mpsc::Sender<()>>,
    go: std::sync::mpsc::Receiver<()>,
}

impl std::io::Read for GatedCar {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.data.len() {
            if let Some(reached) = self.reached.take() {
                reached.send(()).unwrap();
                self.go.recv_timeout(Duration::from_secs(30)).unwrap();
            }
            return Ok(0);
        }
        let n = out.len().min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_failed_car_import_keeps_blocks_a_concurrent_upload_relies_on() {
    let repo = Arc::new(mem_repo());
    let data = bytes(600_000, 9);
    // The same file as a CAR made elsewhere, cut in its last block: the import stores the root
    // and the first leaves, then fails.
    let other = MemBlockstore::default();
    let root = import(&data[..], &other, ImportOptions::default()).unwrap().root;
    let mut car = Vec::new();
    ls_content::export_car(&other, &root, &mut car).unwrap();
    car.truncate(car.len() - 1000);
    let (reached_tx, reached_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel();
    let importer = {
        let repo = repo.clone();
        let reader = GatedCar { data: car, pos: 0, reached: Some(reached_tx), go: go_rx };
        std::thread::spawn(move || repo.add_roots(true, |s| -> Result<Vec<Cid>, Error> { Ok(ls_content::import_car(s, reader)?) }))
    };
    reached_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    // The CAR's blocks are in; an upload of the same bytes now finds them present.
    let uploaded = repo
        .add(true, |s| -> Result<Cid, Error> {
            let r = import(&data[..], s, ImportOptions::default())?.root;
            go_tx.send(()).unwrap();
            assert!(importer.join().unwrap().is_err(), "the cut CAR is refused");
            Ok(r)
        })
        .unwrap();
    assert_eq!(uploaded, root);
    assert_eq!(repo.pins().unwrap(), vec![root], "only the upload's root is pinned");
    let mut out = Vec::new();
    read_all(repo.blocks().as_ref(), &root, &mut out).unwrap();
    assert_eq!(out, data, "the upload's DAG is whole");
    let report = repo.gc().unwrap();
    assert!(report.removed.is_empty(), "every block belongs to the pinned upload: {report:?}");
}

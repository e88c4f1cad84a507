//! Blocks packed into append-only files, with an index in redb.
//!
//! One file per block (Kubo's flatfs, and this store until now) costs an inode, a rename and a
//! directory entry per 256 KiB; on ext4 that was half of what a reader fetching from peers
//! spent. Here a `put` appends the block to the current pack (`packs/<id>.pack`, sealed at
//! [`PackOptions::pack_size`]) and the index (`index.redb`: CID → pack, offset, length) learns
//! of it when the batch is made durable.
//!
//! **Durability.** Every [`FLUSH_EVERY`] puts a background thread syncs the packs written to,
//! then commits the batch's index entries together with each pack's durable length, while the
//! writer goes on; [`Blockstore::flush`] waits for that and does the same for the rest. A crash
//! loses the unflushed batch whole: on open every pack is cut back to its committed length and a
//! pack the index does not know is removed. A block is readable as soon as `put` returns.
//!
//! **Deletion and space.** `delete` drops the index entry (made durable by the next commit; a
//! delete lost in a crash only brings garbage back for the next collection). The bytes stay in
//! their pack until [`Blockstore::compact`] rewrites every pack at least half dead, moving its
//! live blocks to the current pack, and removes it. [`crate::Repo::gc`] and
//! [`crate::Repo::trim`] compact after they delete, so the packs hold at most about twice the
//! live bytes.
//!
//! **Integrity.** Every read re-hashes the bytes: a block damaged on disk (or whose pack is
//! gone) is reported as [`BlockstoreError::Corrupt`], never returned.
//!
//! A store in the old one-file-per-block layout (`blocks/<shard>/<cid>`) is moved into packs
//! when opened; a crash during the move repeats it on the next open.

use std::{
    collections::{BTreeMap, HashMap},
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use cid::Cid;
use parking_lot::{Mutex, RwLock};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::{
    Blockstore, BlockstoreError,
    blockstore::{cids_in, matches},
};

/// CID bytes → (pack, offset, length).
const INDEX: TableDefinition<&[u8], (u32, u64, u32)> = TableDefinition::new("index");
/// (pack, offset) → CID bytes: what a pack holds, in order, for compaction.
const BY_PACK: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("by_pack");
/// Pack → (durable length, live bytes).
const PACKS: TableDefinition<u32, (u64, u64)> = TableDefinition::new("packs");

/// Puts between background flushes: bounds what a crash can lose and what waits unindexed.
pub const FLUSH_EVERY: usize = 256;

/// How a [`PackBlockstore`] lays out its files.
#[derive(Debug, Clone, Copy)]
pub struct PackOptions {
    /// A pack is sealed, and a new one started, once it holds this many bytes.
    pub pack_size: u64,
}

impl Default for PackOptions {
    fn default() -> Self {
        Self { pack_size: 256 << 20 }
    }
}

/// Where a block's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    pack: u32,
    offset: u64,
    len: u32,
}

impl Loc {
    fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// A pack's committed figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PackStat {
    /// Bytes known durable; anything after them is cut off on open.
    len: u64,
    /// Bytes of indexed blocks.
    live: u64,
}

impl PackStat {
    /// At least half of it is dead.
    fn worth_compacting(&self) -> bool {
        self.len > 0 && (self.len - self.live.min(self.len)) * 2 >= self.len
    }
}

/// Pending blocks taken for a commit, and the durable length of each pack synced for it.
type Synced = (Vec<(Cid, Loc)>, BTreeMap<u32, u64>);

/// What puts share.
#[derive(Debug, Default)]
struct Writer {
    /// The pack being appended to, if one is open.
    current: Option<(u32, Arc<File>)>,
    /// Its length including reservations.
    len: u64,
    /// The next pack's id.
    next: u32,
    /// Written blocks not yet in the index.
    pending: HashMap<Cid, Loc>,
    /// Packs written to since they were last synced, with the end of their last write.
    dirty: BTreeMap<u32, u64>,
    /// Writes reserved and not finished, per pack.
    writing: HashMap<u32, u32>,
}

/// The committed state; holding its lock makes one commit (flush, delete, compaction) at a time.
#[derive(Debug, Default)]
struct Committed {
    packs: BTreeMap<u32, PackStat>,
    /// A delete was committed without a sync since the last durable commit.
    undurable: bool,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    options: PackOptions,
    db: redb::Database,
    writer: Mutex<Writer>,
    committed: Mutex<Committed>,
    files: RwLock<HashMap<u32, Arc<File>>>,
}

/// Blocks in append-only pack files under a directory, indexed in redb (see the module docs).
#[derive(Debug)]
pub struct PackBlockstore {
    shared: Arc<Shared>,
    /// The batch being flushed in the background, if any.
    background: Mutex<Option<std::thread::JoinHandle<Result<(), BlockstoreError>>>>,
    migrated: usize,
}

fn index_err(e: impl Into<redb::Error>) -> BlockstoreError {
    BlockstoreError::Io(std::io::Error::other(format!("block index: {}", e.into())))
}

fn pack_name(id: u32) -> String {
    format!("{id:08}.pack")
}

impl PackBlockstore {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlockstoreError> {
        Self::open_with(root, PackOptions::default())
    }

    pub fn open_with(root: impl Into<PathBuf>, options: PackOptions) -> Result<Self, BlockstoreError> {
        let root = root.into();
        let packs_dir = root.join("packs");
        std::fs::create_dir_all(&packs_dir)?;
        let db = redb::Database::builder().set_cache_size(32 << 20).create(root.join("index.redb")).map_err(index_err)?;
        let txn = db.begin_write().map_err(index_err)?;
        txn.open_table(INDEX).map_err(index_err)?;
        txn.open_table(BY_PACK).map_err(index_err)?;
        let packs: BTreeMap<u32, PackStat> = txn
            .open_table(PACKS)
            .map_err(index_err)?
            .iter()
            .map_err(index_err)?
            .map(|r| r.map(|(k, v)| (k.value(), PackStat { len: v.value().0, live: v.value().1 })))
            .collect::<Result<_, _>>()
            .map_err(index_err)?;
        txn.commit().map_err(index_err)?;

        // Cut every pack back to what the index knows; a pack it does not know is garbage (a
        // batch that never committed, or a compaction that had committed its move).
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(&packs_dir)? {
            let path = entry?.path();
            let id = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".pack")).and_then(|n| n.parse::<u32>().ok());
            match id.and_then(|id| packs.get(&id).map(|s| (id, s))) {
                Some((id, stat)) => {
                    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
                    if file.metadata()?.len() > stat.len {
                        file.set_len(stat.len)?;
                        file.sync_all()?;
                    }
                    files.insert(id, Arc::new(file));
                }
                None => std::fs::remove_file(&path)?,
            }
        }
        File::open(&packs_dir)?.sync_all()?;
        // Appends go on in the newest pack if it has room and is still there.
        let mut writer = Writer { next: packs.keys().next_back().map_or(1, |id| id + 1), ..Default::default() };
        if let Some((&id, stat)) = packs.iter().next_back()
            && stat.len < options.pack_size
            && let Some(f) = files.get(&id)
        {
            writer.current = Some((id, f.clone()));
            writer.len = stat.len;
        }
        let shared = Shared {
            root,
            options,
            db,
            writer: Mutex::new(writer),
            committed: Mutex::new(Committed { packs, undurable: false }),
            files: RwLock::new(files),
        };
        let mut store = Self { shared: Arc::new(shared), background: Default::default(), migrated: 0 };
        store.migrated = store.migrate_flat()?;
        Ok(store)
    }

    /// Blocks moved in from the one-file-per-block layout when this store was opened.
    pub fn migrated(&self) -> usize {
        self.migrated
    }

    /// Bytes the pack files take on disk (live and dead).
    pub fn disk_bytes(&self) -> u64 {
        self.shared.files.read().values().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum()
    }

    /// Moves blocks from `blocks/<shard>/<cid>` (the earlier layout) into packs, then removes
    /// that tree. Blocks that fail their hash are left out (a peer can supply them again).
    fn migrate_flat(&self) -> Result<usize, BlockstoreError> {
        let flat = self.shared.root.join("blocks");
        if !flat.is_dir() {
            return Ok(0);
        }
        let mut moved = 0;
        for shard in std::fs::read_dir(&flat)? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for cid in cids_in(&shard)? {
                let data = std::fs::read(shard.join(cid.to_string()))?;
                if matches(&cid, &data) {
                    self.put(cid, data.into())?;
                    moved += 1;
                }
            }
        }
        self.flush()?;
        std::fs::remove_dir_all(&flat)?;
        let tmp = self.shared.root.join("tmp");
        if tmp.is_dir() {
            std::fs::remove_dir_all(tmp)?;
        }
        Ok(moved)
    }

    fn join_background(&self) -> Result<(), BlockstoreError> {
        self.background.lock().take().map_or(Ok(()), join_flush)
    }

    fn locate(&self, cid: &Cid) -> Result<Option<Loc>, BlockstoreError> {
        if let Some(loc) = self.shared.writer.lock().pending.get(cid) {
            return Ok(Some(*loc));
        }
        self.shared.indexed(cid)
    }
}

fn join_flush(h: std::thread::JoinHandle<Result<(), BlockstoreError>>) -> Result<(), BlockstoreError> {
    h.join().unwrap_or_else(|_| Err(std::io::Error::other("block flush thread panicked").into()))
}

impl Shared {
    fn indexed(&self, cid: &Cid) -> Result<Option<Loc>, BlockstoreError> {
        let txn = self.db.begin_read().map_err(index_err)?;
        let table = txn.open_table(INDEX).map_err(index_err)?;
        Ok(table.get(&cid.to_bytes()[..]).map_err(index_err)?.map(|v| {
            let (pack, offset, len) = v.value();
            Loc { pack, offset, len }
        }))
    }

    /// Room for `len` bytes in the current pack (a new one if it is full or none is open).
    fn reserve(&self, w: &mut Writer, len: u32) -> Result<(Arc<File>, Loc), BlockstoreError> {
        if w.current.is_none() || w.len >= self.options.pack_size {
            let id = w.next;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(self.root.join("packs").join(pack_name(id)))?;
            let file = Arc::new(file);
            self.files.write().insert(id, file.clone());
            w.current = Some((id, file));
            w.len = 0;
            w.next = id + 1;
        }
        let (id, file) = w.current.clone().expect("a pack was just opened");
        let loc = Loc { pack: id, offset: w.len, len };
        w.len += u64::from(len);
        *w.writing.entry(id).or_default() += 1;
        Ok((file, loc))
    }

    /// Appends `data` to the current pack; the caller records where.
    fn append(&self, data: &[u8]) -> Result<Loc, BlockstoreError> {
        let len = u32::try_from(data.len()).map_err(|_| std::io::Error::other("a block of 4 GiB or more"))?;
        let (file, loc) = self.reserve(&mut self.writer.lock(), len)?;
        let written = file.write_all_at(data, loc.offset);
        let mut w = self.writer.lock();
        if let Some(n) = w.writing.get_mut(&loc.pack) {
            *n -= 1;
            if *n == 0 {
                w.writing.remove(&loc.pack);
            }
        }
        written?;
        let end = w.dirty.entry(loc.pack).or_default();
        *end = (*end).max(loc.end());
        Ok(loc)
    }

    fn read(&self, cid: &Cid, loc: Loc) -> Result<Option<Vec<u8>>, BlockstoreError> {
        let Some(file) = self.files.read().get(&loc.pack).cloned() else { return Ok(None) };
        let mut buf = vec![0u8; loc.len as usize];
        match file.read_exact_at(&mut buf, loc.offset) {
            Ok(()) => Ok(Some(buf)),
            // The pack is shorter than the index says: damaged outside our control.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(BlockstoreError::Corrupt(*cid)),
            Err(e) => Err(e.into()),
        }
    }

    /// Syncs the packs written to and takes the pending blocks; returns them with each synced
    /// pack's durable length. The directory is synced too when a pack the index does not know
    /// yet (`known`) was written to: its name must be durable before the index names it. On
    /// failure everything is put back for the next try.
    fn sync_pending(&self, known: &BTreeMap<u32, PackStat>) -> Result<Synced, BlockstoreError> {
        let (batch, dirty) = {
            let mut w = self.writer.lock();
            let batch: Vec<(Cid, Loc)> = w.pending.iter().map(|(c, l)| (*c, *l)).collect();
            (batch, std::mem::take(&mut w.dirty))
        };
        let synced = (|| {
            let files = self.files.read();
            for id in dirty.keys() {
                if let Some(f) = files.get(id) {
                    f.sync_data()?;
                }
            }
            drop(files);
            if dirty.keys().any(|id| !known.contains_key(id)) {
                File::open(self.root.join("packs"))?.sync_all()?;
            }
            Ok::<(), std::io::Error>(())
        })();
        if let Err(e) = synced {
            self.restore_dirty(dirty);
            return Err(e.into());
        }
        Ok((batch, dirty))
    }

    /// Puts back lengths [`Shared::sync_pending`] took when what followed failed: the next
    /// commit records them.
    fn restore_dirty(&self, dirty: BTreeMap<u32, u64>) {
        let mut w = self.writer.lock();
        for (id, end) in dirty {
            let e = w.dirty.entry(id).or_default();
            *e = (*e).max(end);
        }
    }

    /// One durable index commit: `body` writes its entries and adjusts the pack figures (each
    /// synced pack's length already raised to `dirty`'s), then the figures are written and the
    /// transaction committed. On failure nothing changes, and `dirty` goes back for the next.
    fn commit_with(
        &self,
        c: &mut Committed,
        dirty: BTreeMap<u32, u64>,
        body: impl FnOnce(&redb::WriteTransaction, &mut BTreeMap<u32, PackStat>) -> Result<(), BlockstoreError>,
    ) -> Result<(), BlockstoreError> {
        let mut packs = c.packs.clone();
        let committed = (|| {
            let txn = self.db.begin_write().map_err(index_err)?;
            grow(&mut packs, &dirty);
            body(&txn, &mut packs)?;
            write_packs(&txn, &c.packs, &packs)?;
            txn.commit().map_err(index_err)
        })();
        if let Err(e) = committed {
            self.restore_dirty(dirty);
            return Err(e);
        }
        c.packs = packs;
        c.undurable = false;
        Ok(())
    }

    /// Indexes every pending block, durably. `c` is the held commit lock.
    fn commit_pending(&self, c: &mut Committed) -> Result<(), BlockstoreError> {
        let (batch, dirty) = self.sync_pending(&c.packs)?;
        if batch.is_empty() && dirty.is_empty() && !c.undurable {
            return Ok(());
        }
        self.commit_with(c, dirty, |txn, packs| {
            let mut index = txn.open_table(INDEX).map_err(index_err)?;
            let mut by_pack = txn.open_table(BY_PACK).map_err(index_err)?;
            for (cid, loc) in &batch {
                let key = cid.to_bytes();
                // Two puts of one block racing a flush: the first indexed copy stays.
                if index.get(&key[..]).map_err(index_err)?.is_some() {
                    continue;
                }
                index.insert(&key[..], (loc.pack, loc.offset, loc.len)).map_err(index_err)?;
                by_pack.insert((loc.pack, loc.offset), &key[..]).map_err(index_err)?;
                packs.entry(loc.pack).or_default().live += u64::from(loc.len);
            }
            Ok(())
        })?;
        let mut w = self.writer.lock();
        for (cid, loc) in batch {
            if w.pending.get(&cid) == Some(&loc) {
                w.pending.remove(&cid);
            }
        }
        Ok(())
    }

    fn flush_pending(&self) -> Result<(), BlockstoreError> {
        self.commit_pending(&mut self.committed.lock())
    }
}

/// Raises each synced pack's durable length to the end of its last write.
fn grow(packs: &mut BTreeMap<u32, PackStat>, dirty: &BTreeMap<u32, u64>) {
    for (id, end) in dirty {
        let s = packs.entry(*id).or_default();
        s.len = s.len.max(*end);
    }
}

/// Writes the rows of `new` that differ from `old`, and removes those it no longer has.
fn write_packs(txn: &redb::WriteTransaction, old: &BTreeMap<u32, PackStat>, new: &BTreeMap<u32, PackStat>) -> Result<(), BlockstoreError> {
    let mut table = txn.open_table(PACKS).map_err(index_err)?;
    for (id, s) in new {
        if old.get(id) != Some(s) {
            table.insert(*id, (s.len, s.live)).map_err(index_err)?;
        }
    }
    for id in old.keys().filter(|id| !new.contains_key(id)) {
        table.remove(*id).map_err(index_err)?;
    }
    Ok(())
}

impl Blockstore for PackBlockstore {
    fn put(&self, cid: Cid, data: Bytes) -> Result<(), BlockstoreError> {
        if self.has(&cid)? {
            return Ok(());
        }
        let loc = self.shared.append(&data)?;
        let waiting = {
            let mut w = self.shared.writer.lock();
            // Another put of the same block got there first: ours is dead bytes in the pack.
            if w.pending.contains_key(&cid) {
                return Ok(());
            }
            w.pending.insert(cid, loc);
            w.pending.len()
        };
        if waiting >= FLUSH_EVERY {
            let mut bg = self.background.lock();
            let busy = bg.as_ref().is_some_and(|h| !h.is_finished());
            // One batch in flight; if the writer gets a whole batch ahead of it, wait.
            if !busy || waiting >= 2 * FLUSH_EVERY {
                bg.take().map_or(Ok(()), join_flush)?;
                let shared = self.shared.clone();
                *bg = Some(std::thread::Builder::new().name("block-flush".into()).spawn(move || shared.flush_pending())?);
            }
        }
        Ok(())
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        let Some(loc) = self.locate(cid)? else { return Ok(None) };
        let data = match self.shared.read(cid, loc)? {
            Some(d) => d,
            // A compaction moved it and removed the pack in between: look again, once.
            None => match self.locate(cid)? {
                Some(moved) if moved != loc => self.shared.read(cid, moved)?.ok_or(BlockstoreError::Corrupt(*cid))?,
                Some(_) => return Err(BlockstoreError::Corrupt(*cid)),
                None => return Ok(None),
            },
        };
        if !matches(cid, &data) {
            return Err(BlockstoreError::Corrupt(*cid));
        }
        Ok(Some(data.into()))
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.locate(cid)?.is_some())
    }

    fn delete(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        let mut c = self.shared.committed.lock();
        if self.shared.writer.lock().pending.remove(cid).is_some() {
            return Ok(true);
        }
        let mut packs = c.packs.clone();
        let mut txn = self.shared.db.begin_write().map_err(index_err)?;
        // Made durable by the next flush; lost in a crash, it only brings garbage back.
        txn.set_durability(redb::Durability::None).map_err(index_err)?;
        let removed = {
            let mut index = txn.open_table(INDEX).map_err(index_err)?;
            let old = index.remove(&cid.to_bytes()[..]).map_err(index_err)?.map(|v| v.value());
            if let Some((pack, offset, len)) = old {
                txn.open_table(BY_PACK).map_err(index_err)?.remove((pack, offset)).map_err(index_err)?;
                let s = packs.entry(pack).or_default();
                s.live = s.live.saturating_sub(u64::from(len));
                write_packs(&txn, &c.packs, &packs)?;
            }
            old.is_some()
        };
        if !removed {
            return Ok(false);
        }
        txn.commit().map_err(index_err)?;
        c.packs = packs;
        c.undurable = true;
        Ok(true)
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        let mut out: Vec<Cid> = self.shared.writer.lock().pending.keys().copied().collect();
        let txn = self.shared.db.begin_read().map_err(index_err)?;
        for entry in txn.open_table(INDEX).map_err(index_err)?.iter().map_err(index_err)? {
            let (k, _) = entry.map_err(index_err)?;
            if let Ok(cid) = Cid::try_from(k.value()) {
                out.push(cid);
            }
        }
        out.sort_unstable_by_key(|c| c.to_bytes());
        out.dedup();
        Ok(out)
    }

    fn size(&self, cid: &Cid) -> Result<Option<u64>, BlockstoreError> {
        Ok(self.locate(cid)?.map(|l| u64::from(l.len)))
    }

    fn flush(&self) -> Result<(), BlockstoreError> {
        self.join_background()?;
        self.shared.flush_pending()
    }

    fn compact(&self) -> Result<u64, BlockstoreError> {
        self.join_background()?;
        let sh = &self.shared;
        let mut c = sh.committed.lock();
        // What is pending is indexed first: a pack's blocks are moved from its index entries.
        sh.commit_pending(&mut c)?;
        // The current pack too, when it is half dead: new puts go to a fresh pack from here on
        // (one still being written to waits for the next compaction).
        {
            let mut w = sh.writer.lock();
            if let Some((id, _)) = &w.current
                && c.packs.get(id).is_some_and(PackStat::worth_compacting)
            {
                w.current = None;
            }
        }
        let candidates: Vec<u32> = {
            let w = sh.writer.lock();
            let busy = |id: &u32| {
                w.current.as_ref().is_some_and(|(cur, _)| cur == id) || w.writing.contains_key(id) || w.pending.values().any(|l| l.pack == *id)
            };
            c.packs.iter().filter(|(id, s)| s.worth_compacting() && !busy(id)).map(|(id, _)| *id).collect()
        };
        let mut freed = 0;
        for id in candidates {
            freed += self.compact_pack(&mut c, id)?;
        }
        Ok(freed)
    }
}

impl PackBlockstore {
    /// Moves pack `id`'s live blocks to the current pack and removes it; returns the bytes
    /// given back.
    fn compact_pack(&self, c: &mut Committed, id: u32) -> Result<u64, BlockstoreError> {
        let sh = &self.shared;
        let Some(before) = c.packs.get(&id).copied() else { return Ok(0) };
        let live: Vec<(u64, Cid, u32)> = {
            let txn = sh.db.begin_read().map_err(index_err)?;
            let by_pack = txn.open_table(BY_PACK).map_err(index_err)?;
            let index = txn.open_table(INDEX).map_err(index_err)?;
            let mut out = Vec::new();
            for entry in by_pack.range((id, 0)..=(id, u64::MAX)).map_err(index_err)? {
                let (k, v) = entry.map_err(index_err)?;
                let Ok(cid) = Cid::try_from(v.value()) else { continue };
                if let Some(loc) = index.get(v.value()).map_err(index_err)? {
                    out.push((k.value().1, cid, loc.value().2));
                }
            }
            out
        };
        // Copy each live block (a damaged one is dropped: it could only ever answer Corrupt).
        let mut moved = Vec::with_capacity(live.len());
        for (offset, cid, len) in &live {
            let old = Loc { pack: id, offset: *offset, len: *len };
            let data = match sh.read(cid, old) {
                Ok(Some(d)) if matches(cid, &d) => d,
                Ok(_) | Err(BlockstoreError::Corrupt(_)) => {
                    moved.push((*cid, old, None));
                    continue;
                }
                Err(e) => return Err(e),
            };
            moved.push((*cid, old, Some(sh.append(&data)?)));
        }
        let (_, dirty) = sh.sync_pending(&c.packs)?;
        sh.commit_with(c, dirty, |txn, packs| {
            let mut index = txn.open_table(INDEX).map_err(index_err)?;
            let mut by_pack = txn.open_table(BY_PACK).map_err(index_err)?;
            for (cid, old, new) in &moved {
                let key = cid.to_bytes();
                by_pack.remove((old.pack, old.offset)).map_err(index_err)?;
                match new {
                    Some(new) => {
                        index.insert(&key[..], (new.pack, new.offset, new.len)).map_err(index_err)?;
                        by_pack.insert((new.pack, new.offset), &key[..]).map_err(index_err)?;
                        packs.entry(new.pack).or_default().live += u64::from(new.len);
                    }
                    None => {
                        index.remove(&key[..]).map_err(index_err)?;
                    }
                }
            }
            packs.remove(&id);
            Ok(())
        })?;
        // Readers holding the file finish their read; later ones look the block up again.
        sh.files.write().remove(&id);
        std::fs::remove_file(sh.root.join("packs").join(pack_name(id)))?;
        let copied: u64 = moved.iter().filter_map(|(_, _, n)| n.map(|n| u64::from(n.len))).sum();
        Ok(before.len.saturating_sub(copied))
    }
}

impl Drop for PackBlockstore {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            // Nothing to return it to: the batch is lost whole, as in a crash.
            eprintln!("block store: flushing on close failed: {e}");
        }
    }
}

/// The pack files under `root` (for tests and tools that look at the disk).
pub fn pack_files(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("packs"))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pack")).collect())
        .unwrap_or_default();
    out.sort();
    out
}

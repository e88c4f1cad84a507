//! Bitswap 1.2 over libp2p streams ([`inbound`] accepts them, `libp2p-stream` opens them).
//!
//! - **Reading** ([`read_stream`]): one task per inbound stream reads length-prefixed messages
//!   (bounded before buffering), names every block by the sha2-256 of its bytes on the blocking
//!   pool, and hands the result to the swarm's task. A message that does not decode, an
//!   oversized block or a malformed prefix is reported as misbehaviour.
//! - **Per peer** ([`PeerTask`]): one task per connected peer owns what that peer wants from us
//!   (at most [`MAX_PEER_WANTS`], a full list replacing the last, a cancel or a block sent ending
//!   a want), what we must tell it (our wants and cancels) and one outgoing stream. Blocks are
//!   read from the store only when a message is built, at most [`MAX_BATCH_BYTES`] per message,
//!   so a peer wanting a thousand blocks costs memory for one message at a time. A want for a
//!   block we lack stays until the block arrives here ([`ToPeer::Arrived`]).
//! - The swarm's task (`crate::Actor`) keeps our own wants, decides whom each asks and how
//!   (`crate::session`, from the HAVE/DONT_HAVE presences readers report) and routes between
//!   the two.

pub mod inbound;
pub mod message;

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use cid::Cid;
use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream, StreamProtocol};
use ls_content::{Blockstore, BlockstoreError};
use message::{Block, BlockPresence, Entry, Message, PresenceType, ReadError, WantType, Wantlist};
use tokio::sync::mpsc;

use crate::store::{MAX_BLOCK_SIZE, SHA2_256};

/// The protocol we open and list first (Helia only speaks Bitswap to peers listing it).
pub const PROTOCOL_1_2: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.2.0");
/// Accepted and opened when a peer lacks 1.2: the same messages without presences.
pub const PROTOCOL_1_1: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.1.0");

/// A peer's wants we keep at most (Kubo and Helia keep the same).
pub const MAX_PEER_WANTS: usize = 1024;
/// Block bytes per outgoing message; one block may exceed it alone (up to 2 MiB), so a message
/// stays under the 4 MiB peers accept.
pub const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Messages queued for one peer's task before further ones are dropped (the peer is not
/// reading).
pub const PEER_QUEUE: usize = 256;

const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// One want a peer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    pub cid: Cid,
    pub kind: WantType,
    pub cancel: bool,
    pub send_dont_have: bool,
}

/// What a reader hands the swarm's task.
#[derive(Debug)]
pub enum Inbound {
    Message {
        peer: PeerId,
        wants: Vec<Want>,
        full: bool,
        /// Blocks named by the hash of their bytes.
        blocks: Vec<(Cid, Bytes)>,
        /// What it told us it has (`true`: HAVE) or lacks (DONT_HAVE).
        presences: Vec<(Cid, bool)>,
    },
    Misbehaved {
        peer: PeerId,
        why: String,
    },
}

/// Messages read from one stream ahead of the one being hashed, so the stream is read while
/// the blocks of the last message are checked.
const READ_AHEAD: usize = 2;

/// Reads messages from one inbound stream until it ends or misbehaves. Reading and hashing
/// overlap: the next message is read (at most [`READ_AHEAD`] of them) while the blocks of the
/// last are hashed; what they carry reaches the swarm in the order it was sent.
pub async fn read_stream(peer: PeerId, mut stream: Stream, to_swarm: mpsc::Sender<Inbound>) {
    let (tx, mut rx) = mpsc::channel::<Result<Message, String>>(READ_AHEAD);
    let reader = async move {
        loop {
            let msg = match message::read(&mut stream).await {
                Ok(m) => Ok(m),
                Err(ReadError::Closed | ReadError::Io(_)) => return,
                Err(e) => Err(format!("sent {e}")),
            };
            let bad = msg.is_err();
            if tx.send(msg).await.is_err() || bad {
                return;
            }
        }
    };
    let checker = async move {
        while let Some(msg) = rx.recv().await {
            let inbound = match msg {
                Ok(m) => match parse(peer, m).await {
                    Ok(i) => i,
                    Err(why) => Inbound::Misbehaved { peer, why },
                },
                Err(why) => Inbound::Misbehaved { peer, why },
            };
            let bad = matches!(inbound, Inbound::Misbehaved { .. });
            if to_swarm.send(inbound).await.is_err() || bad {
                return;
            }
        }
    };
    // The checker ending (misbehaviour, the swarm gone) drops the reader and with it the stream.
    futures::pin_mut!(reader, checker);
    match futures::future::select(reader, checker).await {
        futures::future::Either::Left(((), checker)) => checker.await,
        futures::future::Either::Right(_) => {}
    }
}

/// Turns a decoded message into wants and named blocks (hashing on the blocking pool).
async fn parse(peer: PeerId, msg: Message) -> Result<Inbound, String> {
    let (full, entries) = msg.wantlist.map(|w| (w.full, w.entries)).unwrap_or_default();
    let wants = entries
        .into_iter()
        .filter_map(|e| {
            // An entry naming no valid CID is skipped, as Kubo does.
            let cid = Cid::try_from(&e.block[..]).ok()?;
            let kind = WantType::try_from(e.want_type).unwrap_or(WantType::Block);
            Some(Want { cid, kind, cancel: e.cancel, send_dont_have: e.send_dont_have })
        })
        .collect();
    let presences = msg
        .block_presences
        .into_iter()
        .filter_map(|p| {
            let cid = Cid::try_from(&p.cid[..]).ok()?;
            Some((cid, PresenceType::try_from(p.r#type).ok()? == PresenceType::Have))
        })
        .collect();
    // Bitswap 1.0 blocks carry no prefix: they are CIDv0 (dag-pb, sha2-256).
    let v0 = Bytes::from_static(&[0, 0x70, 0x12, 0x20]);
    let raw: Vec<(Bytes, Bytes)> = msg
        .payload
        .into_iter()
        .map(|b| (b.prefix, b.data))
        .chain(msg.blocks.into_iter().map(|d| (v0.clone(), d)))
        .collect();
    let blocks = if raw.is_empty() {
        Vec::new()
    } else {
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(raw.len());
            for (prefix, data) in raw {
                match message::block_cid(&prefix, &data) {
                    Ok(cid) => out.push((cid, data)),
                    // A hash we do not verify names nothing we asked for; skipped, not hostile.
                    Err(message::BlockError::UnsupportedHash(code)) => {
                        tracing::debug!(%peer, code, "skipping a block hashed with another function")
                    }
                    Err(e) => return Err(format!("sent a bad block: {e}")),
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())??
    };
    Ok(Inbound::Message { peer, wants, full, blocks, presences })
}

/// What the swarm's task tells a peer's task.
#[derive(Debug)]
pub enum ToPeer {
    /// Our wants to send, each a want-block or a want-have, always asking for DONT_HAVE
    /// (`full`: the whole list, on meeting the peer). A 1.1 peer reads a want-have as a
    /// want-block (it knows no want types).
    Want { wants: Vec<(Cid, WantType)>, full: bool },
    /// Our wants that ended.
    Cancel(Vec<Cid>),
    /// A message the peer sent: its wants.
    Theirs { wants: Vec<Want>, full: bool },
    /// A block that is now in the store: sent to the peer if it wants it.
    Arrived(Cid),
}

/// What we owe the peer for one of its wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    Block,
    Have,
    DontHave,
}

/// What the node's Bitswap has sent, and stored of what it received, over all peers.
#[derive(Debug, Default)]
pub struct Stats {
    pub blocks_sent: std::sync::atomic::AtomicU64,
    pub bytes_sent: std::sync::atomic::AtomicU64,
    pub blocks_received: std::sync::atomic::AtomicU64,
    pub bytes_received: std::sync::atomic::AtomicU64,
    /// Kademlia provider lookups started for our wants.
    pub provider_lookups: std::sync::atomic::AtomicU64,
}

/// How long a block sent to a peer counts as handed out (a copy that peer likely still has).
pub const HANDED_OUT_FOR: Duration = Duration::from_secs(120);
/// How long a HAVE waits per copy handed out to other peers ([`HandedOut::have_delay`]).
pub const HAVE_DELAY_PER_COPY: Duration = Duration::from_millis(25);
/// Copies counted at most (so a HAVE waits at most 4 × [`HAVE_DELAY_PER_COPY`]).
pub const MAX_COPIES_COUNTED: usize = 4;
/// Blocks whose recipients are remembered.
const HANDED_OUT_BLOCKS: usize = 16 * 1024;

/// The blocks this node sent lately and to whom, over all peers: how a holder lets the copies
/// it handed out answer before it does.
///
/// A want-have for a block this node sent to other peers in the last [`HANDED_OUT_FOR`] is
/// answered with HAVE after [`HAVE_DELAY_PER_COPY`] for each such peer (at most
/// [`MAX_COPIES_COUNTED`]). A reader asking several holders takes the block from the first
/// that says HAVE (`crate::session`), so a copy that has not been handed out yet (a reader
/// that fetched it) answers first and the origin is spared; a reader that only knows the
/// origin gets its HAVE a little later and then the blocks at once (a want-block is never
/// delayed, nor a DONT_HAVE). Nothing is refused and nothing is untrue: only the order in
/// which holders answer changes, as it would if this node were busy.
#[derive(Debug)]
pub struct HandedOut {
    sent: parking_lot::Mutex<lru::LruCache<Cid, Vec<(PeerId, std::time::Instant)>>>,
}

impl Default for HandedOut {
    fn default() -> Self {
        Self {
            sent: parking_lot::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(HANDED_OUT_BLOCKS).expect("non-zero constant"),
            )),
        }
    }
}

impl HandedOut {
    /// `peer` was sent the blocks `cids`.
    pub fn record(&self, peer: PeerId, cids: &[Cid]) {
        let now = std::time::Instant::now();
        let mut sent = self.sent.lock();
        for cid in cids {
            let to = sent.get_or_insert_mut(*cid, Vec::new);
            to.retain(|(p, at)| *p != peer && now.duration_since(*at) < HANDED_OUT_FOR);
            to.push((peer, now));
            if to.len() > MAX_COPIES_COUNTED + 1 {
                to.remove(0);
            }
        }
    }

    /// How long a HAVE for `cid` to `peer` waits: [`HAVE_DELAY_PER_COPY`] for each other peer
    /// this node sent it to in the last [`HANDED_OUT_FOR`] (at most [`MAX_COPIES_COUNTED`]).
    pub fn have_delay(&self, cid: &Cid, peer: PeerId) -> Duration {
        let now = std::time::Instant::now();
        let copies = self.sent.lock().peek(cid).map_or(0, |to| {
            to.iter().filter(|(p, at)| *p != peer && now.duration_since(*at) < HANDED_OUT_FOR).count()
        });
        HAVE_DELAY_PER_COPY * copies.min(MAX_COPIES_COUNTED) as u32
    }
}

/// What every peer task shares.
#[derive(Clone)]
pub struct Shared {
    pub control: libp2p_stream::Control,
    pub store: Arc<dyn Blockstore>,
    pub stats: Arc<Stats>,
    pub handed_out: Arc<HandedOut>,
}

/// The most encoding buffer a peer's task keeps while it has nothing to send.
const IDLE_BUFFER: usize = 64 * 1024;

/// Blocks read for the next message while the last one is written.
type Loading = tokio::task::JoinHandle<(Vec<(Cid, Block)>, Vec<Cid>)>;

/// Serves one peer and carries our wants to it.
pub struct PeerTask {
    peer: PeerId,
    shared: Shared,
    rx: mpsc::Receiver<ToPeer>,
    /// Its wants we could not answer yet, and whether it asked for DONT_HAVE.
    theirs: HashMap<Cid, (WantType, bool)>,
    /// What we owe it, in the order it asked.
    owed: VecDeque<(Cid, Owed)>,
    /// HAVEs held back until then ([`HandedOut`]), at most one per CID.
    later: Vec<(tokio::time::Instant, Cid)>,
    /// Blocks being read for the next message, and the wants cancelled meanwhile (their
    /// blocks are then not sent).
    loading: Option<Loading>,
    cancelled: std::collections::HashSet<Cid>,
    /// Wantlist entries of ours not sent yet, and whether the next list is a full one.
    entries: Vec<Entry>,
    full: bool,
    stream: Option<(Stream, bool)>,
    /// The encoding buffer, kept between messages.
    buf: Vec<u8>,
    /// Neither protocol is spoken: nothing is written to it.
    mute: bool,
}

impl PeerTask {
    pub fn spawn(peer: PeerId, shared: Shared) -> mpsc::Sender<ToPeer> {
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        let task = PeerTask {
            peer,
            shared,
            rx,
            theirs: HashMap::new(),
            owed: VecDeque::new(),
            later: Vec::new(),
            loading: None,
            cancelled: Default::default(),
            entries: Vec::new(),
            full: false,
            stream: None,
            buf: Vec::new(),
            mute: false,
        };
        tokio::spawn(task.run());
        tx
    }

    async fn run(mut self) {
        loop {
            // The next thing to do: a message from the swarm's task, or a held HAVE falling due.
            let due = self.later.iter().map(|(t, _)| *t).min();
            let got = match due {
                Some(t) => tokio::select! {
                    m = self.rx.recv() => Some(m),
                    _ = tokio::time::sleep_until(t) => None,
                },
                None => Some(self.rx.recv().await),
            };
            match got {
                Some(Some(m)) => self.apply(m).await,
                Some(None) => break,
                None => {}
            }
            loop {
                // Everything queued meanwhile (cancels among it) counts before the next message.
                while let Ok(m) = self.rx.try_recv() {
                    self.apply(m).await;
                }
                self.release_due();
                let Some((msg, cids)) = self.next_message().await else {
                    break;
                };
                // The blocks of the next message are read while this one is written.
                self.start_loading();
                self.send(msg, &cids).await;
            }
            // Idle: a buffer grown for a burst of blocks is not kept for a peer that is quiet.
            if self.buf.capacity() > IDLE_BUFFER {
                self.buf = Vec::new();
            }
        }
        if let Some((mut s, _)) = self.stream.take() {
            let _ = s.close().await;
        }
    }

    async fn apply(&mut self, m: ToPeer) {
        match m {
            ToPeer::Want { wants, full } => {
                if full {
                    self.entries.clear();
                    self.full = true;
                }
                // A later entry for the same CID (a want-have upgraded to a want-block, a cancel)
                // is read after the earlier one in the same message, so order is enough.
                self.entries.extend(wants.into_iter().map(|(c, kind)| entry(&c, kind, false)));
            }
            ToPeer::Cancel(cids) => {
                self.entries.extend(cids.into_iter().map(|c| entry(&c, WantType::Block, true)))
            }
            ToPeer::Theirs { wants, full } => self.theirs_wants(wants, full).await,
            ToPeer::Arrived(cid) => {
                if let Some((kind, _)) = self.theirs.remove(&cid) {
                    self.owe(cid, kind);
                }
            }
        }
    }

    /// Owes `cid` (here now) for a want of `kind`: the block, or a HAVE, held back while copies
    /// handed out to other peers may answer first.
    fn owe(&mut self, cid: Cid, kind: WantType) {
        if kind == WantType::Have {
            // Asked again while its HAVE waits (or is about to go): that one answers both, at
            // the time first set (a repeated ask neither adds a HAVE nor puts it off).
            if self.later.iter().any(|(_, c)| *c == cid) || self.owed.contains(&(cid, Owed::Have)) {
                return;
            }
            let delay = self.shared.handed_out.have_delay(&cid, self.peer);
            if !delay.is_zero() {
                self.later.push((tokio::time::Instant::now() + delay, cid));
                return;
            }
            self.owed.push_back((cid, Owed::Have));
        } else {
            // A block answers a HAVE still held back too.
            self.later.retain(|(_, c)| *c != cid);
            self.owed.push_back((cid, Owed::Block));
        }
    }

    /// HAVEs whose time has come.
    fn release_due(&mut self) {
        if self.later.is_empty() {
            return;
        }
        let now = tokio::time::Instant::now();
        let (due, rest): (Vec<_>, Vec<_>) = self.later.drain(..).partition(|(t, _)| *t <= now);
        self.later = rest;
        self.owed.extend(due.into_iter().map(|(_, c)| (c, Owed::Have)));
    }

    async fn theirs_wants(&mut self, wants: Vec<Want>, full: bool) {
        if full {
            self.theirs.clear();
            self.owed.retain(|(_, o)| *o == Owed::DontHave);
            self.later.clear();
            self.cancel_loading();
        }
        let mut new = Vec::new();
        for w in wants {
            if w.cancel {
                self.theirs.remove(&w.cid);
                self.owed.retain(|(c, _)| *c != w.cid);
                self.later.retain(|(_, c)| *c != w.cid);
                if self.loading.is_some() {
                    self.cancelled.insert(w.cid);
                }
            } else if w.cid.hash().code() == SHA2_256
                && (self.theirs.len() < MAX_PEER_WANTS || self.theirs.contains_key(&w.cid))
            {
                self.theirs.insert(w.cid, (w.kind, w.send_dont_have));
                new.push(w);
            }
        }
        if new.is_empty() {
            return;
        }
        // Which of them are here (an index lookup per CID, on the blocking pool).
        let store = self.shared.store.clone();
        let cids: Vec<Cid> = new.iter().map(|w| w.cid).collect();
        let here = tokio::task::spawn_blocking(move || cids.iter().map(|c| store.has(c).unwrap_or(false)).collect())
            .await
            .unwrap_or_else(|_| vec![false; new.len()]);
        for (w, here) in new.into_iter().zip(here) {
            if here {
                // Owing it ends the want: asked again later, it is answered again.
                self.theirs.remove(&w.cid);
                self.owe(w.cid, w.kind);
            } else if w.send_dont_have {
                self.owed.push_back((w.cid, Owed::DontHave));
            }
        }
    }

    /// A full wantlist replaced everything: blocks being read are not sent.
    fn cancel_loading(&mut self) {
        if let Some(l) = self.loading.take() {
            l.abort();
        }
        self.cancelled.clear();
    }

    /// Starts reading the blocks owed now for the next message (if any), in the background.
    fn start_loading(&mut self) {
        if self.loading.is_some() || self.mute {
            return;
        }
        let wanted: Vec<Cid> = self.owed.iter().filter(|(_, o)| *o == Owed::Block).map(|(c, _)| *c).collect();
        if wanted.is_empty() {
            return;
        }
        self.owed.retain(|(_, o)| *o != Owed::Block);
        let store = self.shared.store.clone();
        self.loading = Some(tokio::task::spawn_blocking(move || load_batch(&*store, wanted)));
    }

    /// The next message: our wantlist entries, presences, and blocks up to
    /// [`MAX_BATCH_BYTES`], with the CIDs of those blocks. `None` when there is nothing to say.
    async fn next_message(&mut self) -> Option<(Message, Vec<Cid>)> {
        if self.mute {
            self.entries.clear();
            self.owed.clear();
            self.later.clear();
            self.cancel_loading();
            return None;
        }
        let wantlist = (!self.entries.is_empty() || self.full)
            .then(|| Wantlist { entries: std::mem::take(&mut self.entries), full: std::mem::take(&mut self.full) });
        let mut presences = Vec::new();
        for (cid, owed) in &self.owed {
            match owed {
                Owed::Have => presences.push(presence(cid, PresenceType::Have)),
                Owed::DontHave => presences.push(presence(cid, PresenceType::DontHave)),
                Owed::Block => {}
            }
        }
        self.owed.retain(|(_, o)| *o == Owed::Block);
        // Blocks read while the last message was written, else read now; what does not fit
        // stays owed (first in line) for the next message.
        self.start_loading();
        let (loaded, rest) = match self.loading.take() {
            Some(l) => l.await.unwrap_or_default(),
            None => Default::default(),
        };
        let cancelled = std::mem::take(&mut self.cancelled);
        for c in rest.into_iter().rev() {
            if !cancelled.contains(&c) {
                self.owed.push_front((c, Owed::Block));
            }
        }
        let (cids, payload): (Vec<Cid>, Vec<Block>) = loaded.into_iter().filter(|(c, _)| !cancelled.contains(c)).unzip();
        if wantlist.is_none() && presences.is_empty() && payload.is_empty() {
            return None;
        }
        Some((Message { wantlist, payload, block_presences: presences, ..Default::default() }, cids))
    }

    /// Writes `msg` (carrying the blocks `cids`), opening a stream if there is none and trying
    /// a fresh one once if the old one broke. A message that cannot be written is dropped (the
    /// peer is likely gone).
    async fn send(&mut self, mut msg: Message, cids: &[Cid]) {
        let (blocks, bytes) = (msg.payload.len() as u64, msg.payload.iter().map(|b| b.data.len() as u64).sum::<u64>());
        for attempt in 0..2 {
            if self.stream.is_none() && !self.open().await {
                return;
            }
            let Some((stream, v12)) = self.stream.as_mut() else {
                return;
            };
            if !*v12 {
                // 1.1 knows no presences.
                msg.block_presences.clear();
            }
            match tokio::time::timeout(WRITE_TIMEOUT, message::write_with(stream, &msg, &mut self.buf)).await {
                Ok(Ok(())) => {
                    use std::sync::atomic::Ordering::Relaxed;
                    self.shared.stats.blocks_sent.fetch_add(blocks, Relaxed);
                    self.shared.stats.bytes_sent.fetch_add(bytes, Relaxed);
                    if !cids.is_empty() {
                        self.shared.handed_out.record(self.peer, cids);
                    }
                    return;
                }
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, attempt, error = %e, "bitswap write failed")
                }
                Err(_) => tracing::debug!(peer = %self.peer, attempt, "bitswap write timed out"),
            }
            self.stream = None;
        }
    }

    async fn open(&mut self) -> bool {
        for (proto, v12) in [(PROTOCOL_1_2, true), (PROTOCOL_1_1, false)] {
            match tokio::time::timeout(OPEN_TIMEOUT, self.shared.control.open_stream(self.peer, proto)).await {
                Ok(Ok(s)) => {
                    self.stream = Some((s, v12));
                    return true;
                }
                Ok(Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(_))) => continue,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "opening a bitswap stream failed");
                    return false;
                }
                Err(_) => {
                    tracing::debug!(peer = %self.peer, "opening a bitswap stream timed out");
                    return false;
                }
            }
        }
        tracing::debug!(peer = %self.peer, "the peer does not speak bitswap");
        self.mute = true;
        false
    }
}

fn entry(cid: &Cid, kind: WantType, cancel: bool) -> Entry {
    Entry { block: Bytes::from(cid.to_bytes()), priority: 1, cancel, want_type: kind as i32, send_dont_have: !cancel }
}

fn presence(cid: &Cid, kind: PresenceType) -> BlockPresence {
    BlockPresence { cid: Bytes::from(cid.to_bytes()), r#type: kind as i32 }
}

/// Reads owed blocks while they fit in [`MAX_BATCH_BYTES`] (a single block always fits, so a
/// message stays under the 4 MiB peers accept); returns them and the CIDs left for the next
/// message. A block that is gone or fails its hash check is skipped (never sent).
fn load_batch(store: &dyn Blockstore, mut cids: Vec<Cid>) -> (Vec<(Cid, Block)>, Vec<Cid>) {
    let mut out = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while i < cids.len() {
        let cid = cids[i];
        match store.get(&cid) {
            Ok(Some(data)) if data.len() <= MAX_BLOCK_SIZE => {
                if !out.is_empty() && size + data.len() > MAX_BATCH_BYTES {
                    break;
                }
                size += data.len();
                out.push((cid, Block { prefix: message::prefix(&cid), data }));
            }
            Ok(_) => {}
            Err(BlockstoreError::Corrupt(c)) => {
                tracing::warn!(cid = %c, "not serving a block that fails its hash check")
            }
            Err(e) => tracing::warn!(%cid, error = %e, "reading a block to serve failed"),
        }
        i += 1;
    }
    let rest = cids.split_off(i);
    (out, rest)
}

/// Starts a reader for each inbound Bitswap stream [`inbound::Behaviour`] accepted (1.2 and
/// 1.1 alike: the messages are the same).
pub fn accept(mut incoming: mpsc::Receiver<inbound::Incoming>, to_swarm: mpsc::Sender<Inbound>) {
    tokio::spawn(async move {
        while let Some((peer, stream, _)) = incoming.recv().await {
            tokio::spawn(read_stream(peer, stream, to_swarm.clone()));
        }
    });
}

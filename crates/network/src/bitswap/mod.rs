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

/// Reads messages from one inbound stream until it ends or misbehaves.
pub async fn read_stream(peer: PeerId, mut stream: Stream, to_swarm: mpsc::Sender<Inbound>) {
    loop {
        let msg = match message::read(&mut stream).await {
            Ok(m) => m,
            Err(ReadError::Closed | ReadError::Io(_)) => return,
            Err(e) => {
                let _ = to_swarm.send(Inbound::Misbehaved { peer, why: format!("sent {e}") }).await;
                return;
            }
        };
        let inbound = match parse(peer, msg).await {
            Ok(i) => i,
            Err(why) => Inbound::Misbehaved { peer, why },
        };
        let bad = matches!(inbound, Inbound::Misbehaved { .. });
        if to_swarm.send(inbound).await.is_err() || bad {
            return;
        }
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
}

/// Serves one peer and carries our wants to it.
pub struct PeerTask {
    peer: PeerId,
    control: libp2p_stream::Control,
    store: Arc<dyn Blockstore>,
    rx: mpsc::Receiver<ToPeer>,
    /// Its wants we could not answer yet, and whether it asked for DONT_HAVE.
    theirs: HashMap<Cid, (WantType, bool)>,
    /// What we owe it, in the order it asked.
    owed: VecDeque<(Cid, Owed)>,
    /// Wantlist entries of ours not sent yet, and whether the next list is a full one.
    entries: Vec<Entry>,
    full: bool,
    stream: Option<(Stream, bool)>,
    /// Neither protocol is spoken: nothing is written to it.
    mute: bool,
    stats: Arc<Stats>,
}

impl PeerTask {
    pub fn spawn(
        peer: PeerId,
        control: libp2p_stream::Control,
        store: Arc<dyn Blockstore>,
        stats: Arc<Stats>,
    ) -> mpsc::Sender<ToPeer> {
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        let task = PeerTask {
            peer,
            control,
            store,
            rx,
            theirs: HashMap::new(),
            owed: VecDeque::new(),
            entries: Vec::new(),
            full: false,
            stream: None,
            mute: false,
            stats,
        };
        tokio::spawn(task.run());
        tx
    }

    async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            self.apply(first).await;
            loop {
                // Everything queued meanwhile (cancels among it) counts before the next message.
                while let Ok(m) = self.rx.try_recv() {
                    self.apply(m).await;
                }
                let Some(msg) = self.next_message().await else {
                    break;
                };
                self.send(msg).await;
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
                    self.owed.push_back((cid, if kind == WantType::Have { Owed::Have } else { Owed::Block }));
                }
            }
        }
    }

    async fn theirs_wants(&mut self, wants: Vec<Want>, full: bool) {
        if full {
            self.theirs.clear();
            self.owed.retain(|(_, o)| *o == Owed::DontHave);
        }
        let mut new = Vec::new();
        for w in wants {
            if w.cancel {
                self.theirs.remove(&w.cid);
                self.owed.retain(|(c, _)| *c != w.cid);
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
        let store = self.store.clone();
        let cids: Vec<Cid> = new.iter().map(|w| w.cid).collect();
        let here = tokio::task::spawn_blocking(move || cids.iter().map(|c| store.has(c).unwrap_or(false)).collect())
            .await
            .unwrap_or_else(|_| vec![false; new.len()]);
        for (w, here) in new.into_iter().zip(here) {
            if here {
                // Owing it ends the want: asked again later, it is answered again.
                self.theirs.remove(&w.cid);
                self.owed.push_back((w.cid, if w.kind == WantType::Have { Owed::Have } else { Owed::Block }));
            } else if w.send_dont_have {
                self.owed.push_back((w.cid, Owed::DontHave));
            }
        }
    }

    /// The next message: our wantlist entries, presences, and blocks up to
    /// [`MAX_BATCH_BYTES`]. `None` when there is nothing to say.
    async fn next_message(&mut self) -> Option<Message> {
        if self.mute {
            self.entries.clear();
            self.owed.clear();
            return None;
        }
        let wantlist = (!self.entries.is_empty() || self.full)
            .then(|| Wantlist { entries: std::mem::take(&mut self.entries), full: std::mem::take(&mut self.full) });
        let mut presences = Vec::new();
        let mut wanted_blocks = Vec::new();
        for (cid, owed) in std::mem::take(&mut self.owed) {
            match owed {
                Owed::Have => presences.push(presence(&cid, PresenceType::Have)),
                Owed::DontHave => presences.push(presence(&cid, PresenceType::DontHave)),
                Owed::Block => wanted_blocks.push(cid),
            }
        }
        // Blocks are read now, as many as fit; the rest stay owed for the next message.
        let store = self.store.clone();
        let (payload, rest) =
            tokio::task::spawn_blocking(move || load_batch(&*store, wanted_blocks)).await.unwrap_or_default();
        self.owed.extend(rest.into_iter().map(|c| (c, Owed::Block)));
        if wantlist.is_none() && presences.is_empty() && payload.is_empty() {
            return None;
        }
        Some(Message { wantlist, payload, block_presences: presences, ..Default::default() })
    }

    /// Writes `msg`, opening a stream if there is none and trying a fresh one once if the old
    /// one broke. A message that cannot be written is dropped (the peer is likely gone).
    async fn send(&mut self, mut msg: Message) {
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
            match tokio::time::timeout(WRITE_TIMEOUT, message::write(stream, &msg)).await {
                Ok(Ok(())) => {
                    use std::sync::atomic::Ordering::Relaxed;
                    self.stats.blocks_sent.fetch_add(blocks, Relaxed);
                    self.stats.bytes_sent.fetch_add(bytes, Relaxed);
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
            match tokio::time::timeout(OPEN_TIMEOUT, self.control.open_stream(self.peer, proto)).await {
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
fn load_batch(store: &dyn Blockstore, mut cids: Vec<Cid>) -> (Vec<Block>, Vec<Cid>) {
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
                out.push(Block { prefix: message::prefix(&cid), data });
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

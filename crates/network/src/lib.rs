//! The IPFS side of a node: a libp2p swarm (TCP or WebSocket with noise and yamux, and QUIC;
//! `/dns…` names resolved when dialled; identify, Kademlia) that serves and fetches blocks over
//! Bitswap 1.2 ([`bitswap`]: our message layer, streams opened with `libp2p-stream` and accepted
//! by [`bitswap::inbound`]; see docs/decisions.md for why not beetswap).
//!
//! - [`Network::start`] runs the swarm on its own task and returns a [`NetworkHandle`]: peer id,
//!   listen addresses (kept current as listeners report and expire them), `listen_on`, `dial`,
//!   `peers`, `get_block` (with a timeout; the error names the CID), `provide`, `notify_local`
//!   (a block written here reaches peers waiting for it).
//! - [`session`]: whom a want asks (want-have to all, want-block to one holder).
//! - [`FetchingBlockstore`] is a `Blockstore` that reads locally and fetches what is missing from
//!   peers, so the gateway and the exporter need not know about the network.
//! - [`load_or_create_keypair`]: the persistent ed25519 peer key.
//!
//! Peers that send a block we never asked for (which is also how a block whose bytes do not
//! match the wanted CID shows up: a received block is named by the hash of its bytes) are
//! disconnected and refused from then on. A block for anything we want is taken from any peer,
//! whether we asked it for the block or only whether it has it (as Kubo does).

pub mod bitswap;
mod fetching;
mod key;
pub mod session;
mod store;

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    num::NonZeroUsize,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use libp2p::{
    StreamProtocol, Swarm, allow_block_list, connection_limits, identify,
    identity::Keypair,
    kad,
    core::{Transport as _, muxing::StreamMuxerBox, transport::Boxed, upgrade::Version},
    dns::{ResolverConfig, ResolverOpts},
    multiaddr::Protocol,
    noise,
    swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent, dial_opts::DialOpts},
    tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};

pub use fetching::{FetchingBlockstore, PARENTS, PREFETCH};
pub use key::{KeyError, load_or_create_keypair};
pub use libp2p::{Multiaddr, PeerId, core::transport::ListenerId};
pub use store::{MAX_BLOCK_SIZE, SHA2_256, verify};

/// The Bitswap protocol identify advertises (Helia only speaks Bitswap to peers listing it).
pub const BITSWAP_PROTOCOL: &str = "/ipfs/bitswap/1.2.0";

/// What the swarm listens on and how far it lets peers go.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Addresses to listen on, each TCP (`/ip4/127.0.0.1/tcp/0` picks a free port), QUIC
    /// (`/ip4/127.0.0.1/udp/0/quic-v1`) or WebSocket (`/ip4/127.0.0.1/tcp/0/ws`).
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start (failures are logged, not fatal).
    pub bootstrap: Vec<Multiaddr>,
    /// Name servers that resolve `/dns4`, `/dns6`, `/dns` and `/dnsaddr` addresses; empty: the
    /// system's (`/etc/resolv.conf`). `/etc/hosts` is read either way, and `localhost` is
    /// always the loopback address, asking nobody.
    pub name_servers: Vec<SocketAddr>,
    /// Identify's agent version, e.g. `lightstreams/0.1.0`.
    pub agent_version: String,
    /// Connections to one peer at once.
    pub max_connections_per_peer: u32,
    /// Established connections in all.
    pub max_connections: u32,
    /// Connections being set up at once, each way.
    pub max_pending_connections: u32,
    /// Blocks being fetched at once (our wantlist); Kubo and Helia keep at most 1 024 wants
    /// per peer, so more would be dropped by the other side anyway.
    pub max_wants: usize,
    /// Streams one connection may open (yamux, and QUIC's limit alike); each can buffer one
    /// message (4 MiB at most).
    pub max_streams_per_connection: usize,
    /// Connections without traffic are closed after this long.
    pub idle_connection_timeout: Duration,
    /// Peers refused for misbehaving, remembered at most (oldest forgotten first).
    pub max_blocked_peers: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr literal")],
            bootstrap: Vec::new(),
            name_servers: Vec::new(),
            agent_version: format!("lightstreams/{}", env!("CARGO_PKG_VERSION")),
            max_connections_per_peer: 2,
            max_connections: 512,
            max_pending_connections: 64,
            max_wants: 1024,
            max_streams_per_connection: 64,
            idle_connection_timeout: Duration::from_secs(120),
            max_blocked_peers: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("listening on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("setting up the swarm: {0}")]
    Setup(String),
    #[error("dialling {addr}: {reason}")]
    Dial { addr: Multiaddr, reason: String },
    #[error("the peer-to-peer network has stopped")]
    Stopped,
    #[error("announcing {cid}: {reason}")]
    Provide { cid: Cid, reason: String },
}

/// Why a block could not be had from peers. Every variant names the CID.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("no peer sent block {cid} within {timeout:?} ({peers} peers connected)")]
    Timeout { cid: Cid, timeout: Duration, peers: usize },
    #[error("block {cid} cannot be fetched: {limit} fetches are already in flight")]
    Busy { cid: Cid, limit: usize },
    #[error("block {cid} cannot be fetched: {reason}")]
    Failed { cid: Cid, reason: String },
    #[error("block {cid} cannot be fetched: the peer-to-peer network has stopped")]
    Stopped { cid: Cid },
    #[error("block {cid} is not here and no peer is connected to ask")]
    NoPeers { cid: Cid },
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// The remote address of one of its connections.
    pub addr: Multiaddr,
    /// What identify told us, once it has.
    pub agent_version: Option<String>,
    pub protocols: Vec<String>,
}

impl PeerInfo {
    /// Whether its identify lists Bitswap 1.2.
    pub fn speaks_bitswap(&self) -> bool {
        self.protocols.iter().any(|p| p == BITSWAP_PROTOCOL)
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Inbound Bitswap streams (queued, so none is lost to a moment's delay).
    bitswap: bitswap::inbound::Behaviour,
    /// Outbound Bitswap streams.
    stream: libp2p_stream::Behaviour,
}

enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    /// Listens on one more address; answered with the listener's first address.
    Listen(Multiaddr, ListenReply),
    /// Closes a listener (its addresses go once the transport reports it closed).
    RemoveListener(ListenerId, oneshot::Sender<bool>),
    Dial(Multiaddr, oneshot::Sender<Result<PeerId, NetworkError>>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    /// `lookup`: whether a Kademlia provider lookup starts at once (else only if the want
    /// stalls, see [`LOOKUP_AFTER`]).
    Get { id: u64, cid: Cid, lookup: bool, reply: oneshot::Sender<Result<Bytes, FetchError>> },
    Cancel { id: u64 },
    Provide(Cid, oneshot::Sender<Result<(), NetworkError>>),
    /// Stops announcing `cid` (its local provider record is removed, no longer republished).
    StopProviding(Cid),
    /// Whether this node announces `cid` now.
    Providing(Cid, oneshot::Sender<bool>),
    /// The providers of `cid` a Kademlia lookup finds.
    FindProviders(Cid, oneshot::Sender<Vec<PeerId>>),
    /// Blocks just written to the store by this node (an upload): peers waiting get them.
    Local(Vec<Cid>),
    Shutdown(oneshot::Sender<()>),
}

/// Where a listener added after start answers: the listener and its first address.
type ListenReply = oneshot::Sender<Result<(ListenerId, Multiaddr), NetworkError>>;

/// Starts the swarm.
pub struct Network;

impl Network {
    /// Listens on every `config.listen` address (waiting until each has one, so
    /// [`NetworkHandle::listen_addrs`] is complete when this returns), dials the bootstrap peers
    /// in the background and serves `blocks` over Bitswap. Needs a tokio runtime.
    pub async fn start(
        config: NetworkConfig,
        keypair: Keypair,
        blocks: Arc<dyn ls_content::Blockstore>,
    ) -> Result<NetworkHandle, NetworkError> {
        let peer_id = keypair.public().to_peer_id();
        let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
        let mut yamux_cfg = yamux::Config::default();
        yamux_cfg.set_max_num_streams(config.max_streams_per_connection);
        let ws_yamux = yamux_cfg.clone();
        let quic_streams = u32::try_from(config.max_streams_per_connection).unwrap_or(u32::MAX);
        let cfg = config.clone();
        let (dns_cfg, dns_opts) = resolver(&config.name_servers);
        // Identify lists the protocols accepted here from the first connection.
        let (bitswap_in, incoming) =
            bitswap::inbound::Behaviour::new(vec![bitswap::PROTOCOL_1_2, bitswap::PROTOCOL_1_1]);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, move || yamux_cfg.clone())
            .map_err(|e| setup(&e))?
            // QUIC brings its own encryption (TLS 1.3 with the peer key) and streams.
            .with_quic_config(|mut c| {
                c.max_concurrent_stream_limit = quic_streams;
                c
            })
            .with_other_transport(|key| websocket(key, ws_yamux))
            .map_err(|e| setup(&e))?
            // Around all three: a `/dns4|dns6|dns|dnsaddr/…` address is resolved, then each
            // address it names is dialled in turn (`…/ws` keeps its place after the IP address).
            .with_dns_config(dns_cfg, dns_opts)
            .with_behaviour(|key| {
                let limits = connection_limits::ConnectionLimits::default()
                    .with_max_established_per_peer(Some(cfg.max_connections_per_peer))
                    .with_max_established(Some(cfg.max_connections))
                    .with_max_pending_incoming(Some(cfg.max_pending_connections))
                    .with_max_pending_outgoing(Some(cfg.max_pending_connections));
                let identify = identify::Behaviour::new(
                    identify::Config::new("ipfs/0.1.0".into(), key.public())
                        .with_agent_version(cfg.agent_version.clone()),
                );
                let mut kad = kad::Behaviour::with_config(
                    peer_id,
                    kad::store::MemoryStore::new(peer_id),
                    kad::Config::new(kad::PROTOCOL_NAME),
                );
                // Answer queries even before an external address is confirmed (loopback tests,
                // nodes behind NAT that peers reach through a connection they opened).
                kad.set_mode(Some(kad::Mode::Server));
                Ok(Behaviour {
                    blocked: Default::default(),
                    limits: connection_limits::Behaviour::new(limits),
                    identify,
                    kad,
                    bitswap: bitswap_in,
                    stream: libp2p_stream::Behaviour::new(),
                })
            })
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
            .build();

        let control = swarm.behaviour().stream.new_control();
        let (inbound_tx, inbound) = mpsc::channel(256);
        bitswap::accept(incoming, inbound_tx);
        // Addresses are kept in the order their listeners were asked for (whichever transport
        // reports first), so the first one printed is the first `--p2p-addr`.
        let mut listeners = HashMap::new();
        for (i, addr) in config.listen.iter().enumerate() {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| NetworkError::Listen { addr: addr.clone(), reason: e.to_string() })?;
            listeners.insert(id, i);
        }
        let mut waiting: Vec<_> = listeners.keys().copied().collect();
        let mut by_listener = vec![Vec::new(); config.listen.len()];
        let failed = |id, reason| NetworkError::Listen { addr: config.listen[listeners[&id]].clone(), reason };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Some(&first) = waiting.first() {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .map_err(|_| failed(first, "no address within 10 s".into()))?;
            match event {
                // A listener on 0.0.0.0 reports one address per interface.
                SwarmEvent::NewListenAddr { listener_id, address } => {
                    if let Some(&i) = listeners.get(&listener_id) {
                        waiting.retain(|w| *w != listener_id);
                        by_listener[i].push(address);
                    }
                }
                SwarmEvent::ListenerClosed { listener_id, reason, .. } if waiting.contains(&listener_id) => {
                    return Err(failed(listener_id, reason.err().map_or("closed".to_string(), |e| e.to_string())));
                }
                SwarmEvent::ListenerError { listener_id, error } if waiting.contains(&listener_id) => {
                    return Err(failed(listener_id, error.to_string()));
                }
                _ => {}
            }
        }
        let listen_addrs: Vec<Multiaddr> = by_listener.into_iter().flatten().collect();
        // A dial that fails later (a name that does not resolve, a peer that is not there) is
        // logged when it does, naming the address as given.
        let mut bootstrapping = HashMap::new();
        for addr in &config.bootstrap {
            let opts = DialOpts::from(addr.clone());
            let id = opts.connection_id();
            match swarm.dial(opts) {
                Ok(()) => {
                    bootstrapping.insert(id, addr.clone());
                }
                Err(e) => tracing::warn!(%addr, error = %dial_reason(&e), "bootstrap dial failed"),
            }
        }
        let (tx, rx) = mpsc::channel(1024);
        let stats = Arc::new(bitswap::Stats::default());
        let (stored_tx, stored_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            swarm,
            config,
            rx,
            inbound,
            control,
            store: blocks,
            stats: stats.clone(),
            handed_out: Default::default(),
            bitswap_peers: HashMap::new(),
            listen_addrs,
            listening: HashMap::new(),
            peers: HashMap::new(),
            dials: HashMap::new(),
            bootstrapping,
            queries: HashMap::new(),
            by_request: HashMap::new(),
            lookups: HashMap::new(),
            last_stalled_lookup: None,
            finding: HashMap::new(),
            provides: HashMap::new(),
            recently_wanted: lru::LruCache::new(NonZeroUsize::new(16 * 1024).expect("non-zero literal")),
            blocked: VecDeque::new(),
            sessions: session::Sessions::default(),
            storing: HashMap::new(),
            just_stored: lru::LruCache::new(NonZeroUsize::new(JUST_STORED).expect("non-zero constant")),
            stored_tx,
            stored_rx,
        };
        tokio::spawn(actor.run());
        Ok(NetworkHandle {
            tx,
            peer_id,
            next_id: Arc::new(AtomicU64::new(0)),
            runtime: tokio::runtime::Handle::current(),
            stats,
        })
    }
}

/// Talks to the swarm's task. Cheap to clone.
#[derive(Clone)]
pub struct NetworkHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
    next_id: Arc<AtomicU64>,
    runtime: tokio::runtime::Handle,
    stats: Arc<bitswap::Stats>,
}

impl NetworkHandle {
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Blocks and block bytes this node's Bitswap server has sent, over all peers.
    pub fn sent(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.stats.blocks_sent.load(Relaxed), self.stats.bytes_sent.load(Relaxed))
    }

    /// Blocks and block bytes fetched from peers and stored here (prefetched ones included).
    pub fn received(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.stats.blocks_received.load(Relaxed), self.stats.bytes_received.load(Relaxed))
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Where the swarm listens, each ending in `/p2p/<peer id>` so it can be dialled as is.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        let addrs = self.ask(Command::ListenAddrs).await?;
        Ok(addrs.into_iter().map(|a| a.with_p2p(self.peer_id).unwrap_or_else(|a| a)).collect())
    }

    /// Listens on one more address (TCP, QUIC or WebSocket, as [`NetworkConfig::listen`]),
    /// within 10 s: the listener, for [`NetworkHandle::remove_listener`], and its first address
    /// (ending in `/p2p/<peer id>`). Every address a listener reports, now or later (one on
    /// 0.0.0.0 meeting a new interface), joins [`NetworkHandle::listen_addrs`] and is logged.
    pub async fn listen_on(&self, addr: Multiaddr) -> Result<(ListenerId, Multiaddr), NetworkError> {
        let a = addr.clone();
        match tokio::time::timeout(Duration::from_secs(10), self.ask(|tx| Command::Listen(a, tx))).await {
            Ok(r) => {
                let (id, first) = r??;
                Ok((id, first.with_p2p(self.peer_id).unwrap_or_else(|a| a)))
            }
            Err(_) => Err(NetworkError::Listen { addr, reason: "no address within 10 s".into() }),
        }
    }

    /// Closes a listener; its addresses leave [`NetworkHandle::listen_addrs`] once the transport
    /// reports it closed (at once, as a rule). Whether there was such a listener.
    pub async fn remove_listener(&self, id: ListenerId) -> Result<bool, NetworkError> {
        self.ask(|tx| Command::RemoveListener(id, tx)).await
    }

    /// Connects to `addr` (with or without `/p2p/<id>`), within 10 s. A `/dns4`, `/dns6`,
    /// `/dns` or `/dnsaddr` name is resolved first; a name that does not resolve fails naming
    /// `addr`.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetworkError> {
        let a = addr.clone();
        match tokio::time::timeout(Duration::from_secs(10), self.ask(|tx| Command::Dial(a, tx))).await {
            Ok(r) => r?,
            Err(_) => Err(NetworkError::Dial { addr, reason: "no connection within 10 s".into() }),
        }
    }

    /// The peers connected now.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        self.ask(Command::Peers).await
    }

    /// Fetches one block from connected peers, verified against `cid`, while a Kademlia
    /// provider lookup for it runs (providers found are dialled and asked). Fetched blocks are
    /// also stored locally (in the background) and offered to peers that wanted them.
    pub async fn get_block(&self, cid: Cid, timeout: Duration) -> Result<Bytes, FetchError> {
        self.want(cid, timeout, true).await
    }

    /// [`NetworkHandle::get_block`]; with `lookup` false no provider lookup starts unless the
    /// want stalls (nobody says HAVE within [`LOOKUP_AFTER`]): for the blocks of a DAG whose
    /// root was looked up already.
    pub async fn want(&self, cid: Cid, timeout: Duration, lookup: bool) -> Result<Bytes, FetchError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Get { id, cid, lookup, reply: tx }).await.map_err(|_| FetchError::Stopped { cid })?;
        // Dropped on every way out (timeout, the caller giving up): the want is withdrawn.
        let guard = CancelOnDrop { tx: self.tx.clone(), id };
        let out = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(FetchError::Stopped { cid }),
            Err(_) => {
                let peers = self.peers().await.map(|p| p.len()).unwrap_or(0);
                Err(FetchError::Timeout { cid, timeout, peers })
            }
        };
        drop(guard);
        // Verified once, where it came in: a received block is named by the sha2-256 of its
        // bytes (`bitswap::parse`), and only a block named `cid` answers a want for `cid`.
        out
    }

    /// [`NetworkHandle::get_block`] for synchronous code (a blocking-pool thread or a thread of
    /// its own); must not be called from async code.
    pub fn get_block_blocking(&self, cid: Cid, timeout: Duration, lookup: bool) -> Result<Bytes, FetchError> {
        self.runtime.block_on(self.want(cid, timeout, lookup))
    }

    /// Wants `cid` in the background for at most `timeout`, without a provider lookup of its
    /// own (a prefetch: the block is stored when it comes), and hands it to `then`.
    pub fn spawn_prefetch(&self, cid: Cid, timeout: Duration, then: impl FnOnce(Bytes) + Send + 'static) {
        let me = self.clone();
        self.runtime.spawn(async move {
            if let Ok(b) = me.want(cid, timeout, false).await {
                then(b);
            }
        });
    }

    /// Provider lookups started so far (Kademlia `GET_PROVIDERS` walks).
    pub fn provider_lookups(&self) -> u64 {
        self.stats.provider_lookups.load(Ordering::Relaxed)
    }

    /// Announces in the DHT (Kademlia) that this node provides `cid`, and waits until the
    /// record is stored on the closest peers known (or the attempt failed).
    pub async fn provide(&self, cid: Cid) -> Result<(), NetworkError> {
        self.ask(|tx| Command::Provide(cid, tx)).await?
    }

    /// [`NetworkHandle::provide`] in the background (a failure is logged, not returned).
    pub fn spawn_provide(&self, cid: Cid) {
        let me = self.clone();
        self.runtime.spawn(async move {
            if let Err(e) = me.provide(cid).await {
                tracing::debug!(%cid, error = %e, "not announced");
            }
        });
    }

    /// Stops announcing `cid`: the local provider record goes (this node no longer names itself
    /// when asked) and is not republished. Records other peers already store lapse at their
    /// expiry: Kademlia has no way to delete them. Never blocks (dropped if the queue is full).
    pub fn stop_providing(&self, cid: Cid) {
        let _ = self.tx.try_send(Command::StopProviding(cid));
    }

    /// Whether this node announces `cid` now.
    pub async fn is_providing(&self, cid: Cid) -> Result<bool, NetworkError> {
        self.ask(|tx| Command::Providing(cid, tx)).await
    }

    /// The providers of `cid` a Kademlia lookup finds (this node's own record included).
    pub async fn find_providers(&self, cid: Cid) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(|tx| Command::FindProviders(cid, tx)).await
    }

    /// Tells the network that `cids` were just written to the local store by this node (an
    /// upload, not a fetch: fetched blocks are handled by the network itself), so peers
    /// already waiting for one of them get it now rather than never. Never blocks: if the
    /// swarm's queue is full the notice is dropped (a peer then gets the block when it asks
    /// again, e.g. on reconnecting).
    pub fn notify_local(&self, cids: Vec<Cid>) {
        if !cids.is_empty() {
            let _ = self.tx.try_send(Command::Local(cids));
        }
    }

    /// Stops the swarm (closing every connection) and waits for it.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

struct CancelOnDrop {
    tx: mpsc::Sender<Command>,
    id: u64,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // A full queue leaves the want until its block comes or the peer goes; never blocks.
        let _ = self.tx.try_send(Command::Cancel { id: self.id });
    }
}

struct Query {
    waiters: Vec<(u64, oneshot::Sender<Result<Bytes, FetchError>>)>,
    /// Whom we asked for the block, and how ([`session`]).
    want: session::Want,
    started: std::time::Instant,
    /// A provider lookup was started for it.
    looked_up: bool,
    /// A peer said HAVE.
    heard: bool,
}

/// A want that no peer said HAVE to and no block answered within this long gets a provider
/// lookup, if it did not start with one ([`NetworkHandle::want`]).
pub const LOOKUP_AFTER: Duration = Duration::from_secs(1);
/// At most one such stalled-want lookup starts per this long, over all wants.
pub const LOOKUP_EVERY: Duration = Duration::from_secs(1);
/// Provider lookups running at once for our wants; more wait (a stalled want tries again).
pub const MAX_LOOKUPS: usize = 16;

struct Actor {
    swarm: Swarm<Behaviour>,
    config: NetworkConfig,
    rx: mpsc::Receiver<Command>,
    /// What Bitswap readers received.
    inbound: mpsc::Receiver<bitswap::Inbound>,
    control: libp2p_stream::Control,
    store: Arc<dyn ls_content::Blockstore>,
    stats: Arc<bitswap::Stats>,
    /// Blocks sent lately and to whom, shared by the peers' tasks.
    handed_out: Arc<bitswap::HandedOut>,
    /// The task serving each connected peer.
    bitswap_peers: HashMap<PeerId, mpsc::Sender<bitswap::ToPeer>>,
    /// Where the swarm listens now: what listeners reported, less what expired or closed.
    listen_addrs: Vec<Multiaddr>,
    /// Listeners asked for after start ([`NetworkHandle::listen_on`]) and no address yet.
    listening: HashMap<ListenerId, (Multiaddr, ListenReply)>,
    peers: HashMap<PeerId, PeerInfo>,
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NetworkError>>)>,
    /// Bootstrap dials under way.
    bootstrapping: HashMap<ConnectionId, Multiaddr>,
    /// Our wants.
    queries: HashMap<Cid, Query>,
    by_request: HashMap<u64, Cid>,
    /// Provider lookups running for wants (at most one per want).
    lookups: HashMap<kad::QueryId, Cid>,
    /// When the last stalled want's lookup started.
    last_stalled_lookup: Option<std::time::Instant>,
    /// `find_providers` calls waiting for their lookup to end.
    finding: HashMap<kad::QueryId, (Vec<PeerId>, oneshot::Sender<Vec<PeerId>>)>,
    /// Provider announcements waiting for their records to be stored.
    provides: HashMap<kad::QueryId, (Cid, oneshot::Sender<Result<(), NetworkError>>)>,
    /// CIDs we asked for lately: a block for one of them arriving after another peer's copy (or
    /// after we cancelled) is late, not hostile.
    recently_wanted: lru::LruCache<Cid, ()>,
    blocked: VecDeque<PeerId>,
    /// Per-peer load and latency for choosing whom to ask for a block.
    sessions: session::Sessions,
    /// Blocks received and not yet in the store: a want for one of them (a prefetch that looked
    /// in the store a moment too early) is answered from here rather than asked of peers again.
    storing: HashMap<Cid, Bytes>,
    /// The last blocks written, for a want that raced the write the same way.
    just_stored: lru::LruCache<Cid, (std::time::Instant, Bytes)>,
    /// The writing task reports the blocks it is done with (at most one report per message
    /// received, so the channel holds no more than the writes in flight).
    stored_tx: mpsc::UnboundedSender<Vec<Cid>>,
    stored_rx: mpsc::UnboundedReceiver<Vec<Cid>>,
}

/// Blocks kept in memory after they were stored (4 MiB of 256 KiB leaves, 32 MiB at most),
/// for as long as a want may race the write (a later want is a want: asked of peers).
const JUST_STORED: usize = 16;
const JUST_STORED_FOR: Duration = Duration::from_millis(500);

/// How often open wants are checked for an overdue peer or a HAVE that did not come.
const TICK: Duration = Duration::from_millis(100);

impl Actor {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.tick(),
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Shutdown(done)) => {
                        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                        for p in peers {
                            let _ = self.swarm.disconnect_peer_id(p);
                        }
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.event(event),
                Some(msg) = self.inbound.recv() => self.bitswap_inbound(msg),
                Some(cids) = self.stored_rx.recv() => {
                    for c in cids {
                        if let Some(data) = self.storing.remove(&c) {
                            self.just_stored.put(c, (std::time::Instant::now(), data));
                        }
                    }
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::Listen(addr, reply) => match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    self.listening.insert(id, (addr, reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(NetworkError::Listen { addr, reason: e.to_string() }));
                }
            },
            Command::RemoveListener(id, reply) => {
                let _ = reply.send(self.swarm.remove_listener(id));
            }
            Command::Dial(addr, reply) => {
                let opts = DialOpts::from(addr.clone());
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, (addr, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetworkError::Dial { addr, reason: dial_reason(&e) }));
                    }
                }
            }
            Command::Peers(reply) => {
                let mut peers: Vec<PeerInfo> = self.peers.values().cloned().collect();
                peers.sort_by_key(|p| p.peer_id.to_string());
                let _ = reply.send(peers);
            }
            Command::Get { id, cid, lookup, reply } => {
                if let Some(data) = self.storing.get(&cid) {
                    let _ = reply.send(Ok(data.clone()));
                    return;
                }
                if let Some((at, data)) = self.just_stored.get(&cid).cloned()
                    && at.elapsed() < JUST_STORED_FOR
                {
                    // Written back in case it was removed since (a present block is a no-op).
                    let store = self.store.clone();
                    let d = data.clone();
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = store.put(cid, d) {
                            tracing::warn!(%cid, error = %e, "storing a fetched block failed");
                        }
                    });
                    let _ = reply.send(Ok(data));
                    return;
                }
                if self.peers.is_empty() {
                    let _ = reply.send(Err(FetchError::NoPeers { cid }));
                    return;
                }
                self.recently_wanted.put(cid, ());
                if let Some(query) = self.queries.get_mut(&cid) {
                    query.waiters.push((id, reply));
                    self.by_request.insert(id, cid);
                    // A reader asking for what a prefetch wants: the lookup the reader's want
                    // would have started.
                    if lookup && !query.looked_up {
                        self.look_up(cid);
                    }
                    return;
                }
                if self.queries.len() >= self.config.max_wants {
                    let _ = reply.send(Err(FetchError::Busy { cid, limit: self.config.max_wants }));
                    return;
                }
                // Connected peers get the want now (a want-have, or a want-block for the one
                // peer chosen: see `session`); Kademlia may name providers we are not connected
                // to, which are then dialled (and get the want on connecting).
                let peers: Vec<PeerId> = self.bitswap_peers.keys().copied().collect();
                let (want, sends) = self.sessions.start(&peers, std::time::Instant::now());
                for (peer, kind) in sends {
                    self.send_want(peer, vec![(cid, kind)], false);
                }
                self.by_request.insert(id, cid);
                let now = std::time::Instant::now();
                self.queries
                    .insert(cid, Query { waiters: vec![(id, reply)], want, started: now, looked_up: false, heard: false });
                if lookup {
                    self.look_up(cid);
                }
            }
            Command::Cancel { id } => {
                let Some(cid) = self.by_request.remove(&id) else {
                    return;
                };
                let Some(query) = self.queries.get_mut(&cid) else {
                    return;
                };
                query.waiters.retain(|(w, _)| *w != id);
                if query.waiters.is_empty() {
                    if let Some(q) = self.queries.remove(&cid) {
                        self.sessions.ended(q.want);
                    }
                    self.end_lookups(cid);
                    self.broadcast(|| bitswap::ToPeer::Cancel(vec![cid]));
                }
            }
            Command::Local(cids) => {
                for tx in self.bitswap_peers.values() {
                    for &cid in &cids {
                        let _ = tx.try_send(bitswap::ToPeer::Arrived(cid));
                    }
                }
            }
            Command::Provide(cid, reply) => {
                let key = provider_key(&cid);
                match self.swarm.behaviour_mut().kad.start_providing(key) {
                    Ok(id) => {
                        self.provides.insert(id, (cid, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetworkError::Provide { cid, reason: e.to_string() }));
                    }
                }
            }
            Command::StopProviding(cid) => {
                let key = provider_key(&cid);
                self.swarm.behaviour_mut().kad.stop_providing(&key);
            }
            Command::Providing(cid, reply) => {
                use kad::store::RecordStore;
                let key = provider_key(&cid);
                let providing = self.swarm.behaviour_mut().kad.store_mut().provided().any(|r| r.key == key);
                let _ = reply.send(providing);
            }
            Command::FindProviders(cid, reply) => {
                let key = provider_key(&cid);
                let id = self.swarm.behaviour_mut().kad.get_providers(key);
                self.finding.insert(id, (Vec::new(), reply));
            }
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    /// Ends the want for `cid`: its waiters get `data`, every peer a cancel.
    fn finish(&mut self, cid: Cid, data: Bytes) {
        let Some(query) = self.queries.remove(&cid) else {
            return;
        };
        self.sessions.ended(query.want);
        self.end_lookups(cid);
        self.broadcast(|| bitswap::ToPeer::Cancel(vec![cid]));
        for (id, reply) in query.waiters {
            self.by_request.remove(&id);
            let _ = reply.send(Ok(data.clone()));
        }
    }

    /// Queues a message for every connected peer's task. A peer whose queue is full (it has
    /// not read for a while) misses it.
    fn broadcast(&self, msg: impl Fn() -> bitswap::ToPeer) {
        for (peer, tx) in &self.bitswap_peers {
            if tx.try_send(msg()).is_err() {
                tracing::debug!(%peer, "a peer's bitswap queue is full; a message is dropped");
            }
        }
    }

    /// Queues our wants for `peer`'s task.
    fn send_want(&self, peer: PeerId, wants: Vec<(Cid, bitswap::message::WantType)>, full: bool) {
        if let Some(tx) = self.bitswap_peers.get(&peer)
            && tx.try_send(bitswap::ToPeer::Want { wants, full }).is_err()
        {
            tracing::debug!(%peer, "a peer's bitswap queue is full; a want is dropped");
        }
    }

    /// Starts a provider lookup for the want of `cid` (unless [`MAX_LOOKUPS`] are running:
    /// then a stalled want tries again later).
    fn look_up(&mut self, cid: Cid) {
        if self.lookups.len() >= MAX_LOOKUPS {
            return;
        }
        let Some(q) = self.queries.get_mut(&cid) else {
            return;
        };
        q.looked_up = true;
        let key = provider_key(&cid);
        let id = self.swarm.behaviour_mut().kad.get_providers(key);
        self.lookups.insert(id, cid);
        self.stats.provider_lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves on wants whose peer is overdue or that heard no HAVE in time.
    fn tick(&mut self) {
        if self.queries.is_empty() {
            return;
        }
        let now = std::time::Instant::now();
        // The oldest want nobody answered gets a provider lookup, one such per LOOKUP_EVERY.
        if self.last_stalled_lookup.is_none_or(|t| now.duration_since(t) >= LOOKUP_EVERY) {
            let stalled = self
                .queries
                .iter()
                .filter(|(_, q)| !q.looked_up && !q.heard && now.duration_since(q.started) >= LOOKUP_AFTER)
                .min_by_key(|(_, q)| q.started)
                .map(|(c, _)| *c);
            if let Some(cid) = stalled {
                self.last_stalled_lookup = Some(now);
                self.look_up(cid);
            }
        }
        let peers: Vec<PeerId> = self.bitswap_peers.keys().copied().collect();
        let mut sends: HashMap<PeerId, Vec<(Cid, bitswap::message::WantType)>> = HashMap::new();
        for (cid, q) in self.queries.iter_mut() {
            for p in self.sessions.tick(&mut q.want, &peers, now) {
                sends.entry(p).or_default().push((*cid, bitswap::message::WantType::Block));
            }
        }
        for (peer, wants) in sends {
            self.send_want(peer, wants, false);
        }
    }

    /// The task serving `peer`, started on first use.
    fn peer_task(&mut self, peer: PeerId) -> &mpsc::Sender<bitswap::ToPeer> {
        self.bitswap_peers.entry(peer).or_insert_with(|| {
            bitswap::PeerTask::spawn(
                peer,
                bitswap::Shared {
                    control: self.control.clone(),
                    store: self.store.clone(),
                    stats: self.stats.clone(),
                    handed_out: self.handed_out.clone(),
                },
            )
        })
    }

    fn bitswap_inbound(&mut self, msg: bitswap::Inbound) {
        let (peer, wants, full, blocks, presences) = match msg {
            bitswap::Inbound::Misbehaved { peer, why } => return self.misbehaved(peer, &why),
            bitswap::Inbound::Message { peer, wants, full, blocks, presences } => {
                (peer, wants, full, blocks, presences)
            }
        };
        if !self.swarm.is_connected(&peer) {
            return;
        }
        if (!wants.is_empty() || full)
            && self.peer_task(peer).try_send(bitswap::ToPeer::Theirs { wants, full }).is_err()
        {
            tracing::debug!(%peer, "a peer's bitswap queue is full; its wants are dropped");
        }
        let now = std::time::Instant::now();
        let mut next = Vec::new();
        for (cid, have) in presences {
            // A presence for something we no longer want (or never asked about) is ignored.
            if let Some(q) = self.queries.get_mut(&cid) {
                q.heard |= have;
                if let Some(p) = self.sessions.presence(&mut q.want, peer, have, now) {
                    next.push((p, cid));
                }
            }
        }
        for (p, cid) in next {
            self.send_want(p, vec![(cid, bitswap::message::WantType::Block)], false);
        }
        let mut wanted = Vec::new();
        let mut unasked = None;
        for (cid, data) in blocks {
            // Like Kubo, a block for anything we want is taken from any peer, whether it was
            // asked for the block, only whether it has it, or not at all (it kept an old want).
            if let Some(q) = self.queries.get(&cid) {
                self.sessions.block(&q.want, peer, now);
                self.finish(cid, data.clone());
                wanted.push((cid, data));
            } else if self.recently_wanted.contains(&cid) {
                tracing::debug!(%peer, %cid, "a late copy of a block we had");
            } else {
                unasked = Some(cid);
                break;
            }
        }
        if !wanted.is_empty() {
            self.keep(wanted);
        }
        if let Some(cid) = unasked {
            self.misbehaved(peer, &format!("sent block {cid}, which we never asked for"));
        }
    }

    /// Stores blocks we wanted (the reader's store may write them too: a present block is a
    /// no-op), one blocking task per message, and offers each to the peers that wanted it.
    fn keep(&mut self, blocks: Vec<(Cid, Bytes)>) {
        let store = self.store.clone();
        let stats = self.stats.clone();
        let done = self.stored_tx.clone();
        let cids: Vec<Cid> = blocks.iter().map(|(c, _)| *c).collect();
        for (cid, data) in &blocks {
            self.storing.insert(*cid, data.clone());
        }
        let peers: Vec<mpsc::Sender<bitswap::ToPeer>> = self.bitswap_peers.values().cloned().collect();
        tokio::spawn(async move {
            let stored = tokio::task::spawn_blocking(move || {
                let mut stored = Vec::with_capacity(blocks.len());
                for (cid, data) in blocks {
                    let len = data.len() as u64;
                    match store.put(cid, data) {
                        Ok(()) => stored.push((cid, len)),
                        Err(e) => tracing::warn!(%cid, error = %e, "storing a fetched block failed"),
                    }
                }
                stored
            })
            .await
            .unwrap_or_default();
            let _ = done.send(cids);
            use std::sync::atomic::Ordering::Relaxed;
            for (cid, len) in stored {
                stats.blocks_received.fetch_add(1, Relaxed);
                stats.bytes_received.fetch_add(len, Relaxed);
                for tx in &peers {
                    let _ = tx.try_send(bitswap::ToPeer::Arrived(cid));
                }
            }
        });
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            // Addresses reported after start: another interface under 0.0.0.0, a listener added
            // by `listen_on`. The ones reported during `Network::start` the caller prints.
            SwarmEvent::NewListenAddr { listener_id, address } => {
                if !self.listen_addrs.contains(&address) {
                    tracing::info!("P2P listening on {}", self.dialable_as(&address));
                    self.listen_addrs.push(address.clone());
                }
                if let Some((_, reply)) = self.listening.remove(&listener_id) {
                    let _ = reply.send(Ok((listener_id, address)));
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.unlisten(&[address]),
            // A closed listener's addresses are not reported expired one by one.
            SwarmEvent::ListenerClosed { listener_id, addresses, reason } => {
                self.unlisten(&addresses);
                let reason = reason.err().map(|e| e.to_string());
                if let Some(e) = &reason {
                    tracing::warn!(error = %e, "a P2P listener failed");
                }
                if let Some((addr, reply)) = self.listening.remove(&listener_id) {
                    let reason = reason.unwrap_or_else(|| "closed".into());
                    let _ = reply.send(Err(NetworkError::Listen { addr, reason }));
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!(%error, "a P2P listener reported an error");
                if let Some((addr, reply)) = self.listening.remove(&listener_id) {
                    self.swarm.remove_listener(listener_id);
                    let _ = reply.send(Err(NetworkError::Listen { addr, reason: error.to_string() }));
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
                let addr = endpoint.get_remote_address().clone();
                if num_established.get() == 1 {
                    self.sessions.connected(peer_id);
                    let task = self.peer_task(peer_id).clone();
                    if !self.queries.is_empty() {
                        // A new peer hears everything we are looking for.
                        let now = std::time::Instant::now();
                        let wants: Vec<(Cid, bitswap::message::WantType)> = self
                            .queries
                            .iter_mut()
                            .map(|(cid, q)| (*cid, self.sessions.joined(&mut q.want, peer_id, now)))
                            .collect();
                        let _ = task.try_send(bitswap::ToPeer::Want { wants, full: true });
                    }
                }
                self.peers.entry(peer_id).or_insert_with(|| PeerInfo {
                    peer_id,
                    addr: addr.clone(),
                    agent_version: None,
                    protocols: Vec::new(),
                });
                if let Some((_, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                self.bootstrapping.remove(&connection_id);
                tracing::debug!(%peer_id, %addr, "connected");
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.peers.remove(&peer_id);
                // Its task ends once its queue is empty; what it wanted from us is forgotten.
                self.bitswap_peers.remove(&peer_id);
                // Wants it was asked for go to the next peer that said HAVE.
                let now = std::time::Instant::now();
                let mut next = Vec::new();
                for (cid, q) in self.queries.iter_mut() {
                    if let Some(p) = self.sessions.gone(&mut q.want, &peer_id, now) {
                        next.push((p, *cid));
                    }
                }
                self.sessions.disconnected(&peer_id);
                for (p, cid) in next {
                    self.send_want(p, vec![(cid, bitswap::message::WantType::Block)], false);
                }
            }
            SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                if let Some((addr, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetworkError::Dial { addr, reason: dial_reason(&error) }));
                }
                if let Some(addr) = self.bootstrapping.remove(&connection_id) {
                    tracing::warn!(%addr, error = %dial_reason(&error), "bootstrap dial failed");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                let kad_proto = StreamProtocol::new("/ipfs/kad/1.0.0");
                if info.protocols.contains(&kad_proto) {
                    for addr in info.listen_addrs.iter().filter(|a| dialable(a)) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                    }
                }
                let v12 = info.protocols.contains(&bitswap::PROTOCOL_1_2);
                let older = info.protocols.iter().any(|p| p.as_ref().starts_with("/ipfs/bitswap"));
                if self.peers.contains_key(&peer_id) {
                    self.sessions.identified(peer_id, v12, older);
                }
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.agent_version = Some(info.agent_version);
                    p.protocols = info.protocols.iter().map(|p| p.to_string()).collect();
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result,
                step,
                ..
            })) => {
                if let kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { providers, .. })) =
                    &result
                    && self.lookups.contains_key(&id)
                {
                    let me = *self.swarm.local_peer_id();
                    for &p in providers {
                        if p != me && !self.swarm.is_connected(&p) {
                            // Addresses come from the running lookup (kad hands them to the dial).
                            if let Err(e) = self.swarm.dial(DialOpts::peer_id(p).build()) {
                                tracing::debug!(peer = %p, error = %e, "dialling a provider failed");
                            }
                        }
                    }
                }
                if let kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { providers, .. })) =
                    &result
                    && let Some((found, _)) = self.finding.get_mut(&id)
                {
                    found.extend(providers.iter().copied().filter(|p| !found.contains(p)).collect::<Vec<_>>());
                }
                if let kad::QueryResult::StartProviding(r) = &result
                    && let Some((cid, reply)) = self.provides.remove(&id)
                {
                    let _ = reply
                        .send(r.as_ref().map(|_| ()).map_err(|e| NetworkError::Provide { cid, reason: e.to_string() }));
                }
                if step.last {
                    self.lookups.remove(&id);
                    self.provides.remove(&id);
                    if let Some((found, reply)) = self.finding.remove(&id) {
                        let _ = reply.send(found);
                    }
                }
            }
            _ => {}
        }
    }

    /// `addr` as others dial it: with `/p2p/<our id>`.
    fn dialable_as(&self, addr: &Multiaddr) -> Multiaddr {
        addr.clone().with_p2p(*self.swarm.local_peer_id()).unwrap_or_else(|a| a)
    }

    /// Addresses no longer listened on (expired, or their listener closed).
    fn unlisten(&mut self, gone: &[Multiaddr]) {
        for addr in gone {
            if self.listen_addrs.contains(addr) {
                tracing::info!("P2P no longer listening on {}", self.dialable_as(addr));
                self.listen_addrs.retain(|a| a != addr);
            }
        }
    }

    /// Stops the provider lookup of a want that ended.
    fn end_lookups(&mut self, q: Cid) {
        let ids: Vec<kad::QueryId> = self.lookups.iter().filter(|(_, w)| **w == q).map(|(k, _)| *k).collect();
        for id in ids {
            self.lookups.remove(&id);
            if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                query.finish();
            }
        }
    }

    /// Disconnects `peer` and refuses it from now on (up to `max_blocked_peers` remembered).
    fn misbehaved(&mut self, peer: PeerId, why: &str) {
        tracing::warn!(%peer, "disconnecting a peer that {why}");
        let behaviour = self.swarm.behaviour_mut();
        if behaviour.blocked.block_peer(peer) {
            self.blocked.push_back(peer);
            if self.blocked.len() > self.config.max_blocked_peers
                && let Some(old) = self.blocked.pop_front()
            {
                behaviour.blocked.unblock_peer(old);
            }
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }
}

/// The Kademlia key of `cid`'s provider records: its multihash, as Kubo keys them (so one
/// record serves a CIDv0 and a CIDv1 of the same block).
fn provider_key(cid: &Cid) -> kad::RecordKey {
    kad::RecordKey::new(&cid.hash().to_bytes())
}

/// The largest WebSocket message taken from a peer. Noise, which runs inside, sends frames of
/// 64 KiB at most; the transport's default (256 MiB) would let a peer that has not even finished
/// its handshake make us buffer that much.
const MAX_WEBSOCKET_MESSAGE: usize = 1 << 20;

/// `/…/tcp/N/ws`: a WebSocket over TCP, then noise and yamux as on TCP itself (what a browser's
/// js-libp2p speaks). Plain `ws` only: `/tls/ws` (wss) would need a certificate.
fn websocket(key: &Keypair, yamux_cfg: yamux::Config) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    let mut ws = libp2p::websocket::Config::new(tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)));
    ws.set_max_data_size(MAX_WEBSOCKET_MESSAGE);
    Ok(ws
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux_cfg)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// Why a dial failed, on one line: what each address tried said, without the swarm's wrapping
/// ("Failed to negotiate transport protocol(s)") and the chain of sources it repeats. The DNS
/// transport lists the error of every address a name resolved to, a line each (" - …").
fn dial_reason(e: &DialError) -> String {
    let DialError::Transport(tried) = e else {
        return e.to_string();
    };
    let mut out: Vec<String> = Vec::new();
    for (_, err) in tried {
        let text = match err {
            libp2p::TransportError::MultiaddrNotSupported(a) => format!("{a} is not an address we can dial"),
            libp2p::TransportError::Other(e) => e.to_string(),
        };
        for line in text.lines().map(|l| l.trim().trim_start_matches("- ")) {
            if !line.is_empty() && line != "Multiple dial errors occurred:" && !out.iter().any(|o| o == line) {
                out.push(line.to_string());
            }
        }
    }
    out.join("; ")
}

/// The resolver for `/dns…` addresses: `name_servers` (UDP, then TCP for long answers) if any,
/// else the system's. A system without `/etc/resolv.conf` still resolves `localhost` and the
/// names in `/etc/hosts`; others then fail at once, naming the address.
fn resolver(name_servers: &[SocketAddr]) -> (ResolverConfig, ResolverOpts) {
    use hickory_resolver::{config::NameServerConfig, proto::xfer::Protocol as Dns};
    if !name_servers.is_empty() {
        let mut cfg = ResolverConfig::new();
        for &ns in name_servers {
            cfg.add_name_server(NameServerConfig::new(ns, Dns::Udp));
            cfg.add_name_server(NameServerConfig::new(ns, Dns::Tcp));
        }
        return (cfg, ResolverOpts::default());
    }
    hickory_resolver::system_conf::read_system_conf().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no system DNS configuration: /dns addresses resolve from /etc/hosts only");
        (ResolverConfig::new(), ResolverOpts::default())
    })
}

/// Whether an address a peer reports is worth handing to Kademlia: one of our transports on an
/// IP address or a DNS name (`/ip4|ip6|dns4|dns6|dns/…/tcp/N`, `…/tcp/N/ws`,
/// `…/udp/N/quic-v1`), not a relay, WebTransport, WebRTC or a secure WebSocket. Not
/// `/dnsaddr` either: a name standing for a list of addresses (several lookups) is for
/// bootstrap lists, not for every address a peer reports.
fn dialable(addr: &Multiaddr) -> bool {
    let ps: Vec<Protocol> = addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect();
    let host = |p: &Protocol| {
        matches!(p, Protocol::Ip4(_) | Protocol::Ip6(_) | Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_))
    };
    match ps.as_slice() {
        [h, Protocol::Tcp(_)]
        | [h, Protocol::Tcp(_), Protocol::Ws(_)]
        | [h, Protocol::Udp(_), Protocol::QuicV1] => host(h),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kademlia_keeps_only_addresses_we_can_dial() {
        let ok = [
            "/ip4/1.2.3.4/tcp/4001",
            "/ip6/::1/tcp/4001/ws",
            "/ip4/1.2.3.4/udp/4001/quic-v1/p2p/12D3KooWA1b3VwZNZ8P1tsTjTv6yGVYNQ6EyDTUuS6fLS7Fnn5vq",
            "/dns4/example.com/tcp/4001",
            "/dns6/example.com/udp/4001/quic-v1",
            "/dns/example.com/tcp/4002/ws/p2p/12D3KooWA1b3VwZNZ8P1tsTjTv6yGVYNQ6EyDTUuS6fLS7Fnn5vq",
        ];
        for a in ok {
            assert!(dialable(&a.parse().unwrap()), "{a}");
        }
        let no = [
            "/ip4/1.2.3.4/udp/4001/quic-v1/webtransport",
            "/ip4/1.2.3.4/udp/4001/webrtc-direct",
            "/ip4/1.2.3.4/tcp/443/tls/ws",
            "/ip4/1.2.3.4/tcp/443/wss",
            "/dnsaddr/bootstrap.libp2p.io/p2p/12D3KooWA1b3VwZNZ8P1tsTjTv6yGVYNQ6EyDTUuS6fLS7Fnn5vq",
            "/dns4/example.com/tcp/443/wss",
            "/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWA1b3VwZNZ8P1tsTjTv6yGVYNQ6EyDTUuS6fLS7Fnn5vq/p2p-circuit",
            "/ip4/1.2.3.4/udp/4001/quic",
        ];
        for a in no {
            assert!(!dialable(&a.parse().unwrap()), "{a}");
        }
    }
}

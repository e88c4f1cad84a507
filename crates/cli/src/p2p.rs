//! The node's IPFS peer (`--p2p-addr`, `--bootstrap`), its Kubo-shaped API calls on the
//! gateway port (`/api/v0/id`, `swarm/peers`, `swarm/connect`, `routing/provide`,
//! `routing/findprovs`), the pin
//! announcer and `lightstreams swarm`.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use clap::{Args, Subcommand};
use ls_content::Blockstore;
use ls_network::{FetchingBlockstore, Multiaddr, Network, NetworkConfig, NetworkHandle};
use serde_json::json;

use crate::remote::{NodeArg, api_post, client, read_json};

#[derive(Debug, Args)]
pub struct P2pArgs {
    /// libp2p listen address (repeatable), as Kubo's `Addresses.Swarm`: TCP
    /// (/ip4/…/tcp/N), QUIC (/ip4/…/udp/N/quic-v1) or WebSocket (/ip4/…/tcp/N/ws); "none"
    /// turns the peer-to-peer network off. Default: the config file's `p2p_addr`, else TCP and
    /// QUIC on loopback on Kubo's port 4001 (/ip4/127.0.0.1/tcp/4001 and
    /// /ip4/127.0.0.1/udp/4001/quic-v1); use 0.0.0.0 to be reachable from other machines. No
    /// WebSocket unless asked for, e.g. --p2p-addr /ip4/127.0.0.1/tcp/4002/ws.
    #[arg(long = "p2p-addr")]
    p2p_addr: Vec<String>,
    /// A peer to connect to at start (repeatable), e.g. /ip4/10.0.0.2/tcp/4001/p2p/12D3Koo…
    /// (or …/udp/4001/quic-v1/p2p/… or …/tcp/4002/ws/p2p/…); a DNS name instead of the IP
    /// address (/dns4/host/…, /dns6/…, /dns/…) or /dnsaddr/host/p2p/12D3Koo… is resolved
    /// through the system's resolver when dialled.
    #[arg(long)]
    bootstrap: Vec<Multiaddr>,
    /// How long a read waits for a missing block from peers before failing.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    fetch_timeout: Duration,
    /// Most bytes of unpinned blocks (content fetched from peers) kept; beyond it the least
    /// recently used go (e.g. 10GiB, 500MB; 0 keeps nothing unpinned). On disk the block
    /// packs may hold up to about as much again in removed blocks until they are compacted.
    #[arg(long, default_value = "10GiB", value_parser = crate::node::parse_size)]
    cache_size: u64,
}

/// Where the swarm listens when neither `--p2p-addr` nor a config file says: TCP and QUIC on
/// one port number, as Kubo does (TCP first: it is the address printed first).
pub const DEFAULT_P2P_ADDRS: [&str; 2] = ["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"];

impl P2pArgs {
    /// Takes a config file's `p2p_addr` (unless `--p2p-addr` was given) and adds its bootstrap
    /// peers.
    pub fn with_config(&mut self, p2p_addr: Option<&str>, bootstrap: &[String]) -> anyhow::Result<()> {
        if self.p2p_addr.is_empty()
            && let Some(a) = p2p_addr
        {
            self.p2p_addr.push(a.to_string());
        }
        for b in bootstrap {
            self.bootstrap
                .push(b.parse().with_context(|| format!("bootstrap {b:?} in the config is not a multiaddr"))?);
        }
        Ok(())
    }
}

/// The running peer.
pub struct P2p {
    net: NetworkHandle,
    fetching: Arc<FetchingBlockstore>,
    cache_size: u64,
}

/// Starts the swarm over `local` (unless `--p2p-addr none`) and prints the peer id and the
/// addresses it listens on. The key lives in `<datadir>/p2p/peer.key`.
pub async fn start(args: &P2pArgs, dir: &Path, local: Arc<dyn Blockstore>) -> anyhow::Result<Option<P2p>> {
    let addrs = if args.p2p_addr.is_empty() {
        DEFAULT_P2P_ADDRS.iter().map(|a| a.to_string()).collect()
    } else {
        args.p2p_addr.clone()
    };
    if addrs.iter().any(|a| a == "none") {
        anyhow::ensure!(addrs.len() == 1, "--p2p-addr none cannot be combined with addresses");
        return Ok(None);
    }
    let listen = addrs
        .iter()
        .map(|a| a.parse::<Multiaddr>().with_context(|| format!("--p2p-addr {a:?} is not a multiaddr")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let key_path = dir.join("p2p").join("peer.key");
    let key = ls_network::load_or_create_keypair(&key_path)?;
    let config = NetworkConfig {
        listen,
        bootstrap: args.bootstrap.clone(),
        agent_version: format!("lightstreams/{}", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    };
    let net = Network::start(config, key, local.clone())
        .await
        .context("starting the peer-to-peer network (--p2p-addr none turns it off)")?;
    println!("Peer ID: {}", net.peer_id());
    for addr in net.listen_addrs().await? {
        println!("P2P listening on {addr}");
    }
    let fetching = Arc::new(FetchingBlockstore::new(local, net.clone(), args.fetch_timeout));
    Ok(Some(P2p { net, fetching, cache_size: args.cache_size }))
}

impl P2p {
    /// The local store with misses fetched from peers: what the gateway reads through.
    pub fn blockstore(&self) -> Arc<dyn Blockstore> {
        self.fetching.clone()
    }

    /// Keeps unpinned blocks under `--cache-size`: every [`TRIM_EVERY`] after something was
    /// fetched (and once at start), the least recently used unpinned blocks are removed
    /// (`Repo::trim`, under the collection lock, so an upload in progress loses nothing), and
    /// the fetched roots they belonged to are no longer announced (`FetchingBlockstore::withdraw`).
    pub fn trim_cache(&self, repo: Arc<ls_content::Repo>) {
        let (fetching, quota, net) = (self.fetching.clone(), self.cache_size, self.net.clone());
        tokio::spawn(async move {
            let (mut trimmed_at, mut settled) = (None, true);
            loop {
                // Everything stored from peers counts, prefetched blocks included. A block is
                // counted when it arrives and stored just after, in the background, so the
                // round after the count stops moving trims once more.
                let fetched = net.received().1;
                if trimmed_at != Some(fetched) || !settled {
                    let (r, f) = (repo.clone(), fetching.clone());
                    match tokio::task::spawn_blocking(move || r.trim(quota, &f.recent())).await {
                        Ok(Ok(report)) if !report.removed.is_empty() => {
                            // Files no longer held whole are no longer announced.
                            let withdrawn = fetching.withdraw(&report.removed);
                            tracing::info!(
                                blocks = report.removed.len(),
                                bytes = report.freed_bytes,
                                withdrawn = withdrawn.len(),
                                "cache over --cache-size: least recently used blocks removed"
                            )
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "trimming the cache failed"),
                        Err(_) => return,
                    }
                    settled = trimmed_at == Some(fetched);
                    trimmed_at = Some(fetched);
                }
                tokio::time::sleep(TRIM_EVERY).await;
            }
        });
    }

    /// The API calls, merged into the gateway's router. Like the gateway's own calls they refuse
    /// any request with an `Origin` (a web page).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v0/id", post(id))
            .route("/api/v0/swarm/peers", post(peers))
            .route("/api/v0/swarm/connect", post(connect))
            .route("/api/v0/routing/provide", post(provide))
            .route("/api/v0/routing/findprovs", post(findprovs))
            .with_state(self.net.clone())
    }

    /// Announces every pin in the DHT: each new pin within [`ANNOUNCE_EVERY`] of being made
    /// (Kademlia republishes the records itself from then on), as Kubo's reprovider does for
    /// pinned roots. Runs until the network stops.
    pub fn announce_pins(&self, repo: Arc<ls_content::Repo>) {
        let net = self.net.clone();
        tokio::spawn(async move {
            let mut announced = std::collections::HashSet::new();
            loop {
                let r = repo.clone();
                if let Ok(Ok(pins)) = tokio::task::spawn_blocking(move || r.pins()).await {
                    announced.retain(|c| pins.contains(c));
                    for cid in pins {
                        if announced.contains(&cid) {
                            continue;
                        }
                        match net.provide(cid).await {
                            Ok(()) => {
                                announced.insert(cid);
                            }
                            Err(ls_network::NetworkError::Stopped) => return,
                            // No peer to hold the record yet: tried again next round.
                            Err(e) => tracing::debug!(%cid, error = %e, "not announced"),
                        }
                    }
                }
                tokio::time::sleep(ANNOUNCE_EVERY).await;
            }
        });
    }

    pub async fn shutdown(&self) {
        self.net.shutdown().await;
    }
}

fn refused(headers: &HeaderMap) -> Option<Response> {
    headers.contains_key(header::ORIGIN).then(|| {
        (StatusCode::FORBIDDEN, "API calls are refused from web pages (a request with an Origin)").into_response()
    })
}

fn api_error(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({"Message": msg, "Code": 0, "Type": "error"}))).into_response()
}

/// The `arg` of a Kubo-shaped call, parsed; refused for web pages (an Origin), a missing
/// argument (Kubo names it `what`) and one that does not parse.
// The error is the response the handler returns at once, never carried further.
#[allow(clippy::result_large_err)]
fn parse_arg<T>(
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
    what: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Response> {
    if let Some(r) = refused(headers) {
        return Err(r);
    }
    let arg = query
        .get("arg")
        .ok_or_else(|| api_error(StatusCode::BAD_REQUEST, format!("argument \"{what}\" is required")))?;
    parse(arg).map_err(|e| api_error(StatusCode::BAD_REQUEST, e))
}

/// The CID in `arg` (Kubo calls the argument "key").
#[allow(clippy::result_large_err)] // as `parse_arg`
fn cid_arg(headers: &HeaderMap, query: &std::collections::HashMap<String, String>) -> Result<cid::Cid, Response> {
    parse_arg(headers, query, "key", |a| cid::Cid::try_from(a).map_err(|e| format!("invalid CID {a:?}: {e}")))
}

async fn id(State(net): State<NetworkHandle>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&headers) {
        return r;
    }
    let addrs = net.listen_addrs().await.unwrap_or_default();
    Json(json!({
        "ID": net.peer_id().to_string(),
        "Addresses": addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "AgentVersion": format!("lightstreams/{}", env!("CARGO_PKG_VERSION")),
    }))
    .into_response()
}

async fn peers(State(net): State<NetworkHandle>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&headers) {
        return r;
    }
    match net.peers().await {
        Ok(peers) => {
            let list: Vec<_> = peers
                .iter()
                .map(|p| {
                    // Kubo's `Addr` is the transport address alone; one we dialled still ends
                    // in the `/p2p/<id>` it was given.
                    let addr = p.addr.to_string();
                    let addr = addr.strip_suffix(&format!("/p2p/{}", p.peer_id)).unwrap_or(&addr);
                    json!({
                        "Peer": p.peer_id.to_string(),
                        "Addr": addr,
                        "AgentVersion": p.agent_version,
                        "Bitswap": p.speaks_bitswap(),
                    })
                })
                .collect();
            Json(json!({ "Peers": list })).into_response()
        }
        Err(e) => api_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn connect(
    State(net): State<NetworkHandle>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let parse = |a: &str| a.parse::<Multiaddr>().map_err(|e| format!("{a:?} is not a multiaddr: {e}"));
    let addr = match parse_arg(&headers, &q, "address", parse) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match net.dial(addr).await {
        Ok(peer) => Json(json!({ "Strings": [format!("connect {peer} success")] })).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn provide(
    State(net): State<NetworkHandle>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let cid = match cid_arg(&headers, &q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match net.provide(cid).await {
        Ok(()) => Json(json!({ "Provided": cid.to_string() })).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `routing/findprovs`: the providers a Kademlia lookup finds, one NDJSON line each in Kubo's
/// shape (`Type` 4 is a provider record; addresses are not reported).
async fn findprovs(
    State(net): State<NetworkHandle>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let cid = match cid_arg(&headers, &q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match tokio::time::timeout(FINDPROVS_TIMEOUT, net.find_providers(cid)).await {
        Ok(Ok(found)) => {
            let mut body = String::new();
            for p in found {
                let line = json!({"Extra": "", "ID": "", "Responses": [{"Addrs": [], "ID": p.to_string()}], "Type": 4});
                body.push_str(&line.to_string());
                body.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => api_error(StatusCode::GATEWAY_TIMEOUT, format!("no answer for {cid} within {FINDPROVS_TIMEOUT:?}")),
    }
}

/// How long `routing/findprovs` waits for its lookup.
const FINDPROVS_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the cache is checked against `--cache-size` (when something was fetched).
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// How often new pins are looked for to announce.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// List the peers the node is connected to (like `ipfs swarm peers`).
    Peers {
        #[command(flatten)]
        node: NodeArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Connect the node to a peer (like `ipfs swarm connect`).
    Connect {
        #[command(flatten)]
        node: NodeArg,
        /// The peer's multiaddr, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo… (QUIC:
        /// …/udp/4001/quic-v1/p2p/…; WebSocket: …/tcp/4002/ws/p2p/…; a DNS name:
        /// /dns4/host/tcp/4001/p2p/…, or /dnsaddr/host/p2p/…).
        addr: String,
    },
}

pub fn run(cmd: SwarmCommand) -> anyhow::Result<()> {
    let http = client()?;
    match cmd {
        SwarmCommand::Peers { node, json } => {
            let v = read_json(api_post(&http, &node.node, "swarm/peers", &[])?, "swarm/peers")?;
            if json {
                println!("{v}");
            } else {
                for p in v["Peers"].as_array().into_iter().flatten() {
                    println!("{}/p2p/{}", p["Addr"].as_str().unwrap_or(""), p["Peer"].as_str().unwrap_or(""));
                }
            }
        }
        SwarmCommand::Connect { node, addr } => {
            let v = read_json(api_post(&http, &node.node, "swarm/connect", &[("arg", &addr)])?, "swarm/connect")?;
            for s in v["Strings"].as_array().into_iter().flatten() {
                println!("{}", s.as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}

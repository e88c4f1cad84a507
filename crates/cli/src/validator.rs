//! A validator, or a full node, of a network `lightstreams testnet` wrote: the commonware runtime
//! (tokio) on its own thread, the `lookup` authenticated network to the validators named in
//! `network.json` (full nodes listed there as followers are let in), and
//! `ls_consensus::start_validator` driving the node's chain.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _, ed25519};
use commonware_p2p::{Address, AddressableManager as _, AddressableTrackedPeers, authenticated::lookup};
use commonware_runtime::{Clock as _, Runner as _, Spawner as _, Supervisor as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZUsize, ordered::Map};
use ls_chain::Chain;
use ls_consensus::{BlockLimits, Channels, Identity, ValidatorConfig, max_message_size, quota, start_validator};
use ls_primitives::network::{NetworkSpec, NodeConfig};

/// A leader that has not proposed within this is skipped (its view is nullified).
const LEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// Loopback and private addresses need `lookup`'s local profile (a testnet on one machine).
fn is_local(addr: &SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback() || ip.is_private(),
        std::net::IpAddr::V6(ip) => ip.is_loopback(),
    }
}

/// How often the highest finalized height marshal knows is read (for eth_syncing).
const SYNC_POLL: Duration = Duration::from_millis(250);

/// Starts consensus for this node on a thread of its own; it runs until the process exits.
/// `finalized` follows the highest finalized height marshal knows of (it may not have every
/// block below it yet).
pub fn spawn(
    chain: Arc<Chain>,
    config: &NodeConfig,
    network: &NetworkSpec,
    metrics: crate::metrics::Source,
    finalized: Arc<AtomicU64>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let mut validators = Vec::with_capacity(network.validators.len());
    let mut primary = Vec::with_capacity(network.validators.len());
    for v in &network.validators {
        let pk: ed25519::PublicKey =
            crate::testnet::decode_hex(&v.consensus_key).with_context(|| format!("bad consensus key {}", v.consensus_key))?;
        validators.push((pk.clone(), v.address));
        primary.push((pk, Address::Symmetric(v.consensus_addr)));
    }
    // Full nodes: validators accept their connections (never dial them) and send them what
    // they broadcast; a full node dials the validators.
    let mut secondary = Vec::with_capacity(network.followers.len());
    for f in &network.followers {
        let pk: ed25519::PublicKey =
            crate::testnet::decode_hex(&f.consensus_key).with_context(|| format!("bad consensus key {}", f.consensus_key))?;
        secondary.push((pk, Address::Symmetric(f.consensus_addr)));
    }
    let identity = match (&config.validator_key, &config.node_key) {
        (Some(path), _) => {
            let key = crate::testnet::load_consensus_key(path)?;
            if !validators.iter().any(|(pk, _)| *pk == key.public_key()) {
                bail!("{} is not the key of any validator in {}", path.display(), config.network.display());
            }
            Identity::Validator(key)
        }
        (None, Some(path)) => {
            let key = crate::testnet::load_consensus_key(path)?;
            if !secondary.iter().any(|(pk, _)| *pk == key.public_key()) {
                bail!(
                    "{} is not the key of any follower in {}: the validators would refuse this node",
                    path.display(),
                    config.network.display()
                );
            }
            Identity::Follower(key)
        }
        (None, None) => bail!(
            "{} names neither validator_key nor node_key: a node of a network needs one",
            config.network.display()
        ),
    };
    let key = identity.private_key().clone();
    let role = if matches!(identity, Identity::Validator(_)) { "validator" } else { "full node" };
    let n = validators.len();
    let peers = n + secondary.len();
    let limits = BlockLimits::default();
    let namespace = format!("lightstreams-{}", network.chain.chain_id).into_bytes();
    let cfg = ValidatorConfig {
        namespace: namespace.clone(),
        validators,
        identity,
        block_time: Duration::from_millis(network.block_time_ms),
        leader_timeout: LEADER_TIMEOUT,
        limits,
        partition_prefix: "validator".into(),
    };
    let listen = config.consensus_addr;
    let storage = config.datadir.join("consensus");
    std::fs::create_dir_all(&storage).with_context(|| format!("creating {}", storage.display()))?;
    let thread = std::thread::Builder::new().name("consensus".into()).spawn(move || {
        let runtime = commonware_runtime::tokio::Config::new().with_worker_threads(2).with_storage_directory(storage);
        commonware_runtime::tokio::Runner::new(runtime).start(|context| async move {
            let registry = context.child("metrics");
            let _ = metrics.set(Box::new(move || commonware_runtime::Metrics::encode(&registry)));
            let handshake = Cups::<_, ChaCha20Poly1305>::new(
                Sake {
                    signer: key,
                    synchrony_bound: Duration::from_secs(5),
                    max_handshake_age: Duration::from_secs(10),
                    version: sake::Version::V1,
                },
                cups::Version::V1,
            );
            let max_size = max_message_size(n as u32, &limits);
            let p2p = if is_local(&listen) {
                lookup::Config::local(handshake, &namespace, listen, NZUsize!(peers.max(1)), max_size, NZUsize!(1024))
            } else {
                lookup::Config::recommended(handshake, &namespace, listen, NZUsize!(peers.max(1)), max_size, NZUsize!(1024))
            };
            let (mut net, mut oracle) = lookup::Network::new(context.child("p2p"), p2p);
            let _ = oracle.track(
                0,
                AddressableTrackedPeers::new(Map::from_iter_dedup(primary), Map::from_iter_dedup(secondary)),
            );
            let channels = Channels {
                votes: net.register(ls_consensus::CH_VOTES, quota()),
                certificates: net.register(ls_consensus::CH_CERTIFICATES, quota()),
                resolver: net.register(ls_consensus::CH_RESOLVER, quota()),
                blocks: net.register(ls_consensus::CH_BLOCKS, quota()),
                backfill: net.register(ls_consensus::CH_BACKFILL, quota()),
                txs: net.register(ls_consensus::CH_TXS, quota()),
            };
            net.start();
            let validator = start_validator(context.child("validator"), chain, cfg, oracle.clone(), oracle, channels).await;
            tracing::info!(%listen, "{role} started");
            let marshal = validator.marshal.clone();
            context.child("sync").spawn(move |ctx| async move {
                loop {
                    if let Some(height) = ls_consensus::Validator::known_finalized(&marshal).await {
                        finalized.fetch_max(height, Ordering::Relaxed);
                    }
                    ctx.sleep(SYNC_POLL).await;
                }
            });
            let _ = validator.engine.await;
            tracing::error!("consensus engine stopped");
        });
    })?;
    Ok(thread)
}

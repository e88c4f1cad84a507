//! A validator of a network `lightstreams testnet` wrote: the commonware runtime (tokio) on its
//! own thread, the `lookup` authenticated network to the validators named in `network.json`,
//! and `ls_consensus::start_validator` driving the node's chain.

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
use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
use commonware_runtime::{Clock as _, Runner as _, Spawner as _, Supervisor as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZUsize, ordered::Map};
use ls_chain::Chain;
use ls_consensus::{BlockLimits, Channels, ValidatorConfig, max_message_size, quota, start_validator};
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
    let Some(key_path) = &config.validator_key else {
        bail!("{} names no validator_key: nodes that follow a network without validating are not supported yet", config.network.display());
    };
    let key = crate::testnet::load_validator_key(key_path)?;
    let me = key.public_key();
    let mut validators = Vec::with_capacity(network.validators.len());
    let mut addresses = Vec::with_capacity(network.validators.len());
    for v in &network.validators {
        let pk: ed25519::PublicKey =
            crate::testnet::decode_hex(&v.consensus_key).with_context(|| format!("bad consensus key {}", v.consensus_key))?;
        validators.push((pk.clone(), v.address));
        addresses.push((pk, Address::Symmetric(v.consensus_addr)));
    }
    if !validators.iter().any(|(pk, _)| *pk == me) {
        bail!("{} is not the key of any validator in {}", key_path.display(), config.network.display());
    }
    let n = validators.len();
    let limits = BlockLimits::default();
    let namespace = format!("lightstreams-{}", network.chain.chain_id).into_bytes();
    let cfg = ValidatorConfig {
        namespace: namespace.clone(),
        validators,
        key: key.clone(),
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
                lookup::Config::local(handshake, &namespace, listen, NZUsize!(n.max(1)), max_size, NZUsize!(1024))
            } else {
                lookup::Config::recommended(handshake, &namespace, listen, NZUsize!(n.max(1)), max_size, NZUsize!(1024))
            };
            let (mut net, mut oracle) = lookup::Network::new(context.child("p2p"), p2p);
            let _ = oracle.track(0, Map::from_iter_dedup(addresses));
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
            tracing::info!(%listen, "validator started");
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

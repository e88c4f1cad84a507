//! `lightstreams node`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use clap::Args;
use ls_chain::{BlockProducer, Chain, DevProducer};
use ls_primitives::{
    ChainSpec,
    chainspec::{DEFAULT_GAS_LIMIT, DEV_CHAIN_ID},
    dev::{DEV_ACCOUNTS, DEV_MNEMONIC, dev_chain_spec, dev_signers},
};
use ls_storage::Store;
use tokio::sync::watch;
use tracing::info;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Run a single-validator development chain with funded test accounts.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// Run a node of a validator network from its config file (as `lightstreams testnet`
    /// writes them); the file's addresses and data directory take the place of the flags.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the chain lives. Without it a dev node uses a temporary directory.
    #[arg(long, env = "LIGHTSTREAMS_DATADIR")]
    datadir: Option<PathBuf>,
    /// JSON-RPC address (HTTP and WebSocket on the same port).
    #[arg(long, default_value = "127.0.0.1:8545")]
    rpc_addr: SocketAddr,
    /// Most gas one eth_call or eth_estimateGas may use, whatever it names (geth's --rpc.gascap).
    #[arg(long, default_value_t = ls_evm::DEFAULT_CALL_GAS)]
    rpc_gas_cap: u64,
    /// Time after which an eth_call or eth_estimateGas is aborted (geth's --rpc.evmtimeout).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    rpc_evm_timeout: Duration,
    /// Web origins allowed to call the RPC from a browser, comma-separated
    /// (e.g. http://localhost:3000); "*" allows any page. By default no page may.
    #[arg(long, value_delimiter = ',')]
    rpc_cors: Vec<String>,
    /// Host names the RPC accepts in the Host header, comma-separated; "*" accepts any.
    /// IP addresses are always accepted.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    rpc_vhosts: Vec<String>,
    /// HTTP gateway address (/ipfs/<cid> and uploads), like Kubo's.
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway_addr: SocketAddr,
    /// Time between blocks while transactions are pending (e.g. 250ms, 1s).
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    block_time: Duration,
    /// Seal each transaction's block as it arrives, before the submission is answered, as
    /// hardhat's and anvil's automine do (test suites that read a receipt at once need it;
    /// `evm_setAutomine` switches it at run time). Dev nodes only.
    #[arg(long, conflicts_with = "config")]
    automine: bool,
    /// Chain id of a new dev chain.
    #[arg(long, default_value_t = DEV_CHAIN_ID)]
    chain_id: u64,
    /// Block gas limit of a new dev chain.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
    /// Platform fee of the Market contract on a new chain, in basis points (0-2000).
    #[arg(long, default_value_t = 0)]
    platform_fee_bps: u16,
    /// Who receives the platform fee on a new chain [default: the first dev account].
    #[arg(long)]
    fee_recipient: Option<alloy_primitives::Address>,
    /// Seal blocks even when no transaction is pending.
    #[arg(long)]
    empty_blocks: bool,
    /// Largest gateway upload accepted (e.g. 4GiB, 500MiB, 1000000).
    #[arg(long, default_value = "4GiB", value_parser = parse_size)]
    max_upload: u64,
    /// Gateway uploads running at once; one more is answered 503.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    max_uploads: u32,
    /// End a gateway upload whose body sends nothing for this long (e.g. 30s), with 408.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    upload_idle_timeout: Duration,
    /// Key-release requests (lightstreams_releaseKey) one IP address may make per second, in
    /// bursts of twice that; 0 for no limit. Each account has its own limit besides.
    #[arg(long, default_value_t = 500)]
    release_peer_rate: u32,
    /// Memory kept for recently read blocks (e.g. 64MiB; 0 turns the cache off).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    block_cache: u64,
    /// Serve Prometheus metrics on this address (/metrics); off by default.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    p2p: crate::p2p::P2pArgs,
    /// Print less at start-up (no account list).
    #[arg(long, short)]
    quiet: bool,
    /// Log filter (tracing's EnvFilter syntax), e.g. "info,ls_chain=debug".
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

const SPEC_FILE: &str = "chainspec.json";
const DB_FILE: &str = "chain.redb";

/// Loads the chain spec a data directory was created with, or writes a new one.
fn load_or_create_spec(dir: &std::path::Path, args: &NodeArgs) -> anyhow::Result<ChainSpec> {
    let path = dir.join(SPEC_FILE);
    if path.exists() {
        let spec: ChainSpec = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        if spec.chain_id != args.chain_id && args.chain_id != DEV_CHAIN_ID {
            bail!(
                "{} holds chain {} but --chain-id {} was given; use another --datadir",
                dir.display(),
                spec.chain_id,
                args.chain_id
            );
        }
        return Ok(spec);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut spec = dev_chain_spec(args.chain_id, args.gas_limit, now);
    // The FileRegistry and Market live at fixed addresses from genesis on.
    let contracts = ls_contracts::PredeployConfig {
        platform_fee_bps: args.platform_fee_bps,
        fee_recipient: args.fee_recipient.unwrap_or_else(|| ls_primitives::dev::dev_signer(0).address()),
    };
    spec.alloc.extend(ls_contracts::predeploys(&contracts)?);
    let tmp = dir.join(format!("{SPEC_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&spec)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(spec)
}

pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(path) = args.config.clone() {
        return run_network(args, &path);
    }
    if !args.dev {
        bail!("run `lightstreams node --dev`, or `lightstreams node --config <file>` for a node of a network written by `lightstreams testnet`");
    }
    let (_tmp, dir) = match &args.datadir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (None, d.clone())
        }
        None => {
            let t = tempfile::Builder::new().prefix("lightstreams-dev-").tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let spec = load_or_create_spec(&dir, &args)?;
    let store = Arc::new(
        Store::open(dir.join(DB_FILE)).with_context(|| format!("opening the chain in {}", dir.display()))?,
    );
    let pool = ls_txpool::PoolConfig { chain_id: spec.chain_id, block_gas_limit: spec.gas_limit, ..Default::default() };
    // Time moved ahead by evm_increaseTime & co. is not written down: after a restart the clock
    // starts at the head's time if that is ahead, so blocks keep moving forward from there.
    let head_ms = store.header(store.head()?)?.map(|h| ls_primitives::timestamp_ms(&h)).unwrap_or_default();
    let system_ms = ls_chain::Clock::now_millis(&ls_chain::SystemClock);
    let clock = Arc::new(ls_chain::DevClock::new(head_ms.saturating_sub(system_ms) as i64));
    let chain = Chain::open_with_clock(spec, store, pool, clock.clone())?;
    let control = Arc::new(ls_rpc::DevControl::new(clock, Default::default()));
    control.mining.set_instant(args.automine);

    serve_blocking(args, chain, dir, Producer::Dev(control))
}

/// Who seals blocks on this node.
enum Producer {
    /// This node alone, on a timer, with the dev RPC methods' controls.
    Dev(Arc<ls_rpc::DevControl>),
    /// The validator network; `member` is this validator's key-release identity (none on a
    /// full node), `committee` the network's key-release committee (hex), `endpoints` every
    /// member's RPC, in committee order.
    /// `finalized` is the highest finalized height consensus knows of (eth_syncing).
    Network {
        member: Option<alloy_primitives::Address>,
        committee: String,
        endpoints: Vec<String>,
        metrics: crate::metrics::Source,
        finalized: Arc<std::sync::atomic::AtomicU64>,
    },
}

/// A node of a validator network: chain from the network's genesis, consensus on its own
/// thread, RPC and gateway as on a dev node.
fn run_network(mut args: NodeArgs, path: &std::path::Path) -> anyhow::Result<()> {
    let (config, network) = crate::testnet::load_config(path)?;
    std::fs::create_dir_all(&config.datadir).with_context(|| format!("creating {}", config.datadir.display()))?;
    args.rpc_addr = config.rpc_addr;
    args.gateway_addr = config.gateway_addr;
    args.metrics_addr = config.metrics_addr.or(args.metrics_addr);
    args.p2p.with_config(config.p2p_addr.as_deref(), &config.bootstrap)?;
    let spec = network.chain.clone();
    let store = Arc::new(
        Store::open(config.datadir.join(DB_FILE)).with_context(|| format!("opening the chain in {}", config.datadir.display()))?,
    );
    let pool = ls_txpool::PoolConfig { chain_id: spec.chain_id, block_gas_limit: spec.gas_limit, ..Default::default() };
    let chain = Chain::open(spec, store, pool)?;
    let member = match (&config.account_key, &config.validator_key) {
        (Some(p), _) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(text.trim().parse::<alloy_signer_local::PrivateKeySigner>().with_context(|| format!("{} is not a private key", p.display()))?.address())
        }
        (None, Some(_)) => bail!("{} names no account_key: a validator needs one", path.display()),
        // A full node credits no block and holds no key-release share.
        (None, None) => None,
    };
    let metrics = crate::metrics::Source::default();
    let finalized = Arc::new(std::sync::atomic::AtomicU64::new(0));
    crate::validator::spawn(chain.clone(), &config, &network, metrics.clone(), finalized.clone())?;
    let endpoints = network.validators.iter().map(|v| v.rpc_url.clone()).collect();
    serve_blocking(args, chain, config.datadir.clone(), Producer::Network { member, committee: network.committee.clone(), endpoints, metrics, finalized })
}

fn serve_blocking(args: NodeArgs, chain: Arc<Chain>, dir: PathBuf, producer: Producer) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = rt.block_on(serve(args, chain, dir, producer));
    // Whatever still runs on a blocking thread (a call being aborted, a fetch) must not hold the
    // process: everything durable was flushed by the time `serve` returned.
    rt.shutdown_timeout(Duration::from_millis(200));
    served
}

async fn serve(args: NodeArgs, chain: Arc<Chain>, dir: PathBuf, producer: Producer) -> anyhow::Result<()> {
    let signers = dev_signers(DEV_ACCOUNTS);
    if !args.quiet && matches!(producer, Producer::Dev(_)) {
        print_banner(&chain, &signers, &dir);
    }
    let mut version = format!("lightstreams/v{}/{}-{}/rust", env!("CARGO_PKG_VERSION"), std::env::consts::OS, std::env::consts::ARCH);
    if matches!(producer, Producer::Dev(_)) {
        // hardhat-network-helpers (loadFixture, time, mine, setBalance, ...) run only against a
        // client whose version starts with "HardhatNetwork", "anvil" or "zksync"; a dev node
        // serves the methods they call (docs/decisions.md, "Dev methods").
        version = format!("HardhatNetwork/{version}");
    }
    let mut limits = ls_rpc::RpcLimits::default();
    limits.call.gas_cap = args.rpc_gas_cap;
    limits.call.timeout = args.rpc_evm_timeout;
    let cancel_calls = limits.call.cancel.clone();
    let mut api = ls_rpc::EthApi::new(chain.clone(), signers, version).with_limits(limits);
    match &producer {
        // A validator's blocks credit its own account; a full node has no coinbase.
        Producer::Network { member, metrics, finalized, .. } => {
            let metrics = metrics.clone();
            let count = move || metrics.get().map_or(0, |encode| crate::metrics::connected_peers(&encode()));
            let finalized = finalized.clone();
            let highest = move || finalized.load(std::sync::atomic::Ordering::Relaxed);
            api = api.with_peer_count(Arc::new(count)).with_sync_target(Arc::new(highest));
            // A full node credits nothing: the zero address (geth errors; viem and ethers
            // expect an address).
            api = api.with_coinbase(member.unwrap_or_default());
        }
        Producer::Dev(control) => api = api.with_dev(control.clone()),
    }
    let mut module = ls_rpc::module(api);
    module.merge(lightstreams_module()).context("registering lightstreams_ methods")?;
    // Key release: on a dev node a committee of one whose member is the first dev account; on
    // a network the share `testnet` dealt to this validator. A full node holds no share: it
    // names the members, who release.
    let open_share = |member| -> anyhow::Result<_> {
        let (committee, share) = crate::release::open_or_deal(&dir, member).context("opening the key-release share")?;
        Ok((committee, Some(share)))
    };
    let (committee, share) = match &producer {
        Producer::Dev(_) => open_share(ls_primitives::dev::dev_signer(0).address())?,
        Producer::Network { member: Some(member), .. } => open_share(*member)?,
        Producer::Network { member: None, committee, .. } => {
            (ls_access::CommitteePublic::from_hex(committee).context("the network's key-release committee")?, None)
        }
    };
    let endpoints = Arc::new(std::sync::OnceLock::new());
    let key_release =
        crate::release::KeyRelease::new(chain.clone(), committee, share, endpoints.clone(), args.release_peer_rate)?;
    module.merge(crate::release::module(key_release)).context("registering key-release methods")?;
    let browser = ls_rpc::BrowserPolicy { cors: args.rpc_cors.clone(), vhosts: args.rpc_vhosts.clone() };
    let rpc = ls_rpc::start(ls_rpc::RpcConfig { addr: args.rpc_addr, browser, ..Default::default() }, module)
        .await
        .with_context(|| format!("binding the RPC server to {}", args.rpc_addr))?;
    let _ = endpoints.set(match &producer {
        Producer::Dev(_) => vec![format!("http://{}", rpc.local_addr)],
        Producer::Network { endpoints, .. } => endpoints.clone(),
    });

    let disk = ls_content::PackBlockstore::open(dir.join("blocks")).context("opening the block store")?;
    if disk.migrated() > 0 {
        tracing::info!(blocks = disk.migrated(), "block store moved from one file per block into packs");
    }
    let blocks: Arc<dyn ls_content::Blockstore> = match args.block_cache {
        0 => Arc::new(disk),
        n => Arc::new(ls_content::CachedBlockstore::new(disk, usize::try_from(n).unwrap_or(usize::MAX))),
    };
    let p2p = crate::p2p::start(&args.p2p, &dir, blocks.clone()).await?;
    let blocks = p2p.as_ref().map_or(blocks.clone(), |p| p.blockstore());
    let p2p_api = p2p.as_ref().map(|p| p.router());
    let pins = ls_content::FsPins::open(dir.join("pins")).context("opening the pin store")?;
    let repo = Arc::new(ls_content::Repo::new(blocks, pins));
    if let Some(p) = &p2p {
        p.announce_pins(repo.clone());
        p.trim_cache(repo.clone());
    }
    let gateway = tokio::net::TcpListener::bind(args.gateway_addr)
        .await
        .with_context(|| format!("binding the gateway to {}", args.gateway_addr))?;
    let gateway_addr = gateway.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut gw_stop = stop_rx.clone();
    // Paid files are read with a key the committee releases to this node for a reader's
    // signed challenge; it asks the committee through its own RPC, as any reader would.
    let mut own_rpc = rpc.local_addr;
    if own_rpc.ip().is_unspecified() {
        own_rpc.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let paid: Arc<dyn ls_gateway::PaidFiles> = Arc::new(crate::paid_files::NodePaidFiles::new(
        crate::release::ChainAcl::new(chain.clone()),
        repo.blocks().clone(),
        format!("http://{own_rpc}"),
    ));
    let serving = tokio::spawn(async move {
        let app = ls_gateway::router_with(
            repo,
            ls_gateway::GatewayConfig {
                max_upload: args.max_upload,
                upload_idle_timeout: args.upload_idle_timeout,
                max_uploads: args.max_uploads as usize,
                ..Default::default()
            },
            Some(paid),
        );
        let app = match p2p_api {
            Some(api) => app.merge(api),
            None => app,
        };
        let shutdown = async move {
            let _ = gw_stop.changed().await;
        };
        if let Err(e) = axum::serve(gateway, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "gateway stopped");
        }
    });
    if let Some(addr) = args.metrics_addr {
        let source = match &producer {
            Producer::Network { metrics, .. } => metrics.clone(),
            Producer::Dev(_) => Default::default(),
        };
        let bound = crate::metrics::serve(addr, chain.clone(), source, rpc.calls.clone()).await?;
        println!("Metrics on http://{bound}/metrics");
    }
    let producing = match producer {
        Producer::Dev(control) => {
            let producer = DevProducer {
                block_time: args.block_time,
                empty_blocks: args.empty_blocks,
                mining: control.mining.clone(),
            };
            tokio::spawn(producer.run(chain.clone(), stop_rx))
        }
        // Consensus runs on its own thread; a finalized block is durable when committed.
        Producer::Network { .. } => tokio::spawn(async {}),
    };
    println!("Gateway listening on {gateway_addr}");
    println!("Listening on {}", rpc.local_addr);

    shutdown_signal().await;
    info!("shutting down");
    cancel_calls.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let _ = rpc.handle.stop();
    let _ = tokio::time::timeout(Duration::from_millis(1500), producing).await;
    let _ = tokio::time::timeout(Duration::from_millis(300), serving).await;
    let _ = tokio::time::timeout(Duration::from_millis(300), rpc.handle.stopped()).await;
    if let Some(p) = &p2p {
        let _ = tokio::time::timeout(Duration::from_millis(300), p.shutdown()).await;
    }
    info!(head = chain.store().head().unwrap_or_default(), "stopped");
    Ok(())
}

/// The `lightstreams_` namespace.
fn lightstreams_module() -> jsonrpsee::RpcModule<()> {
    let mut m = jsonrpsee::RpcModule::new(());
    let contracts = serde_json::json!({
        "FileRegistry": {
            "address": ls_contracts::FILE_REGISTRY,
            "abi": ls_contracts::artifact_abi(ls_contracts::artifacts::FILE_REGISTRY),
        },
        "Market": {
            "address": ls_contracts::MARKET,
            "abi": ls_contracts::artifact_abi(ls_contracts::artifacts::MARKET),
        },
    });
    m.register_method("lightstreams_contracts", move |_, _, _| contracts.clone())
        .expect("a fresh module has no methods");
    m
}

/// Ctrl-C, or SIGTERM on unix.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn print_banner(chain: &Chain, signers: &[alloy_signer_local::PrivateKeySigner], dir: &std::path::Path) {
    let spec = chain.spec();
    let mut out = String::new();
    out.push_str("\nLightstreams dev node\n\nAvailable Accounts\n==================\n");
    for (i, s) in signers.iter().enumerate() {
        let bal = spec.alloc.get(&s.address()).map(|a| a.balance).unwrap_or_default();
        let coins = bal / alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18));
        out.push_str(&format!("({i}) {} ({coins} ETH)\n", s.address()));
    }
    out.push_str("\nPrivate Keys\n==================\n");
    for (i, s) in signers.iter().enumerate() {
        out.push_str(&format!("({i}) {}\n", s.to_bytes()));
    }
    out.push_str(&format!(
        "\nWallet\n==================\nMnemonic:          {DEV_MNEMONIC}\nDerivation path:   m/44'/60'/0'/0/\n\nChain ID\n==================\n{}\n\nData directory:    {}\n",
        spec.chain_id,
        dir.display()
    ));
    println!("{out}");
}

/// A byte count with an optional binary or decimal unit: `4GiB`, `500MB`, `64k`, `1000`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (e.g. 64MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        u => return Err(format!("unknown size unit {u:?} (B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}

//! `lightstreams testnet`: writes a local validator network (keys, genesis, one config per
//! node) into a directory.
//!
//! ```text
//! <dir>/network.json            chain spec (genesis), validators, key-release committee
//! <dir>/node<i>/config.toml     what `lightstreams node --config` reads
//! <dir>/node<i>/validator.key   ed25519 consensus key (hex, 0600)
//! <dir>/node<i>/account.key     Ethereum key (hex, 0600): block beneficiary, key-release member
//! <dir>/node<i>/keyrelease/     this member's share of the committee key
//! <dir>/full<j>/config.toml     a non-validating node (a follower)
//! <dir>/full<j>/node.key        its ed25519 key on the consensus network (hex, 0600)
//! ```
//!
//! The key-release committee is dealt here by a trusted dealer (this process), which is fine for
//! a local network and nothing else: see docs/decisions.md.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use alloy_primitives::hex;
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::Args;
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519};
use commonware_math::algebra::Random;
use ls_primitives::{
    chainspec::{DEFAULT_GAS_LIMIT, DEV_CHAIN_ID},
    dev::dev_chain_spec,
    network::{Follower, NetworkSpec, NodeConfig, Validator},
};

use crate::release::{DIR as KEYRELEASE_DIR, create_private_dir, os_rng, write_member};

pub const NETWORK_FILE: &str = "network.json";
pub const CONFIG_FILE: &str = "config.toml";
/// A full node's key on the consensus network.
pub const NODE_KEY_FILE: &str = "node.key";

#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// How many validators (1 to 32). Four tolerate one faulty validator.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=32))]
    validators: u32,
    /// Non-validating nodes that follow the chain and serve RPC.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    full_nodes: u32,
    /// Where to write the network (must be empty or absent).
    #[arg(long, default_value = "testnet")]
    dir: PathBuf,
    /// Chain id.
    #[arg(long, default_value_t = DEV_CHAIN_ID)]
    chain_id: u64,
    /// Block gas limit.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
    /// Time between blocks (e.g. 250ms, 1s).
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    block_time: std::time::Duration,
    /// Loopback address every node listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// First RPC port; node i gets this + i (full nodes after the validators); 0 lets each
    /// node pick a free port (printed when it starts).
    #[arg(long, default_value_t = 8545)]
    rpc_port: u16,
    /// First gateway port.
    #[arg(long, default_value_t = 8080)]
    gateway_port: u16,
    /// First IPFS swarm port (Kubo's 4001 for node 0); 0 lets each node pick a free one, and
    /// then the nodes are not told of each other (connect them with `swarm connect`).
    #[arg(long, default_value_t = 4001)]
    p2p_port: u16,
    /// First consensus port (validators must know each other's, so never 0).
    #[arg(long, default_value_t = 30300, value_parser = clap::value_parser!(u16).range(1..))]
    consensus_port: u16,
    /// Then start every node as a child process, each line of their output prefixed with the
    /// node's name, until Ctrl-C or SIGTERM (or one node exits), which stops them all.
    #[arg(long)]
    run: bool,
}

/// A written network: its description and each node's config path.
#[derive(Debug)]
pub struct Written {
    pub network: NetworkSpec,
    pub configs: Vec<PathBuf>,
}

pub fn run(args: TestnetArgs) -> anyhow::Result<()> {
    let written = write(&args)?;
    println!(
        "wrote a network of {} validators and {} full nodes (chain id {}, {} ms blocks) to {}",
        args.validators,
        args.full_nodes,
        written.network.chain.chain_id,
        written.network.block_time_ms,
        args.dir.display()
    );
    for (i, config) in written.configs.iter().enumerate() {
        let rpc = SocketAddr::new(args.host, port(args.rpc_port, i as u32)?);
        println!("  lightstreams node --config {}   # RPC http://{rpc}", config.display());
    }
    if args.run {
        run_nodes(&written.configs)?;
    }
    Ok(())
}

/// A node's name from its config path (`<dir>/node0/config.toml` is `node0`).
fn node_name(config: &Path) -> String {
    config.parent().and_then(|d| d.file_name()).map_or_else(|| config.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// How long the nodes get to stop after SIGTERM before they are killed.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// `--run`: every node as a child process of this one (this binary, `node --config`), their
/// output prefixed with their names. Ctrl-C or SIGTERM stops them all, and so does one of them
/// exiting (its status is the error).
fn run_nodes(configs: &[PathBuf]) -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe().context("finding this program")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let (exited_tx, mut exited) = tokio::sync::mpsc::unbounded_channel();
        let mut running = Vec::new();
        for config in configs {
            let name = node_name(config);
            let mut child = tokio::process::Command::new(&exe)
                .args(["node", "--quiet", "--config"])
                .arg(config)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {name}"))?;
            let pid = child.id().context("a child that just started has a pid")?;
            let (out, err) = (child.stdout.take(), child.stderr.take());
            let prefix = name.clone();
            tokio::spawn(async move {
                let Some(out) = out else { return };
                let mut lines = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    println!("{prefix} | {line}");
                }
            });
            let prefix = name.clone();
            tokio::spawn(async move {
                let Some(err) = err else { return };
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("{prefix} | {line}");
                }
            });
            let tx = exited_tx.clone();
            let waited = name.clone();
            let task = tokio::spawn(async move {
                let status = child.wait().await;
                let _ = tx.send((waited, status));
            });
            running.push((name, pid, task));
        }
        println!("started {} nodes; Ctrl-C stops them all", running.len());
        let failed = tokio::select! {
            _ = crate::node::shutdown_signal() => None,
            Some((name, status)) = exited.recv() => Some(match status {
                Ok(s) => format!("{name} exited ({s})"),
                Err(e) => format!("{name}: {e}"),
            }),
        };
        // SIGTERM each (they flush and stop), then SIGKILL what is left after the grace period.
        for (_, pid, _) in &running {
            signal(*pid, libc::SIGTERM);
        }
        for (name, pid, task) in running {
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                eprintln!("{name} did not stop within {STOP_GRACE:?}; killing it");
                signal(pid, libc::SIGKILL);
            }
        }
        match failed {
            Some(why) => bail!("{why}; stopped every node"),
            None => Ok(()),
        }
    })
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on a child's pid; the worst outcome is ESRCH if it already exited.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Node `i`'s port: `base + i`, or 0 (any free port, printed at start) when `base` is 0.
fn port(base: u16, i: u32) -> anyhow::Result<u16> {
    if base == 0 {
        return Ok(0);
    }
    u16::try_from(base as u32 + i).context("port out of range: choose lower base ports")
}

/// Writes the network `args` describes.
pub fn write(args: &TestnetArgs) -> anyhow::Result<Written> {
    let dir = &args.dir;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty; choose another --dir or remove it", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = os_rng();
    let n = args.validators;
    let mut keys = Vec::with_capacity(n as usize);
    let mut validators = Vec::with_capacity(n as usize);
    for i in 0..n {
        let consensus = ed25519::PrivateKey::random(&mut rng);
        let account = PrivateKeySigner::random();
        validators.push(Validator {
            address: account.address(),
            consensus_key: hex::encode(consensus.public_key().encode()),
            consensus_addr: SocketAddr::new(args.host, port(args.consensus_port, i)?),
            rpc_url: format!("http://{}", SocketAddr::new(args.host, port(args.rpc_port, i)?)),
        });
        keys.push((consensus, account));
    }
    let mut follower_keys = Vec::with_capacity(args.full_nodes as usize);
    let mut followers = Vec::with_capacity(args.full_nodes as usize);
    for j in 0..args.full_nodes {
        let key = ed25519::PrivateKey::random(&mut rng);
        followers.push(Follower {
            consensus_key: hex::encode(key.public_key().encode()),
            consensus_addr: SocketAddr::new(args.host, port(args.consensus_port, n + j)?),
        });
        follower_keys.push(key);
    }
    let (committee, shares) = ls_access::deal(&mut rng, validators.iter().map(|v| v.address).collect())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut chain = dev_chain_spec(args.chain_id, args.gas_limit, now);
    chain.coinbase = validators[0].address;
    let contracts = ls_contracts::PredeployConfig {
        platform_fee_bps: 0,
        fee_recipient: ls_primitives::dev::dev_signer(0).address(),
    };
    chain.alloc.extend(ls_contracts::predeploys(&contracts)?);
    let network = NetworkSpec {
        chain,
        validators,
        committee: committee.to_hex(),
        block_time_ms: u64::try_from(args.block_time.as_millis()).context("block time too long")?,
        followers,
    };
    network.validate().map_err(anyhow::Error::msg)?;
    write_atomic(&dir.join(NETWORK_FILE), &serde_json::to_vec_pretty(&network)?, false)?;

    // Every node's IPFS peer key, made now so each config can name the others as bootstrap
    // peers: blocks uploaded to one node are then read through any other.
    let node_dirs: Vec<(PathBuf, bool)> = (0..n)
        .map(|i| (dir.join(format!("node{i}")), true))
        .chain((0..args.full_nodes).map(|j| (dir.join(format!("full{j}")), false)))
        .collect();
    let mut p2p = Vec::new();
    for (index, (node_dir, _)) in node_dirs.iter().enumerate() {
        create_private_dir(node_dir)?;
        let key = ls_network::load_or_create_keypair(&node_dir.join("p2p").join("peer.key"))?;
        let port = port(args.p2p_port, index as u32)?;
        p2p.push((format!("/ip4/{}/tcp/{port}", args.host), key.public().to_peer_id()));
    }
    let mut configs = Vec::new();
    for (index, (node_dir, validator)) in node_dirs.iter().enumerate() {
        if *validator {
            let ((consensus, account), share) = (&keys[index], &shares[index]);
            write_atomic(&node_dir.join("validator.key"), hex::encode(consensus.encode()).as_bytes(), true)?;
            write_atomic(&node_dir.join("account.key"), hex::encode(account.to_bytes()).as_bytes(), true)?;
            write_member(&node_dir.join(KEYRELEASE_DIR), &committee, share)?;
        } else {
            let key = &follower_keys[index - n as usize];
            write_atomic(&node_dir.join(NODE_KEY_FILE), hex::encode(key.encode()).as_bytes(), true)?;
        }
        let bootstrap = match args.p2p_port {
            0 => Vec::new(),
            _ => p2p.iter().enumerate().filter(|(j, _)| *j != index).map(|(_, (a, id))| format!("{a}/p2p/{id}")).collect(),
        };
        let p2p_addr = p2p[index].0.clone();
        configs.push(write_config(node_dir, args, index as u32, *validator, p2p_addr, bootstrap)?);
    }
    Ok(Written { network, configs })
}

fn write_config(
    node_dir: &Path,
    args: &TestnetArgs,
    index: u32,
    validator: bool,
    p2p_addr: String,
    bootstrap: Vec<String>,
) -> anyhow::Result<PathBuf> {
    let config = NodeConfig {
        datadir: PathBuf::from("."),
        network: PathBuf::from("..").join(NETWORK_FILE),
        rpc_addr: SocketAddr::new(args.host, port(args.rpc_port, index)?),
        gateway_addr: SocketAddr::new(args.host, port(args.gateway_port, index)?),
        consensus_addr: SocketAddr::new(args.host, port(args.consensus_port, index)?),
        validator_key: validator.then(|| PathBuf::from("validator.key")),
        node_key: (!validator).then(|| PathBuf::from(NODE_KEY_FILE)),
        account_key: validator.then(|| PathBuf::from("account.key")),
        metrics_addr: None,
        p2p_addr: Some(p2p_addr),
        bootstrap,
    };
    let path = node_dir.join(CONFIG_FILE);
    write_atomic(&path, toml::to_string_pretty(&config)?.as_bytes(), false)?;
    Ok(path)
}

/// Writes `bytes` to `path` through a temporary file, fsynced, then renamed; `secret` files are
/// created 0600.
fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads a node's configuration, resolving its paths against the file's directory.
pub fn load_config(path: &Path) -> anyhow::Result<(NodeConfig, NetworkSpec)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: NodeConfig = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    config.datadir = resolve(&config.datadir);
    config.network = resolve(&config.network);
    config.validator_key = config.validator_key.as_deref().map(resolve);
    config.node_key = config.node_key.as_deref().map(resolve);
    config.account_key = config.account_key.as_deref().map(resolve);
    let network: NetworkSpec = serde_json::from_slice(
        &std::fs::read(&config.network).with_context(|| format!("reading {}", config.network.display()))?,
    )
    .with_context(|| format!("parsing {}", config.network.display()))?;
    network.validate().map_err(|e| anyhow::anyhow!("{}: {e}", config.network.display()))?;
    Ok((config, network))
}

/// Reads an ed25519 consensus key file (a validator's or a full node's; hex of the 32-byte secret).
pub fn load_consensus_key(path: &Path) -> anyhow::Result<ed25519::PrivateKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    decode_hex(text.trim()).with_context(|| format!("{} is not an ed25519 key", path.display()))
}

/// A commonware-encoded value (a key) from hex, as `network.json` and key files hold them.
pub fn decode_hex<T: commonware_codec::DecodeExt<()>>(text: &str) -> anyhow::Result<T> {
    let bytes = hex::decode(text).context("not hex")?;
    T::decode(commonware_codec::Copying(bytes.as_slice())).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn args(dir: PathBuf) -> TestnetArgs {
        TestnetArgs {
            validators: 4,
            full_nodes: 1,
            dir,
            chain_id: 1337,
            gas_limit: DEFAULT_GAS_LIMIT,
            block_time: std::time::Duration::from_millis(250),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rpc_port: 18545,
            gateway_port: 18080,
            consensus_port: 30300,
            p2p_port: 14001,
            run: false,
        }
    }

    #[test]
    fn writes_a_network_every_node_can_load() {
        let tmp = tempfile::tempdir().unwrap();
        let a = args(tmp.path().join("net"));
        let written = write(&a).unwrap();
        assert_eq!(written.configs.len(), 5);
        let committee = ls_access::CommitteePublic::from_hex(&written.network.committee).unwrap();
        assert_eq!(committee.threshold(), 3);
        for (i, path) in written.configs.iter().enumerate() {
            let (config, network) = load_config(path).unwrap();
            assert_eq!(network, written.network);
            assert_eq!(config.rpc_addr.port(), 18545 + i as u16);
            // Each node listens on its own swarm port and knows every other node's address and
            // peer id (from the key it will load).
            assert_eq!(config.p2p_addr.as_deref(), Some(format!("/ip4/127.0.0.1/tcp/{}", 14001 + i).as_str()));
            assert_eq!(config.bootstrap.len(), 4);
            let peer_id = |c: &NodeConfig| {
                let key = ls_network::load_or_create_keypair(&c.datadir.join("p2p").join("peer.key")).unwrap();
                key.public().to_peer_id().to_string()
            };
            let me = peer_id(&config);
            assert!(config.bootstrap.iter().all(|b| !b.ends_with(&me)), "{:?}", config.bootstrap);
            for (j, other) in written.configs.iter().enumerate().filter(|(j, _)| *j != i) {
                let (c, _) = load_config(other).unwrap();
                let addr = format!("{}/p2p/{}", c.p2p_addr.as_deref().unwrap(), peer_id(&c));
                assert!(config.bootstrap.contains(&addr), "node {i} does not know node {j}");
            }
            match &config.validator_key {
                Some(key) => {
                    let key = load_consensus_key(key).unwrap();
                    assert_eq!(hex::encode(key.public_key().encode()), network.validators[i].consensus_key);
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        let mode = std::fs::metadata(config.validator_key.as_ref().unwrap()).unwrap().permissions().mode();
                        assert_eq!(mode & 0o777, 0o600);
                    }
                    let (c, _share) = crate::release::open_or_deal(&config.datadir, network.validators[i].address).unwrap();
                    assert_eq!(c.to_hex(), network.committee);
                }
                None => {
                    assert_eq!(i, 4, "only the full node has no validator key");
                    // Its network key is the one the network lists as a follower.
                    let key = load_consensus_key(config.node_key.as_ref().unwrap()).unwrap();
                    assert_eq!(hex::encode(key.public_key().encode()), network.followers[0].consensus_key);
                    assert_eq!(network.followers[0].consensus_addr, config.consensus_addr);
                    assert!(!config.datadir.join(KEYRELEASE_DIR).exists(), "a full node holds no key-release share");
                }
            }
        }
        // A second run refuses to overwrite.
        assert!(write(&a).unwrap_err().to_string().contains("not empty"));
    }
}

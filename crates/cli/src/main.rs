//! `lightstreams`: the node and the command-line tool.

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: glibc returned and re-faulted the EVM's per-call buffers on
/// every eth_call (page faults and TLB shootdowns were most of the profile); see docs/decisions.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod account;
mod file;
mod metrics;
mod node;
mod p2p;
mod paid;
mod paid_files;
mod pin;
mod release;
mod remote;
mod testnet;
mod validator;

/// Lightstreams: an Ethereum-compatible chain that manages who may read which file, and an
/// encrypted content-addressed file store.
#[derive(Debug, Parser)]
#[command(name = "lightstreams", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (`--dev` for a single-validator development chain).
    Node(Box<node::NodeArgs>),
    /// Write a local validator network: keys, genesis and one config per node.
    Testnet(testnet::TestnetArgs),
    /// Manage accounts in a keystore directory (geth-compatible key files).
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Add and read files through the local node's gateway (like `ipfs add` / `ipfs cat`).
    #[command(subcommand)]
    File(Box<file::FileCommand>),
    /// Pin and unpin files on the local node (like `ipfs pin`).
    #[command(subcommand)]
    Pin(pin::PinCommand),
    /// The node's peer-to-peer connections (like `ipfs swarm`).
    #[command(subcommand)]
    Swarm(p2p::SwarmCommand),
    /// Remove every block no pin reaches from the local node (like `ipfs repo gc`).
    Gc {
        #[command(flatten)]
        node: remote::NodeArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        // One line, causes included: what a user of a CLI expects (no debug dump).
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Node(args) => node::run(*args),
        Command::Testnet(args) => testnet::run(args),
        Command::Account(cmd) => account::run(cmd),
        Command::File(cmd) => file::run(*cmd),
        Command::Pin(cmd) => pin::run(cmd),
        Command::Gc { node, json } => pin::gc(&node, json),
        Command::Swarm(cmd) => p2p::run(cmd),
    }
}

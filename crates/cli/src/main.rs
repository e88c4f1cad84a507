//! `lightstreams`: the node and the command-line tool.

use clap::{Parser, Subcommand};

mod account;
mod node;

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
    Node(node::NodeArgs),
    /// Manage accounts in a keystore directory (geth-compatible key files).
    #[command(subcommand)]
    Account(account::AccountCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Node(args) => node::run(args),
        Command::Account(cmd) => account::run(cmd),
    }
}

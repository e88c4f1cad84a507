//! `ls-loadgen`: sustained, persisted value transfers against any Ethereum JSON-RPC node.
//!
//! 1. Funds `--senders` fresh accounts from the first dev account (one transfer each).
//! 2. Pre-signs `--txs-per-sender` EIP-1559 transfers per sender (signing is not timed).
//! 3. Sends them as JSON-RPC batches over `--connections` concurrent connections.
//! 4. Stops the clock when every sender's *mined* nonce reached its count, i.e. when every
//!    transfer is in a block the node has persisted, and prints transfers per second.
//!
//! Every wait is bounded by `--timeout`.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::Parser;
use ls_loadgen::{Rpc, fresh_keys, quantity, send_all, sign, wait_nonces};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(about = "Persisted value-transfer throughput of an Ethereum JSON-RPC node")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    #[arg(long, default_value_t = 200)]
    senders: usize,
    #[arg(long, default_value_t = 100)]
    txs_per_sender: u64,
    /// Concurrent HTTP connections sending batches.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Transactions per JSON-RPC batch.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Funding key (default: the first account of the test mnemonic).
    #[arg(long, default_value = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")]
    funder: String,
    /// Print one machine-readable JSON line instead of text.
    #[arg(long)]
    json: bool,
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rpc = Rpc { client: reqwest::Client::builder().pool_max_idle_per_host(64).build()?, url: args.rpc.clone() };
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let chain_id = quantity(&rpc.call("eth_chainId", json!([])).await?)?;
    let funder: PrivateKeySigner = args.funder.parse().context("--funder is not a private key")?;
    let base_fee = {
        let b = rpc.call("eth_getBlockByNumber", json!(["latest", false])).await?;
        quantity(&b["baseFeePerGas"]).unwrap_or(1_000_000_000) as u128
    };
    // Generous fee cap: the base fee climbs while blocks run above the gas target.
    let max_fee = base_fee * 4 + 100_000_000_000;

    // Fresh, deterministic sender keys (distinct per run via the funder's nonce).
    let funder_nonce = quantity(&rpc.call("eth_getTransactionCount", json!([funder.address(), "pending"])).await?)?;
    let senders = fresh_keys(funder.address(), funder_nonce, args.senders);
    let per_sender_cost = U256::from(args.txs_per_sender) * (U256::from(21_000u64) * U256::from(max_fee) + U256::from(1));
    let funding: Vec<String> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| sign(&funder, chain_id, funder_nonce + i as u64, s.address(), per_sender_cost, max_fee))
        .collect();
    let errs = send_all(&rpc, funding, args.connections, args.batch).await?;
    if errs > 0 {
        bail!("{errs} funding transfers were refused");
    }
    wait_nonces(&rpc, &[funder.address()], funder_nonce + args.senders as u64, deadline).await?;

    // Pre-sign, interleaving senders so every batch spreads over many accounts.
    let sink = Address::repeat_byte(0x5e);
    let mut raws = Vec::with_capacity(args.senders * args.txs_per_sender as usize);
    for n in 0..args.txs_per_sender {
        for s in &senders {
            raws.push(sign(s, chain_id, n, sink, U256::from(1), max_fee));
        }
    }
    let total = raws.len();
    let start = Instant::now();
    let start_ms = unix_ms();
    let errs = send_all(&rpc, raws, args.connections, args.batch).await?;
    let sent = start.elapsed();
    let addrs: Vec<Address> = senders.iter().map(|s| s.address()).collect();
    if errs > 0 {
        bail!("{errs} of {total} transfers were refused");
    }
    wait_nonces(&rpc, &addrs, args.txs_per_sender, deadline).await?;
    let persisted = start.elapsed();
    let end_ms = unix_ms();
    let tps = total as f64 / persisted.as_secs_f64();
    if args.json {
        println!(
            "{}",
            json!({
                "transfers": total,
                "send_secs": sent.as_secs_f64(),
                "persist_secs": persisted.as_secs_f64(),
                "transfers_per_sec": tps,
                // Wall clock, so several generators run side by side can be added up.
                "start_ms": start_ms,
                "end_ms": end_ms,
            })
        );
    } else {
        println!(
            "{total} transfers: sent in {:.2}s ({:.0}/s), all persisted after {:.2}s => {:.0} transfers/s",
            sent.as_secs_f64(),
            total as f64 / sent.as_secs_f64(),
            persisted.as_secs_f64(),
            tps
        );
    }
    Ok(())
}

//! `ls-release-load`: key-release requests per second one committee member sustains.
//!
//! 1. The file's owner (`--owner`, default the first dev account) grants read access to
//!    `--readers` fresh accounts (one transaction each; not timed).
//! 2. Pre-signs `--requests` release requests for the file's current version, spread over the
//!    readers so no reader passes the member's per-account burst (20); each has its own nonce
//!    and ephemeral key (signing is not timed).
//! 3. Sends them to the member (`lightstreams_releaseKey` at `--rpc`) as JSON-RPC batches over
//!    `--connections` concurrent connections, and reports released partials per second, with
//!    every refusal counted by its reason. A sample of answers is opened with the ephemeral
//!    secret, so a member answering garbage fails the run.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256, Bytes, U256, hex, keccak256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, stream};
use ls_access::{EphemeralSecret, ReleaseDomain, ReleaseRequest, SealedPartial, SignedReleaseRequest, open_sealed};
use ls_contracts::{FILE_REGISTRY, FileRegistry};
use ls_loadgen::{Rpc, fresh_keys, quantity, send_all, sign_call, wait_nonces};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Key-release requests per second one committee member sustains")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// The file (0x…, registered by --owner) whose key is asked for.
    #[arg(long)]
    file_id: B256,
    /// Accounts granted read access and asking (each asks at most 20 times).
    #[arg(long, default_value_t = 100)]
    readers: usize,
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Requests per JSON-RPC batch.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// The file owner's key (default: the first account of the test mnemonic).
    #[arg(long, default_value = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")]
    owner: String,
    /// Print one machine-readable JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// Requests whose answers are opened and checked.
const SAMPLE: usize = 8;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.requests > args.readers * 20 {
        bail!("{} requests from {} readers would pass the member's per-account burst (20); add readers", args.requests, args.readers);
    }
    let rpc = Rpc { client: reqwest::Client::builder().pool_max_idle_per_host(64).build()?, url: args.rpc.clone() };
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let chain_id = quantity(&rpc.call("eth_chainId", json!([])).await?)?;
    let owner: PrivateKeySigner = args.owner.parse().context("--owner is not a private key")?;
    let view = |data: Vec<u8>| {
        let rpc = &rpc;
        async move {
            let out = rpc.call("eth_call", json!([{"to": FILE_REGISTRY, "data": Bytes::from(data)}, "latest"])).await?;
            Ok::<_, anyhow::Error>(hex::decode(out.as_str().context("eth_call answered without data")?)?)
        }
    };
    let file = FileRegistry::fileOfCall::abi_decode_returns(&view(FileRegistry::fileOfCall { fileId: args.file_id }.abi_encode()).await?)?;
    if file.owner != owner.address() {
        bail!("file {} is owned by {}, not by --owner {}", args.file_id, file.owner, owner.address());
    }
    let version = u64::from(file.version);

    // 1. Readers, granted read access by the owner (untimed).
    let owner_nonce = quantity(&rpc.call("eth_getTransactionCount", json!([owner.address(), "pending"])).await?)?;
    let readers = fresh_keys(owner.address(), owner_nonce, args.readers);
    let base_fee = quantity(&rpc.call("eth_getBlockByNumber", json!(["latest", false])).await?["baseFeePerGas"]).unwrap_or(1_000_000_000);
    let max_fee = u128::from(base_fee) * 4 + 100_000_000_000;
    let grant = |account: Address| FileRegistry::grantCall { fileId: args.file_id, account, level: 1, expiry: 0 }.abi_encode();
    let gas = quantity(
        &rpc.call("eth_estimateGas", json!([{"from": owner.address(), "to": FILE_REGISTRY, "data": Bytes::from(grant(readers[0].address()))}]))
            .await?,
    )?;
    let grants: Vec<String> = readers
        .iter()
        .enumerate()
        .map(|(i, r)| sign_call(&owner, chain_id, owner_nonce + i as u64, FILE_REGISTRY, U256::ZERO, grant(r.address()).into(), gas * 2, max_fee))
        .collect();
    let refused = send_all(&rpc, grants, args.connections, 100).await?;
    if refused > 0 {
        bail!("{refused} grants were refused");
    }
    wait_nonces(&rpc, &[owner.address()], owner_nonce + args.readers as u64, deadline).await?;

    // 2. Signed requests (untimed).
    let domain = ReleaseDomain { chain_id, registry: FILE_REGISTRY };
    let expiry = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 600;
    let mut rng = {
        use ls_access::rand_core::SeedableRng;
        rand_chacha::ChaCha20Rng::from_seed(keccak256(owner_nonce.to_be_bytes()).0)
    };
    let mut samples = Vec::new();
    let mut bodies = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        let reader = &readers[i % readers.len()];
        let (secret, ephemeral_key) = EphemeralSecret::generate(&mut rng);
        let request =
            ReleaseRequest { fileId: args.file_id, version, reader: reader.address(), ephemeralKey: ephemeral_key, expiry, nonce: i as u64 };
        let signed = SignedReleaseRequest::sign(domain, request, reader)?;
        if i < SAMPLE {
            samples.push((signed.request_hash(), secret));
        }
        bodies.push(json!([Bytes::from(signed.to_bytes())]));
    }

    // 3. Timed: every request, `batch` per call, over `connections` connections.
    let chunks: Vec<(usize, Vec<Value>)> = bodies.chunks(args.batch).enumerate().map(|(i, c)| (i * args.batch, c.to_vec())).collect();
    let start = Instant::now();
    let answers = stream::iter(chunks)
        .map(|(first, chunk)| {
            let rpc = &rpc;
            async move {
                let calls: Vec<(&str, Value)> = chunk.into_iter().map(|p| ("lightstreams_releaseKey", p)).collect();
                Ok::<_, anyhow::Error>((first, rpc.batch(&calls).await?))
            }
        })
        .buffer_unordered(args.connections)
        .collect::<Vec<_>>()
        .await;
    let elapsed = start.elapsed();
    if Instant::now() > deadline {
        bail!("the run took longer than --timeout");
    }
    let (mut released, mut refusals) = (0usize, BTreeMap::<String, usize>::new());
    for answer in answers {
        let (first, items) = answer?;
        for (k, item) in items.iter().enumerate() {
            if let Some(e) = item.get("error") {
                let msg = e["message"].as_str().unwrap_or("?");
                *refusals.entry(msg.split(':').next().unwrap_or(msg).to_string()).or_default() += 1;
                continue;
            }
            released += 1;
            if let Some((hash, secret)) = samples.get(first + k) {
                let bytes = hex::decode(item["result"].as_str().context("no sealed partial")?)?;
                open_sealed(secret, &SealedPartial::from_bytes(&bytes)?, hash).context("a sealed partial does not open")?;
            }
        }
    }
    let rate = released as f64 / elapsed.as_secs_f64();
    if args.json {
        println!(
            "{}",
            json!({"requests": args.requests, "released": released, "secs": elapsed.as_secs_f64(), "released_per_sec": rate, "refused": refusals})
        );
    } else {
        println!("{released} of {} key-release requests answered in {:.2}s => {rate:.0} releases/s", args.requests, elapsed.as_secs_f64());
        for (why, n) in &refusals {
            println!("  refused {n}: {why}");
        }
    }
    Ok(())
}

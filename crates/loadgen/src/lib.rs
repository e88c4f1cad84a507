//! Shared by the load generators: a batching JSON-RPC client, transaction signing, sending
//! pre-signed transactions over concurrent connections, and waiting for nonces.

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, hex, keccak256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, bail};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

pub struct Rpc {
    pub client: reqwest::Client,
    pub url: String,
}

impl Rpc {
    pub async fn batch(&self, calls: &[(&str, Value)]) -> anyhow::Result<Vec<Value>> {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
            .collect();
        let resp: Value = self.client.post(&self.url).json(&body).send().await?.json().await?;
        let mut items = resp.as_array().cloned().context("batch response is not an array")?;
        items.sort_by_key(|v| v["id"].as_u64().unwrap_or(u64::MAX));
        Ok(items)
    }

    pub async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let resp = self.batch(&[(method, params)]).await?;
        let r = resp.into_iter().next().context("empty response")?;
        if let Some(e) = r.get("error") {
            bail!("{method}: {e}");
        }
        Ok(r["result"].clone())
    }
}

pub fn quantity(v: &Value) -> anyhow::Result<u64> {
    let s = v.as_str().context("expected a hex quantity")?;
    Ok(u64::from_str_radix(s.trim_start_matches("0x"), 16)?)
}

/// A signed EIP-1559 transfer of `value` to `to`, hex-encoded for `eth_sendRawTransaction`.
pub fn sign(s: &PrivateKeySigner, chain_id: u64, nonce: u64, to: Address, value: U256, max_fee: u128) -> String {
    sign_call(s, chain_id, nonce, to, value, Bytes::new(), 21_000, max_fee)
}

/// A signed EIP-1559 call of `to` with `input`, hex-encoded for `eth_sendRawTransaction`.
#[allow(clippy::too_many_arguments)]
pub fn sign_call(
    s: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    input: Bytes,
    gas_limit: u64,
    max_fee: u128,
) -> String {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input,
    };
    let sig = s.sign_transaction_sync(&mut tx).expect("local signing cannot fail");
    let env: TxEnvelope = tx.into_signed(sig).into();
    format!("0x{}", hex::encode(env.encoded_2718()))
}

pub async fn send_all(rpc: &Rpc, raws: Vec<String>, connections: usize, batch: usize) -> anyhow::Result<usize> {
    let chunks: Vec<Vec<String>> = raws.chunks(batch).map(|c| c.to_vec()).collect();
    let results = stream::iter(chunks)
        .map(|chunk| async move {
            let calls: Vec<(&str, Value)> = chunk.iter().map(|r| ("eth_sendRawTransaction", json!([r]))).collect();
            let resp = rpc.batch(&calls).await?;
            Ok::<usize, anyhow::Error>(resp.iter().filter(|r| r.get("error").is_some()).count())
        })
        .buffer_unordered(connections)
        .collect::<Vec<_>>()
        .await;
    let mut errors = 0;
    for r in results {
        errors += r?;
    }
    Ok(errors)
}

pub async fn wait_nonces(rpc: &Rpc, addrs: &[Address], target: u64, deadline: Instant) -> anyhow::Result<()> {
    loop {
        let mut done = true;
        for chunk in addrs.chunks(500) {
            let calls: Vec<(&str, Value)> =
                chunk.iter().map(|a| ("eth_getTransactionCount", json!([a, "latest"]))).collect();
            for r in rpc.batch(&calls).await? {
                if quantity(&r["result"]).unwrap_or(0) < target {
                    done = false;
                }
            }
            if !done {
                break;
            }
        }
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for transfers to be mined");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}


/// `n` fresh accounts, deterministic in `funder` and `run` (a nonce of the funding account), so
/// each run, and each funder of generators run side by side, gets new ones.
pub fn fresh_keys(funder: Address, run: u64, n: usize) -> Vec<PrivateKeySigner> {
    (0..n)
        .map(|i| {
            let seed = keccak256([funder.as_slice(), &run.to_be_bytes(), &(i as u64).to_be_bytes()].concat());
            PrivateKeySigner::from_bytes(&B256::from(seed)).expect("keccak output is a valid key with overwhelming probability")
        })
        .collect()
}

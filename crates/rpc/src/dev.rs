//! Dev-node methods with anvil's and hardhat's names and semantics: mining and time
//! (`evm_mine`, `anvil_mine`/`hardhat_mine`, `evm_increaseTime`, `evm_setNextBlockTimestamp`,
//! `evm_setAutomine`, `evm_setIntervalMining`), state edits (`setBalance`, `setCode`,
//! `setNonce`, `setStorageAt`), `evm_snapshot`/`evm_revert`, `dropTransaction`,
//! `anvil_nodeInfo` and `hardhat_metadata`.
//!
//! They answer only when the API was built [`EthApi::with_dev`] (a `--dev` node); elsewhere
//! (validators) every one of them is refused with `-32601` and a message saying so.
//!
//! Every state edit is a block: [`ls_chain::Chain::commit_edits`] seals a block without
//! transactions that carries the edit, committed in one write like any block, so a node killed
//! at any moment restarts consistent, and a revert unwinds an edit like any other block.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use ls_chain::{DevClock, MiningMode};
use ls_storage::{AccountChange, AccountInfo, StateChanges};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::{
    api::{EthApi, RpcResult},
    error,
    methods::M,
};

/// Most blocks one `anvil_mine`/`hardhat_mine` seals.
pub const MAX_MINE_BLOCKS: u64 = 10_000;

/// The dev node's controls shared by the RPC and the node: its clock, its mining mode and
/// the snapshots taken so far (in memory: they do not outlive the process, as in anvil).
#[derive(Debug)]
pub struct DevControl {
    pub clock: Arc<DevClock>,
    pub mining: Arc<MiningMode>,
    snapshots: Mutex<Vec<Snapshot>>,
    next_snapshot: AtomicU64,
    /// Accounts `eth_sendTransaction` may send for without a key.
    impersonated: Mutex<std::collections::HashSet<Address>>,
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    id: u64,
    block: u64,
    hash: B256,
    offset_ms: i64,
}

impl DevControl {
    pub fn new(clock: Arc<DevClock>, mining: Arc<MiningMode>) -> Self {
        Self {
            clock,
            mining,
            snapshots: Mutex::new(Vec::new()),
            next_snapshot: AtomicU64::new(0),
            impersonated: Mutex::new(Default::default()),
        }
    }

    /// Whether `eth_sendTransaction` may send for `address` without its key.
    pub fn is_impersonated(&self, address: &Address) -> bool {
        self.impersonated.lock().contains(address)
    }
}

/// The placeholder signature of a transaction sent for an impersonated account: `r` is the
/// sender's address, so two senders' otherwise equal transactions get different hashes. It
/// recovers to no one in particular; the node never recovers it (the sender is stored with
/// the block, and a dev chain is not verified by others).
pub(crate) fn impersonated_signature(from: Address) -> alloy_primitives::Signature {
    alloy_primitives::Signature::new(U256::from_be_slice(from.as_slice()), U256::from(1), false)
}

fn dev(api: &EthApi, method: &str) -> RpcResult<Arc<DevControl>> {
    api.dev.clone().ok_or_else(|| {
        ErrorObjectOwned::owned(
            -32601,
            format!("the method {method} is only available on a dev node (`lightstreams node --dev`)"),
            None::<()>,
        )
    })
}

fn chain_err(e: ls_chain::ChainError) -> ErrorObjectOwned {
    match e {
        ls_chain::ChainError::Dev(msg) => error::server(msg),
        other => error::internal(other),
    }
}

/// A number given as a JSON number or a hex/decimal string (clients send either).
fn number(v: &Value, what: &str) -> RpcResult<u64> {
    let bad = || error::invalid_params(format!("invalid {what}: {v}"));
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).map_err(|_| bad()),
            None => s.parse().map_err(|_| bad()),
        },
        _ => Err(bad()),
    }
}

/// A timestamp in seconds as milliseconds, refused when the clock offset could not hold it.
fn timestamp_ms(secs: u64) -> RpcResult<u64> {
    secs.checked_mul(1000)
        .filter(|ms| i64::try_from(*ms).is_ok())
        .ok_or_else(|| error::invalid_params(format!("timestamp {secs} is too large")))
}

fn register_dev<R>(m: &mut M, name: &'static str, f: fn(&EthApi, &DevControl, Params<'_>) -> RpcResult<R>)
where
    R: serde::Serialize + Clone + Send + 'static,
{
    m.register_blocking_method(name, move |p, api: Arc<EthApi>, _| {
        let control = dev(&api, name)?;
        f(&api, &control, p)
    })
    .expect("method names are unique");
}

type DevFn = fn(&EthApi, &DevControl, Params<'_>) -> RpcResult<Value>;

/// Registers the dev methods (refused unless the API has dev controls).
pub(crate) fn register(m: &mut M) {
    register_dev(m, "evm_snapshot", |api, d, _| {
        let head = api.chain.head();
        let id = d.next_snapshot.fetch_add(1, Ordering::SeqCst);
        d.snapshots.lock().push(Snapshot {
            id,
            block: head.header.number,
            hash: head.hash,
            offset_ms: d.clock.offset_ms(),
        });
        Ok(U256::from(id))
    });
    register_dev(m, "evm_revert", |api, d, p| {
        let id: U256 = p.one()?;
        let mut snapshots = d.snapshots.lock();
        let Some(pos) = snapshots.iter().position(|s| U256::from(s.id) == id) else { return Ok(false) };
        let snap = snapshots[pos];
        let still_there = api.chain.store().header(snap.block).map_err(error::internal)?.map(|h| h.hash_slow());
        if still_there != Some(snap.hash) {
            snapshots.truncate(pos);
            return Ok(false);
        }
        api.chain.unwind_to(snap.block).map_err(chain_err)?;
        d.clock.set_offset_ms(snap.offset_ms);
        // As anvil: the snapshot and every later one are used up.
        snapshots.truncate(pos);
        api.filters.rewind(snap.block);
        Ok(true)
    });
    register_dev(m, "evm_mine", |api, d, p| {
        // hardhat: an optional timestamp; anvil also takes {timestamp, blocks}.
        let arg: Option<Value> = p.sequence().optional_next()?;
        let (timestamp, blocks) = match &arg {
            None | Some(Value::Null) => (None, 1),
            Some(Value::Object(o)) => (
                o.get("timestamp").filter(|v| !v.is_null()).map(|v| number(v, "timestamp")).transpose()?,
                o.get("blocks").filter(|v| !v.is_null()).map(|v| number(v, "blocks")).transpose()?.unwrap_or(1),
            ),
            Some(v) => (Some(number(v, "timestamp")?), 1),
        };
        mine(api, d, blocks, timestamp, None)?;
        Ok("0x0")
    });
    for name in ["anvil_mine", "hardhat_mine"] {
        register_dev(m, name, |api, d, p| {
            let mut seq = p.sequence();
            let count: Option<Value> = seq.optional_next()?;
            let interval: Option<Value> = seq.optional_next()?;
            let count = count.filter(|v| !v.is_null()).map(|v| number(&v, "block count")).transpose()?.unwrap_or(1);
            let interval = interval.filter(|v| !v.is_null()).map(|v| number(&v, "interval")).transpose()?;
            mine(api, d, count, None, interval)?;
            Ok(Value::Null)
        });
    }
    register_dev(m, "evm_increaseTime", |_, d, p| {
        let secs: Value = p.one()?;
        let secs = i64::try_from(number(&secs, "seconds")?).map_err(|_| error::invalid_params("seconds too large"))?;
        let offset = d.clock.offset_ms().saturating_add(secs.saturating_mul(1000));
        d.clock.set_offset_ms(offset);
        // anvil: the total offset in seconds.
        Ok(offset / 1000)
    });
    register_dev(m, "evm_setNextBlockTimestamp", |api, d, p| {
        let ts: Value = p.one()?;
        let ms = timestamp_ms(number(&ts, "timestamp")?)?;
        api.chain.set_next_block_time_ms(Some(ms)).map_err(chain_err)?;
        // Later blocks go on from there, as in anvil and hardhat.
        d.clock.set_offset_ms(ms as i64 - d.clock.system_ms() as i64);
        Ok(Value::Null)
    });
    register_dev(m, "evm_setAutomine", |_, d, p| {
        let on: bool = p.one()?;
        // hardhat's automine: each transaction is mined on arrival; off, nothing is mined
        // unless asked.
        d.mining.set_auto(on);
        d.mining.set_instant(on);
        Ok(Value::Null)
    });
    register_dev(m, "evm_setIntervalMining", |_, d, p| {
        let ms: Value = p.one()?;
        d.mining.set_interval_ms(number(&ms, "interval")?);
        Ok(Value::Null)
    });

    for (name, hardhat) in [("anvil_setBalance", false), ("hardhat_setBalance", true)] {
        let f: DevFn = if hardhat { ok_true::<SetBalance> } else { ok_null::<SetBalance> };
        register_dev(m, name, f);
    }
    for (name, hardhat) in [("anvil_setCode", false), ("hardhat_setCode", true)] {
        let f: DevFn = if hardhat { ok_true::<SetCode> } else { ok_null::<SetCode> };
        register_dev(m, name, f);
    }
    for (name, hardhat) in [("anvil_setNonce", false), ("hardhat_setNonce", true)] {
        let f: DevFn = if hardhat { ok_true::<SetNonce> } else { ok_null::<SetNonce> };
        register_dev(m, name, f);
    }
    for name in ["anvil_setStorageAt", "hardhat_setStorageAt"] {
        // Both answer true.
        register_dev(m, name, ok_true::<SetStorageAt>);
    }
    for name in ["anvil_impersonateAccount", "hardhat_impersonateAccount"] {
        register_dev(m, name, |_, d, p| {
            let addr: Address = p.one()?;
            d.impersonated.lock().insert(addr);
            Ok(true)
        });
    }
    for name in ["anvil_stopImpersonatingAccount", "hardhat_stopImpersonatingAccount"] {
        register_dev(m, name, |_, d, p| {
            let addr: Address = p.one()?;
            d.impersonated.lock().remove(&addr);
            Ok(true)
        });
    }
    register_dev(m, "anvil_dropTransaction", |api, _, p| {
        let hash: B256 = p.one()?;
        Ok(drop_tx(api, hash).then_some(hash))
    });
    register_dev(m, "hardhat_dropTransaction", |api, _, p| {
        let hash: B256 = p.one()?;
        Ok(drop_tx(api, hash))
    });
    register_dev(m, "anvil_nodeInfo", |api, d, _| {
        let head = api.chain.head();
        let spec = api.chain.spec();
        let base_fee = api.chain.next_base_fee();
        Ok(json!({
            "currentBlockNumber": head.header.number,
            "currentBlockTimestamp": head.header.timestamp,
            "currentBlockHash": head.hash,
            "hardFork": "prague",
            "transactionOrder": "fees",
            "environment": {
                "baseFee": base_fee,
                "chainId": spec.chain_id,
                "gasLimit": spec.gas_limit,
                "gasPrice": base_fee as u128 + crate::SUGGESTED_TIP,
            },
            "forkConfig": {},
            "mining": {
                "auto": d.mining.auto(),
                "intervalMs": d.mining.interval_ms(),
            },
        }))
    });
    register_dev(m, "hardhat_metadata", |api, _, _| {
        let head = api.chain.head();
        let genesis = api.chain.store().header(0).map_err(error::internal)?.map(|h| h.hash_slow()).unwrap_or_default();
        Ok(json!({
            "clientVersion": api.client_version,
            "chainId": api.chain.spec().chain_id,
            // hardhat: random per run; ours names the chain (its genesis hash).
            "instanceId": genesis,
            "latestBlockNumber": head.header.number,
            "latestBlockHash": head.hash,
        }))
    });
}

fn drop_tx(api: &EthApi, hash: B256) -> bool {
    let known = api.chain.pool().get(&hash).is_some();
    api.chain.pool().remove(&[hash]);
    known
}

/// Seals `count` blocks (capped): the first at `timestamp` (seconds) if given, else at the time
/// `evm_setNextBlockTimestamp` set if any (as anvil), else `interval` seconds after its parent
/// if given; the others each `interval` seconds after the previous one if given, else at the
/// clock's time.
fn mine(api: &EthApi, d: &DevControl, count: u64, timestamp: Option<u64>, interval: Option<u64>) -> RpcResult<()> {
    if count > MAX_MINE_BLOCKS {
        return Err(error::invalid_params(format!("too many blocks to mine: {count} > {MAX_MINE_BLOCKS}")));
    }
    if let Some(ts) = timestamp {
        let ms = timestamp_ms(ts)?;
        api.chain.set_next_block_time_ms(Some(ms)).map_err(chain_err)?;
        d.clock.set_offset_ms(ms as i64 - d.clock.system_ms() as i64);
    }
    for i in 0..count {
        // A time `evm_setNextBlockTimestamp` set is the first block's, as in anvil.
        if let (Some(secs), true) = (interval, i > 0 || (timestamp.is_none() && api.chain.next_block_time_ms().is_none())) {
            let parent = ls_primitives::timestamp_ms(&api.chain.head().header);
            let ms = (parent / 1000).saturating_add(secs).saturating_mul(1000);
            api.chain.set_next_block_time_ms(Some(ms)).map_err(chain_err)?;
        }
        api.chain.build_block(true).map_err(chain_err)?;
    }
    // Blocks sealed ahead of the clock move it with them, so the next block does not stand still.
    let head_ms = ls_primitives::timestamp_ms(&api.chain.head().header);
    let now = ls_chain::Clock::now_millis(&*d.clock);
    if head_ms > now {
        d.clock.set_offset_ms(d.clock.offset_ms() + (head_ms - now) as i64);
    }
    Ok(())
}

/// One state edit: parsed from the params, applied to the account as it is at the head.
trait Edit: Sized {
    fn parse(p: Params<'_>) -> RpcResult<(Address, Self)>;
    fn apply(self, info: &mut AccountInfo, change: &mut AccountChange);
}

struct SetBalance(U256);
struct SetCode(Bytes);
struct SetNonce(u64);
struct SetStorageAt(B256, U256);

impl Edit for SetBalance {
    fn parse(p: Params<'_>) -> RpcResult<(Address, Self)> {
        let mut seq = p.sequence();
        Ok((seq.next()?, Self(seq.next()?)))
    }
    fn apply(self, info: &mut AccountInfo, _: &mut AccountChange) {
        info.balance = self.0;
    }
}

impl Edit for SetCode {
    fn parse(p: Params<'_>) -> RpcResult<(Address, Self)> {
        let mut seq = p.sequence();
        Ok((seq.next()?, Self(seq.next()?)))
    }
    fn apply(self, info: &mut AccountInfo, change: &mut AccountChange) {
        if self.0.is_empty() {
            info.code_hash = KECCAK256_EMPTY;
        } else {
            info.code_hash = keccak256(&self.0);
            change.code = Some(self.0);
        }
    }
}

impl Edit for SetNonce {
    fn parse(p: Params<'_>) -> RpcResult<(Address, Self)> {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let nonce: Value = seq.next()?;
        Ok((addr, Self(number(&nonce, "nonce")?)))
    }
    fn apply(self, info: &mut AccountInfo, _: &mut AccountChange) {
        info.nonce = self.0;
    }
}

impl Edit for SetStorageAt {
    fn parse(p: Params<'_>) -> RpcResult<(Address, Self)> {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let slot: U256 = seq.next()?;
        let value: B256 = seq.next()?;
        Ok((addr, Self(B256::from(slot), U256::from_be_bytes(value.0))))
    }
    fn apply(self, _: &mut AccountInfo, change: &mut AccountChange) {
        change.storage.insert(self.0, self.1);
    }
}

/// Applies `E` to its account at the head and commits it as a block.
fn edit<E: Edit>(api: &EthApi, p: Params<'_>) -> RpcResult<()> {
    let (addr, e) = E::parse(p)?;
    let state = api.chain.store().latest_state().map_err(error::internal)?;
    let mut info = state
        .account(addr)
        .map_err(error::internal)?
        .map(|a| AccountInfo { nonce: a.nonce, balance: a.balance, code_hash: a.code_hash })
        .unwrap_or(AccountInfo { nonce: 0, balance: U256::ZERO, code_hash: KECCAK256_EMPTY });
    drop(state);
    let mut change = AccountChange::default();
    e.apply(&mut info, &mut change);
    change.info = Some(info);
    let edits = StateChanges { accounts: BTreeMap::from([(addr, change)]) };
    api.chain.commit_edits(edits).map_err(chain_err)?;
    Ok(())
}

fn ok_true<E: Edit>(api: &EthApi, _: &DevControl, p: Params<'_>) -> RpcResult<Value> {
    edit::<E>(api, p)?;
    Ok(Value::Bool(true))
}

fn ok_null<E: Edit>(api: &EthApi, _: &DevControl, p: Params<'_>) -> RpcResult<Value> {
    edit::<E>(api, p)?;
    Ok(Value::Null)
}

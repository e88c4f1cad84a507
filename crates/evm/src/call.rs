//! `eth_call` and `eth_estimateGas`, bounded by [`CallLimits`]: a gas cap, revm's memory limit,
//! a deadline and a cancel flag, so no caller-named call can hold memory or a thread for long.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_consensus::Header;
use alloy_primitives::{Address, Bytes, Log, TxKind};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_rpc_types_eth::{TransactionRequest, state::StateOverride};
use revm_inspectors::access_list::AccessListInspector;
use ls_storage::StateReader;
use revm::{
    Context, InspectEvm, Inspector, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::{TxEnv, result::ExecutionResult},
    database::CacheDB,
    interpreter::{InstructionResult, Interpreter, interpreter::EthInterpreter},
    state::AccountInfo,
};

use crate::{
    ExecError, StateDb,
    executor::{block_env, cfg_env},
};

/// geth's default RPC gas cap (`--rpc.gascap`): no call runs with more, whatever it names.
pub const DEFAULT_CALL_GAS: u64 = 50_000_000;
/// geth's default `--rpc.evmtimeout`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Most EVM memory one call may hold, all call frames together.
pub const DEFAULT_CALL_MEMORY: u64 = 64 * 1024 * 1024;

/// What one `eth_call` or `eth_estimateGas` may use.
#[derive(Debug, Clone)]
pub struct CallLimits {
    /// Gas of a call that names more (or none); also the top of an estimate's search.
    pub gas_cap: u64,
    /// Bytes of EVM memory, all frames together (revm's memory limit): the call halts past it.
    pub memory_limit: u64,
    /// Wall time for the whole request (all runs of an estimate together).
    pub timeout: Duration,
    /// Set to abort every call running with these limits (the node is shutting down).
    pub cancel: Arc<AtomicBool>,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            gas_cap: DEFAULT_CALL_GAS,
            memory_limit: DEFAULT_CALL_MEMORY,
            timeout: DEFAULT_CALL_TIMEOUT,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl CallLimits {
    /// The gas a call that names `requested` runs with.
    pub fn call_gas(&self, requested: Option<u64>) -> u64 {
        requested.map_or(self.gas_cap, |g| g.min(self.gas_cap))
    }

    /// The top of an estimate's search: what the caller named, else the block's gas limit, never
    /// above the cap (as geth does).
    pub fn estimate_cap(&self, header: &Header, requested: Option<u64>) -> u64 {
        requested.filter(|g| *g >= 21_000).unwrap_or(header.gas_limit).min(self.gas_cap)
    }
}

/// Stops the interpreter of every frame once the deadline passes or the cancel flag is set.
/// Checking the clock every 256 instructions keeps its cost out of the profile and the time
/// between checks short even when each instruction reads cold state from disk.
pub(crate) struct Watchdog<'a> {
    deadline: Instant,
    cancel: &'a AtomicBool,
    steps: u32,
    tripped: Option<Abort>,
}

#[derive(Debug, Clone, Copy)]
enum Abort {
    Timeout,
    Cancelled,
}

impl<'a> Watchdog<'a> {
    pub(crate) fn new(deadline: Instant, cancel: &'a AtomicBool) -> Self {
        Self { deadline, cancel, steps: 0, tripped: None }
    }

    fn check(&mut self) -> Option<Abort> {
        if self.tripped.is_none() {
            if self.cancel.load(Ordering::Relaxed) {
                self.tripped = Some(Abort::Cancelled);
            } else if Instant::now() >= self.deadline {
                self.tripped = Some(Abort::Timeout);
            }
        }
        self.tripped
    }

    pub(crate) fn result(&self, limits: &CallLimits) -> Result<(), ExecError> {
        match self.tripped {
            None => Ok(()),
            Some(Abort::Timeout) => Err(ExecError::Timeout(limits.timeout)),
            Some(Abort::Cancelled) => Err(ExecError::Cancelled),
        }
    }
}

impl<CTX> Inspector<CTX, EthInterpreter> for Watchdog<'_> {
    #[inline]
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, _: &mut CTX) {
        self.steps = self.steps.wrapping_add(1);
        // Once tripped, every frame halts at its next instruction, so callers up the stack
        // cannot carry on looping after their callee stopped.
        if (self.tripped.is_some() || self.steps & 0xff == 0) && self.check().is_some() {
            interp.halt(InstructionResult::OutOfGas);
        }
    }
}

/// The result of a call that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    Success { output: Bytes, gas_used: u64, logs: Vec<Log> },
    /// `REVERT`: `output` is the revert data (reason string or custom error).
    Revert { output: Bytes, gas_used: u64 },
    /// Out of gas, invalid opcode and the like.
    Halt { reason: String, gas_used: u64 },
}

impl CallOutcome {
    pub fn gas_used(&self) -> u64 {
        match self {
            Self::Success { gas_used, .. } | Self::Revert { gas_used, .. } | Self::Halt { gas_used, .. } => {
                *gas_used
            }
        }
    }

    fn from_result(result: ExecutionResult) -> Self {
        let gas_used = result.tx_gas_used();
        match result {
            ExecutionResult::Success { output, logs, .. } => {
                Self::Success { output: output.into_data(), gas_used, logs }
            }
            ExecutionResult::Revert { output, .. } => Self::Revert { output, gas_used },
            ExecutionResult::Halt { reason, .. } => Self::Halt { reason: format!("{reason:?}"), gas_used },
        }
    }
}

pub(crate) fn call_tx_env(req: &TransactionRequest, gas: u64, chain_id: u64) -> TxEnv {
    let gas_price = req.gas_price.or(req.max_fee_per_gas).unwrap_or_default();
    TxEnv {
        tx_type: if req.max_fee_per_gas.is_some() { 2 } else if req.access_list.is_some() { 1 } else { 0 },
        caller: req.from.unwrap_or(Address::ZERO),
        gas_limit: gas,
        gas_price,
        gas_priority_fee: req.max_priority_fee_per_gas.filter(|_| req.max_fee_per_gas.is_some()),
        kind: req.to.unwrap_or(TxKind::Create),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        nonce: req.nonce.unwrap_or_default(),
        chain_id: Some(chain_id),
        access_list: req.access_list.clone().unwrap_or_default(),
        ..Default::default()
    }
}

pub(crate) fn apply_overrides<D>(db: &mut CacheDB<D>, overrides: &StateOverride) -> Result<(), ExecError>
where
    D: revm::DatabaseRef,
    ExecError: From<D::Error>,
{
    for (address, o) in overrides {
        let mut info = revm::DatabaseRef::basic_ref(&db.db, *address)?.unwrap_or_default();
        if let Some(balance) = o.balance {
            info.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            info.nonce = nonce;
        }
        if let Some(code) = &o.code {
            let bytecode = Bytecode::new_raw(code.clone());
            info.code_hash = bytecode.hash_slow();
            info.code = Some(bytecode);
        }
        db.insert_account_info(*address, AccountInfo { ..info });
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(ExecError::Other(format!(
                "account {address} has both 'state' and 'stateDiff'"
            )));
        }
        if let Some(state) = &o.state {
            let slots = state.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            db.replace_account_storage(*address, slots)?;
        }
        if let Some(diff) = &o.state_diff {
            for (k, v) in diff {
                db.insert_account_storage(*address, (*k).into(), (*v).into())?;
            }
        }
    }
    Ok(())
}

/// The EVM configuration of a call: like geth, no nonce check, no base fee when the call names
/// no price, no block gas limit (the gas is capped already), and the call memory limit.
fn call_cfg(chain_id: u64, req: &TransactionRequest, limits: &CallLimits) -> revm::context::CfgEnv {
    let mut cfg = cfg_env(chain_id);
    cfg.disable_nonce_check = true;
    let priced = req.gas_price.is_some() || req.max_fee_per_gas.is_some();
    if !priced {
        cfg.disable_base_fee = true;
    }
    cfg.disable_block_gas_limit = true;
    cfg.memory_limit = limits.memory_limit;
    cfg
}

/// One run of `req` with `gas`, stopped by `deadline` or the cancel flag.
#[allow(clippy::too_many_arguments)]
fn run(
    chain_id: u64,
    header: &Header,
    state: &dyn StateReader,
    req: &TransactionRequest,
    gas: u64,
    overrides: Option<&StateOverride>,
    limits: &CallLimits,
    deadline: Instant,
) -> Result<CallOutcome, ExecError> {
    let mut db = CacheDB::new(StateDb(state));
    if let Some(o) = overrides {
        apply_overrides(&mut db, o)?;
    }
    let cfg = call_cfg(chain_id, req, limits);
    let mut watchdog = Watchdog::new(deadline, &limits.cancel);
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(block_env(header))
        .build_mainnet_with_inspector(&mut watchdog);
    let out = evm.inspect_tx(call_tx_env(req, gas, chain_id));
    drop(evm);
    watchdog.result(limits)?;
    Ok(CallOutcome::from_result(out.map_err(ExecError::from)?.result))
}

/// Runs `req` against the state after `header`'s block without committing anything.
pub fn call(
    chain_id: u64,
    header: &Header,
    state: &dyn StateReader,
    req: &TransactionRequest,
    overrides: Option<&StateOverride>,
    limits: &CallLimits,
) -> Result<CallOutcome, ExecError> {
    let deadline = Instant::now() + limits.timeout;
    run(chain_id, header, state, req, limits.call_gas(req.gas), overrides, limits, deadline)
}

/// The smallest gas limit with which `req` succeeds (binary search, as geth does). Returns the
/// failing outcome when `req` fails even with the cap.
pub fn estimate_gas(
    chain_id: u64,
    header: &Header,
    state: &dyn StateReader,
    req: &TransactionRequest,
    overrides: Option<&StateOverride>,
    limits: &CallLimits,
) -> Result<Result<u64, CallOutcome>, ExecError> {
    let deadline = Instant::now() + limits.timeout;
    let run = |gas: u64| run(chain_id, header, state, req, gas, overrides, limits, deadline);
    let mut hi = limits.estimate_cap(header, req.gas);
    // A plain transfer to an account without code costs exactly 21000.
    if let Some(TxKind::Call(to)) = req.to {
        let has_input = req.input.input().is_some_and(|i| !i.is_empty());
        if !has_input && state.account(to).map_err(crate::DbError::from)?.is_none_or(|a| {
            a.code_hash == alloy_primitives::KECCAK256_EMPTY
        }) && overrides.is_none()
        {
            let out = run(21_000)?;
            if matches!(out, CallOutcome::Success { .. }) {
                return Ok(Ok(21_000));
            }
        }
    }
    let first = run(hi)?;
    if !matches!(first, CallOutcome::Success { .. }) {
        return Ok(Err(first));
    }
    let mut lo = first.gas_used().saturating_sub(1);
    // Most calls succeed with a small margin over the gas they used (the 63/64 rule).
    let optimistic = first.gas_used().saturating_add(2_300).saturating_mul(64) / 63;
    if optimistic < hi {
        match run(optimistic)? {
            CallOutcome::Success { .. } => hi = optimistic,
            _ => lo = optimistic,
        }
    }
    while lo + 1 < hi {
        // geth stops within 1.5%: the answer only has to be sufficient, not minimal.
        // (u128: `hi` may be anything up to the cap, and `* 1000` must not wrap.)
        if u128::from(hi - lo) * 1000 / u128::from(hi) < 15 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        match run(mid) {
            Ok(CallOutcome::Success { .. }) => hi = mid,
            Ok(_) | Err(ExecError::InvalidTransaction(_)) => lo = mid,
            Err(e) => return Err(e),
        }
    }
    Ok(Ok(hi))
}


/// What `eth_createAccessList` answers: the access list, and the outcome (gas used included) of
/// the call run with that list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessListResult {
    pub access_list: AccessList,
    pub outcome: CallOutcome,
}

/// Most runs of one `eth_createAccessList` (each run may widen the list, which changes gas and so
/// possibly the path; geth loops until the list is stable, bounded here as well as by the time).
pub const MAX_ACCESS_LIST_ROUNDS: usize = 16;

/// The access list `req` needs (geth's `eth_createAccessList`): runs the call with revm-inspectors'
/// `AccessListInspector`, starting from the list `req` names, then again with the list found,
/// until the list no longer changes. The sender, the recipient (or created address) and the
/// precompiles are left out unless their storage is touched. All runs share one deadline.
pub fn create_access_list(
    chain_id: u64,
    header: &Header,
    state: &dyn StateReader,
    req: &TransactionRequest,
    limits: &CallLimits,
) -> Result<AccessListResult, ExecError> {
    let deadline = Instant::now() + limits.timeout;
    let gas = limits.call_gas(req.gas);
    let mut req = req.clone();
    let mut list = normalized(req.access_list.clone().unwrap_or_default());
    for _ in 0..MAX_ACCESS_LIST_ROUNDS {
        req.access_list = Some(list.clone());
        let mut found = AccessListInspector::new(list.clone());
        let mut watchdog = Watchdog::new(deadline, &limits.cancel);
        let mut evm = Context::mainnet()
            .with_db(CacheDB::new(StateDb(state)))
            .with_cfg(call_cfg(chain_id, &req, limits))
            .with_block(block_env(header))
            .build_mainnet_with_inspector((&mut watchdog, &mut found));
        let out = evm.inspect_tx(call_tx_env(&req, gas, chain_id));
        drop(evm);
        watchdog.result(limits)?;
        let outcome = CallOutcome::from_result(out.map_err(ExecError::from)?.result);
        let next = normalized(found.into_access_list());
        if next == list {
            return Ok(AccessListResult { access_list: list, outcome });
        }
        list = next;
    }
    Err(ExecError::Other(format!("access list did not settle after {MAX_ACCESS_LIST_ROUNDS} runs")))
}

/// One entry per address, slots sorted and unique, addresses sorted: equal sets compare equal.
fn normalized(list: AccessList) -> AccessList {
    let mut by_address: std::collections::BTreeMap<Address, std::collections::BTreeSet<alloy_primitives::B256>> =
        Default::default();
    for item in list.0 {
        by_address.entry(item.address).or_default().extend(item.storage_keys);
    }
    AccessList(
        by_address
            .into_iter()
            .map(|(address, slots)| AccessListItem { address, storage_keys: slots.into_iter().collect() })
            .collect(),
    )
}

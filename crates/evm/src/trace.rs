//! geth-style (`debug_trace*`) and parity-style (`trace_*`) traces with the `revm-inspectors`
//! tracers reth and foundry use, bounded in time (the [`CallLimits`] deadline and cancel flag)
//! and in output (struct logs and recorded bytes, [`TraceCaps`]).
//!
//! Everything here is generic over a [`revm::DatabaseRef`]: the state *before* the block (or the
//! call). A transaction at index `i` is traced by replaying `0..i` untraced on the same EVM state
//! and then tracing `i`, exactly as the block was executed ([`crate::BlockExecutor`]).

use std::time::Instant;

use alloy_consensus::{Header, TxEnvelope};
use alloy_primitives::{Address, B256};
use alloy_rpc_types_eth::{TransactionInfo, TransactionRequest, state::StateOverride};
use alloy_rpc_types_trace::{
    geth::{
        CallConfig, GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingOptions,
        GethDefaultTracingOptions, GethTrace, NoopFrame, PreStateConfig,
    },
    parity::LocalizedTransactionTrace,
};
use revm::{
    Context, DatabaseCommit, DatabaseRef, InspectEvm, Inspector, MainBuilder, MainContext,
    context::{BlockEnv, CfgEnv, TxEnv, result::EVMError},
    context_interface::result::ResultAndState,
    database::CacheDB,
    interpreter::{InstructionResult, Interpreter, interpreter::EthInterpreter},
};
use revm_inspectors::tracing::{
    TraceLimitBehavior, TraceLimits, TracingInspector, TracingInspectorConfig,
};

use crate::{
    CallLimits, ExecError, SPEC,
    call::{Watchdog, apply_overrides, call_tx_env},
    executor::{block_env, cfg_env, tx_env},
};

/// Default most struct logs one request may produce (all transactions of a block together).
/// A struct log is 100 bytes to a few KiB of JSON, so this keeps answers under the response cap.
pub const DEFAULT_MAX_STRUCT_LOGS: u64 = 100_000;
/// Default most bytes the tracer may record (call inputs, memory snapshots, return data).
pub const DEFAULT_MAX_TRACE_BYTES: usize = 32 * 1024 * 1024;

/// Output bounds of one trace request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceCaps {
    /// Most struct logs (default tracer), all traced transactions together.
    pub max_struct_logs: u64,
    /// Most bytes the tracer records, all traced transactions together.
    pub max_bytes: usize,
}

impl Default for TraceCaps {
    fn default() -> Self {
        Self { max_struct_logs: DEFAULT_MAX_STRUCT_LOGS, max_bytes: DEFAULT_MAX_TRACE_BYTES }
    }
}

/// Why a trace was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The tracer name (or config) is not one we run; the message says which.
    #[error("{0}")]
    BadTracer(String),
    /// The trace grew past [`TraceCaps`].
    #[error("trace too large: {0}")]
    TooLarge(String),
}

/// The tracers we run, parsed from geth's options.
#[derive(Debug, Clone)]
pub enum Tracer {
    /// geth's default struct logger (`tracer` absent).
    StructLog(GethDefaultTracingOptions),
    /// `callTracer` (`onlyTopCall`, `withLog`).
    Call(CallConfig),
    /// `prestateTracer` (`diffMode`, `disableCode`, `disableStorage`).
    Prestate(PreStateConfig),
    /// `noopTracer`: `{}`.
    Noop,
    /// parity's `trace_transaction` / `trace_block` call traces.
    Parity,
}

impl Tracer {
    /// The tracer `opts` names. Unknown names, JavaScript tracers and malformed configs are
    /// refused with a message saying what is supported.
    pub fn from_geth(opts: &GethDebugTracingOptions) -> Result<Self, TraceError> {
        let Some(tracer) = &opts.tracer else { return Ok(Self::StructLog(opts.config)) };
        match tracer {
            GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::CallTracer) => {
                Ok(Self::Call(opts.tracer_config.clone().into_call_config().map_err(bad_config)?))
            }
            GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::PreStateTracer) => {
                Ok(Self::Prestate(opts.tracer_config.clone().into_pre_state_config().map_err(bad_config)?))
            }
            GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::NoopTracer) => Ok(Self::Noop),
            other => Err(TraceError::BadTracer(format!(
                "tracer not found: {} (supported: the default struct logger, callTracer, prestateTracer, noopTracer)",
                truncated(other.as_str())
            ))),
        }
    }

    fn inspector_config(&self) -> TracingInspectorConfig {
        match self {
            Self::StructLog(o) => TracingInspectorConfig::from_geth_config(o),
            Self::Call(c) => TracingInspectorConfig::from_geth_call_config(c),
            Self::Prestate(c) => TracingInspectorConfig::from_geth_prestate_config(c),
            Self::Noop => TracingInspectorConfig::none(),
            Self::Parity => TracingInspectorConfig::default_parity(),
        }
    }
}

fn bad_config(e: impl std::fmt::Display) -> TraceError {
    TraceError::BadTracer(format!("invalid tracerConfig: {e}"))
}

/// A tracer name echoed in an error, cut short (it may be a whole JavaScript program).
fn truncated(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// One transaction's trace.
#[derive(Debug, Clone)]
pub enum TxTrace {
    Geth(Box<GethTrace>),
    Parity(Vec<LocalizedTransactionTrace>),
}

/// What a request may still use: the deadline and the output left.
struct Budget<'a> {
    limits: &'a CallLimits,
    caps: TraceCaps,
    deadline: Instant,
    struct_logs_left: u64,
    bytes_left: usize,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a CallLimits, caps: TraceCaps) -> Self {
        Self {
            limits,
            caps,
            deadline: Instant::now() + limits.timeout,
            struct_logs_left: caps.max_struct_logs,
            bytes_left: caps.max_bytes,
        }
    }
}

/// Stops execution at the deadline (the shared [`Watchdog`]) and once the struct logs would pass
/// what the budget has left.
struct Bounds<'a> {
    watchdog: Watchdog<'a>,
    /// Struct logs still allowed, when counting them (default tracer only).
    steps_left: Option<u64>,
    too_many_steps: bool,
}

impl<CTX> Inspector<CTX, EthInterpreter> for Bounds<'_> {
    #[inline]
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, ctx: &mut CTX) {
        if let Some(left) = &mut self.steps_left {
            if *left == 0 {
                self.too_many_steps = true;
                interp.halt(InstructionResult::OutOfGas);
                return;
            }
            *left -= 1;
        }
        self.watchdog.step(interp, ctx);
    }
}

/// Runs `tx` on `db` with `tracer`, leaving `db` unchanged (the caller commits if it goes on).
fn trace_one<D>(
    db: &mut CacheDB<D>,
    cfg: CfgEnv,
    block: BlockEnv,
    tx: TxEnv,
    tracer: &Tracer,
    info: TransactionInfo,
    budget: &mut Budget<'_>,
) -> Result<(TxTrace, ResultAndState), TraceError>
where
    D: DatabaseRef,
    ExecError: From<EVMError<D::Error>> + From<D::Error>,
{
    let gas_limit = tx.gas_limit;
    let limits = TraceLimits::default()
        .set_max_recorded_bytes(Some(budget.bytes_left))
        .set_behavior(TraceLimitBehavior::Halt);
    let mut config = tracer.inspector_config();
    let mut steps_left = None;
    if let Tracer::StructLog(opts) = tracer {
        // geth's `limit` within what is left: record that many and run the rest unrecorded.
        // Otherwise every step counts against the budget.
        match opts.limit.filter(|l| *l > 0 && *l <= budget.struct_logs_left) {
            Some(limit) => config.step_limit = std::num::NonZeroU64::new(limit),
            None => steps_left = Some(budget.struct_logs_left),
        }
    }
    let mut tracing = TracingInspector::new(config).with_limits(limits);
    let mut bounds = Bounds {
        watchdog: Watchdog::new(budget.deadline, &budget.limits.cancel),
        steps_left,
        too_many_steps: false,
    };
    let out = {
        let mut evm = Context::mainnet()
            .with_db(&mut *db)
            .with_cfg(cfg)
            .with_block(block)
            .build_mainnet_with_inspector((&mut bounds, &mut tracing));
        evm.inspect_tx(tx)
    };
    bounds.watchdog.result(budget.limits)?;
    if bounds.too_many_steps {
        return Err(TraceError::TooLarge(format!(
            "more than {} struct logs; trace fewer transactions, or use callTracer",
            budget.caps.max_struct_logs
        )));
    }
    if tracing.limit_exceeded() {
        return Err(TraceError::TooLarge(format!(
            "more than {} bytes recorded; disable memory or return data",
            budget.caps.max_bytes
        )));
    }
    let res = out.map_err(ExecError::from)?;
    budget.bytes_left = budget.bytes_left.saturating_sub(tracing.recorded_bytes());
    if !matches!(tracer, Tracer::Parity) {
        // geth's top call frame has the transaction's gas limit (parity's, what is left after the
        // intrinsic cost, which is what the inspector recorded).
        tracing.set_transaction_gas_limit(gas_limit);
    }
    let gas_used = res.result.tx_gas_used();
    let trace = match tracer {
        Tracer::StructLog(opts) => {
            let output = res.result.output().cloned().unwrap_or_default();
            let frame = tracing.geth_builder().with_spec_id(SPEC).geth_traces(gas_used, output, *opts);
            budget.struct_logs_left = budget.struct_logs_left.saturating_sub(frame.struct_logs.len() as u64);
            TxTrace::Geth(Box::new(frame.into()))
        }
        Tracer::Call(c) => TxTrace::Geth(Box::new(tracing.geth_builder().geth_call_traces(*c, gas_used).into())),
        Tracer::Prestate(c) => {
            let frame = tracing.geth_builder().geth_prestate_traces(&res, c, &*db).map_err(ExecError::from)?;
            TxTrace::Geth(Box::new(frame.into()))
        }
        Tracer::Noop => TxTrace::Geth(Box::new(GethTrace::NoopTracer(NoopFrame::default()))),
        Tracer::Parity => TxTrace::Parity(tracing.into_parity_builder().into_localized_transaction_traces(info)),
    };
    Ok((trace, res))
}

/// A block's signed transactions with their senders, and where they go.
#[derive(Debug, Clone, Copy)]
pub struct BlockTxs<'a> {
    pub chain_id: u64,
    /// The block's header (its environment: number, timestamp, base fee, coinbase).
    pub header: &'a Header,
    /// The block's hash, for parity traces.
    pub hash: B256,
    pub transactions: &'a [TxEnvelope],
    pub senders: &'a [Address],
}

/// Traces the transactions of a block on `parent_state` (the state after its parent): all of
/// them in order when `only` is `None`, else only the one at that index, after replaying the
/// ones before it untraced.
pub fn trace_block<D>(
    block: BlockTxs<'_>,
    parent_state: D,
    only: Option<usize>,
    tracer: &Tracer,
    limits: &CallLimits,
    caps: TraceCaps,
) -> Result<Vec<TxTrace>, TraceError>
where
    D: DatabaseRef,
    ExecError: From<EVMError<D::Error>> + From<D::Error>,
{
    let BlockTxs { chain_id, header, hash, transactions, senders } = block;
    let mut budget = Budget::new(limits, caps);
    let mut db = CacheDB::new(parent_state);
    let (end, first_traced) = match only {
        Some(i) if i < transactions.len() => (i + 1, i),
        Some(i) => return Err(TraceError::Exec(ExecError::Other(format!("transaction index {i} out of range")))),
        None => (transactions.len(), 0),
    };
    let mut out = Vec::with_capacity(end - first_traced);
    for (i, (tx, sender)) in transactions[..end].iter().zip(senders).enumerate() {
        let env = tx_env(tx, *sender);
        if i < first_traced {
            // Replay untraced, still under the deadline.
            let mut bounds = Bounds {
                watchdog: Watchdog::new(budget.deadline, &limits.cancel),
                steps_left: None,
                too_many_steps: false,
            };
            let res = {
                let mut evm = Context::mainnet()
                    .with_db(&mut db)
                    .with_cfg(cfg_env(chain_id))
                    .with_block(block_env(header))
                    .build_mainnet_with_inspector(&mut bounds);
                evm.inspect_tx(env)
            };
            bounds.watchdog.result(limits)?;
            db.commit(res.map_err(ExecError::from)?.state);
            continue;
        }
        let info = TransactionInfo {
            hash: Some(*tx.tx_hash()),
            index: Some(i as u64),
            block_hash: Some(hash),
            block_number: Some(header.number),
            base_fee: header.base_fee_per_gas,
            ..Default::default()
        };
        let (trace, res) =
            trace_one(&mut db, cfg_env(chain_id), block_env(header), env, tracer, info, &mut budget)?;
        out.push(trace);
        if i + 1 < end {
            db.commit(res.state);
        }
    }
    Ok(out)
}

/// `debug_traceCall`: traces `req` on `state` (the state after `header`'s block) as `eth_call`
/// runs it: gas capped, no nonce check, no base fee unless a price is named.
#[allow(clippy::too_many_arguments)]
pub fn trace_call<D>(
    chain_id: u64,
    header: &Header,
    state: D,
    req: &TransactionRequest,
    overrides: Option<&StateOverride>,
    tracer: &Tracer,
    limits: &CallLimits,
    caps: TraceCaps,
) -> Result<TxTrace, TraceError>
where
    D: DatabaseRef,
    ExecError: From<EVMError<D::Error>> + From<D::Error>,
{
    let mut budget = Budget::new(limits, caps);
    let mut db = CacheDB::new(state);
    if let Some(o) = overrides {
        apply_overrides(&mut db, o)?;
    }
    let mut cfg = cfg_env(chain_id);
    cfg.disable_nonce_check = true;
    if req.gas_price.is_none() && req.max_fee_per_gas.is_none() {
        cfg.disable_base_fee = true;
    }
    cfg.disable_block_gas_limit = true;
    cfg.memory_limit = limits.memory_limit;
    let env = call_tx_env(req, limits.call_gas(req.gas), chain_id);
    let (trace, _) =
        trace_one(&mut db, cfg, block_env(header), env, tracer, TransactionInfo::default(), &mut budget)?;
    Ok(trace)
}

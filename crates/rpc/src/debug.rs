//! Tracing: `debug_traceTransaction`, `debug_traceCall`, `debug_traceBlockByNumber`,
//! `debug_traceBlockByHash` (geth's shapes) and `trace_transaction`, `trace_block` (parity's),
//! with the revm-inspectors tracers (see [`ls_evm::trace_block`]). They run on the bounded EVM
//! workers like `eth_call`, under `--rpc-evm-timeout` and [`ls_evm::TraceCaps`].

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_trace::{
    geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult},
    parity::LocalizedTransactionTrace,
};
use ls_evm::{BlockTxs, CallLimits, TraceError, Tracer, TxTrace};
use ls_primitives::SealedBlock;

use crate::{
    api::EthApi,
    error,
    methods::{EvmFail, EvmResult, M, reg_evm},
};

impl From<TraceError> for EvmFail {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Exec(e) => e.into(),
            TraceError::BadTracer(msg) => Self::Rpc(error::server(msg)),
            // -32005: the request asked for more than this node answers with.
            TraceError::TooLarge(msg) => Self::Rpc(error::limit_exceeded(format!("trace too large: {msg}"))),
        }
    }
}

pub(crate) fn register(m: &mut M) {
    reg_evm(m, "debug_traceTransaction", |api, p, limits| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let opts: Option<GethDebugTracingOptions> = seq.optional_next()?;
        let tracer = Tracer::from_geth(&opts.unwrap_or_default())?;
        let (block, index) = located(api, hash)?;
        Ok(geth(trace_block(api, &block, Some(index), &tracer, limits)?.pop()))
    });
    reg_evm(m, "debug_traceBlockByNumber", |api, p, limits| {
        let mut seq = p.sequence();
        let tag: BlockNumberOrTag = seq.next()?;
        let opts: Option<GethDebugTracingOptions> = seq.optional_next()?;
        let tracer = Tracer::from_geth(&opts.unwrap_or_default())?;
        let n = api.number_of(tag)?.ok_or_else(|| block_not_found(tag))?;
        geth_block(api, n, &tracer, limits)
    });
    reg_evm(m, "debug_traceBlockByHash", |api, p, limits| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let opts: Option<GethDebugTracingOptions> = seq.optional_next()?;
        let tracer = Tracer::from_geth(&opts.unwrap_or_default())?;
        let n = api.chain.store().block_number(hash).map_err(error::internal)?.ok_or_else(|| block_not_found(hash))?;
        geth_block(api, n, &tracer, limits)
    });
    reg_evm(m, "debug_traceCall", |api, p, limits| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let opts: Option<GethDebugTracingCallOptions> = seq.optional_next()?;
        let opts = opts.unwrap_or_default();
        if opts.block_overrides.is_some() {
            return Err(error::invalid_params("blockOverrides are not supported").into());
        }
        if opts.tx_index.is_some() {
            return Err(error::invalid_params("txIndex is not supported").into());
        }
        let tracer = Tracer::from_geth(&opts.tracing_options)?;
        let (state, header) = api.state_at(id)?;
        let chain_id = api.chain.spec().chain_id;
        let overrides = opts.state_overrides.as_ref();
        let trace = ls_evm::trace_call(
            chain_id,
            &header,
            ls_evm::StateDb(&state),
            &req,
            overrides,
            &tracer,
            limits,
            api.limits.trace,
        )?;
        Ok(geth(Some(trace)))
    });
    reg_evm(m, "trace_transaction", |api, p, limits| {
        let hash: B256 = p.one()?;
        let Ok((block, index)) = located(api, hash) else { return Ok(None) };
        Ok(Some(parity(trace_block(api, &block, Some(index), &Tracer::Parity, limits)?)))
    });
    reg_evm(m, "trace_block", |api, p, limits| {
        let id: BlockId = p.one()?;
        let Some(n) = api.number_of_id(id)? else { return Ok(None) };
        let Some(block) = api.block(n)? else { return Ok(None) };
        Ok(Some(parity(trace_block(api, &block, None, &Tracer::Parity, limits)?)))
    });
}

fn block_not_found(what: impl std::fmt::Display) -> jsonrpsee::types::ErrorObjectOwned {
    error::server(format!("block {what} not found"))
}

/// The block holding `hash` and its index there (geth: `transaction <hash> not found`).
fn located(api: &EthApi, hash: B256) -> EvmResult<(SealedBlock, usize)> {
    let not_found = || EvmFail::Rpc(error::server(format!("transaction {hash} not found")));
    let loc = api.chain.store().transaction_location(hash).map_err(error::internal)?.ok_or_else(not_found)?;
    let block = api.block(loc.block)?.ok_or_else(not_found)?;
    Ok((block, loc.index as usize))
}

/// Traces `block`'s transactions (or just the one at `only`) on the state after its parent.
/// This is the one place that opens a stored state for tracing.
fn trace_block(
    api: &EthApi,
    block: &SealedBlock,
    only: Option<usize>,
    tracer: &Tracer,
    limits: &CallLimits,
) -> EvmResult<Vec<TxTrace>> {
    let Some(parent) = block.header.number.checked_sub(1) else {
        // Genesis has no transactions to trace.
        return Ok(vec![]);
    };
    let state = api.chain.store().state_at(Some(parent)).map_err(error::internal)?;
    let txs = BlockTxs {
        chain_id: api.chain.spec().chain_id,
        header: &block.header,
        hash: block.hash,
        transactions: &block.transactions,
        senders: &block.senders,
    };
    Ok(ls_evm::trace_block(txs, ls_evm::StateDb(&state), only, tracer, limits, api.limits.trace)?)
}

fn geth_block(api: &EthApi, n: u64, tracer: &Tracer, limits: &CallLimits) -> EvmResult<Vec<TraceResult>> {
    let block = api.block(n)?.ok_or_else(|| block_not_found(n))?;
    let traces = trace_block(api, &block, None, tracer, limits)?;
    Ok(traces
        .into_iter()
        .zip(&block.transactions)
        .map(|(t, tx)| TraceResult::Success { result: geth(Some(t)), tx_hash: Some(*tx.tx_hash()) })
        .collect())
}

fn geth(t: Option<TxTrace>) -> GethTrace {
    match t {
        Some(TxTrace::Geth(g)) => *g,
        _ => GethTrace::NoopTracer(Default::default()),
    }
}

fn parity(traces: Vec<TxTrace>) -> Vec<LocalizedTransactionTrace> {
    traces
        .into_iter()
        .flat_map(|t| match t {
            TxTrace::Parity(p) => p,
            TxTrace::Geth(_) => vec![],
        })
        .collect()
}

//! Executes Ethereum transactions with revm (Prague rules) over any [`ls_storage::StateReader`]
//! (the finalized store, or pending blocks over it).
//!
//! - [`BlockExecutor`] runs a block's transactions one by one and yields the receipts, the
//!   header fields they determine, and the [`ls_storage::StateChanges`] to commit.
//! - [`call`] and [`estimate_gas`] serve `eth_call` and `eth_estimateGas` on any block's state,
//!   [`create_access_list`] `eth_createAccessList`.
//! - [`trace_block`] and [`trace_call`] serve `debug_trace*` and `trace_*` (revm-inspectors).
//!
//! The EVM knows nothing of the network or the pool: it sees a state snapshot and transactions.

mod db;
mod error;
mod executor;
mod call;
mod trace;

pub use call::{
    AccessListResult, CallLimits, CallOutcome, DEFAULT_CALL_GAS, DEFAULT_CALL_MEMORY, DEFAULT_CALL_TIMEOUT,
    MAX_ACCESS_LIST_ROUNDS, call, create_access_list, estimate_gas,
};
pub use db::{DbError, StateDb};
pub use error::{ExecError, invalid_tx_message};
pub use executor::{BlockExecutor, ExecutedBlock, Rejected};
pub use trace::{
    BlockTxs, DEFAULT_MAX_STRUCT_LOGS, DEFAULT_MAX_TRACE_BYTES, TraceCaps, TraceError, Tracer, TxTrace, trace_block,
    trace_call,
};

use revm::primitives::hardfork::SpecId;

/// The fork the chain runs.
pub const SPEC: SpecId = SpecId::PRAGUE;

//! JSON-RPC errors with the codes and messages geth uses, so tools parse them unchanged.

use alloy_primitives::Bytes;
use alloy_sol_types::{Revert, SolError};
use jsonrpsee::types::ErrorObjectOwned;
use ls_evm::{CallOutcome, ExecError};

/// Invalid params (-32602).
pub fn invalid_params(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, msg.into(), None::<()>)
}

/// geth's generic server error (-32000).
pub fn server(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, msg.into(), None::<()>)
}

/// Limit exceeded (-32005, EIP-1474): the node is busy or a quota is used up; try again later.
pub fn limit_exceeded(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32005, msg.into(), None::<()>)
}

/// Internal error (-32603): storage faults and other things the caller cannot fix.
pub fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    tracing::error!(error = %e, "internal error serving RPC");
    ErrorObjectOwned::owned(-32603, format!("internal error: {e}"), None::<()>)
}

/// `execution reverted` (code 3) with the revert data, as geth returns it: ethers, viem and
/// web3.py decode reason strings and custom errors from `data`.
pub fn reverted(output: &Bytes) -> ErrorObjectOwned {
    let message = match Revert::abi_decode(output) {
        Ok(r) => format!("execution reverted: {}", r.reason),
        Err(_) => "execution reverted".to_string(),
    };
    ErrorObjectOwned::owned(3, message, Some(output.to_string()))
}

/// The error for a call that did not succeed.
pub fn failed_call(outcome: &CallOutcome) -> ErrorObjectOwned {
    match outcome {
        CallOutcome::Revert { output, .. } => reverted(output),
        CallOutcome::Halt { reason, .. } => server(halt_message(reason)),
        CallOutcome::Success { .. } => internal("successful call reported as failure"),
    }
}

fn halt_message(reason: &str) -> String {
    if reason.contains("OutOfGas") {
        "out of gas".to_string()
    } else if reason.contains("InvalidFEOpcode") || reason.contains("OpcodeNotFound") {
        "invalid opcode".to_string()
    } else if reason.contains("StackUnderflow") {
        "stack underflow".to_string()
    } else {
        format!("execution halted: {reason}")
    }
}

pub fn exec(e: ExecError) -> ErrorObjectOwned {
    match e {
        ExecError::InvalidTransaction(msg) | ExecError::Other(msg) => server(msg),
        e @ (ExecError::Timeout(_) | ExecError::Cancelled) => server(e.to_string()),
        other => internal(other),
    }
}

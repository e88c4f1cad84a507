use revm::context::result::{EVMError, InvalidTransaction};

use crate::DbError;

/// Why the EVM could not run a transaction or call.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// The transaction is invalid against this state; the message is geth's wording.
    #[error("{0}")]
    InvalidTransaction(String),
    #[error("invalid block environment: {0}")]
    Header(String),
    /// The call ran past its time limit (geth's wording).
    #[error("execution aborted (timeout = {0:?})")]
    Timeout(std::time::Duration),
    /// The node is shutting down.
    #[error("execution aborted (node shutting down)")]
    Cancelled,
    #[error("{0}")]
    Other(String),
}

impl From<EVMError<DbError>> for ExecError {
    fn from(e: EVMError<DbError>) -> Self {
        match e {
            EVMError::Database(db) => ExecError::Db(db),
            EVMError::Transaction(tx) => ExecError::InvalidTransaction(invalid_tx_message(&tx)),
            EVMError::Header(h) => ExecError::Header(h.to_string()),
            other => ExecError::Other(other.to_string()),
        }
    }
}

/// geth's wording for a transaction revm refuses, so tools that match on it keep working.
pub fn invalid_tx_message(e: &InvalidTransaction) -> String {
    use InvalidTransaction as I;
    match e {
        I::NonceTooLow { tx, state } => format!("nonce too low: next nonce {state}, tx nonce {tx}"),
        I::NonceTooHigh { tx, state } => format!("nonce too high: next nonce {state}, tx nonce {tx}"),
        I::LackOfFundForMaxFee { fee, balance } => format!(
            "insufficient funds for gas * price + value: have {balance} want {fee}"
        ),
        I::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}")
        }
        I::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => {
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {gas_floor}")
        }
        I::CallerGasLimitMoreThanBlock => "exceeds block gas limit".to_string(),
        I::GasPriceLessThanBasefee => "max fee per gas less than block base fee".to_string(),
        I::PriorityFeeGreaterThanMaxFee => {
            "max priority fee per gas higher than max fee per gas".to_string()
        }
        I::InvalidChainId => "invalid chain id for signer".to_string(),
        I::OverflowPaymentInTransaction => "gas uint64 overflow".to_string(),
        I::CreateInitCodeSizeLimit => "max initcode size exceeded".to_string(),
        I::RejectCallerWithCode => "sender not an eoa".to_string(),
        other => other.to_string(),
    }
}

use alloy_primitives::{Address, U256};

/// Why a transaction was refused. Messages are geth's, since tools match on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("rlp: {0}")]
    Decode(String),
    #[error("invalid sender: {0}")]
    InvalidSender(String),
    #[error("transaction type not supported")]
    TypeNotSupported,
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    NotReplayProtected,
    #[error("invalid chain id for signer: have {have} want {want}")]
    WrongChainId { have: u64, want: u64 },
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized { size: usize, limit: usize },
    #[error("exceeds block gas limit")]
    GasLimit,
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas { gas: u64, needed: u64 },
    #[error("insufficient gas for floor data gas cost: gas {gas}, minimum needed {needed}")]
    FloorDataGas { gas: u64, needed: u64 },
    #[error("max initcode size exceeded: code size {size}, limit {limit}")]
    InitCodeSize { size: usize, limit: usize },
    #[error(
        "max priority fee per gas higher than max fee per gas: address {sender}, maxPriorityFeePerGas: {tip}, maxFeePerGas: {max_fee}"
    )]
    TipAboveFeeCap { sender: Address, tip: u128, max_fee: u128 },
    #[error("max fee per gas less than block base fee: address {sender}, maxFeePerGas: {max_fee}, baseFee: {base_fee}")]
    FeeCapTooLow { sender: Address, max_fee: u128, base_fee: u64 },
    #[error("transaction underpriced: tip needed {needed}, tip permitted {tip}")]
    Underpriced { tip: u128, needed: u128 },
    #[error("already known")]
    AlreadyKnown,
    #[error("nonce too low: next nonce {state}, tx nonce {tx}")]
    NonceTooLow { tx: u64, state: u64 },
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {}", cost - balance)]
    InsufficientFunds { balance: U256, cost: U256 },
    #[error("replacement transaction underpriced")]
    ReplaceUnderpriced,
    #[error("account limit exceeded: {limit} transactions from {sender} already queued")]
    AccountLimit { sender: Address, limit: usize },
    #[error("txpool is full")]
    Full,
    #[error("internal error: {0}")]
    Internal(String),
}

impl PoolError {
    /// The JSON-RPC error code geth answers with.
    pub fn code(&self) -> i32 {
        match self {
            PoolError::Internal(_) => -32603,
            _ => -32000,
        }
    }
}

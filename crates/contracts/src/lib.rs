//! The Lightstreams contracts: **FileRegistry** (who may read which file) and **Market** (who
//! paid for it), written in Solidity under `contracts/` and compiled by one pinned solc into the
//! committed `artifacts/` (`npm --prefix contracts run compile`). The Rust build reads only the
//! artifacts; it needs no Node.js.
//!
//! Every chain places both contracts at fixed addresses at genesis ([`FILE_REGISTRY`],
//! [`MARKET`]). [`predeploys`] runs their constructors in revm and returns the resulting code
//! and storage, so the genesis state is exactly what a deployment would have produced.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, address};
use alloy_sol_types::{SolConstructor, sol};
use ls_primitives::GenesisAccount;
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext,
    context::{CfgEnv, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::{TxKind, hardfork::SpecId},
};

/// The fork Lightstreams runs (the node's EVM uses the same).
pub const SPEC: SpecId = SpecId::PRAGUE;

sol!(
    #[sol(abi)]
    #[derive(Debug, PartialEq, Eq)]
    FileRegistry,
    "artifacts/FileRegistry.json"
);
sol!(
    #[sol(abi)]
    #[derive(Debug, PartialEq, Eq)]
    Market,
    "artifacts/Market.json"
);

/// Where every Lightstreams chain keeps the FileRegistry ("LS" then 1).
pub const FILE_REGISTRY: Address = address!("4c53000000000000000000000000000000000001");
/// Where every Lightstreams chain keeps the Market ("LS" then 2).
pub const MARKET: Address = address!("4c53000000000000000000000000000000000002");

/// The committed artifacts (`{abi, bytecode, deployedBytecode, compiler, source}`).
pub mod artifacts {
    pub const FILE_REGISTRY: &str = include_str!("../artifacts/FileRegistry.json");
    pub const MARKET: &str = include_str!("../artifacts/Market.json");
    pub const TEST_TOKEN: &str = include_str!("../artifacts/TestToken.json");
    pub const REJECTING_PAYEE: &str = include_str!("../artifacts/RejectingPayee.json");
    pub const REENTRANT_PAYEE: &str = include_str!("../artifacts/ReentrantPayee.json");
    pub const RELISTING_SELLER: &str = include_str!("../artifacts/RelistingSeller.json");
    pub const GAS_BURNING_PAYEE: &str = include_str!("../artifacts/GasBurningPayee.json");
    pub const LOUD_PAYEE: &str = include_str!("../artifacts/LoudPayee.json");
    pub const FEE_ON_TRANSFER_TOKEN: &str = include_str!("../artifacts/FeeOnTransferToken.json");
    pub const NO_RETURN_TOKEN: &str = include_str!("../artifacts/NoReturnToken.json");
    pub const SILENT_FALLBACK: &str = include_str!("../artifacts/SilentFallback.json");
}

/// Errors building predeploys.
#[derive(Debug, thiserror::Error)]
pub enum ContractsError {
    #[error("artifact {0} is malformed: {1}")]
    Artifact(&'static str, String),
    #[error("constructor of {0} failed: {1}")]
    Constructor(&'static str, String),
    #[error("platform fee {0} bps is above the market's limit of 2000")]
    FeeTooHigh(u16),
    #[error("a platform fee of {0} bps needs a fee recipient other than the zero address")]
    NoFeeRecipient(u16),
}

/// A field of an artifact as bytes.
pub fn artifact_bytes(json: &'static str, field: &str) -> Result<Bytes, ContractsError> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| ContractsError::Artifact("json", e.to_string()))?;
    let hex = v[field].as_str().ok_or_else(|| ContractsError::Artifact("json", format!("no {field}")))?;
    hex.parse().map_err(|e: alloy_primitives::hex::FromHexError| ContractsError::Artifact("json", e.to_string()))
}

/// The ABI of an artifact, as JSON.
pub fn artifact_abi(json: &'static str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(json).map(|v| v["abi"].clone()).unwrap_or_default()
}

/// Settings fixed at genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredeployConfig {
    /// Platform fee on every sale, in basis points (0 to 2000).
    pub platform_fee_bps: u16,
    /// Who receives the platform fee.
    pub fee_recipient: Address,
}

/// The default fee recipient: dev account 0 of the well-known test mnemonic (what
/// `lightstreams node` uses when `--fee-recipient` is not given). Never the zero address, where
/// fees would be burnt.
pub const DEFAULT_FEE_RECIPIENT: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

impl Default for PredeployConfig {
    fn default() -> Self {
        Self { platform_fee_bps: 0, fee_recipient: DEFAULT_FEE_RECIPIENT }
    }
}

/// Runs `init` (creation code + constructor arguments) in an empty revm and returns the
/// account it creates: runtime code and the storage its constructor wrote.
pub fn run_constructor(name: &'static str, init: Bytes) -> Result<GenesisAccount, ContractsError> {
    let mut evm = Context::mainnet()
        .with_db(CacheDB::new(EmptyDB::default()))
        .with_cfg(CfgEnv::new_with_spec(SPEC))
        .build_mainnet();
    let deployer = Address::repeat_byte(0xde);
    let tx = TxEnv { caller: deployer, kind: TxKind::Create, data: init, gas_limit: 30_000_000, ..Default::default() };
    let out = evm.transact(tx).map_err(|e| ContractsError::Constructor(name, e.to_string()))?;
    let created = match &out.result {
        ExecutionResult::Success { .. } => out.result.created_address(),
        other => return Err(ContractsError::Constructor(name, format!("{other:?}"))),
    }
    .ok_or_else(|| ContractsError::Constructor(name, "no contract created".into()))?;
    let account = out
        .state
        .get(&created)
        .ok_or_else(|| ContractsError::Constructor(name, "created account missing from state".into()))?;
    let code = account.info.code.as_ref().map(|c| c.original_bytes()).unwrap_or_default();
    let storage: BTreeMap<B256, B256> = account
        .storage
        .iter()
        .filter(|(_, slot)| !slot.present_value.is_zero())
        .map(|(k, slot)| (B256::from(*k), B256::from(slot.present_value)))
        .collect();
    Ok(GenesisAccount { balance: U256::ZERO, nonce: 1, code, storage })
}

/// Genesis accounts for the FileRegistry and the Market at their fixed addresses.
pub fn predeploys(cfg: &PredeployConfig) -> Result<Vec<(Address, GenesisAccount)>, ContractsError> {
    if cfg.platform_fee_bps > 2_000 {
        return Err(ContractsError::FeeTooHigh(cfg.platform_fee_bps));
    }
    if cfg.platform_fee_bps != 0 && cfg.fee_recipient.is_zero() {
        return Err(ContractsError::NoFeeRecipient(cfg.platform_fee_bps));
    }
    let mut registry_init = artifact_bytes(artifacts::FILE_REGISTRY, "bytecode")?.to_vec();
    registry_init.extend(FileRegistry::constructorCall { market_: MARKET }.abi_encode());
    let mut market_init = artifact_bytes(artifacts::MARKET, "bytecode")?.to_vec();
    market_init.extend(
        Market::constructorCall {
            registry_: FILE_REGISTRY,
            feeBps_: cfg.platform_fee_bps,
            feeRecipient_: cfg.fee_recipient,
        }
        .abi_encode(),
    );
    Ok(vec![
        (FILE_REGISTRY, run_constructor("FileRegistry", registry_init.into())?),
        (MARKET, run_constructor("Market", market_init.into())?),
    ])
}

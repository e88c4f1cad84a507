//! `eth_call` and `eth_estimateGas`.

use alloy_consensus::Header;
use alloy_primitives::{Address, Bytes, Log, TxKind};
use alloy_rpc_types_eth::{TransactionRequest, state::StateOverride};
use ls_storage::StateView;
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::{TxEnv, result::ExecutionResult},
    database::CacheDB,
    state::AccountInfo,
};

use crate::{
    ExecError, StateDb,
    executor::{block_env, cfg_env},
};

/// Gas given to a call that names none (geth's default RPC gas cap).
pub const DEFAULT_CALL_GAS: u64 = 50_000_000;

/// The gas limit a call or estimate runs with when it names none.
pub fn call_gas_cap(header: &Header) -> u64 {
    DEFAULT_CALL_GAS.max(header.gas_limit)
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

fn call_tx_env(req: &TransactionRequest, gas: u64, chain_id: u64) -> TxEnv {
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

fn apply_overrides(
    db: &mut CacheDB<StateDb<'_>>,
    overrides: &StateOverride,
) -> Result<(), ExecError> {
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

fn run(
    chain_id: u64,
    header: &Header,
    state: &StateView,
    req: &TransactionRequest,
    gas: u64,
    overrides: Option<&StateOverride>,
) -> Result<CallOutcome, ExecError> {
    let mut db = CacheDB::new(StateDb(state));
    if let Some(o) = overrides {
        apply_overrides(&mut db, o)?;
    }
    let mut cfg = cfg_env(chain_id);
    // Like geth: calls skip the nonce check and, when they name no price, pay no base fee.
    cfg.disable_nonce_check = true;
    let priced = req.gas_price.is_some() || req.max_fee_per_gas.is_some();
    if !priced {
        cfg.disable_base_fee = true;
    }
    cfg.disable_block_gas_limit = true;
    let mut evm = Context::mainnet().with_db(db).with_cfg(cfg).with_block(block_env(header)).build_mainnet();
    let out = evm.transact(call_tx_env(req, gas, chain_id)).map_err(ExecError::from)?;
    Ok(CallOutcome::from_result(out.result))
}

/// Runs `req` against the state after `header`'s block without committing anything.
pub fn call(
    chain_id: u64,
    header: &Header,
    state: &StateView,
    req: &TransactionRequest,
    overrides: Option<&StateOverride>,
) -> Result<CallOutcome, ExecError> {
    let gas = req.gas.unwrap_or(DEFAULT_CALL_GAS);
    run(chain_id, header, state, req, gas, overrides)
}

/// The smallest gas limit with which `req` succeeds (binary search, as geth does). Returns the
/// failing outcome when `req` fails even with the cap.
pub fn estimate_gas(
    chain_id: u64,
    header: &Header,
    state: &StateView,
    req: &TransactionRequest,
    overrides: Option<&StateOverride>,
) -> Result<Result<u64, CallOutcome>, ExecError> {
    let mut hi = req.gas.unwrap_or(call_gas_cap(header));
    // A plain transfer to an account without code costs exactly 21000.
    if let Some(TxKind::Call(to)) = req.to {
        let has_input = req.input.input().is_some_and(|i| !i.is_empty());
        if !has_input && state.account(to).map_err(crate::DbError::from)?.is_none_or(|a| {
            a.code_hash == alloy_primitives::KECCAK256_EMPTY
        }) && overrides.is_none()
        {
            let out = run(chain_id, header, state, req, 21_000, overrides)?;
            if matches!(out, CallOutcome::Success { .. }) {
                return Ok(Ok(21_000));
            }
        }
    }
    let first = run(chain_id, header, state, req, hi, overrides)?;
    if !matches!(first, CallOutcome::Success { .. }) {
        return Ok(Err(first));
    }
    let mut lo = first.gas_used().saturating_sub(1);
    // Most calls succeed with a small margin over the gas they used (the 63/64 rule).
    let optimistic = (first.gas_used() + 2_300) * 64 / 63;
    if optimistic < hi {
        match run(chain_id, header, state, req, optimistic, overrides)? {
            CallOutcome::Success { .. } => hi = optimistic,
            _ => lo = optimistic,
        }
    }
    while lo + 1 < hi {
        // geth stops within 1.5%: the answer only has to be sufficient, not minimal.
        if (hi - lo) * 1000 / hi < 15 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        match run(chain_id, header, state, req, mid, overrides) {
            Ok(CallOutcome::Success { .. }) => hi = mid,
            Ok(_) | Err(ExecError::InvalidTransaction(_)) => lo = mid,
            Err(e) => return Err(e),
        }
    }
    Ok(Ok(hi))
}


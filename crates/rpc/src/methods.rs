//! The eth_, net_ and web3_ methods.

use std::{sync::Arc, time::Duration};

use alloy_consensus::{
    SignableTransaction, Transaction as _, TxEip1559, TxEip2930, TxEnvelope, TxLegacy,
    transaction::Recovered,
};
use alloy_dyn_abi::TypedData;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U128, U256, keccak256};
use alloy_rpc_types_eth::{
    Block, FeeHistory, Filter, FilterBlockOption, FilterChanges, Log, Transaction,
    TransactionReceipt, TransactionRequest, state::StateOverride,
};
use alloy_rpc_types_txpool::{TxpoolContent, TxpoolInspect, TxpoolInspectSummary, TxpoolStatus};
use alloy_serde::storage::JsonStorageKey;
use alloy_signer::SignerSync;
use ls_evm::CallLimits;
use jsonrpsee::{
    Extensions, RpcModule,
    server::ConnectionId,
    types::{ErrorObjectOwned, Params},
};

use crate::{
    api::{
        EthApi, RpcResult, SUGGESTED_TIP, block_logs, filter_range, pending_transaction, rpc_block, rpc_receipts,
        rpc_transaction,
    },
    error,
    filters::{FilterKind, Refused},
};

pub(crate) type M = RpcModule<EthApi>;

fn reg<R>(m: &mut M, name: &'static str, f: fn(&EthApi, Params<'_>) -> RpcResult<R>)
where
    R: serde::Serialize + Clone + Send + 'static,
{
    m.register_method(name, move |p, api, _| f(api, p)).expect("method names are unique");
}

fn reg_blocking<R>(m: &mut M, name: &'static str, f: fn(&EthApi, Params<'_>) -> RpcResult<R>)
where
    R: serde::Serialize + Clone + Send + 'static,
{
    m.register_blocking_method(name, move |p, api: Arc<EthApi>, _| f(&api, p))
        .expect("method names are unique");
}

/// How long an EVM request may run on an async worker before it is moved to a blocking thread.
/// Most calls finish in microseconds, and a hand-off to the blocking pool costs more than that in
/// context switches (it was half the profile of an `eth_call` load).
const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// Why an EVM request stopped: an RPC error to answer with, or its time limit.
pub(crate) enum EvmFail {
    Rpc(ErrorObjectOwned),
    Timeout,
}

impl From<ErrorObjectOwned> for EvmFail {
    fn from(e: ErrorObjectOwned) -> Self {
        Self::Rpc(e)
    }
}

impl From<ls_evm::ExecError> for EvmFail {
    fn from(e: ls_evm::ExecError) -> Self {
        match e {
            ls_evm::ExecError::Timeout(_) => Self::Timeout,
            other => Self::Rpc(error::exec(other)),
        }
    }
}

impl EvmFail {
    /// The answer for a request that ran with `limits`.
    fn into_rpc(self, limits: &CallLimits) -> ErrorObjectOwned {
        match self {
            Self::Rpc(e) => e,
            Self::Timeout => error::server(ls_evm::ExecError::Timeout(limits.timeout).to_string()),
        }
    }
}

pub(crate) type EvmResult<T> = Result<T, EvmFail>;

/// A method that runs the EVM (calls and estimates: side-effect free, so safe to run twice). It
/// waits for one of the bounded EVM workers (see [`RpcLimits::evm_workers`](crate::RpcLimits)),
/// tries the request in place within [`INLINE_BUDGET`], and if that is not enough runs it again
/// on a blocking thread with the full limits.
pub(crate) fn reg_evm<R>(m: &mut M, name: &'static str, f: fn(&EthApi, Params<'_>, &CallLimits) -> EvmResult<R>)
where
    R: serde::Serialize + Clone + Send + 'static,
{
    m.register_async_method(name, move |p, api: Arc<EthApi>, _| async move {
        let permit = api.evm.acquire(api.limits.call.timeout).await?;
        let inline = CallLimits { timeout: INLINE_BUDGET, ..api.limits.call.clone() };
        match f(&api, p.clone(), &inline) {
            Ok(r) => return Ok(r),
            Err(EvmFail::Rpc(e)) => return Err(e),
            Err(EvmFail::Timeout) => {}
        }
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let limits = &api.limits.call;
            f(&api, p, limits).map_err(|e| e.into_rpc(limits))
        })
        .await
        .map_err(error::internal)?
    })
    .expect("method names are unique");
}

/// Like [`reg_blocking`], holding one of the bounded EVM workers (for requests that run the EVM
/// and then have effects, such as eth_sendTransaction, which must not run twice).
fn reg_evm_blocking<R>(m: &mut M, name: &'static str, f: fn(&EthApi, Params<'_>) -> RpcResult<R>)
where
    R: serde::Serialize + Clone + Send + 'static,
{
    m.register_async_method(name, move |p, api: Arc<EthApi>, _| async move {
        let permit = api.evm.acquire(api.limits.call.timeout).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&api, p)
        })
        .await
        .map_err(error::internal)?
    })
    .expect("method names are unique");
}

/// A method that needs the id of the connection it came on (filter quotas).
fn reg_conn<R>(m: &mut M, name: &'static str, f: fn(&EthApi, Params<'_>, usize) -> RpcResult<R>)
where
    R: serde::Serialize + Clone + Send + 'static,
{
    m.register_method(name, move |p, api, ext: &Extensions| {
        let conn = ext.get::<ConnectionId>().map_or(0, |c| c.0);
        f(api, p, conn)
    })
    .expect("method names are unique");
}

/// Registers every method on `m`.
pub(crate) fn register(m: &mut M) {
    reg(m, "web3_clientVersion", |api, _| Ok(api.client_version.clone()));
    reg(m, "web3_sha3", |_, p| {
        let data: Bytes = p.one()?;
        Ok(keccak256(&data))
    });
    reg(m, "net_version", |api, _| Ok(api.chain.spec().chain_id.to_string()));
    reg(m, "net_listening", |_, _| Ok(true));
    reg(m, "net_peerCount", |api, _| Ok(U64::from(api.peer_count.as_ref().map_or(0, |count| count()))));
    reg(m, "eth_chainId", |api, _| Ok(U64::from(api.chain.spec().chain_id)));
    reg(m, "eth_syncing", |api, _| Ok(api.syncing()));
    reg(m, "eth_mining", |_, _| Ok(true));
    reg(m, "eth_hashrate", |_, _| Ok(U64::ZERO));
    reg(m, "eth_coinbase", |api, _| Ok(api.coinbase));
    reg(m, "eth_accounts", |api, _| Ok(api.accounts.clone()));
    reg(m, "eth_blockNumber", |api, _| Ok(U64::from(api.head()?)));
    reg(m, "eth_gasPrice", |api, _| Ok(U128::from(api.chain.next_base_fee() as u128 + SUGGESTED_TIP)));
    reg(m, "eth_maxPriorityFeePerGas", |_, _| Ok(U128::from(SUGGESTED_TIP)));
    reg(m, "eth_blobBaseFee", |_, _| Ok(U128::from(1u64)));

    reg(m, "eth_getBalance", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let (state, _) = api.state_at(id)?;
        Ok(state.account(addr).map_err(error::internal)?.map(|a| a.balance).unwrap_or_default())
    });
    reg(m, "eth_getTransactionCount", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let pending = matches!(id, Some(BlockId::Number(BlockNumberOrTag::Pending)));
        let (state, _) = api.state_at(id)?;
        let nonce = state.account(addr).map_err(error::internal)?.map(|a| a.nonce).unwrap_or_default();
        Ok(U64::from(if pending { api.chain.pool().pending_nonce(addr, nonce) } else { nonce }))
    });
    reg(m, "eth_getCode", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let (state, _) = api.state_at(id)?;
        let Some(acc) = state.account(addr).map_err(error::internal)? else { return Ok(Bytes::new()) };
        Ok(state.code(acc.code_hash).map_err(error::internal)?.unwrap_or_default())
    });
    reg(m, "eth_getStorageAt", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let slot: U256 = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let (state, _) = api.state_at(id)?;
        Ok(B256::from(state.storage(addr, B256::from(slot)).map_err(error::internal)?))
    });

    reg_blocking(m, "eth_getProof", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let keys: Vec<JsonStorageKey> = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        get_proof(api, addr, keys, id)
    });

    reg_evm(m, "eth_call", |api, p, limits| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let overrides: Option<StateOverride> = seq.optional_next()?;
        let (state, header) = api.state_at(id)?;
        let chain_id = api.chain.spec().chain_id;
        match ls_evm::call(chain_id, &header, &state, &req, overrides.as_ref(), limits)? {
            ls_evm::CallOutcome::Success { output, .. } => Ok(output),
            other => Err(error::failed_call(&other).into()),
        }
    });
    reg_evm(m, "eth_createAccessList", |api, p, limits| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let (state, header) = api.state_at(id)?;
        let found = ls_evm::create_access_list(api.chain.spec().chain_id, &header, &state, &req, limits)?;
        // As geth: a failing call still answers its list and gas, with the EVM error beside them.
        let error = match &found.outcome {
            ls_evm::CallOutcome::Success { .. } => None,
            ls_evm::CallOutcome::Revert { .. } => Some("execution reverted".to_string()),
            other => Some(error::failed_call(other).message().to_string()),
        };
        Ok(alloy_eips::eip2930::AccessListResult {
            access_list: found.access_list,
            gas_used: U256::from(found.outcome.gas_used()),
            error,
        })
    });
    reg_evm(m, "eth_estimateGas", |api, p, limits| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let overrides: Option<StateOverride> = seq.optional_next()?;
        estimate(api, &req, id, overrides.as_ref(), limits).map(U64::from)
    });

    // Blocking: admission reads the head state and may wait for the chain lock, which a block's
    // commit (fsync included) holds; async workers must never wait on it.
    reg_blocking(m, "eth_sendRawTransaction", |api, p| {
        let raw: Bytes = p.one()?;
        let hash = api.chain.submit_raw(&raw).map_err(|e| ErrorObjectOwned::owned(e.code(), e.to_string(), None::<()>))?;
        mine_on_arrival(api);
        Ok(hash)
    });
    reg_evm_blocking(m, "eth_sendTransaction", |api, p| {
        let req: TransactionRequest = p.one()?;
        send_transaction(api, req)
    });
    reg(m, "eth_sign", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let data: Bytes = seq.next()?;
        sign_message(api, addr, &data)
    });
    reg(m, "personal_sign", |api, p| {
        let mut seq = p.sequence();
        let data: Bytes = seq.next()?;
        let addr: Address = seq.next()?;
        sign_message(api, addr, &data)
    });
    reg(m, "eth_signTypedData_v4", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        // Wallets send the typed data as a JSON object or as a string holding one.
        let raw: serde_json::Value = seq.next()?;
        let data: TypedData = match raw {
            serde_json::Value::String(s) => serde_json::from_str(&s),
            v => serde_json::from_value(v),
        }
        .map_err(|e| error::invalid_params(format!("invalid typed data: {e}")))?;
        sign_typed_data(api, addr, &data)
    });
    reg(m, "eth_signTypedData", |api, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let data: TypedData = seq.next()?;
        sign_typed_data(api, addr, &data)
    });

    reg(m, "eth_getBlockByNumber", |api, p| {
        let mut seq = p.sequence();
        let tag: BlockNumberOrTag = seq.next()?;
        let full: Option<bool> = seq.optional_next()?;
        block_by(api, api.number_of(tag)?, full.unwrap_or(false))
    });
    reg(m, "eth_getBlockByHash", |api, p| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let full: Option<bool> = seq.optional_next()?;
        let n = api.chain.store().block_number(hash).map_err(error::internal)?;
        block_by(api, n, full.unwrap_or(false))
    });
    reg(m, "eth_getBlockTransactionCountByNumber", |api, p| {
        let tag: BlockNumberOrTag = p.one()?;
        tx_count(api, api.number_of(tag)?)
    });
    reg(m, "eth_getBlockTransactionCountByHash", |api, p| {
        let hash: B256 = p.one()?;
        tx_count(api, api.chain.store().block_number(hash).map_err(error::internal)?)
    });
    reg(m, "txpool_status", |api, _| {
        let (pending, queued) = api.chain.pool().len();
        Ok(TxpoolStatus { pending: pending as u64, queued: queued as u64 })
    });
    reg(m, "txpool_content", |api, _| {
        let (pending, queued) = api.chain.pool().content();
        Ok(TxpoolContent { pending: by_sender(&pending, pending_transaction), queued: by_sender(&queued, pending_transaction) })
    });
    reg(m, "txpool_inspect", |api, _| {
        let (pending, queued) = api.chain.pool().content();
        Ok(TxpoolInspect { pending: by_sender(&pending, inspect_summary), queued: by_sender(&queued, inspect_summary) })
    });
    reg(m, "eth_getUncleCountByBlockNumber", |_, _| Ok(U64::ZERO));
    reg(m, "eth_getUncleCountByBlockHash", |_, _| Ok(U64::ZERO));
    reg(m, "eth_getBlockReceipts", |api, p| {
        let id: BlockId = p.one()?;
        let Some(n) = api.number_of_id(id)? else { return Ok(None) };
        let Some(block) = api.block(n)? else { return Ok(None) };
        Ok(Some(rpc_receipts(&block, &api.receipts(n)?)))
    });
    reg(m, "eth_getTransactionByHash", |api, p| {
        let hash: B256 = p.one()?;
        transaction_by_hash(api, hash)
    });
    reg(m, "eth_getTransactionByBlockNumberAndIndex", |api, p| {
        let mut seq = p.sequence();
        let tag: BlockNumberOrTag = seq.next()?;
        let index: U64 = seq.next()?;
        let Some(n) = api.number_of(tag)? else { return Ok(None) };
        Ok(api.block(n)?.and_then(|b| rpc_transaction(&b, index.to::<usize>())))
    });
    reg(m, "eth_getTransactionByBlockHashAndIndex", |api, p| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let index: U64 = seq.next()?;
        let Some(n) = api.chain.store().block_number(hash).map_err(error::internal)? else { return Ok(None) };
        Ok(api.block(n)?.and_then(|b| rpc_transaction(&b, index.to::<usize>())))
    });
    reg(m, "eth_getTransactionReceipt", |api, p| {
        let hash: B256 = p.one()?;
        receipt_by_hash(api, hash)
    });
    reg_blocking(m, "eth_getLogs", |api, p| {
        let filter: Filter = p.one()?;
        api.check_filter(&filter)?;
        logs(api, &filter, None)
    });
    reg_blocking(m, "eth_feeHistory", |api, p| {
        let mut seq = p.sequence();
        let count: U64 = seq.next()?;
        let newest: BlockNumberOrTag = seq.next()?;
        let percentiles: Option<Vec<f64>> = seq.optional_next()?;
        fee_history(api, count.to(), newest, percentiles)
    });

    reg_conn(m, "eth_newFilter", |api, p, conn| {
        let filter: Filter = p.one()?;
        api.check_filter(&filter)?;
        let head = api.head()?;
        let next = match filter.block_option {
            FilterBlockOption::Range { from_block: Some(BlockNumberOrTag::Number(n)), .. } => n,
            _ => head + 1,
        };
        install(api, FilterKind::Logs { filter: Box::new(filter), next }, conn)
    });
    reg_conn(m, "eth_newBlockFilter", |api, _, conn| {
        let next = api.head()? + 1;
        install(api, FilterKind::Blocks { next }, conn)
    });
    reg_conn(m, "eth_newPendingTransactionFilter", |api, _, conn| {
        install(api, FilterKind::PendingTransactions { rx: api.chain.pool().subscribe() }, conn)
    });
    reg(m, "eth_uninstallFilter", |api, p| {
        let id: U128 = p.one()?;
        Ok(api.filters.uninstall(id))
    });
    reg_blocking(m, "eth_getFilterChanges", |api, p| {
        let id: U128 = p.one()?;
        filter_changes(api, id)
    });
    reg_blocking(m, "eth_getFilterLogs", |api, p| {
        let id: U128 = p.one()?;
        let filter = api
            .filters
            .with(id, |k| match k {
                FilterKind::Logs { filter, .. } => Some(filter.clone()),
                _ => None,
            })
            .flatten()
            .ok_or_else(|| error::server("filter not found"))?;
        logs(api, &filter, None)
    });
}

/// Pool transactions as geth's txpool_ methods group them: sender, then nonce (decimal string).
fn by_sender<T>(
    txs: &[Arc<Recovered<TxEnvelope>>],
    f: fn(&Recovered<TxEnvelope>) -> T,
) -> std::collections::BTreeMap<Address, std::collections::BTreeMap<String, T>> {
    let mut out: std::collections::BTreeMap<Address, std::collections::BTreeMap<String, T>> = Default::default();
    for tx in txs {
        out.entry(tx.signer()).or_default().insert(tx.nonce().to_string(), f(tx));
    }
    out
}

/// `txpool_inspect`'s one-line summary of a transaction.
fn inspect_summary(tx: &Recovered<TxEnvelope>) -> TxpoolInspectSummary {
    TxpoolInspectSummary { to: tx.to(), value: tx.value(), gas: tx.gas_limit(), gas_price: tx.max_fee_per_gas() }
}

fn signer(api: &EthApi, addr: Address) -> RpcResult<&alloy_signer_local::PrivateKeySigner> {
    api.signers.get(&addr).ok_or_else(|| error::server("unknown account"))
}

/// EIP-191 personal message signature by one of the node's accounts (65 bytes, v = 27/28).
fn sign_message(api: &EthApi, addr: Address, data: &[u8]) -> RpcResult<Bytes> {
    let sig = signer(api, addr)?.sign_message_sync(data).map_err(error::internal)?;
    Ok(Bytes::from(sig.as_bytes().to_vec()))
}

/// EIP-712 signature by one of the node's accounts.
fn sign_typed_data(api: &EthApi, addr: Address, data: &TypedData) -> RpcResult<Bytes> {
    let hash = data.eip712_signing_hash().map_err(|e| error::invalid_params(e.to_string()))?;
    let sig = signer(api, addr)?.sign_hash_sync(&hash).map_err(error::internal)?;
    Ok(Bytes::from(sig.as_bytes().to_vec()))
}

fn install(api: &EthApi, kind: FilterKind, conn: usize) -> RpcResult<U128> {
    api.filters.install(kind, conn).map_err(|r| match r {
        Refused::NodeFull => error::limit_exceeded("too many filters installed"),
        Refused::ConnectionFull => error::limit_exceeded("too many filters installed by this connection"),
    })
}

fn block_by(api: &EthApi, n: Option<u64>, full: bool) -> RpcResult<Option<Block>> {
    let Some(n) = n else { return Ok(None) };
    Ok(api.block(n)?.map(|b| rpc_block(&b, full)))
}

fn tx_count(api: &EthApi, n: Option<u64>) -> RpcResult<Option<U64>> {
    let Some(n) = n else { return Ok(None) };
    Ok(api.block(n)?.map(|b| U64::from(b.transactions.len())))
}

fn transaction_by_hash(api: &EthApi, hash: B256) -> RpcResult<Option<Transaction>> {
    if let Some(loc) = api.chain.store().transaction_location(hash).map_err(error::internal)? {
        return Ok(api.block(loc.block)?.and_then(|b| rpc_transaction(&b, loc.index as usize)));
    }
    Ok(api.chain.pool().get(&hash).map(|tx| pending_transaction(&tx)))
}

fn receipt_by_hash(api: &EthApi, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
    let Some(loc) = api.chain.store().transaction_location(hash).map_err(error::internal)? else {
        return Ok(None);
    };
    let Some(block) = api.block(loc.block)? else { return Ok(None) };
    let receipts = api.receipts(loc.block)?;
    Ok(rpc_receipts(&block, &receipts).into_iter().nth(loc.index as usize))
}

fn estimate(
    api: &EthApi,
    req: &TransactionRequest,
    id: Option<BlockId>,
    overrides: Option<&StateOverride>,
    limits: &CallLimits,
) -> EvmResult<u64> {
    // As anvil and geth, an estimate without a block is for the pending block.
    let (state, header) = api.state_at(id.or(Some(BlockId::pending())))?;
    match ls_evm::estimate_gas(api.chain.spec().chain_id, &header, &state, req, overrides, limits)? {
        Ok(gas) => Ok(gas),
        Err(ls_evm::CallOutcome::Halt { reason, .. }) if reason.contains("OutOfGas") => Err(error::server(
            format!("gas required exceeds allowance ({})", limits.estimate_cap(&header, req.gas)),
        )
        .into()),
        Err(outcome) => Err(error::failed_call(&outcome).into()),
    }
}

/// Most storage keys one eth_getProof may name (geth's bound on storage key lists).
pub(crate) const MAX_PROOF_KEYS: usize = 1024;

/// `eth_getProof` (EIP-1186) at the head: the account and each slot with their proofs from the
/// store's tries. Older blocks are refused: the tries are kept for the newest state only.
fn get_proof(
    api: &EthApi,
    addr: Address,
    keys: Vec<JsonStorageKey>,
    id: Option<BlockId>,
) -> RpcResult<alloy_rpc_types_eth::EIP1186AccountProofResponse> {
    if keys.len() > MAX_PROOF_KEYS {
        return Err(error::invalid_params(format!("too many storage keys: {} > {MAX_PROOF_KEYS}", keys.len())));
    }
    let store = api.chain.store();
    // The head as the view sees it, not the cached one, so a block committed in between is
    // never mistaken for history.
    let view = match id.unwrap_or(BlockId::latest()) {
        BlockId::Number(BlockNumberOrTag::Number(n)) => {
            let view = store.latest_state().map_err(error::internal)?;
            if n > view.block_number() {
                return Err(error::server("header not found"));
            }
            if n < view.block_number() {
                return Err(no_history(n, view.block_number()));
            }
            view
        }
        BlockId::Number(BlockNumberOrTag::Earliest) => {
            let view = store.latest_state().map_err(error::internal)?;
            if view.block_number() != 0 {
                return Err(no_history(0, view.block_number()));
            }
            view
        }
        BlockId::Hash(h) => {
            let n = store.block_number(h.block_hash).map_err(error::internal)?.ok_or_else(|| error::server("header not found"))?;
            let view = store.latest_state().map_err(error::internal)?;
            if n != view.block_number() {
                return Err(no_history(n, view.block_number()));
            }
            view
        }
        // latest, pending, safe, finalized: the newest committed block.
        BlockId::Number(_) => store.latest_state().map_err(error::internal)?,
    };
    let slots: Vec<B256> = keys.iter().map(JsonStorageKey::as_b256).collect();
    let proof = store.proof(&view, addr, &slots).map_err(|e| match e {
        ls_storage::StorageError::NoHistoricalProof { requested, head } => no_history(requested, head),
        other => error::internal(other),
    })?;
    let header = store.header(view.block_number()).map_err(error::internal)?.ok_or_else(|| error::server("header not found"))?;
    if header.state_root != proof.state_root {
        return Err(error::internal(format!(
            "the tries' root {} differs from block {}'s state root {}",
            proof.state_root,
            header.number,
            header.state_root
        )));
    }
    // geth: a missing account has zero code hash and storage hash.
    let account = proof.account.unwrap_or(alloy_trie::TrieAccount {
        nonce: 0,
        balance: U256::ZERO,
        storage_root: B256::ZERO,
        code_hash: B256::ZERO,
    });
    Ok(alloy_rpc_types_eth::EIP1186AccountProofResponse {
        address: addr,
        balance: account.balance,
        code_hash: account.code_hash,
        nonce: account.nonce,
        storage_hash: account.storage_root,
        account_proof: proof.account_proof,
        storage_proof: keys
            .into_iter()
            .zip(proof.storage)
            .map(|(key, s)| alloy_rpc_types_eth::EIP1186StorageProof { key, value: s.value, proof: s.proof })
            .collect(),
    })
}

fn no_history(requested: u64, head: u64) -> ErrorObjectOwned {
    error::server(format!(
        "eth_getProof is served for the newest block only: block {requested} requested, head is {head}"
    ))
}

/// Fills in and signs a transaction for one of the node's accounts, then submits it.
/// A dev node in instant mode (`--automine`, `evm_setAutomine(true)`) seals the block of a
/// transaction just submitted before answering, so its receipt is there when the caller asks
/// (hardhat-chai-matchers read it once, at once). A failure leaves the transaction pending for
/// the next block.
fn mine_on_arrival(api: &EthApi) {
    if api.dev.as_ref().is_some_and(|d| d.mining.instant())
        && let Err(e) = api.chain.build_block(false)
    {
        tracing::warn!(error = %e, "sealing a transaction on arrival failed; it waits for the next block");
    }
}

fn send_transaction(api: &EthApi, mut req: TransactionRequest) -> RpcResult<B256> {
    let from = req.from.ok_or_else(|| error::invalid_params("missing 'from'"))?;
    // A dev node may send for an impersonated account it holds no key for (anvil's and
    // hardhat's impersonateAccount): the transaction carries a placeholder signature and its
    // sender is taken as given.
    let signer = match signer(api, from) {
        Ok(s) => Some(s.clone()),
        Err(e) if !api.dev.as_ref().is_some_and(|d| d.is_impersonated(&from)) => return Err(e),
        Err(_) => None,
    };
    let sign = |tx: &mut dyn SignableTransaction<alloy_primitives::Signature>| match &signer {
        Some(s) => s.sign_transaction_sync(tx).map_err(error::internal),
        None => Ok(crate::dev::impersonated_signature(from)),
    };
    let chain_id = api.chain.spec().chain_id;
    if let Some(id) = req.chain_id
        && id != chain_id
    {
        return Err(error::server(format!("invalid chain id for signer: have {id} want {chain_id}")));
    }
    if req.nonce.is_none() {
        let state = api.chain.store().latest_state().map_err(error::internal)?;
        let nonce = state.account(from).map_err(error::internal)?.map(|a| a.nonce).unwrap_or_default();
        req.nonce = Some(api.chain.pool().pending_nonce(from, nonce));
    }
    if req.gas.is_none() {
        let limits = &api.limits.call;
        req.gas = Some(estimate(api, &req, None, None, limits).map_err(|e| e.into_rpc(limits))?);
    }
    let base_fee = api.chain.next_base_fee() as u128;
    let to = req.to.unwrap_or(TxKind::Create);
    let input = req.input.input().cloned().unwrap_or_default();
    let value = req.value.unwrap_or_default();
    let (nonce, gas_limit) = (req.nonce.unwrap_or_default(), req.gas.unwrap_or_default());
    let envelope: TxEnvelope = if let Some(gas_price) = req.gas_price {
        if let Some(access_list) = req.access_list.clone() {
            let mut tx = TxEip2930 { chain_id, nonce, gas_price, gas_limit, to, value, input, access_list };
            let sig = sign(&mut tx)?;
            tx.into_signed(sig).into()
        } else {
            let mut tx = TxLegacy { chain_id: Some(chain_id), nonce, gas_price, gas_limit, to, value, input };
            let sig = sign(&mut tx)?;
            tx.into_signed(sig).into()
        }
    } else {
        let tip = req.max_priority_fee_per_gas.unwrap_or(SUGGESTED_TIP);
        let max_fee = req.max_fee_per_gas.unwrap_or(base_fee * 2 + tip);
        let mut tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to,
            value,
            access_list: req.access_list.clone().unwrap_or_default(),
            input,
        };
        let sig = sign(&mut tx)?;
        tx.into_signed(sig).into()
    };
    let hash = api
        .chain
        .submit(Recovered::new_unchecked(envelope, from))
        .map_err(|e| ErrorObjectOwned::owned(e.code(), e.to_string(), None::<()>))?;
    mine_on_arrival(api);
    Ok(hash)
}

/// Logs matching `filter`, optionally starting no earlier than `from_override`.
pub(crate) fn logs(api: &EthApi, filter: &Filter, from_override: Option<u64>) -> RpcResult<Vec<Log>> {
    let head = api.head()?;
    let (from, to) = match filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => {
            let n = api
                .chain
                .store()
                .block_number(hash)
                .map_err(error::internal)?
                .ok_or_else(|| error::server("unknown block"))?;
            (n, n)
        }
        _ => filter_range(filter, head)?,
    };
    let from = from_override.map_or(from, |o| o.max(from));
    if from > to {
        return Ok(vec![]);
    }
    if to - from >= api.limits.max_log_range {
        return Err(error::server(format!(
            "query exceeds max block range {}",
            api.limits.max_log_range
        )));
    }
    let mut out = Vec::new();
    for n in from..=to {
        let Some(header) = api.header(n)? else { break };
        if !filter.matches_bloom(header.logs_bloom) {
            continue;
        }
        let Some(block) = api.block(n)? else { break };
        let receipts = api.receipts(n)?;
        out.extend(block_logs(&block, &receipts).into_iter().filter(|l| filter.matches(&l.inner)));
        if out.len() > api.limits.max_logs {
            return Err(error::server(format!(
                "query returned more than {} results",
                api.limits.max_logs
            )));
        }
    }
    Ok(out)
}

fn filter_changes(api: &EthApi, id: U128) -> RpcResult<FilterChanges> {
    let head = api.head()?;
    enum Todo {
        Blocks(u64),
        Logs(Box<Filter>, u64),
        Pending(Vec<B256>),
    }
    let todo = api
        .filters
        .with(id, |kind| match kind {
            FilterKind::Blocks { next } => {
                let from = *next;
                *next = head + 1;
                Todo::Blocks(from)
            }
            FilterKind::Logs { filter, next } => {
                let from = *next;
                *next = head + 1;
                Todo::Logs(filter.clone(), from)
            }
            FilterKind::PendingTransactions { rx } => {
                let mut hashes = Vec::new();
                loop {
                    match rx.try_recv() {
                        Ok(h) => hashes.push(h),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
                Todo::Pending(hashes)
            }
        })
        .ok_or_else(|| error::server("filter not found"))?;
    Ok(match todo {
        Todo::Blocks(from) => {
            let mut hashes = Vec::new();
            for n in from..=head {
                if let Some(h) = api.header(n)? {
                    hashes.push(h.hash_slow());
                }
            }
            FilterChanges::Hashes(hashes)
        }
        Todo::Logs(filter, from) => {
            let mut f = (*filter).clone();
            f.block_option = FilterBlockOption::Range {
                from_block: Some(BlockNumberOrTag::Number(from)),
                to_block: Some(BlockNumberOrTag::Number(head)),
            };
            if let FilterBlockOption::Range { to_block: Some(BlockNumberOrTag::Number(to)), .. } = filter.block_option
            {
                f.block_option = FilterBlockOption::Range {
                    from_block: Some(BlockNumberOrTag::Number(from)),
                    to_block: Some(BlockNumberOrTag::Number(to.min(head))),
                };
            }
            FilterChanges::Logs(logs(api, &f, None)?)
        }
        Todo::Pending(hashes) => FilterChanges::Hashes(hashes),
    })
}

fn fee_history(
    api: &EthApi,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> RpcResult<FeeHistory> {
    let newest = api.number_of(newest)?.ok_or_else(|| error::server("header not found"))?;
    let count = count.clamp(1, api.limits.max_fee_history).min(newest + 1);
    if let Some(p) = &percentiles
        && (p.len() > 100 || p.windows(2).any(|w| w[0] > w[1]) || p.iter().any(|x| !(0.0..=100.0).contains(x)))
    {
        return Err(error::invalid_params("invalid reward percentiles"));
    }
    let oldest = newest + 1 - count;
    let mut base_fee_per_gas = Vec::new();
    let mut gas_used_ratio = Vec::new();
    let mut reward = percentiles.as_ref().map(|_| Vec::new());
    let mut last = None;
    for n in oldest..=newest {
        let block = api.block(n)?.ok_or_else(|| error::server("header not found"))?;
        let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
        base_fee_per_gas.push(base_fee as u128);
        gas_used_ratio.push(block.header.gas_used as f64 / block.header.gas_limit.max(1) as f64);
        if let (Some(p), Some(rewards)) = (&percentiles, reward.as_mut()) {
            let receipts = api.receipts(n)?;
            let mut prev = 0u64;
            let mut tips: Vec<(u128, u64)> = block
                .transactions
                .iter()
                .zip(&receipts)
                .map(|(tx, r)| {
                    let used = r.cumulative_gas_used() - prev;
                    prev = r.cumulative_gas_used();
                    (alloy_consensus::Transaction::effective_tip_per_gas(tx, base_fee).unwrap_or_default(), used)
                })
                .collect();
            tips.sort_unstable();
            rewards.push(percentile_rewards(&tips, p, block.header.gas_used));
        }
        last = Some(block.header);
    }
    if let Some(h) = last {
        base_fee_per_gas.push(api.chain.spec().next_base_fee(&h) as u128);
    }
    Ok(FeeHistory {
        base_fee_per_gas,
        gas_used_ratio,
        base_fee_per_blob_gas: vec![0; count as usize + 1],
        blob_gas_used_ratio: vec![0.0; count as usize],
        oldest_block: oldest,
        reward,
    })
}

/// geth's reward percentiles: tips sorted ascending, weighted by gas used.
fn percentile_rewards(tips: &[(u128, u64)], percentiles: &[f64], gas_used: u64) -> Vec<u128> {
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut out = Vec::with_capacity(percentiles.len());
    let mut i = 0;
    let mut sum = tips[0].1;
    for p in percentiles {
        let threshold = (gas_used as f64 * p / 100.0) as u64;
        while sum < threshold && i < tips.len() - 1 {
            i += 1;
            sum += tips[i].1;
        }
        out.push(tips[i].0);
    }
    out
}


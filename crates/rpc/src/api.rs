//! The state behind the RPC methods, and the conversions from stored blocks to RPC shapes.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use alloy_consensus::{BlockBody, Header, ReceiptEnvelope, Transaction as _};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, TxKind, U256};
use alloy_rlp::Encodable;
use alloy_rpc_types_eth::{
    Block, BlockTransactions, Filter, FilterBlockOption, Header as RpcHeader, Log, Transaction,
    TransactionReceipt,
};
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::types::ErrorObjectOwned;
use ls_chain::Chain;
use ls_primitives::SealedBlock;
use ls_evm::CallLimits;
use ls_storage::StateView;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{error, filters::FilterManager};

/// Limits that keep one request, or one client, from taking the node down.
#[derive(Debug, Clone)]
pub struct RpcLimits {
    /// Most blocks one eth_getLogs may scan.
    pub max_log_range: u64,
    /// Most logs one eth_getLogs may return.
    pub max_logs: usize,
    /// Most blocks eth_feeHistory may cover.
    pub max_fee_history: u64,
    /// Gas cap, memory limit, timeout and cancel flag of every eth_call and eth_estimateGas.
    pub call: CallLimits,
    /// Output bounds of one debug_trace*/trace_* request (its time is `call.timeout`).
    pub trace: ls_evm::TraceCaps,
    /// Most EVM runs (calls, estimates) at once; the rest wait their turn.
    pub evm_workers: usize,
    /// Most EVM requests waiting for a worker; beyond it a request is refused at once.
    pub evm_queue: usize,
    /// Most filters installed at once, node-wide.
    pub max_filters: usize,
    /// Most filters installed through one connection.
    pub max_filters_per_connection: usize,
    /// Most addresses in one filter (eth_getLogs, eth_newFilter, logs subscriptions).
    pub max_filter_addresses: usize,
    /// Most alternatives in one topic position of a filter.
    pub max_filter_topics: usize,
    /// Most WebSocket subscriptions open at once, node-wide (the server also caps them per
    /// connection).
    pub max_subscriptions: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_log_range: 10_000,
            max_logs: 20_000,
            max_fee_history: 1024,
            call: CallLimits::default(),
            trace: ls_evm::TraceCaps::default(),
            evm_workers: cores.max(2),
            evm_queue: 1024,
            max_filters: 10_000,
            max_filters_per_connection: 1_000,
            max_filter_addresses: 1_000,
            max_filter_topics: 1_000,
            max_subscriptions: 10_000,
        }
    }
}

/// One open subscription, counted against [`RpcLimits::max_subscriptions`] while it lives.
#[derive(Debug)]
pub(crate) struct SubscriptionSlot(Arc<AtomicUsize>);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The bounded set of workers EVM requests run on: a batch of heavy calls waits its turn
/// instead of taking every blocking thread, so block production and cheap reads go on.
#[derive(Debug)]
pub(crate) struct EvmWorkers {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl EvmWorkers {
    fn new(workers: usize, max_waiting: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(workers.max(1))), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// A worker slot, waiting at most `wait` for one.
    pub(crate) async fn acquire(&self, wait: std::time::Duration) -> RpcResult<OwnedSemaphorePermit> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(error::limit_exceeded("too many calls in progress, try again later"));
        }
        let got = tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match got {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(error::internal("EVM workers closed")),
            Err(_) => Err(error::limit_exceeded("too many calls in progress, try again later")),
        }
    }
}

/// Everything the eth_ namespace needs.
pub struct EthApi {
    pub(crate) chain: Arc<Chain>,
    pub(crate) signers: HashMap<Address, PrivateKeySigner>,
    pub(crate) accounts: Vec<Address>,
    pub(crate) filters: FilterManager,
    pub(crate) limits: RpcLimits,
    pub(crate) evm: EvmWorkers,
    /// Subscriptions open now, node-wide.
    pub(crate) subscriptions: Arc<AtomicUsize>,
    pub(crate) client_version: String,
    /// The account this node's blocks credit (eth_coinbase).
    pub(crate) coinbase: Address,
    /// A dev node's controls; `None` (validators) refuses the dev methods.
    pub(crate) dev: Option<Arc<crate::DevControl>>,
    /// How many peers the node's chain network has now (net_peerCount); a dev node has none.
    pub(crate) peer_count: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    /// The head when the node started, and the highest finalized height known on the network.
    pub(crate) sync: Option<(u64, Arc<dyn Fn() -> u64 + Send + Sync>)>,
}

impl std::fmt::Debug for EthApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthApi").field("accounts", &self.accounts).finish_non_exhaustive()
    }
}

pub(crate) type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// The priority fee the node suggests (1 gwei).
pub const SUGGESTED_TIP: u128 = 1_000_000_000;

/// Blocks a node may trail the network's finality and still answer eth_syncing `false`: a
/// block is known final a moment before it is committed here, and a live node must not flicker.
pub const SYNC_SLACK: u64 = 4;

impl EthApi {
    /// `signers` are the accounts this node signs for (eth_accounts, eth_sendTransaction).
    pub fn new(chain: Arc<Chain>, signers: Vec<PrivateKeySigner>, client_version: String) -> Self {
        let accounts = signers.iter().map(|s| s.address()).collect();
        let limits = RpcLimits::default();
        let coinbase = chain.spec().coinbase;
        Self {
            coinbase,
            chain,
            signers: signers.into_iter().map(|s| (s.address(), s)).collect(),
            accounts,
            filters: FilterManager::new(limits.max_filters, limits.max_filters_per_connection),
            evm: EvmWorkers::new(limits.evm_workers, limits.evm_queue),
            subscriptions: Arc::new(AtomicUsize::new(0)),
            limits,
            client_version,
            dev: None,
            peer_count: None,
            sync: None,
        }
    }

    /// Serves the dev methods (`evm_*`, `anvil_*`, `hardhat_*`) with `control`: `--dev` nodes only.
    pub fn with_dev(mut self, control: Arc<crate::DevControl>) -> Self {
        self.dev = Some(control);
        self
    }

    /// Answers net_peerCount with `count` (a validator's consensus peers connected now).
    pub fn with_peer_count(mut self, count: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        self.peer_count = Some(count);
        self
    }

    /// Answers eth_syncing from `highest`, the highest finalized height this node knows the
    /// network has reached (a validator's marshal knows it before it has every block); the
    /// head now is the sync's starting block. Without it, eth_syncing is always `false`.
    pub fn with_sync_target(mut self, highest: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        self.sync = Some((self.chain.head().header.number, highest));
        self
    }

    /// eth_syncing: `false`, or geth's `{startingBlock, currentBlock, highestBlock}` while the
    /// head is more than [`SYNC_SLACK`] blocks behind what the network finalized.
    pub(crate) fn syncing(&self) -> serde_json::Value {
        let Some((starting, highest)) = &self.sync else {
            return serde_json::Value::Bool(false);
        };
        let (current, highest) = (self.chain.head().header.number, highest());
        if highest <= current + SYNC_SLACK {
            return serde_json::Value::Bool(false);
        }
        let q = |n: u64| alloy_primitives::U64::from(n);
        serde_json::json!({"startingBlock": q(*starting), "currentBlock": q(current), "highestBlock": q(highest)})
    }

    /// The account this node's blocks credit (a validator's own; the spec's coinbase by default).
    pub fn with_coinbase(mut self, coinbase: Address) -> Self {
        self.coinbase = coinbase;
        self
    }

    pub fn with_limits(mut self, limits: RpcLimits) -> Self {
        self.filters = FilterManager::new(limits.max_filters, limits.max_filters_per_connection);
        self.evm = EvmWorkers::new(limits.evm_workers, limits.evm_queue);
        self.limits = limits;
        self
    }

    /// Counts one more open subscription until the guard drops; `None` when the node-wide cap
    /// is reached.
    pub(crate) fn open_subscription(&self) -> Option<SubscriptionSlot> {
        if self.subscriptions.fetch_add(1, Ordering::AcqRel) >= self.limits.max_subscriptions {
            self.subscriptions.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(SubscriptionSlot(self.subscriptions.clone()))
    }

    /// Refuses a filter over the address or topic limits (geth's messages).
    pub(crate) fn check_filter(&self, filter: &Filter) -> RpcResult<()> {
        if filter.address.len() > self.limits.max_filter_addresses {
            return Err(error::invalid_params(format!(
                "exceed max addresses ({} > {})",
                filter.address.len(),
                self.limits.max_filter_addresses
            )));
        }
        if filter.topics.iter().any(|t| t.len() > self.limits.max_filter_topics) {
            return Err(error::invalid_params(format!(
                "exceed max topics (more than {} in one position)",
                self.limits.max_filter_topics
            )));
        }
        Ok(())
    }

    pub(crate) fn head(&self) -> RpcResult<u64> {
        Ok(self.chain.head().header.number)
    }

    /// Resolves a tag or number to a block number that exists.
    pub(crate) fn number_of(&self, tag: BlockNumberOrTag) -> RpcResult<Option<u64>> {
        let head = self.head()?;
        Ok(match tag {
            BlockNumberOrTag::Earliest => Some(0),
            BlockNumberOrTag::Number(n) if n > head => None,
            BlockNumberOrTag::Number(n) => Some(n),
            // One validator: every block is final the moment it is sealed.
            _ => Some(head),
        })
    }

    pub(crate) fn number_of_id(&self, id: BlockId) -> RpcResult<Option<u64>> {
        match id {
            BlockId::Number(tag) => self.number_of(tag),
            BlockId::Hash(h) => self.chain.store().block_number(h.block_hash).map_err(error::internal),
        }
    }

    /// The state at `id`, or a geth-style error if that block is unknown.
    pub(crate) fn state_at(&self, id: Option<BlockId>) -> RpcResult<(StateView, Header)> {
        let id = id.unwrap_or(BlockId::latest());
        let head = self.chain.head();
        let n = self.number_of_id(id)?.ok_or_else(|| error::server("header not found"))?;
        // The head's header is in memory; older ones come from storage.
        let mut header = if n == head.header.number {
            head.header.clone()
        } else {
            self.header(n)?.ok_or_else(|| error::server("header not found"))?
        };
        // The pending block runs at the time `evm_setNextBlockTimestamp` set, as anvil's does, so
        // an estimate sees the `block.timestamp` its transaction will be mined at.
        if id == BlockId::pending()
            && let Some(ms) = self.chain.next_block_time_ms()
        {
            header.timestamp = ms / 1000;
        }
        let state = self.chain.store().state_at(Some(n)).map_err(error::internal)?;
        Ok((state, header))
    }

    pub(crate) fn header(&self, n: u64) -> RpcResult<Option<Header>> {
        self.chain.store().header(n).map_err(error::internal)
    }

    pub(crate) fn block(&self, n: u64) -> RpcResult<Option<SealedBlock>> {
        self.chain.store().block(n).map_err(error::internal)
    }

    pub(crate) fn receipts(&self, n: u64) -> RpcResult<Vec<ReceiptEnvelope>> {
        Ok(self.chain.store().receipts(n).map_err(error::internal)?.unwrap_or_default())
    }
}

/// The RPC header of a block.
pub fn rpc_header(header: &Header, hash: B256, size: Option<usize>) -> RpcHeader {
    RpcHeader {
        hash,
        inner: header.clone(),
        total_difficulty: Some(U256::ZERO),
        size: size.map(U256::from),
    }
}

/// The RPC form of the transaction at `index` of `block`.
pub fn rpc_transaction(block: &SealedBlock, index: usize) -> Option<Transaction> {
    let tx = block.transactions.get(index)?.clone();
    let sender = *block.senders.get(index)?;
    let effective_gas_price = tx.effective_gas_price(block.header.base_fee_per_gas);
    Some(Transaction {
        inner: alloy_consensus::transaction::Recovered::new_unchecked(tx, sender),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(effective_gas_price),
        block_timestamp: Some(block.header.timestamp),
    })
}

/// The RPC form of a transaction still in the pool.
pub fn pending_transaction(tx: &alloy_consensus::transaction::Recovered<alloy_consensus::TxEnvelope>) -> Transaction {
    Transaction {
        inner: tx.clone(),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

/// The full RPC block, with transactions as objects or as hashes.
pub fn rpc_block(block: &SealedBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full((0..block.transactions.len()).filter_map(|i| rpc_transaction(block, i)).collect())
    } else {
        BlockTransactions::Hashes(block.transactions.iter().map(|t| *t.tx_hash()).collect())
    };
    let body = alloy_consensus::Block {
        header: block.header.clone(),
        body: BlockBody {
            transactions: block.transactions.clone(),
            ommers: vec![],
            withdrawals: Some(Default::default()),
        },
    };
    Block {
        header: rpc_header(&block.header, block.hash, Some(body.length())),
        uncles: vec![],
        transactions,
        withdrawals: Some(Default::default()),
    }
}

/// The RPC logs of one block (in order), with block and transaction positions filled in.
pub fn block_logs(block: &SealedBlock, receipts: &[ReceiptEnvelope]) -> Vec<Log> {
    let mut out = Vec::new();
    let mut log_index = 0u64;
    for (i, receipt) in receipts.iter().enumerate() {
        let tx_hash = block.transactions.get(i).map(|t| *t.tx_hash());
        for log in receipt.logs() {
            out.push(Log {
                inner: log.clone(),
                block_hash: Some(block.hash),
                block_number: Some(block.number()),
                block_timestamp: Some(block.header.timestamp),
                transaction_hash: tx_hash,
                transaction_index: Some(i as u64),
                log_index: Some(log_index),
                removed: false,
            });
            log_index += 1;
        }
    }
    out
}

/// All receipts of a block in RPC form.
pub fn rpc_receipts(block: &SealedBlock, receipts: &[ReceiptEnvelope]) -> Vec<TransactionReceipt> {
    let logs = block_logs(block, receipts);
    let mut logs = logs.into_iter().peekable();
    let mut prev_cumulative = 0u64;
    let mut out = Vec::with_capacity(receipts.len());
    for (i, receipt) in receipts.iter().enumerate() {
        let (Some(tx), Some(sender)) = (block.transactions.get(i), block.senders.get(i)) else { break };
        let cumulative = receipt.cumulative_gas_used();
        let gas_used = cumulative - prev_cumulative;
        prev_cumulative = cumulative;
        let mut tx_logs = Vec::new();
        while logs.peek().is_some_and(|l| l.transaction_index == Some(i as u64)) {
            tx_logs.extend(logs.next());
        }
        let inner = map_receipt_logs(receipt, tx_logs);
        let (to, contract_address) = match tx.kind() {
            TxKind::Call(to) => (Some(to), None),
            TxKind::Create => (None, Some(sender.create(tx.nonce()))),
        };
        out.push(TransactionReceipt {
            inner,
            transaction_hash: *tx.tx_hash(),
            transaction_index: Some(i as u64),
            block_hash: Some(block.hash),
            block_number: Some(block.number()),
            gas_used,
            effective_gas_price: tx.effective_gas_price(block.header.base_fee_per_gas),
            blob_gas_used: None,
            blob_gas_price: None,
            from: *sender,
            to,
            contract_address,
        });
    }
    out
}

fn map_receipt_logs(receipt: &ReceiptEnvelope, logs: Vec<Log>) -> ReceiptEnvelope<Log> {
    use alloy_consensus::{Receipt, ReceiptWithBloom};
    let with = |r: &ReceiptWithBloom<Receipt>| ReceiptWithBloom {
        receipt: Receipt {
            status: r.receipt.status,
            cumulative_gas_used: r.receipt.cumulative_gas_used,
            logs: logs.clone(),
        },
        logs_bloom: r.logs_bloom,
    };
    match receipt {
        ReceiptEnvelope::Legacy(r) => ReceiptEnvelope::Legacy(with(r)),
        ReceiptEnvelope::Eip2930(r) => ReceiptEnvelope::Eip2930(with(r)),
        ReceiptEnvelope::Eip1559(r) => ReceiptEnvelope::Eip1559(with(r)),
        ReceiptEnvelope::Eip4844(r) => ReceiptEnvelope::Eip4844(with(r)),
        ReceiptEnvelope::Eip7702(r) => ReceiptEnvelope::Eip7702(with(r)),
    }
}

/// Whether `filter`'s block range (not its address/topics) admits block `n`.
pub(crate) fn filter_range(filter: &Filter, head: u64) -> Result<(u64, u64), ErrorObjectOwned> {
    match filter.block_option {
        FilterBlockOption::Range { from_block, to_block } => {
            let resolve = |t: Option<BlockNumberOrTag>, default: u64| match t {
                None => default,
                Some(BlockNumberOrTag::Number(n)) => n,
                Some(BlockNumberOrTag::Earliest) => 0,
                Some(_) => head,
            };
            let from = resolve(from_block, head);
            let to = resolve(to_block, head).min(head);
            Ok((from, to))
        }
        FilterBlockOption::AtBlockHash(_) => Err(error::internal("block hash filters are resolved by the caller")),
    }
}

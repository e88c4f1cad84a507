use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use alloy_consensus::{
    ReceiptEnvelope, Transaction, TxEnvelope,
    transaction::{Recovered, SignerRecoverable},
};
use alloy_primitives::{Address, B256, U256};
use ls_evm::{BlockExecutor, ExecError, ExecutedBlock};
use ls_primitives::{ChainSpec, SealedBlock, timestamp_ms};
use ls_storage::{PendingState, StateUpdate, StateView, StorageError, Store};
use ls_txpool::{PoolConfig, PoolError, StateView as PoolState, TxPool};
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use crate::{Clock, SystemClock};

/// How far ahead of our clock a block's time may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 2_000;
/// Most blocks executed but not final that a node keeps (proposals of views not yet decided).
pub const MAX_PENDING_BLOCKS: usize = 256;

/// A block that was just committed, with its receipts.
#[derive(Debug, Clone)]
pub struct NewBlock {
    pub block: SealedBlock,
    pub receipts: Vec<ReceiptEnvelope>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The block breaks a rule; a peer that sent it sent garbage.
    #[error("invalid block {number} ({hash}): {reason}")]
    Invalid { number: u64, hash: B256, reason: String },
    #[error("unknown parent block {0}")]
    UnknownParent(B256),
    #[error("unknown pending block {0}")]
    UnknownBlock(B256),
    #[error("too many pending blocks ({0})")]
    TooManyPending(usize),
    /// A dev-node request that cannot be done as asked.
    #[error("{0}")]
    Dev(String),
}

/// A block executed on its parent and sealed (state root included), not yet final. Finalizing
/// it writes what was computed here; nothing is executed again.
#[derive(Debug)]
pub struct PendingBlock {
    pub block: SealedBlock,
    pub receipts: Vec<ReceiptEnvelope>,
    /// This block's state update, then its pending ancestors' (newest first).
    layers: Vec<Arc<StateUpdate>>,
}

impl PendingBlock {
    pub fn hash(&self) -> B256 {
        self.block.hash
    }
}

/// The chain: storage, pool and the notifications that tie them to RPC subscribers.
pub struct Chain {
    spec: ChainSpec,
    store: Arc<Store>,
    pool: Arc<TxPool>,
    blocks: broadcast::Sender<Arc<NewBlock>>,
    /// Held while a block is built, so two producers never race for the same height.
    building: Mutex<()>,
    /// Orders pool admission against block commits: a transaction is validated against the
    /// head state and inserted while no block can commit (read side); committing a block and
    /// telling the pool about it happen together (write side). Without it a transaction
    /// validated against the previous head could be filed under a stale sender nonce.
    head_lock: RwLock<()>,
    /// The newest block's header, kept in memory: read on every request and every transaction.
    head: RwLock<Arc<Head>>,
    /// Executed, sealed blocks above the head, by hash.
    pending: Mutex<HashMap<B256, Arc<PendingBlock>>>,
    clock: Arc<dyn Clock>,
    /// The time (ms) the next block must have, when a dev node was told so
    /// (`evm_setNextBlockTimestamp`, `evm_mine(timestamp)`); cleared once a block reaches it.
    next_time: Mutex<Option<u64>>,
}

/// A header with its hash.
#[derive(Debug, Clone)]
pub struct Head {
    pub header: alloy_consensus::Header,
    pub hash: B256,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("chain_id", &self.spec.chain_id).finish_non_exhaustive()
    }
}

/// The pool's view of account state: the head state of the store.
struct PoolStateAdapter<'a>(&'a StateView);

impl PoolState for PoolStateAdapter<'_> {
    fn account(
        &self,
        addr: Address,
    ) -> Result<(u64, U256), Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.account(addr)?.map(|a| (a.nonce, a.balance)).unwrap_or_default())
    }
}

impl Chain {
    /// Opens the chain in `store`, writing genesis if the store is new.
    pub fn open(spec: ChainSpec, store: Arc<Store>, pool: PoolConfig) -> Result<Arc<Self>, ChainError> {
        Self::open_with_clock(spec, store, pool, Arc::new(SystemClock))
    }

    /// [`Chain::open`] with block time taken from `clock`.
    pub fn open_with_clock(
        spec: ChainSpec,
        store: Arc<Store>,
        pool: PoolConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, ChainError> {
        let genesis = store.init_genesis(&spec)?;
        let number = store.head()?;
        let header = store.header(number)?.ok_or(StorageError::UnknownBlock { requested: number, head: number })?;
        let head = Arc::new(Head { hash: header.hash_slow(), header });
        info!(genesis = %genesis.hash, head = number, "chain opened");
        let (blocks, _) = broadcast::channel(256);
        Ok(Arc::new(Self {
            spec,
            store,
            pool: Arc::new(TxPool::new(pool)),
            blocks,
            building: Mutex::new(()),
            head_lock: RwLock::new(()),
            head: RwLock::new(head),
            pending: Mutex::new(HashMap::new()),
            clock,
            next_time: Mutex::new(None),
        }))
    }

    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn pool(&self) -> &Arc<TxPool> {
        &self.pool
    }

    /// New blocks as they are committed. A subscriber that falls more than 256 blocks behind
    /// is told it lagged.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<NewBlock>> {
        self.blocks.subscribe()
    }

    /// The newest block's header and hash.
    pub fn head(&self) -> Arc<Head> {
        self.head.read().clone()
    }

    /// The base fee the next block will have.
    pub fn next_base_fee(&self) -> u64 {
        self.spec.next_base_fee(&self.head().header)
    }

    /// Validates a raw EIP-2718 transaction and adds it to the pool.
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256, PoolError> {
        // A transaction's hash is the keccak of its EIP-2718 bytes, so one already pending stops
        // here, before its signature is recovered: gossip hands every transaction to a node once
        // per peer, and all but the first copy are known.
        if self.pool.contains(&alloy_primitives::keccak256(raw)) {
            return Err(PoolError::AlreadyKnown);
        }
        // Decoding and signature recovery are the expensive part: done before taking the lock.
        let tx = self.pool.decode_raw(raw)?;
        self.submit(tx)
    }

    /// Adds an already signed and recovered transaction to the pool.
    pub fn submit(&self, tx: Recovered<TxEnvelope>) -> Result<B256, PoolError> {
        let _head = self.head_lock.read();
        let state = self.store.latest_state().map_err(|e| PoolError::Internal(e.to_string()))?;
        self.pool.add(tx, &PoolStateAdapter(&state), self.next_base_fee())
    }

    /// Builds a block from the pool's best transactions on the head, commits it and announces
    /// it: a committee of one proposes and finalizes on the same path a network uses. With
    /// `allow_empty` false, returns `None` when no transaction made it into the block.
    pub fn build_block(&self, allow_empty: bool) -> Result<Option<Arc<NewBlock>>, ChainError> {
        let _guard = self.building.lock();
        let head = self.head();
        let proposal = self.propose(head.hash, self.spec.coinbase)?;
        if proposal.block.transactions.is_empty() && !allow_empty {
            self.pending.lock().remove(&proposal.hash());
            return Ok(None);
        }
        self.finalize(proposal.hash()).map(Some)
    }

    /// The header and pending state layers of `parent`: the head (no layers) or a pending
    /// block on the finalized chain that `view` shows.
    fn parent_of(&self, parent: B256, view: &StateView) -> Result<(alloy_consensus::Header, Vec<Arc<StateUpdate>>), ChainError> {
        let head = self.head();
        if head.hash == parent && head.header.number == view.block_number() {
            return Ok((head.header.clone(), Vec::new()));
        }
        if let Some(p) = self.pending.lock().get(&parent) {
            return Ok((p.block.header.clone(), p.layers.clone()));
        }
        // The view may be one block ahead of the cached head while a commit completes.
        if view.block_hash(view.block_number())? == Some(parent)
            && let Some(header) = self.store.header(view.block_number())?
        {
            return Ok((header, Vec::new()));
        }
        Err(ChainError::UnknownParent(parent))
    }

    /// Transactions of the pending blocks from `parent` down to the head.
    fn pending_txs(&self, mut parent: B256) -> HashSet<B256> {
        let pending = self.pending.lock();
        let mut out = HashSet::new();
        while let Some(p) = pending.get(&parent) {
            out.extend(p.block.transactions.iter().map(|t| *t.tx_hash()));
            parent = p.block.header.parent_hash;
        }
        out
    }

    /// Builds and executes a block on `parent` (the head or a pending block) with the pool's
    /// best transactions, credited to `beneficiary`, and seals it without committing it.
    pub fn propose(&self, parent: B256, beneficiary: Address) -> Result<Arc<PendingBlock>, ChainError> {
        let view = self.store.latest_state()?;
        let (parent_header, layers) = self.parent_of(parent, &view)?;
        let state = PendingState::new(&view, &layers)?;
        let mut header = self.spec.child_header_ms(&parent_header, parent, self.block_time_ms());
        header.beneficiary = beneficiary;
        let base_fee = header.base_fee_per_gas.unwrap_or_default();
        let already_in = self.pending_txs(parent);
        let mut executor = BlockExecutor::new(&self.spec, header, &state);
        let mut rejected = Vec::new();
        let mut best = self.pool.best(base_fee);
        while let Some(tx) = best.next() {
            if executor.gas_left() < 21_000 {
                break;
            }
            if already_in.contains(tx.tx_hash()) {
                continue;
            }
            let sender = tx.signer();
            if tx.gas_limit() > executor.gas_left() {
                // It waits for the next block, and so must everything after it from this sender.
                best.mark_invalid(sender);
                continue;
            }
            let tx = (*tx).clone();
            if let Err(r) = executor.execute(tx) {
                debug!(hash = %r.hash, error = %r.error, "transaction left out of block");
                if let ExecError::Db(e) = r.error {
                    return Err(ExecError::Db(e).into());
                }
                best.mark_invalid(sender);
                rejected.push(r.hash);
            }
        }
        drop(best);
        // On a pending parent a refusal may be that parent's doing (a nonce it used), so only
        // a refusal against the finalized state drops the transaction.
        if !rejected.is_empty() && layers.is_empty() {
            self.pool.remove(&rejected);
        }
        let executed = executor.finish();
        let block = self.seal(&view, layers, executed)?;
        self.insert_pending(block)
    }

    /// Resolves an executed block's state and fills in its state root.
    fn seal(&self, view: &StateView, layers: Vec<Arc<StateUpdate>>, executed: ExecutedBlock) -> Result<PendingBlock, ChainError> {
        let mut update = self.store.resolve(view, &layers, executed.header.number, &executed.changes)?;
        let mut header = executed.header;
        header.state_root = update.state_root();
        let parent_hash = header.parent_hash;
        let block = SealedBlock::new(header, executed.transactions, executed.senders);
        update.seal(block.hash, parent_hash);
        let mut all = Vec::with_capacity(layers.len() + 1);
        all.push(Arc::new(update));
        all.extend(layers);
        Ok(PendingBlock { block, receipts: executed.receipts, layers: all })
    }

    fn insert_pending(&self, block: PendingBlock) -> Result<Arc<PendingBlock>, ChainError> {
        let mut pending = self.pending.lock();
        if let Some(known) = pending.get(&block.block.hash) {
            return Ok(known.clone());
        }
        if pending.len() >= MAX_PENDING_BLOCKS {
            return Err(ChainError::TooManyPending(pending.len()));
        }
        let block = Arc::new(block);
        pending.insert(block.block.hash, block.clone());
        Ok(block)
    }

    /// Checks a block someone else proposed: its header against its parent's, every
    /// transaction against the rules the pool applies, and its execution on the parent's state
    /// (gas used, transactions and receipts roots, bloom, state root). A valid block is kept as
    /// pending, ready to be finalized without executing it again.
    pub fn verify(&self, block: &SealedBlock) -> Result<Arc<PendingBlock>, ChainError> {
        if let Some(known) = self.pending.lock().get(&block.hash) {
            return Ok(known.clone());
        }
        let (number, hash) = (block.number(), block.hash);
        let invalid = |reason: String| ChainError::Invalid { number, hash, reason };
        if block.header.hash_slow() != hash {
            return Err(invalid("hash does not match the header".into()));
        }
        let view = self.store.latest_state()?;
        let (parent, layers) = self.parent_of(block.header.parent_hash, &view)?;
        let state = PendingState::new(&view, &layers)?;
        let h = &block.header;
        let ms = timestamp_ms(h);
        if h.extra_data.len() != 8 {
            return Err(invalid(format!("extra data must be the 8-byte time in milliseconds, got {} bytes", h.extra_data.len())));
        }
        if ms < timestamp_ms(&parent) {
            return Err(invalid(format!("time {ms} ms is before its parent's {} ms", timestamp_ms(&parent))));
        }
        let now = self.clock.now_millis();
        if ms > now.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err(invalid(format!("time {ms} ms is more than {MAX_FUTURE_DRIFT_MS} ms ahead of ours ({now} ms)")));
        }
        // Every field that does not depend on the transactions must be what we would write.
        let mut template = self.spec.child_header_ms(&parent, h.parent_hash, ms);
        template.beneficiary = h.beneficiary;
        let base_fee = template.base_fee_per_gas.unwrap_or_default();
        for (field, ours, theirs) in [
            ("number", template.number, h.number),
            ("timestamp", template.timestamp, h.timestamp),
            ("gas limit", template.gas_limit, h.gas_limit),
            ("base fee", base_fee, h.base_fee_per_gas.unwrap_or_default()),
        ] {
            if ours != theirs {
                return Err(invalid(format!("{field} is {theirs}, expected {ours}")));
            }
        }
        let senders = self.recover_senders(&block.transactions).map_err(|(i, e)| invalid(format!("transaction {i}: bad signature: {e}")))?;
        let mut executor = BlockExecutor::new(&self.spec, template, &state);
        for (i, (tx, sender)) in block.transactions.iter().zip(senders).enumerate() {
            let tx = Recovered::new_unchecked(tx.clone(), sender);
            self.pool.validate_for_block(&tx, base_fee).map_err(|e| invalid(format!("transaction {i}: {e}")))?;
            if let Err(r) = executor.execute(tx) {
                if let ExecError::Db(e) = r.error {
                    return Err(ExecError::Db(e).into());
                }
                return Err(invalid(format!("transaction {i} ({}): {}", r.hash, r.error)));
            }
        }
        let executed = executor.finish();
        let ours = &executed.header;
        if ours.gas_used != h.gas_used {
            return Err(invalid(format!("gas used is {}, execution used {}", h.gas_used, ours.gas_used)));
        }
        for (field, ours, theirs) in [
            ("transactions root", ours.transactions_root, h.transactions_root),
            ("receipts root", ours.receipts_root, h.receipts_root),
        ] {
            if ours != theirs {
                return Err(invalid(format!("{field} is {theirs}, execution gives {ours}")));
            }
        }
        if ours.logs_bloom != h.logs_bloom {
            return Err(invalid("logs bloom differs from execution".into()));
        }
        let sealed = self.seal(&view, layers, executed)?;
        if sealed.block.hash != hash {
            let reason = if sealed.block.header.state_root != h.state_root {
                format!("state root is {}, execution gives {}", h.state_root, sealed.block.header.state_root)
            } else {
                "header differs from the one execution gives".into()
            };
            return Err(invalid(reason));
        }
        self.insert_pending(sealed)
    }

    /// Each transaction's sender, never taken from whoever sent the block: from the pool when
    /// it holds the very same signed transaction (the hash covers the signature, so the sender
    /// is the one recovered on admission), else recovered from the signature, on every core.
    fn recover_senders(&self, txs: &[TxEnvelope]) -> Result<Vec<Address>, (usize, String)> {
        let mut senders: Vec<Option<Address>> = txs.iter().map(|tx| self.pool.get(tx.tx_hash()).map(|p| p.signer())).collect();
        let missing: Vec<usize> = (0..txs.len()).filter(|&i| senders[i].is_none()).collect();
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
        let recovered: Vec<(usize, Result<Address, String>)> = if missing.len() < 64 || threads == 1 {
            missing.iter().map(|&i| (i, txs[i].recover_signer().map_err(|e| e.to_string()))).collect()
        } else {
            std::thread::scope(|scope| {
                let chunks: Vec<_> = missing
                    .chunks(missing.len().div_ceil(threads))
                    .map(|chunk| {
                        scope.spawn(move || {
                            chunk.iter().map(|&i| (i, txs[i].recover_signer().map_err(|e| e.to_string()))).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                chunks.into_iter().flat_map(|c| c.join().expect("sender recovery panicked")).collect()
            })
        };
        for (i, sender) in recovered {
            senders[i] = Some(sender.map_err(|e| (i, e))?);
        }
        Ok(senders.into_iter().map(|s| s.expect("every sender was filled in")).collect())
    }

    /// Makes a pending block final: writes what verification or proposal computed (nothing is
    /// executed again), tells the pool, moves the head and announces the block. Refuses a
    /// block whose parent is not the head.
    pub fn finalize(&self, hash: B256) -> Result<Arc<NewBlock>, ChainError> {
        let pending = self.pending.lock().get(&hash).cloned().ok_or(ChainError::UnknownBlock(hash))?;
        let block = pending.block.clone();
        let head_guard = self.head_lock.write();
        self.store.commit(&block, &pending.receipts, &pending.layers[0])?;
        let mined: Vec<B256> = block.transactions.iter().map(|t| *t.tx_hash()).collect();
        let new_state = self.store.latest_state()?;
        self.pool.on_block(&mined, &PoolStateAdapter(&new_state), self.spec.next_base_fee(&block.header));
        *self.head.write() = Arc::new(Head { header: block.header.clone(), hash: block.hash });
        drop(head_guard);
        {
            let mut next = self.next_time.lock();
            if next.is_some_and(|t| timestamp_ms(&block.header) >= t) {
                *next = None;
            }
        }
        self.prune(&block);
        info!(number = block.number(), hash = %block.hash, txs = block.transactions.len(), gas_used = block.header.gas_used, "finalized block");
        let event = Arc::new(NewBlock { block, receipts: pending.receipts.clone() });
        // An error only means nobody is subscribed.
        let _ = self.blocks.send(event.clone());
        Ok(event)
    }

    /// Drops pending blocks that can no longer be finalized: at or below `finalized`, or on
    /// another branch.
    fn prune(&self, finalized: &SealedBlock) {
        let n = finalized.number();
        self.pending.lock().retain(|_, p| {
            let number = p.block.number();
            // Layers go down at least to the block after the one final when `p` was built.
            number > n && p.layers.get((number - n - 1) as usize).is_some_and(|l| l.parent_hash() == finalized.hash)
        });
    }

    /// A pending block by hash.
    pub fn pending_block(&self, hash: &B256) -> Option<Arc<PendingBlock>> {
        self.pending.lock().get(hash).cloned()
    }

    /// How many blocks are pending.
    pub fn pending_len(&self) -> usize {
        self.pending.lock().len()
    }

    /// The time a block proposed now gets: the one a dev node was told to use next, else the
    /// clock's.
    fn block_time_ms(&self) -> u64 {
        self.next_time.lock().unwrap_or_else(|| self.clock.now_millis())
    }

    /// Makes the next block's time `ms` (dev nodes: `evm_setNextBlockTimestamp`), or the
    /// clock's again with `None`. A time before the head's is refused.
    /// The time (ms) the next block is to have, if one was set.
    pub fn next_block_time_ms(&self) -> Option<u64> {
        *self.next_time.lock()
    }

    pub fn set_next_block_time_ms(&self, ms: Option<u64>) -> Result<(), ChainError> {
        if let Some(ms) = ms {
            let head = timestamp_ms(&self.head().header);
            if ms < head {
                return Err(ChainError::Dev(format!(
                    "timestamp {} is before the current block's timestamp {}",
                    ms / 1000,
                    head / 1000
                )));
            }
        }
        *self.next_time.lock() = ms;
        Ok(())
    }

    /// Seals and commits a block without transactions whose state changes are `edits` (dev
    /// nodes: `anvil_setBalance`, `setCode`, `setNonce`, `setStorageAt`). Going through a block
    /// keeps the data directory consistent whenever the node stops: the edit is committed with
    /// its block in one write, or not at all, and a revert can unwind it like any block.
    pub fn commit_edits(&self, edits: ls_storage::StateChanges) -> Result<Arc<NewBlock>, ChainError> {
        let _guard = self.building.lock();
        let head = self.head();
        let view = self.store.latest_state()?;
        if view.block_number() != head.header.number {
            return Err(ChainError::Dev("the head moved; try again".into()));
        }
        let mut header = self.spec.child_header_ms(&head.header, head.hash, self.block_time_ms());
        header.beneficiary = self.spec.coinbase;
        let mut executed = BlockExecutor::new(&self.spec, header, &view).finish();
        executed.changes.accounts.extend(edits.accounts);
        let block = self.seal(&view, Vec::new(), executed)?;
        let hash = block.block.hash;
        self.insert_pending(block)?;
        self.finalize(hash)
    }

    /// Removes every block above `number` (dev nodes: `evm_revert`) and restores the state
    /// they changed ([`Store::unwind_to`]); the pool is emptied (its transactions were checked
    /// against a state that is gone) and pending blocks are dropped.
    pub fn unwind_to(&self, number: u64) -> Result<(), ChainError> {
        let _guard = self.building.lock();
        let head_guard = self.head_lock.write();
        self.store.unwind_to(number)?;
        let header = self.store.header(number)?.ok_or(StorageError::UnknownBlock { requested: number, head: number })?;
        *self.head.write() = Arc::new(Head { hash: header.hash_slow(), header });
        self.pending.lock().clear();
        let (pending, queued) = self.pool.content();
        let hashes: Vec<B256> = pending.iter().chain(&queued).map(|t| *t.tx_hash()).collect();
        self.pool.remove(&hashes);
        *self.next_time.lock() = None;
        drop(head_guard);
        info!(number, "unwound to block");
        Ok(())
    }

    /// Logs a warning for a failed build; the producer keeps going.
    pub(crate) fn report(&self, e: &ChainError) {
        warn!(error = %e, "block production failed");
    }
}

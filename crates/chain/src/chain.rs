use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_consensus::{ReceiptEnvelope, Transaction, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256};
use ls_evm::{BlockExecutor, ExecError};
use ls_primitives::{ChainSpec, SealedBlock};
use ls_storage::{StateView, StorageError, Store};
use ls_txpool::{PoolConfig, PoolError, StateView as PoolState, TxPool};
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

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

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl Chain {
    /// Opens the chain in `store`, writing genesis if the store is new.
    pub fn open(spec: ChainSpec, store: Arc<Store>, pool: PoolConfig) -> Result<Arc<Self>, ChainError> {
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

    /// Builds a block from the pool's best transactions, commits it and announces it.
    /// With `allow_empty` false, returns `None` when no transaction made it into the block.
    pub fn build_block(&self, allow_empty: bool) -> Result<Option<Arc<NewBlock>>, ChainError> {
        let _guard = self.building.lock();
        let parent = self.head();
        let header = self.spec.child_header(&parent.header, parent.hash, now_secs());
        let base_fee = header.base_fee_per_gas.unwrap_or_default();
        let state = self.store.latest_state()?;
        let mut executor = BlockExecutor::new(&self.spec, header, &state);
        let mut rejected = Vec::new();
        let mut best = self.pool.best(base_fee);
        while let Some(tx) = best.next() {
            if executor.gas_left() < 21_000 {
                break;
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
        if executor.is_empty() && !allow_empty {
            if !rejected.is_empty() {
                self.pool.remove(&rejected);
            }
            return Ok(None);
        }
        let executed = executor.finish();
        let receipts = executed.receipts;
        let head_guard = self.head_lock.write();
        let block = self.store.commit_block(
            executed.header,
            executed.transactions,
            executed.senders,
            &receipts,
            &executed.changes,
        )?;
        drop(state);
        let mined: Vec<B256> = block.transactions.iter().map(|t| *t.tx_hash()).collect();
        let new_state = self.store.latest_state()?;
        self.pool.on_block(&mined, &PoolStateAdapter(&new_state), self.spec.next_base_fee(&block.header));
        if !rejected.is_empty() {
            self.pool.remove(&rejected);
        }
        *self.head.write() = Arc::new(Head { header: block.header.clone(), hash: block.hash });
        drop(head_guard);
        info!(number = block.number(), hash = %block.hash, txs = block.transactions.len(), gas_used = block.header.gas_used, "sealed block");
        let event = Arc::new(NewBlock { block, receipts });
        // An error only means nobody is subscribed.
        let _ = self.blocks.send(event.clone());
        Ok(Some(event))
    }

    /// Logs a warning for a failed build; the producer keeps going.
    pub(crate) fn report(&self, e: &ChainError) {
        warn!(error = %e, "block production failed");
    }
}

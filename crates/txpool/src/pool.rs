use std::{
    cmp::Ordering,
    collections::{BTreeMap, BinaryHeap, HashMap, HashSet},
    sync::Arc,
};

use alloy_consensus::{
    Transaction, TxEnvelope,
    transaction::{Recovered, SignerRecoverable},
};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, U256};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::{MAX_INITCODE_SIZE, PoolError, intrinsic_gas};

/// A transaction as the pool holds it.
pub type PooledTx = Arc<Recovered<TxEnvelope>>;

/// The pool's window on account state (the head block's).
pub trait StateView {
    /// `(nonce, balance)` of `addr`; a missing account is `(0, 0)`.
    fn account(&self, addr: Address) -> Result<(u64, U256), Box<dyn std::error::Error + Send + Sync>>;
}

/// Pool limits and rules.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub chain_id: u64,
    /// Most transactions in the pool (pending and queued).
    pub max_txs: usize,
    /// Most transactions from one sender.
    pub max_per_sender: usize,
    /// Largest encoded transaction (geth: 128 KiB).
    pub max_tx_bytes: usize,
    /// A replacement must pay this much more (both fee cap and tip).
    pub price_bump_percent: u128,
    pub block_gas_limit: u64,
    /// Smallest priority fee accepted.
    pub min_priority_fee: u128,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            chain_id: 1337,
            max_txs: 50_000,
            max_per_sender: 4_096,
            max_tx_bytes: 128 * 1024,
            price_bump_percent: 10,
            block_gas_limit: 30_000_000,
            min_priority_fee: 0,
        }
    }
}

#[derive(Debug)]
struct PoolTx {
    tx: Arc<Recovered<TxEnvelope>>,
    hash: B256,
    /// Arrival order, to keep equal-tip ordering first come, first served.
    seq: u64,
}

impl PoolTx {
    fn max_fee(&self) -> u128 {
        self.tx.max_fee_per_gas()
    }
    fn tip(&self) -> u128 {
        self.tx.max_priority_fee_per_gas().unwrap_or_else(|| self.tx.max_fee_per_gas())
    }
    fn effective_tip(&self, base_fee: u64) -> u128 {
        self.tx.effective_tip_per_gas(base_fee).unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct SenderTxs {
    /// The sender's nonce in the latest state this pool saw.
    state_nonce: u64,
    txs: BTreeMap<u64, Arc<PoolTx>>,
}

impl SenderTxs {
    /// The nonce after the contiguous run starting at the state nonce.
    fn pending_end(&self) -> u64 {
        let mut n = self.state_nonce;
        while self.txs.contains_key(&n) {
            n += 1;
        }
        n
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_hash: HashMap<B256, Arc<PoolTx>>,
    senders: HashMap<Address, SenderTxs>,
    next_seq: u64,
}

/// The pool. Internally synchronised; share it as `Arc<TxPool>`.
#[derive(Debug)]
pub struct TxPool {
    cfg: PoolConfig,
    inner: Mutex<Inner>,
    pending_tx: broadcast::Sender<B256>,
}

impl TxPool {
    pub fn new(cfg: PoolConfig) -> Self {
        let (pending_tx, _) = broadcast::channel(4096);
        Self { cfg, inner: Mutex::new(Inner::default()), pending_tx }
    }

    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// Decodes an EIP-2718 transaction (as sent to eth_sendRawTransaction), recovers its sender
    /// and adds it.
    pub fn add_raw(&self, raw: &[u8], state: &dyn StateView, base_fee: u64) -> Result<B256, PoolError> {
        let tx = self.decode_raw(raw)?;
        self.add(tx, state, base_fee)
    }

    /// Decodes an EIP-2718 transaction and recovers its sender, without touching the pool.
    pub fn decode_raw(&self, raw: &[u8]) -> Result<Recovered<TxEnvelope>, PoolError> {
        if raw.len() > self.cfg.max_tx_bytes {
            return Err(PoolError::Oversized { size: raw.len(), limit: self.cfg.max_tx_bytes });
        }
        let mut buf = raw;
        let tx = TxEnvelope::decode_2718(&mut buf).map_err(|e| PoolError::Decode(e.to_string()))?;
        if !buf.is_empty() {
            return Err(PoolError::Decode("input contains more than one value".into()));
        }
        let sender = tx.recover_signer().map_err(|e| PoolError::InvalidSender(e.to_string()))?;
        Ok(Recovered::new_unchecked(tx, sender))
    }

    /// Validates and inserts an already recovered transaction.
    pub fn add(&self, tx: Recovered<TxEnvelope>, state: &dyn StateView, base_fee: u64) -> Result<B256, PoolError> {
        self.validate_stateless(&tx, base_fee)?;
        let sender = tx.signer();
        let hash = *tx.tx_hash();
        let (state_nonce, balance) =
            state.account(sender).map_err(|e| PoolError::Internal(e.to_string()))?;
        let nonce = tx.nonce();
        if nonce < state_nonce {
            return Err(PoolError::NonceTooLow { tx: nonce, state: state_nonce });
        }
        let cost = U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.value();
        if balance < cost {
            return Err(PoolError::InsufficientFunds { balance, cost });
        }

        let mut inner = self.inner.lock();
        if inner.by_hash.contains_key(&hash) {
            return Err(PoolError::AlreadyKnown);
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let new = Arc::new(PoolTx { tx: Arc::new(tx), hash, seq });

        let entry = inner.senders.entry(sender).or_default();
        entry.state_nonce = state_nonce;
        // Drop what the new state nonce made stale.
        let stale: Vec<B256> = entry.txs.range(..state_nonce).map(|(_, t)| t.hash).collect();
        entry.txs.retain(|n, _| *n >= state_nonce);
        let replaced = match entry.txs.get(&nonce) {
            Some(old) => {
                let bump = 100 + self.cfg.price_bump_percent;
                if new.max_fee() * 100 < old.max_fee() * bump || new.tip() * 100 < old.tip() * bump {
                    return Err(PoolError::ReplaceUnderpriced);
                }
                Some(old.hash)
            }
            None => {
                if entry.txs.len() >= self.cfg.max_per_sender {
                    return Err(PoolError::AccountLimit { sender, limit: self.cfg.max_per_sender });
                }
                None
            }
        };
        for h in stale {
            inner.by_hash.remove(&h);
        }
        if replaced.is_none() && inner.by_hash.len() >= self.cfg.max_txs {
            Self::evict_one(&mut inner, sender, new.effective_tip(base_fee), base_fee)?;
        }
        if let Some(old) = replaced {
            inner.by_hash.remove(&old);
        }
        let entry = inner.senders.entry(sender).or_default();
        let was_end = entry.pending_end();
        entry.txs.insert(nonce, new.clone());
        inner.by_hash.insert(hash, new);
        // Announce what became executable: this tx, and any queued txs it connected.
        let entry = &inner.senders[&sender];
        if nonce <= was_end {
            let end = entry.pending_end();
            for n in nonce.max(state_nonce)..end {
                if n == nonce || n >= was_end {
                    let _ = self.pending_tx.send(entry.txs[&n].hash);
                }
            }
        }
        Ok(hash)
    }

    fn validate_stateless(&self, tx: &Recovered<TxEnvelope>, base_fee: u64) -> Result<(), PoolError> {
        self.validate_for_block(tx, base_fee)?;
        let tip = tx.max_priority_fee_per_gas().unwrap_or(tx.max_fee_per_gas());
        if tip < self.cfg.min_priority_fee {
            return Err(PoolError::Underpriced { tip, needed: self.cfg.min_priority_fee });
        }
        Ok(())
    }

    /// The rules a transaction in a block must meet, whoever proposed the block: supported
    /// type (no blob or set-code transactions), chain id, size, gas limit, init code size,
    /// intrinsic gas, fee fields against `base_fee`. The local tip policy is not one of them.
    pub fn validate_for_block(&self, tx: &Recovered<TxEnvelope>, base_fee: u64) -> Result<(), PoolError> {
        match tx.inner() {
            TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
            _ => return Err(PoolError::TypeNotSupported),
        }
        match tx.chain_id() {
            None => return Err(PoolError::NotReplayProtected),
            Some(id) if id != self.cfg.chain_id => {
                return Err(PoolError::WrongChainId { have: id, want: self.cfg.chain_id });
            }
            Some(_) => {}
        }
        let size = alloy_eips::eip2718::Encodable2718::encode_2718_len(tx.inner());
        if size > self.cfg.max_tx_bytes {
            return Err(PoolError::Oversized { size, limit: self.cfg.max_tx_bytes });
        }
        if tx.gas_limit() > self.cfg.block_gas_limit {
            return Err(PoolError::GasLimit);
        }
        if tx.kind().is_create() && tx.input().len() > MAX_INITCODE_SIZE {
            return Err(PoolError::InitCodeSize { size: tx.input().len(), limit: MAX_INITCODE_SIZE });
        }
        let (intrinsic, floor) = intrinsic_gas(tx.inner());
        if tx.gas_limit() < intrinsic {
            return Err(PoolError::IntrinsicGas { gas: tx.gas_limit(), needed: intrinsic });
        }
        if tx.gas_limit() < floor {
            return Err(PoolError::FloorDataGas { gas: tx.gas_limit(), needed: floor });
        }
        let max_fee = tx.max_fee_per_gas();
        if let Some(tip) = tx.max_priority_fee_per_gas()
            && tip > max_fee
        {
            return Err(PoolError::TipAboveFeeCap { sender: tx.signer(), tip, max_fee });
        }
        if max_fee < base_fee as u128 {
            return Err(PoolError::FeeCapTooLow { sender: tx.signer(), max_fee, base_fee });
        }
        Ok(())
    }

    /// Makes room for a transaction paying `tip`: evicts the cheapest last transaction of any
    /// sender (never leaving a gap), if it pays less.
    fn evict_one(inner: &mut Inner, newcomer: Address, tip: u128, base_fee: u64) -> Result<(), PoolError> {
        let victim = inner
            .senders
            .iter()
            .filter(|(addr, _)| **addr != newcomer)
            .filter_map(|(addr, s)| s.txs.last_key_value().map(|(n, t)| (*addr, *n, t.effective_tip(base_fee), t.seq)))
            // Cheapest first; among equals, the newest goes.
            .min_by(|a, b| a.2.cmp(&b.2).then(b.3.cmp(&a.3)));
        match victim {
            Some((addr, nonce, victim_tip, _)) if victim_tip < tip => {
                if let Some(s) = inner.senders.get_mut(&addr)
                    && let Some(t) = s.txs.remove(&nonce)
                {
                    inner.by_hash.remove(&t.hash);
                    if s.txs.is_empty() {
                        inner.senders.remove(&addr);
                    }
                }
                Ok(())
            }
            _ => Err(PoolError::Full),
        }
    }

    /// Executable transactions for a block built at `base_fee`.
    pub fn best(&self, base_fee: u64) -> BestTxs {
        let inner = self.inner.lock();
        let mut runs = HashMap::new();
        let mut heap = BinaryHeap::new();
        for (addr, s) in &inner.senders {
            let mut run = Vec::new();
            let mut n = s.state_nonce;
            while let Some(t) = s.txs.get(&n) {
                run.push(t.clone());
                n += 1;
            }
            if let Some(first) = run.first()
                && first.max_fee() >= base_fee as u128
            {
                heap.push(Candidate { tip: first.effective_tip(base_fee), seq: first.seq, sender: *addr });
                runs.insert(*addr, (run, 0usize));
            }
        }
        BestTxs { base_fee, runs, heap, invalid: HashSet::new() }
    }

    /// After a block: drops mined and stale transactions and refreshes sender nonces.
    pub fn on_block(&self, mined: &[B256], state: &dyn StateView, _base_fee: u64) {
        let mut inner = self.inner.lock();
        let mut touched = HashSet::new();
        for h in mined {
            if let Some(t) = inner.by_hash.remove(h) {
                touched.insert(t.tx.signer());
            }
        }
        for addr in touched {
            let Ok((nonce, _)) = state.account(addr) else { continue };
            let Some(s) = inner.senders.get_mut(&addr) else { continue };
            let old_end = s.pending_end();
            s.state_nonce = nonce;
            let stale: Vec<B256> = s.txs.range(..nonce).map(|(_, t)| t.hash).collect();
            s.txs.retain(|n, _| *n >= nonce);
            let new_end = s.pending_end();
            let promoted: Vec<B256> =
                s.txs.range(old_end.max(nonce)..new_end).map(|(_, t)| t.hash).collect();
            if s.txs.is_empty() {
                inner.senders.remove(&addr);
            }
            for h in stale {
                inner.by_hash.remove(&h);
            }
            for h in promoted {
                let _ = self.pending_tx.send(h);
            }
        }
    }

    /// Removes transactions (e.g. ones that failed when executed). Later transactions of the
    /// same sender stay, queued behind the gap.
    pub fn remove(&self, hashes: &[B256]) {
        let mut inner = self.inner.lock();
        for h in hashes {
            if let Some(t) = inner.by_hash.remove(h) {
                let addr = t.tx.signer();
                if let Some(s) = inner.senders.get_mut(&addr) {
                    s.txs.remove(&t.tx.nonce());
                    if s.txs.is_empty() {
                        inner.senders.remove(&addr);
                    }
                }
            }
        }
    }

    /// Whether the transaction `hash` is in the pool (pending or queued).
    pub fn contains(&self, hash: &B256) -> bool {
        self.inner.lock().by_hash.contains_key(hash)
    }

    pub fn get(&self, hash: &B256) -> Option<Arc<Recovered<TxEnvelope>>> {
        self.inner.lock().by_hash.get(hash).map(|t| t.tx.clone())
    }

    /// The nonce a new transaction from `addr` should use.
    pub fn pending_nonce(&self, addr: Address, state_nonce: u64) -> u64 {
        let inner = self.inner.lock();
        match inner.senders.get(&addr) {
            Some(s) => {
                let mut n = state_nonce;
                while s.txs.contains_key(&n) {
                    n += 1;
                }
                n
            }
            None => state_nonce,
        }
    }

    /// Hashes of transactions as they become executable. Bounded; a slow reader lags.
    pub fn subscribe(&self) -> broadcast::Receiver<B256> {
        self.pending_tx.subscribe()
    }

    /// `(pending, queued)`.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        let pending: usize = inner.senders.values().map(|s| (s.pending_end() - s.state_nonce) as usize).sum();
        (pending, inner.by_hash.len() - pending)
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().by_hash.is_empty()
    }

    /// Every transaction, split as geth's `txpool_content` does: `(pending, queued)`, each per
    /// sender in nonce order.
    pub fn content(&self) -> (Vec<PooledTx>, Vec<PooledTx>) {
        let inner = self.inner.lock();
        let (mut pending, mut queued) = (Vec::new(), Vec::new());
        for s in inner.senders.values() {
            let end = s.pending_end();
            for (nonce, t) in &s.txs {
                if *nonce < end { pending.push(t.tx.clone()) } else { queued.push(t.tx.clone()) }
            }
        }
        (pending, queued)
    }

    /// Every executable transaction, per sender in nonce order.
    pub fn pending_txs(&self) -> Vec<Arc<Recovered<TxEnvelope>>> {
        let inner = self.inner.lock();
        let mut out = Vec::new();
        for s in inner.senders.values() {
            let mut n = s.state_nonce;
            while let Some(t) = s.txs.get(&n) {
                out.push(t.tx.clone());
                n += 1;
            }
        }
        out
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Candidate {
    tip: u128,
    seq: u64,
    sender: Address,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Highest tip first; among equal tips, earliest arrival first.
        self.tip.cmp(&other.tip).then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Iterator over executable transactions in block order.
#[derive(Debug)]
pub struct BestTxs {
    base_fee: u64,
    runs: HashMap<Address, (Vec<Arc<PoolTx>>, usize)>,
    heap: BinaryHeap<Candidate>,
    invalid: HashSet<Address>,
}

impl BestTxs {
    /// Skip every further transaction of `sender` (its last one failed, so the rest cannot run).
    pub fn mark_invalid(&mut self, sender: Address) {
        self.invalid.insert(sender);
    }
}

impl Iterator for BestTxs {
    type Item = Arc<Recovered<TxEnvelope>>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(c) = self.heap.pop() {
            if self.invalid.contains(&c.sender) {
                continue;
            }
            let Some((run, pos)) = self.runs.get_mut(&c.sender) else { continue };
            let tx = run[*pos].clone();
            *pos += 1;
            if let Some(next) = run.get(*pos)
                && next.max_fee() >= self.base_fee as u128
            {
                self.heap.push(Candidate { tip: next.effective_tip(self.base_fee), seq: next.seq, sender: c.sender });
            }
            return Some(tx.tx.clone());
        }
        None
    }
}

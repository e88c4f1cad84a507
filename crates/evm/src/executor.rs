use alloy_consensus::{
    Eip658Value, Header, Receipt, ReceiptEnvelope, Transaction, TxEnvelope, proofs,
    transaction::Recovered,
};
use alloy_eips::Typed2718;
use alloy_primitives::{Address, B256, Bloom};
use ls_primitives::ChainSpec;
use ls_storage::{AccountChange, AccountInfo, StateChanges, StateReader};
use revm::{
    Context, DatabaseCommit, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
    context::ContextTr,
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::block::BlobExcessGasAndPrice,
    database::CacheDB,
    handler::MainnetContext,
    state::EvmState,
};

use crate::{ExecError, SPEC, StateDb};

/// A transaction the executor refused (it changed nothing).
#[derive(Debug)]
pub struct Rejected {
    pub hash: B256,
    pub sender: Address,
    pub error: ExecError,
}

/// Everything a block's execution produced, ready for [`ls_storage::Store::commit_block`].
#[derive(Debug)]
pub struct ExecutedBlock {
    /// The header with transactions root, receipts root, bloom and gas used filled in
    /// (the state root is filled in by storage).
    pub header: Header,
    pub transactions: Vec<TxEnvelope>,
    pub senders: Vec<Address>,
    pub receipts: Vec<ReceiptEnvelope>,
    pub changes: StateChanges,
}

/// Executes transactions one at a time on top of a state snapshot.
pub struct BlockExecutor<'a> {
    evm: MainnetEvm<MainnetContext<CacheDB<StateDb<'a>>>>,
    header: Header,
    transactions: Vec<TxEnvelope>,
    senders: Vec<Address>,
    receipts: Vec<ReceiptEnvelope>,
    changes: StateChanges,
    gas_used: u64,
}

impl std::fmt::Debug for BlockExecutor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockExecutor").field("number", &self.header.number).finish_non_exhaustive()
    }
}

/// The block environment revm sees for `header`.
pub(crate) fn block_env(header: &Header) -> BlockEnv {
    BlockEnv {
        number: alloy_primitives::U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: alloy_primitives::U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee_per_gas.unwrap_or_default(),
        difficulty: header.difficulty,
        prevrandao: Some(header.mix_hash),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
        ..Default::default()
    }
}

pub(crate) fn cfg_env(chain_id: u64) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = chain_id;
    // Consensus: a block's transactions are bounded by gas alone (calls set a limit of their own).
    cfg.memory_limit = u64::MAX;
    cfg
}

/// revm's transaction environment for a signed transaction.
pub fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    let is_dynamic = tx.is_dynamic_fee();
    TxEnv {
        tx_type: tx.ty(),
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: if is_dynamic { tx.max_fee_per_gas() } else { tx.gas_price().unwrap_or_default() },
        gas_priority_fee: if is_dynamic { tx.max_priority_fee_per_gas() } else { None },
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        ..Default::default()
    }
}

impl<'a> BlockExecutor<'a> {
    /// Starts a block on top of `parent_state` (the state after the parent block).
    pub fn new(spec: &ChainSpec, header: Header, parent_state: &'a dyn StateReader) -> Self {
        let ctx = Context::mainnet()
            .with_db(CacheDB::new(StateDb(parent_state)))
            .with_cfg(cfg_env(spec.chain_id))
            .with_block(block_env(&header));
        Self {
            evm: ctx.build_mainnet(),
            header,
            transactions: Vec::new(),
            senders: Vec::new(),
            receipts: Vec::new(),
            changes: StateChanges::default(),
            gas_used: 0,
        }
    }

    /// Gas still available in this block.
    pub fn gas_left(&self) -> u64 {
        self.header.gas_limit - self.gas_used
    }

    /// How many transactions the block holds so far.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// Executes `tx`. On success it is part of the block; on error nothing changed.
    pub fn execute(&mut self, tx: Recovered<TxEnvelope>) -> Result<&ReceiptEnvelope, Rejected> {
        let (tx, sender) = tx.into_parts();
        let reject = |error| Rejected { hash: *tx.tx_hash(), sender, error };
        if tx.gas_limit() > self.gas_left() {
            return Err(reject(ExecError::InvalidTransaction("gas limit reached".into())));
        }
        let out = match self.evm.transact(tx_env(&tx, sender)) {
            Ok(out) => out,
            Err(e) => return Err(reject(e.into())),
        };
        merge_changes(&mut self.changes, &out.state);
        self.evm.db_mut().commit(out.state);
        let gas = out.result.tx_gas_used();
        self.gas_used += gas;
        let success = out.result.is_success();
        let logs = out.result.into_logs();
        let receipt = Receipt {
            status: Eip658Value::Eip658(success),
            cumulative_gas_used: self.gas_used,
            logs,
        };
        let envelope = ReceiptEnvelope::from_typed(tx.tx_type(), receipt.with_bloom());
        self.transactions.push(tx);
        self.senders.push(sender);
        self.receipts.push(envelope);
        Ok(self.receipts.last().expect("a receipt was just pushed"))
    }

    /// Closes the block: fills in the roots, bloom and gas used.
    pub fn finish(mut self) -> ExecutedBlock {
        let mut bloom = Bloom::default();
        for r in &self.receipts {
            bloom.accrue_bloom(r.logs_bloom());
        }
        self.header.gas_used = self.gas_used;
        self.header.logs_bloom = bloom;
        self.header.transactions_root = proofs::calculate_transaction_root(&self.transactions);
        self.header.receipts_root = proofs::calculate_receipt_root(&self.receipts);
        ExecutedBlock {
            header: self.header,
            transactions: self.transactions,
            senders: self.senders,
            receipts: self.receipts,
            changes: self.changes,
        }
    }
}

/// Folds one transaction's state diff into the block's net changes.
pub(crate) fn merge_changes(changes: &mut StateChanges, state: &EvmState) {
    for (address, account) in state {
        if !account.is_touched() {
            continue;
        }
        let entry = changes.accounts.entry(*address).or_default();
        // EIP-6780 self-destruct, and EIP-161: a touched empty account ceases to exist.
        if account.is_selfdestructed() || account.is_empty() {
            *entry = AccountChange { info: None, code: None, wipe_storage: true, storage: Default::default() };
            continue;
        }
        if account.is_created() {
            entry.wipe_storage = true;
            entry.storage.clear();
            entry.code = account
                .info
                .code
                .as_ref()
                .map(|c| c.original_bytes())
                .filter(|c| !c.is_empty());
        }
        entry.info = Some(AccountInfo {
            nonce: account.info.nonce,
            balance: account.info.balance,
            code_hash: account.info.code_hash,
        });
        for (slot, value) in account.changed_storage_slots() {
            entry.storage.insert(B256::from(*slot), value.present_value);
        }
    }
}

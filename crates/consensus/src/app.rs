//! The chain as commonware sees it: an [`Application`] that proposes and verifies blocks
//! through [`Chain::propose`] / [`Chain::verify`], and a [`Finalizer`] that commits the blocks
//! marshal delivers as final, in height order.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256};
use commonware_consensus::{
    Application, Reporter,
    marshal::{Update, ancestry::Ancestry},
    simplex::{scheme::ed25519::Scheme, types::Context},
};
use commonware_cryptography::{Digested, ed25519::PublicKey};
use commonware_utils::Acknowledgement as _;
use futures::StreamExt as _;
use ls_chain::{Chain, ChainError, MAX_FUTURE_DRIFT_MS};
use ls_primitives::timestamp_ms;
use tracing::{debug, error, warn};

use crate::{Block, Digest};

/// The consensus context of a proposal: round, leader, parent (view, digest).
pub type Ctx = Context<Digest, PublicKey>;

/// [`ls_chain::Clock`] on a commonware runtime's clock, so a deterministic runtime drives block
/// time too.
pub struct RuntimeClock<C>(pub C);

impl<C: commonware_runtime::Clock + Send + Sync + 'static> ls_chain::Clock for RuntimeClock<C> {
    fn now_millis(&self) -> u64 {
        self.0.current().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
    }
}

/// Builds and checks blocks for simplex (through marshal's `Inline` wrapper).
#[derive(Clone)]
pub struct ChainApp {
    chain: Arc<Chain>,
    /// Who receives the fees of a block: the proposer's Ethereum account, by consensus key.
    beneficiaries: Arc<HashMap<PublicKey, Address>>,
    block_time: Duration,
}

impl ChainApp {
    pub fn new(chain: Arc<Chain>, beneficiaries: HashMap<PublicKey, Address>, block_time: Duration) -> Self {
        Self { chain, beneficiaries: Arc::new(beneficiaries), block_time }
    }

    /// Whether the chain can build on `hash`: the head, a pending block, or a block at or below
    /// the head (already final).
    fn known(&self, hash: B256) -> bool {
        self.chain.head().hash == hash
            || self.chain.pending_block(&hash).is_some()
            || matches!(self.chain.store().block_number(hash), Ok(Some(_)))
    }

    /// The blocks from `first` down to one the chain knows, oldest first, taken from
    /// `ancestry`: a node that restarted or was offline may be asked to build on or vote for
    /// blocks it never verified, and must verify them first.
    async fn missing(&self, first: Digested<Block>, ancestry: &mut impl Ancestry<Block>) -> Vec<Block> {
        let mut missing = Vec::new();
        let mut next = Some(first);
        while let Some(block) = next {
            if self.known(block.inner().sealed().hash) {
                break;
            }
            missing.push(block.inner().clone());
            next = ancestry.next().await;
        }
        missing.reverse();
        missing
    }
}

/// Verifies `blocks` in order.
fn verify_all(chain: &Chain, blocks: &[Block]) -> Result<(), ChainError> {
    for block in blocks {
        chain.verify(block.sealed())?;
    }
    Ok(())
}

/// Runs `work` (execution, state roots, storage) on the runtime's pool for blocking work, so
/// the executor threads that carry votes and network traffic are never held by it.
async fn blocking<E, T>(runtime: &E, work: impl FnOnce() -> T + Send + 'static) -> Option<T>
where
    E: commonware_runtime::Spawner,
    T: Send + 'static,
{
    runtime.child("chain").shared(true).spawn(move |_| async move { work() }).await.ok()
}

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl<E: commonware_runtime::Clock + commonware_runtime::Spawner> Application<E> for ChainApp {
    type SigningScheme = Scheme;
    type Context = Ctx;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, ctx): (E, Ctx),
        mut ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        let parent = ancestry.next().await?;
        let parent_hash = parent.inner().sealed().hash;
        // simplex has no block period: a block is due its parent's time plus the block time.
        let due = at_ms(timestamp_ms(&parent.inner().sealed().header)) + self.block_time;
        if runtime.current() < due {
            runtime.sleep_until(due).await;
        }
        let missing = self.missing(parent, &mut ancestry).await;
        let beneficiary = self.beneficiaries.get(&ctx.leader).copied().unwrap_or_default();
        let chain = self.chain.clone();
        let built = blocking(&runtime, move || {
            verify_all(&chain, &missing)?;
            chain.propose(parent_hash, beneficiary)
        })
        .await?;
        match built {
            Ok(p) => {
                debug!(number = p.block.number(), hash = %p.hash(), txs = p.block.transactions.len(), view = ctx.round.view().get(), "proposed");
                let block = Block::new(p.block.clone());
                let digest = Block::digest_of(p.hash());
                Some(Digested::precomputed(block, digest))
            }
            Err(e) => {
                warn!(error = %e, parent = %parent_hash, "proposal failed");
                None
            }
        }
    }

    async fn verify(&mut self, (runtime, _ctx): (E, Ctx), mut ancestry: impl Ancestry<Block>) -> bool {
        let Some(candidate) = ancestry.next().await else { return false };
        let block = candidate.inner().sealed().clone();
        if self.known(block.hash) {
            return true;
        }
        // A block from the near future is not invalid: wait until our clock is close enough.
        let ms = timestamp_ms(&block.header);
        let earliest = at_ms(ms.saturating_sub(MAX_FUTURE_DRIFT_MS));
        if runtime.current() < earliest {
            runtime.sleep_until(earliest).await;
        }
        let missing = match ancestry.next().await {
            Some(parent) => self.missing(parent, &mut ancestry).await,
            None => Vec::new(),
        };
        let chain = self.chain.clone();
        let number = block.number();
        let checked = blocking(&runtime, move || {
            if let Err(e) = verify_all(&chain, &missing) {
                warn!(error = %e, number, "an ancestor of the proposal does not verify");
                return Err(e);
            }
            chain.verify(&block)
        })
        .await;
        let Some(checked) = checked else { return false };
        match checked {
            Ok(_) => true,
            Err(e @ ChainError::Invalid { .. }) => {
                warn!(error = %e, "refusing an invalid proposal");
                false
            }
            // On a branch that can no longer be finalized.
            Err(ChainError::UnknownParent(parent)) => {
                debug!(%parent, number, "proposal on an unknown or abandoned parent");
                false
            }
            Err(e) => {
                error!(error = %e, number, "could not verify a proposal");
                false
            }
        }
    }
}

/// Commits the blocks marshal delivers as final, in height order, at least once. `report`
/// only queues a block; the commit (the block was executed when verified, so this is writing it
/// and an fsync) runs on a blocking-friendly task, and marshal gets the acknowledgement once the
/// block is durable. Marshal's actor never waits on the disk; it holds back the next block
/// until the acknowledgement (`max_pending_acks`), so the queue holds at most a few.
#[derive(Clone)]
pub struct Finalizer {
    queue: futures::channel::mpsc::UnboundedSender<Update<Block>>,
}

impl Finalizer {
    /// Starts the committing task on `context`.
    pub fn start<E: commonware_runtime::Spawner>(context: E, chain: Arc<Chain>) -> Self {
        let (queue, mut blocks) = futures::channel::mpsc::unbounded::<Update<Block>>();
        context.spawn(move |context| async move {
            while let Some(update) = blocks.next().await {
                let Update::Block(block, ack) = update else { continue };
                let number = block.inner().sealed().number();
                let chain = chain.clone();
                match blocking(&context, move || commit_final(&chain, block.inner())).await {
                    Some(Ok(())) => ack.acknowledge(),
                    // The block is final: a node that cannot commit it cannot go on. Marshal
                    // delivers it again after a restart.
                    Some(Err(e)) => panic!("cannot commit finalized block {number}: {e}"),
                    None => {
                        error!(number, "the commit of a finalized block did not finish (shutting down?)");
                        return;
                    }
                }
            }
        });
        Self { queue }
    }
}

/// Commits `block`, which a quorum finalized. Blocks at or below the head were committed
/// before (marshal redelivers after a restart) and must be the same blocks.
pub fn commit_final(chain: &Chain, block: &Block) -> Result<(), ChainError> {
    let sealed = block.sealed();
    let head = chain.head();
    if sealed.number() <= head.header.number {
        let stored = chain.store().header(sealed.number())?.map(|h| h.hash_slow());
        if stored != Some(sealed.hash) {
            // Two different final blocks at one height: the safety assumption (at most f
            // faulty validators) was broken, or this datadir belongs to another network.
            panic!("finalized block {} ({}) differs from the stored one ({stored:?})", sealed.number(), sealed.hash);
        }
        return Ok(());
    }
    if chain.pending_block(&sealed.hash).is_none() {
        chain.verify(sealed)?;
    }
    chain.finalize(sealed.hash)?;
    Ok(())
}

impl Reporter for Finalizer {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Update<Block>) -> commonware_actor::Feedback {
        if matches!(activity, Update::Block(..)) && self.queue.unbounded_send(activity).is_err() {
            return commonware_actor::Feedback::Closed;
        }
        commonware_actor::Feedback::Ok
    }
}

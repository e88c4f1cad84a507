use std::{sync::Arc, time::Duration};

use tokio::sync::watch;
use tracing::info;

use crate::Chain;

/// Decides when blocks are sealed. A dev node seals on a timer; a BFT engine seals when the
/// validators agree.
pub trait BlockProducer: Send + 'static {
    /// Runs until `shutdown` turns true. Finishes or drops the block in progress, then returns.
    fn run(
        self,
        chain: Arc<Chain>,
        shutdown: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// The single dev validator: every `block_time`, seal a block if transactions are waiting
/// (or always, with `empty_blocks`).
///
/// After a block that carried transactions, one more block follows a tick later even if it is
/// empty. Clients that poll for new blocks before fetching a receipt (ethers' `wait()`: it reads
/// the receipt once, then waits for a block *newer* than the head it sees next) would otherwise
/// wait forever when the block holding their transaction was sealed between those two reads
/// and nothing came after it. One trailing block per burst of activity closes that gap; an idle
/// chain still seals nothing.
#[derive(Debug, Clone)]
pub struct DevProducer {
    pub block_time: Duration,
    pub empty_blocks: bool,
}

impl BlockProducer for DevProducer {
    async fn run(self, chain: Arc<Chain>, mut shutdown: watch::Receiver<bool>) {
        let mut trailing_due = false;
        let mut ticker = tokio::time::interval(self.block_time);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let (pending, _) = chain.pool().len();
            if pending == 0 && !self.empty_blocks && !trailing_due {
                continue;
            }
            let c = chain.clone();
            let empty = self.empty_blocks || (pending == 0 && trailing_due);
            // Building does blocking I/O and CPU work: keep it off the async workers.
            match tokio::task::spawn_blocking(move || c.build_block(empty)).await {
                Ok(Ok(Some(b))) => trailing_due = !b.block.transactions.is_empty(),
                Ok(Ok(None)) => trailing_due = false,
                Ok(Err(e)) => chain.report(&e),
                Err(e) => {
                    tracing::error!(error = %e, "block builder panicked");
                    break;
                }
            }
        }
        info!("block producer stopped");
    }
}

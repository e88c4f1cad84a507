use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use tracing::info;

use crate::{Chain, Clock as _};

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
    /// Switched at run time by the dev RPC methods (`evm_setAutomine`, `evm_setIntervalMining`).
    pub mining: Arc<MiningMode>,
}

/// How a dev node seals blocks, changed at run time: `auto` (the default) seals pending
/// transactions every block time; with `auto` off nothing is sealed unless asked (`evm_mine`);
/// a non-zero interval seals a block every that many milliseconds, empty or not. `instant`
/// (`--automine`, or `evm_setAutomine(true)`) seals each transaction's block as it arrives,
/// before its submission is answered, as hardhat's and anvil's automine do.
#[derive(Debug)]
pub struct MiningMode {
    auto: AtomicBool,
    instant: AtomicBool,
    interval_ms: AtomicU64,
}

impl Default for MiningMode {
    fn default() -> Self {
        Self { auto: AtomicBool::new(true), instant: AtomicBool::new(false), interval_ms: AtomicU64::new(0) }
    }
}

impl MiningMode {
    /// Whether a submitted transaction is sealed before the submission is answered.
    pub fn instant(&self) -> bool {
        self.instant.load(Ordering::Relaxed) && self.auto()
    }

    pub fn set_instant(&self, on: bool) {
        self.instant.store(on, Ordering::Relaxed);
    }

    pub fn auto(&self) -> bool {
        self.auto.load(Ordering::Relaxed)
    }

    pub fn set_auto(&self, on: bool) {
        self.auto.store(on, Ordering::Relaxed);
    }

    /// Milliseconds between interval blocks (0: off).
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms.load(Ordering::Relaxed)
    }

    pub fn set_interval_ms(&self, ms: u64) {
        self.interval_ms.store(ms, Ordering::Relaxed);
    }
}

impl BlockProducer for DevProducer {
    async fn run(self, chain: Arc<Chain>, mut shutdown: watch::Receiver<bool>) {
        let mut trailing_due = false;
        // The first tick comes one period after start (tokio's `interval` would fire at once and
        // seal whatever arrived in the node's first instant, whatever the block time).
        let ticker_for = |period: Duration| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        };
        let mut period = self.block_time;
        let mut ticker = ticker_for(period);
        loop {
            let interval = self.mining.interval_ms();
            let wanted = if interval > 0 { Duration::from_millis(interval) } else { self.block_time };
            if wanted != period {
                period = wanted;
                ticker = ticker_for(period);
            }
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let (pending, _) = chain.pool().len();
            let empty = if interval > 0 {
                true
            } else {
                if !self.mining.auto() || (pending == 0 && !self.empty_blocks && !trailing_due) {
                    trailing_due &= self.mining.auto();
                    continue;
                }
                self.empty_blocks || (pending == 0 && trailing_due)
            };
            let c = chain.clone();
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

/// A dev node's clock: the system's, moved by an offset (`evm_increaseTime`,
/// `evm_setNextBlockTimestamp`). Blocks never go back in time whatever the offset: a child's
/// time is at least its parent's.
#[derive(Debug, Default)]
pub struct DevClock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl DevClock {
    /// A clock `offset_ms` ahead of the system's.
    pub fn new(offset_ms: i64) -> Self {
        Self { offset_ms: std::sync::atomic::AtomicI64::new(offset_ms) }
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::SeqCst);
    }

    /// The system clock's time (without the offset).
    pub fn system_ms(&self) -> u64 {
        crate::SystemClock.now_millis()
    }
}

impl crate::Clock for DevClock {
    fn now_millis(&self) -> u64 {
        self.system_ms().saturating_add_signed(self.offset_ms())
    }
}

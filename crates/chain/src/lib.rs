//! The chain: takes transactions into the pool, builds blocks from it, commits them to storage
//! and announces them.
//!
//! Who decides *when* a block is sealed sits behind [`BlockProducer`]: on a dev node that is
//! [`DevProducer`] (one validator, a block every `block_time` while transactions wait); a BFT
//! engine with several validators takes its place later without touching the rest.

mod chain;
mod producer;

pub use chain::{Chain, ChainError, Head, MAX_FUTURE_DRIFT_MS, MAX_PENDING_BLOCKS, NewBlock, PendingBlock};
pub use ls_primitives::clock::{Clock, ManualClock, SystemClock};
pub use producer::{BlockProducer, DevClock, DevProducer, MiningMode};

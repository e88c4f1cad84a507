//! The transaction pool.
//!
//! Transactions are validated as geth validates them (same error messages), kept per sender in
//! nonce order, and split into *pending* (a contiguous run from the sender's state nonce: ready
//! for the next block) and *queued* (after a nonce gap). A pending transaction can be replaced by
//! one with the same nonce paying at least `price_bump_percent` more. The pool is bounded: when
//! full, the cheapest transaction at the tail of some sender's run (never one that would leave a
//! gap) is evicted for a better-paying newcomer.
//!
//! [`TxPool::best`] yields executable transactions for a block: per sender in nonce order, across
//! senders highest effective tip first, and lets the block builder skip the rest of a sender
//! whose transaction failed.

mod error;
pub mod fuzzing;
mod intrinsic;
mod pool;

pub use error::PoolError;
pub use intrinsic::{MAX_INITCODE_SIZE, intrinsic_gas};
pub use pool::{BestTxs, PoolConfig, PooledTx, StateView, TxPool};

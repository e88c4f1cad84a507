//! BFT finality for the chain, on commonware (`=2026.10.0`): `simplex` orders block digests
//! among the validators, `marshal` delivers finalized blocks in order (backfilling what a node
//! missed), and `ls-chain` builds, verifies and commits the blocks. Consensus knows nothing of
//! the EVM; the chain knows nothing of views and votes.
//!
//! - [`Block`]: an Ethereum block on the wire (RLP header, EIP-2718 transactions, bounded
//!   decoding), identified by its Ethereum hash.
//! - [`ChainApp`]: marshal's `Application`: `propose` waits for the parent's time plus the block
//!   time and calls [`ls_chain::Chain::propose`]; `verify` calls [`ls_chain::Chain::verify`].
//! - [`Finalizer`]: commits what marshal delivers as final ([`ls_chain::Chain::finalize`]).
//! - [`gossip_transactions`]: pending transactions go to every peer, batched and checked.
//! - [`start_validator`]: the wiring, generic over runtime and network; with
//!   [`Identity::Follower`] the same parts make a full node that verifies and commits what the
//!   validators finalize.

mod app;
mod block;
mod engine;
mod gossip;
mod sets;

pub use app::{ChainApp, Ctx, Finalizer, RuntimeClock, commit_final};
pub use gossip::{BATCH_DELAY, MAX_BATCH, decode_batch, encode_batch, gossip_transactions};
pub use sets::EpochSets;
pub use block::{Block, BlockLimits, Digest, MAX_HEADER_BYTES};
pub use engine::{
    CH_BACKFILL, CH_BLOCKS, CH_TXS, CH_CERTIFICATES, CH_RESOLVER, CH_VOTES, Channels, Identity, Runtime, Validator, ValidatorConfig,
    epocher, max_message_size, quota, start_validator, start_validator_with,
};

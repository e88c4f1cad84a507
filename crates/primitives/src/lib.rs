//! Shared types of the Lightstreams chain: the chain spec, genesis allocation, the dev accounts
//! and the on-disk encodings of blocks and state records.
//!
//! Everything here is plain data; no I/O. Ethereum types come from alloy and are re-exported so
//! the rest of the workspace names one version of them.

pub mod chainspec;
pub mod clock;
pub mod dev;
pub mod expiring;
pub mod network;
pub mod types;

pub use alloy_consensus;
pub use alloy_eips;
pub use alloy_primitives;
pub use alloy_rlp;
pub use alloy_trie;
pub use chainspec::{ChainSpec, GenesisAccount, timestamp_ms};
pub use types::{SealedBlock, StoredReceipt};

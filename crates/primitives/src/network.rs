//! A validator network's description, shared by every node of it (`network.json`), and one
//! node's configuration (`config.toml`).

use std::{net::SocketAddr, path::PathBuf};

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::ChainSpec;

/// One validator as every node knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Validator {
    /// Its Ethereum account: the beneficiary of the blocks it proposes and its identity in the
    /// key-release committee.
    pub address: Address,
    /// Its ed25519 consensus public key, hex (32 bytes).
    pub consensus_key: String,
    /// Where its consensus network listens.
    pub consensus_addr: SocketAddr,
    /// Its JSON-RPC endpoint (readers ask it for key shares).
    pub rpc_url: String,
}

/// A full node as the validators know it: they accept its connection on the consensus network
/// and send it what they finalize; it never votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Follower {
    /// Its ed25519 network key, hex (32 bytes).
    pub consensus_key: String,
    /// The address it connects from and listens on.
    pub consensus_addr: SocketAddr,
}

/// Everything that defines a validator network: the chain (genesis), the validator set (static
/// for now; see docs/decisions.md) and the key-release committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    pub chain: ChainSpec,
    pub validators: Vec<Validator>,
    /// The key-release committee (`ls_access::CommitteePublic`), hex.
    pub committee: String,
    /// Time between blocks, in milliseconds.
    pub block_time_ms: u64,
    /// Full nodes the validators let in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followers: Vec<Follower>,
}

impl NetworkSpec {
    /// Checks what a node relies on before it starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.validators.is_empty() {
            return Err("the network has no validators".into());
        }
        let mut keys: Vec<&str> = self.validators.iter().map(|v| v.consensus_key.as_str()).collect();
        keys.extend(self.followers.iter().map(|f| f.consensus_key.as_str()));
        keys.sort_unstable();
        keys.dedup();
        if keys.len() != self.validators.len() + self.followers.len() {
            return Err("two nodes (validators or followers) share a consensus key".into());
        }
        let mut addrs: Vec<Address> = self.validators.iter().map(|v| v.address).collect();
        addrs.sort_unstable();
        addrs.dedup();
        if addrs.len() != self.validators.len() {
            return Err("two validators share an address".into());
        }
        if self.block_time_ms == 0 {
            return Err("blockTimeMs must be positive".into());
        }
        Ok(())
    }
}

/// One node's configuration file. Relative paths are relative to the file's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the chain, content and keys of this node live.
    pub datadir: PathBuf,
    /// The network's `network.json`.
    pub network: PathBuf,
    pub rpc_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    /// Where this node's consensus network listens (validators and full nodes alike).
    pub consensus_addr: SocketAddr,
    /// This validator's ed25519 consensus key file; absent on a full node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_key: Option<PathBuf>,
    /// A full node's ed25519 key on the consensus network (its public half is listed under
    /// `followers` in the network file); absent on a validator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_key: Option<PathBuf>,
    /// This validator's Ethereum key file (hex), for the beneficiary and key release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<PathBuf>,
    /// Prometheus metrics address; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<SocketAddr>,
    /// Where the IPFS swarm listens (a multiaddr); `--p2p-addr` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_addr: Option<String>,
    /// IPFS peers dialled at start (multiaddrs ending in `/p2p/<peer id>`), added to
    /// `--bootstrap`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap: Vec<String>,
}

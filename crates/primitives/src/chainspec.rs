//! Chain parameters and the genesis block.

use std::collections::BTreeMap;

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, constants::EMPTY_WITHDRAWALS};
use alloy_eips::{eip1559::BaseFeeParams, eip7685::EMPTY_REQUESTS_HASH};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use serde::{Deserialize, Serialize};

/// Default chain id of a dev node (the same as hardhat's and ganache's).
pub const DEV_CHAIN_ID: u64 = 1337;
/// Default block gas limit. Large enough for ~4 700 plain transfers per block, so 250 ms blocks
/// can carry well over 10 000 transfers per second.
pub const DEFAULT_GAS_LIMIT: u64 = 100_000_000;
/// Base fee of the genesis block (1 gwei, as on mainnet at London).
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// One account in the genesis allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    pub balance: U256,
    #[serde(default)]
    pub nonce: u64,
    #[serde(default)]
    pub code: Bytes,
    #[serde(default)]
    pub storage: BTreeMap<B256, B256>,
}

/// Everything that defines a chain: two nodes with equal specs produce the same genesis hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    pub chain_id: u64,
    pub gas_limit: u64,
    pub genesis_timestamp: u64,
    pub initial_base_fee: u64,
    /// The address credited with priority fees (the validator's; the dev signer on a dev chain).
    pub coinbase: Address,
    pub alloc: BTreeMap<Address, GenesisAccount>,
}

impl ChainSpec {
    /// EIP-1559 parameters (Ethereum's: elasticity 2, max change 1/8).
    pub fn base_fee_params(&self) -> BaseFeeParams {
        BaseFeeParams::ethereum()
    }

    /// The genesis header, given the state root of [`Self::alloc`] (computed by the storage layer,
    /// which owns the trie).
    pub fn genesis_header(&self, state_root: B256) -> Header {
        Header {
            parent_hash: B256::ZERO,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::ZERO,
            state_root,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            difficulty: U256::ZERO,
            number: 0,
            gas_limit: self.gas_limit,
            gas_used: 0,
            timestamp: self.genesis_timestamp,
            extra_data: Bytes::from_static(b"lightstreams"),
            mix_hash: B256::ZERO,
            nonce: Default::default(),
            base_fee_per_gas: Some(self.initial_base_fee),
            withdrawals_root: Some(EMPTY_WITHDRAWALS),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            block_access_list_hash: None,
            slot_number: None,
        }
    }

    /// The base fee of the block after `parent` (EIP-1559).
    pub fn next_base_fee(&self, parent: &Header) -> u64 {
        parent.next_block_base_fee(self.base_fee_params()).unwrap_or(self.initial_base_fee)
    }

    /// The header template of the child of `parent`: every field that does not depend on the
    /// block's transactions. The executor fills in roots, bloom and gas used.
    pub fn child_header(&self, parent: &Header, parent_hash: B256, timestamp: u64) -> Header {
        let base_fee = self.next_base_fee(parent);
        Header {
            parent_hash,
            beneficiary: self.coinbase,
            number: parent.number + 1,
            gas_limit: self.gas_limit,
            gas_used: 0,
            // Sub-second blocks may share a second; time never goes backwards.
            timestamp: timestamp.max(parent.timestamp),
            base_fee_per_gas: Some(base_fee),
            state_root: B256::ZERO,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            extra_data: Bytes::new(),
            ..self.genesis_header(B256::ZERO)
        }
    }
}

/// A block's time in milliseconds. Blocks come faster than one a second, so the header's
/// `timestamp` (seconds, as Ethereum tools expect) is not enough to space them: the exact
/// milliseconds ride in `extra_data` as 8 big-endian bytes, and `timestamp` is their second.
/// A header without them (genesis, blocks of older nodes) is at the start of its second.
pub fn timestamp_ms(header: &Header) -> u64 {
    match <[u8; 8]>::try_from(header.extra_data.as_ref()) {
        Ok(ms) => u64::from_be_bytes(ms),
        Err(_) => header.timestamp.saturating_mul(1000),
    }
}

impl ChainSpec {
    /// [`Self::child_header`] at `timestamp_ms` (never before the parent's), recorded as
    /// [`timestamp_ms`] reads it.
    pub fn child_header_ms(&self, parent: &Header, parent_hash: B256, timestamp_ms: u64) -> Header {
        let ms = timestamp_ms.max(crate::chainspec::timestamp_ms(parent));
        let mut header = self.child_header(parent, parent_hash, ms / 1000);
        header.timestamp = ms / 1000;
        header.extra_data = Bytes::copy_from_slice(&ms.to_be_bytes());
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_base_fee_follows_eip1559() {
        let spec = crate::dev::dev_chain_spec(DEV_CHAIN_ID, DEFAULT_GAS_LIMIT, 0);
        let genesis = spec.genesis_header(EMPTY_ROOT_HASH);
        // An empty parent lowers the base fee by 1/8.
        let child = spec.child_header(&genesis, genesis.hash_slow(), 5);
        assert_eq!(child.base_fee_per_gas, Some(INITIAL_BASE_FEE - INITIAL_BASE_FEE / 8));
        assert_eq!(child.number, 1);
        assert_eq!(child.parent_hash, genesis.hash_slow());
        // A full parent raises it by 1/8.
        let mut full = child.clone();
        full.gas_used = full.gas_limit;
        let grandchild = spec.child_header(&full, full.hash_slow(), 1);
        let bf = child.base_fee_per_gas.unwrap();
        assert_eq!(grandchild.base_fee_per_gas, Some(bf + bf / 8));
        // Timestamps never go backwards.
        assert_eq!(grandchild.timestamp, 5);
    }

    #[test]
    fn milliseconds_ride_in_extra_data() {
        let spec = crate::dev::dev_chain_spec(DEV_CHAIN_ID, DEFAULT_GAS_LIMIT, 7);
        let genesis = spec.genesis_header(EMPTY_ROOT_HASH);
        assert_eq!(timestamp_ms(&genesis), 7_000);
        let child = spec.child_header_ms(&genesis, genesis.hash_slow(), 9_250);
        assert_eq!((child.timestamp, timestamp_ms(&child)), (9, 9_250));
        // Never before the parent, to the millisecond.
        let grandchild = spec.child_header_ms(&child, child.hash_slow(), 9_100);
        assert_eq!((grandchild.timestamp, timestamp_ms(&grandchild)), (9, 9_250));
    }
}

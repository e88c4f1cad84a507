//! The block as consensus and the network see it: an Ethereum block (RLP header and EIP-2718
//! transactions), identified by its Ethereum hash.

use std::sync::Arc;

use alloy_consensus::{Header, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_rlp::{Decodable, Encodable};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::{Digestible, keccak256};
use ls_primitives::SealedBlock;

/// A block's identity for consensus: its Ethereum hash (keccak-256 of the RLP header).
pub type Digest = keccak256::Digest;

/// Largest encoded header accepted (a header with 8 bytes of extra data is about 600 bytes).
pub const MAX_HEADER_BYTES: usize = 4 * 1024;

/// Limits on a block received from the network, checked while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// Largest encoded transaction (the pool's limit).
    pub max_tx_bytes: usize,
    /// Largest encoded block.
    pub max_block_bytes: usize,
}

impl Default for BlockLimits {
    fn default() -> Self {
        // 100 M gas holds at most ~4 800 transfers; calldata is bounded by gas as well.
        Self { max_txs: 20_000, max_tx_bytes: 128 * 1024, max_block_bytes: 16 * 1024 * 1024 }
    }
}

/// An Ethereum block carried by consensus. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block(pub Arc<SealedBlock>);

impl Block {
    pub fn new(block: SealedBlock) -> Self {
        Self(Arc::new(block))
    }

    pub fn sealed(&self) -> &SealedBlock {
        &self.0
    }

    pub fn digest_of(hash: alloy_primitives::B256) -> Digest {
        keccak256::Digest(hash.0)
    }

    fn header_rlp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.header.length());
        self.0.header.encode(&mut out);
        out
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header_rlp().write(buf);
        (self.0.transactions.len() as u32).write(buf);
        for tx in &self.0.transactions {
            let mut raw = Vec::with_capacity(tx.encode_2718_len());
            tx.encode_2718(&mut raw);
            raw.write(buf);
        }
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        let mut size = self.header_rlp().encode_size() + 0u32.encode_size();
        for tx in &self.0.transactions {
            let len = tx.encode_2718_len();
            size += commonware_codec::varint::UInt(len as u32).encode_size() + len;
        }
        size
    }
}

fn bad(what: &'static str, e: impl std::fmt::Display) -> CodecError {
    CodecError::Wrapped(what, e.to_string().into())
}

impl Read for Block {
    type Cfg = BlockLimits;

    fn read_cfg(buf: &mut impl Buf, limits: &BlockLimits) -> Result<Self, CodecError> {
        let header_rlp = Vec::<u8>::read_cfg(buf, &(commonware_codec::RangeCfg::new(..=MAX_HEADER_BYTES), ()))?;
        let mut slice = header_rlp.as_slice();
        let header = Header::decode(&mut slice).map_err(|e| bad("header", e))?;
        if !slice.is_empty() {
            return Err(CodecError::Invalid("header", "trailing bytes"));
        }
        let count = u32::read(buf)? as usize;
        if count > limits.max_txs {
            return Err(CodecError::InvalidLength(count));
        }
        let mut transactions = Vec::with_capacity(count.min(1024));
        let mut total = header_rlp.len();
        for _ in 0..count {
            let raw = Vec::<u8>::read_cfg(buf, &(commonware_codec::RangeCfg::new(..=limits.max_tx_bytes), ()))?;
            total += raw.len();
            if total > limits.max_block_bytes {
                return Err(CodecError::InvalidLength(total));
            }
            let mut slice = raw.as_slice();
            let tx = TxEnvelope::decode_2718(&mut slice).map_err(|e| bad("transaction", e))?;
            if !slice.is_empty() {
                return Err(CodecError::Invalid("transaction", "trailing bytes"));
            }
            transactions.push(tx);
        }
        // Senders are recovered when the block is verified, never taken from the wire.
        Ok(Self::new(SealedBlock::new(header, transactions, Vec::new())))
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        Self::digest_of(self.0.hash)
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.0.header.number)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        Self::digest_of(self.0.header.parent_hash)
    }
}

impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(limits: &BlockLimits) -> usize {
        // Header and count prefixes, each transaction's length prefix, the bytes themselves.
        MAX_HEADER_BYTES + 16 + limits.max_txs * 5 + limits.max_block_bytes
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, Bytes, U256};
    use commonware_codec::{Copying, Decode, Encode};
    use ls_primitives::dev::{dev_chain_spec, dev_signer};

    use super::*;

    fn block(txs: usize) -> Block {
        let spec = dev_chain_spec(1337, 30_000_000, 0);
        let genesis = spec.genesis_header(alloy_primitives::B256::ZERO);
        let header = spec.child_header_ms(&genesis, genesis.hash_slow(), 1_234);
        let signer = dev_signer(0);
        let transactions = (0..txs as u64)
            .map(|n| ls_testkit::eip1559(&signer, n, Some(Address::ZERO), U256::from(n), Bytes::new(), 21_000).into_inner())
            .collect();
        Block::new(SealedBlock::new(header, transactions, vec![]))
    }

    #[test]
    fn round_trips_and_keeps_the_ethereum_hash() {
        for n in [0, 1, 50] {
            let b = block(n);
            let bytes = b.encode();
            assert_eq!(bytes.len(), b.encode_size());
            let back = Block::decode_cfg(bytes, &BlockLimits::default()).unwrap();
            assert_eq!(back.0.hash, b.0.hash);
            assert_eq!(back.0.transactions, b.0.transactions);
            assert_eq!(back.digest().0, b.0.hash.0);
            assert_eq!(commonware_consensus::Block::parent(&back).0, b.0.header.parent_hash.0);
        }
    }

    #[test]
    fn refuses_what_exceeds_the_limits_or_is_garbage() {
        let b = block(3);
        let bytes = b.encode();
        let tight = BlockLimits { max_txs: 2, ..Default::default() };
        assert!(Block::decode_cfg(bytes.clone(), &tight).is_err());
        let tiny = BlockLimits { max_block_bytes: 100, ..Default::default() };
        assert!(Block::decode_cfg(bytes.clone(), &tiny).is_err());
        // Every truncation and a trailing byte are refused.
        for cut in 0..bytes.len() {
            assert!(Block::decode_cfg(Copying(&bytes[..cut]), &BlockLimits::default()).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Block::decode_cfg(Copying(longer.as_slice()), &BlockLimits::default()).is_err());
        // Noise never panics.
        for seed in 0..200u64 {
            let noise = ls_testkit::noise(seed, (seed as usize * 37) % 3000);
            let _ = Block::decode_cfg(Copying(noise.as_slice()), &BlockLimits::default());
        }
    }
}

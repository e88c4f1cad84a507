//! Blocks and receipts as the node stores and serves them.

use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

/// A block with its hash and the recovered sender of each transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlock {
    pub header: Header,
    pub hash: B256,
    pub transactions: Vec<TxEnvelope>,
    pub senders: Vec<Address>,
}

impl SealedBlock {
    pub fn new(header: Header, transactions: Vec<TxEnvelope>, senders: Vec<Address>) -> Self {
        let hash = header.hash_slow();
        Self { header, hash, transactions, senders }
    }

    pub fn number(&self) -> u64 {
        self.header.number
    }
}

/// The body of a block as stored: EIP-2718 encoded transactions and their senders.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredBody {
    pub transactions: Vec<Bytes>,
    pub senders: Vec<Address>,
}

impl StoredBody {
    pub fn from_block(block: &SealedBlock) -> Self {
        Self {
            transactions: block.transactions.iter().map(|t| Bytes::from(t.encoded_2718())).collect(),
            senders: block.senders.clone(),
        }
    }

    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.length());
        self.encode(&mut out);
        out
    }

    pub fn decode_parts(mut bytes: &[u8]) -> Result<(Vec<TxEnvelope>, Vec<Address>), alloy_rlp::Error> {
        let body = Self::decode(&mut bytes)?;
        let txs = body
            .transactions
            .iter()
            .map(|raw| TxEnvelope::decode_2718(&mut raw.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| alloy_rlp::Error::Custom("stored transaction does not decode"))?;
        Ok((txs, body.senders))
    }
}

/// A consensus receipt (status, cumulative gas, bloom, logs) as stored per transaction.
pub type StoredReceipt = ReceiptEnvelope;

/// Encodes a block's receipts as an RLP list of EIP-2718 envelopes.
pub fn encode_receipts(receipts: &[StoredReceipt]) -> Vec<u8> {
    let items: Vec<Bytes> = receipts.iter().map(|r| Bytes::from(r.encoded_2718())).collect();
    let mut out = Vec::new();
    items.encode(&mut out);
    out
}

/// Inverse of [`encode_receipts`].
pub fn decode_receipts(mut bytes: &[u8]) -> Result<Vec<StoredReceipt>, alloy_rlp::Error> {
    let items = Vec::<Bytes>::decode(&mut bytes)?;
    items
        .iter()
        .map(|raw| {
            ReceiptEnvelope::decode_2718(&mut raw.as_ref())
                .map_err(|_| alloy_rlp::Error::Custom("stored receipt does not decode"))
        })
        .collect()
}

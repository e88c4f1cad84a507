//! The identity a file key is wrapped to.

use alloy_primitives::{Address, B256};

/// Namespace of every key-release identity and signature (the BLS "message namespace").
///
/// Signing under a namespace of its own means a partial signature produced for key release is
/// useless for anything else the committee might sign with the same key, and the reverse.
pub const IDENTITY_NAMESPACE: &[u8] = b"LIGHTSTREAMS_KEY_RELEASE_V1";

/// Length of an encoded identity: chain id (8) ‖ registry (20) ‖ file id (32) ‖ version (8).
pub const IDENTITY_LEN: usize = 8 + 20 + 32 + 8;

/// The IBE identity of one version of one file on one chain's FileRegistry.
///
/// Every field has a fixed width, so two different tuples never encode to the same bytes. A
/// validator derives it from its own chain id and registry address and from the file's current
/// on-chain version, never from bytes a requester sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity([u8; IDENTITY_LEN]);

impl Identity {
    /// The encoded identity (the message the committee signs, under [`IDENTITY_NAMESPACE`]).
    pub const fn as_bytes(&self) -> &[u8; IDENTITY_LEN] {
        &self.0
    }
}

impl AsRef<[u8]> for Identity {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Identity(0x{})", hex::encode(self.0))
    }
}

/// Derives the identity of `version` of `file_id` registered in the FileRegistry at `registry`
/// on chain `chain_id`: big-endian chain id, registry address, file id, big-endian version.
pub fn identity(chain_id: u64, registry: Address, file_id: B256, version: u64) -> Identity {
    let mut out = [0u8; IDENTITY_LEN];
    out[..8].copy_from_slice(&chain_id.to_be_bytes());
    out[8..28].copy_from_slice(registry.as_slice());
    out[28..60].copy_from_slice(file_id.as_slice());
    out[60..].copy_from_slice(&version.to_be_bytes());
    Identity(out)
}

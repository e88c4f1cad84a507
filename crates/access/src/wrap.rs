//! Wrapping a file key to an identity, partial releases, and unwrapping with `t` of them.

use crate::committee::{Bls, CommitteePublic, GROUP_KEY_LEN};
use crate::identity::{IDENTITY_NAMESPACE, Identity};
use commonware_codec::{Copying, DecodeExt, Encode, FixedSize};
use commonware_cryptography::bls12381::{
    primitives::{
        group::Share,
        ops::{self, threshold},
        variant::PartialSignature,
    },
    tle::{self, Block, Ciphertext},
};
use commonware_parallel::Sequential;
use rand_core::CryptoRng;
use std::collections::BTreeMap;
use zeroize::{Zeroize, Zeroizing};

/// Length of a file key.
pub const FILE_KEY_LEN: usize = 32;

/// Format byte leading an encoded [`WrappedKey`]: BLS12-381 MinPk Boneh–Franklin IBE with the
/// FO transform (commonware `tle`), identity under [`IDENTITY_NAMESPACE`].
pub const WRAPPED_KEY_FORMAT_V1: u8 = 1;

/// Length of an encoded [`WrappedKey`]: format byte, `U` (compressed G1, 48), `V` (32), `W` (32).
pub const WRAPPED_KEY_LEN: usize = 1 + GROUP_KEY_LEN + 2 * <Block as FixedSize>::SIZE;

/// Errors wrapping a file key or decoding a wrapped key or a partial.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WrapError {
    /// The committee's group key is the identity element (no one's key; refuse to encrypt).
    #[error("the committee's group public key is invalid")]
    InvalidGroupKey,
    /// Bytes that are not a wrapped key.
    #[error("malformed wrapped key: {0}")]
    MalformedWrappedKey(String),
    /// Bytes that are not a partial release.
    #[error("malformed partial release: {0}")]
    MalformedPartial(String),
}

/// Why a file key could not be unwrapped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnwrapError {
    /// Fewer than `threshold` distinct members returned a partial that verifies for this
    /// identity.
    #[error(
        "only {valid} of {required} key shares answered validly ({invalid} invalid); validators down or access refused?"
    )]
    NotEnoughPartials {
        /// Distinct members whose partial verified.
        valid: usize,
        /// The committee's threshold.
        required: u32,
        /// Partials that did not verify (wrong identity, wrong member, corrupt).
        invalid: usize,
    },
    /// Interpolation failed or gave a signature the group key does not verify.
    #[error("recovering the identity's signature from the partials failed")]
    Recovery,
    /// The signature is right but the wrapped key was not made for this identity (or is corrupt).
    #[error("the wrapped key does not belong to this file version (or is corrupt)")]
    WrongIdentity,
}

/// A file key wrapped to an [`Identity`] under the committee's group public key.
///
/// Anyone can make one; only a BLS signature by the group key on the identity (which takes
/// `threshold` members) unwraps it. Stable encoding: [`WRAPPED_KEY_LEN`] bytes (see
/// [`Self::to_bytes`]), or their 0x-hex for the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey(Ciphertext<Bls>);

impl WrappedKey {
    /// Format byte [`WRAPPED_KEY_FORMAT_V1`] followed by the commonware encoding of the
    /// ciphertext (`U ‖ V ‖ W`).
    pub fn to_bytes(&self) -> [u8; WRAPPED_KEY_LEN] {
        let mut out = [0u8; WRAPPED_KEY_LEN];
        out[0] = WRAPPED_KEY_FORMAT_V1;
        // U (FixedSize G1) ‖ V ‖ W (32 bytes each): always WRAPPED_KEY_LEN - 1 bytes.
        out[1..].copy_from_slice(&self.0.encode());
        out
    }

    /// Decodes [`Self::to_bytes`] (checks that `U` is a valid G1 point in the subgroup).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WrapError> {
        let malformed = |e: &str| WrapError::MalformedWrappedKey(e.to_string());
        if bytes.len() != WRAPPED_KEY_LEN {
            return Err(malformed("wrong length"));
        }
        if bytes[0] != WRAPPED_KEY_FORMAT_V1 {
            return Err(malformed("unknown format byte"));
        }
        Ciphertext::<Bls>::decode(Copying(&bytes[1..]))
            .map(Self)
            .map_err(|e| WrapError::MalformedWrappedKey(e.to_string()))
    }

    /// [`Self::to_bytes`] as 0x-prefixed lowercase hex (the manifest's form).
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.to_bytes()))
    }

    /// Decodes [`Self::to_hex`] (the 0x prefix is optional).
    pub fn from_hex(s: &str) -> Result<Self, WrapError> {
        let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
            .map_err(|e| WrapError::MalformedWrappedKey(e.to_string()))?;
        Self::from_bytes(&bytes)
    }
}

/// One member's BLS partial signature on an identity, tagged with its share index.
///
/// It is not secret on its own (fewer than `threshold` reveal nothing), but `threshold` of them
/// are the file key, so releasers only hand them out sealed to a reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialRelease(PartialSignature<Bls>);

impl PartialRelease {
    /// Signs `identity` with `share`. This is the primitive; in a node only the
    /// [`Releaser`](crate::Releaser) calls it, after its checks.
    pub fn sign(share: &Share, identity: &Identity) -> Self {
        Self(threshold::sign_message::<Bls>(
            share,
            IDENTITY_NAMESPACE,
            identity.as_ref(),
        ))
    }

    /// The signer's share index (its position in [`CommitteePublic::members`]).
    pub const fn index(&self) -> u32 {
        self.0.index.get()
    }

    /// Checks the partial against the signer's public share (from the public polynomial).
    pub fn verify(&self, committee: &CommitteePublic, identity: &Identity) -> bool {
        threshold::verify_message::<Bls>(
            committee.sharing(),
            IDENTITY_NAMESPACE,
            identity.as_ref(),
            &self.0,
        )
        .is_ok()
    }

    /// Commonware encoding: share index (varint) then the compressed G2 signature (96 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.encode().to_vec()
    }

    /// Decodes [`Self::to_bytes`] (checks the point is in G2's subgroup, rejects trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WrapError> {
        PartialSignature::<Bls>::decode(Copying(bytes))
            .map(Self)
            .map_err(|e| WrapError::MalformedPartial(e.to_string()))
    }
}

/// Wraps `file_key` to `identity` under the committee's group public key (IBE encryption; no
/// member is contacted). Randomised: wrapping twice gives different bytes.
pub fn wrap_file_key(
    rng: &mut impl CryptoRng,
    committee: &CommitteePublic,
    identity: &Identity,
    file_key: &[u8; FILE_KEY_LEN],
) -> Result<WrappedKey, WrapError> {
    let mut block = Block::new(*file_key);
    let out = tle::encrypt::<_, Bls>(
        rng,
        *committee.sharing().public(),
        (IDENTITY_NAMESPACE, identity.as_ref()),
        &block,
    );
    block.zeroize();
    out.map(WrappedKey).map_err(|_| WrapError::InvalidGroupKey)
}

/// Unwraps a file key with partials from at least `threshold` distinct members.
///
/// Every partial is verified against the public polynomial first; ones that do not verify (for
/// another identity, from a non-member index, corrupt) and repeats of an index are ignored, and
/// if fewer than `threshold` valid ones remain the error says how many there were. The
/// recovered signature is verified against the group key before it is used to decrypt.
pub fn unwrap_file_key(
    committee: &CommitteePublic,
    identity: &Identity,
    wrapped: &WrappedKey,
    partials: &[PartialRelease],
) -> Result<Zeroizing<[u8; FILE_KEY_LEN]>, UnwrapError> {
    let mut valid = BTreeMap::new();
    let mut invalid = 0;
    for p in partials {
        if valid.contains_key(&p.index()) {
            continue;
        }
        if p.verify(committee, identity) {
            valid.insert(p.index(), &p.0);
        } else {
            invalid += 1;
        }
    }
    let required = committee.threshold();
    if valid.len() < required as usize {
        return Err(UnwrapError::NotEnoughPartials {
            valid: valid.len(),
            required,
            invalid,
        });
    }
    let sharing = committee.sharing();
    let signature = threshold::recover::<Bls, _>(sharing, valid.values().copied(), &Sequential)
        .map_err(|_| UnwrapError::Recovery)?;
    ops::verify_message::<Bls>(
        sharing.public(),
        IDENTITY_NAMESPACE,
        identity.as_ref(),
        &signature,
    )
    .map_err(|_| UnwrapError::Recovery)?;
    let mut block =
        tle::decrypt::<Bls>(&signature, &wrapped.0).ok_or(UnwrapError::WrongIdentity)?;
    let mut key = Zeroizing::new([0u8; FILE_KEY_LEN]);
    key.copy_from_slice(block.as_ref());
    block.zeroize();
    Ok(key)
}

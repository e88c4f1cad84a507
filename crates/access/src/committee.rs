//! The committee's public description and a trusted dealer.

use alloy_primitives::Address;
use commonware_codec::{Copying, Encode, Read};
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt,
    primitives::{
        group::Share,
        sharing::{Mode, ModeVersion, Sharing},
        variant::{MinPk, Variant},
    },
};
use commonware_utils::{N3f1, TryCollect, ordered::Set};
use core::num::NonZeroU32;
use rand_core::CryptoRng;
use std::collections::HashSet;

/// The BLS12-381 variant used throughout: public keys (and the IBE ciphertext's `U`) in G1
/// (48 bytes), signatures and partials in G2 (96 bytes).
pub type Bls = MinPk;

/// Length of the group public key in bytes.
pub const GROUP_KEY_LEN: usize = <<Bls as Variant>::Public as commonware_codec::FixedSize>::SIZE;

/// Largest committee this crate encodes, decodes or deals (bounds work done on decoding).
pub const MAX_COMMITTEE: u32 = 1024;

/// Format byte leading an encoded [`CommitteePublic`].
const COMMITTEE_FORMAT_V1: u8 = 1;

/// Errors building, dealing or decoding a committee.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommitteeError {
    /// No members.
    #[error("a committee needs at least one member")]
    Empty,
    /// More than [`MAX_COMMITTEE`] members.
    #[error("a committee has at most {MAX_COMMITTEE} members, got {0}")]
    TooLarge(usize),
    /// The same address twice.
    #[error("committee member {0} is listed twice")]
    DuplicateMember(Address),
    /// The member list does not match the public polynomial.
    #[error("the public polynomial is for {sharing} members but {members} are listed")]
    MemberCountMismatch {
        /// Members the polynomial was dealt for.
        sharing: u32,
        /// Addresses listed.
        members: usize,
    },
    /// The bytes are not an encoded committee.
    #[error("malformed committee encoding: {0}")]
    Malformed(String),
    /// The dealer refused (should not happen for a valid member list).
    #[error("dealing failed: {0}")]
    Deal(String),
}

/// What everyone may know about the key-release committee: the public polynomial (whose
/// constant term is the group public key and which fixes the threshold) and the members, whose
/// position in [`Self::members`] is their share index.
///
/// It contains no secret. Readers use it to wrap file keys and to verify partials; validators
/// use it to check their own share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitteePublic {
    sharing: Sharing<Bls>,
    members: Vec<Address>,
}

impl CommitteePublic {
    /// Pairs a public polynomial with the members it was dealt to (member `i` holds share `i`).
    pub fn new(sharing: Sharing<Bls>, members: Vec<Address>) -> Result<Self, CommitteeError> {
        check_members(&members)?;
        if sharing.total().get() as usize != members.len() {
            return Err(CommitteeError::MemberCountMismatch {
                sharing: sharing.total().get(),
                members: members.len(),
            });
        }
        Ok(Self { sharing, members })
    }

    /// Number of partials needed to release a key (degree of the polynomial + 1).
    pub fn threshold(&self) -> u32 {
        self.sharing.required()
    }

    /// Number of members.
    pub const fn size(&self) -> u32 {
        self.sharing.total().get()
    }

    /// The members, in share-index order.
    pub fn members(&self) -> &[Address] {
        &self.members
    }

    /// The share index of `member`, if it is one.
    pub fn member_index(&self, member: Address) -> Option<u32> {
        self.members
            .iter()
            .position(|m| *m == member)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The group public key (the IBE master public key), compressed G1.
    pub fn group_public_key(&self) -> [u8; GROUP_KEY_LEN] {
        let mut out = [0u8; GROUP_KEY_LEN];
        // G1 encodes to its FixedSize, which is GROUP_KEY_LEN: the lengths always match.
        out.copy_from_slice(&self.sharing.public().encode());
        out
    }

    /// The public polynomial.
    pub const fn sharing(&self) -> &Sharing<Bls> {
        &self.sharing
    }

    /// Stable encoding: format byte 1, the commonware encoding of the public polynomial
    /// (mode, member count, coefficients), then the member count (u32 big-endian) and the
    /// 20-byte addresses.
    pub fn to_bytes(&self) -> Vec<u8> {
        let sharing = self.sharing.encode();
        let mut out = Vec::with_capacity(1 + sharing.len() + 4 + 20 * self.members.len());
        out.push(COMMITTEE_FORMAT_V1);
        out.extend_from_slice(&sharing);
        // `new` bounds members to MAX_COMMITTEE, so the count fits in u32.
        out.extend_from_slice(&(self.members.len() as u32).to_be_bytes());
        for m in &self.members {
            out.extend_from_slice(m.as_slice());
        }
        out
    }

    /// Decodes [`Self::to_bytes`]; any malformed or trailing input is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CommitteeError> {
        let malformed = |what: &str| CommitteeError::Malformed(what.to_string());
        let (&format, rest) = bytes.split_first().ok_or_else(|| malformed("empty"))?;
        if format != COMMITTEE_FORMAT_V1 {
            return Err(malformed("unknown format byte"));
        }
        let max = NonZeroU32::new(MAX_COMMITTEE).ok_or_else(|| malformed("bound"))?;
        let mut buf = Copying(rest);
        let sharing = Sharing::<Bls>::read_cfg(&mut buf, &(max, ModeVersion::v0()))
            .map_err(|e| CommitteeError::Malformed(e.to_string()))?;
        let (count, mut rest) = buf
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| malformed("truncated member count"))?;
        let count = u32::from_be_bytes(*count) as usize;
        if count > MAX_COMMITTEE as usize || rest.len() != count * 20 {
            return Err(malformed("member list length"));
        }
        let mut members = Vec::with_capacity(count);
        while let Some((addr, tail)) = rest.split_first_chunk::<20>() {
            members.push(Address::from(*addr));
            rest = tail;
        }
        Self::new(sharing, members)
    }

    /// [`Self::to_bytes`] as 0x-prefixed hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.to_bytes()))
    }

    /// Decodes [`Self::to_hex`] (the 0x prefix is optional).
    pub fn from_hex(s: &str) -> Result<Self, CommitteeError> {
        let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
            .map_err(|e| CommitteeError::Malformed(e.to_string()))?;
        Self::from_bytes(&bytes)
    }
}

fn check_members(members: &[Address]) -> Result<(), CommitteeError> {
    if members.is_empty() {
        return Err(CommitteeError::Empty);
    }
    if members.len() > MAX_COMMITTEE as usize {
        return Err(CommitteeError::TooLarge(members.len()));
    }
    let mut seen = HashSet::with_capacity(members.len());
    for m in members {
        if !seen.insert(*m) {
            return Err(CommitteeError::DuplicateMember(*m));
        }
    }
    Ok(())
}

/// The threshold a committee of `n` gets from [`deal`]: `n - f` with `f = ⌊(n-1)/3⌋` faults
/// tolerated (1 of 1, 3 of 4, 5 of 7, ...), so any `f` members may be down and no `f` colluding
/// members (indeed no fewer than `n - f`) can release a key.
pub fn threshold_for(n: u32) -> u32 {
    n - (n.saturating_sub(1) / 3)
}

/// A trusted dealer: draws a random master secret, shares it among `members` with threshold
/// [`threshold_for`]`(members.len())` and returns the public description plus one share per
/// member, in member order.
///
/// The dealer sees the master secret, so it must be trusted and must forget the shares it hands
/// out: fine for a dev node (one member, its own dealer) or a local testnet; a production
/// committee runs the DKG (`commonware_cryptography::bls12381::dkg::feldman_desmedt`) instead.
pub fn deal(
    rng: &mut impl CryptoRng,
    members: Vec<Address>,
) -> Result<(CommitteePublic, Vec<Share>), CommitteeError> {
    check_members(&members)?;
    // check_members bounds the length to MAX_COMMITTEE.
    let n = members.len() as u32;
    let players: Set<u32> = (0..n)
        .try_collect()
        .map_err(|_| CommitteeError::Deal("player set".into()))?;
    let (output, shares) =
        feldman_desmedt::deal::<Bls, u32, N3f1>(&mut *rng, Mode::NonZeroCounter, players)
            .map_err(|e| CommitteeError::Deal(e.to_string()))?;
    let committee = CommitteePublic::new(output.public().clone(), members)?;
    debug_assert_eq!(committee.threshold(), threshold_for(n));
    Ok((committee, shares.values().to_vec()))
}

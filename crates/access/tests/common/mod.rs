//! Shared fixtures: deterministic RNGs, committees, signers and requests.
#![allow(dead_code)]

use alloy_primitives::{Address, B256, address};
use alloy_signer_local::PrivateKeySigner;
use ls_access::{
    CommitteePublic, EphemeralSecret, InMemoryAcl, ManualClock, ReleaseDomain, ReleaseRequest,
    Releaser, ReleaserConfig, Share, SignedReleaseRequest, WrappedKey, deal, identity,
    wrap_file_key,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::sync::Arc;

pub const CHAIN_ID: u64 = 1337;
pub const REGISTRY: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
pub const DOMAIN: ReleaseDomain = ReleaseDomain {
    chain_id: CHAIN_ID,
    registry: REGISTRY,
};
/// 2023-11-14T22:13:20Z, in ms.
pub const T0_MILLIS: u64 = 1_700_000_000_000;
pub const T0: u64 = T0_MILLIS / 1000;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn signer(n: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(n)).expect("valid secp256k1 key")
}

pub fn members(n: usize) -> Vec<Address> {
    (0..n)
        .map(|i| Address::repeat_byte(0xa0 + i as u8))
        .collect()
}

pub fn committee(seed: u64, n: usize) -> (CommitteePublic, Vec<Share>) {
    deal(&mut rng(seed), members(n)).expect("deal")
}

/// A committee of `n` with a releaser per member, sharing one ACL and one clock, and one file
/// (version 1) whose key is wrapped to its identity.
pub struct Fixture {
    pub committee: CommitteePublic,
    pub acl: Arc<InMemoryAcl>,
    pub clock: ManualClock,
    pub releasers: Vec<Releaser<Arc<InMemoryAcl>, ManualClock>>,
    pub file_id: B256,
    pub file_key: [u8; 32],
    pub wrapped: WrappedKey,
}

impl Fixture {
    pub fn new(n: usize, config: ReleaserConfig) -> Self {
        let (committee, shares) = committee(7, n);
        let acl = Arc::new(InMemoryAcl::new());
        let clock = ManualClock::new(T0_MILLIS);
        let releasers = shares
            .into_iter()
            .map(|s| {
                Releaser::new(DOMAIN, &committee, s, acl.clone(), clock.clone(), config)
                    .expect("share belongs to committee")
            })
            .collect();
        let file_id = B256::repeat_byte(0x11);
        acl.set_version(file_id, 1);
        let file_key = [0x42; 32];
        let wrapped = wrap_file_key(
            &mut rng(99),
            &committee,
            &identity(CHAIN_ID, REGISTRY, file_id, 1),
            &file_key,
        )
        .expect("wrap");
        Self {
            committee,
            acl,
            clock,
            releasers,
            file_id,
            file_key,
            wrapped,
        }
    }
}

/// A request by `reader` for version 1 of `file_id`, valid for 60 s from T0.
pub fn request(
    seed: u64,
    reader: &PrivateKeySigner,
    file_id: B256,
    nonce: u64,
) -> (ReleaseRequest, EphemeralSecret) {
    let (secret, ephemeral_key) = EphemeralSecret::generate(&mut rng(seed));
    (
        ReleaseRequest {
            fileId: file_id,
            version: 1,
            reader: reader.address(),
            ephemeralKey: ephemeral_key,
            expiry: T0 + 60,
            nonce,
        },
        secret,
    )
}

pub fn sign(req: ReleaseRequest, by: &PrivateKeySigner) -> SignedReleaseRequest {
    SignedReleaseRequest::sign(DOMAIN, req, by).expect("sign")
}

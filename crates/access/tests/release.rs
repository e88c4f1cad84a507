//! The releaser's checks, the sealed answer, and the whole flow.

mod common;

use alloy_primitives::{Address, B256};
use common::*;
use ls_access::{
    EphemeralSecret, OpenError, RateLimit, ReleaseDomain, ReleaseError, Releaser, ReleaserConfig,
    ReleaserSetupError, RequestError, SIGNED_REQUEST_LEN, SealedPartial, SignedReleaseRequest, identity,
    open_sealed, unwrap_file_key,
};

fn fixture() -> Fixture {
    Fixture::new(1, ReleaserConfig::default())
}

#[test]
fn a_reader_with_access_gets_the_key_from_a_committee_of_one() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let (req, secret) = request(1, &reader, f.file_id, 1);
    let signed = sign(req, &reader);
    let sealed = f.releasers[0].release(&mut rng(2), &signed).unwrap();
    let partial = open_sealed(&secret, &sealed, &signed.request_hash()).unwrap();
    let id = identity(CHAIN_ID, REGISTRY, f.file_id, 1);
    assert!(partial.verify(&f.committee, &id));
    let key = unwrap_file_key(&f.committee, &id, &f.wrapped, &[partial]).unwrap();
    assert_eq!(*key, f.file_key);
}

#[test]
fn three_of_four_members_release_and_two_are_not_enough() {
    let f = Fixture::new(4, ReleaserConfig::default());
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let (req, secret) = request(3, &reader, f.file_id, 1);
    let signed = sign(req, &reader);
    let hash = signed.request_hash();
    // the same signed request goes to every member; each keeps its own nonce cache
    let partials: Vec<_> = f
        .releasers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r.index(), i as u32);
            let sealed = r.release(&mut rng(10 + i as u64), &signed).unwrap();
            open_sealed(&secret, &sealed, &hash).unwrap()
        })
        .collect();
    let id = identity(CHAIN_ID, REGISTRY, f.file_id, 1);
    // member 0 down
    assert_eq!(
        *unwrap_file_key(&f.committee, &id, &f.wrapped, &partials[1..]).unwrap(),
        f.file_key
    );
    // members 0 and 1 down
    let err = unwrap_file_key(&f.committee, &id, &f.wrapped, &partials[2..]).unwrap_err();
    assert!(
        err.to_string().starts_with("only 2 of 3 key shares"),
        "{err}"
    );
}

/// Every refusal test goes through here: the result is an error, so no sealed partial exists.
fn refused(f: &Fixture, signed: &SignedReleaseRequest) -> ReleaseError {
    match f.releasers[0].release(&mut rng(50), signed) {
        Ok(sealed) => panic!("released {} sealed bytes", sealed.to_bytes().len()),
        Err(e) => e,
    }
}

#[test]
fn no_access_is_refused_and_revocation_takes_effect() {
    let f = fixture();
    let reader = signer(1);
    let (req, _) = request(1, &reader, f.file_id, 1);
    let err = refused(&f, &sign(req, &reader));
    assert_eq!(
        err,
        ReleaseError::NoReadAccess {
            file_id: f.file_id,
            reader: reader.address()
        }
    );
    assert!(err.to_string().starts_with("no read access"), "{err}");

    f.acl.grant(f.file_id, reader.address());
    let (req, _) = request(2, &reader, f.file_id, 2);
    f.releasers[0]
        .release(&mut rng(1), &sign(req, &reader))
        .unwrap();
    f.acl.revoke(f.file_id, reader.address());
    let (req, _) = request(3, &reader, f.file_id, 3);
    assert!(matches!(
        refused(&f, &sign(req, &reader)),
        ReleaseError::NoReadAccess { .. }
    ));
    // another account's access does not help
    f.acl.grant(f.file_id, signer(2).address());
    let (req, _) = request(4, &reader, f.file_id, 4);
    assert!(matches!(
        refused(&f, &sign(req, &reader)),
        ReleaseError::NoReadAccess { .. }
    ));
}

#[test]
fn expired_and_too_long_lived_requests_are_refused() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let (mut req, _) = request(1, &reader, f.file_id, 1);
    req.expiry = T0;
    let err = refused(&f, &sign(req.clone(), &reader));
    assert_eq!(
        err,
        ReleaseError::Request(RequestError::Expired {
            expiry: T0,
            now: T0
        })
    );
    assert!(err.to_string().starts_with("request expired"), "{err}");

    req.expiry = T0 + 601;
    req.nonce = 2;
    assert_eq!(
        refused(&f, &sign(req.clone(), &reader)),
        ReleaseError::Request(RequestError::ExpiryTooFar {
            expiry: T0 + 601,
            now: T0,
            max_secs: 600
        })
    );
    req.expiry = T0 + 600;
    req.nonce = 3;
    f.releasers[0]
        .release(&mut rng(1), &sign(req, &reader))
        .unwrap();

    // a valid request left until after its expiry is refused
    let (req, _) = request(2, &reader, f.file_id, 4);
    let signed = sign(req, &reader);
    f.clock.advance_millis(60_000);
    assert!(matches!(refused(&f, &signed), ReleaseError::Request(RequestError::Expired { .. })));
}

#[test]
fn a_replayed_request_is_refused_even_after_the_clock_goes_back() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let (req, _) = request(1, &reader, f.file_id, 7);
    let signed = sign(req.clone(), &reader);
    f.releasers[0].release(&mut rng(1), &signed).unwrap();
    let err = refused(&f, &signed);
    assert_eq!(
        err,
        ReleaseError::Replayed {
            reader: reader.address(),
            nonce: 7
        }
    );
    assert!(err.to_string().starts_with("request replayed"), "{err}");
    // a fresh ephemeral key does not make the nonce new
    let (mut again, _) = request(2, &reader, f.file_id, 7);
    again.expiry = req.expiry + 1;
    assert!(matches!(
        refused(&f, &sign(again, &reader)),
        ReleaseError::Replayed { .. }
    ));
    // once the request has expired its nonce is forgotten, and setting the clock back does not
    // make the request fresh again
    f.clock.advance_millis(61_000);
    assert!(matches!(refused(&f, &signed), ReleaseError::Request(RequestError::Expired { .. })));
    f.clock.set_millis(T0_MILLIS);
    assert!(matches!(refused(&f, &signed), ReleaseError::Request(RequestError::Expired { .. })));
    // the same nonce from another reader is a different request
    let other = signer(2);
    f.acl.grant(f.file_id, other.address());
    let (mut req, _) = request(3, &other, f.file_id, 7);
    req.expiry = T0 + 120;
    f.releasers[0]
        .release(&mut rng(1), &sign(req, &other))
        .unwrap();
}

#[test]
fn forged_signatures_are_refused() {
    let f = fixture();
    let victim = signer(1);
    let attacker = signer(2);
    f.acl.grant(f.file_id, victim.address());
    // the attacker signs a request in the victim's name
    let (req, _) = request(1, &victim, f.file_id, 1);
    let err = refused(&f, &sign(req, &attacker));
    assert_eq!(err, ReleaseError::Request(RequestError::BadSignature));
    assert!(err.to_string().starts_with("bad signature"), "{err}");
    // the attacker takes the victim's signed request and changes the reader to itself
    f.acl.grant(f.file_id, attacker.address());
    let (req, _) = request(2, &victim, f.file_id, 2);
    let mut signed = sign(req, &victim);
    signed.request.reader = attacker.address();
    assert_eq!(refused(&f, &signed), ReleaseError::Request(RequestError::BadSignature));
    // ... or swaps in its own ephemeral key to read the victim's answer
    let (req, _) = request(3, &victim, f.file_id, 3);
    let mut signed = sign(req, &victim);
    signed.request.ephemeralKey = EphemeralSecret::generate(&mut rng(9)).1;
    assert_eq!(refused(&f, &signed), ReleaseError::Request(RequestError::BadSignature));
    // ... or asks for another file
    let (req, _) = request(4, &victim, f.file_id, 4);
    let mut signed = sign(req, &victim);
    signed.request.fileId = B256::repeat_byte(0x99);
    assert_eq!(refused(&f, &signed), ReleaseError::Request(RequestError::BadSignature));
    // nothing was spent by the forgeries: the victim's genuine request with nonce 2 works
    let (req, _) = request(5, &victim, f.file_id, 2);
    f.releasers[0]
        .release(&mut rng(1), &sign(req, &victim))
        .unwrap();
}

#[test]
fn requests_for_another_chain_or_registry_are_refused() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    for (i, domain) in [
        ReleaseDomain {
            chain_id: CHAIN_ID + 1,
            registry: REGISTRY,
        },
        ReleaseDomain {
            chain_id: CHAIN_ID,
            registry: Address::repeat_byte(0x77),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let (req, _) = request(i as u64, &reader, f.file_id, i as u64);
        let signed = SignedReleaseRequest::sign(domain, req, &reader).unwrap();
        let err = refused(&f, &signed);
        assert!(matches!(err, ReleaseError::WrongDomain { .. }), "{err}");
        assert!(err.to_string().starts_with("wrong domain"), "{err}");
        // claiming our domain for a signature made under another one is a bad signature
        let relabelled = SignedReleaseRequest {
            domain: DOMAIN,
            ..signed
        };
        assert_eq!(refused(&f, &relabelled), ReleaseError::Request(RequestError::BadSignature));
    }
}

#[test]
fn only_the_current_version_is_released() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    f.acl.set_version(f.file_id, 2); // the owner updated the file
    let (req, _) = request(1, &reader, f.file_id, 1); // asks for version 1
    let err = refused(&f, &sign(req.clone(), &reader));
    assert_eq!(
        err,
        ReleaseError::VersionMismatch {
            file_id: f.file_id,
            requested: 1,
            current: 2
        }
    );
    assert!(err.to_string().starts_with("version mismatch"), "{err}");
    let mut future = req;
    future.version = 3;
    future.nonce = 2;
    assert!(matches!(
        refused(&f, &sign(future, &reader)),
        ReleaseError::VersionMismatch { current: 2, .. }
    ));
    // version 2 is released, and that partial is for version 2's identity, not version 1's
    let (mut req, secret) = request(2, &reader, f.file_id, 3);
    req.version = 2;
    let signed = sign(req, &reader);
    let sealed = f.releasers[0].release(&mut rng(1), &signed).unwrap();
    let partial = open_sealed(&secret, &sealed, &signed.request_hash()).unwrap();
    assert!(partial.verify(&f.committee, &identity(CHAIN_ID, REGISTRY, f.file_id, 2)));
    assert!(!partial.verify(&f.committee, &identity(CHAIN_ID, REGISTRY, f.file_id, 1)));
    assert!(
        unwrap_file_key(
            &f.committee,
            &identity(CHAIN_ID, REGISTRY, f.file_id, 1),
            &f.wrapped,
            &[partial]
        )
        .is_err()
    );
}

#[test]
fn rate_limit_refuses_then_recovers_as_the_clock_advances() {
    let config = ReleaserConfig {
        rate_limit: RateLimit {
            burst: 2,
            refill_every_millis: 1000,
        },
        ..ReleaserConfig::default()
    };
    let f = Fixture::new(1, config);
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let go = |nonce: u64| {
        let (req, _) = request(nonce, &reader, f.file_id, nonce);
        f.releasers[0].release(&mut rng(nonce), &sign(req, &reader))
    };
    go(1).unwrap();
    go(2).unwrap();
    let err = go(3).unwrap_err();
    assert_eq!(
        err,
        ReleaseError::RateLimited {
            reader: reader.address(),
            retry_after_millis: 1000
        }
    );
    assert!(err.to_string().starts_with("rate limited"), "{err}");
    f.clock.advance_millis(400);
    assert!(matches!(
        go(4),
        Err(ReleaseError::RateLimited {
            retry_after_millis: 600,
            ..
        })
    ));
    // another account has its own bucket
    let other = signer(2);
    f.acl.grant(f.file_id, other.address());
    let (req, _) = request(5, &other, f.file_id, 5);
    f.releasers[0]
        .release(&mut rng(5), &sign(req, &other))
        .unwrap();
    f.clock.advance_millis(600);
    go(6).unwrap();
    assert!(matches!(go(7), Err(ReleaseError::RateLimited { .. })));
    f.clock.advance_millis(5_000);
    go(8).unwrap();
    go(9).unwrap();
    assert!(matches!(go(10), Err(ReleaseError::RateLimited { .. })));
}

#[test]
fn a_full_nonce_cache_refuses_instead_of_forgetting() {
    let config = ReleaserConfig {
        nonce_capacity: 2,
        ..ReleaserConfig::default()
    };
    let f = Fixture::new(1, config);
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    for nonce in 1..=2 {
        let (req, _) = request(nonce, &reader, f.file_id, nonce);
        f.releasers[0]
            .release(&mut rng(1), &sign(req, &reader))
            .unwrap();
    }
    let (req, _) = request(3, &reader, f.file_id, 3);
    let signed = sign(req, &reader);
    assert_eq!(refused(&f, &signed), ReleaseError::Busy);
    // room again once the first two have expired (expiry T0 + 60)
    f.clock.advance_millis(60_000);
    let (mut req, _) = request(4, &reader, f.file_id, 4);
    req.expiry = T0 + 120;
    f.releasers[0]
        .release(&mut rng(1), &sign(req, &reader))
        .unwrap();
}

#[test]
fn a_low_order_ephemeral_key_gets_nothing() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let (mut req, _) = request(1, &reader, f.file_id, 1);
    req.ephemeralKey = B256::ZERO;
    assert_eq!(
        refused(&f, &sign(req, &reader)),
        ReleaseError::BadEphemeralKey
    );
}

#[test]
fn sealed_partial_opens_only_with_its_secret_and_request_hash() {
    let f = fixture();
    let reader = signer(1);
    f.acl.grant(f.file_id, reader.address());
    let (req, secret) = request(1, &reader, f.file_id, 1);
    let signed = sign(req, &reader);
    let hash = signed.request_hash();
    let sealed = f.releasers[0].release(&mut rng(2), &signed).unwrap();

    let opened = open_sealed(&secret, &sealed, &hash).unwrap();
    assert_eq!(opened.index(), 0);
    let decoded = SealedPartial::from_bytes(&sealed.to_bytes()).unwrap();
    assert_eq!(open_sealed(&secret, &decoded, &hash).unwrap(), opened);

    let (other_secret, _) = EphemeralSecret::generate(&mut rng(3));
    assert_eq!(
        open_sealed(&other_secret, &sealed, &hash),
        Err(OpenError::Decrypt)
    );
    let mut other_hash = hash;
    other_hash.0[0] ^= 1;
    assert_eq!(
        open_sealed(&secret, &sealed, &other_hash),
        Err(OpenError::Decrypt)
    );
    let mut tampered = sealed.clone();
    tampered.ciphertext[0] ^= 1;
    assert_eq!(
        open_sealed(&secret, &tampered, &hash),
        Err(OpenError::Decrypt)
    );
    let mut tampered = sealed.clone();
    tampered.encapped_key[0] ^= 1;
    assert!(open_sealed(&secret, &tampered, &hash).is_err());
    let bytes = sealed.to_bytes();
    for cut in [0, 31, 32, 48] {
        assert_eq!(
            SealedPartial::from_bytes(&bytes[..cut]),
            Err(OpenError::Malformed)
        );
    }
    // the plaintext partial does not appear in the sealed bytes
    let plain = opened.to_bytes();
    assert!(!bytes.windows(plain.len()).any(|w| w == plain.as_slice()));
}

#[test]
fn signed_request_encoding_round_trips() {
    let reader = signer(1);
    let (req, _) = request(1, &reader, B256::repeat_byte(1), 42);
    let signed = sign(req, &reader);
    let bytes = signed.to_bytes();
    assert_eq!(bytes.len(), SIGNED_REQUEST_LEN);
    let decoded = SignedReleaseRequest::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, signed);
    decoded.verify_signature().unwrap();
    assert!(SignedReleaseRequest::from_bytes(&bytes[1..]).is_err());
    // a version that does not fit uint64 is not a request
    let mut bad = bytes.clone();
    bad[28 + 32 + 23] = 1; // a high byte of the version word
    assert!(SignedReleaseRequest::from_bytes(&bad).is_err());
}

#[test]
fn a_share_from_another_committee_is_rejected_at_setup() {
    let (committee, _) = committee(1, 4);
    let (_, foreign) = common::committee(2, 4);
    let err = Releaser::new(
        DOMAIN,
        &committee,
        foreign[1].clone(),
        std::sync::Arc::new(ls_access::InMemoryAcl::new()),
        ls_access::ManualClock::new(T0_MILLIS),
        ReleaserConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, ReleaserSetupError::ShareMismatch(1));
}

#[test]
fn a_refused_request_may_be_sent_again_and_spends_its_nonce_only_when_released() {
    // A member that has not yet finalized the purchase refuses; the reader sends the very same
    // signed request again once it has (this is how clients wait for finality without asking
    // the reader to sign twice).
    let config = ReleaserConfig {
        nonce_capacity: 1,
        ..ReleaserConfig::default()
    };
    let f = Fixture::new(1, config);
    let reader = signer(1);
    let stranger = signer(2);
    let (req, _) = request(1, &reader, f.file_id, 9);
    let signed = sign(req, &reader);
    assert!(matches!(refused(&f, &signed), ReleaseError::NoReadAccess { .. }));
    // refusals fill no nonce slot: a stranger's many refused requests leave room for readers
    for nonce in 1..=5 {
        let (req, _) = request(nonce, &stranger, f.file_id, nonce);
        assert!(matches!(refused(&f, &sign(req, &stranger)), ReleaseError::NoReadAccess { .. }));
    }
    f.acl.grant(f.file_id, reader.address());
    f.releasers[0].release(&mut rng(1), &signed).unwrap();
    assert!(matches!(refused(&f, &signed), ReleaseError::Replayed { .. }));
}

//! Wrapping a file key and unwrapping it with threshold partials.

mod common;

use alloy_primitives::B256;
use common::*;
use ls_access::{
    CommitteePublic, IDENTITY_LEN, PartialRelease, UnwrapError, WRAPPED_KEY_LEN, WrapError,
    WrappedKey, identity, threshold_for, unwrap_file_key, wrap_file_key,
};
use proptest::prelude::*;

fn partials(shares: &[ls_access::Share], id: &ls_access::Identity) -> Vec<PartialRelease> {
    shares.iter().map(|s| PartialRelease::sign(s, id)).collect()
}

#[test]
fn thresholds_are_n_minus_f() {
    assert_eq!(
        [1, 2, 3, 4, 5, 7, 10].map(threshold_for),
        [1, 2, 3, 3, 4, 5, 7]
    );
}

#[test]
fn committee_of_one_round_trip() {
    let (committee, shares) = committee(1, 1);
    assert_eq!((committee.size(), committee.threshold()), (1, 1));
    let id = identity(CHAIN_ID, REGISTRY, B256::repeat_byte(1), 1);
    let key = [7u8; 32];
    let wrapped = wrap_file_key(&mut rng(2), &committee, &id, &key).unwrap();
    let got = unwrap_file_key(&committee, &id, &wrapped, &partials(&shares, &id)).unwrap();
    assert_eq!(*got, key);
    // no partial, no key
    assert_eq!(
        unwrap_file_key(&committee, &id, &wrapped, &[]),
        Err(UnwrapError::NotEnoughPartials {
            valid: 0,
            required: 1,
            invalid: 0
        })
    );
}

#[test]
fn any_three_of_four_recover_and_two_do_not() {
    let (committee, shares) = committee(3, 4);
    assert_eq!((committee.size(), committee.threshold()), (4, 3));
    let id = identity(CHAIN_ID, REGISTRY, B256::repeat_byte(2), 5);
    let key = [9u8; 32];
    let wrapped = wrap_file_key(&mut rng(4), &committee, &id, &key).unwrap();
    let all = partials(&shares, &id);
    for skip in 0..4 {
        let three: Vec<_> = (0..4)
            .filter(|&i| i != skip)
            .map(|i| all[i].clone())
            .collect();
        assert_eq!(
            *unwrap_file_key(&committee, &id, &wrapped, &three).unwrap(),
            key
        );
    }
    assert_eq!(
        *unwrap_file_key(&committee, &id, &wrapped, &all).unwrap(),
        key
    );
    for (a, b) in [(0, 1), (0, 3), (2, 3)] {
        let two = [all[a].clone(), all[b].clone()];
        let err = unwrap_file_key(&committee, &id, &wrapped, &two).unwrap_err();
        assert_eq!(
            err,
            UnwrapError::NotEnoughPartials {
                valid: 2,
                required: 3,
                invalid: 0
            }
        );
        assert!(err.to_string().contains("only 2 of 3 key shares"), "{err}");
    }
    // the same member three times is still one member
    let dup = [all[1].clone(), all[1].clone(), all[1].clone()];
    assert!(matches!(
        unwrap_file_key(&committee, &id, &wrapped, &dup),
        Err(UnwrapError::NotEnoughPartials { valid: 1, .. })
    ));
}

#[test]
fn partials_for_another_identity_do_not_verify_or_unwrap() {
    let (committee, shares) = committee(5, 4);
    let file = B256::repeat_byte(3);
    let id = identity(CHAIN_ID, REGISTRY, file, 2);
    let wrapped = wrap_file_key(&mut rng(6), &committee, &id, &[1; 32]).unwrap();
    let others = [
        identity(CHAIN_ID, REGISTRY, B256::repeat_byte(4), 2), // other file
        identity(CHAIN_ID, REGISTRY, file, 1),                 // older version
        identity(CHAIN_ID, REGISTRY, file, 3),                 // newer version
        identity(CHAIN_ID + 1, REGISTRY, file, 2),             // other chain
        identity(CHAIN_ID, alloy_primitives::Address::ZERO, file, 2), // other registry
    ];
    for other in &others {
        assert_ne!(other, &id);
        let wrong = partials(&shares, other);
        assert!(wrong.iter().all(|p| !p.verify(&committee, &id)));
        assert!(wrong.iter().all(|p| p.verify(&committee, other)));
        assert_eq!(
            unwrap_file_key(&committee, &id, &wrapped, &wrong),
            Err(UnwrapError::NotEnoughPartials {
                valid: 0,
                required: 3,
                invalid: 4
            })
        );
        // valid signatures on the other identity do not open a key wrapped to this one
        assert_eq!(
            unwrap_file_key(&committee, other, &wrapped, &wrong),
            Err(UnwrapError::WrongIdentity)
        );
    }
    // two good partials plus bad ones are still not enough; a third good one is
    let good = partials(&shares, &id);
    let mut mixed = vec![good[0].clone(), good[1].clone()];
    mixed.extend(partials(&shares, &others[0]));
    assert!(matches!(
        unwrap_file_key(&committee, &id, &wrapped, &mixed),
        Err(UnwrapError::NotEnoughPartials {
            valid: 2,
            invalid: 2,
            ..
        })
    ));
    mixed.push(good[3].clone());
    assert_eq!(
        *unwrap_file_key(&committee, &id, &wrapped, &mixed).unwrap(),
        [1; 32]
    );
}

#[test]
fn another_committee_s_partials_do_not_verify() {
    let (committee, _) = committee(10, 1);
    let (_, other_shares) = common::committee(11, 1);
    let id = identity(CHAIN_ID, REGISTRY, B256::ZERO, 0);
    let wrapped = wrap_file_key(&mut rng(12), &committee, &id, &[3; 32]).unwrap();
    assert!(matches!(
        unwrap_file_key(&committee, &id, &wrapped, &partials(&other_shares, &id)),
        Err(UnwrapError::NotEnoughPartials { invalid: 1, .. })
    ));
}

#[test]
fn identity_encoding_is_fixed_width_and_field_sensitive() {
    let id = identity(0x0102, REGISTRY, B256::repeat_byte(0xee), 0x0304);
    let b = id.as_bytes();
    assert_eq!(b.len(), IDENTITY_LEN);
    assert_eq!(&b[..8], &0x0102u64.to_be_bytes());
    assert_eq!(&b[8..28], REGISTRY.as_slice());
    assert_eq!(&b[28..60], &[0xee; 32]);
    assert_eq!(&b[60..], &0x0304u64.to_be_bytes());
}

#[test]
fn wrapped_key_encoding_round_trips_and_rejects_garbage() {
    let (committee, shares) = committee(13, 1);
    let id = identity(CHAIN_ID, REGISTRY, B256::repeat_byte(5), 1);
    let wrapped = wrap_file_key(&mut rng(14), &committee, &id, &[8; 32]).unwrap();
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), WRAPPED_KEY_LEN);
    assert_eq!(WRAPPED_KEY_LEN, 113);
    assert_eq!(bytes[0], 1);
    assert_eq!(WrappedKey::from_bytes(&bytes).unwrap(), wrapped);
    let hex = wrapped.to_hex();
    assert!(hex.starts_with("0x") && hex.len() == 2 + 2 * WRAPPED_KEY_LEN);
    assert_eq!(WrappedKey::from_hex(&hex).unwrap(), wrapped);
    // randomised: wrapping again differs but unwraps the same
    let again = wrap_file_key(&mut rng(15), &committee, &id, &[8; 32]).unwrap();
    assert_ne!(again, wrapped);
    assert_eq!(
        *unwrap_file_key(&committee, &id, &again, &partials(&shares, &id)).unwrap(),
        [8; 32]
    );

    let malformed = |r: Result<WrappedKey, WrapError>| {
        assert!(matches!(r, Err(WrapError::MalformedWrappedKey(_))), "{r:?}")
    };
    malformed(WrappedKey::from_bytes(&bytes[..WRAPPED_KEY_LEN - 1]));
    malformed(WrappedKey::from_bytes(&[bytes.as_slice(), &[0]].concat()));
    let mut wrong_format = bytes;
    wrong_format[0] = 2;
    malformed(WrappedKey::from_bytes(&wrong_format));
    let mut bad_point = bytes;
    bad_point[1..49].fill(0xff);
    malformed(WrappedKey::from_bytes(&bad_point));
    malformed(WrappedKey::from_hex("0xzz"));

    // a tampered V or W fails the FO check instead of giving a wrong key
    let mut tampered = bytes;
    tampered[WRAPPED_KEY_LEN - 1] ^= 1;
    let tampered = WrappedKey::from_bytes(&tampered).unwrap();
    assert_eq!(
        unwrap_file_key(&committee, &id, &tampered, &partials(&shares, &id)),
        Err(UnwrapError::WrongIdentity)
    );
}

#[test]
fn partial_and_committee_encodings_round_trip() {
    let (committee, shares) = committee(16, 4);
    let id = identity(CHAIN_ID, REGISTRY, B256::repeat_byte(6), 1);
    let p = PartialRelease::sign(&shares[2], &id);
    assert_eq!(p.index(), 2);
    assert_eq!(PartialRelease::from_bytes(&p.to_bytes()).unwrap(), p);
    assert!(PartialRelease::from_bytes(&p.to_bytes()[..50]).is_err());
    assert!(PartialRelease::from_bytes(&[p.to_bytes(), vec![0]].concat()).is_err());

    let decoded = CommitteePublic::from_bytes(&committee.to_bytes()).unwrap();
    assert_eq!(decoded, committee);
    assert_eq!(
        CommitteePublic::from_hex(&committee.to_hex()).unwrap(),
        committee
    );
    assert_eq!(decoded.members(), members(4).as_slice());
    assert_eq!(decoded.member_index(members(4)[3]), Some(3));
    assert_eq!(decoded.threshold(), 3);
    let bytes = committee.to_bytes();
    for cut in [0, 1, 10, bytes.len() - 1] {
        assert!(
            CommitteePublic::from_bytes(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    assert!(CommitteePublic::from_bytes(&[bytes.clone(), vec![0]].concat()).is_err());
    // a partial from the decoded committee's point of view still verifies
    assert!(p.verify(&decoded, &id));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn wrap_unwrap_round_trips(
        key in any::<[u8; 32]>(),
        chain_id in any::<u64>(),
        file in any::<[u8; 32]>(),
        version in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let (committee, shares) = committee(seed, 1);
        let id = identity(chain_id, REGISTRY, B256::from(file), version);
        let wrapped = wrap_file_key(&mut rng(seed ^ 1), &committee, &id, &key).unwrap();
        let decoded = WrappedKey::from_bytes(&wrapped.to_bytes()).unwrap();
        let got = unwrap_file_key(&committee, &id, &decoded, &partials(&shares, &id)).unwrap();
        prop_assert_eq!(*got, key);
    }
}

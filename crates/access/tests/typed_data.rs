//! The typed data a wallet is asked to sign hashes to the very request a member verifies.

use alloy_dyn_abi::eip712::TypedData;
use alloy_primitives::{Address, B256, address};
use alloy_signer_local::PrivateKeySigner;
use ls_access::{ReleaseDomain, ReleaseRequest, SignedReleaseRequest, typed_data};

#[test]
fn typed_data_hashes_to_the_request_and_a_wallet_signature_verifies() {
    let domain = ReleaseDomain { chain_id: 1337, registry: address!("0x00000000000000000000000000000000000001F1") };
    let reader = PrivateKeySigner::random();
    let request = ReleaseRequest {
        fileId: B256::repeat_byte(0xab),
        version: 3,
        reader: reader.address(),
        ephemeralKey: B256::repeat_byte(0x11),
        expiry: 1_900_000_000,
        // above 2^53: a JavaScript number would round it
        nonce: u64::MAX - 7,
    };
    let json = typed_data(domain, &request);
    assert_eq!(json["message"]["nonce"], "18446744073709551608", "{json}");
    let parsed: TypedData = serde_json::from_value(json).unwrap();
    let hash = parsed.eip712_signing_hash().unwrap();
    let signed = SignedReleaseRequest::sign(domain, request.clone(), &reader).unwrap();
    assert_eq!(hash, signed.request_hash());
    // A wallet signs that hash; the member's check accepts it, and rejects another reader's.
    let by_wallet = alloy_signer::SignerSync::sign_hash_sync(&reader, &hash).unwrap();
    let ok = SignedReleaseRequest { domain, request: request.clone(), signature: by_wallet };
    ok.verify_signature().unwrap();
    let mut other = request;
    other.reader = Address::repeat_byte(1);
    assert!(SignedReleaseRequest { domain, request: other, signature: by_wallet }.verify_signature().is_err());
}

//! Key release on a real dev node (issue 9, the node side): a file key wrapped to the committee
//! comes back only to an account the FileRegistry lets read, through `lightstreams_releaseKey`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, Bytes, hex};
use alloy_sol_types::SolCall;
use common::{DEV0, DEV1, KEY0, KEY1, Node, signer};
use ls_access::{
    CommitteePublic, EphemeralSecret, ReleaseDomain, ReleaseRequest, SealedPartial, SignedReleaseRequest, identity,
    open_sealed, rand_core::SeedableRng, unwrap_file_key, wrap_file_key,
};
use ls_contracts::{FILE_REGISTRY, FileRegistry};
use serde_json::{Value, json};


/// A transaction the node signs for one of its dev accounts, waited for.
fn send(node: &Node, from: Address, input: Vec<u8>) {
    let hash = node.ok("eth_sendTransaction", json!([{"from": from, "to": FILE_REGISTRY, "data": Bytes::from(input)}]));
    let receipt = node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(10));
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
}

struct Reader {
    secret: EphemeralSecret,
    signed: SignedReleaseRequest,
}

fn request(file_id: B256, version: u64, reader: Address, key: &str, nonce: u64) -> Reader {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(nonce);
    let (secret, ephemeral_key) = EphemeralSecret::generate(&mut rng);
    let expiry = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 120;
    let req = ReleaseRequest { fileId: file_id, version, reader, ephemeralKey: ephemeral_key, expiry, nonce };
    let domain = ReleaseDomain { chain_id: 1337, registry: FILE_REGISTRY };
    Reader { secret, signed: SignedReleaseRequest::sign(domain, req, &signer(key)).unwrap() }
}

fn release(node: &Node, r: &Reader) -> Value {
    node.call("lightstreams_releaseKey", json!([Bytes::from(r.signed.to_bytes())]))
}

#[test]
fn a_wrapped_key_is_released_only_to_readers_the_registry_allows() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(dir.path()), &[]);

    // The dev node is a committee of one, its share private to the node.
    let info = node.ok("lightstreams_committee", json!([]));
    assert_eq!(info["threshold"], json!(1));
    assert_eq!(info["members"], json!([DEV0]));
    assert_eq!(info["endpoints"], json!([node.url]));
    let committee = CommitteePublic::from_hex(info["committee"].as_str().unwrap()).unwrap();
    assert_eq!(info["groupPublicKey"], json!(hex::encode_prefixed(committee.group_public_key())));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let share = dir.path().join("keyrelease/share.key");
        assert_eq!(std::fs::metadata(&share).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("keyrelease")).unwrap().permissions().mode() & 0o777, 0o700);
    }

    // The creator fixes the file id before encrypting, wraps the key, registers.
    let salt = B256::repeat_byte(0x11);
    let file_id = FileRegistry::fileIdOfCall::abi_decode_returns(
        &hex::decode(
            node.ok(
                "eth_call",
                json!([{"to": FILE_REGISTRY, "data": Bytes::from(FileRegistry::fileIdOfCall { account: DEV0, salt }.abi_encode())}, "latest"]),
            )
            .as_str()
            .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let file_key = [0x5a; 32];
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let wrapped = wrap_file_key(&mut rng, &committee, &identity(1337, FILE_REGISTRY, file_id, 1), &file_key).unwrap();
    let register = FileRegistry::registerCall { salt, cid: Bytes::from_static(b"manifest-cid"), metadataURI: String::new(), isPublic: false };
    send(&node, DEV0, register.abi_encode());

    // A reader without access gets nothing.
    let r = release(&node, &request(file_id, 1, DEV1, KEY1, 1));
    assert!(r["error"]["message"].as_str().unwrap().contains("no read access"), "{r}");
    // A request signed by someone else, or that is not a request, gets nothing.
    let r = release(&node, &request(file_id, 1, DEV1, KEY0, 3));
    assert!(r["error"]["message"].as_str().unwrap().contains("bad signature"), "{r}");
    let r = node.call("lightstreams_releaseKey", json!(["0x1234"]));
    assert!(r["error"]["message"].is_string(), "{r}");

    // The owner grants read; the reader's next request is answered and unwraps the key.
    send(&node, DEV0, FileRegistry::grantCall { fileId: file_id, account: DEV1, level: 1, expiry: 0 }.abi_encode());
    // Even with access, a version the registry does not hold is refused.
    let r = release(&node, &request(file_id, 2, DEV1, KEY1, 2));
    assert!(r["error"]["message"].as_str().unwrap().contains("version"), "{r}");
    let reader = request(file_id, 1, DEV1, KEY1, 4);
    let r = release(&node, &reader);
    let sealed = SealedPartial::from_bytes(&hex::decode(r["result"].as_str().expect("released")).unwrap()).unwrap();
    let partial = open_sealed(&reader.secret, &sealed, &reader.signed.request_hash()).unwrap();
    let key = unwrap_file_key(&committee, &identity(1337, FILE_REGISTRY, file_id, 1), &wrapped, &[partial]).unwrap();
    assert_eq!(*key, file_key);
    // The same request again is a replay.
    let r = release(&node, &reader);
    assert!(r["error"]["message"].as_str().unwrap().contains("replayed"), "{r}");

    // The committee survives a restart: files wrapped before it stay readable.
    drop(node);
    let node = Node::start(Some(dir.path()), &[]);
    assert_eq!(node.ok("lightstreams_committee", json!([]))["committee"], info["committee"]);
}

#[test]
fn one_address_is_limited_whatever_accounts_it_signs_with() {
    // --release-peer-rate 2: bursts of 4, then one more every 500 ms, for all requests from one
    // IP address, even each from a fresh account (accounts cost nothing to make).
    let node = Node::start(None, &["--release-peer-rate", "2"]);
    let file_id = B256::repeat_byte(0x42);
    let answers: Vec<Value> = (0..8u64)
        .map(|i| {
            let key = B256::from(alloy_primitives::keccak256(i.to_be_bytes()));
            let key = hex::encode(key);
            let account = signer(&key).address();
            release(&node, &request(file_id, 1, account, &key, i))
        })
        .collect();
    let limited: Vec<&Value> =
        answers.iter().filter(|r| r["error"]["message"].as_str().unwrap().starts_with("rate limited: peer 127.0.0.1")).collect();
    assert!(limited.len() >= 3, "{answers:?}");
    assert_eq!(limited[0]["error"]["code"], json!(-32005));
    // The others got as far as the access check.
    assert!(answers.iter().take(4).all(|r| r["error"]["message"].as_str().unwrap().contains("unknown file")
        || r["error"]["message"].as_str().unwrap().contains("no read access")), "{answers:?}");
    // After a pause, the address may ask again.
    std::thread::sleep(Duration::from_millis(1100));
    let r = release(&node, &request(file_id, 1, DEV1, KEY1, 99));
    assert!(!r["error"]["message"].as_str().unwrap().starts_with("rate limited"), "{r}");
}

//! A manifest's id is the CID of its exact dag-json bytes, so those bytes must never change.
//! serde_json's `preserve_order` feature (map keys in insertion order instead of sorted) or
//! `arbitrary_precision` (numbers kept as written) would change them, and cargo unifies features
//! across the workspace: any new dependency that turns one on would silently give every encrypted
//! file a new id. This pins the bytes and the CID of manifests built in code and decoded from
//! text whose keys are out of order and whose numbers are not in canonical form.
//!
//! The expected values were computed independently of serde_json (Python's `json.dumps` with
//! sorted keys and no spaces; the CID as CIDv1, dag-json 0x0129, sha2-256, base32).

use cid::Cid;
use ls_content::{MemBlockstore, Manifest};

const EXPECTED_PLAIN: &str = r#"{"cipher":"aes-256-gcm-stream","ciphertext":{"/":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},"mediaType":"application/pdf","noncePrefix":"deadbeef000102","plaintextLength":1048577,"segmentSize":262128,"version":1}"#;
const EXPECTED_PLAIN_CID: &str = "baguqeera4daquif4rwcaxhoj7zrfhgdqjgspvfjyfcfauoxz56bhrkilk54a";
const EXPECTED_RELEASE: &str = r#"{"cipher":"aes-256-gcm-stream","ciphertext":{"/":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},"keyRelease":{"alpha":-0.5,"amount":18446744073709551615,"fileId":"0x01","ratio":1000.0,"zeta":{"b":[3,1],"y":2}},"mediaType":"application/pdf","noncePrefix":"deadbeef000102","plaintextLength":1048577,"segmentSize":262128,"version":1}"#;
const EXPECTED_RELEASE_CID: &str = "baguqeeracvvwqaqp7uxez26psyipemcctku32redmbqkhgvefqog4bbn2edq";

fn plain() -> Manifest {
    Manifest {
        plaintext_len: 1_048_577,
        media_type: "application/pdf".into(),
        ciphertext: Cid::try_from("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku").unwrap(),
        nonce_prefix: [0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02],
        key_release: None,
    }
}

#[test]
fn manifest_bytes_and_cid_are_pinned() {
    let store = MemBlockstore::default();
    let m = plain();
    assert_eq!(String::from_utf8(m.encode()).unwrap(), EXPECTED_PLAIN);
    assert_eq!(m.store(&store).unwrap().to_string(), EXPECTED_PLAIN_CID);

    // A key release written with its keys out of order, nested objects, a float written in
    // exponent form and a large integer: decoding and re-encoding gives canonical bytes.
    let text = EXPECTED_PLAIN.replace(
        r#""mediaType""#,
        r#""keyRelease":{"zeta":{"y":2,"b":[3,1]},"fileId":"0x01","amount":18446744073709551615,"ratio":1e3,"alpha":-0.5},"mediaType""#,
    );
    let with = Manifest::decode(text.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(with.encode()).unwrap(), EXPECTED_RELEASE);
    assert_eq!(with.store(&store).unwrap().to_string(), EXPECTED_RELEASE_CID);
}

use std::path::Path;

use alloy_primitives::{B256, address, b256};
use ls_keystore::{Keystore, KeystoreError, decrypt_file, read_password_file};

const SECRET: B256 = b256!("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d");

fn vector(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

#[test]
fn official_and_geth_vectors_decrypt() {
    let signer = decrypt_file(&vector("pbkdf2.json"), "testpassword").unwrap();
    assert_eq!(signer.to_bytes(), SECRET);
    assert_eq!(signer.address(), address!("008aeeda4d805471df9b2a5b0f38a0c3bcba786b"));
    assert!(matches!(decrypt_file(&vector("pbkdf2.json"), "wrong"), Err(KeystoreError::WrongPassword)));
    let geth = decrypt_file(&vector("geth-scrypt.json"), "foobar").unwrap();
    assert_eq!(geth.address(), address!("7ef5a6135f1fd6a02593eedc869c6d41d934aef8"));
    assert!(matches!(decrypt_file(&vector("geth-scrypt.json"), "foobaz"), Err(KeystoreError::WrongPassword)));
    // Out-of-spec scrypt parameters (see testdata/README.md) are refused, not misread.
    assert!(matches!(decrypt_file(&vector("scrypt.json"), "testpassword"), Err(KeystoreError::Invalid { .. })));
}

#[test]
fn new_list_unlock_import() {
    let dir = tempfile::tempdir().unwrap();
    // Light scrypt keeps this test fast; `new_files_use_geths_standard_scrypt` checks the default.
    let ks = Keystore::open(dir.path().join("keystore")).unwrap().with_light_kdf();
    let (a, path) = ks.new_account("pw").unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("UTC--") && name.ends_with(&alloy_primitives::hex::encode(a)), "{name}");
    assert!(!name.contains(':'));
    // geth's format: address without 0x.
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["address"], serde_json::Value::String(alloy_primitives::hex::encode(a)));
    assert_eq!(json["version"], 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(ks.dir()).unwrap().permissions().mode() & 0o777, 0o700);
    }
    assert_eq!(ks.unlock(a, "pw").unwrap().address(), a);
    assert!(matches!(ks.unlock(a, "nope"), Err(KeystoreError::WrongPassword)));

    // Junk in the directory is ignored.
    std::fs::write(ks.dir().join("notes.txt"), "hello").unwrap();
    std::fs::write(ks.dir().join("UTC--bogus"), "{\"version\":3}").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (b, _) = ks.import_private_key(SECRET, "pw2").unwrap();
    assert_eq!(b, address!("008aeeda4d805471df9b2a5b0f38a0c3bcba786b"));
    let listed: Vec<_> = ks.list().unwrap().into_iter().map(|(a, _)| a).collect();
    assert_eq!(listed, vec![a, b], "oldest first");
    assert!(matches!(ks.import_private_key(SECRET, "x"), Err(KeystoreError::AlreadyExists(_))));
    assert_eq!(ks.unlock(b, "pw2").unwrap().to_bytes(), SECRET);

    // A geth-written file dropped into the directory is listed and unlocks.
    std::fs::copy(vector("geth-scrypt.json"), ks.dir().join("UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8")).unwrap();
    assert_eq!(ks.list().unwrap().len(), 3);
    assert_eq!(ks.unlock(address!("7ef5a6135f1fd6a02593eedc869c6d41d934aef8"), "foobar").unwrap().address(), address!("7ef5a6135f1fd6a02593eedc869c6d41d934aef8"));
}

#[test]
fn tampered_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(vector("pbkdf2.json")).unwrap().replace("5318b4d5", "5318b4d6");
    let p = dir.path().join("k.json");
    std::fs::write(&p, text).unwrap();
    assert!(decrypt_file(&p, "testpassword").is_err());
    // An address field that lies is caught.
    let text = std::fs::read_to_string(vector("pbkdf2.json")).unwrap().replace("008aeeda", "108aeeda");
    std::fs::write(&p, text).unwrap();
    assert!(matches!(decrypt_file(&p, "testpassword"), Err(KeystoreError::AddressMismatch { .. })));
}

#[test]
fn password_file_takes_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pw");
    std::fs::write(&p, "s3cret\nignored\n").unwrap();
    assert_eq!(read_password_file(&p).unwrap(), "s3cret");
}

#[test]
fn new_files_use_geths_standard_scrypt() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open(dir.path()).unwrap();
    let (a, path) = ks.new_account("pw").unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let params = &json["crypto"]["kdfparams"];
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!((params["n"].as_u64(), params["r"].as_u64(), params["p"].as_u64(), params["dklen"].as_u64()), (Some(1 << 18), Some(8), Some(1), Some(32)));
    assert_eq!(json["crypto"]["cipher"], "aes-128-ctr");
    assert_eq!(json["crypto"]["cipherparams"]["iv"].as_str().unwrap().len(), 32);
    assert_eq!(ks.unlock(a, "pw").unwrap().address(), a);
}

#[test]
fn malformed_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::open(dir.path().join("ks")).unwrap().with_light_kdf();
    let (_, path) = ks.import_private_key(SECRET, "pw").unwrap();
    let good: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(good["crypto"]["kdfparams"]["n"], 1 << 12, "light");
    let p = dir.path().join("bad.json");
    type Break = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Break)> = vec![
        ("short iv", Box::new(|j| j["crypto"]["cipherparams"]["iv"] = "0011".into())),
        ("iv not hex", Box::new(|j| j["crypto"]["cipherparams"]["iv"] = "zz".into())),
        ("dklen 16", Box::new(|j| j["crypto"]["kdfparams"]["dklen"] = 16.into())),
        ("dklen 0", Box::new(|j| j["crypto"]["kdfparams"]["dklen"] = 0.into())),
        ("n not a power of two", Box::new(|j| j["crypto"]["kdfparams"]["n"] = 3000.into())),
        ("n zero", Box::new(|j| j["crypto"]["kdfparams"]["n"] = 0.into())),
        ("n needing a terabyte", Box::new(|j| j["crypto"]["kdfparams"]["n"] = (1u64 << 40).into())),
        ("r zero", Box::new(|j| j["crypto"]["kdfparams"]["r"] = 0.into())),
        ("short ciphertext", Box::new(|j| j["crypto"]["ciphertext"] = "00ff".into())),
        ("short mac", Box::new(|j| j["crypto"]["mac"] = "00ff".into())),
        ("no kdfparams", Box::new(|j| j["crypto"].as_object_mut().unwrap().retain(|k, _| k != "kdfparams"))),
        ("unknown kdf", Box::new(|j| j["crypto"]["kdf"] = "argon2".into())),
        ("other cipher", Box::new(|j| j["crypto"]["cipher"] = "aes-256-gcm".into())),
        ("pbkdf2 without c", Box::new(|j| j["crypto"]["kdf"] = "pbkdf2".into())),
        ("no crypto", Box::new(|j| j.as_object_mut().unwrap().retain(|k, _| k != "crypto"))),
    ];
    for (what, break_it) in cases {
        let mut j = good.clone();
        break_it(&mut j);
        std::fs::write(&p, j.to_string()).unwrap();
        match decrypt_file(&p, "pw") {
            Err(KeystoreError::Invalid { reason, .. }) => assert!(!reason.is_empty(), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // The untouched file still reads.
    std::fs::write(&p, good.to_string()).unwrap();
    assert_eq!(decrypt_file(&p, "pw").unwrap().to_bytes(), SECRET);
}

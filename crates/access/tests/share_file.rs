//! The share file: private, never overwritten, loads back, malformed input is an error.

mod common;

use common::*;
use ls_access::{SHARE_FILE_MAGIC, ShareFile, ShareFileError};
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn creates_mode_0600_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("share.key");
    let (committee, shares) = committee(1, 4);
    ShareFile::create(&path, &shares[2]).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let loaded = ShareFile::load(&path).unwrap();
    assert_eq!(loaded, shares[2]);
    assert_eq!(
        loaded.public::<ls_access::Bls>(),
        committee.sharing().partial_public(loaded.index).unwrap()
    );
    let raw = fs::read(&path).unwrap();
    assert!(raw.starts_with(SHARE_FILE_MAGIC));
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("share.key");
    let (_, shares) = committee(2, 1);
    let (_, other) = committee(3, 1);
    ShareFile::create(&path, &shares[0]).unwrap();
    let before = fs::read(&path).unwrap();
    let err = ShareFile::create(&path, &other[0]).unwrap_err();
    assert!(matches!(err, ShareFileError::Exists(_)), "{err}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(ShareFile::load(&path).unwrap(), shares[0]);
}

#[test]
fn refuses_a_file_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("share.key");
    let (_, shares) = committee(4, 1);
    ShareFile::create(&path, &shares[0]).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = ShareFile::load(&path).unwrap_err();
    assert!(
        matches!(err, ShareFileError::InsecurePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn malformed_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shares) = committee(5, 1);
    let good_path = dir.path().join("good");
    ShareFile::create(&good_path, &shares[0]).unwrap();
    let good = fs::read(&good_path).unwrap();

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("magic only", SHARE_FILE_MAGIC.to_vec()),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("trailing byte", [good.clone(), vec![0]].concat()),
        ("wrong magic", [b"LSSHARE2".as_slice(), &good[8..]].concat()),
        ("text", b"not a key share at all\n".to_vec()),
        ("huge", vec![0xff; 10_000]),
    ];
    // a scalar that is not below the group order
    let mut out_of_range = good.clone();
    let n = out_of_range.len();
    out_of_range[n - 32..].fill(0xff);
    cases.push(("scalar out of range", out_of_range));

    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("bad{i}"));
        fs::write(&path, &bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = ShareFile::load(&path).unwrap_err();
        assert!(
            matches!(err, ShareFileError::Malformed { .. }),
            "{what}: {err}"
        );
    }
    let missing = ShareFile::load(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(missing, ShareFileError::Io { .. }), "{missing}");
    let a_dir = ShareFile::load(dir.path());
    assert!(a_dir.is_err());
}

#[test]
fn a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shares) = committee(6, 1);
    let err = ShareFile::create(&dir.path().join("no/such/dir/share.key"), &shares[0]).unwrap_err();
    assert!(matches!(err, ShareFileError::Io { .. }), "{err}");
}

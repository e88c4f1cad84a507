//! Encrypted files: round trips, independent ranges, tamper detection, nothing plain on disk.

use cid::Cid;
use ls_content::{
    Blockstore, CryptoError, FileKey, ImportOptions, PackBlockstore, MemBlockstore, SEGMENT, decrypt_range,
    encrypt_import, import, read_all,
};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

fn keyed(seed: u64) -> (FileKey, [u8; 7]) {
    FileKey::generate(&mut StdRng::seed_from_u64(seed))
}

fn decrypt_all(store: &dyn Blockstore, root: &Cid, len: u64, key: &FileKey, prefix: [u8; 7]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    decrypt_range(store, root, len, key, prefix, 0, len, &mut out)?;
    Ok(out)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

#[test]
fn sizes_around_segment_boundaries_round_trip() {
    for len in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT + 5] {
        let store = MemBlockstore::default();
        let (key, prefix) = keyed(len as u64);
        let plain = data(len);
        let f = encrypt_import(&plain[..], &store, &key, prefix).unwrap();
        assert_eq!(f.plaintext_len, len as u64);
        // Ciphertext = plaintext + one tag per segment.
        let segments = (len as u64).div_ceil(SEGMENT as u64).max(1);
        assert_eq!(f.ciphertext.size, len as u64 + 16 * segments, "len {len}");
        assert_eq!(decrypt_all(&store, &f.ciphertext.root, f.plaintext_len, &key, prefix).unwrap(), plain);
        // It is an ordinary UnixFS file that does not contain the plaintext.
        let mut ct = Vec::new();
        read_all(&store, &f.ciphertext.root, &mut ct).unwrap();
        if len > 64 {
            assert!(!ct.windows(32).any(|w| w == &plain[32..64]));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn any_range_decrypts_alone(len in 0usize..(3 * SEGMENT), a in any::<u64>(), b in any::<u64>()) {
        let store = MemBlockstore::default();
        let (key, prefix) = keyed(7);
        let plain = data(len);
        let f = encrypt_import(&plain[..], &store, &key, prefix).unwrap();
        let l = len as u64;
        let (s, e) = if l == 0 { (0, 0) } else { let (x, y) = (a % (l + 1), b % (l + 1)); (x.min(y), x.max(y)) };
        let mut out = Vec::new();
        decrypt_range(&store, &f.ciphertext.root, f.plaintext_len, &key, prefix, s, e, &mut out).unwrap();
        prop_assert_eq!(&out[..], &plain[s as usize..e as usize]);
        // The same range from one ciphertext span, as a client reads it through a gateway.
        if s < e {
            let (a, b) = ls_content::ciphertext_span(f.plaintext_len, s, e).unwrap();
            let mut span = Vec::new();
            ls_content::read_range(&store, &f.ciphertext.root, a, b, &mut span).unwrap();
            let mut out = Vec::new();
            ls_content::decrypt_from_reader(&span[..], f.plaintext_len, &key, prefix, s, e, &mut out).unwrap();
            prop_assert_eq!(&out[..], &plain[s as usize..e as usize]);
            // A span cut short is an error, never short output passed off as the range.
            let mut out = Vec::new();
            prop_assert!(ls_content::decrypt_from_reader(&span[..span.len() - 1], f.plaintext_len, &key, prefix, s, e, &mut out).is_err());
            // A flipped byte anywhere in the span fails authentication.
            let mut bad = span.clone();
            let at = (a as usize + b as usize) / 2 - a as usize;
            bad[at] ^= 0x40;
            prop_assert!(ls_content::decrypt_from_reader(&bad[..], f.plaintext_len, &key, prefix, s, e, &mut Vec::new()).is_err());
        }
    }
}

/// Re-imports ciphertext bytes (possibly altered) as a new UnixFS file.
fn reimport(store: &MemBlockstore, ct: &[u8]) -> Cid {
    import(ct, store, ImportOptions { cid_version: ls_content::CidVersion::V1, ..Default::default() }).unwrap().root
}

#[test]
fn tampering_of_every_kind_is_detected() {
    let store = MemBlockstore::default();
    let (key, prefix) = keyed(1);
    let plain = data(3 * SEGMENT);
    let f = encrypt_import(&plain[..], &store, &key, prefix).unwrap();
    let mut ct = Vec::new();
    read_all(&store, &f.ciphertext.root, &mut ct).unwrap();
    let chunk = SEGMENT + 16;
    let len = f.plaintext_len;

    // A flipped byte.
    let mut flipped = ct.clone();
    flipped[chunk + 10] ^= 1;
    let root = reimport(&store, &flipped);
    assert!(matches!(decrypt_all(&store, &root, len, &key, prefix), Err(CryptoError::Tampered(1))));
    // Ranges that avoid the damaged segment still decrypt.
    let mut ok = Vec::new();
    decrypt_range(&store, &root, len, &key, prefix, 0, 100, &mut ok).unwrap();
    assert_eq!(ok, &plain[..100]);

    // Two segments swapped.
    let mut swapped = ct[chunk..2 * chunk].to_vec();
    swapped.extend_from_slice(&ct[..chunk]);
    swapped.extend_from_slice(&ct[2 * chunk..]);
    let root = reimport(&store, &swapped);
    assert!(matches!(decrypt_all(&store, &root, len, &key, prefix), Err(CryptoError::Tampered(0))));

    // Truncated to two segments (and a length that agrees): the new last one was not sealed as last.
    let root = reimport(&store, &ct[..2 * chunk]);
    assert!(matches!(decrypt_all(&store, &root, 2 * SEGMENT as u64, &key, prefix), Err(CryptoError::Tampered(1))));

    // Extended with a copy of a segment: the old last segment is no longer last.
    let mut extended = ct.clone();
    extended.extend_from_slice(&ct[..chunk]);
    let root = reimport(&store, &extended);
    assert!(matches!(decrypt_all(&store, &root, len + SEGMENT as u64, &key, prefix), Err(CryptoError::Tampered(_))));

    // Wrong key or nonce prefix.
    let (other, _) = keyed(2);
    assert!(decrypt_all(&store, &f.ciphertext.root, len, &other, prefix).is_err());
    assert!(decrypt_all(&store, &f.ciphertext.root, len, &key, [9; 7]).is_err());
    // Out-of-range requests.
    assert!(matches!(
        decrypt_range(&store, &f.ciphertext.root, len, &key, prefix, 0, len + 1, &mut Vec::new()),
        Err(CryptoError::Range { .. })
    ));
}

#[test]
fn no_plaintext_byte_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackBlockstore::open(dir.path()).unwrap();
    let marker = b"LIGHTSTREAMS-SECRET-PLAINTEXT-PATTERN-";
    let plain: Vec<u8> = marker.iter().copied().cycle().take(2 * SEGMENT + 999).collect();
    let (key, prefix) = keyed(3);
    let f = encrypt_import(&plain[..], &store, &key, prefix).unwrap();
    let files = ls_testkit::files_under(dir.path());
    for p in &files {
        let bytes = std::fs::read(p).unwrap();
        assert!(!bytes.windows(16).any(|w| w == &marker[..16]), "plaintext found in {}", p.display());
    }
    assert!(ls_content::pack_files(dir.path()).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum::<u64>() >= plain.len() as u64, "the ciphertext is on disk");
    assert_eq!(decrypt_all(&store, &f.ciphertext.root, f.plaintext_len, &key, prefix).unwrap(), plain);
}

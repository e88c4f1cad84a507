//! Encrypted files: AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár).
//!
//! The plaintext is cut into segments of [`SEGMENT`] bytes (256 KiB − 16). Segment `i` is sealed
//! with the nonce `prefix(7) ‖ i(u32 BE) ‖ last(1 byte)`, so its ciphertext is exactly one 256 KiB
//! UnixFS chunk at offset `i · 256 KiB`. Any byte range therefore decrypts alone, by fetching only
//! its segments. Moving a segment changes its index, dropping the tail changes which segment is
//! last, and appending one makes a non-final segment claim to be last; each of these, like any
//! altered byte, fails authentication. The ciphertext is imported as an ordinary UnixFS file, so
//! any IPFS node can pin and serve it without being able to read it.

use std::io::{Read, Write};

use aes_gcm::{Aes256Gcm, KeyInit, Nonce, aead::Aead};
use cid::Cid;
use zeroize::Zeroize;

use crate::{Blockstore, CHUNK_SIZE, ExportError, ImportError, ImportOptions, Imported, import, read_range};

/// GCM tag length.
pub const TAG: usize = 16;
/// Plaintext bytes per segment: one ciphertext segment fills one UnixFS chunk.
pub const SEGMENT: usize = CHUNK_SIZE - TAG;
/// Most segments a file may have (the index is 32 bits).
pub const MAX_SEGMENTS: u64 = u32::MAX as u64;

/// A file's secret key. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct FileKey(pub [u8; 32]);

impl Drop for FileKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl FileKey {
    /// A fresh key and nonce prefix from `rng`.
    pub fn generate(rng: &mut impl rand::RngCore) -> (FileKey, [u8; 7]) {
        let mut key = [0u8; 32];
        let mut prefix = [0u8; 7];
        rng.fill_bytes(&mut key);
        rng.fill_bytes(&mut prefix);
        (FileKey(key), prefix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("segment {0} failed authentication: the ciphertext was altered, reordered, truncated or extended, or the key is wrong")]
    Tampered(u64),
    #[error("file too large for one key: more than 2^32 segments")]
    TooLarge,
    #[error("range {start}-{end} is outside the file of {size} bytes")]
    Range { start: u64, end: u64, size: u64 },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("reading the ciphertext: {0}")]
    Read(std::io::Error),
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
}

fn nonce(prefix: &[u8; 7], index: u64, last: bool) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&(index as u32).to_be_bytes());
    n[11] = last as u8;
    n.into()
}

/// Reads plaintext, seals it segment by segment into `out`. Keeps one segment of look-ahead to
/// know which segment is last.
struct Encryptor<R> {
    input: R,
    cipher: Aes256Gcm,
    prefix: [u8; 7],
    index: u64,
    next: Option<Vec<u8>>,
    out: Vec<u8>,
    done: bool,
    plaintext_len: u64,
}

impl<R: Read> Encryptor<R> {
    fn new(input: R, key: &FileKey, prefix: [u8; 7]) -> Self {
        Self {
            input,
            cipher: Aes256Gcm::new((&key.0).into()),
            prefix,
            index: 0,
            next: None,
            out: Vec::new(),
            done: false,
            plaintext_len: 0,
        }
    }

    fn read_segment(&mut self) -> std::io::Result<Vec<u8>> {
        let mut seg = vec![0u8; SEGMENT];
        let mut n = 0;
        while n < SEGMENT {
            match self.input.read(&mut seg[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        seg.truncate(n);
        self.plaintext_len += n as u64;
        Ok(seg)
    }

    fn seal_next(&mut self) -> std::io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        let current = match self.next.take() {
            Some(s) => s,
            None => self.read_segment()?,
        };
        // A full segment may or may not be the last: look ahead.
        let last = if current.len() < SEGMENT {
            true
        } else {
            let following = self.read_segment()?;
            let last = following.is_empty();
            if !last {
                self.next = Some(following);
            }
            last
        };
        if self.index >= MAX_SEGMENTS {
            return Err(std::io::Error::other(CryptoError::TooLarge));
        }
        self.out = self
            .cipher
            .encrypt(&nonce(&self.prefix, self.index, last), current.as_slice())
            .map_err(|_| std::io::Error::other("AES-GCM refused a segment"))?;
        self.index += 1;
        self.done = last;
        Ok(true)
    }
}

/// The ciphertext of a plaintext stream, as a stream: what [`encrypt_import`] stores, for a
/// client that encrypts in its own process and uploads only ciphertext. Imported as UnixFS with
/// CIDv1 and raw leaves (`?cid-version=1`), it has the root [`encrypt_import`] would give.
pub struct EncryptingReader<R> {
    enc: Encryptor<R>,
    pos: usize,
}

impl<R: Read> EncryptingReader<R> {
    pub fn new(plain: R, key: &FileKey, prefix: [u8; 7]) -> Self {
        Self { enc: Encryptor::new(plain, key, prefix), pos: 0 }
    }

    /// Plaintext bytes read so far (all of them once the reader returned 0).
    pub fn plaintext_len(&self) -> u64 {
        self.enc.plaintext_len
    }
}

impl<R: Read> Read for EncryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.enc.out.len() {
            if !self.enc.seal_next()? {
                return Ok(0);
            }
            self.pos = 0;
        }
        let n = buf.len().min(self.enc.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.enc.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The length of the ciphertext of `plaintext_len` bytes (one tag per segment, at least one).
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    let segments = plaintext_len.div_ceil(SEGMENT as u64).max(1);
    plaintext_len + segments * TAG as u64
}

/// An encrypted file in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedFile {
    /// The ciphertext, an ordinary UnixFS file.
    pub ciphertext: Imported,
    pub plaintext_len: u64,
}

/// Encrypts `plain` under `key` and stores the ciphertext as UnixFS (CIDv1, raw leaves). No
/// plaintext byte is written anywhere. Encryption runs on its own thread, a few segments ahead
/// of hashing and storing, so the two use both cores.
pub fn encrypt_import<S: Blockstore + ?Sized>(
    plain: impl Read + Send,
    store: &S,
    key: &FileKey,
    prefix: [u8; 7],
) -> Result<EncryptedFile, CryptoError> {
    let mut enc = Encryptor::new(plain, key, prefix);
    let opts = ImportOptions { cid_version: crate::CidVersion::V1, ..Default::default() };
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        let sealing = scope.spawn(move || {
            loop {
                let item = match enc.seal_next() {
                    Ok(true) => Ok(std::mem::take(&mut enc.out)),
                    Ok(false) => break,
                    Err(e) => Err(e),
                };
                let stop = item.is_err();
                // A send fails only when the import stopped: nothing more to do.
                if tx.send(item).is_err() || stop {
                    break;
                }
            }
            enc.plaintext_len
        });
        let sealed = Segments { rx, cur: Vec::new(), pos: 0 };
        let ciphertext = import(sealed, store, opts);
        let plaintext_len = sealing.join().map_err(|_| CryptoError::Read(std::io::Error::other("encryption thread panicked")))?;
        Ok(EncryptedFile { ciphertext: ciphertext?, plaintext_len })
    })
}

/// Sealed segments arriving from the encryption thread, as one `Read`.
struct Segments {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for Segments {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(seg)) => (self.cur, self.pos) = (seg, 0),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decrypts plaintext bytes `start..end` of an encrypted file, fetching only their segments.
#[allow(clippy::too_many_arguments)]
pub fn decrypt_range<S: Blockstore + ?Sized>(
    store: &S,
    ciphertext_root: &Cid,
    plaintext_len: u64,
    key: &FileKey,
    prefix: [u8; 7],
    start: u64,
    end: u64,
    out: &mut impl Write,
) -> Result<(), CryptoError> {
    decrypt_segments(plaintext_len, key, prefix, start, end, out, |c_start, len| {
        let mut sealed = Vec::with_capacity(len);
        read_range(store, ciphertext_root, c_start, c_start + len as u64, &mut sealed)?;
        Ok(sealed)
    })
}

/// The ciphertext bytes that plaintext `start..end` needs, as a range `a..b` of the
/// ciphertext file: fetch them (from any IPFS gateway, with one `Range` request) and hand them
/// to [`decrypt_from_reader`]. Every segment is authenticated with its position, so a server
/// that alters, reorders or cuts them is caught without trusting it to check CIDs.
pub fn ciphertext_span(plaintext_len: u64, start: u64, end: u64) -> Result<(u64, u64), CryptoError> {
    if start >= end || end > plaintext_len {
        return Err(CryptoError::Range { start, end, size: plaintext_len });
    }
    let seg = SEGMENT as u64;
    let segments = plaintext_len.div_ceil(seg).max(1);
    let (first, last) = (start / seg, (end - 1) / seg);
    let last_len = if last + 1 == segments { plaintext_len - last * seg } else { seg };
    Ok((first * CHUNK_SIZE as u64, last * CHUNK_SIZE as u64 + last_len + TAG as u64))
}

/// Decrypts plaintext `start..end` from `ciphertext`, which yields the file's ciphertext from
/// the start of [`ciphertext_span`] onwards.
#[allow(clippy::too_many_arguments)]
pub fn decrypt_from_reader(
    mut ciphertext: impl Read,
    plaintext_len: u64,
    key: &FileKey,
    prefix: [u8; 7],
    start: u64,
    end: u64,
    out: &mut impl Write,
) -> Result<(), CryptoError> {
    decrypt_segments(plaintext_len, key, prefix, start, end, out, |_, len| {
        let mut sealed = vec![0u8; len];
        ciphertext.read_exact(&mut sealed).map_err(CryptoError::Read)?;
        Ok(sealed)
    })
}

/// The STREAM loop: for each segment `start..end` touches, in order, `sealed(offset, len)`
/// gives its ciphertext, which is opened and the wanted part written.
#[allow(clippy::too_many_arguments)]
fn decrypt_segments(
    plaintext_len: u64,
    key: &FileKey,
    prefix: [u8; 7],
    start: u64,
    end: u64,
    out: &mut impl Write,
    mut sealed: impl FnMut(u64, usize) -> Result<Vec<u8>, CryptoError>,
) -> Result<(), CryptoError> {
    if start > end || end > plaintext_len {
        return Err(CryptoError::Range { start, end, size: plaintext_len });
    }
    let segments = plaintext_len.div_ceil(SEGMENT as u64).max(1);
    if start == end {
        return Ok(());
    }
    let cipher = Aes256Gcm::new((&key.0).into());
    let seg = SEGMENT as u64;
    for i in start / seg..=(end - 1) / seg {
        let plain_here = if i + 1 == segments { plaintext_len - i * seg } else { seg };
        let data = sealed(i * CHUNK_SIZE as u64, plain_here as usize + TAG)?;
        let plain = cipher
            .decrypt(&nonce(&prefix, i, i + 1 == segments), data.as_slice())
            .map_err(|_| CryptoError::Tampered(i))?;
        let from = start.saturating_sub(i * seg) as usize;
        let to = (end - i * seg).min(plain_here) as usize;
        out.write_all(&plain[from..to])?;
    }
    Ok(())
}

#[cfg(test)]
mod client_side_tests {
    use super::*;
    use crate::{CidVersion, ImportOptions, MemBlockstore, import};

    /// Encrypting in the client and importing the ciphertext as plain CIDv1 UnixFS gives the
    /// root, length and decryptable bytes the node's `encrypt_import` gives, at segment edges.
    #[test]
    fn encrypting_reader_matches_encrypt_import() {
        let key = FileKey([7; 32]);
        let prefix = [1, 2, 3, 4, 5, 6, 7];
        for len in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
            let store = MemBlockstore::default();
            let node_side = encrypt_import(&plain[..], &store, &key, prefix).unwrap();
            let mut reader = EncryptingReader::new(&plain[..], &key, prefix);
            let mut ciphertext = Vec::new();
            reader.read_to_end(&mut ciphertext).unwrap();
            assert_eq!(reader.plaintext_len(), len as u64);
            assert_eq!(ciphertext.len() as u64, ciphertext_len(len as u64), "len {len}");
            let client_side = import(&ciphertext[..], &MemBlockstore::default(), ImportOptions { cid_version: CidVersion::V1, ..Default::default() }).unwrap();
            assert_eq!(client_side.root, node_side.ciphertext.root, "len {len}");
            let mut back = Vec::new();
            decrypt_from_reader(&ciphertext[..], len as u64, &key, prefix, 0, len as u64, &mut back).unwrap();
            assert_eq!(back, plain);
        }
    }
}

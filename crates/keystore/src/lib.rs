//! Key files in the Web3 Secret Storage v3 format, laid out as geth lays them out, so a geth
//! keystore directory and ours are interchangeable.
//!
//! - File names: `UTC--<creation time, ':' as '-'>--<address, lowercase hex>`; mode 0600 in a
//!   0700 directory; written to a temporary name and renamed, so a crash never leaves half a key.
//! - Contents: scrypt (or, when reading, pbkdf2-hmac-sha256) + aes-128-ctr + keccak MAC, with
//!   the `address` field geth indexes by. New files use geth's standard scrypt cost (n = 2^18,
//!   r = 8, p = 1; [`Keystore::with_light_kdf`] is geth's `--lightkdf`); any valid file is read,
//!   and a malformed one (short IV, dklen < 32, n not a power of two, a scrypt asking for more
//!   than 1 GiB) is an error before any key is derived.
//!
//! ```no_run
//! let ks = ls_keystore::Keystore::open("/tmp/keystore")?;
//! let (address, path) = ks.new_account("correct horse")?;
//! let signer = ks.unlock(address, "correct horse")?;
//! assert_eq!(signer.address(), address);
//! # Ok::<(), ls_keystore::KeystoreError>(())
//! ```

use std::{
    fs,
    path::{Path, PathBuf},
};

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;

/// Errors of keystore operations.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("keystore {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not decrypt key with given password")]
    WrongPassword,
    #[error("{path} is not a valid key file: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("account already exists: {0}")]
    AlreadyExists(Address),
    #[error("no key for account {0} in the keystore")]
    UnknownAccount(Address),
    #[error("key file {path} holds {found}, not the address it names ({named})")]
    AddressMismatch { path: PathBuf, named: Address, found: Address },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io { path: path.to_path_buf(), source }
}

mod v3;

pub use v3::{MAX_SCRYPT_MEMORY, ScryptParams};

/// A directory of key files.
#[derive(Debug, Clone)]
pub struct Keystore {
    dir: PathBuf,
    cost: ScryptParams,
}

impl Keystore {
    /// Opens `dir`, creating it (mode 0700) if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeystoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        }
        Ok(Self { dir, cost: ScryptParams::STANDARD })
    }

    /// New key files use geth's `--lightkdf` cost (n = 2^12, p = 6): fast and weak, for
    /// throwaway keys and tests. Reading is unaffected.
    pub fn with_light_kdf(mut self) -> Self {
        self.cost = ScryptParams::LIGHT;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new random account.
    pub fn new_account(&self, password: &str) -> Result<(Address, PathBuf), KeystoreError> {
        let signer = PrivateKeySigner::random();
        self.store(signer.to_bytes(), password)
    }

    /// Stores an existing private key (as `geth account import` does).
    pub fn import_private_key(&self, key: B256, password: &str) -> Result<(Address, PathBuf), KeystoreError> {
        let address = PrivateKeySigner::from_bytes(&key)
            .map_err(|e| KeystoreError::Invalid { path: PathBuf::from("<key>"), reason: e.to_string() })?
            .address();
        if self.list()?.iter().any(|(a, _)| *a == address) {
            return Err(KeystoreError::AlreadyExists(address));
        }
        self.store(key, password)
    }

    fn store(&self, key: B256, password: &str) -> Result<(Address, PathBuf), KeystoreError> {
        let address = PrivateKeySigner::from_bytes(&key)
            .map_err(|e| KeystoreError::Invalid { path: PathBuf::from("<key>"), reason: e.to_string() })?
            .address();
        let stamp = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string().replace(':', "-");
        let name = format!("UTC--{stamp}--{}", alloy_primitives::hex::encode(address));
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let json = v3::encrypt(&key, &address, password, self.cost)
            .map_err(|e| KeystoreError::Invalid { path: tmp.clone(), reason: e.to_string() })?;
        let bytes = serde_json::to_vec(&json)
            .map_err(|e| KeystoreError::Invalid { path: tmp.clone(), reason: e.to_string() })?;
        // 0600 from the start, on disk before the rename makes it visible.
        let mut open = fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut file = open.open(&tmp).map_err(io(&tmp))?;
        std::io::Write::write_all(&mut file, &bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        let path = self.dir.join(&name);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok((address, path))
    }

    /// The accounts in the directory, oldest first (geth's order). Files that are not key files
    /// are skipped.
    pub fn list(&self) -> Result<Vec<(Address, PathBuf)>, KeystoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            if let Ok(address) = read_address(&path) {
                out.push((address, path));
            }
        }
        out.sort_by(|a, b| a.1.file_name().cmp(&b.1.file_name()));
        Ok(out)
    }

    /// Decrypts the key of `address`.
    pub fn unlock(&self, address: Address, password: &str) -> Result<PrivateKeySigner, KeystoreError> {
        let (_, path) = self
            .list()?
            .into_iter()
            .find(|(a, _)| *a == address)
            .ok_or(KeystoreError::UnknownAccount(address))?;
        decrypt_file(&path, password)
    }
}

/// The `address` field of a key file.
pub fn read_address(path: &Path) -> Result<Address, KeystoreError> {
    let invalid = |reason: String| KeystoreError::Invalid { path: path.to_path_buf(), reason };
    let bytes = fs::read(path).map_err(io(path))?;
    if bytes.len() > 64 * 1024 {
        return Err(invalid("larger than any key file".into()));
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if json.get("version").and_then(|v| v.as_u64()) != Some(3) {
        return Err(invalid("not a version 3 key file".into()));
    }
    let addr = json.get("address").and_then(|v| v.as_str()).ok_or_else(|| invalid("no address field".into()))?;
    let addr = addr.strip_prefix("0x").unwrap_or(addr);
    addr.parse::<Address>().map_err(|e| invalid(e.to_string()))
}

/// Decrypts any v3 key file (scrypt or pbkdf2), checking it holds the address it names.
pub fn decrypt_file(path: &Path, password: &str) -> Result<PrivateKeySigner, KeystoreError> {
    let invalid = |reason: String| KeystoreError::Invalid { path: path.to_path_buf(), reason };
    let bytes = fs::read(path).map_err(io(path))?;
    if bytes.len() > 64 * 1024 {
        return Err(invalid("larger than any key file".into()));
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    let secret = v3::decrypt(&json, password).map_err(|e| match e {
        v3::V3Error::WrongPassword => KeystoreError::WrongPassword,
        v3::V3Error::Invalid(reason) => invalid(reason),
    })?;
    let signer = PrivateKeySigner::from_bytes(&secret).map_err(|e| invalid(format!("not a secp256k1 key: {e}")))?;
    if let Ok(named) = read_address(path)
        && named != signer.address()
    {
        return Err(KeystoreError::AddressMismatch { path: path.to_path_buf(), named, found: signer.address() });
    }
    Ok(signer)
}

/// Reads a password file as geth's `--password` does: the first line, without its newline.
pub fn read_password_file(path: &Path) -> Result<String, KeystoreError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

//! Key files in the Web3 Secret Storage v3 format, laid out as geth lays them out, so a geth
//! keystore directory and ours are interchangeable.
//!
//! - File names: `UTC--<creation time, ':' as '-'>--<address, lowercase hex>`; mode 0600 in a
//!   0700 directory; written to a temporary name and renamed, so a crash never leaves half a key.
//! - Contents: scrypt (or, when reading, pbkdf2-hmac-sha256) + aes-128-ctr + keccak MAC, with
//!   the `address` field geth indexes by. The cryptography is eth-keystore's, through
//!   alloy-signer-local.
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

/// A directory of key files.
#[derive(Debug, Clone)]
pub struct Keystore {
    dir: PathBuf,
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
        Ok(Self { dir })
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
        let tmp_name = format!(".{name}.tmp");
        let mut rng = rand08::thread_rng();
        PrivateKeySigner::encrypt_keystore(&self.dir, &mut rng, key, password, Some(&tmp_name))
            .map_err(|e| KeystoreError::Invalid { path: self.dir.join(&tmp_name), reason: e.to_string() })?;
        let tmp = self.dir.join(&tmp_name);
        // geth decodes `address` with hex.DecodeString: no 0x prefix, or it cannot read the file.
        let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&tmp).map_err(io(&tmp))?)
            .map_err(|e| KeystoreError::Invalid { path: tmp.clone(), reason: e.to_string() })?;
        json["address"] = serde_json::Value::String(alloy_primitives::hex::encode(address));
        let bytes = serde_json::to_vec(&json)
            .map_err(|e| KeystoreError::Invalid { path: tmp.clone(), reason: e.to_string() })?;
        fs::write(&tmp, bytes).map_err(io(&tmp))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io(&tmp))?;
        }
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
    let signer = PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("Mac Mismatch") || msg.contains("MacMismatch") {
            KeystoreError::WrongPassword
        } else {
            KeystoreError::Invalid { path: path.to_path_buf(), reason: msg }
        }
    })?;
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

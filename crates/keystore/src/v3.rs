//! The Web3 Secret Storage v3 format itself: scrypt or pbkdf2-hmac-sha256, aes-128-ctr, keccak
//! MAC. Every field is checked before it is used, so a malformed file is an error, not a panic
//! (or a scrypt that asks for more memory than the machine has).

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{B256, hex, keccak256};
use rand08::RngCore;
use serde_json::{Value, json};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// scrypt cost parameters for new key files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
}

impl ScryptParams {
    /// geth's `StandardScryptN` / `StandardScryptP`: n = 2^18, r = 8, p = 1 (256 MiB, ~1 s).
    pub const STANDARD: Self = Self { log_n: 18, r: 8, p: 1 };
    /// geth's `--lightkdf` (`LightScryptN` / `LightScryptP`): n = 2^12, r = 8, p = 6 (4 MiB).
    pub const LIGHT: Self = Self { log_n: 12, r: 8, p: 6 };
}

/// Most memory a key file's scrypt may ask for when read: 4× geth's standard.
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;

/// Why a key file cannot be read, before any password is tried.
#[derive(Debug, thiserror::Error)]
pub enum V3Error {
    #[error("{0}")]
    Invalid(String),
    #[error("could not decrypt key with given password")]
    WrongPassword,
}

fn invalid(msg: impl Into<String>) -> V3Error {
    V3Error::Invalid(msg.into())
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, V3Error> {
    v.get(name).ok_or_else(|| invalid(format!("no {name} field")))
}

fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, V3Error> {
    let s = field(v, name)?.as_str().ok_or_else(|| invalid(format!("{name} is not a string")))?;
    hex::decode(s).map_err(|_| invalid(format!("{name} is not hex")))
}

fn u64_field(v: &Value, name: &str) -> Result<u64, V3Error> {
    field(v, name)?.as_u64().ok_or_else(|| invalid(format!("{name} is not a non-negative integer")))
}

fn u32_field(v: &Value, name: &str) -> Result<u32, V3Error> {
    u32::try_from(u64_field(v, name)?).map_err(|_| invalid(format!("{name} is too large")))
}

/// The derived key of `kdf` with `params`, every parameter checked first.
fn derive(kdf: &str, params: &Value, password: &[u8]) -> Result<Vec<u8>, V3Error> {
    let dklen = usize::try_from(u64_field(params, "dklen")?).unwrap_or(usize::MAX);
    if !(32..=64).contains(&dklen) {
        return Err(invalid(format!("dklen {dklen}: the format needs 32 (at most 64 accepted)")));
    }
    let salt = hex_field(params, "salt")?;
    let mut key = vec![0u8; dklen];
    match kdf {
        "scrypt" => {
            let (n, r, p) = (u64_field(params, "n")?, u32_field(params, "r")?, u32_field(params, "p")?);
            if n < 2 || !n.is_power_of_two() {
                return Err(invalid(format!("scrypt n {n} is not a power of two above 1")));
            }
            if r == 0 || p == 0 {
                return Err(invalid("scrypt r and p must be positive"));
            }
            let memory = 128u64.saturating_mul(u64::from(r)).saturating_mul(n);
            if memory > MAX_SCRYPT_MEMORY {
                return Err(invalid(format!("scrypt n={n}, r={r} needs {memory} bytes, more than {MAX_SCRYPT_MEMORY}")));
            }
            let log_n = n.trailing_zeros() as u8;
            let params = scrypt::Params::new(log_n, r, p).map_err(|e| invalid(format!("scrypt parameters: {e}")))?;
            scrypt::scrypt(password, &salt, &params, &mut key).map_err(|e| invalid(format!("scrypt: {e}")))?;
        }
        "pbkdf2" => {
            let prf = field(params, "prf")?.as_str().unwrap_or_default();
            if prf != "hmac-sha256" {
                return Err(invalid(format!("pbkdf2 prf {prf:?} is not hmac-sha256")));
            }
            let c = u32_field(params, "c")?;
            if c == 0 {
                return Err(invalid("pbkdf2 c must be positive"));
            }
            pbkdf2::pbkdf2::<hmac::Hmac<sha2::Sha256>>(password, &salt, c, &mut key);
        }
        other => return Err(invalid(format!("unknown kdf {other:?}"))),
    }
    Ok(key)
}

/// The private key in a v3 key file's JSON.
pub fn decrypt(json: &Value, password: &str) -> Result<B256, V3Error> {
    if json.get("version").and_then(Value::as_u64) != Some(3) {
        return Err(invalid("not a version 3 key file"));
    }
    // geth writes `crypto`; some old writers `Crypto`.
    let crypto = json.get("crypto").or_else(|| json.get("Crypto")).ok_or_else(|| invalid("no crypto field"))?;
    let cipher = field(crypto, "cipher")?.as_str().unwrap_or_default();
    if cipher != "aes-128-ctr" {
        return Err(invalid(format!("cipher {cipher:?} is not aes-128-ctr")));
    }
    let ciphertext = hex_field(crypto, "ciphertext")?;
    if ciphertext.len() != 32 {
        return Err(invalid(format!("ciphertext of {} bytes, not a 32-byte key", ciphertext.len())));
    }
    let iv = hex_field(field(crypto, "cipherparams")?, "iv")?;
    if iv.len() != 16 {
        return Err(invalid(format!("iv of {} bytes, not 16", iv.len())));
    }
    let mac = hex_field(crypto, "mac")?;
    if mac.len() != 32 {
        return Err(invalid(format!("mac of {} bytes, not 32", mac.len())));
    }
    let kdf = field(crypto, "kdf")?.as_str().unwrap_or_default();
    let key = derive(kdf, field(crypto, "kdfparams")?, password.as_bytes())?;
    let mut mac_input = key[16..32].to_vec();
    mac_input.extend_from_slice(&ciphertext);
    if keccak256(&mac_input).as_slice() != mac.as_slice() {
        return Err(V3Error::WrongPassword);
    }
    let mut plain = ciphertext;
    Aes128Ctr::new_from_slices(&key[..16], &iv).map_err(|_| invalid("aes key or iv length"))?.apply_keystream(&mut plain);
    Ok(B256::from_slice(&plain))
}

/// A v3 key file's JSON for `secret` (with `address` as geth writes it: lowercase, no 0x).
pub fn encrypt(secret: &B256, address: &alloy_primitives::Address, password: &str, cost: ScryptParams) -> Result<Value, V3Error> {
    let mut rng = rand08::thread_rng();
    let (mut salt, mut iv, mut id) = ([0u8; 32], [0u8; 16], [0u8; 16]);
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    rng.fill_bytes(&mut id);
    let params = scrypt::Params::new(cost.log_n, cost.r, cost.p).map_err(|e| invalid(format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|e| invalid(format!("scrypt: {e}")))?;
    let mut ciphertext = secret.to_vec();
    Aes128Ctr::new_from_slices(&key[..16], &iv).map_err(|_| invalid("aes key or iv length"))?.apply_keystream(&mut ciphertext);
    let mut mac_input = key[16..32].to_vec();
    mac_input.extend_from_slice(&ciphertext);
    // A random (version 4) UUID.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    let h = hex::encode(id);
    let uuid = format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
    Ok(json!({
        "address": hex::encode(address),
        "crypto": {
            "cipher": "aes-128-ctr",
            "ciphertext": hex::encode(&ciphertext),
            "cipherparams": {"iv": hex::encode(iv)},
            "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "n": 1u64 << cost.log_n, "p": cost.p, "r": cost.r, "salt": hex::encode(salt)},
            "mac": hex::encode(keccak256(&mac_input)),
        },
        "id": uuid,
        "version": 3,
    }))
}

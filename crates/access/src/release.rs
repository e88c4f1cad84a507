//! The committee member's side (checks, partial signing, sealing) and the reader's opening.

use crate::Clock;
use crate::committee::{Bls, CommitteePublic};
use crate::identity::identity;
use crate::limits::{NonceCache, NonceRefusal, RateLimit, RateLimiter};
use crate::request::{ReleaseDomain, RequestError, SignedReleaseRequest};
use crate::wrap::PartialRelease;
use alloy_primitives::{Address, B256};
use commonware_cryptography::bls12381::primitives::group::Share;
use hpke::{
    Deserializable, Kem as _, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305,
    kdf::HkdfSha256, kem::X25519HkdfSha256,
};
use parking_lot::{Mutex, RwLock};
use rand_core::CryptoRng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;
type Aead = ChaCha20Poly1305;
type Kdf = HkdfSha256;

/// Prefix of the HPKE `info`; the request hash follows it.
pub const HPKE_INFO_PREFIX: &[u8] = b"LIGHTSTREAMS_KEY_RELEASE_V1/seal";
/// Length of the HPKE encapsulated key (an X25519 public key).
pub const ENCAPPED_KEY_LEN: usize = 32;
const AEAD_TAG_LEN: usize = 16;
/// Upper bound on an encoded partial (varint index ≤ 5 bytes, G2 point 96 bytes).
const MAX_PARTIAL_LEN: usize = 5 + 96;

/// A failure of the access-control backend itself (not a "no").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AclError(pub String);

/// The FileRegistry as of the member's **latest finalized** block.
///
/// Implementations must answer from finalized state only (never a pending or unfinalized head),
/// so a payment that could still be reorganised away grants nothing, and should answer both
/// questions from the same block.
pub trait AclAtFinalized: Send + Sync {
    /// `FileRegistry.hasAccess(fileId, reader, Read)`.
    fn has_read_access(&self, file_id: B256, reader: Address) -> Result<bool, AclError>;
    /// The file's current key version, `None` if no such file is registered.
    fn current_version(&self, file_id: B256) -> Result<Option<u64>, AclError>;
}

impl<T: AclAtFinalized + ?Sized> AclAtFinalized for Arc<T> {
    fn has_read_access(&self, file_id: B256, reader: Address) -> Result<bool, AclError> {
        (**self).has_read_access(file_id, reader)
    }
    fn current_version(&self, file_id: B256) -> Result<Option<u64>, AclError> {
        (**self).current_version(file_id)
    }
}

#[derive(Debug, Default)]
struct FileAcl {
    version: u64,
    readers: HashSet<Address>,
}

/// An in-memory ACL for tests and tools (share it through an `Arc` to change it while a
/// [`Releaser`] uses it).
#[derive(Debug, Default)]
pub struct InMemoryAcl {
    files: RwLock<HashMap<B256, FileAcl>>,
}

impl InMemoryAcl {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `file_id` at `version` (or moves an existing file to `version`, keeping its
    /// readers).
    pub fn set_version(&self, file_id: B256, version: u64) {
        self.files.write().entry(file_id).or_default().version = version;
    }

    /// Grants `reader` read access to `file_id` (registering it at version 0 if unknown).
    pub fn grant(&self, file_id: B256, reader: Address) {
        self.files
            .write()
            .entry(file_id)
            .or_default()
            .readers
            .insert(reader);
    }

    /// Revokes `reader`'s access to `file_id`.
    pub fn revoke(&self, file_id: B256, reader: Address) {
        if let Some(f) = self.files.write().get_mut(&file_id) {
            f.readers.remove(&reader);
        }
    }
}

impl AclAtFinalized for InMemoryAcl {
    fn has_read_access(&self, file_id: B256, reader: Address) -> Result<bool, AclError> {
        Ok(self
            .files
            .read()
            .get(&file_id)
            .is_some_and(|f| f.readers.contains(&reader)))
    }

    fn current_version(&self, file_id: B256) -> Result<Option<u64>, AclError> {
        Ok(self.files.read().get(&file_id).map(|f| f.version))
    }
}

/// Limits a [`Releaser`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaserConfig {
    /// Longest accepted `expiry - now`, in seconds (default 600).
    pub max_validity_secs: u64,
    /// Most unexpired nonces remembered (default 100 000); beyond it requests are refused.
    ///
    /// A nonce is spent only when a partial is released, so the cache holds one entry per
    /// release (accounts without access cannot fill it) and a reader may send a refused
    /// request again, for instance while the members catch up with a purchase.
    pub nonce_capacity: usize,
    /// Per-account token bucket (default: burst 20, one more every 250 ms).
    pub rate_limit: RateLimit,
    /// Most accounts with a refilling bucket tracked at once (default 100 000).
    pub max_tracked_accounts: usize,
}

impl Default for ReleaserConfig {
    fn default() -> Self {
        Self {
            max_validity_secs: 600,
            nonce_capacity: 100_000,
            rate_limit: RateLimit {
                burst: 20,
                refill_every_millis: 250,
            },
            max_tracked_accounts: 100_000,
        }
    }
}

/// Why a member refused to release its partial. Whatever the reason, nothing sealed is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// Signed for another chain or FileRegistry than the one this member serves.
    #[error(
        "wrong domain: the request is for chain {got_chain_id} registry {got_registry}, this member serves chain {chain_id} registry {registry}"
    )]
    WrongDomain {
        /// This member's chain id.
        chain_id: u64,
        /// This member's FileRegistry.
        registry: Address,
        /// The request's chain id.
        got_chain_id: u64,
        /// The request's registry.
        got_registry: Address,
    },
    /// The request itself is not acceptable: bad signature, expired, too far ahead, malformed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// This `(reader, nonce)` was already used and has not expired.
    #[error("request replayed: nonce {nonce} of {reader} was already used")]
    Replayed {
        /// The reader.
        reader: Address,
        /// The nonce.
        nonce: u64,
    },
    /// The replay cache is full of unexpired nonces.
    #[error("too many outstanding requests; retry shortly")]
    Busy,
    /// The reader's token bucket is empty.
    #[error("rate limited: {reader} may retry in {retry_after_millis} ms")]
    RateLimited {
        /// The reader.
        reader: Address,
        /// Milliseconds until a request would be accepted.
        retry_after_millis: u64,
    },
    /// The FileRegistry (at the latest finalized block) denies the reader read access.
    #[error("no read access: {reader} may not read file {file_id}")]
    NoReadAccess {
        /// The file.
        file_id: B256,
        /// The reader.
        reader: Address,
    },
    /// No such file in the FileRegistry.
    #[error("unknown file {0}")]
    UnknownFile(B256),
    /// The request names another version than the file's current one.
    #[error(
        "version mismatch: requested version {requested} of file {file_id}, its current version is {current}"
    )]
    VersionMismatch {
        /// The file.
        file_id: B256,
        /// The version asked for.
        requested: u64,
        /// The file's current version on chain.
        current: u64,
    },
    /// The ephemeral key cannot be sealed to (e.g. a low-order X25519 point).
    #[error("bad ephemeral key: cannot seal to it")]
    BadEphemeralKey,
    /// The ACL backend failed.
    #[error("access check failed: {0}")]
    Acl(AclError),
}

/// Errors setting up a [`Releaser`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaserSetupError {
    /// The share does not belong to the committee's public polynomial.
    #[error("share {0} does not belong to this committee's public polynomial")]
    ShareMismatch(u32),
}

/// A partial release encrypted (HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
/// ChaCha20-Poly1305) to the reader's ephemeral key, bound to the request hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedPartial {
    /// HPKE encapsulated key.
    pub encapped_key: [u8; ENCAPPED_KEY_LEN],
    /// AEAD ciphertext of [`PartialRelease::to_bytes`] (tag included).
    pub ciphertext: Vec<u8>,
}

impl SealedPartial {
    /// `encapped_key ‖ ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCAPPED_KEY_LEN + self.ciphertext.len());
        out.extend_from_slice(&self.encapped_key);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes [`Self::to_bytes`] (only checks lengths).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OpenError> {
        let (enc, ct) = bytes
            .split_first_chunk::<ENCAPPED_KEY_LEN>()
            .ok_or(OpenError::Malformed)?;
        if ct.len() <= AEAD_TAG_LEN || ct.len() > AEAD_TAG_LEN + MAX_PARTIAL_LEN {
            return Err(OpenError::Malformed);
        }
        Ok(Self {
            encapped_key: *enc,
            ciphertext: ct.to_vec(),
        })
    }
}

/// Why a sealed partial could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Wrong ephemeral secret, wrong request hash, or tampered ciphertext.
    #[error("cannot open the sealed partial: wrong ephemeral key or request, or tampered")]
    Decrypt,
    /// Not a sealed partial.
    #[error("malformed sealed partial")]
    Malformed,
}

/// The reader's ephemeral X25519 secret for one release (zeroized on drop by the hpke crate).
pub struct EphemeralSecret(<Kem as hpke::Kem>::PrivateKey);

impl EphemeralSecret {
    /// A fresh key pair; put the public half in [`ReleaseRequest::ephemeralKey`](crate::ReleaseRequest).
    pub fn generate(rng: &mut impl CryptoRng) -> (Self, B256) {
        let (sk, pk) = Kem::gen_keypair_with_rng(rng);
        let mut public = [0u8; 32];
        // an X25519 public key serialises to exactly 32 bytes (RFC 9180 Npk)
        public.copy_from_slice(&pk.to_bytes());
        (Self(sk), B256::from(public))
    }
}

impl core::fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EphemeralSecret([REDACTED])")
    }
}

fn hpke_info(request_hash: &B256) -> Vec<u8> {
    [HPKE_INFO_PREFIX, request_hash.as_slice()].concat()
}

fn seal(
    rng: &mut impl CryptoRng,
    ephemeral_key: &B256,
    request_hash: &B256,
    plaintext: &[u8],
) -> Option<SealedPartial> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(ephemeral_key.as_slice()).ok()?;
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pk,
        &hpke_info(request_hash),
        plaintext,
        request_hash.as_slice(),
        rng,
    )
    .ok()?;
    let mut encapped_key = [0u8; ENCAPPED_KEY_LEN];
    encapped_key.copy_from_slice(&enc.to_bytes());
    Some(SealedPartial {
        encapped_key,
        ciphertext,
    })
}

/// Opens a sealed partial with the ephemeral secret of the request whose hash
/// ([`SignedReleaseRequest::request_hash`]) is `request_hash`.
///
/// The result still has to be verified against the committee (HPKE base mode does not say who
/// sealed it); [`unwrap_file_key`](crate::unwrap_file_key) does that.
pub fn open_sealed(
    secret: &EphemeralSecret,
    sealed: &SealedPartial,
    request_hash: &B256,
) -> Result<PartialRelease, OpenError> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.encapped_key)
        .map_err(|_| OpenError::Malformed)?;
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &secret.0,
            &enc,
            &hpke_info(request_hash),
            &sealed.ciphertext,
            request_hash.as_slice(),
        )
        .map_err(|_| OpenError::Decrypt)?,
    );
    PartialRelease::from_bytes(&plaintext).map_err(|_| OpenError::Malformed)
}

#[derive(Debug)]
struct ReleaserState {
    nonces: NonceCache,
    limiter: RateLimiter<Address>,
    /// Highest clock reading seen: time used for checks never goes backwards, so a nonce
    /// forgotten as expired stays expired even if the system clock is set back.
    high_water_millis: u64,
}

/// One committee member: holds its share and answers release requests.
///
/// `release` checks, in order, and refuses at the first failure:
/// 1. the domain is this member's chain and FileRegistry, and the EIP-712 signature recovers to
///    the request's `reader` (forgery, or a request signed for another deployment);
/// 2. `now < expiry <= now + max_validity_secs` (stale or long-lived captured requests);
/// 3. `(reader, nonce)` not used by a release before its expiry (replay; the nonce is spent
///    only when a partial is released, so a refused request may be sent again);
/// 4. the reader's token bucket (request floods; each release costs a pairing-friendly
///    signature and an HPKE seal);
/// 5. `has_read_access(file, reader)` at the latest finalized state (unpaid, revoked, expired
///    access);
/// 6. the requested version is the file's current one, and the identity signed is derived from
///    this member's own chain id and registry and that on-chain version (a reader cannot get a
///    signature on any other identity);
///
/// then signs the identity with its share and seals the partial to the ephemeral key.
pub struct Releaser<A, C> {
    domain: ReleaseDomain,
    share: Share,
    acl: A,
    clock: C,
    config: ReleaserConfig,
    state: Mutex<ReleaserState>,
}

impl<A, C> core::fmt::Debug for Releaser<A, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Releaser")
            .field("domain", &self.domain)
            .field("index", &self.share.index.get())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<A: AclAtFinalized, C: Clock> Releaser<A, C> {
    /// A member serving `domain` with `share`, checked against `committee`'s public polynomial.
    pub fn new(
        domain: ReleaseDomain,
        committee: &CommitteePublic,
        share: Share,
        acl: A,
        clock: C,
        config: ReleaserConfig,
    ) -> Result<Self, ReleaserSetupError> {
        let index = share.index;
        match committee.sharing().partial_public(index) {
            Ok(public) if public == share.public::<Bls>() => {}
            _ => return Err(ReleaserSetupError::ShareMismatch(index.get())),
        }
        let state = ReleaserState {
            nonces: NonceCache::new(config.nonce_capacity),
            limiter: RateLimiter::new(config.rate_limit, config.max_tracked_accounts),
            high_water_millis: clock.now_millis(),
        };
        Ok(Self {
            domain,
            share,
            acl,
            clock,
            config,
            state: Mutex::new(state),
        })
    }

    /// This member's share index.
    pub const fn index(&self) -> u32 {
        self.share.index.get()
    }

    /// The chain and registry this member serves.
    pub const fn domain(&self) -> ReleaseDomain {
        self.domain
    }

    /// Runs the checks (see the type docs) and returns this member's partial on the file
    /// version's identity, sealed to the request's ephemeral key.
    pub fn release(
        &self,
        rng: &mut impl CryptoRng,
        signed: &SignedReleaseRequest,
    ) -> Result<SealedPartial, ReleaseError> {
        let req = &signed.request;
        // 1. domain and signature
        if signed.domain != self.domain {
            return Err(ReleaseError::WrongDomain {
                chain_id: self.domain.chain_id,
                registry: self.domain.registry,
                got_chain_id: signed.domain.chain_id,
                got_registry: signed.domain.registry,
            });
        }
        signed.verify_signature()?;
        {
            let mut state = self.state.lock();
            let now_millis = state.high_water_millis.max(self.clock.now_millis());
            state.high_water_millis = now_millis;
            let now = now_millis / 1000;
            // 2. freshness
            signed.check_expiry(now, self.config.max_validity_secs)?;
            // 3. replay (checked here, spent below once everything else passed)
            if state.nonces.contains(req.reader, req.nonce, now) {
                return Err(ReleaseError::Replayed {
                    reader: req.reader,
                    nonce: req.nonce,
                });
            }
            // 4. rate limit
            state
                .limiter
                .try_acquire(&req.reader, now_millis)
                .map_err(|retry_after_millis| ReleaseError::RateLimited {
                    reader: req.reader,
                    retry_after_millis,
                })?;
        }
        // 5. access at the latest finalized state
        if !self
            .acl
            .has_read_access(req.fileId, req.reader)
            .map_err(ReleaseError::Acl)?
        {
            return Err(ReleaseError::NoReadAccess {
                file_id: req.fileId,
                reader: req.reader,
            });
        }
        // 6. version, and the identity from on-chain values only
        let current = self
            .acl
            .current_version(req.fileId)
            .map_err(ReleaseError::Acl)?
            .ok_or(ReleaseError::UnknownFile(req.fileId))?;
        if current != req.version {
            return Err(ReleaseError::VersionMismatch {
                file_id: req.fileId,
                requested: req.version,
                current,
            });
        }
        let id = identity(
            self.domain.chain_id,
            self.domain.registry,
            req.fileId,
            current,
        );
        // The nonce is spent now; of two copies of one request racing, one is refused.
        {
            let mut state = self.state.lock();
            let now = state.high_water_millis.max(self.clock.now_millis()) / 1000;
            match state
                .nonces
                .check_and_insert(req.reader, req.nonce, req.expiry, now)
            {
                Ok(()) => {}
                Err(NonceRefusal::Replayed) => {
                    return Err(ReleaseError::Replayed {
                        reader: req.reader,
                        nonce: req.nonce,
                    });
                }
                Err(NonceRefusal::Full) => return Err(ReleaseError::Busy),
            }
        }
        let partial = Zeroizing::new(PartialRelease::sign(&self.share, &id).to_bytes());
        seal(rng, &req.ephemeralKey, &signed.request_hash(), &partial)
            .ok_or(ReleaseError::BadEphemeralKey)
    }
}

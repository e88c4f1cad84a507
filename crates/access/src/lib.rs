//! Paid key release: the cryptographic core.
//!
//! A file's 32-byte key is wrapped, by the uploading client alone, to an **identity** that names
//! one version of one file on one chain's FileRegistry ([`identity`]: chain id, registry address,
//! file id, key version). The wrapping is Boneh–Franklin identity-based encryption over
//! BLS12-381 with the Fujisaki–Okamoto transform (commonware's `bls12381::tle`), under the group
//! public key of the validator committee ([`wrap_file_key`]). The wrapped key
//! ([`WrappedKey`], 113 bytes) goes in the manifest; no validator is contacted.
//!
//! Unwrapping needs the group's BLS signature on the identity. No one holds the group secret:
//! each of the `n` members holds a Shamir share of it ([`deal`] for a trusted dealer, or
//! commonware's DKG), and any `t` partial signatures interpolate to the group signature.
//!
//! To read, a reader signs an EIP-712 [`ReleaseRequest`] (file id, version, reader, a fresh
//! X25519 public key, expiry, nonce) under the domain `Lightstreams`/`1`/chain id/FileRegistry,
//! and sends it to each member. A member's [`Releaser`] checks, in order (first failure wins,
//! and then nothing sealed is returned):
//!
//! | check | defends against |
//! |---|---|
//! | domain is this member's chain and registry; signature recovers to `reader` | forged requests; a reader's request replayed on another chain or registry deployment; someone asking in another account's name |
//! | `now < expiry <= now + 10 min` | stale captured requests; long-lived requests that would make the nonce cache unbounded |
//! | `(reader, nonce)` not spent by a release until expiry (bounded cache; spent only when a partial is released) | replay of a captured request (e.g. to learn timing, or to burn the member's budget) |
//! | per-account token bucket | floods of valid requests (each costs a BLS signature and an HPKE seal) |
//! | `has_read_access(file, reader)` at the **latest finalized** state | unpaid, revoked or expired access; a payment that could still be reorganised away |
//! | requested version = current on-chain version; identity derived from the member's own chain id/registry and that version | a reader obtaining a signature on any other identity (another file, an old or future version, another chain) |
//!
//! It then signs the identity with its share ([`PartialRelease`]) and seals the partial with
//! HPKE (X25519-HKDF-SHA256, HKDF-SHA256, ChaCha20-Poly1305) to the request's ephemeral key, with
//! the request's EIP-712 hash as `info` and `aad` ([`SealedPartial`]): only the reader who made
//! that request can open it, so a network observer or the reader's own RPC proxy learns nothing,
//! and a sealed partial cannot be passed off as the answer to another request.
//!
//! The reader opens each answer ([`open_sealed`]), and [`unwrap_file_key`] verifies every
//! partial against the public polynomial (a member sending garbage, or a partial for another
//! identity, is ignored and counted), recovers the group signature from `t` valid ones, verifies
//! it against the group key, and decrypts. Fewer than `t` partials reveal nothing about the
//! signature, so fewer than `t` colluding members cannot release a key; `t` or more can release
//! any key (that is the trust assumption).
//!
//! A member's share is stored with [`ShareFile`] (mode 0600, never overwritten, fsynced). Secret
//! scalars are zeroized on drop (commonware's `Secret`), and the file key, encoded shares and
//! unsealed partials pass through `Zeroizing` buffers.
//!
//! Randomness and time are injected ([`rand_core::CryptoRng`] at the version commonware and
//! hpke use, re-exported here; [`Clock`]).

mod committee;
mod identity;
mod limits;
mod release;
mod request;
mod share_file;
mod wrap;

pub use ls_primitives::clock::{Clock, ManualClock, SystemClock};
pub use committee::{
    Bls, CommitteeError, CommitteePublic, GROUP_KEY_LEN, MAX_COMMITTEE, deal, threshold_for,
};
pub use identity::{IDENTITY_LEN, IDENTITY_NAMESPACE, Identity, identity};
pub use limits::{NonceCache, NonceRefusal, RateLimit, RateLimiter};
pub use release::{
    AclAtFinalized, AclError, ENCAPPED_KEY_LEN, EphemeralSecret, HPKE_INFO_PREFIX, InMemoryAcl,
    OpenError, ReleaseError, Releaser, ReleaserConfig, ReleaserSetupError, SealedPartial,
    open_sealed,
};
pub use request::{
    DOMAIN_NAME, DOMAIN_VERSION, ReleaseDomain, ReleaseRequest, RequestError, SIGNED_REQUEST_LEN,
    SignedReleaseRequest, typed_data,
};
pub use share_file::{SHARE_FILE_MAGIC, ShareFile, ShareFileError};
pub use wrap::{
    FILE_KEY_LEN, PartialRelease, UnwrapError, WRAPPED_KEY_FORMAT_V1, WRAPPED_KEY_LEN, WrapError,
    WrappedKey, unwrap_file_key, wrap_file_key,
};

/// The key-share type (index and zeroize-on-drop secret scalar), from commonware.
pub use commonware_cryptography::bls12381::primitives::group::Share;
/// The `rand_core` version this crate's RNG parameters use.
pub use rand_core;

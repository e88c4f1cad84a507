//! The reader's EIP-712 signed release request.

use alloy_primitives::{Address, B256, Signature, U256};
use alloy_signer::SignerSync;
use alloy_sol_types::{Eip712Domain, SolStruct, SolValue};
use std::borrow::Cow;

alloy_sol_types::sol! {
    /// What a reader asks each committee member for (EIP-712 typed data).
    ///
    /// `fileId`/`version` name the file version; `reader` is the account whose access is
    /// checked and who must have signed; `ephemeralKey` is the X25519 public key the partial is
    /// sealed to; `expiry` (Unix seconds) and `nonce` bound replay.
    #[derive(Debug, PartialEq, Eq)]
    struct ReleaseRequest {
        bytes32 fileId;
        uint64 version;
        address reader;
        bytes32 ephemeralKey;
        uint64 expiry;
        uint64 nonce;
    }
}

/// EIP-712 domain name.
pub const DOMAIN_NAME: &str = "Lightstreams";
/// EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// Length of [`SignedReleaseRequest::to_bytes`]: chain id (8), registry (20), the ABI-encoded
/// request (6 × 32), signature (65).
pub const SIGNED_REQUEST_LEN: usize = 8 + 20 + 6 * 32 + 65;

/// The chain and FileRegistry a request is for; the EIP-712 domain is derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReleaseDomain {
    /// Chain id.
    pub chain_id: u64,
    /// FileRegistry contract address (the domain's `verifyingContract`).
    pub registry: Address,
}

impl ReleaseDomain {
    /// `{ name: "Lightstreams", version: "1", chainId, verifyingContract: registry }`.
    pub fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(Cow::Borrowed(DOMAIN_NAME)),
            Some(Cow::Borrowed(DOMAIN_VERSION)),
            Some(U256::from(self.chain_id)),
            Some(self.registry),
            None,
        )
    }
}

/// `request` under `domain` as EIP-712 typed data in the JSON shape `eth_signTypedData_v4`
/// (MetaMask, ethers' `signTypedData`) takes; 64-bit fields are decimal strings, since a nonce
/// may exceed what a JavaScript number holds exactly.
pub fn typed_data(domain: ReleaseDomain, request: &ReleaseRequest) -> serde_json::Value {
    let field = |name: &str, ty: &str| serde_json::json!({"name": name, "type": ty});
    serde_json::json!({
        "types": {
            "EIP712Domain": [
                field("name", "string"),
                field("version", "string"),
                field("chainId", "uint256"),
                field("verifyingContract", "address"),
            ],
            "ReleaseRequest": [
                field("fileId", "bytes32"),
                field("version", "uint64"),
                field("reader", "address"),
                field("ephemeralKey", "bytes32"),
                field("expiry", "uint64"),
                field("nonce", "uint64"),
            ],
        },
        "primaryType": "ReleaseRequest",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": domain.chain_id,
            "verifyingContract": domain.registry,
        },
        "message": {
            "fileId": request.fileId,
            "version": request.version.to_string(),
            "reader": request.reader,
            "ephemeralKey": request.ephemeralKey,
            "expiry": request.expiry.to_string(),
            "nonce": request.nonce.to_string(),
        },
    })
}

/// Why a request is not acceptable as such (before any access check).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The signature does not recover to `reader` under the domain.
    #[error("bad signature: the request is not signed by its reader")]
    BadSignature,
    /// `expiry` has passed.
    #[error("request expired at {expiry} (now {now}); sign a new one")]
    Expired {
        /// The request's expiry (Unix seconds).
        expiry: u64,
        /// The verifier's clock (Unix seconds).
        now: u64,
    },
    /// `expiry` is further ahead than the verifier accepts.
    #[error("request expiry {expiry} is more than {max_secs} s ahead of now ({now})")]
    ExpiryTooFar {
        /// The request's expiry (Unix seconds).
        expiry: u64,
        /// The verifier's clock (Unix seconds).
        now: u64,
        /// The longest validity accepted, in seconds.
        max_secs: u64,
    },
    /// Bytes that are not a signed request.
    #[error("malformed release request: {0}")]
    Malformed(String),
}

/// A [`ReleaseRequest`] with the domain it was signed under and the reader's signature.
///
/// The domain travels with the request (it is not part of the struct, it is the EIP-712 domain)
/// so a member can tell "signed for another chain or registry" from a forgery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedReleaseRequest {
    /// The domain the reader signed under.
    pub domain: ReleaseDomain,
    /// The request.
    pub request: ReleaseRequest,
    /// 65-byte secp256k1 signature over [`Self::request_hash`].
    pub signature: Signature,
}

impl SignedReleaseRequest {
    /// Signs `request` under `domain` with the reader's key.
    pub fn sign(
        domain: ReleaseDomain,
        request: ReleaseRequest,
        signer: &impl SignerSync,
    ) -> Result<Self, alloy_signer::Error> {
        let hash = request.eip712_signing_hash(&domain.eip712());
        let signature = signer.sign_hash_sync(&hash)?;
        Ok(Self {
            domain,
            request,
            signature,
        })
    }

    /// The EIP-712 signing hash; also the HPKE context the partial is sealed under.
    pub fn request_hash(&self) -> B256 {
        self.request.eip712_signing_hash(&self.domain.eip712())
    }

    /// Checks that the signature recovers to `request.reader`.
    pub fn verify_signature(&self) -> Result<(), RequestError> {
        match self
            .signature
            .recover_address_from_prehash(&self.request_hash())
        {
            Ok(signer) if signer == self.request.reader => Ok(()),
            _ => Err(RequestError::BadSignature),
        }
    }

    /// Checks `now < expiry <= now + max_validity_secs` (all Unix seconds).
    ///
    /// The upper bound caps how long a captured request stays usable and how long its nonce
    /// must be remembered.
    pub fn check_expiry(&self, now: u64, max_validity_secs: u64) -> Result<(), RequestError> {
        let expiry = self.request.expiry;
        if expiry <= now {
            return Err(RequestError::Expired { expiry, now });
        }
        if expiry - now > max_validity_secs {
            return Err(RequestError::ExpiryTooFar {
                expiry,
                now,
                max_secs: max_validity_secs,
            });
        }
        Ok(())
    }

    /// Fixed-size encoding ([`SIGNED_REQUEST_LEN`] bytes): chain id (u64 big-endian),
    /// registry, the request's ABI encoding, the signature as `r ‖ s ‖ v` (v = 27/28).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNED_REQUEST_LEN);
        out.extend_from_slice(&self.domain.chain_id.to_be_bytes());
        out.extend_from_slice(self.domain.registry.as_slice());
        out.extend_from_slice(&self.request.abi_encode());
        out.extend_from_slice(&self.signature.as_bytes());
        out
    }

    /// Decodes [`Self::to_bytes`]. Decoding does not verify anything.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RequestError> {
        let malformed = |e: &str| RequestError::Malformed(e.to_string());
        if bytes.len() != SIGNED_REQUEST_LEN {
            return Err(malformed("wrong length"));
        }
        let (chain_id, rest) = bytes.split_at(8);
        let (registry, rest) = rest.split_at(20);
        let (request, signature) = rest.split_at(6 * 32);
        let mut id = [0u8; 8];
        id.copy_from_slice(chain_id);
        let request = ReleaseRequest::abi_decode_validate(request)
            .map_err(|e| RequestError::Malformed(e.to_string()))?;
        let signature =
            Signature::from_raw(signature).map_err(|e| RequestError::Malformed(e.to_string()))?;
        Ok(Self {
            domain: ReleaseDomain {
                chain_id: u64::from_be_bytes(id),
                registry: Address::from_slice(registry),
            },
            request,
            signature,
        })
    }
}

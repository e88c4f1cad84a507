//! The node's side of the gateway's paid files (`/files/<file-id>`, see `ls_gateway::files`):
//! challenges are key-release requests with an ephemeral key this node made, and the key comes
//! from the committee through the same client path as `file get --from`.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, Signature};
use ls_access::{AclAtFinalized, EphemeralSecret, ReleaseRequest, SignedReleaseRequest, typed_data};
use ls_content::{Blockstore, FileKey, Manifest};
use ls_gateway::{Challenge, PaidError, PaidFiles, Unlocked};
use ls_primitives::expiring::Expiring;

use crate::{
    paid::{KeyRelease, RETRY_FOR, Rpc, fetch_key},
    release::ChainAcl,
};

/// How long a reader has to sign a challenge.
const CHALLENGE_FOR: Duration = Duration::from_secs(120);
/// Challenges waiting for a signature at most (oldest forgotten first).
const MAX_PENDING: usize = 4096;

struct Pending {
    file_id: B256,
    release: KeyRelease,
    request: ReleaseRequest,
    secret: EphemeralSecret,
    manifest: Manifest,
}

pub struct NodePaidFiles {
    acl: ChainAcl,
    blocks: Arc<dyn Blockstore>,
    /// This node's JSON-RPC URL: the committee's endpoints, as any reader learns them.
    rpc_url: String,
    /// Challenges by (account, nonce).
    pending: Mutex<Expiring<(Address, u64), Pending>>,
}

impl NodePaidFiles {
    pub fn new(acl: ChainAcl, blocks: Arc<dyn Blockstore>, rpc_url: String) -> Self {
        Self { acl, blocks, rpc_url, pending: Mutex::new(Expiring::new(MAX_PENDING)) }
    }

    /// The current manifest of `file_id` and its key release, checked to name this file.
    fn current(&self, file_id: B256) -> Result<(Manifest, KeyRelease), PaidError> {
        let file = self.acl.file_of(file_id).map_err(|e| PaidError::Unavailable(e.to_string()))?;
        if file.owner == Address::ZERO {
            return Err(PaidError::NotFound(format!("file {file_id} is not registered")));
        }
        let cid = cid::Cid::try_from(&file.content[..])
            .map_err(|_| PaidError::NotFound(format!("file {file_id}'s registered content is not a CID")))?;
        let manifest = Manifest::load(self.blocks.as_ref(), &cid).map_err(|e| PaidError::NotFound(format!("file {file_id}: {e}")))?;
        let release = manifest
            .key_release
            .as_ref()
            .ok_or_else(|| PaidError::NotFound(format!("file {file_id} has no key release (read it at /ipfs/{cid})")))
            .and_then(|r| KeyRelease::parse(r).map_err(|e| PaidError::NotFound(format!("file {file_id}: {e:#}"))))?;
        if release.file_id != file_id || release.version != u64::from(file.version) {
            return Err(PaidError::NotFound(format!("file {file_id}'s manifest names another file or version")));
        }
        Ok((manifest, release))
    }
}

impl PaidFiles for NodePaidFiles {
    fn challenge(&self, file_id: B256, account: Address) -> Result<Challenge, PaidError> {
        let (manifest, release) = self.current(file_id)?;
        let (request, secret) =
            release.request(account, CHALLENGE_FOR).map_err(|e| PaidError::Unavailable(format!("{e:#}")))?;
        let challenge = Challenge { typed_data: typed_data(release.domain, &request), nonce: request.nonce, expires: request.expiry };
        let now = Instant::now();
        let pending = Pending { file_id, release, request, secret, manifest };
        let mut open = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        open.insert((account, challenge.nonce), pending, now + CHALLENGE_FOR, now);
        Ok(challenge)
    }

    fn unlock(&self, file_id: B256, account: Address, nonce: u64, signature: Signature) -> Result<Unlocked, PaidError> {
        let p = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(&(account, nonce), Instant::now())
            .filter(|p| p.file_id == file_id)
        .ok_or_else(|| PaidError::BadRequest(format!("no open challenge {nonce} of {account} for file {file_id}; ask for a new one")))?;
        let signed = SignedReleaseRequest { domain: p.release.domain, request: p.request, signature };
        signed
            .verify_signature()
            .map_err(|_| PaidError::BadRequest(format!("the signature is not {account}'s on the challenge")))?;
        let rpc = Rpc::new(&self.rpc_url).map_err(|e| PaidError::Unavailable(e.to_string()))?;
        let key = fetch_key(&rpc, &p.release, &signed, &p.secret, RETRY_FOR).map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("may not read") { PaidError::Forbidden(text) } else { PaidError::Unavailable(text) }
        })?;
        Ok(Unlocked { manifest: p.manifest, key: FileKey(key) })
    }

    fn may_read(&self, file_id: B256, account: Address) -> Result<bool, PaidError> {
        self.acl.has_read_access(file_id, account).map_err(|e| PaidError::Unavailable(e.to_string()))
    }
}

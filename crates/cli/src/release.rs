//! Key release on this node (issue 9): the dev node is a committee of one. Its share of the
//! committee's BLS12-381 master key lives in `<datadir>/keyrelease/share.key` (0600, in a 0700
//! directory), the committee's public description in `committee.hex` beside it. Two JSON-RPC
//! methods serve readers:
//! - `lightstreams_committee`: group public key, threshold, members, endpoints, encoded committee;
//! - `lightstreams_releaseKey(signedRequestHex)`: the member's partial signature on the file's
//!   identity, sealed to the reader's ephemeral key, once the request's signature, freshness,
//!   nonce, rate and the reader's access at the latest finalized block all check out.

use std::{
    io::Write,
    path::Path,
    sync::{Arc, OnceLock},
};

use alloy_primitives::{Address, B256, Bytes, hex};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_sol_types::SolCall;
use anyhow::{Context, bail};
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use ls_access::{
    AclAtFinalized, AclError, CommitteePublic, RateLimit, RateLimiter, ReleaseDomain, ReleaseError, Releaser,
    ReleaserConfig, ShareFile, SignedReleaseRequest, SystemClock,
};
use ls_chain::Chain;
use ls_contracts::{FILE_REGISTRY, FileRegistry};
use ls_evm::CallLimits;

pub(crate) const DIR: &str = "keyrelease";
/// IP addresses with a refilling key-release bucket tracked at once.
const MAX_TRACKED_PEERS: usize = 100_000;
const SHARE: &str = "share.key";
const COMMITTEE: &str = "committee.hex";

/// This node's committee and its own share: loaded from `dir`, or dealt (a committee of one,
/// `member`) when `dir` has none yet.
pub fn open_or_deal(datadir: &Path, member: Address) -> anyhow::Result<(CommitteePublic, ls_access::Share)> {
    let dir = datadir.join(DIR);
    let (share_path, committee_path) = (dir.join(SHARE), dir.join(COMMITTEE));
    match (share_path.exists(), committee_path.exists()) {
        (true, true) => {
            let text = std::fs::read_to_string(&committee_path)
                .with_context(|| format!("reading {}", committee_path.display()))?;
            let committee = CommitteePublic::from_hex(text.trim())
                .with_context(|| format!("{} is not a committee", committee_path.display()))?;
            let share = ShareFile::load(&share_path)?;
            Ok((committee, share))
        }
        (false, false) => deal_into(&dir, member),
        _ => bail!(
            "{} holds only one of {SHARE} and {COMMITTEE}; restore the other or move the directory away",
            dir.display()
        ),
    }
}

fn deal_into(dir: &Path, member: Address) -> anyhow::Result<(CommitteePublic, ls_access::Share)> {
    let mut rng = os_rng();
    let (committee, mut shares) = ls_access::deal(&mut rng, vec![member])?;
    let share = shares.pop().context("a committee of one has one share")?;
    write_member(dir, &committee, &share)?;
    Ok((committee, share))
}

/// Writes one member's committee file and share into `dir` (a node's `keyrelease/`), as
/// [`open_or_deal`] reads them.
pub(crate) fn write_member(dir: &Path, committee: &CommitteePublic, share: &ls_access::Share) -> anyhow::Result<()> {
    let (share_path, committee_path) = (dir.join(SHARE), dir.join(COMMITTEE));
    create_private_dir(dir)?;
    // The committee file goes first: a crash between the two leaves no share without its
    // committee, and the next start refuses the half-written directory instead of re-dealing.
    let tmp = dir.join(format!("{COMMITTEE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(committee.to_hex().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &committee_path)?;
    ShareFile::create(&share_path, share)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates `dir` (and its parents) readable by its owner only (0700 on Unix).
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    let made = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    };
    #[cfg(not(unix))]
    let made = std::fs::create_dir_all(dir);
    made.with_context(|| format!("creating {}", dir.display()))
}

/// A CSPRNG at the rand_core version ls-access takes, seeded from the OS.
pub(crate) fn os_rng() -> rand_chacha::ChaCha20Rng {
    use ls_access::rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::from_seed(rand::random())
}

/// The FileRegistry as of the head, which on a dev node is final the moment it is sealed.
/// (With the validator network this must read the last *finalized* block.)
pub struct ChainAcl {
    chain: Arc<Chain>,
    limits: CallLimits,
}

impl ChainAcl {
    pub fn new(chain: Arc<Chain>) -> Self {
        Self { chain, limits: CallLimits::default() }
    }

    fn view(&self, input: Vec<u8>) -> Result<Bytes, AclError> {
        let head = self.chain.head();
        let state = self.chain.store().state_at(Some(head.header.number)).map_err(|e| AclError(e.to_string()))?;
        let req = TransactionRequest::default().to(FILE_REGISTRY).input(input.into());
        let chain_id = self.chain.spec().chain_id;
        match ls_evm::call(chain_id, &head.header, &state, &req, None, &self.limits) {
            Ok(ls_evm::CallOutcome::Success { output, .. }) => Ok(output),
            Ok(other) => Err(AclError(format!("FileRegistry call failed: {other:?}"))),
            Err(e) => Err(AclError(e.to_string())),
        }
    }
}

impl ChainAcl {
    /// The registry's record of `file_id` at the head (owner zero: no such file).
    pub fn file_of(&self, file_id: B256) -> Result<FileRegistry::fileOfReturn, AclError> {
        let out = self.view(FileRegistry::fileOfCall { fileId: file_id }.abi_encode())?;
        FileRegistry::fileOfCall::abi_decode_returns(&out).map_err(|e| AclError(e.to_string()))
    }
}

impl AclAtFinalized for ChainAcl {
    fn has_read_access(&self, file_id: B256, reader: Address) -> Result<bool, AclError> {
        let out = self.view(FileRegistry::hasAccessCall { fileId: file_id, account: reader, level: 1 }.abi_encode())?;
        FileRegistry::hasAccessCall::abi_decode_returns(&out).map_err(|e| AclError(e.to_string()))
    }

    fn current_version(&self, file_id: B256) -> Result<Option<u64>, AclError> {
        let file = self.file_of(file_id)?;
        Ok((file.owner != Address::ZERO).then_some(u64::from(file.version)))
    }
}

/// What the RPC methods share.
pub struct KeyRelease {
    committee: CommitteePublic,
    /// None on a full node: it names the members but holds no share.
    releaser: Option<Releaser<ChainAcl, SystemClock>>,
    /// The members' RPC endpoints, known once the server is bound.
    endpoints: Arc<OnceLock<Vec<String>>>,
    /// Requests per IP address: signature recovery and the access check run before the
    /// releaser's per-account limit, and accounts cost nothing to make.
    peers: Option<parking_lot::Mutex<RateLimiter<std::net::IpAddr>>>,
}

impl KeyRelease {
    pub fn new(
        chain: Arc<Chain>,
        committee: CommitteePublic,
        share: Option<ls_access::Share>,
        endpoints: Arc<OnceLock<Vec<String>>>,
        peer_rate: u32,
    ) -> anyhow::Result<Self> {
        let domain = ReleaseDomain { chain_id: chain.spec().chain_id, registry: FILE_REGISTRY };
        let releaser = share
            .map(|share| Releaser::new(domain, &committee, share, ChainAcl::new(chain), SystemClock, ReleaserConfig::default()))
            .transpose()?;
        let peers = (peer_rate > 0).then(|| {
            let limit = RateLimit { burst: peer_rate.saturating_mul(2), refill_every_millis: (1000 / u64::from(peer_rate)).max(1) };
            parking_lot::Mutex::new(RateLimiter::new(limit, MAX_TRACKED_PEERS))
        });
        Ok(Self { committee, releaser, endpoints, peers })
    }

    /// Takes a token from `peer`'s bucket, or says when to retry.
    fn admit(&self, peer: Option<&ls_rpc::PeerAddr>) -> Result<(), ErrorObjectOwned> {
        let (Some(peers), Some(ls_rpc::PeerAddr(addr))) = (&self.peers, peer) else {
            return Ok(());
        };
        let now = ls_access::Clock::now_millis(&SystemClock);
        peers.lock().try_acquire(&addr.ip(), now).map_err(|ms| {
            let msg = format!("rate limited: peer {} may retry in {ms} ms", addr.ip());
            ErrorObjectOwned::owned(-32005, msg, None::<()>)
        })
    }
}

fn release_error(e: ReleaseError) -> ErrorObjectOwned {
    let code = match e {
        ReleaseError::RateLimited { .. } | ReleaseError::Busy => -32005,
        ReleaseError::Acl(_) => -32603,
        _ => -32000,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

/// The `lightstreams_committee` and `lightstreams_releaseKey` methods.
pub fn module(release: KeyRelease) -> RpcModule<KeyRelease> {
    let mut m = RpcModule::new(release);
    m.register_method("lightstreams_committee", |_, kr, _| {
        serde_json::json!({
            "groupPublicKey": hex::encode_prefixed(kr.committee.group_public_key()),
            "threshold": kr.committee.threshold(),
            "members": kr.committee.members(),
            "endpoints": kr.endpoints.get().cloned().unwrap_or_default(),
            "committee": kr.committee.to_hex(),
        })
    })
    .expect("a fresh module has no methods");
    m.register_blocking_method("lightstreams_releaseKey", |params, kr, ext| {
        let Some(releaser) = &kr.releaser else {
            let msg = "this node is not a key-release member: send the request to the endpoints lightstreams_committee lists";
            return Err(ErrorObjectOwned::owned(-32000, msg, None::<()>));
        };
        kr.admit(ext.get::<ls_rpc::PeerAddr>())?;
        let raw: Bytes = params.one()?;
        let signed = SignedReleaseRequest::from_bytes(&raw).map_err(|e| release_error(ReleaseError::Request(e)))?;
        let sealed = releaser.release(&mut os_rng(), &signed).map_err(release_error)?;
        Ok::<_, ErrorObjectOwned>(Bytes::from(sealed.to_bytes()))
    })
    .expect("a fresh module has no methods");
    m
}

//! Paid access from the command line (issue 9, client side): register and list a file on the
//! chain, buy one, and get a file's key from the validator committee instead of a local key file.
//!
//! Signing: `--from` names a dev account (the node signs with `eth_sendTransaction`, and this
//! tool signs release requests with the same well-known dev key). Keystore accounts come next.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, Bytes, U256, hex, utils::format_ether};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent};
use anyhow::{Context, bail};
use clap::Args;
use ls_access::{
    CommitteePublic, EphemeralSecret, ReleaseDomain, ReleaseRequest, SealedPartial, SignedReleaseRequest, WrappedKey,
    identity, open_sealed, unwrap_file_key,
};
use ls_contracts::{FILE_REGISTRY, FileRegistry, MARKET, Market};
use serde_json::{Value, json};

use crate::{
    release::os_rng,
    remote::{MAX_MESSAGE, read_capped},
};

/// The chain side of a file command.
#[derive(Debug, Args)]
pub struct ChainArg {
    /// The node's JSON-RPC endpoint (registration, purchases, key release).
    #[arg(long, env = "LIGHTSTREAMS_RPC", default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// The account that registers, buys or reads (a dev account of the node).
    #[arg(long)]
    pub from: Option<Address>,
}

/// A JSON-RPC client with bounded answers and one-line errors.
pub struct Rpc {
    http: reqwest::blocking::Client,
    url: String,
}

impl Rpc {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { http, url: url.to_string() })
    }

    pub fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .map_err(|e| anyhow::anyhow!("no JSON-RPC answer from {}: {e}", self.url))?;
        let v: Value = serde_json::from_slice(&read_capped(resp, MAX_MESSAGE * 16, "a JSON-RPC answer")?)
            .with_context(|| format!("{} answered {method} with something that is not JSON", self.url))?;
        if let Some(e) = v.get("error") {
            bail!("{}", e["message"].as_str().unwrap_or("error without a message"));
        }
        Ok(v["result"].clone())
    }

    /// A contract view: `call` sent to `to` with eth_call, its return value decoded.
    fn view<C: SolCall>(&self, to: Address, call: C) -> anyhow::Result<C::Return> {
        let out = self.call("eth_call", json!([{"to": to, "data": Bytes::from(call.abi_encode())}, "latest"]))?;
        let bytes = hex::decode(out.as_str().context("eth_call answered without data")?)?;
        Ok(C::abi_decode_returns(&bytes)?)
    }

    fn quantity(&self, method: &str, params: Value) -> anyhow::Result<U256> {
        let v = self.call(method, params)?;
        v.as_str().and_then(|s| s.parse().ok()).with_context(|| format!("{method} answered {v}"))
    }

    /// Sends a transaction the node signs for `from` and waits for it to be mined; a revert is
    /// an error with the reason the node gives.
    fn transact(&self, from: Address, to: Address, data: Vec<u8>, value: U256, what: &str) -> anyhow::Result<Value> {
        let tx = json!({"from": from, "to": to, "data": Bytes::from(data), "value": value});
        let hash = self.call("eth_sendTransaction", json!([tx])).with_context(|| format!("{what} failed"))?;
        let start = Instant::now();
        loop {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash]))?;
            if !receipt.is_null() {
                if receipt["status"] != json!("0x1") {
                    bail!("{what} failed: transaction {hash} reverted");
                }
                return Ok(receipt);
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("{what}: transaction {hash} was not mined within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn committee(&self) -> anyhow::Result<(CommitteePublic, Vec<String>)> {
        let info = self.call("lightstreams_committee", json!([]))?;
        let committee = CommitteePublic::from_hex(info["committee"].as_str().context("no committee in the answer")?)?;
        let endpoints = info["endpoints"].as_array().map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect()).unwrap_or_default();
        Ok((committee, endpoints))
    }

    fn chain_id(&self) -> anyhow::Result<u64> {
        Ok(self.quantity("eth_chainId", json!([]))?.to())
    }
}

fn need_from(chain: &ChainArg, what: &str) -> anyhow::Result<Address> {
    chain.from.with_context(|| format!("{what} needs --from <account>"))
}

/// The dev key of `from` (the node's well-known test accounts).
fn dev_key(from: Address) -> anyhow::Result<PrivateKeySigner> {
    ls_primitives::dev::dev_signers(ls_primitives::dev::DEV_ACCOUNTS)
        .into_iter()
        .find(|s| s.address() == from)
        .with_context(|| format!("{from} is not a dev account; only dev accounts can sign from the command line so far"))
}

/// What the client puts in the manifest so readers can get the key: the chain's file id and key
/// version, and the file key wrapped to the committee for that identity.
pub struct Registration {
    pub file_id: B256,
    salt: B256,
    pub key_release: serde_json::Map<String, Value>,
}

/// Picks the file id for `owner` (before anything is encrypted) and wraps `file_key` to it.
pub fn prepare(rpc: &Rpc, owner: Address, file_key: &[u8; 32]) -> anyhow::Result<Registration> {
    let salt = B256::from(rand::random::<[u8; 32]>());
    let file_id = rpc.view(FILE_REGISTRY, FileRegistry::fileIdOfCall { account: owner, salt })?;
    let key_release = wrap_for(rpc, file_id, 1, file_key)?;
    Ok(Registration { file_id, salt, key_release })
}

/// The manifest's `keyRelease` for version `version` of `file_id`: `file_key` wrapped to the
/// committee for that identity.
fn wrap_for(rpc: &Rpc, file_id: B256, version: u64, file_key: &[u8; 32]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let chain_id = rpc.chain_id()?;
    let (committee, _) = rpc.committee()?;
    let mut rng = os_rng();
    let wrapped = ls_access::wrap_file_key(&mut rng, &committee, &identity(chain_id, FILE_REGISTRY, file_id, version), file_key)?;
    let key_release = json!({
        "chainId": chain_id,
        "registry": FILE_REGISTRY,
        "fileId": file_id,
        "keyVersion": version,
        "wrappedKey": wrapped.to_hex(),
    });
    key_release.as_object().cloned().context("a JSON object")
}

/// The registry's record of `file_id` (an error if no such file).
fn file_of(rpc: &Rpc, file_id: B256) -> anyhow::Result<FileRegistry::fileOfReturn> {
    let file = rpc.view(FILE_REGISTRY, FileRegistry::fileOfCall { fileId: file_id })?;
    if file.owner == Address::ZERO {
        bail!("file {file_id} is not registered");
    }
    Ok(file)
}

/// The registry's current version of `file_id` (an error if no such file).
pub fn current_version(rpc: &Rpc, file_id: B256) -> anyhow::Result<u64> {
    Ok(u64::from(file_of(rpc, file_id)?.version))
}

/// For `file update`: checks that `chain.from` may write (before anything is uploaded) and
/// wraps `file_key` for the next version.
pub fn prepare_update(
    rpc: &Rpc,
    chain: &ChainArg,
    file_id: B256,
    file_key: &[u8; 32],
) -> anyhow::Result<(u64, serde_json::Map<String, Value>)> {
    let from = need_from(chain, "updating")?;
    let next = current_version(rpc, file_id)? + 1;
    let call = FileRegistry::hasAccessCall { fileId: file_id, account: from, level: Level::Write as u8 };
    if !rpc.view(FILE_REGISTRY, call)? {
        bail!("{from} may not update file {file_id}: only its owner or an account with write access can");
    }
    Ok((next, wrap_for(rpc, file_id, next, file_key)?))
}

/// Points `file_id` at the new manifest `cid`; the registry bumps the version to `version`.
pub fn update(rpc: &Rpc, chain: &ChainArg, file_id: B256, cid: &cid::Cid, version: u64) -> anyhow::Result<()> {
    let from = need_from(chain, "updating")?;
    let call = FileRegistry::updateContentCall { fileId: file_id, cid: cid.to_bytes().into() };
    rpc.transact(from, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "updating the file")?;
    let now = current_version(rpc, file_id)?;
    if now != version {
        bail!("the registry is at version {now}, not {version}: another update came in between; run `file update` again");
    }
    Ok(())
}

/// Registers the uploaded manifest `cid` under the prepared id and lists it at `price` if given.
pub fn register(rpc: &Rpc, owner: Address, reg: &Registration, cid: &cid::Cid, price: Option<U256>) -> anyhow::Result<()> {
    let call = FileRegistry::registerCall { salt: reg.salt, cid: cid.to_bytes().into(), metadataURI: String::new(), isPublic: false };
    rpc.transact(owner, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "registering the file")?;
    if let Some(price) = price {
        let payees = vec![Market::Payee { account: owner, bps: 10_000 }];
        let list = Market::listCall { fileId: reg.file_id, token: Address::ZERO, price, duration: 0, payees };
        rpc.transact(owner, MARKET, list.abi_encode(), U256::ZERO, "listing the file")?;
    }
    Ok(())
}

/// `lightstreams file buy`: pays the listed price for permanent (or the listed) access.
pub fn buy(rpc: &Rpc, chain: &ChainArg, file_id: B256) -> anyhow::Result<String> {
    let buyer = need_from(chain, "buying")?;
    let listing = rpc.view(MARKET, Market::listingOfCall { fileId: file_id })?.listing;
    if !listing.active {
        bail!("file {file_id} is not for sale");
    }
    if listing.token != Address::ZERO {
        bail!("file {file_id} is sold for the ERC-20 {}; buy it with a wallet for now", listing.token);
    }
    let balance = rpc.quantity("eth_getBalance", json!([buyer, "latest"]))?;
    if balance <= listing.price {
        bail!("insufficient funds: need {} + gas, have {}", format_ether(listing.price), format_ether(balance));
    }
    let call = Market::buyCall { fileId: file_id, token: Address::ZERO, price: listing.price, duration: listing.duration };
    rpc.transact(buyer, MARKET, call.abi_encode(), listing.price, "buying")?;
    let access = if listing.duration == 0 { "permanent access".to_string() } else { format!("access for {} s", listing.duration) };
    Ok(format!("bought {file_id} for {} ETH; {access}", format_ether(listing.price)))
}

/// The file id a user names: `0x…` (32 bytes) or a manifest CID whose key release names it.
pub fn file_id_of(id: &str, manifest: impl FnOnce(&cid::Cid) -> anyhow::Result<ls_content::Manifest>) -> anyhow::Result<B256> {
    if let Ok(b) = id.parse::<B256>() {
        return Ok(b);
    }
    let cid = cid::Cid::try_from(id).map_err(|e| anyhow::anyhow!("{id:?} is neither a file id (0x…) nor a CID: {e}"))?;
    let m = manifest(&cid)?;
    let release = m.key_release.with_context(|| format!("{id} was not registered on the chain (no key release in its manifest)"))?;
    release.get("fileId").and_then(Value::as_str).and_then(|s| s.parse().ok()).context("the manifest's key release has no file id")
}

/// Gets the file key of `manifest` from the committee for reader `chain.from`.
pub fn release_key(chain: &ChainArg, release: &serde_json::Map<String, Value>) -> anyhow::Result<[u8; 32]> {
    let reader = need_from(chain, "reading a file whose key is not here")?;
    let signer = dev_key(reader)?;
    let field = |k: &str| release.get(k).with_context(|| format!("the manifest's key release has no {k}"));
    let file_id: B256 = field("fileId")?.as_str().and_then(|s| s.parse().ok()).context("bad fileId")?;
    let version = field("keyVersion")?.as_u64().context("bad keyVersion")?;
    let chain_id = field("chainId")?.as_u64().context("bad chainId")?;
    let registry: Address = field("registry")?.as_str().and_then(|s| s.parse().ok()).context("bad registry")?;
    let wrapped = WrappedKey::from_hex(field("wrappedKey")?.as_str().context("bad wrappedKey")?)?;
    let rpc = Rpc::new(&chain.rpc)?;
    let (committee, endpoints) = rpc.committee()?;
    if endpoints.is_empty() {
        bail!("the committee lists no endpoints to ask for the key");
    }
    let mut rng = os_rng();
    let (secret, ephemeral_key) = EphemeralSecret::generate(&mut rng);
    let expiry = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 120;
    let request = ReleaseRequest { fileId: file_id, version, reader, ephemeralKey: ephemeral_key, expiry, nonce: rand::random() };
    let signed = SignedReleaseRequest::sign(ReleaseDomain { chain_id, registry }, request, &signer)?;
    let hash = signed.request_hash();
    // Every member at once: a reader waits for the slowest of the threshold, not for the sum.
    let body = json!([Bytes::from(signed.to_bytes())]);
    let answers: Vec<(String, anyhow::Result<_>)> = std::thread::scope(|scope| {
        let asks: Vec<_> = endpoints
            .iter()
            .map(|endpoint| {
                let (body, secret, hash) = (body.clone(), &secret, &hash);
                scope.spawn(move || {
                    let answer = Rpc::new(endpoint)
                        .and_then(|member| member.call("lightstreams_releaseKey", body))
                        .and_then(|v| Ok(hex::decode(v.as_str().context("no sealed key share in the answer")?)?))
                        .and_then(|b| Ok(SealedPartial::from_bytes(&b)?))
                        .and_then(|sealed| Ok(open_sealed(secret, &sealed, hash)?));
                    (endpoint.clone(), answer)
                })
            })
            .collect();
        asks.into_iter().map(|a| a.join().expect("a key request thread panicked")).collect()
    });
    let (mut partials, mut refusals) = (Vec::new(), Vec::new());
    for (endpoint, answer) in answers {
        match answer {
            Ok(p) => partials.push(p),
            Err(e) => refusals.push(format!("{endpoint}: {e:#}")),
        }
    }
    partials.truncate(committee.threshold() as usize);
    if partials.len() < committee.threshold() as usize {
        bail!(
            "only {} of {} key shares answered ({})",
            partials.len(),
            committee.threshold(),
            refusals.join("; ")
        );
    }
    let key = unwrap_file_key(&committee, &identity(chain_id, registry, file_id, version), &wrapped, &partials)?;
    Ok(*key)
}

/// A decimal coin amount (`2.5`) in wei.
pub fn parse_price(s: &str) -> Result<U256, String> {
    let v = alloy_primitives::utils::parse_ether(s).map_err(|e| format!("{s:?} is not an amount of coin: {e}"))?;
    if v.is_zero() {
        return Err("a price must be more than 0".into());
    }
    Ok(v)
}

/// Access levels as the FileRegistry numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Read = 1,
    Write = 2,
    Admin = 3,
}

/// When a grant ends: `--until` (a date, `2027-01-01`, or an RFC 3339 time) or `--for` (a
/// duration, `30d`); neither is a permanent grant (0).
pub fn expiry(until: Option<&str>, r#for: Option<std::time::Duration>) -> anyhow::Result<u64> {
    let now = SystemTime::now();
    let at = match (until, r#for) {
        (Some(_), Some(_)) => bail!("--until and --for both say when the grant ends; give one"),
        (None, None) => return Ok(0),
        (None, Some(d)) => now + d,
        (Some(u), None) => {
            let text = if u.len() == 10 { format!("{u}T00:00:00Z") } else { u.to_string() };
            humantime::parse_rfc3339_weak(&text).map_err(|e| anyhow::anyhow!("--until {u:?}: {e} (use 2027-01-01 or 2027-01-01T12:00:00Z)"))?
        }
    };
    let secs = at.duration_since(UNIX_EPOCH)?.as_secs();
    if at <= now {
        bail!("that grant would already have ended");
    }
    Ok(secs)
}

/// `lightstreams file grant`: the owner (or an admin) lets `account` read, write or administer.
pub fn grant(rpc: &Rpc, chain: &ChainArg, file_id: B256, account: Address, level: Level, expiry: u64) -> anyhow::Result<()> {
    let from = need_from(chain, "granting")?;
    let call = FileRegistry::grantCall { fileId: file_id, account, level: level as u8, expiry };
    rpc.transact(from, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "granting")?;
    Ok(())
}

/// `lightstreams file revoke`: ends a grant (a purchase is not a grant and stays).
pub fn revoke(rpc: &Rpc, chain: &ChainArg, file_id: B256, account: Address) -> anyhow::Result<()> {
    let from = need_from(chain, "revoking")?;
    let call = FileRegistry::revokeCall { fileId: file_id, account };
    rpc.transact(from, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "revoking")?;
    Ok(())
}

/// Blocks one eth_getLogs asks for (the node's limit is 10 000).
const LOG_WINDOW: u64 = 10_000;

/// Logs of `address` with `topics`, from genesis to the head, in windows the node accepts.
fn all_logs(rpc: &Rpc, address: Address, topics: Value) -> anyhow::Result<Vec<Value>> {
    let head: u64 = rpc.quantity("eth_blockNumber", json!([]))?.to();
    let mut out = Vec::new();
    let mut from = 0;
    while from <= head {
        let to = (from + LOG_WINDOW - 1).min(head);
        let filter = json!({"address": address, "fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}"), "topics": topics});
        out.extend(rpc.call("eth_getLogs", json!([filter]))?.as_array().cloned().unwrap_or_default());
        from = to + 1;
    }
    Ok(out)
}

fn when(expiry: u64) -> String {
    if expiry == 0 {
        "no end".into()
    } else {
        format!("until {}", humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(expiry)))
    }
}

/// `lightstreams file access`: owner, version, listing, and who may read now (grants and
/// purchases found in the registry's events, each checked against the registry's current state).
pub fn access(rpc: &Rpc, file_id: B256) -> anyhow::Result<Value> {
    let file = file_of(rpc, file_id)?;
    let listing = rpc.view(MARKET, Market::listingOfCall { fileId: file_id })?.listing;
    let kinds = [
        FileRegistry::AccessGranted::SIGNATURE_HASH,
        FileRegistry::AccessRevoked::SIGNATURE_HASH,
        FileRegistry::AccessPurchased::SIGNATURE_HASH,
    ];
    let logs = all_logs(rpc, FILE_REGISTRY, json!([kinds, file_id]))?;
    let mut accounts: Vec<Address> = logs
        .iter()
        .filter_map(|l| l["topics"].get(2)?.as_str()?.parse::<B256>().ok())
        .map(Address::from_word)
        .collect();
    accounts.sort();
    accounts.dedup();
    let mut readers = Vec::new();
    for account in accounts {
        let grant = rpc.view(FILE_REGISTRY, FileRegistry::grantOfCall { fileId: file_id, account })?;
        let purchase = rpc.view(FILE_REGISTRY, FileRegistry::purchaseOfCall { fileId: file_id, account })?;
        let level = ["none", "read", "write", "admin"].get(usize::from(grant.level)).copied().unwrap_or("unknown");
        let mut entry = json!({"account": account});
        if grant.level != 0 {
            entry["grant"] = json!({"level": level, "expiry": grant.expiry, "ends": when(grant.expiry)});
        }
        if purchase.active {
            entry["purchase"] = json!({"expiry": purchase.expiry, "ends": when(purchase.expiry)});
        }
        if entry.as_object().is_some_and(|o| o.len() > 1) {
            readers.push(entry);
        }
    }
    let sales = all_logs(rpc, MARKET, json!([Market::Purchased::SIGNATURE_HASH, file_id]))?.len();
    Ok(json!({
        "fileId": file_id,
        "owner": file.owner,
        "version": file.version,
        "public": file.isPublic,
        "listing": listing.active.then(|| json!({
            "price": format_ether(listing.price),
            "token": listing.token,
            "duration": listing.duration,
        })),
        "access": readers,
        "sales": sales,
    }))
}

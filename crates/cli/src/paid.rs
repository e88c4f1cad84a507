//! Paid access from the command line (issue 9, client side): register and list a file on the
//! chain, buy one, and get a file's key from the validator committee instead of a local key file.
//!
//! Signing: `--from` names an account of the keystore (`--keystore`, unlocked with a password
//! prompt or `--password-file`) or, failing that, one of the dev node's well-known accounts.
//! This tool signs everything itself: transactions (EIP-1559, sent with
//! `eth_sendRawTransaction`) and release requests, so it works against any node.

use std::{
    sync::OnceLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::TxKind;

use alloy_primitives::{Address, B256, Bytes, U256, hex};
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
    account::{KeystoreArgs, keystore_dir, password},
    release::os_rng,
    remote::{MAX_MESSAGE, read_capped},
};

alloy_sol_types::sol! {
    /// What `--token` prices and `file buy` need of an ERC-20.
    interface IERC20 {
        function decimals() external view returns (uint8);
        function symbol() external view returns (string);
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 amount) external returns (bool);
    }
}

/// What a price is counted in: the chain's coin, or an ERC-20 with its decimals and symbol.
pub struct Unit {
    pub token: Address,
    pub decimals: u8,
    pub symbol: String,
}

impl Unit {
    /// `token` zero is the coin (18 decimals, ETH); an ERC-20 without `decimals()` counts in 18,
    /// one without `symbol()` is named by its address.
    pub fn of(rpc: &Rpc, token: Address) -> anyhow::Result<Self> {
        if token == Address::ZERO {
            return Ok(Self { token, decimals: 18, symbol: "ETH".into() });
        }
        if rpc.call("eth_getCode", json!([token, "latest"]))?.as_str().is_none_or(|c| c == "0x") {
            bail!("{token} is not a contract, so not an ERC-20");
        }
        let decimals = rpc.view(token, IERC20::decimalsCall {}).unwrap_or(18);
        let symbol = rpc
            .view(token, IERC20::symbolCall {})
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| token.to_string());
        Ok(Self { token, decimals, symbol })
    }

    /// `2.5` in this unit's smallest units.
    pub fn parse(&self, text: &str) -> anyhow::Result<U256> {
        let v: U256 = alloy_primitives::utils::parse_units(text, self.decimals)
            .map_err(|e| anyhow::anyhow!("{text:?} is not an amount of {}: {e}", self.symbol))?
            .into();
        if v.is_zero() {
            bail!("a price must be more than 0");
        }
        Ok(v)
    }

    pub fn format(&self, amount: U256) -> String {
        let text = alloy_primitives::utils::format_units(amount, self.decimals).unwrap_or_else(|_| amount.to_string());
        format!("{text} {}", self.symbol)
    }
}

/// The chain side of a file command.
#[derive(Debug, Args)]
pub struct ChainArg {
    /// The node's JSON-RPC endpoint (registration, purchases, key release).
    #[arg(long, env = "LIGHTSTREAMS_RPC", default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// The account that registers, buys or reads: one in the keystore, else a dev account.
    #[arg(long)]
    pub from: Option<Address>,
    #[command(flatten)]
    pub keys: KeystoreArgs,
    /// `--from`'s key, unlocked once per command.
    #[arg(skip)]
    signer: OnceLock<PrivateKeySigner>,
}

impl ChainArg {
    /// The key of `--from`, unlocked on first use (one password prompt per command).
    pub fn signer(&self, what: &str) -> anyhow::Result<&PrivateKeySigner> {
        if let Some(s) = self.signer.get() {
            return Ok(s);
        }
        let from = need_from(self, what)?;
        let signer = unlock(from, &self.keys)?;
        Ok(self.signer.get_or_init(|| signer))
    }
}

/// `from`'s key: from the keystore when it holds `from`, else the dev key of that address.
fn unlock(from: Address, keys: &KeystoreArgs) -> anyhow::Result<PrivateKeySigner> {
    let dir = keystore_dir(keys)?;
    // An absent keystore is not created just to look into it.
    if dir.is_dir() {
        let ks = ls_keystore::Keystore::open(&dir)?;
        if ks.list()?.iter().any(|(a, _)| *a == from) {
            let pw = password(keys, false, &format!("Password for {from}: "))?;
            return ks.unlock(from, &pw).map_err(|e| match e {
                ls_keystore::KeystoreError::WrongPassword => {
                    anyhow::anyhow!("wrong password for {from} (keystore {})", dir.display())
                }
                e => e.into(),
            });
        }
    }
    ls_primitives::dev::dev_signers(ls_primitives::dev::DEV_ACCOUNTS).into_iter().find(|s| s.address() == from).with_context(|| {
        format!(
            "no key for {from}: it is not in the keystore {} and is not a dev account (import it with `lightstreams account import`, or pass --keystore)",
            dir.display()
        )
    })
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

    /// Signs a call of `to` with `signer` (EIP-1559; gas from `eth_estimateGas`, so a call that
    /// would revert is an error with the node's reason before anything is sent), sends it and
    /// waits for it to be mined.
    fn transact(&self, signer: &PrivateKeySigner, to: Address, data: Vec<u8>, value: U256, what: &str) -> anyhow::Result<Value> {
        let from = signer.address();
        let failed = || format!("{what} failed");
        let call = json!({"from": from, "to": to, "data": Bytes::from(data.clone()), "value": value});
        let gas: u64 = self.quantity("eth_estimateGas", json!([call])).with_context(failed)?.to();
        let nonce: u64 = self.quantity("eth_getTransactionCount", json!([from, "pending"]))?.to();
        let tip: u128 = self.quantity("eth_maxPriorityFeePerGas", json!([]))?.to();
        let latest = self.call("eth_getBlockByNumber", json!(["latest", false]))?;
        let base: u128 = latest["baseFeePerGas"].as_str().and_then(|s| s.parse::<U256>().ok()).map_or(0, |b| b.to());
        let mut tx = TxEip1559 {
            chain_id: self.chain_id()?,
            nonce,
            // A margin over the estimate, as wallets add: the state may move before inclusion.
            gas_limit: gas + gas / 5,
            max_fee_per_gas: 2 * base + tip,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input: data.into(),
        };
        let signature = signer.sign_transaction_sync(&mut tx).context("signing the transaction")?;
        let raw: TxEnvelope = tx.into_signed(signature).into();
        let hash = self.call("eth_sendRawTransaction", json!([Bytes::from(raw.encoded_2718())])).with_context(failed)?;
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

/// The manifest CID `file_id` points at now (an error if no such file).
pub fn content_of(rpc: &Rpc, file_id: B256) -> anyhow::Result<cid::Cid> {
    let file = file_of(rpc, file_id)?;
    cid::Cid::try_from(&file.content[..]).with_context(|| format!("file {file_id}'s registered content is not a CID"))
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
    let from = chain.signer("updating")?.address();
    let next = current_version(rpc, file_id)? + 1;
    let call = FileRegistry::hasAccessCall { fileId: file_id, account: from, level: Level::Write as u8 };
    if !rpc.view(FILE_REGISTRY, call)? {
        bail!("{from} may not update file {file_id}: only its owner or an account with write access can");
    }
    Ok((next, wrap_for(rpc, file_id, next, file_key)?))
}

/// Points `file_id` at the new manifest `cid`; the registry bumps the version to `version`.
pub fn update(rpc: &Rpc, chain: &ChainArg, file_id: B256, cid: &cid::Cid, version: u64) -> anyhow::Result<()> {
    let signer = chain.signer("updating")?;
    let call = FileRegistry::updateContentCall { fileId: file_id, cid: cid.to_bytes().into() };
    rpc.transact(signer, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "updating the file")?;
    let now = current_version(rpc, file_id)?;
    if now != version {
        bail!("the registry is at version {now}, not {version}: another update came in between; run `file update` again");
    }
    Ok(())
}

/// Registers the uploaded manifest `cid` under the prepared id and lists it at `price` (in
/// `token`, zero for the coin) if given.
pub fn register(
    rpc: &Rpc,
    owner: &PrivateKeySigner,
    reg: &Registration,
    cid: &cid::Cid,
    price: Option<U256>,
    token: Address,
) -> anyhow::Result<()> {
    let call = FileRegistry::registerCall { salt: reg.salt, cid: cid.to_bytes().into(), metadataURI: String::new(), isPublic: false };
    rpc.transact(owner, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "registering the file")?;
    if let Some(price) = price {
        let payees = vec![Market::Payee { account: owner.address(), bps: 10_000 }];
        let list = Market::listCall { fileId: reg.file_id, token, price, duration: 0, payees };
        rpc.transact(owner, MARKET, list.abi_encode(), U256::ZERO, "listing the file")?;
    }
    Ok(())
}

/// `lightstreams file buy`: pays the listed price (coin, or an ERC-20 the Market may then draw,
/// approved here first) for permanent (or the listed) access.
pub fn buy(rpc: &Rpc, chain: &ChainArg, file_id: B256) -> anyhow::Result<String> {
    let signer = chain.signer("buying")?;
    let buyer = signer.address();
    let listing = rpc.view(MARKET, Market::listingOfCall { fileId: file_id })?.listing;
    if !listing.active {
        bail!("file {file_id} is not for sale");
    }
    let unit = Unit::of(rpc, listing.token)?;
    let coins = rpc.quantity("eth_getBalance", json!([buyer, "latest"]))?;
    let value = if listing.token == Address::ZERO {
        if coins <= listing.price {
            bail!("insufficient funds: need {} + gas, have {}", unit.format(listing.price), unit.format(coins));
        }
        listing.price
    } else {
        let have = rpc.view(listing.token, IERC20::balanceOfCall { account: buyer })?;
        if have < listing.price {
            bail!("insufficient funds: need {}, have {}", unit.format(listing.price), unit.format(have));
        }
        if coins.is_zero() {
            bail!("insufficient funds: {buyer} holds no ETH to pay gas with");
        }
        let allowed = rpc.view(listing.token, IERC20::allowanceCall { owner: buyer, spender: MARKET })?;
        if allowed < listing.price {
            let approve = IERC20::approveCall { spender: MARKET, amount: listing.price };
            rpc.transact(signer, listing.token, approve.abi_encode(), U256::ZERO, "approving the Market to draw the price")?;
        }
        U256::ZERO
    };
    let call = Market::buyCall { fileId: file_id, token: listing.token, price: listing.price, duration: listing.duration };
    rpc.transact(signer, MARKET, call.abi_encode(), value, "buying")?;
    let access = if listing.duration == 0 { "permanent access".to_string() } else { format!("access for {} s", listing.duration) };
    Ok(format!("bought {file_id} for {}; {access}", unit.format(listing.price)))
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

/// A manifest's `keyRelease`: which identity the file key is wrapped to, and the wrapped key.
pub struct KeyRelease {
    pub domain: ReleaseDomain,
    pub file_id: B256,
    pub version: u64,
    pub wrapped: WrappedKey,
}

impl KeyRelease {
    pub fn parse(release: &serde_json::Map<String, Value>) -> anyhow::Result<Self> {
        let field = |k: &str| release.get(k).with_context(|| format!("the manifest's key release has no {k}"));
        Ok(Self {
            domain: ReleaseDomain {
                chain_id: field("chainId")?.as_u64().context("bad chainId")?,
                registry: field("registry")?.as_str().and_then(|s| s.parse().ok()).context("bad registry")?,
            },
            file_id: field("fileId")?.as_str().and_then(|s| s.parse().ok()).context("bad fileId")?,
            version: field("keyVersion")?.as_u64().context("bad keyVersion")?,
            wrapped: WrappedKey::from_hex(field("wrappedKey")?.as_str().context("bad wrappedKey")?)?,
        })
    }

    /// A request for this key by `reader`, to be signed, and the secret that opens the answers.
    pub fn request(&self, reader: Address, valid_for: Duration) -> anyhow::Result<(ReleaseRequest, EphemeralSecret)> {
        let (secret, ephemeral_key) = EphemeralSecret::generate(&mut os_rng());
        let expiry = (SystemTime::now() + valid_for).duration_since(UNIX_EPOCH)?.as_secs();
        let request =
            ReleaseRequest { fileId: self.file_id, version: self.version, reader, ephemeralKey: ephemeral_key, expiry, nonce: rand::random() };
        Ok((request, secret))
    }
}

/// Gets the file key of `manifest` from the committee for reader `chain.from`.
pub fn release_key(chain: &ChainArg, release: &serde_json::Map<String, Value>) -> anyhow::Result<[u8; 32]> {
    let signer = chain.signer("reading a file whose key is not here")?;
    let release = KeyRelease::parse(release)?;
    let (request, secret) = release.request(signer.address(), Duration::from_secs(120))?;
    let signed = SignedReleaseRequest::sign(release.domain, request, signer)?;
    fetch_key(&Rpc::new(&chain.rpc)?, &release, &signed, &secret, RETRY_FOR)
}

/// How long a reader keeps asking members that have not yet seen its access: finality reaches
/// the members at slightly different moments, so a purchase final at the reader's node may not
/// be final at every member yet.
pub const RETRY_FOR: Duration = Duration::from_secs(10);

/// Asks every committee member `rpc` lists for its partial on `signed` (all at once: a reader
/// waits for the slowest of the threshold, not for the sum), opens the answers with `secret`
/// and unwraps the key.
///
/// Members that refuse for want of access or for rate are asked again with the same request
/// (a refused request does not spend its nonce) every 250 ms for up to `retry_for`, but only
/// while the reader's own node says it may read: a reader without access hears so at once.
pub fn fetch_key(
    rpc: &Rpc,
    release: &KeyRelease,
    signed: &SignedReleaseRequest,
    secret: &EphemeralSecret,
    retry_for: Duration,
) -> anyhow::Result<[u8; 32]> {
    let (committee, endpoints) = rpc.committee()?;
    if endpoints.is_empty() {
        bail!("the committee lists no endpoints to ask for the key");
    }
    let threshold = committee.threshold() as usize;
    let hash = signed.request_hash();
    let body = json!([Bytes::from(signed.to_bytes())]);
    let deadline = Instant::now() + retry_for;
    let (mut partials, mut ask, mut refusals) = (Vec::new(), endpoints, Vec::new());
    let mut checked_access = false;
    loop {
        let answers: Vec<(String, anyhow::Result<_>)> = std::thread::scope(|scope| {
            let asks: Vec<_> = ask
                .iter()
                .map(|endpoint| {
                    let (body, hash) = (body.clone(), &hash);
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
        let mut again = Vec::new();
        refusals.clear();
        for (endpoint, answer) in answers {
            match answer {
                Ok(p) => partials.push(p),
                Err(e) => {
                    let text = format!("{e:#}");
                    if text.starts_with("no read access") || text.starts_with("rate limited") || text.starts_with("too many outstanding") {
                        again.push(endpoint.clone());
                    }
                    refusals.push(format!("{endpoint}: {text}"));
                }
            }
        }
        if partials.len() >= threshold {
            break;
        }
        if !checked_access && !again.is_empty() {
            checked_access = true;
            let reader = signed.request.reader;
            let call = FileRegistry::hasAccessCall { fileId: release.file_id, account: reader, level: Level::Read as u8 };
            if !rpc.view(release.domain.registry, call)? {
                bail!(
                    "{} (only {} of {threshold} key shares answered: {})",
                    why_no_access(rpc, release.domain.registry, release.file_id, reader)?,
                    partials.len(),
                    refusals.join("; ")
                );
            }
        }
        if again.is_empty() || Instant::now() >= deadline {
            bail!("only {} of {threshold} key shares answered ({})", partials.len(), refusals.join("; "));
        }
        ask = again;
        std::thread::sleep(Duration::from_millis(250));
    }
    partials.truncate(threshold);
    let identity = identity(release.domain.chain_id, release.domain.registry, release.file_id, release.version);
    let key = unwrap_file_key(&committee, &identity, &release.wrapped, &partials)?;
    Ok(*key)
}

/// Why `reader` may not read `file_id`, and what to do: "access expired on …" when its grant
/// or purchase ran out, else that it never had any.
fn why_no_access(rpc: &Rpc, registry: Address, file_id: B256, reader: Address) -> anyhow::Result<String> {
    let grant = rpc.view(registry, FileRegistry::grantOfCall { fileId: file_id, account: reader })?;
    let purchase = rpc.view(registry, FileRegistry::purchaseOfCall { fileId: file_id, account: reader })?;
    let ended = [(grant.level != 0).then_some(grant.expiry), Some(purchase.expiry)].into_iter().flatten().filter(|e| *e != 0).max();
    Ok(match ended {
        Some(at) => format!(
            "{reader}'s access to file {file_id} expired on {}: buy it again (`lightstreams file buy`) or ask its owner for a new grant",
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at))
        ),
        None => format!("{reader} may not read file {file_id}: buy it (`lightstreams file buy`) or ask its owner for a grant"),
    })
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
    let signer = chain.signer("granting")?;
    let call = FileRegistry::grantCall { fileId: file_id, account, level: level as u8, expiry };
    rpc.transact(signer, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "granting")?;
    Ok(())
}

/// `lightstreams file revoke`: ends a grant (a purchase is not a grant and stays).
pub fn revoke(rpc: &Rpc, chain: &ChainArg, file_id: B256, account: Address) -> anyhow::Result<()> {
    let signer = chain.signer("revoking")?;
    let call = FileRegistry::revokeCall { fileId: file_id, account };
    rpc.transact(signer, FILE_REGISTRY, call.abi_encode(), U256::ZERO, "revoking")?;
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
    let unit = Unit::of(rpc, listing.token)?;
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
        // A grant that ran out is history, not access (the registry keeps its record).
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        if grant.level != 0 && (grant.expiry == 0 || grant.expiry > now) {
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
            "price": alloy_primitives::utils::format_units(listing.price, unit.decimals).unwrap_or_default(),
            "unit": unit.symbol,
            "token": listing.token,
            "duration": listing.duration,
        })),
        "access": readers,
        "sales": sales,
    }))
}

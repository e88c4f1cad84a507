//! `lightstreams file add | get | cat | buy | ls`: talk to a running node's gateway, as `ipfs`
//! talks to its daemon. Encrypted files (the default) are keyed and encrypted here: the key and
//! nonce prefix are made on this machine, kept in `~/.lightstreams/keys/<file id>.json` (0600),
//! and never sent; the node receives ciphertext and a manifest. With `--from` the key is also
//! wrapped to the validator committee so that readers the chain allows can get it (`paid`).

use std::{io::Write, path::PathBuf, time::UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use cid::Cid;
use clap::Subcommand;
use ls_content::{Blockstore, BlockstoreError, DAG_JSON, FileKey, Manifest};

use crate::{
    paid::{self, ChainArg, Rpc},
    remote::{MAX_MESSAGE, NodeArg, api_post, client, message, read_capped, read_json, unreachable},
};

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Add a file. Encrypted unless --public; prints the file id.
    Add {
        #[command(flatten)]
        node: NodeArg,
        path: PathBuf,
        /// Store as plain UnixFS: prints the same CID `ipfs add` would.
        #[arg(long)]
        public: bool,
        /// CID version for public files (1 = raw leaves, as `ipfs add --cid-version 1`).
        #[arg(long, default_value_t = 0)]
        cid_version: u8,
        /// Media type recorded in the manifest of an encrypted file [default: from the file's
        /// extension, else application/octet-stream].
        #[arg(long)]
        media_type: Option<String>,
        /// Pin the file (keep it through `lightstreams gc`), as `ipfs add` does.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        pin: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// With --from: register the file on the chain as this account's, with its key wrapped
        /// to the validator committee so that readers the registry allows can get it.
        #[command(flatten)]
        chain: ChainArg,
        /// Also list it for sale at this price (e.g. 2.5) in coin, or in --token; paid to --from.
        #[arg(long)]
        price: Option<String>,
        /// Price it in this ERC-20 (its address) instead of the chain's coin.
        #[arg(long, requires = "price")]
        token: Option<alloy_primitives::Address>,
    },
    /// Fetch a file (decrypting it if it is encrypted: with the key kept here, or with --from,
    /// from the validators if the registry lets that account read it) into a file.
    Get {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        /// A CID, or a registered file's id (0x…, its current version).
        id: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Write a file, or a byte range of it (`--range 1000-1999`, inclusive), to stdout.
    Cat {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        /// A CID, or a registered file's id (0x…, its current version).
        id: String,
        #[arg(long)]
        range: Option<String>,
    },
    /// Buy a listed file (its manifest CID or its 0x file id) for --from, through the Market.
    Buy {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        id: String,
    },
    /// Let an account read (or write, or administer) a registered file; --from is its owner or
    /// an admin. Without --until or --for the grant does not end.
    Grant {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        id: String,
        account: alloy_primitives::Address,
        #[arg(value_enum, default_value = "read")]
        level: paid::Level,
        /// The grant ends at this date or time (2027-01-01, 2027-01-01T12:00:00Z).
        #[arg(long)]
        until: Option<String>,
        /// The grant ends after this long (e.g. 30d, 12h).
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        r#for: Option<std::time::Duration>,
    },
    /// Replace a registered file's content with a new file under a new key (version + 1):
    /// readers allowed now get the new key; a revoked reader gets nothing for it.
    Update {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        id: String,
        path: PathBuf,
        /// Media type of the new content [default: from the file's extension].
        #[arg(long)]
        media_type: Option<String>,
    },
    /// Who owns a registered file, its version and listing, and who may read it now.
    Access {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// End an account's grant on a registered file (what it bought stays).
    Revoke {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        chain: ChainArg,
        id: String,
        account: alloy_primitives::Address,
    },
    /// List the files this node keeps (its pins), with size and kind.
    Ls {
        #[command(flatten)]
        node: NodeArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn keys_dir(n: &NodeArg) -> anyhow::Result<PathBuf> {
    if let Some(k) = &n.keys {
        return Ok(k.clone());
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --keys")?;
    Ok(PathBuf::from(home).join(".lightstreams").join("keys"))
}

fn progress(len: u64, msg: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(msg);
    // Only show it on a terminal, and only for work that takes a moment.
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) || len < 8 << 20 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// Blocks fetched from the node's gateway as raw blocks; the readers verify every hash.
struct GatewayBlocks {
    http: reqwest::blocking::Client,
    node: String,
}

impl Blockstore for GatewayBlocks {
    fn put(&self, _: Cid, _: Bytes) -> Result<(), BlockstoreError> {
        Err(BlockstoreError::Io(std::io::Error::other("read-only")))
    }

    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        let resp = self
            .http
            .get(format!("{}/ipfs/{cid}?format=raw", self.node))
            .send()
            .map_err(|e| BlockstoreError::Io(std::io::Error::other(unreachable(&self.node, &e).to_string())))?;
        match resp.status().as_u16() {
            // No block is larger than the decoders accept: read no more than that.
            200 => read_capped(resp, ls_content::decode::MAX_BLOCK_SIZE as u64, "a raw block")
                .map(|b| Some(Bytes::from(b)))
                .map_err(|e| BlockstoreError::Io(std::io::Error::other(e.to_string()))),
            404 => Ok(None),
            s => Err(BlockstoreError::Io(std::io::Error::other(format!("gateway answered {s}")))),
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.get(cid)?.is_some())
    }

    fn delete(&self, _: &Cid) -> Result<bool, BlockstoreError> {
        Err(BlockstoreError::Io(std::io::Error::other("read-only")))
    }

    fn cids(&self) -> Result<Vec<Cid>, BlockstoreError> {
        Err(BlockstoreError::Io(std::io::Error::other("a gateway does not list its blocks")))
    }
}

fn parse_range(r: &str) -> anyhow::Result<(u64, u64)> {
    let (a, b) = r.split_once('-').context("--range is START-END (inclusive)")?;
    let (a, b): (u64, u64) = (a.trim().parse()?, b.trim().parse()?);
    if b < a {
        bail!("--range end {b} is before its start {a}");
    }
    Ok((a, b + 1))
}

fn load_key(n: &NodeArg, id: &Cid) -> anyhow::Result<(FileKey, [u8; 7])> {
    let path = keys_dir(n)?.join(format!("{id}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).with_context(|| {
        format!("{id} is encrypted and its key is not in {}; pass --from <account> to get it from the validators", path.display())
    })?)?;
    let key: [u8; 32] = hex::decode(v["key"].as_str().unwrap_or_default())?.try_into().map_err(|_| anyhow::anyhow!("bad key file"))?;
    let prefix: [u8; 7] =
        hex::decode(v["noncePrefix"].as_str().unwrap_or_default())?.try_into().map_err(|_| anyhow::anyhow!("bad key file"))?;
    Ok((FileKey(key), prefix))
}

/// Sends `req` to `node`; anything but a success becomes an error with the node's message.
fn fetch(node: &str, req: reqwest::blocking::RequestBuilder) -> anyhow::Result<reqwest::blocking::Response> {
    let resp = req.send().map_err(|e| unreachable(node, &e))?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!("{status}: {}", message(resp).trim());
    }
    Ok(resp)
}

/// The key of the encrypted file `id`: kept here, else (with --from) released by the committee.
fn file_key(n: &NodeArg, chain: &ChainArg, id: &Cid, manifest: &Manifest) -> anyhow::Result<(FileKey, [u8; 7])> {
    match (load_key(n, id), &manifest.key_release, chain.from) {
        (Ok(k), _, _) => Ok(k),
        (Err(_), Some(release), Some(_)) => Ok((FileKey(paid::release_key(chain, release)?), manifest.nonce_prefix)),
        (Err(e), _, _) => Err(e),
    }
}

/// Writes `range` (or all) of file `id` to `out`.
fn read_to(n: &NodeArg, chain: &ChainArg, id: &str, range: Option<(u64, u64)>, out: &mut impl Write) -> anyhow::Result<()> {
    let cid = match id.parse::<alloy_primitives::B256>() {
        // A file id: its current content, as the registry names it.
        Ok(file_id) => paid::content_of(&Rpc::new(&chain.rpc)?, file_id)?,
        Err(_) => Cid::try_from(id).map_err(|e| anyhow::anyhow!("{id:?} is neither a CID nor a file id (0x…): {e}"))?,
    };
    let http = client()?;
    if cid.codec() == DAG_JSON {
        let blocks = GatewayBlocks { http, node: n.node.clone() };
        let manifest = Manifest::load(&blocks, &cid)?;
        let (key, prefix) = file_key(n, chain, &cid, &manifest)?;
        let (start, end) = range.unwrap_or((0, manifest.plaintext_len));
        if start == end {
            return Ok(());
        }
        // One ranged request for the ciphertext the range needs; each segment is
        // authenticated with its position, so the node is not trusted with integrity.
        let (a, b) = ls_content::ciphertext_span(manifest.plaintext_len, start, end)?;
        let req = blocks.http.get(format!("{}/ipfs/{}", n.node, manifest.ciphertext)).header("Range", format!("bytes={a}-{}", b - 1));
        let resp = fetch(&n.node, req)?;
        let bar = progress(end - start, "decrypting");
        let mut w = bar.wrap_write(out);
        ls_content::decrypt_from_reader(std::io::BufReader::with_capacity(256 * 1024, resp), manifest.plaintext_len, &key, prefix, start, end, &mut w)?;
        bar.finish_and_clear();
        return Ok(());
    }
    let mut req = http.get(format!("{}/ipfs/{cid}", n.node));
    if let Some((a, b)) = range {
        req = req.header("Range", format!("bytes={a}-{}", b - 1));
    }
    let mut resp = fetch(&n.node, req)?;
    let bar = progress(resp.content_length().unwrap_or(0), "fetching");
    resp.copy_to(&mut bar.wrap_write(out))?;
    bar.finish_and_clear();
    Ok(())
}

pub fn run(cmd: FileCommand) -> anyhow::Result<()> {
    match cmd {
        FileCommand::Add { node, path, public, cid_version, media_type, pin, json, chain, price, token } => {
            if price.is_some() && chain.from.is_none() {
                bail!("--price needs --from: the account that registers and sells the file");
            }
            // The price is checked (and its token's decimals read) before anything is uploaded.
            let sale = match &price {
                Some(text) => {
                    let unit = paid::Unit::of(&Rpc::new(&chain.rpc)?, token.unwrap_or_default())?;
                    Some((unit.parse(text)?, unit))
                }
                None => None,
            };
            if public && chain.from.is_some() {
                bail!("--from registers an encrypted file; public files are plain IPFS content");
            }
            let media_type = media_type_of(&path, media_type);
            let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let len = file.metadata()?.len();
            if public {
                let bar = progress(len, "adding");
                let query = [("pin", pin.to_string()), ("cid-version", cid_version.to_string())];
                let created = upload_file(&node.node, &query, file, len, &bar)?;
                bar.finish_and_clear();
                let id = created["Hash"].as_str().context("the node answered without a CID")?;
                if json {
                    println!("{created}");
                } else {
                    println!("added {id} {}", path.display());
                }
                return Ok(());
            }
            let (key, prefix) = FileKey::generate(&mut rand::rng());
            // The owner's copy of the key is on disk (0600, fsynced) before any byte leaves.
            let keys = KeyFile::create(&keys_dir(&node)?, &key, prefix)?;
            let registration = match chain.from {
                Some(_) => {
                    // Unlocked before any byte is uploaded: a wrong password costs nothing.
                    let owner = chain.signer("registering")?;
                    let rpc = Rpc::new(&chain.rpc)?;
                    let reg = paid::prepare(&rpc, owner.address(), &key.0)?;
                    Some((rpc, owner, reg))
                }
                None => None,
            };
            let key_release = registration.as_ref().map(|(_, _, reg)| reg.key_release.clone());
            let mut created = add_encrypted(&node.node, file, len, &key, prefix, media_type, key_release, pin)?;
            let id = created["Hash"].as_str().context("the node answered without a CID")?.to_string();
            keys.keep(&id)?;
            if let Some((rpc, owner, reg)) = &registration {
                let (price, token) = sale.as_ref().map_or((None, Default::default()), |(p, u)| (Some(*p), u.token));
                paid::register(rpc, owner, reg, &Cid::try_from(id.as_str())?, price, token)?;
                created["FileId"] = serde_json::json!(reg.file_id);
            }
            if json {
                println!("{created}");
            } else if let Some((_, _, reg)) = &registration {
                let sale = sale.as_ref().map(|(p, u)| format!(", listed at {}", u.format(*p))).unwrap_or_default();
                println!("added {id} {} (encrypted; file id {}{sale})", path.display(), reg.file_id);
            } else {
                println!("added {id} {} (encrypted; key kept in {})", path.display(), keys_dir(&node)?.display());
            }
        }
        FileCommand::Buy { node, chain, id } => {
            let rpc = Rpc::new(&chain.rpc)?;
            println!("{}", paid::buy(&rpc, &chain, registered_id(&node, &id)?)?);
        }
        FileCommand::Grant { node, chain, id, account, level, until, r#for } => {
            let expiry = paid::expiry(until.as_deref(), r#for)?;
            let rpc = Rpc::new(&chain.rpc)?;
            let file_id = registered_id(&node, &id)?;
            paid::grant(&rpc, &chain, file_id, account, level, expiry)?;
            let until = if expiry == 0 { "no end".to_string() } else { humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(expiry)).to_string() };
            println!("granted {level:?} on {file_id} to {account} ({until})");
        }
        FileCommand::Update { node, chain, id, path, media_type } => {
            let rpc = Rpc::new(&chain.rpc)?;
            let file_id = registered_id(&node, &id)?;
            let media_type = media_type_of(&path, media_type);
            let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let len = file.metadata()?.len();
            let (key, prefix) = FileKey::generate(&mut rand::rng());
            let (version, key_release) = paid::prepare_update(&rpc, &chain, file_id, &key.0)?;
            let keys = KeyFile::create(&keys_dir(&node)?, &key, prefix)?;
            let created = add_encrypted(&node.node, file, len, &key, prefix, media_type, Some(key_release), true)?;
            let cid_text = created["Hash"].as_str().context("the node answered without a CID")?.to_string();
            keys.keep(&cid_text)?;
            paid::update(&rpc, &chain, file_id, &Cid::try_from(cid_text.as_str())?, version)?;
            println!("updated {file_id} to version {version}: {cid_text}");
        }
        FileCommand::Access { node, chain, id, json } => {
            let rpc = Rpc::new(&chain.rpc)?;
            let a = paid::access(&rpc, registered_id(&node, &id)?)?;
            if json {
                println!("{a}");
            } else {
                let kind = if a["public"] == true { "public" } else { "encrypted" };
                println!("file {} ({kind}), owner {}, version {}", a["fileId"].as_str().unwrap_or_default(), a["owner"].as_str().unwrap_or_default(), a["version"]);
                match a["listing"].as_object() {
                    Some(l) => println!("for sale: {} {}, {}", l["price"].as_str().unwrap_or_default(), l["unit"].as_str().unwrap_or_default(), if l["duration"] == 0 { "permanent access".to_string() } else { format!("{} s of access", l["duration"]) }),
                    None => println!("not for sale"),
                }
                println!("sales: {}", a["sales"]);
                for r in a["access"].as_array().into_iter().flatten() {
                    let mut what = Vec::new();
                    if let Some(g) = r.get("grant") {
                        what.push(format!("{} ({})", g["level"].as_str().unwrap_or_default(), g["ends"].as_str().unwrap_or_default()));
                    }
                    if let Some(p) = r.get("purchase") {
                        what.push(format!("bought ({})", p["ends"].as_str().unwrap_or_default()));
                    }
                    println!("  {} {}", r["account"].as_str().unwrap_or_default(), what.join(", "));
                }
            }
        }
        FileCommand::Revoke { node, chain, id, account } => {
            let rpc = Rpc::new(&chain.rpc)?;
            let file_id = registered_id(&node, &id)?;
            paid::revoke(&rpc, &chain, file_id, account)?;
            println!("revoked {account}'s grant on {file_id}");
        }
        FileCommand::Get { node, chain, id, output } => {
            let tmp = output.with_extension("lightstreams-partial");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
            let res = read_to(&node, &chain, &id, None, &mut f).and_then(|()| Ok(f.flush()?));
            match res {
                Ok(()) => std::fs::rename(&tmp, &output)?,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
        FileCommand::Ls { node, json } => list(&node, json)?,
        FileCommand::Cat { node, chain, id, range } => {
            let range = range.as_deref().map(parse_range).transpose()?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            read_to(&node, &chain, &id, range, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}


/// The media type recorded for `path`: the one given, else from its extension.
fn media_type_of(path: &std::path::Path, given: Option<String>) -> String {
    given
        .or_else(|| mime_guess::from_path(path).first().map(|m| m.to_string()))
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// The chain's id of a file named by its manifest CID or by that id itself.
fn registered_id(node: &NodeArg, id: &str) -> anyhow::Result<alloy_primitives::B256> {
    paid::file_id_of(id, |cid| {
        let blocks = GatewayBlocks { http: client()?, node: node.node.clone() };
        Ok(Manifest::load(&blocks, cid)?)
    })
}

/// The owner's copy of a new file key: written (0600, `create_new`, fsynced, in a 0700 directory)
/// before the upload starts, named by the file id once the node has answered, removed if the
/// upload fails.
struct KeyFile {
    dir: PathBuf,
    pending: PathBuf,
    kept: bool,
}

impl KeyFile {
    fn create(dir: &std::path::Path, key: &FileKey, prefix: [u8; 7]) -> anyhow::Result<Self> {
        crate::release::create_private_dir(dir)?;
        let pending = dir.join(format!(".pending-{}.json", hex::encode(rand::random::<[u8; 8]>())));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&pending).with_context(|| format!("creating {}", pending.display()))?;
        let body = zeroize::Zeroizing::new(
            serde_json::json!({"key": hex::encode(key.0), "noncePrefix": hex::encode(prefix)}).to_string(),
        );
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(Self { dir: dir.to_path_buf(), pending, kept: false })
    }

    /// Names the key file after the file id (`<id>.json`).
    fn keep(mut self, id: &str) -> anyhow::Result<()> {
        std::fs::rename(&self.pending, self.dir.join(format!("{id}.json")))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.pending);
        }
    }
}

/// Encrypts `file` here and sends the node only ciphertext and the manifest: the ciphertext as
/// an ordinary CIDv1 UnixFS upload, then the manifest as a one-block CAR (`dag/import` pins it
/// with the ciphertext it links to), then the ciphertext's own pin is dropped.
#[allow(clippy::too_many_arguments)]
fn add_encrypted(
    node: &str,
    file: std::fs::File,
    len: u64,
    key: &FileKey,
    prefix: [u8; 7],
    media_type: String,
    key_release: Option<serde_json::Map<String, serde_json::Value>>,
    pin: bool,
) -> anyhow::Result<serde_json::Value> {
    let sealed_len = ls_content::ciphertext_len(len);
    let bar = progress(sealed_len, "encrypting and adding");
    let reader = ls_content::EncryptingReader::new(file, key, prefix);
    let query = [("pin", "true".to_string()), ("cid-version", "1".to_string())];
    let uploaded = upload_file(node, &query, reader, sealed_len, &bar)?;
    bar.finish_and_clear();
    let ciphertext = Cid::try_from(uploaded["Hash"].as_str().context("the node answered without a CID")?)?;
    let manifest = Manifest { plaintext_len: len, media_type, ciphertext, nonce_prefix: prefix, key_release };
    let store = ls_content::MemBlockstore::default();
    let id = manifest.store(&store)?;
    let bytes = store.get(&id)?.context("the manifest was just stored")?;
    let http = client()?;
    let car = ls_content::single_block_car(&id, &bytes);
    let resp = http
        .post(format!("{node}/api/v0/dag/import"))
        .query(&[("pin-roots", pin.to_string())])
        .body(car)
        .send()
        .map_err(|e| unreachable(node, &e))?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!("storing the manifest: {status}: {}", message(resp).trim());
    }
    let arg = ciphertext.to_string();
    api_post(&http, node, "pin/rm", &[("arg", arg.as_str())])?;
    Ok(serde_json::json!({"Hash": id.to_string(), "Ciphertext": arg, "Size": len, "Encrypted": true}))
}

/// Streams `file` to `POST /ipfs` in 256 KiB pieces (reqwest's blocking body reads 8 KiB at a
/// time, which cost more CPU in system calls than the node spent importing) and returns the
/// node's JSON answer.
fn upload_file(
    node: &str,
    query: &[(&str, String)],
    mut file: impl std::io::Read + Send + 'static,
    len: u64,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<serde_json::Value> {
    const PIECE: usize = 256 * 1024;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let reader_bar = bar.clone();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        loop {
            let mut buf = Vec::with_capacity(PIECE);
            match (&mut file).take(PIECE as u64).read_to_end(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    reader_bar.inc(n as u64);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Send errors come out of the runtime as they are: telling "no node" from "failed" probes
    // with the blocking client, which must not run inside it.
    let sent = rt.block_on(async {
        let http = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(5)).build()?;
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        let req = http
            .post(format!("{node}/ipfs"))
            .query(query)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream));
        let mut resp = req.send().await?;
        let status = resp.status();
        // The answer is one small JSON object (or a message): read a bounded amount of it.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_MESSAGE {
                break;
            }
        }
        Ok::<_, reqwest::Error>((status, body))
    });
    let _ = reader.join();
    let (status, body) = sent.map_err(|e| unreachable(node, &e))?;
    if body.len() as u64 > MAX_MESSAGE {
        bail!("the node's answer to the upload is larger than {MAX_MESSAGE} bytes; not reading it");
    }
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body).trim());
    }
    serde_json::from_slice(&body).context("the node's answer is not JSON")
}

/// What `file ls` shows for one pinned root.
fn describe(http: &reqwest::blocking::Client, node: &str, cid: &Cid) -> anyhow::Result<serde_json::Value> {
    let url = format!("{node}/ipfs/{cid}");
    if cid.codec() == DAG_JSON {
        let resp = http.get(&url).send().map_err(|e| unreachable(node, &e))?.error_for_status()?;
        let m = read_capped(resp, ls_content::decode::MAX_BLOCK_SIZE as u64, "a manifest")?;
        let m: serde_json::Value = serde_json::from_slice(&m)?;
        return Ok(serde_json::json!({
            "Cid": cid.to_string(),
            "Size": m["plaintextLength"],
            "Type": m["mediaType"],
            "Encrypted": true,
        }));
    }
    let resp = http.head(&url).send().map_err(|e| unreachable(node, &e))?.error_for_status()?;
    let header = |h: reqwest::header::HeaderName| resp.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_string);
    let ty = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let size = header(reqwest::header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok());
    let is_dir = size.is_none() && ty.starts_with("text/html");
    Ok(serde_json::json!({
        "Cid": cid.to_string(),
        "Size": size,
        "Type": if is_dir { "directory".to_string() } else { ty },
        "Encrypted": false,
    }))
}

fn list(node: &NodeArg, json: bool) -> anyhow::Result<()> {
    let http = client()?;
    let pins = read_json(api_post(&http, &node.node, "pin/ls", &[])?, "pin/ls")?;
    let mut cids: Vec<Cid> = pins["Keys"]
        .as_object()
        .map(|m| m.keys().filter_map(|k| Cid::try_from(k.as_str()).ok()).collect())
        .unwrap_or_default();
    cids.sort_by_key(|c| c.to_string());
    let rows = cids.iter().map(|c| describe(&http, &node.node, c)).collect::<anyhow::Result<Vec<_>>>()?;
    if json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    for r in rows {
        let size = r["Size"].as_u64().map_or("-".to_string(), |s| s.to_string());
        let kind = if r["Encrypted"] == true { "encrypted" } else { "public" };
        println!("{}  {size:>12}  {kind:<9}  {}", r["Cid"].as_str().unwrap_or_default(), r["Type"].as_str().unwrap_or_default());
    }
    Ok(())
}

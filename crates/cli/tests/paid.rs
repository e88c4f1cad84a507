//! The product on one dev node: a creator adds, registers and lists an encrypted file; a buyer
//! pays through the Market and reads it with a key released by the validator committee; an
//! account that did not pay gets nothing.

mod common;

use std::process::{Command, Output};

use common::Node;

const CREATOR: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const BUYER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const STRANGER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// Runs `lightstreams` with `args`, against `node`, keeping keys in `keys`.
fn ls(node: &Node, keys: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(args)
        .args(["--node", &node.gateway, "--rpc", &node.url])
        .env("LIGHTSTREAMS_KEYS", keys)
        // No account of the tester's own keystore can stand in for a dev account.
        .env("LIGHTSTREAMS_KEYSTORE", keys.join("no-keystore"))
        .output()
        .expect("run lightstreams")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure, got {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_buyer_decrypts_what_it_paid_for_and_nobody_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(&dir.path().join("data")), &[]);
    let creator_keys = dir.path().join("creator-keys");
    let buyer_keys = dir.path().join("buyer-keys");
    let song: Vec<u8> = b"NIGHT-DRIVE-FLAC-".iter().copied().cycle().take(700_000).collect();
    let src = dir.path().join("song.flac");
    std::fs::write(&src, &song).unwrap();

    let added = ok(&ls(&node, &creator_keys, &["file", "add", "--json", "--from", CREATOR, "--price", "2.5", src.to_str().unwrap()]));
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    let cid = added["Hash"].as_str().unwrap().to_string();
    let file_id = added["FileId"].as_str().unwrap().to_string();
    assert!(file_id.starts_with("0x") && file_id.len() == 66, "{added}");
    // Encrypted on this side: the node's data directory holds neither the key nor the plaintext.
    let key_file: serde_json::Value = serde_json::from_slice(&std::fs::read(creator_keys.join(format!("{cid}.json"))).unwrap()).unwrap();
    let key_hex = key_file["key"].as_str().unwrap().to_string();
    let key = (0..64).step_by(2).map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
    let files = ls_testkit::files_under(&dir.path().join("data"));
    assert!(files.len() > 3);
    for p in files {
        let b = std::fs::read(&p).unwrap();
        for needle in [&key[..], key_hex.as_bytes(), &b"NIGHT-DRIVE-FLAC"[..]] {
            assert!(!b.windows(needle.len()).any(|w| w == needle), "{} holds key or plaintext", p.display());
        }
    }

    // Before paying: no key here, and the validators refuse.
    let out_path = dir.path().join("out.flac");
    let out = out_path.to_str().unwrap();
    let e = err(&ls(&node, &buyer_keys, &["file", "get", &cid, "-o", out]));
    assert!(e.contains("pass --from"), "{e}");
    let e = err(&ls(&node, &buyer_keys, &["file", "get", &cid, "-o", out, "--from", BUYER]));
    assert!(e.contains("only 0 of 1 key shares answered") && e.contains("no read access"), "{e}");
    assert!(!out_path.exists());

    // Paying: by manifest CID (the file id comes from the manifest) at the listed price.
    let bought = ok(&ls(&node, &buyer_keys, &["file", "buy", &cid, "--from", BUYER]));
    assert!(bought.contains("for 2.500000000000000000 ETH") && bought.contains("permanent"), "{bought}");
    ok(&ls(&node, &buyer_keys, &["file", "get", &cid, "-o", out, "--from", BUYER]));
    assert_eq!(std::fs::read(&out_path).unwrap(), song);
    let part = ok(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--range", "262140-262160", "--from", BUYER]));
    assert_eq!(part.as_bytes(), &song[262_140..=262_160]);
    // Buying a permanent pass twice is refused by the Market.
    let e = err(&ls(&node, &buyer_keys, &["file", "buy", &file_id, "--from", BUYER]));
    assert!(e.contains("buying failed"), "{e}");

    // Somebody who did not pay still gets nothing.
    let e = err(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--from", STRANGER]));
    assert!(e.contains("no read access"), "{e}");
    // Unless the owner grants it; a revoke takes it back, and cannot take back a purchase.
    let granted = ok(&ls(&node, &creator_keys, &["file", "grant", &cid, STRANGER, "read", "--for", "1d", "--from", CREATOR]));
    assert!(granted.contains("granted Read"), "{granted}");
    let part = ok(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--range", "0-16", "--from", STRANGER]));
    assert_eq!(part.as_bytes(), &song[..=16]);
    ok(&ls(&node, &creator_keys, &["file", "revoke", &file_id, STRANGER, "--from", CREATOR]));
    let e = err(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--from", STRANGER]));
    assert!(e.contains("no read access"), "{e}");
    ok(&ls(&node, &creator_keys, &["file", "revoke", &file_id, BUYER, "--from", CREATOR]));
    ok(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--range", "0-16", "--from", BUYER]));
    // A grant that runs out: the refusal says when.
    ok(&ls(&node, &creator_keys, &["file", "grant", &file_id, STRANGER, "read", "--for", "2s", "--from", CREATOR]));
    ok(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--range", "0-16", "--from", STRANGER]));
    std::thread::sleep(std::time::Duration::from_secs(3));
    // (a transaction, so a block with a later timestamp is the head the members read)
    ok(&ls(&node, &creator_keys, &["file", "revoke", &file_id, "0x00000000000000000000000000000000000000bb", "--from", CREATOR]));
    let e = err(&ls(&node, &buyer_keys, &["file", "cat", &cid, "--from", STRANGER]));
    assert!(e.contains("access to file") && e.contains("expired on 20") && e.contains("no read access"), "{e}");
    // A new version under a new key: the buyer reads it, the revoked stranger gets nothing,
    // and the old version's key is no longer released (its version is not current).
    let v2: Vec<u8> = b"NIGHT-DRIVE-REMASTER-".iter().copied().cycle().take(300_000).collect();
    let src2 = dir.path().join("song-v2.flac");
    std::fs::write(&src2, &v2).unwrap();
    let updated = ok(&ls(&node, &creator_keys, &["file", "update", &file_id, src2.to_str().unwrap(), "--from", CREATOR]));
    assert!(updated.contains("to version 2"), "{updated}");
    let cid2 = updated.trim().rsplit(' ').next().unwrap().to_string();
    assert_ne!(cid2, cid);
    let fresh_keys = dir.path().join("fresh-keys");
    let out2 = dir.path().join("v2.flac");
    ok(&ls(&node, &fresh_keys, &["file", "get", &cid2, "-o", out2.to_str().unwrap(), "--from", BUYER]));
    assert_eq!(std::fs::read(&out2).unwrap(), v2);
    let e = err(&ls(&node, &fresh_keys, &["file", "cat", &cid2, "--from", STRANGER]));
    assert!(e.contains("no read access"), "{e}");
    let e = err(&ls(&node, &fresh_keys, &["file", "cat", &cid, "--from", BUYER]));
    assert!(e.contains("version mismatch") || e.contains("version"), "{e}");
    // Only the owner or a writer updates.
    let e = err(&ls(&node, &fresh_keys, &["file", "update", &file_id, src2.to_str().unwrap(), "--from", BUYER]));
    assert!(e.contains("may not update file"), "{e}");

    // `file access` tells who may read now: the buyer's purchase, nobody else's revoked grant.
    let access: serde_json::Value = serde_json::from_str(&ok(&ls(&node, &fresh_keys, &["file", "access", &cid2, "--json"]))).unwrap();
    assert_eq!(access["fileId"], serde_json::json!(file_id), "{access}");
    assert_eq!(access["owner"].as_str().unwrap().to_lowercase(), CREATOR.to_lowercase());
    assert_eq!(access["version"], 2);
    assert_eq!(access["sales"], 1);
    assert_eq!(access["listing"]["price"], "2.500000000000000000");
    let readers = access["access"].as_array().unwrap();
    assert_eq!(readers.len(), 1, "{access}");
    assert_eq!(readers[0]["account"].as_str().unwrap().to_lowercase(), BUYER.to_lowercase());
    assert_eq!(readers[0]["purchase"]["ends"], "no end");
    let text = ok(&ls(&node, &fresh_keys, &["file", "access", &file_id]));
    assert!(text.contains("for sale: 2.500000000000000000 ETH, permanent access") && text.contains("bought (no end)"), "{text}");

    // Only the owner grants; a grant that already ended is refused here.
    let e = err(&ls(&node, &buyer_keys, &["file", "grant", &cid, STRANGER, "--from", BUYER]));
    assert!(e.contains("granting failed"), "{e}");
    let e = err(&ls(&node, &creator_keys, &["file", "grant", &cid, STRANGER, "--until", "2001-01-01", "--from", CREATOR]));
    assert!(e.contains("already have ended"), "{e}");
    // And --price without --from is a usage error.
    let e = err(&ls(&node, &creator_keys, &["file", "add", "--price", "1", src.to_str().unwrap()]));
    assert!(e.contains("--price needs --from"), "{e}");
}

#[test]
fn keystore_accounts_sell_buy_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(&dir.path().join("data")), &[]);
    let keys = dir.path().join("seller-keys");
    let buyer_keys = dir.path().join("buyer-keys");
    let ks = dir.path().join("keystore");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let bad_pw = dir.path().join("bad-pw");
    std::fs::write(&bad_pw, "battery staple\n").unwrap();
    let (ks, pw, bad_pw) = (ks.to_str().unwrap(), pw.to_str().unwrap(), bad_pw.to_str().unwrap());
    // Two fresh accounts, funded by a dev account: nothing the node could sign for.
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_lightstreams"))
            .args(["account", "new", "--keystore", ks, "--password-file", pw])
            .output()
            .unwrap();
        let out = ok(&out);
        let address = out.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
        let tx = serde_json::json!({"from": CREATOR, "to": address, "value": "0x8ac7230489e80000"});
        let hash = node.ok("eth_sendTransaction", serde_json::json!([tx]));
        node.wait_receipt(hash.as_str().unwrap(), std::time::Duration::from_secs(10));
        accounts.push(address);
    }
    let (seller, buyer) = (accounts[0].as_str(), accounts[1].as_str());
    let keystore = ["--keystore", ks, "--password-file", pw];
    let art: Vec<u8> = b"COVER-ART-".iter().copied().cycle().take(300_000).collect();
    let src = dir.path().join("cover.png");
    std::fs::write(&src, &art).unwrap();

    // A wrong password fails before anything is uploaded or sent.
    let e = err(&ls(&node, &keys, &["file", "add", "--from", seller, "--keystore", ks, "--password-file", bad_pw, "--price", "1", src.to_str().unwrap()]));
    assert!(e.contains(&format!("wrong password for {seller}")), "{e}");
    assert_eq!(node.u256("eth_getTransactionCount", serde_json::json!([seller, "latest"])), alloy_primitives::U256::ZERO);

    let added: serde_json::Value = serde_json::from_str(&ok(&ls(
        &node,
        &keys,
        &[&["file", "add", "--json", "--from", seller, "--price", "1", src.to_str().unwrap()][..], &keystore[..]].concat(),
    )))
    .unwrap();
    let file_id = added["FileId"].as_str().unwrap().to_string();
    let access: serde_json::Value = serde_json::from_str(&ok(&ls(&node, &keys, &["file", "access", &file_id, "--json"]))).unwrap();
    assert_eq!(access["owner"].as_str().unwrap().to_lowercase(), seller.to_lowercase(), "{access}");

    let cat = |extra: &[&str]| ls(&node, &buyer_keys, &[&["file", "cat", &file_id, "--range", "0-9", "--from", buyer][..], extra].concat());
    let e = err(&cat(&keystore));
    assert!(e.contains("may not read file") && e.contains("file buy"), "{e}");
    ok(&ls(&node, &buyer_keys, &[&["file", "buy", &file_id, "--from", buyer][..], &keystore[..]].concat()));
    assert_eq!(ok(&cat(&keystore)).as_bytes(), &art[..10]);
    // Without the password: a clear refusal, not a prompt on a closed stdin.
    let e = err(&cat(&["--keystore", ks]));
    assert!(e.contains("--password-file"), "{e}");
    // An account that is neither in the keystore nor a dev account.
    let e = err(&ls(&node, &keys, &[&["file", "buy", &file_id, "--from", "0x00000000000000000000000000000000000000aa"][..], &keystore[..]].concat()));
    assert!(e.to_lowercase().contains("no key for 0x00000000000000000000000000000000000000aa") && e.contains("account import"), "{e}");
}

/// Opens a gateway session for `account` on `file_id`, the challenge signed by `signer` through
/// the node's `eth_signTypedData_v4` (as a wallet would); answers the status and the JSON body.
fn open_session(node: &Node, http: &reqwest::blocking::Client, file_id: &str, account: &str, signer: &str) -> (u16, serde_json::Value) {
    let url = format!("{}/files/{file_id}/challenge?account={account}", node.gateway);
    let challenge: serde_json::Value = http.get(url).send().unwrap().json().unwrap();
    let signature = node.ok("eth_signTypedData_v4", serde_json::json!([signer, challenge["typedData"]]));
    let body = serde_json::json!({"account": account, "nonce": challenge["nonce"], "signature": signature});
    let resp = http.post(format!("{}/files/{file_id}/session", node.gateway)).json(&body).send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[test]
fn the_gateway_streams_a_paid_file_to_a_reader_who_signed_its_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(&dir.path().join("data")), &[]);
    let http = reqwest::blocking::Client::new();
    let keys = dir.path().join("keys");
    let song: Vec<u8> = b"GATEWAY-STREAM-FLAC-".iter().copied().cycle().take(700_000).collect();
    let src = dir.path().join("song.flac");
    std::fs::write(&src, &song).unwrap();
    let added: serde_json::Value =
        serde_json::from_str(&ok(&ls(&node, &keys, &["file", "add", "--json", "--from", CREATOR, "--price", "1", src.to_str().unwrap()]))).unwrap();
    let file_id = added["FileId"].as_str().unwrap().to_string();
    let file_url = format!("{}/files/{file_id}", node.gateway);

    // No session: told how to get one.
    let r = http.get(&file_url).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("/challenge"));
    // Not paid: the committee refuses, so no session.
    let (status, body) = open_session(&node, &http, &file_id, BUYER, BUYER);
    assert_eq!(status, 403, "{body}");
    assert!(body.as_str().unwrap().contains("may not read"), "{body}");

    ok(&ls(&node, &keys, &["file", "buy", &file_id, "--from", BUYER]));
    // A session body is small; a large one is refused before it is read.
    // (8 KiB: small enough to be sent whole before the answer comes; its own client: the node
    // answers without reading the body and closes that connection, which a pooled client could
    // otherwise pick for the next request)
    let r = reqwest::blocking::Client::new().post(format!("{file_url}/session")).body(vec![b' '; 8 << 10]).send().unwrap();
    assert_eq!(r.status(), 413);
    // A challenge signed by someone else than the account it names gets nothing.
    let (status, body) = open_session(&node, &http, &file_id, BUYER, STRANGER);
    assert_eq!(status, 400, "{body}");
    assert!(body.as_str().unwrap().contains("signature is not"), "{body}");
    let (status, body) = open_session(&node, &http, &file_id, BUYER, BUYER);
    assert_eq!(status, 201, "{body}");
    let session = body["session"].as_str().unwrap().to_string();

    let r = http.get(&file_url).bearer_auth(&session).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/flac");
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert_eq!(r.bytes().unwrap().as_ref(), &song[..]);
    let r = http.get(format!("{file_url}?session={session}")).header("Range", "bytes=262140-262160").send().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 262140-262160/700000");
    assert_eq!(r.bytes().unwrap().as_ref(), &song[262_140..=262_160]);
    let r = http.get(&file_url).bearer_auth(&session).header("Range", "bytes=700000-").send().unwrap();
    assert_eq!(r.status(), 416);
    let r = http.get(&file_url).bearer_auth("00".repeat(32)).send().unwrap();
    assert_eq!(r.status(), 401);
    // Any web page may ask (the signature is the authority), without credentials.
    let r = http
        .request(reqwest::Method::OPTIONS, &file_url)
        .header("Origin", "https://dapp.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization,range")
        .send()
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");

    // A grant opens a session; its revocation ends it at the next read.
    ok(&ls(&node, &keys, &["file", "grant", &file_id, STRANGER, "read", "--for", "1d", "--from", CREATOR]));
    let (status, body) = open_session(&node, &http, &file_id, STRANGER, STRANGER);
    assert_eq!(status, 201, "{body}");
    let stranger = body["session"].as_str().unwrap().to_string();
    assert_eq!(http.get(&file_url).bearer_auth(&stranger).header("Range", "bytes=0-9").send().unwrap().status(), 206);
    ok(&ls(&node, &keys, &["file", "revoke", &file_id, STRANGER, "--from", CREATOR]));
    let r = http.get(&file_url).bearer_auth(&stranger).send().unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("may no longer read"));
    // The buyer's session was for this file only.
    let other = format!("{}/files/0x{}", node.gateway, "ab".repeat(32));
    assert_eq!(http.get(&other).bearer_auth(&session).send().unwrap().status(), 403);

    // The node decrypted for its readers and kept no plaintext.
    for p in ls_testkit::files_under(&dir.path().join("data")) {
        let b = std::fs::read(&p).unwrap();
        assert!(!b.windows(20).any(|w| w == b"GATEWAY-STREAM-FLAC-"), "{} holds plaintext", p.display());
    }
}

alloy_sol_types::sol! {
    function mint(address to, uint256 amount);
    function balanceOf(address account) returns (uint256);
}

#[test]
fn a_file_priced_in_an_erc20_is_bought_with_it() {
    use alloy_sol_types::SolCall;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(&dir.path().join("data")), &[]);
    let (creator_keys, buyer_keys) = (dir.path().join("creator-keys"), dir.path().join("buyer-keys"));
    // An ERC-20 (no decimals(): counted in 18), 3 tokens minted to the buyer.
    let artifact: serde_json::Value = serde_json::from_str(ls_contracts::artifacts::TEST_TOKEN).unwrap();
    let send = |data: String, to: Option<&str>| {
        let mut tx = serde_json::json!({"from": CREATOR, "data": data, "gas": "0x200000"});
        if let Some(to) = to {
            tx["to"] = serde_json::json!(to);
        }
        let hash = node.ok("eth_sendTransaction", serde_json::json!([tx]));
        node.wait_receipt(hash.as_str().unwrap(), std::time::Duration::from_secs(10))
    };
    let receipt = send(artifact["bytecode"].as_str().unwrap().to_string(), None);
    let token = receipt["contractAddress"].as_str().unwrap().to_string();
    let three = alloy_primitives::U256::from(3u64) * alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
    let mint = mintCall { to: BUYER.parse().unwrap(), amount: three }.abi_encode();
    send(format!("0x{}", alloy_primitives::hex::encode(mint)), Some(&token));

    let src = dir.path().join("track.mp3");
    let track: Vec<u8> = b"TOKEN-PRICED-".iter().copied().cycle().take(100_000).collect();
    std::fs::write(&src, &track).unwrap();
    let e = err(&ls(&node, &creator_keys, &["file", "add", "--from", CREATOR, "--price", "1", "--token", BUYER, src.to_str().unwrap()]));
    assert!(e.contains("not a contract"), "{e}");
    let added = ok(&ls(&node, &creator_keys, &["file", "add", "--json", "--from", CREATOR, "--price", "2.5", "--token", &token, src.to_str().unwrap()]));
    let file_id = serde_json::from_str::<serde_json::Value>(&added).unwrap()["FileId"].as_str().unwrap().to_string();
    let access: serde_json::Value = serde_json::from_str(&ok(&ls(&node, &creator_keys, &["file", "access", &file_id, "--json"]))).unwrap();
    assert_eq!(access["listing"]["price"], "2.500000000000000000", "{access}");
    assert_eq!(access["listing"]["token"].as_str().unwrap().to_lowercase(), token.to_lowercase());

    // A buyer without enough of the token is told how much it has.
    let e = err(&ls(&node, &buyer_keys, &["file", "buy", &file_id, "--from", STRANGER]));
    assert!(e.contains("insufficient funds: need 2.500000000000000000") && e.contains("have 0.000000000000000000"), "{e}");
    // The buyer approves the Market and pays 2.5 of its 3 tokens.
    let bought = ok(&ls(&node, &buyer_keys, &["file", "buy", &file_id, "--from", BUYER]));
    assert!(bought.contains("for 2.500000000000000000"), "{bought}");
    let balance = |who: &str| {
        let data = format!("0x{}", alloy_primitives::hex::encode(balanceOfCall { account: who.parse().unwrap() }.abi_encode()));
        node.u256("eth_call", serde_json::json!([{"to": token, "data": data}, "latest"]))
    };
    assert_eq!(balance(BUYER), three / alloy_primitives::U256::from(6u64));
    assert_eq!(ok(&ls(&node, &buyer_keys, &["file", "cat", &file_id, "--range", "0-12", "--from", BUYER])).as_bytes(), &track[..13]);
}

#[test]
fn a_reader_refused_for_its_rate_asks_again_and_reads() {
    // --release-peer-rate 1: two requests at once, then one a second. Five reads in a row pass
    // that; each refused request is sent again (unchanged: a refusal spends no nonce) until the
    // member takes it, so every read succeeds.
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(&dir.path().join("data")), &["--release-peer-rate", "1"]);
    let (creator_keys, buyer_keys) = (dir.path().join("creator"), dir.path().join("buyer"));
    let src = dir.path().join("a.flac");
    std::fs::write(&src, b"RATE-LIMITED-READER".repeat(1000)).unwrap();
    let added = ok(&ls(&node, &creator_keys, &["file", "add", "--json", "--from", CREATOR, "--price", "1", src.to_str().unwrap()]));
    let file_id = serde_json::from_str::<serde_json::Value>(&added).unwrap()["FileId"].as_str().unwrap().to_string();
    ok(&ls(&node, &buyer_keys, &["file", "buy", &file_id, "--from", BUYER]));
    for _ in 0..5 {
        assert_eq!(ok(&ls(&node, &buyer_keys, &["file", "cat", &file_id, "--range", "0-11", "--from", BUYER])), "RATE-LIMITED");
    }
}

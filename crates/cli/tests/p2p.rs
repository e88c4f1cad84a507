//! Two real nodes on loopback exchanging files over Bitswap: upload on A, read through B.

mod common;

use std::time::{Duration, Instant};

use common::Node;

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn peers(node: &Node) -> serde_json::Value {
    let http = reqwest::blocking::Client::new();
    http.post(format!("{}/api/v0/swarm/peers", node.gateway)).send().unwrap().json().unwrap()
}

/// Waits (bounded) until `node` lists `peer` as a connected Bitswap peer.
fn wait_for_peer(node: &Node, peer: &str) {
    let start = Instant::now();
    loop {
        let v = peers(node);
        if v["Peers"].as_array().unwrap().iter().any(|p| p["Peer"] == peer && p["Bitswap"] == true) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{peer} never showed up: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_file_uploaded_on_a_reads_through_b_gateway() {
    let a = Node::start(None, &[]);
    assert!(a.peer_id.starts_with("12D3Koo"), "an ed25519 peer id: {:?}", a.peer_id);
    assert!(a.p2p_addrs[0].starts_with("/ip4/127.0.0.1/tcp/"), "{:?}", a.p2p_addrs);
    assert!(a.p2p_addrs[0].ends_with(&format!("/p2p/{}", a.peer_id)), "{:?}", a.p2p_addrs);
    let b = Node::start(None, &["--bootstrap", &a.p2p_addrs[0], "--fetch-timeout", "3s"]);
    wait_for_peer(&b, &a.peer_id);
    wait_for_peer(&a, &b.peer_id);

    let http = reqwest::blocking::Client::new();
    for (data, v1) in [(body(1_000_000), false), (body(300_000), true)] {
        let url = if v1 { format!("{}/ipfs?cid-version=1", a.gateway) } else { format!("{}/ipfs", a.gateway) };
        let created: serde_json::Value = http.post(url).body(data.clone()).send().unwrap().json().unwrap();
        let cid = created["Hash"].as_str().unwrap().to_string();
        let got = http.get(format!("{}/ipfs/{cid}", b.gateway)).send().unwrap();
        assert_eq!(got.status(), 200, "{cid}");
        assert_eq!(got.bytes().unwrap().as_ref(), &data[..], "{cid} through B");
        // A range B fetched nothing of before (it kept the blocks it read, so this is local now).
        let part = http.get(format!("{}/ipfs/{cid}", b.gateway)).header("Range", "bytes=10-20").send().unwrap();
        assert_eq!(part.bytes().unwrap().as_ref(), &data[10..=20]);
    }
    // A CAR of a file B has never seen: fetched from A as it is written out.
    let data = body(600_001);
    let created: serde_json::Value = http.post(format!("{}/ipfs", a.gateway)).body(data.clone()).send().unwrap().json().unwrap();
    let cid = created["Hash"].as_str().unwrap();
    let car = http.get(format!("{}/ipfs/{cid}?format=car", b.gateway)).send().unwrap();
    assert_eq!(car.status(), 200, "{cid}");
    let car = car.bytes().unwrap();
    assert!(car.len() > data.len() && car.windows(4096).any(|w| w == &data[300_000..304_096]), "{} bytes of CAR", car.len());

    // `lightstreams swarm peers` on B names A.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(["swarm", "peers", "--node", &b.gateway])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // One line per peer, `<address>/p2p/<id>`: B dialled A at the address A printed.
    assert!(text.lines().any(|l| l == a.p2p_addrs[0]), "{text}");
}

#[test]
fn a_block_no_peer_has_fails_naming_the_cid_and_the_peer_id_stays() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(None, &[]);
    let (b_id, b_addr);
    {
        let b = Node::start(Some(dir.path()), &["--fetch-timeout", "1s"]);
        let http = reqwest::blocking::Client::new();
        let r: serde_json::Value = http
            .post(format!("{}/api/v0/swarm/connect", b.gateway))
            .query(&[("arg", &a.p2p_addrs[0])])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(r["Strings"][0].as_str().unwrap().contains(&a.peer_id), "{r}");
        // Nobody has this: the empty raw block (CIDv1).
        let missing = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
        let started = Instant::now();
        let resp = http.get(format!("{}/ipfs/{missing}", b.gateway)).send().unwrap();
        assert_eq!(resp.status(), 504, "a gateway timeout, as Kubo answers");
        let msg = resp.text().unwrap();
        assert!(msg.contains(missing), "the error names the CID: {msg}");
        assert!(started.elapsed() < Duration::from_secs(20), "bounded by --fetch-timeout");
        // API calls refuse web pages.
        let page = http
            .post(format!("{}/api/v0/swarm/peers", b.gateway))
            .header("Origin", "http://evil.example")
            .send()
            .unwrap();
        assert_eq!(page.status(), 403);
        b_id = b.peer_id.clone();
        b_addr = b.p2p_addrs.clone();
    }
    assert!(!b_addr.is_empty());
    let key = dir.path().join("p2p").join("peer.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = Node::start(Some(dir.path()), &[]);
    assert_eq!(again.peer_id, b_id, "the peer key persists in the data directory");
    drop(again);
    std::fs::write(&key, b"garbage").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(["node", "--dev", "--quiet", "--rpc-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"])
        .args(["--p2p-addr", "/ip4/127.0.0.1/tcp/0", "--datadir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("peer.key") && err.contains("not a libp2p ed25519 private key"), "{err}");
}

#[test]
fn p2p_addr_none_turns_the_network_off() {
    let n = Node::start(None, &["--p2p-addr", "none"]);
    assert!(n.peer_id.is_empty() && n.p2p_addrs.is_empty());
    let http = reqwest::blocking::Client::new();
    let r = http.post(format!("{}/api/v0/swarm/peers", n.gateway)).send().unwrap();
    assert_eq!(r.status(), 404, "no swarm, no swarm API");
}

#[test]
fn three_nodes_a_copy_outlives_its_origin() {
    // A has the file; B is connected to A, C only to B. B reads the file (so keeps a copy), C
    // reads it through B, then A stops and C and B still serve it.
    let mut a = Node::start(None, &[]);
    let b = Node::start(None, &["--bootstrap", &a.p2p_addrs[0], "--fetch-timeout", "5s"]);
    let c = Node::start(None, &["--bootstrap", &b.p2p_addrs[0], "--fetch-timeout", "5s"]);
    wait_for_peer(&b, &a.peer_id);
    wait_for_peer(&c, &b.peer_id);
    let http = reqwest::blocking::Client::new();
    let data = body(800_000);
    let cid = a.add(&data);
    let read = |n: &Node| {
        let r = http.get(format!("{}/ipfs/{cid}", n.gateway)).send().unwrap();
        assert_eq!(r.status(), 200, "{cid} through {}", n.gateway);
        r.bytes().unwrap().to_vec()
    };
    assert_eq!(read(&b), data);
    assert_eq!(read(&c), data);
    a.kill9();
    assert_eq!(read(&c), data, "C's own copy");
    assert_eq!(read(&b), data, "B's own copy");
}

#[test]
fn a_reader_two_hops_away_finds_the_origin_through_kademlia() {
    // A uploads and announces; C, connected only to B (which never read the file), reads it
    // through its gateway: its want starts a provider lookup that reaches A through B.
    let a = Node::start(None, &[]);
    let b = Node::start(None, &["--bootstrap", &a.p2p_addrs[0]]);
    wait_for_peer(&b, &a.peer_id);
    let http = reqwest::blocking::Client::new();
    let data = body(600_000);
    let cid = a.add(&data);
    let provided = http.post(format!("{}/api/v0/routing/provide", a.gateway)).query(&[("arg", &cid)]).send().unwrap();
    assert_eq!(provided.status(), 200, "{}", provided.text().unwrap());
    let c = Node::start(None, &["--bootstrap", &b.p2p_addrs[0], "--fetch-timeout", "10s"]);
    wait_for_peer(&c, &b.peer_id);
    let r = http.get(format!("{}/ipfs/{cid}", c.gateway)).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), &data[..]);
    assert!(peers(&c)["Peers"].as_array().unwrap().iter().any(|p| p["Peer"] == a.peer_id.as_str()), "C connected to A");
}

#[test]
fn an_encrypted_file_added_on_a_is_read_with_file_get_and_cat_through_b() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let ls = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
            .args(args)
            .env("LIGHTSTREAMS_KEYS", &keys)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let a = Node::start(None, &[]);
    let b = Node::start(None, &["--bootstrap", &a.p2p_addrs[0]]);
    wait_for_peer(&b, &a.peer_id);
    let src = dir.path().join("clip.bin");
    let data = body(700_000);
    std::fs::write(&src, &data).unwrap();
    let added: serde_json::Value =
        serde_json::from_slice(&ls(&["file", "add", "--json", "--node", &a.gateway, src.to_str().unwrap()])).unwrap();
    let id = added["Hash"].as_str().unwrap();
    let back = dir.path().join("back.bin");
    ls(&["file", "get", id, "-o", back.to_str().unwrap(), "--node", &b.gateway]);
    assert_eq!(std::fs::read(&back).unwrap(), data, "decrypted through B");
    let part = ls(&["file", "cat", id, "--range", "262140-262160", "--node", &b.gateway]);
    assert_eq!(part, &data[262_140..=262_160]);
    // B only ever held ciphertext: no run of the plaintext in its blocks.
    let raw = reqwest::blocking::get(format!("{}/ipfs/{}", b.gateway, added["Ciphertext"].as_str().unwrap()))
        .unwrap()
        .bytes()
        .unwrap();
    assert!(raw.len() >= data.len() && !raw.windows(32).any(|w| w == &data[1000..1032]));
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect())
        .unwrap_or_default()
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn fetched_content_is_a_cache_bounded_by_cache_size_least_recently_used_first() {
    let mut a = Node::start(None, &[]);
    let b_dir = tempfile::tempdir().unwrap();
    let b = Node::start(Some(b_dir.path()), &["--bootstrap", &a.p2p_addrs[0], "--fetch-timeout", "3s", "--cache-size", "1MB"]);
    wait_for_peer(&b, &a.peer_id);
    let http = reqwest::blocking::Client::new();
    // Two files of 700 kB (three 256 KiB leaves and a root each): both do not fit in 1 MB.
    let (one, two): (Vec<u8>, Vec<u8>) = ((0..700_000u32).map(|i| (i % 241) as u8).collect(), (0..700_000u32).map(|i| (i % 239) as u8).collect());
    let mut cids = Vec::new();
    for data in [&one, &two] {
        let cid = a.add(data);
        let got = http.get(format!("{}/ipfs/{cid}", b.gateway)).send().unwrap();
        assert_eq!(got.bytes().unwrap().as_ref(), &data[..]);
        cids.push(cid);
    }
    // Within a few trim rounds (one every 2 s) B's store is back under the quota, and stays
    // there. Fetched blocks are written in the background, so a store under the quota right
    // after the reads may only not hold them all yet: it must keep its size past a trim round.
    // Counted: the bytes of the blocks B holds (`repo/stat`); its pack files hold at most
    // about twice that (a pack at least half dead is rewritten).
    let blocks = b_dir.path().join("blocks").join("packs");
    let held = || -> u64 {
        let r: serde_json::Value = http.post(format!("{}/api/v0/repo/stat", b.gateway)).send().unwrap().json().unwrap();
        r["RepoSize"].as_u64().unwrap()
    };
    let start = Instant::now();
    let mut settled = (0, Instant::now());
    loop {
        let now = held();
        if now != settled.0 {
            settled = (now, Instant::now());
        } else if now <= 1_000_000 && settled.1.elapsed() > Duration::from_millis(2_500) {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let files: Vec<(String, u64)> = walk(&blocks).into_iter().map(|p| (p.display().to_string(), p.metadata().map(|m| m.len()).unwrap_or(0))).collect();
            panic!("B still holds {} bytes: {files:#?}", held());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(held() > 500_000, "the most recent file stays: {} bytes", held());
    assert!(dir_bytes(&blocks) <= 2 * held(), "packs hold {} bytes for {} held", dir_bytes(&blocks), held());
    // With the origin gone, the file read last is still served from B's cache; the first is not.
    a.kill9();
    let last = http.get(format!("{}/ipfs/{}", b.gateway, cids[1])).send().unwrap();
    assert_eq!(last.status(), 200);
    assert_eq!(last.bytes().unwrap().as_ref(), &two[..]);
    let first = http.get(format!("{}/ipfs/{}", b.gateway, cids[0])).timeout(Duration::from_secs(20)).send().unwrap();
    assert_ne!(first.status(), 200, "the least recently used file was trimmed");
    // B announced both roots when it fetched them and withdrew the trimmed one: a reader asking
    // B's DHT for providers finds B for the file it holds, not for the one it lost.
    let c = Node::start(None, &["--bootstrap", &b.p2p_addrs[0]]);
    wait_for_peer(&c, &b.peer_id);
    let providers = |cid: &str| {
        let r = http.post(format!("{}/api/v0/routing/findprovs?arg={cid}", c.gateway)).send().unwrap();
        assert_eq!(r.status(), 200);
        r.text().unwrap()
    };
    assert!(providers(&cids[1]).contains(&b.peer_id), "B provides the file it holds");
    let lost = providers(&cids[0]);
    assert!(!lost.contains(&b.peer_id), "B still provides the trimmed file: {lost}");
}

/// The address `node` lists for `peer` in `swarm/peers`.
fn peer_addr(node: &Node, peer: &str) -> String {
    let v = peers(node);
    let p = v["Peers"].as_array().unwrap().iter().find(|p| p["Peer"] == peer).unwrap_or_else(|| panic!("{peer} in {v}"));
    p["Addr"].as_str().unwrap().to_string()
}

#[test]
fn files_travel_over_quic_and_over_a_websocket() {
    // A listens on QUIC and a WebSocket only (no TCP). B reaches it with --bootstrap to the
    // QUIC address, C with `swarm connect` to the /ws one; each reads A's file through its
    // gateway.
    let a = Node::start(None, &["--p2p-addr", "/ip4/127.0.0.1/udp/0/quic-v1", "--p2p-addr", "/ip4/127.0.0.1/tcp/0/ws"]);
    assert_eq!(a.p2p_addrs.len(), 2, "{:?}", a.p2p_addrs);
    let (quic, ws) = (&a.p2p_addrs[0], &a.p2p_addrs[1]);
    assert!(quic.starts_with("/ip4/127.0.0.1/udp/") && quic.contains("/quic-v1/p2p/"), "{quic}");
    assert!(ws.starts_with("/ip4/127.0.0.1/tcp/") && ws.contains("/ws/p2p/"), "{ws}");
    let b = Node::start(None, &["--bootstrap", quic, "--fetch-timeout", "5s"]);
    let c = Node::start(None, &["--fetch-timeout", "5s"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(["swarm", "connect", "--node", &c.gateway, ws])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("connect {} success", a.peer_id)));
    wait_for_peer(&b, &a.peer_id);
    wait_for_peer(&c, &a.peer_id);
    wait_for_peer(&a, &b.peer_id);
    wait_for_peer(&a, &c.peer_id);
    assert!(peer_addr(&b, &a.peer_id).contains("/quic-v1"), "{}", peer_addr(&b, &a.peer_id));
    assert!(peer_addr(&a, &b.peer_id).contains("/quic-v1"), "{}", peer_addr(&a, &b.peer_id));
    assert!(peer_addr(&c, &a.peer_id).contains("/ws"), "{}", peer_addr(&c, &a.peer_id));
    assert!(peer_addr(&a, &c.peer_id).contains("/ws"), "{}", peer_addr(&a, &c.peer_id));

    let http = reqwest::blocking::Client::new();
    let data = body(900_000);
    let cid = a.add(&data);
    for (n, over) in [(&b, "QUIC"), (&c, "WebSocket")] {
        let got = http.get(format!("{}/ipfs/{cid}", n.gateway)).send().unwrap();
        assert_eq!(got.status(), 200, "{cid} over {over}");
        assert_eq!(got.bytes().unwrap().as_ref(), &data[..], "{cid} over {over}");
    }
}

#[test]
fn dns_multiaddrs_work_for_bootstrap_and_swarm_connect() {
    // `localhost` resolves without a name server, so this runs offline. B bootstraps from A by
    // name, connects to C by name through the API; a name that cannot resolve is refused in
    // bounded time with the address in the error.
    let a = Node::start(None, &[]);
    let c = Node::start(None, &[]);
    let named = |addr: &str| {
        assert!(addr.starts_with("/ip4/127.0.0.1/"), "{addr}");
        addr.replacen("/ip4/127.0.0.1/", "/dns4/localhost/", 1)
    };
    let b = Node::start(None, &["--bootstrap", &named(&a.p2p_addrs[0])]);
    wait_for_peer(&b, &a.peer_id);
    let http = reqwest::blocking::Client::new();
    let connect = |arg: &str| {
        http.post(format!("{}/api/v0/swarm/connect", b.gateway))
            .query(&[("arg", arg)])
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap()
    };
    let r: serde_json::Value = connect(&named(&c.p2p_addrs[0])).json().unwrap();
    assert_eq!(r["Strings"][0], format!("connect {} success", c.peer_id), "{r}");
    wait_for_peer(&b, &c.peer_id);
    let bad = format!("/dns4/nowhere.invalid/tcp/4001/p2p/{}", c.peer_id);
    let started = Instant::now();
    let resp = connect(&bad);
    assert_eq!(resp.status(), 500);
    let msg = resp.text().unwrap();
    assert!(msg.contains(&bad), "the error names the address: {msg}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

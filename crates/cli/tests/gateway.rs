//! The gateway of a running node: uploads, whole and ranged reads, raw blocks, errors.

mod common;

use common::Node;

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn upload_then_read_whole_ranges_and_raw() {
    let node = Node::start(None, &[]);
    let http = reqwest::blocking::Client::new();
    let data = body(700_000);
    let resp = http.post(format!("{}/ipfs", node.gateway)).body(data.clone()).send().unwrap();
    assert_eq!(resp.status(), 201);
    let created: serde_json::Value = resp.json().unwrap();
    let cid = created["Hash"].as_str().unwrap().to_string();
    assert!(cid.starts_with("Qm"), "CIDv0 by default: {cid}");
    assert_eq!(created["Size"], 700_000);

    let whole = http.get(format!("{}/ipfs/{cid}", node.gateway)).send().unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["etag"], format!("\"{cid}\"").as_str());
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().unwrap().as_ref(), &data[..]);

    let part = http.get(format!("{}/ipfs/{cid}", node.gateway)).header("Range", "bytes=262100-524400").send().unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 262100-524400/700000");
    assert_eq!(part.bytes().unwrap().as_ref(), &data[262_100..=524_400]);
    let tail = http.get(format!("{}/ipfs/{cid}", node.gateway)).header("Range", "bytes=-10").send().unwrap();
    assert_eq!(tail.bytes().unwrap().as_ref(), &data[data.len() - 10..]);
    let bad = http.get(format!("{}/ipfs/{cid}", node.gateway)).header("Range", "bytes=800000-").send().unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], "bytes */700000");

    let raw = http.get(format!("{}/ipfs/{cid}?format=raw", node.gateway)).send().unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "application/vnd.ipld.raw");
    let head = http.head(format!("{}/ipfs/{cid}", node.gateway)).send().unwrap();
    assert_eq!(head.headers()["content-length"], "700000");

    // --cid-version 1 gives raw leaves and a bafy root.
    let v1: serde_json::Value = http.post(format!("{}/ipfs?cid-version=1", node.gateway)).body(data.clone()).send().unwrap().json().unwrap();
    assert!(v1["Hash"].as_str().unwrap().starts_with("bafy"));
}

#[test]
fn bad_cids_and_missing_content_are_clear_errors() {
    let node = Node::start(None, &[]);
    let http = reqwest::blocking::Client::new();
    let r = http.get(format!("{}/ipfs/not-a-cid", node.gateway)).send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("invalid CID"));
    let r = http.get(format!("{}/ipfs/QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", node.gateway)).send().unwrap();
    assert_eq!(r.status(), 404);
    let r = http.post(format!("{}/ipfs?cid-version=7", node.gateway)).body("x").send().unwrap();
    assert_eq!(r.status(), 400);
    let long = "x".repeat(300);
    let r = http.post(format!("{}/ipfs?media-type={long}", node.gateway)).body("x").send().unwrap();
    assert_eq!(r.status(), 400);
    let r = http.post(format!("{}/ipfs?pin=maybe", node.gateway)).body("x").send().unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn uploads_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = body(300_000);
    let cid = {
        let node = Node::start(Some(dir.path()), &[]);
        let created: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}/ipfs", node.gateway)).body(data.clone()).send().unwrap().json().unwrap();
        created["Hash"].as_str().unwrap().to_string()
    };
    let node = Node::start(Some(dir.path()), &[]);
    let got = reqwest::blocking::get(format!("{}/ipfs/{cid}", node.gateway)).unwrap().bytes().unwrap();
    assert_eq!(got.as_ref(), &data[..]);
}

fn post_json(http: &reqwest::blocking::Client, url: String) -> (u16, serde_json::Value) {
    let r = http.post(url).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

fn gc(node: &Node) -> Vec<String> {
    let r = reqwest::blocking::Client::new().post(format!("{}/api/v0/repo/gc", node.gateway)).send().unwrap();
    assert_eq!(r.status(), 200);
    r.text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["Key"]["/"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn content_types_car_and_formats() {
    let node = Node::start(None, &[]);
    let http = reqwest::blocking::Client::new();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(body(400_000));
    let up = |data: Vec<u8>| -> String {
        let v: serde_json::Value = http.post(format!("{}/ipfs", node.gateway)).body(data).send().unwrap().json().unwrap();
        v["Hash"].as_str().unwrap().to_string()
    };
    let png_cid = up(png.clone());
    let text_cid = up(b"plain words, nothing else".to_vec());
    let get = |path: &str| http.get(format!("{}{path}", node.gateway)).send().unwrap();

    assert_eq!(get(&format!("/ipfs/{png_cid}")).headers()["content-type"], "image/png");
    // Uploaded pages run sandboxed (no script, an opaque origin), and are never sniffed.
    let page = get(&format!("/ipfs/{text_cid}?filename=page.html"));
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["content-security-policy"], "sandbox");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(get(&format!("/ipfs/{text_cid}")).headers()["content-type"], "text/plain; charset=utf-8");
    let named = get(&format!("/ipfs/{png_cid}?filename=clip.mp4&download=true"));
    assert_eq!(named.headers()["content-type"], "video/mp4");
    assert_eq!(named.headers()["content-disposition"], "attachment; filename=\"clip.mp4\"");

    // The trustless CAR: a real CARv1 that imports elsewhere with the same root and bytes.
    for car in [get(&format!("/ipfs/{png_cid}?format=car")), http.get(format!("{}/ipfs/{png_cid}", node.gateway)).header("Accept", "application/vnd.ipld.car").send().unwrap()] {
        assert_eq!(car.status(), 200);
        assert_eq!(car.headers()["content-type"], "application/vnd.ipld.car; version=1");
        assert_eq!(car.headers()["etag"], format!("\"{png_cid}.car\"").as_str());
        let store = ls_content::MemBlockstore::default();
        let roots = ls_content::import_car(&store, &car.bytes().unwrap()[..]).unwrap();
        assert_eq!(roots.iter().map(|c| c.to_string()).collect::<Vec<_>>(), std::slice::from_ref(&png_cid));
        let mut out = Vec::new();
        ls_content::read_all(&store, &roots[0], &mut out).unwrap();
        assert_eq!(out, png);
    }
    let r = get(&format!("/ipfs/{png_cid}?format=tar"));
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("format=tar is not supported"));
    assert_eq!(get("/ipfs/QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH?format=car").status(), 404);
}

#[test]
fn car_import_directories_and_paths() {
    use ls_content::{CidVersion, DirEntry, ImportOptions, import, put_directory};
    let node = Node::start(None, &[]);
    let http = reqwest::blocking::Client::new();
    // A site built elsewhere: /index.html, /media/clip.bin.
    let store = ls_content::MemBlockstore::default();
    let entry = |name: &str, data: &[u8]| {
        let f = import(data, &store, ImportOptions::default()).unwrap();
        DirEntry { name: name.into(), cid: f.root, tsize: f.dag_size }
    };
    let clip = body(600_000);
    let media = put_directory(&store, "media", vec![entry("clip.bin", &clip)], CidVersion::V0).unwrap();
    let site = put_directory(&store, "site", vec![entry("index.html", b"<h1>hi</h1>"), media], CidVersion::V0).unwrap();
    let mut car = Vec::new();
    ls_content::export_car(&store, &site.cid, &mut car).unwrap();

    // A truncated CAR is refused and leaves nothing pinned.
    let r = http.post(format!("{}/api/v0/dag/import", node.gateway)).body(car[..car.len() - 100].to_vec()).send().unwrap();
    assert_eq!(r.status(), 400, "{:?}", r.text());
    // A well-formed CAR missing its last block: stored, but its root is not pinned.
    let mut at = 0;
    let mut sections = Vec::new();
    while at < car.len() {
        let (mut len, mut shift, start) = (0usize, 0, at);
        loop {
            let b = car[at];
            at += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        sections.push(start);
        at += len;
    }
    let without_last = car[..*sections.last().unwrap()].to_vec();
    let r = http.post(format!("{}/api/v0/dag/import", node.gateway)).body(without_last).send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("is not in this node's store"));
    let r = http.post(format!("{}/api/v0/dag/import", node.gateway)).body(car).send().unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["Roots"][0]["Cid"]["/"], site.cid.to_string());

    let get = |path: &str| http.get(format!("{}{path}", node.gateway)).send().unwrap();
    let index = get(&format!("/ipfs/{}", site.cid));
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.text().unwrap(), "<h1>hi</h1>");
    let listing = get(&format!("/ipfs/{}/media", site.cid)).text().unwrap();
    assert!(listing.contains("clip.bin"), "{listing}");
    let part = http
        .get(format!("{}/ipfs/{}/media/clip.bin", node.gateway, site.cid))
        .header("Range", "bytes=300000-300009")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["x-ipfs-path"], format!("/ipfs/{}/media/clip.bin", site.cid).as_str());
    assert_eq!(part.bytes().unwrap().as_ref(), &clip[300_000..300_010]);
    let missing = get(&format!("/ipfs/{}/media/nope.bin", site.cid));
    assert_eq!(missing.status(), 404);
    assert!(missing.text().unwrap().contains("no link named \"nope.bin\""));
    assert_eq!(get(&format!("/ipfs/{}/index.html/below", site.cid)).status(), 404);
    let pins: serde_json::Value = http.post(format!("{}/api/v0/pin/ls", node.gateway)).send().unwrap().json().unwrap();
    assert_eq!(pins["Keys"].as_object().unwrap().keys().collect::<Vec<_>>(), [&site.cid.to_string()]);
}

#[test]
fn pins_gc_and_the_leftovers_of_a_cut_upload() {
    use std::io::Write;
    let node = Node::start(None, &[]);
    let http = reqwest::blocking::Client::new();
    let add = |data: Vec<u8>, query: &str| -> String {
        let v: serde_json::Value = http.post(format!("{}/ipfs{query}", node.gateway)).body(data).send().unwrap().json().unwrap();
        v["Hash"].as_str().unwrap().to_string()
    };
    let kept = add(body(600_000), "");
    let loose = add(body(300_001), "?pin=false");

    // An upload cut halfway: its blocks are on disk, unpinned.
    let addr = node.gateway.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /ipfs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 4000000\r\n\r\n").unwrap();
    let noise: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    s.write_all(&noise).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(300));

    let removed = gc(&node);
    assert!(removed.contains(&loose), "{removed:?}");
    assert!(removed.len() > 7, "the loose root and the cut upload's chunks go too: {removed:?}");
    assert_eq!(http.get(format!("{}/ipfs/{loose}", node.gateway)).send().unwrap().status(), 404);
    let got = http.get(format!("{}/ipfs/{kept}", node.gateway)).send().unwrap().bytes().unwrap();
    assert_eq!(got.as_ref(), &body(600_000)[..]);
    assert!(gc(&node).is_empty(), "nothing left to collect");
    // What is left: the pinned file, three leaves and its root.
    let (status, stat) = post_json(&http, format!("{}/api/v0/repo/stat", node.gateway));
    assert_eq!(status, 200);
    assert_eq!(stat["NumObjects"], 4, "{stat}");
    let size = stat["RepoSize"].as_u64().unwrap();
    assert!((600_000..601_000).contains(&size), "{stat}");

    // Pin errors and refusals.
    let (status, v) = post_json(&http, format!("{}/api/v0/pin/add?arg=QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", node.gateway));
    assert_eq!(status, 404);
    assert!(v["Message"].as_str().unwrap().contains("not in this node's store"));
    assert_eq!(post_json(&http, format!("{}/api/v0/pin/add?arg=nope", node.gateway)).0, 400);
    assert_eq!(post_json(&http, format!("{}/api/v0/pin/add", node.gateway)).0, 400);
    for origin in ["https://evil.example", node.gateway.as_str()] {
        for call in ["/api/v0/repo/gc", "/api/v0/repo/stat", "/api/v0/pin/ls", "/api/v0/dag/import", "/ipfs"] {
            let r = http.post(format!("{}{call}", node.gateway)).header("Origin", origin).body("x").send().unwrap();
            assert_eq!(r.status(), 403, "{call} from {origin}");
        }
        let r = http.post(format!("{}/api/v0/pin/rm?arg={kept}", node.gateway)).header("Origin", origin).send().unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }

    // Unpinned, the last file goes too.
    assert_eq!(post_json(&http, format!("{}/api/v0/pin/rm?arg={kept}", node.gateway)).0, 200);
    assert_eq!(post_json(&http, format!("{}/api/v0/pin/rm?arg={kept}", node.gateway)).0, 404);
    assert_eq!(gc(&node).len(), 4);
    assert_eq!(post_json(&http, format!("{}/api/v0/repo/stat", node.gateway)).1, serde_json::json!({"RepoSize": 0, "NumObjects": 0}));
    assert_eq!(http.get(format!("{}/ipfs/{kept}", node.gateway)).send().unwrap().status(), 404);
}

#[test]
fn upload_progress_streams_to_the_caller() {
    let node = Node::start(None, &["--max-upload", "5MiB"]);
    let http = reqwest::blocking::Client::new();
    let data = body(3 << 20);
    let r = http.post(format!("{}/ipfs?progress=true", node.gateway)).body(data).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = r.text().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let counts: Vec<u64> = lines.iter().filter_map(|l| l["Bytes"].as_u64()).collect();
    // Progress is lossy by design (a caller that reads slowly gets the latest count, not every
    // one), so how many lines arrive depends on timing; the final count always does.
    assert!(!counts.is_empty(), "{lines:?}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*counts.last().unwrap(), 3 << 20);
    assert_eq!(lines.last().unwrap()["Size"], 3 << 20);
    assert!(lines.last().unwrap()["Hash"].as_str().unwrap().starts_with("Qm"));

    // Over the limit: plain 413, or an error line when streaming progress.
    let r = http.post(format!("{}/ipfs", node.gateway)).body(body(6 << 20)).send().unwrap();
    assert_eq!(r.status(), 413);
    let r = http.post(format!("{}/ipfs?progress=true", node.gateway)).body(body(6 << 20)).send().unwrap();
    let last: serde_json::Value = serde_json::from_str(r.text().unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["Type"], "error");
    assert_eq!(last["Code"], 413);
}

#[test]
fn a_stalled_upload_cannot_hold_off_gc() {
    use std::io::{Read, Write};
    let node = Node::start(None, &["--upload-idle-timeout", "2s"]);
    let http = reqwest::blocking::Client::new();
    // A client that sends half its body and then nothing, keeping the connection open.
    let addr = node.gateway.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /ipfs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 4000000\r\n\r\n").unwrap();
    s.write_all(&ls_testkit::noise(0x5eed, 2_000_000)).unwrap();
    // gc needs the lock that upload holds: it answers once the upload is ended for its silence,
    // and collects what it stored (asked again if it ran before the upload stored anything).
    // How much was stored depends on timing: on a loaded machine this very test can pause for
    // longer than the idle timeout while it writes, and the node rightly ends the upload then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut removed = 0;
    loop {
        let r = http.post(format!("{}/api/v0/repo/gc", node.gateway)).timeout(std::time::Duration::from_secs(60)).send().unwrap();
        assert_eq!(r.status(), 200);
        removed += r.text().unwrap().lines().count();
        if removed >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the stalled upload's blocks were never collected");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The stalled client is told why.
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 408");
}

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

//! `lightstreams file` against a running node.

mod common;

use std::process::Command;

use common::Node;

fn ls(args: &[&str], keys: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lightstreams"))
        .args(args)
        .env("LIGHTSTREAMS_KEYS", keys)
        .output()
        .expect("run lightstreams")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

#[test]
fn public_and_encrypted_files_round_trip_through_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let node = Node::start(Some(&data_dir), &[]);
    let keys = dir.path().join("keys");
    let src = dir.path().join("in.bin");
    // 262145 bytes: the golden vector "one_chunk_plus_one" (same CID as `ipfs add`).
    std::fs::write(&src, pattern(262_145)).unwrap();

    let out = ls(&["file", "add", "--public", "--node", &node.gateway, src.to_str().unwrap()], &keys);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("QmP8yTqWQcb3qVoBcdE4pTUzxh9kazndg5ELrbXBmdj17M"));

    // Encrypted: a larger file with a recognisable plaintext.
    let secret: Vec<u8> = b"TOP-SECRET-LIGHTSTREAMS-CONTENT-".iter().copied().cycle().take(600_000).collect();
    std::fs::write(&src, &secret).unwrap();
    let out = ls(&["file", "add", "--json", "--media-type", "video/mp4", "--node", &node.gateway, src.to_str().unwrap()], &keys);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["Hash"].as_str().unwrap().to_string();
    assert!(id.starts_with("bagu"), "a dag-json manifest CID: {id}");
    assert_eq!(created["Encrypted"], true);
    assert!(keys.join(format!("{id}.json")).exists());

    let back = dir.path().join("back.bin");
    let out = ls(&["file", "get", &id, "-o", back.to_str().unwrap(), "--node", &node.gateway], &keys);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&back).unwrap(), secret);
    let out = ls(&["file", "cat", &id, "--range", "262140-262160", "--node", &node.gateway], &keys);
    assert_eq!(out.stdout, &secret[262_140..=262_160]);

    // No plaintext reached the node's disk.
    let blocks = ls_testkit::files_under(&data_dir.join("blocks"));
    assert!(!blocks.is_empty());
    for p in &blocks {
        let b = std::fs::read(p).unwrap();
        assert!(!b.windows(16).any(|w| w == &b"TOP-SECRET-LIGHT"[..]), "plaintext in {}", p.display());
    }

    // Without the key: a clear error, nothing written (to a path no earlier step wrote).
    let nokey = dir.path().join("nokey.bin");
    let out = ls(&["file", "get", &id, "-o", nokey.to_str().unwrap(), "--node", &node.gateway], &dir.path().join("no-keys"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key"));
    assert!(!nokey.exists(), "file get wrote {} without the key", nokey.display());
    assert!(!nokey.with_extension("lightstreams-partial").exists(), "a partial file was left behind");
}

#[test]
fn no_node_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    std::fs::write(&src, b"x").unwrap();
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let node = format!("http://127.0.0.1:{port}");
    let out = ls(&["file", "add", "--public", "--node", &node, src.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("no lightstreams node answers at {node}")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ls_pin_and_gc_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(None, &[]);
    let keys = dir.path().join("keys");
    let n = ["--node", node.gateway.as_str()];
    let video = dir.path().join("clip.mp4");
    std::fs::write(&video, pattern(500_000)).unwrap();
    let photo = dir.path().join("photo.bin");
    std::fs::write(&photo, pattern(1000)).unwrap();
    let scratch = dir.path().join("scratch.bin");
    std::fs::write(&scratch, pattern(300_000)).unwrap();

    let added = |path: &std::path::Path, extra: &[&str]| -> String {
        let mut args = vec!["file", "add", "--json"];
        args.extend(extra);
        args.extend(n);
        args.push(path.to_str().unwrap());
        let v: serde_json::Value = serde_json::from_str(stdout(&ls(&args, &keys)).trim()).unwrap();
        v["Hash"].as_str().unwrap().to_string()
    };
    let enc = added(&video, &[]);
    let public = added(&photo, &["--public"]);
    let unpinned = added(&scratch, &["--public", "--pin", "false"]);

    // file ls: the pinned files, with what they are.
    let rows: serde_json::Value = serde_json::from_str(&stdout(&ls(&["file", "ls", "--json", n[0], n[1]], &keys))).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |cid: &str| rows.iter().find(|r| r["Cid"] == cid).unwrap_or_else(|| panic!("{cid} not listed"));
    assert_eq!(row(&enc)["Encrypted"], true);
    assert_eq!(row(&enc)["Size"], 500_000);
    assert_eq!(row(&enc)["Type"], "video/mp4", "media type from the extension");
    assert_eq!(row(&public)["Size"], 1000);
    let text = stdout(&ls(&["file", "ls", n[0], n[1]], &keys));
    assert!(text.lines().any(|l| l.starts_with(&enc) && l.contains("encrypted") && l.contains("video/mp4")), "{text}");

    // gc removes only what no pin reaches; pin ls / rm / add round trip.
    let gc = stdout(&ls(&["gc", "--json", n[0], n[1]], &keys));
    let gc: serde_json::Value = serde_json::from_str(gc.trim()).unwrap();
    assert!(gc["Removed"].as_array().unwrap().iter().any(|c| c == unpinned.as_str()), "{gc}");
    assert!(gc["FreedBytes"].as_u64().unwrap() >= 300_000);
    let pins = stdout(&ls(&["pin", "ls", n[0], n[1]], &keys));
    assert_eq!(pins.lines().count(), 2, "{pins}");
    assert!(stdout(&ls(&["pin", "rm", n[0], n[1], &public], &keys)).contains("unpinned"));
    assert!(stdout(&ls(&["gc", n[0], n[1]], &keys)).contains("1 blocks removed"));
    let out = ls(&["pin", "add", n[0], n[1], &public], &keys);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not in this node's store") && err.trim().lines().count() == 1, "{err}");
    // The encrypted file is still whole and decrypts.
    let back = dir.path().join("back.mp4");
    stdout(&ls(&["file", "get", n[0], n[1], &enc, "-o", back.to_str().unwrap()], &keys));
    assert_eq!(std::fs::read(&back).unwrap(), pattern(500_000));
}

#[test]
fn ranges_of_a_large_encrypted_video_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(Some(&dir.path().join("data")), &[]);
    let keys = dir.path().join("keys");
    let video = dir.path().join("film.mp4");
    let data = ls_testkit::noise(0x1234_5678_9abc_def1, 6 * 1024 * 1024 + 12_345);
    let mut x = 0x0fed_cba9_8765_4321u64;
    std::fs::write(&video, &data).unwrap();
    let out = ls(&["file", "add", "--json", "--node", &node.gateway, video.to_str().unwrap()], &keys);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let id = v["Hash"].as_str().unwrap().to_string();
    let len = data.len() as u64;
    let seg = ls_content::SEGMENT as u64;
    // First and last bytes, segment edges, a span of many segments, random spots.
    let mut ranges = vec![(0, 0), (len - 1, len - 1), (seg - 1, seg), (seg, 2 * seg - 1), (100, len - 100), (3 * seg - 5, 3 * seg + 5)];
    for _ in 0..6 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = x % len;
        ranges.push((a, (a + x % 2_000_000).min(len - 1)));
    }
    for (a, b) in ranges {
        let got = ls(&["file", "cat", "--node", &node.gateway, &id, "--range", &format!("{a}-{b}")], &keys);
        assert!(got.status.success(), "{a}-{b}: {}", String::from_utf8_lossy(&got.stderr));
        assert!(got.stdout == data[a as usize..=b as usize], "{a}-{b}: wrong bytes");
    }
    // Past the end: a clear error, nothing printed.
    let got = ls(&["file", "cat", "--node", &node.gateway, &id, "--range", &format!("{len}-{}", len + 10)], &keys);
    assert!(!got.status.success());
    assert!(got.stdout.is_empty());
    assert!(String::from_utf8_lossy(&got.stderr).contains("outside the file"), "{}", String::from_utf8_lossy(&got.stderr));
}

/// A "node" that answers every request with a 200 and an endless body.
fn endless_node() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut req = [0u8; 4096];
                let _ = conn.read(&mut req);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n");
                let spaces = vec![b' '; 1 << 20];
                // Until the client hangs up (or a terabyte).
                for _ in 0..(1 << 20) {
                    if conn.write_all(&spaces).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn answers_without_end_are_capped_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let node = endless_node();
    for args in [&["pin", "ls"][..], &["gc"][..], &["file", "ls"][..]] {
        let mut args = args.to_vec();
        args.extend(["--node", &node]);
        let out = ls(&args, dir.path());
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is larger than"), "{args:?}: {err}");
    }
}

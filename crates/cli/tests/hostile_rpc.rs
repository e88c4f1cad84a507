//! A real node under requests meant to hurt it: calls that would take all memory or run
//! forever, batches of them, a shutdown while they run, and web pages that try to drive the
//! dev accounts. The node stays up, keeps sealing blocks, and answers everyone else.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use alloy_primitives::{Bytes, U256, address};
use common::{DEV0, DEV1, KEY0, Node, signed_tx};
use serde_json::{Value, json};


/// Code placed at this address through a state override.
const TARGET: &str = "0x00000000000000000000000000000000000000cc";
/// PUSH1 1, PUSH4 0xffffffff, MSTORE: a store at a 4 GiB offset.
const HUGE_MSTORE: &str = "0x600163ffffffff52";
/// JUMPDEST PUSH1 0 JUMP: loops until stopped.
const LOOP: &str = "0x5b600056";

fn call_with_code(code: &str, gas: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [
        {"from": DEV0, "to": TARGET, "gas": gas}, "latest", {TARGET: {"code": code}}
    ]})
}

/// Resident memory of a process, from /proc (Linux).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    kb * 1024
}

#[test]
fn a_call_naming_any_gas_is_capped_and_bounded_in_memory() {
    let node = Node::start(None, &[]);
    let (_, r) = node.raw(&call_with_code(HUGE_MSTORE, "0xffffffffffffffff").to_string());
    // Out of gas at the 50M cap (memory for a 4 GiB offset costs far more), not 16 GB of RSS.
    assert_eq!(r["error"]["message"], json!("out of gas"), "{r}");
    assert!(rss_bytes(node.child.id()) < 512 << 20, "rss {} MiB", rss_bytes(node.child.id()) >> 20);
    // eth_estimateGas with the same gas neither overflows nor hangs.
    let est = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_estimateGas", "params": [
        {"from": DEV0, "to": TARGET, "gas": "0xffffffffffffffff"}, "latest", {TARGET: {"code": LOOP}}
    ]});
    let (_, r) = node.raw(&est.to_string());
    assert_eq!(r["error"]["message"], json!("gas required exceeds allowance (50000000)"), "{r}");
    // A loop that outlasts the in-place budget (1 ms) moves to a blocking thread and runs to
    // its true end: out of gas, not an abort.
    let (_, r) = node.raw(&call_with_code(LOOP, "0x2faf080").to_string());
    assert_eq!(r["error"]["message"], json!("out of gas"), "{r}");
    assert_eq!(node.ok("eth_blockNumber", json!([])), json!("0x0"));
}

#[test]
fn an_endless_call_is_aborted_at_the_timeout_and_a_batch_of_them_starves_nobody() {
    // A cap so high that only the timeout can stop the loop.
    let node = Node::start(None, &["--rpc-gas-cap", "1000000000000000", "--rpc-evm-timeout", "300ms"]);
    let (_, r) = node.raw(&call_with_code(LOOP, "0xffffffffffffffff").to_string());
    assert_eq!(r["error"]["message"], json!("execution aborted (timeout = 300ms)"), "{r}");

    // Twenty of them in one batch, sent from another thread, while we transfer and read.
    let url = node.url.clone();
    let batch: Vec<Value> = (0..20)
        .map(|i| {
            let mut c = call_with_code(LOOP, "0xffffffffffffffff");
            c["id"] = json!(i);
            c
        })
        .collect();
    let heavy = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(serde_json::to_string(&batch).unwrap())
            .timeout(Duration::from_secs(60))
            .send()
            .and_then(|r| r.json::<Vec<Value>>())
    });
    std::thread::sleep(Duration::from_millis(100));
    let raw = signed_tx(KEY0, 0, Some(DEV1), U256::from(7), Bytes::new(), 21_000);
    let hash = node.ok("eth_sendRawTransaction", json!([raw]));
    // Blocks keep coming and cheap reads are answered while the batch holds every EVM worker.
    let receipt = node.wait_receipt(hash.as_str().unwrap(), Duration::from_secs(10));
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(node.ok("eth_getBalance", json!([address!("00000000000000000000000000000000000000cc"), "latest"])), json!("0x0"));
    let answers = heavy.join().unwrap().expect("the batch is answered");
    assert_eq!(answers.len(), 20);
    for a in &answers {
        let msg = a["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg == "execution aborted (timeout = 300ms)" || msg.starts_with("too many calls in progress"),
            "{a}"
        );
    }
}

#[test]
fn sigterm_stops_a_node_running_an_endless_call_within_two_seconds() {
    let mut node = Node::start(None, &["--rpc-gas-cap", "1000000000000000", "--rpc-evm-timeout", "1h"]);
    let url = node.url.clone();
    let body = call_with_code(LOOP, "0xffffffffffffffff").to_string();
    let _caller = std::thread::spawn(move || {
        let _ = reqwest::blocking::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(30))
            .send();
    });
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "node did not stop within 2 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `request` (a whole HTTP/1.1 request) and returns the status line and headers.
fn http_head(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).to_lowercase()
}

fn post(addr: &str, host: &str, origin: Option<&str>) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_accounts","params":[]}"#;
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    http_head(
        addr,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn ws_upgrade(addr: &str, origin: &str) -> String {
    http_head(
        addr,
        &format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    )
}

#[test]
fn web_pages_and_rebound_names_cannot_drive_the_dev_accounts() {
    let node = Node::start(None, &[]);
    let addr = node.url.trim_start_matches("http://").to_string();
    // Tools without an Origin, by IP or by localhost: served.
    assert!(post(&addr, &addr, None).starts_with("http/1.1 200"));
    assert!(post(&addr, "localhost:8545", None).starts_with("http/1.1 200"));
    // A page on another origin: refused, for calls and for WebSocket upgrades.
    assert!(post(&addr, &addr, Some("http://evil.example")).starts_with("http/1.1 403"));
    assert!(ws_upgrade(&addr, "http://evil.example").starts_with("http/1.1 403"));
    assert!(ws_upgrade(&addr, "chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn").starts_with("http/1.1 101"));
    // DNS rebinding: a name that is not on --rpc-vhosts.
    assert!(post(&addr, "evil.example:8545", None).starts_with("http/1.1 403"));

    // --rpc-cors names the origins a page may come from.
    let node = Node::start(None, &["--rpc-cors", "http://localhost:3000", "--rpc-vhosts", "localhost,node.test"]);
    let addr = node.url.trim_start_matches("http://").to_string();
    let ok = post(&addr, "node.test", Some("http://localhost:3000"));
    assert!(ok.starts_with("http/1.1 200"), "{ok}");
    assert!(ok.contains("access-control-allow-origin: http://localhost:3000"), "{ok}");
    let preflight = http_head(
        &addr,
        &format!("OPTIONS / HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"),
    );
    assert!(preflight.contains("access-control-allow-origin: http://localhost:3000"), "{preflight}");
    assert!(post(&addr, &addr, Some("http://localhost:3001")).starts_with("http/1.1 403"));
}

#[test]
fn filters_have_unguessable_ids_and_bounded_size() {
    let node = Node::start(None, &[]);
    let a = node.ok("eth_newBlockFilter", json!([]));
    let b = node.ok("eth_newBlockFilter", json!([]));
    let n = |v: &Value| u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_ne!(n(&a), n(&b));
    assert_ne!(n(&a) + 1, n(&b), "ids must not be a counter");
    // A neighbour of a real id names no filter.
    let r = node.call("eth_getFilterChanges", json!([format!("{:#x}", n(&a) ^ 1)]));
    assert_eq!(r["error"]["message"], json!("filter not found"), "{r}");
    // Too many addresses in one filter.
    let many: Vec<String> = (0..1001u32).map(|i| format!("0x{:040x}", i)).collect();
    for method in ["eth_newFilter", "eth_getLogs"] {
        let r = node.call(method, json!([{"address": many}]));
        assert_eq!(r["error"]["code"], json!(-32602), "{method}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().starts_with("exceed max addresses"), "{r}");
    }
    assert!(node.call("eth_getLogs", json!([{"address": &many[..1000]}]))["error"].is_null());
}

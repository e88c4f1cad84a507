//! The gateway against hostile callers, in process: web pages, stalled and abandoned uploads,
//! progress readers that never read, ranges at the edge of u64.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use axum::{
    Router,
    body::{Body, Bytes},
    http::{Method, Request, Response, StatusCode},
};
use ls_content::{Blockstore, MemBlockstore, MemPins, Repo};
use ls_gateway::{GatewayConfig, router};
use tower::ServiceExt;

/// Every wait in these tests ends: a hang is a failure, found within this bound.
const BOUND: Duration = Duration::from_secs(60);

fn gateway(cfg: GatewayConfig) -> (Arc<Repo>, Router) {
    let repo = Arc::new(Repo::new(Arc::new(MemBlockstore::default()) as Arc<dyn Blockstore>, MemPins::default()));
    (repo.clone(), router(repo, cfg))
}

async fn send(app: &Router, req: Request<Body>) -> Response<Body> {
    tokio::time::timeout(BOUND, app.clone().oneshot(req)).await.expect("answered in time").expect("infallible")
}

async fn text(resp: Response<Body>) -> String {
    let b = tokio::time::timeout(BOUND, axum::body::to_bytes(resp.into_body(), 1 << 30)).await.expect("body in time").unwrap();
    String::from_utf8_lossy(&b).into_owned()
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder().method(Method::POST).uri(uri).body(body.into()).unwrap()
}

/// A body that sends `first` and then nothing, ever.
fn stalling(first: Vec<u8>) -> Body {
    let s = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(first))]).chain(futures::stream::pending());
    Body::from_stream(s)
}

async fn add(app: &Router, data: &[u8]) -> String {
    let r = send(app, post("/ipfs", data.to_vec())).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
    v["Hash"].as_str().unwrap().to_string()
}

/// GC finishes (it needs the exclusive lock every upload's shared hold must have released).
async fn gc_completes(repo: &Arc<Repo>) -> ls_content::GcReport {
    let repo = repo.clone();
    let gc = tokio::task::spawn_blocking(move || repo.gc());
    tokio::time::timeout(BOUND, gc).await.expect("gc was not held off").unwrap().unwrap()
}

#[tokio::test]
async fn every_call_that_changes_or_reveals_state_refuses_web_pages() {
    let (_, app) = gateway(GatewayConfig::default());
    let cid = add(&app, b"kept").await;
    let calls = [
        "/ipfs".to_string(),
        "/ipfs?progress=true".into(),
        "/api/v0/dag/import".into(),
        "/api/v0/pin/ls".into(),
        format!("/api/v0/pin/add?arg={cid}"),
        format!("/api/v0/pin/rm?arg={cid}"),
        "/api/v0/repo/gc".into(),
    ];
    for origin in ["https://evil.example", "http://127.0.0.1:8080", "null"] {
        for uri in &calls {
            let mut req = post(uri, "x");
            req.headers_mut().insert("origin", origin.parse().unwrap());
            let r = send(&app, req).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri} from {origin}");
            assert!(text(r).await.contains("refused"), "{uri}");
        }
    }
    // Nothing changed: the pin is still there, and command-line callers (no Origin) still work.
    let r = send(&app, post("/api/v0/pin/ls", Body::empty())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains(&cid));
}

#[tokio::test]
async fn user_content_is_sandboxed_and_never_sniffed() {
    let (_, app) = gateway(GatewayConfig::default());
    let cid = add(&app, b"<script>fetch('/api/v0/repo/gc', {method: 'POST'})</script>").await;
    for (method, uri) in [
        (Method::GET, format!("/ipfs/{cid}?filename=page.html")),
        (Method::HEAD, format!("/ipfs/{cid}?filename=page.html")),
        (Method::GET, format!("/ipfs/{cid}")),
        (Method::GET, format!("/ipfs/{cid}?format=raw")),
        (Method::GET, "/ipfs/QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH".to_string()),
    ] {
        let r = send(&app, Request::builder().method(method.clone()).uri(&uri).body(Body::empty()).unwrap()).await;
        assert_eq!(r.headers()["content-security-policy"], "sandbox", "{method} {uri}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{method} {uri}");
    }
}

#[tokio::test]
async fn a_range_to_u64_max_is_the_whole_file() {
    let (_, app) = gateway(GatewayConfig::default());
    let cid = add(&app, &[7u8; 1000]).await;
    let get = |range: &str| Request::builder().uri(format!("/ipfs/{cid}")).header("range", range).body(Body::empty()).unwrap();
    let r = send(&app, get("bytes=0-18446744073709551615")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 0-999/1000");
    assert_eq!(text(r).await.len(), 1000);
    let r = send(&app, get("bytes=18446744073709551615-")).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_ends_with_408_and_releases_gc() {
    let cfg = GatewayConfig { upload_idle_timeout: Duration::from_millis(300), ..Default::default() };
    let (repo, app) = gateway(cfg);
    let r = send(&app, post("/ipfs", stalling(vec![1; 600_000]))).await;
    assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(text(r).await.contains("sent nothing for"));
    assert!(repo.pins().unwrap().is_empty());
    let report = gc_completes(&repo).await;
    assert!(!report.removed.is_empty(), "the stalled upload's blocks are collected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_upload_is_not_taken_for_a_whole_one() {
    let (repo, app) = gateway(GatewayConfig::default());
    // The caller goes away mid-body (the request future is dropped, as when a connection dies).
    let app2 = app.clone();
    let upload = tokio::spawn(async move { app2.oneshot(post("/ipfs", stalling(vec![2; 600_000]))).await });
    // Once its first blocks are in, drop it.
    let deadline = tokio::time::Instant::now() + BOUND;
    while repo.blocks().cids().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    upload.abort();
    let _ = upload.await;
    gc_completes(&repo).await;
    assert!(repo.pins().unwrap().is_empty(), "a cut upload was pinned as if whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_beyond_the_limit_are_refused_with_503() {
    let cfg = GatewayConfig { max_uploads: 1, upload_idle_timeout: Duration::from_secs(2), ..Default::default() };
    let (repo, app) = gateway(cfg);
    let app2 = app.clone();
    let first = tokio::spawn(async move { app2.oneshot(post("/ipfs", stalling(vec![3; 600_000]))).await.unwrap().status() });
    // Once its first blocks are stored, the first upload holds the only slot.
    let deadline = tokio::time::Instant::now() + BOUND;
    while repo.blocks().cids().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the first upload never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for req in [post("/api/v0/dag/import", Body::empty()), post("/ipfs", "x")] {
        let r = send(&app, req).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        let refused = text(r).await;
        assert!(refused.contains("already running 1 uploads"), "{refused}");
    }
    assert_eq!(first.await.unwrap(), StatusCode::REQUEST_TIMEOUT);
    // The slot is free again.
    add(&app, b"after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_reader_that_never_reads_cannot_stall_the_import() {
    let (repo, app) = gateway(GatewayConfig::default());
    // 160 MiB of zeros (one distinct block, so memory stays small): 160 progress counts, more
    // than any queue between the import and the caller holds.
    const MIB: usize = 1 << 20;
    let chunks = futures::stream::iter((0..160).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; MIB]))));
    let r = send(&app, post("/ipfs?progress=true", Body::from_stream(chunks))).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The caller reads nothing, yet the import finishes (pins its file) and releases its lock.
    let deadline = tokio::time::Instant::now() + BOUND;
    while repo.pins().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the import stalled behind its unread progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gc_completes(&repo).await;
    // Reading now: counts are lossy but increasing, and the last lines are the total and the result.
    let body = text(r).await;
    let lines: Vec<serde_json::Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let counts: Vec<u64> = lines.iter().filter_map(|l| l["Bytes"].as_u64()).collect();
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
    assert_eq!(counts.last(), Some(&(160 * MIB as u64)));
    assert_eq!(lines.last().unwrap()["Size"], 160 * MIB as u64);
}

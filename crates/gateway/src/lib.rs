//! The HTTP gateway, as Kubo's on 127.0.0.1:8080, plus the few Kubo RPC calls the `file` and
//! `pin` commands need.
//!
//! Reading ([`read`]):
//! - `GET|HEAD /ipfs/<cid>[/path]`: a file's bytes with `Range` (206, or 416 when
//!   unsatisfiable), `ETag` (the CID), `Content-Type` (from `?filename=` or the path's
//!   extension, else sniffed from the first bytes), `X-Ipfs-Path`. Streams; memory does not
//!   grow with the file. Paths walk UnixFS directories; a directory serves its `index.html`
//!   or a listing.
//! - Trustless formats: `?format=raw` / `Accept: application/vnd.ipld.raw` (the block) and
//!   `?format=car` / `Accept: application/vnd.ipld.car` (the whole DAG as a CARv1, streamed).
//!
//! Writing ([`upload`]):
//! - `POST /ipfs`: the body is imported as a UnixFS file while it streams in (constant memory,
//!   size limit) and pinned (`?pin=false` to not), answered with `201` and
//!   `{"Hash": cid, "Size": n}`. `?progress=true` answers at once with NDJSON lines
//!   `{"Bytes": n}` as the body arrives, then the result (or `{"Message", "Type": "error"}`).
//!   With `?encrypt=true` (key and nonce prefix in `x-lightstreams-key` /
//!   `x-lightstreams-nonce-prefix`, chosen and kept by the client) only ciphertext and a
//!   manifest are stored, and `Hash` is the manifest's CID.
//!
//! Paid files ([`files`], when the node is given a [`PaidFiles`]): `GET /files/<file-id>/challenge`,
//! `POST /files/<file-id>/session`, then `GET|HEAD /files/<file-id>` decrypted for a reader
//! whose signed challenge the key-release committee honoured.
//!
//! Pins ([`api`]): `POST /api/v0/pin/add|rm?arg=<cid>`, `POST /api/v0/pin/ls`,
//! `POST /api/v0/repo/gc`, shaped as Kubo's RPC answers them; `POST /api/v0/dag/import` takes
//! a CAR (verified as it streams, roots pinned).
//!
//! Bad CIDs are 400, missing content 404, oversized uploads 413, each with a plain message.
//!
//! Hardening (limits in [`GatewayConfig`]): every `POST` (uploads and `/api/v0`) is refused
//! with 403 when it carries an `Origin`; user content is served with
//! `Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff`; an upload body
//! idle for `upload_idle_timeout` ends with 408; at most `max_uploads` run at once (503
//! beyond); NDJSON progress is lossy, so a caller that never reads it cannot stall the import.

// Handlers return `Result<_, Response>` so that `?` ends a request with its answer.
#![allow(clippy::result_large_err)]

mod api;
pub mod files;
mod read;
mod upload;

pub use files::{Challenge, PaidError, PaidFiles, Unlocked};

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bytes::Bytes;
use ls_content::Repo;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
    /// An upload (`POST /ipfs`, `dag/import`) whose body sends nothing for this long is ended
    /// with 408, releasing what it held (its import thread and GC's shared lock).
    pub upload_idle_timeout: Duration,
    /// Uploads running at once; one more is answered 503 at once. Each buffers up to ~4.5 MiB.
    pub max_uploads: usize,
    /// How long a paid-file session (and the file key it holds in memory) lasts.
    pub session_ttl: Duration,
    /// Paid-file sessions held at once; the oldest goes first.
    pub max_sessions: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_upload: 4 * 1024 * 1024 * 1024,
            upload_idle_timeout: Duration::from_secs(30),
            max_uploads: 8,
            session_ttl: Duration::from_secs(3600),
            max_sessions: 1024,
        }
    }
}

struct AppState {
    repo: Arc<Repo>,
    cfg: GatewayConfig,
    uploads: Arc<tokio::sync::Semaphore>,
    sessions: Option<Arc<files::Sessions>>,
}

/// The gateway's routes over `repo`.
pub fn router(repo: Arc<Repo>, cfg: GatewayConfig) -> Router {
    router_with(repo, cfg, None)
}

/// [`router`], plus paid files (`/files/…`) when `paid` is given.
pub fn router_with(repo: Arc<Repo>, cfg: GatewayConfig, paid: Option<Arc<dyn PaidFiles>>) -> Router {
    let uploads = Arc::new(tokio::sync::Semaphore::new(cfg.max_uploads));
    let sessions = paid.map(|p| Arc::new(files::Sessions::new(p, cfg.session_ttl, cfg.max_sessions)));
    let state = Arc::new(AppState { repo, cfg, uploads, sessions });
    // User content: sandboxed (no script, an opaque origin) and never sniffed by the browser.
    let reads = Router::new()
        .route("/ipfs/{cid}", get(read::get_content).head(read::get_content))
        .route("/ipfs/{cid}/{*path}", get(read::get_content).head(read::get_content))
        .route_layer(middleware::from_fn(sandbox_user_content));
    // Paid files: any page may ask (the reader's signature is the authority).
    let paid = Router::new()
        .route("/files/{id}", get(files::read).head(files::read))
        .route("/files/{id}/challenge", get(files::challenge))
        // A session body is a few hundred bytes: nothing larger is read into memory.
        .route("/files/{id}/session", post(files::open_session).layer(DefaultBodyLimit::max(files::MAX_SESSION_BODY)))
        .route_layer(middleware::from_fn(sandbox_user_content))
        .layer(files::cors());
    // Calls that change or reveal the node's state: never from a web page.
    let calls = Router::new()
        .route("/ipfs", post(upload::upload))
        .route("/api/v0/pin/add", post(api::pin_add))
        .route("/api/v0/pin/rm", post(api::pin_rm))
        .route("/api/v0/pin/ls", post(api::pin_ls))
        .route("/api/v0/repo/gc", post(api::repo_gc))
        .route("/api/v0/repo/stat", post(api::repo_stat))
        .route("/api/v0/dag/import", post(upload::dag_import))
        .route_layer(middleware::from_fn(refuse_web_pages));
    reads.merge(paid).merge(calls).layer(DefaultBodyLimit::disable()).with_state(state)
}

async fn sandbox_user_content(req: axum::extract::Request, next: middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// Kubo refuses API calls a web page could make; so do we, for any `Origin` (browsers send one
/// with every POST, command-line clients none). Even a loopback origin is refused: it may be a
/// page someone uploaded (sandboxed pages send `Origin: null`, refused as well).
async fn refuse_web_pages(req: axum::extract::Request, next: middleware::Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return next.run(req).await;
    };
    let msg = format!("requests from web pages ({}) are refused", String::from_utf8_lossy(origin.as_bytes()));
    if req.uri().path().starts_with("/api/") {
        api::api_error(StatusCode::FORBIDDEN, msg)
    } else {
        error(StatusCode::FORBIDDEN, msg)
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg.into() + "\n").into_response()
}

/// Runs blocking store work off the async runtime; a panic in it is a 500.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

const CHUNK: usize = 256 * 1024;

/// A `Write` that forwards 256 KiB pieces to an async channel (blocking when it is full).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn new(tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Self { tx, buf: Vec::with_capacity(CHUNK) }
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
            self.tx.blocking_send(Ok(piece)).map_err(|_| std::io::Error::other("client went away"))?;
        }
        Ok(())
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_buf()
    }
}

/// A streamed response body filled by `produce` on a blocking thread through a small bounded
/// channel; an error mid-stream ends the body with that error (the client sees a cut).
fn stream_body<E: std::fmt::Display>(
    what: String,
    produce: impl FnOnce(&mut ChannelWriter) -> Result<(), E> + Send + 'static,
) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter::new(tx.clone());
        let res = produce(&mut w).map_err(|e| std::io::Error::other(e.to_string())).and_then(|()| w.flush_buf());
        if let Err(e) = res {
            tracing::warn!(%what, error = %e, "gateway read failed mid-stream");
            let _ = tx.blocking_send(Err(e));
        }
    });
    axum::body::Body::from_stream(receiver_stream(rx))
}

/// What arrives on `rx`, as a stream (ends when every sender is gone).
fn receiver_stream<T>(rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

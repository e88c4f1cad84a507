//! The HTTP gateway, as Kubo's on 127.0.0.1:8080:
//!
//! - `GET|HEAD /ipfs/<cid>`: the file's bytes, with `Range` (single range: 206, or 416 when
//!   unsatisfiable), `ETag` (the CID), `Accept-Ranges`, `X-Ipfs-Path`. Streams; memory does not
//!   grow with the file.
//! - `?format=raw` or `Accept: application/vnd.ipld.raw`: the block itself (trustless gateway).
//! - `POST /ipfs`: the body is imported as a UnixFS file while it streams in (constant memory,
//!   size limit), answered with `201` and `{"Hash": cid, "Size": n}`. With `?encrypt=true`
//!   (key and nonce prefix in `x-lightstreams-key` / `x-lightstreams-nonce-prefix`, chosen and
//!   kept by the client) the stream is encrypted on the way in: only ciphertext and a manifest
//!   are stored, and `Hash` is the manifest's CID.
//!
//! Bad CIDs are 400, missing content 404, oversized uploads 413, each with a plain message.

use std::{io::Read, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use ls_content::{Blockstore, ExportError, ImportOptions, file_size, import, read_range};

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest upload accepted, in bytes.
    pub max_upload: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self { max_upload: 4 * 1024 * 1024 * 1024 }
    }
}

struct AppState {
    store: Arc<dyn Blockstore>,
    cfg: GatewayConfig,
}

/// The gateway's routes over `store`.
pub fn router(store: Arc<dyn Blockstore>, cfg: GatewayConfig) -> Router {
    let state = Arc::new(AppState { store, cfg });
    Router::new()
        .route("/ipfs/{cid}", get(get_content).head(get_content))
        .route("/ipfs", post(upload))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg.into() + "\n").into_response()
}

fn export_error(e: ExportError) -> Response {
    match e {
        ExportError::Missing(cid) => error(StatusCode::NOT_FOUND, format!("{cid} is not in this node's store")),
        ExportError::Range { .. } => error(StatusCode::RANGE_NOT_SATISFIABLE, e.to_string()),
        ExportError::Codec { .. } | ExportError::Hash { .. } | ExportError::Decode { .. } => {
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`.
fn parse_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: serve the whole file, as many servers do
    }
    let (a, b) = spec.split_once('-')?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => n.parse::<u64>().ok().filter(|n| *n > 0).map(|n| (size.saturating_sub(n), size)),
        (a, "") => a.parse::<u64>().ok().map(|a| (a, size)),
        (a, b) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b => Some((a, (b + 1).min(size))),
            _ => None,
        },
    };
    Some(match range {
        Some((s, e)) if s < e && s < size => Ok((s, e)),
        _ => Err(()),
    })
}

async fn get_content(
    State(st): State<Arc<AppState>>,
    Path(cid): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    let cid = match Cid::try_from(cid.as_str()) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid CID {cid:?}: {e}")),
    };
    let etag = format!("\"{cid}\"");
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let wants_raw = q.get("format").is_some_and(|f| f == "raw")
        || headers.get(header::ACCEPT).is_some_and(|a| a.to_str().unwrap_or("").contains("application/vnd.ipld.raw"));
    let store = st.store.clone();
    if wants_raw {
        let block = tokio::task::spawn_blocking(move || store.get(&cid)).await;
        return match block {
            Ok(Ok(Some(b))) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.ipld.raw")), (header::ETAG, HeaderValue::from_str(&format!("\"{cid}.raw\"")).expect("CID strings are valid header values"))],
                if method == axum::http::Method::HEAD { Body::empty() } else { Body::from(b) },
            )
                .into_response(),
            Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("{cid} is not in this node's store")),
            Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
    let s2 = store.clone();
    let size = match tokio::task::spawn_blocking(move || file_size(s2.as_ref(), &cid)).await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return export_error(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let (status, start, end) = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| parse_range(v, size)) {
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(())) => {
            let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, format!("range outside the file of {size} bytes"));
            r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            return r;
        }
        None => (StatusCode::OK, 0, size),
    };
    let mut h = HeaderMap::new();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert("x-ipfs-path", HeaderValue::from_str(&format!("/ipfs/{cid}")).expect("ascii"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)).expect("ascii"));
    }
    if method == axum::http::Method::HEAD {
        return (status, h, Body::empty()).into_response();
    }
    // Stream: a blocking reader fills a small bounded channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let res = read_range(store.as_ref(), &cid, start, end, &mut w).map_err(|e| std::io::Error::other(e.to_string()));
        let res = res.and_then(|()| w.flush_buf());
        if let Err(e) = res {
            tracing::warn!(%cid, error = %e, "gateway read failed mid-stream");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (status, h, Body::from_stream(stream)).into_response()
}

const CHUNK: usize = 256 * 1024;

/// A `Write` that forwards 256 KiB pieces to an async channel (blocking when it is full).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
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

/// A `Read` over body pieces arriving on a bounded channel.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.cur = b,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// The key material a client sends for an encrypted upload (it keeps the key; the node only
/// uses it while the upload streams through).
fn upload_key(headers: &HeaderMap) -> Result<(ls_content::FileKey, [u8; 7]), String> {
    let field = |name: &str, len: usize| -> Result<Vec<u8>, String> {
        let v = headers.get(name).and_then(|v| v.to_str().ok()).ok_or(format!("encrypted uploads need the {name} header"))?;
        let b = hex::decode(v).map_err(|_| format!("{name} is not hex"))?;
        if b.len() != len {
            return Err(format!("{name} must be {len} bytes"));
        }
        Ok(b)
    };
    let key: [u8; 32] = field("x-lightstreams-key", 32)?.try_into().expect("length checked");
    let prefix: [u8; 7] = field("x-lightstreams-nonce-prefix", 7)?.try_into().expect("length checked");
    Ok((ls_content::FileKey(key), prefix))
}

async fn upload(
    State(st): State<Arc<AppState>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cid_version = match q.get("cid-version").map(String::as_str) {
        None | Some("0") => ls_content::CidVersion::V0,
        Some("1") => ls_content::CidVersion::V1,
        Some(other) => return error(StatusCode::BAD_REQUEST, format!("cid-version must be 0 or 1, not {other}")),
    };
    let encrypt = match q.get("encrypt").map(String::as_str) {
        None | Some("false") => None,
        Some("true") => match upload_key(&headers) {
            Ok(k) => Some(k),
            Err(m) => return error(StatusCode::BAD_REQUEST, m),
        },
        Some(other) => return error(StatusCode::BAD_REQUEST, format!("encrypt must be true or false, not {other}")),
    };
    let media_type = q.get("media-type").cloned().unwrap_or_else(|| "application/octet-stream".into());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Bytes, std::io::Error>>(16);
    let store = st.store.clone();
    let importing = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, String> {
        let reader = ChannelReader { rx, cur: Bytes::new() };
        match encrypt {
            None => {
                let done = import(reader, store.as_ref(), ImportOptions { cid_version, ..Default::default() })
                    .map_err(|e| e.to_string())?;
                Ok(serde_json::json!({"Hash": done.root.to_string(), "Size": done.size}))
            }
            Some((key, prefix)) => {
                let f = ls_content::encrypt_import(reader, store.as_ref(), &key, prefix).map_err(|e| e.to_string())?;
                let manifest = ls_content::Manifest {
                    plaintext_len: f.plaintext_len,
                    media_type,
                    ciphertext: f.ciphertext.root,
                    nonce_prefix: prefix,
                    key_shares: vec![],
                };
                let id = manifest.store(store.as_ref()).map_err(|e| e.to_string())?;
                Ok(serde_json::json!({
                    "Hash": id.to_string(),
                    "Ciphertext": f.ciphertext.root.to_string(),
                    "Size": f.plaintext_len,
                    "Encrypted": true,
                }))
            }
        }
    });
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let mut too_large = false;
    while let Some(piece) = stream.next().await {
        let item = match piece {
            Ok(b) => {
                received += b.len() as u64;
                if received > st.cfg.max_upload {
                    too_large = true;
                    Err(std::io::Error::other("upload too large"))
                } else {
                    Ok(b)
                }
            }
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let stop = item.is_err();
        let tx2 = tx.clone();
        // The import thread drains the channel; waiting for room is blocking, so do it off the runtime.
        if tokio::task::spawn_blocking(move || tx2.send(item)).await.map_or(true, |r| r.is_err()) || stop {
            break;
        }
    }
    drop(tx);
    match importing.await {
        _ if too_large => error(StatusCode::PAYLOAD_TOO_LARGE, format!("uploads are limited to {} bytes", st.cfg.max_upload)),
        Ok(Ok(done)) => (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/ipfs/{}", done["Hash"].as_str().unwrap_or_default()))],
            axum::Json(done),
        )
            .into_response(),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("upload failed: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

//! `POST /ipfs`: streaming uploads, plain or encrypted, pinned unless asked not to.

use std::{collections::HashMap, io::Read, sync::Arc};

use axum::{
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use ls_content::{CidVersion, FileKey, ImportOptions, Manifest, RepoError, encrypt_import, import};

use crate::{AppState, error, receiver_stream};

/// A `Read` over body pieces arriving on a bounded channel (read on a blocking thread). An
/// empty piece marks the end of the body; a channel closed without it (the request was
/// dropped) is an error, so a cut upload is never taken for a whole one.
pub(crate) struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    cur: Bytes,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(b)) if b.is_empty() => self.ended = true,
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Err(std::io::Error::other("the upload was abandoned before its end")),
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
fn upload_key(headers: &HeaderMap) -> Result<(FileKey, [u8; 7]), String> {
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
    Ok((FileKey(key), prefix))
}

fn flag(q: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, Response> {
    match q.get(name).map(String::as_str) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(error(StatusCode::BAD_REQUEST, format!("{name} must be true or false, not {other}"))),
    }
}

/// What an upload asked for, checked before any byte is read.
struct Request {
    cid_version: CidVersion,
    encrypt: Option<(FileKey, [u8; 7])>,
    media_type: String,
    pin: bool,
}

fn parse(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<(Request, bool), Response> {
    let cid_version = match q.get("cid-version").map(String::as_str) {
        None | Some("0") => CidVersion::V0,
        Some("1") => CidVersion::V1,
        Some(other) => return Err(error(StatusCode::BAD_REQUEST, format!("cid-version must be 0 or 1, not {other}"))),
    };
    let encrypt = if flag(q, "encrypt", false)? {
        Some(upload_key(headers).map_err(|m| error(StatusCode::BAD_REQUEST, m))?)
    } else {
        None
    };
    let media_type = q.get("media-type").cloned().unwrap_or_else(|| "application/octet-stream".into());
    if media_type.len() > 255 || media_type.chars().any(char::is_control) {
        return Err(error(StatusCode::BAD_REQUEST, "media-type must be at most 255 printable characters"));
    }
    let req = Request { cid_version, encrypt, media_type, pin: flag(q, "pin", true)? };
    Ok((req, flag(q, "progress", false)?))
}

/// Bytes handed to the import thread at once.
const BATCH: usize = 256 * 1024;

/// Failures, as (status, message).
type Failure = (StatusCode, String);

#[derive(Debug, thiserror::Error)]
enum AddError {
    #[error("{0}")]
    Content(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Imports what `reader` yields under the repo's add lock; returns the answer's JSON.
fn import_blocking(st: &AppState, req: Request, reader: ChannelReader) -> Result<serde_json::Value, String> {
    let mut answer = serde_json::Value::Null;
    let Request { cid_version, encrypt, media_type, pin } = req;
    st.repo
        .add(pin, |store| -> Result<Cid, AddError> {
            let content = |e: &dyn std::fmt::Display| AddError::Content(e.to_string());
            match encrypt {
                None => {
                    let done = import(reader, store, ImportOptions { cid_version, ..Default::default() }).map_err(|e| content(&e))?;
                    answer = serde_json::json!({"Hash": done.root.to_string(), "Size": done.size});
                    Ok(done.root)
                }
                Some((key, prefix)) => {
                    let f = encrypt_import(reader, store, &key, prefix).map_err(|e| content(&e))?;
                    let manifest = Manifest {
                        plaintext_len: f.plaintext_len,
                        media_type,
                        ciphertext: f.ciphertext.root,
                        nonce_prefix: prefix,
                        key_release: None,
                    };
                    let id = manifest.store(store).map_err(|e| content(&e))?;
                    answer = serde_json::json!({
                        "Hash": id.to_string(),
                        "Ciphertext": f.ciphertext.root.to_string(),
                        "Size": f.plaintext_len,
                        "Encrypted": true,
                    });
                    Ok(id)
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

/// A place among the uploads running at once, or the 503 that says there is none.
fn upload_slot(st: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    st.uploads.clone().try_acquire_owned().map_err(|_| {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("this node is already running {} uploads, its limit; try again shortly", st.cfg.max_uploads),
        );
        r.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        r
    })
}

/// Feeds `body` to `work` on a blocking thread, enforcing the size limit and the idle timeout;
/// `progress` is set to the running byte count about every MiB (a watch: the latest count
/// replaces one not yet seen, so nobody waits for a reader).
pub(crate) async fn run(
    st: Arc<AppState>,
    body: Body,
    progress: Option<tokio::sync::watch::Sender<u64>>,
    work: impl FnOnce(&AppState, ChannelReader) -> Result<serde_json::Value, String> + Send + 'static,
) -> Result<serde_json::Value, Failure> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let st2 = st.clone();
    let importing = tokio::task::spawn_blocking(move || work(&st2, ChannelReader { rx, cur: Bytes::new(), ended: false }));
    let mut stream = body.into_data_stream();
    let (mut received, mut reported) = (0u64, 0u64);
    let (mut too_large, mut stalled) = (false, false);
    let idle = st.cfg.upload_idle_timeout;
    // Hand the import thread 256 KiB at a time, not each small body frame: far fewer wakeups.
    let mut batch = bytes::BytesMut::new();
    loop {
        // The import thread holds GC's shared lock while it waits for this body: a client that
        // stops sending must not hold it for longer than the idle timeout.
        let piece = match tokio::time::timeout(idle, stream.next()).await {
            Ok(piece) => piece,
            Err(_) => {
                stalled = true;
                Some(Err(axum::Error::new(format!("no data for {idle:?}"))))
            }
        };
        let item = match piece {
            Some(Ok(b)) => {
                received += b.len() as u64;
                if received > st.cfg.max_upload {
                    too_large = true;
                    Err(std::io::Error::other("upload too large"))
                } else {
                    batch.extend_from_slice(&b);
                    if batch.len() < BATCH {
                        continue;
                    }
                    Ok(batch.split().freeze())
                }
            }
            Some(Err(e)) => Err(std::io::Error::other(format!("the upload was cut: {e}"))),
            None => {
                // The rest, then the end marker: only that tells the reader the body is whole.
                if batch.is_empty() || tx.send(Ok(batch.split().freeze())).await.is_ok() {
                    let _ = tx.send(Ok(Bytes::new())).await;
                }
                break;
            }
        };
        let stop = item.is_err();
        if tx.send(item).await.is_err() || stop {
            break;
        }
        if let Some(p) = &progress
            && received - reported >= 1 << 20
        {
            reported = received;
            p.send_replace(received);
        }
    }
    drop(tx);
    let done = importing.await;
    if too_large {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("uploads are limited to {} bytes", st.cfg.max_upload)));
    }
    if stalled {
        return Err((StatusCode::REQUEST_TIMEOUT, format!("the upload sent nothing for {idle:?} and was ended")));
    }
    match done {
        Ok(Ok(answer)) => {
            if let Some(p) = &progress {
                p.send_replace(received);
            }
            Ok(answer)
        }
        Ok(Err(e)) => Err((StatusCode::BAD_REQUEST, format!("upload failed: {e}"))),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

pub(crate) async fn upload(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (req, progress) = match parse(&q, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let slot = match upload_slot(&st) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !progress {
        let result = run(st, body, None, move |st, r| import_blocking(st, req, r)).await;
        drop(slot);
        return match result {
            Ok(done) => (
                StatusCode::CREATED,
                [(header::LOCATION, format!("/ipfs/{}", done["Hash"].as_str().unwrap_or_default()))],
                axum::Json(done),
            )
                .into_response(),
            Err((status, msg)) => error(status, msg),
        };
    }
    // Answer at once and stream NDJSON: {"Bytes": n} lines, then the result or the error.
    // Count lines are dropped while the caller is not reading (the import never waits for
    // it); the last line waits for the caller at most the idle timeout.
    let idle = st.cfg.upload_idle_timeout;
    let (ptx, mut prx) = tokio::sync::watch::channel(0u64);
    let (ltx, lrx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let work = run(st, body, Some(ptx), move |st, r| import_blocking(st, req, r));
        tokio::pin!(work);
        let line = |v: serde_json::Value| Ok(Bytes::from(v.to_string() + "\n"));
        let mut sent = 0u64;
        let result = loop {
            tokio::select! {
                biased;
                r = &mut work => break r,
                Ok(()) = prx.changed() => {
                    let n = *prx.borrow_and_update();
                    if ltx.try_send(line(serde_json::json!({"Bytes": n}))).is_ok() {
                        sent = n;
                    }
                }
            }
        };
        drop(slot);
        let n = *prx.borrow();
        if n > sent {
            let _ = tokio::time::timeout(idle, ltx.send(line(serde_json::json!({"Bytes": n})))).await;
        }
        let last = match result {
            Ok(done) => done,
            Err((status, msg)) => serde_json::json!({"Message": msg, "Code": status.as_u16(), "Type": "error"}),
        };
        let _ = tokio::time::timeout(idle, ltx.send(line(last))).await;
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(receiver_stream(lrx))).into_response()
}

/// `POST /api/v0/dag/import`: a CARv1 body (from Kubo, Helia, or `?format=car`) is verified
/// block by block as it streams in and its roots pinned (`?pin-roots=false` to not), each only
/// if its whole DAG is present. A bad CAR pins nothing; blocks it stored before the error are
/// verified and unpinned, and go at the next GC.
pub(crate) async fn dag_import(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    let pin = match flag(&q, "pin-roots", true) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let slot = match upload_slot(&st) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let work = move |st: &AppState, reader: ChannelReader| -> Result<serde_json::Value, String> {
        let roots = st
            .repo
            .add_roots(pin, |store| -> Result<Vec<Cid>, AddError> {
                let roots = ls_content::import_car(store, reader).map_err(|e| AddError::Content(e.to_string()))?;
                if pin {
                    // As Kubo: a root is pinned only if its whole DAG arrived.
                    ls_content::reachable(store, roots.iter().copied())?;
                }
                Ok(roots)
            })
            .map_err(|e| e.to_string())?;
        let roots: Vec<_> = roots.iter().map(|c| serde_json::json!({"Cid": {"/": c.to_string()}})).collect();
        Ok(serde_json::json!({"Roots": roots, "Pinned": pin}))
    };
    let result = run(st, body, None, work).await;
    drop(slot);
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err((status, msg)) => error(status, msg),
    }
}

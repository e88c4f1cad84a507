//! `GET|HEAD /ipfs/<cid>[/path]`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use cid::Cid;
use ls_content::{Blockstore, DAG_JSON, ExportError, PathError, export_car, file_size, list_directory, read_range, resolve_path};

use crate::{AppState, blocking, error, stream_body};

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The file (deserialized response).
    File,
    /// The block itself.
    Raw,
    /// The DAG as a CARv1.
    Car,
}

const RAW_TYPE: &str = "application/vnd.ipld.raw";
const CAR_TYPE: &str = "application/vnd.ipld.car";

fn format(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<Format, Response> {
    match q.get("format").map(String::as_str) {
        Some("raw") => return Ok(Format::Raw),
        Some("car") => return Ok(Format::Car),
        Some(other) => {
            return Err(error(StatusCode::BAD_REQUEST, format!("format={other} is not supported (raw or car)")));
        }
        None => {}
    }
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).unwrap_or("");
    Ok(if accept.contains(RAW_TYPE) {
        Format::Raw
    } else if accept.contains(CAR_TYPE) {
        Format::Car
    } else {
        Format::File
    })
}

/// A block the store went to peers for and did not get in time (ls-network's fetching store
/// reports it as a timed-out I/O error naming the CID): a gateway timeout, as Kubo answers.
fn fetch_timed_out(e: &ls_content::BlockstoreError) -> bool {
    matches!(e, ls_content::BlockstoreError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

fn path_error(e: PathError) -> Response {
    let status = match &e {
        PathError::Store(s) if fetch_timed_out(s) => StatusCode::GATEWAY_TIMEOUT,
        PathError::Missing(_) | PathError::NoSuchEntry { .. } | PathError::NotADirectory(_) => StatusCode::NOT_FOUND,
        PathError::Sharded(_) => StatusCode::NOT_IMPLEMENTED,
        PathError::Corrupt(_) | PathError::Decode { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

fn export_error(e: ExportError) -> Response {
    match e {
        ExportError::Store(s) if fetch_timed_out(&s) => error(StatusCode::GATEWAY_TIMEOUT, s.to_string()),
        ExportError::Missing(cid) => error(StatusCode::NOT_FOUND, format!("{cid} is not in this node's store")),
        ExportError::Range { .. } => error(StatusCode::RANGE_NOT_SATISFIABLE, e.to_string()),
        ExportError::Codec { .. }
        | ExportError::Hash { .. }
        | ExportError::Decode { .. }
        | ExportError::SizeOverflow(_)
        | ExportError::Inconsistent(_) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

pub(crate) fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`.
pub(crate) fn parse_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: serve the whole file, as many servers do
    }
    let (a, b) = spec.split_once('-')?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => n.parse::<u64>().ok().filter(|n| *n > 0).map(|n| (size.saturating_sub(n), size)),
        (a, "") => a.parse::<u64>().ok().map(|a| (a, size)),
        (a, b) => match (a.parse::<u64>(), b.parse::<u64>()) {
            // A last byte past the end means "to the end" (RFC 9110), even at u64::MAX.
            (Ok(a), Ok(b)) if a <= b => Some((a, b.saturating_add(1).min(size))),
            _ => None,
        },
    };
    Some(match range {
        Some((s, e)) if s < e && s < size => Ok((s, e)),
        _ => Err(()),
    })
}

/// The media type of a file: from its name's extension when it has a known one, else sniffed
/// from its first bytes (magic numbers, then UTF-8 text), else `application/octet-stream`.
pub(crate) fn content_type(name: Option<&str>, head: &[u8]) -> String {
    if let Some(m) = name.and_then(|n| mime_guess::from_path(n).first()) {
        return if m.type_() == mime_guess::mime::TEXT { format!("{m}; charset=utf-8") } else { m.to_string() };
    }
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_string();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut by the sniff window is still text.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if !head.is_empty() && text && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// How many leading bytes are sniffed, as browsers and Go's DetectContentType do.
const SNIFF: u64 = 512;

pub(crate) async fn get_content(
    State(st): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let root_str = params.get("cid").cloned().unwrap_or_default();
    let path = params.get("path").cloned().unwrap_or_default();
    let root = match Cid::try_from(root_str.as_str()) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid CID {root_str:?}: {e}")),
    };
    let fmt = match format(&q, &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let store = st.repo.blocks().clone();
    let cid = if path.is_empty() {
        root
    } else {
        let (s, p) = (store.clone(), path.clone());
        match blocking(move || resolve_path(s.as_ref(), &root, &p)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return path_error(e),
            Err(r) => return r,
        }
    };
    let ipfs_path = if path.is_empty() { format!("/ipfs/{root}") } else { format!("/ipfs/{root}/{path}") };
    let etag = match fmt {
        Format::File => format!("\"{cid}\""),
        Format::Raw => format!("\"{cid}.raw\""),
        Format::Car => format!("\"{cid}.car\""),
    };
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut h = HeaderMap::new();
    h.insert(header::ETAG, header_value(&etag));
    h.insert("x-ipfs-path", header_value(&ipfs_path));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=29030400, immutable"));
    let head = method == Method::HEAD;
    match fmt {
        Format::Raw => raw_block(store, cid, h, head).await,
        Format::Car => car(store, cid, h, head).await,
        Format::File => {
            let name = q.get("filename").cloned().or_else(|| path.rsplit('/').find(|s| !s.is_empty()).map(str::to_string));
            if let Some(f) = q.get("filename") {
                let disposition = if q.get("download").is_some_and(|d| d == "true") { "attachment" } else { "inline" };
                let safe: String = f.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
                h.insert(header::CONTENT_DISPOSITION, header_value(&format!("{disposition}; filename=\"{safe}\"")));
            }
            file(store, cid, name, h, head, &headers).await
        }
    }
}

async fn raw_block(store: Arc<dyn Blockstore>, cid: Cid, mut h: HeaderMap, head: bool) -> Response {
    match blocking(move || store.get(&cid)).await {
        Ok(Ok(Some(b))) => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_TYPE));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            (h, if head { Body::empty() } else { Body::from(b) }).into_response()
        }
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("{cid} is not in this node's store")),
        Ok(Err(e)) if fetch_timed_out(&e) => error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => r,
    }
}

async fn car(store: Arc<dyn Blockstore>, cid: Cid, mut h: HeaderMap, head: bool) -> Response {
    let s = store.clone();
    // The root is read, not only looked for: a store that fetches from peers gets it (and
    // the export below the rest) instead of answering 404 for what is not local yet.
    match blocking(move || s.get(&cid)).await {
        Ok(Ok(Some(_))) => {}
        Ok(Ok(None)) => return error(StatusCode::NOT_FOUND, format!("{cid} is not in this node's store")),
        Ok(Err(e)) if fetch_timed_out(&e) => return error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => return r,
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.ipld.car; version=1"));
    h.insert(header::CONTENT_DISPOSITION, header_value(&format!("attachment; filename=\"{cid}.car\"")));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if head {
        return (h, Body::empty()).into_response();
    }
    (h, stream_body(cid.to_string(), move |w| export_car(store.as_ref(), &cid, w).map(|_| ()))).into_response()
}

async fn file(
    store: Arc<dyn Blockstore>,
    cid: Cid,
    name: Option<String>,
    mut h: HeaderMap,
    head: bool,
    req: &HeaderMap,
) -> Response {
    if cid.codec() == DAG_JSON {
        // A manifest (or other dag-json): its bytes, as JSON.
        let mut r = raw_block(store, cid, h, head).await;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return r;
    }
    let s = store.clone();
    match blocking(move || list_directory(s.as_ref(), &cid)).await {
        Ok(Ok(Some(entries))) => {
            if let Some(index) = entries.iter().find(|e| e.name == "index.html") {
                return Box::pin(file(store, index.cid, Some("index.html".into()), h, head, req)).await;
            }
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            return (h, if head { String::new() } else { listing(&cid, &entries) }).into_response();
        }
        Ok(Ok(None)) => {}
        Ok(Err(e)) => return path_error(e),
        Err(r) => return r,
    }
    let s = store.clone();
    let sniff = name.as_deref().and_then(|n| mime_guess::from_path(n).first()).is_none();
    let probe = blocking(move || -> Result<(u64, Vec<u8>), ExportError> {
        let size = file_size(s.as_ref(), &cid)?;
        let mut head = Vec::new();
        if sniff {
            read_range(s.as_ref(), &cid, 0, size.min(SNIFF), &mut head)?;
        }
        Ok((size, head))
    });
    let (size, first) = match probe.await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return export_error(e),
        Err(r) => return r,
    };
    let (status, start, end) = match req.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| parse_range(v, size)) {
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(())) => {
            let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, format!("range outside the file of {size} bytes"));
            r.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{size}")));
            return r;
        }
        None => (StatusCode::OK, 0, size),
    };
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, header_value(&content_type(name.as_deref(), &first)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, header_value(&format!("bytes {start}-{}/{size}", end - 1)));
    }
    if head {
        return (status, h, Body::empty()).into_response();
    }
    (status, h, stream_body(cid.to_string(), move |w| read_range(store.as_ref(), &cid, start, end, w))).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A plain HTML index of a directory.
fn listing(cid: &Cid, entries: &[ls_content::DirEntry]) -> String {
    let mut html = format!("<!doctype html><meta charset=utf-8><title>/ipfs/{cid}</title><h1>/ipfs/{cid}</h1><ul>\n");
    for e in entries {
        let name = escape(&e.name);
        html += &format!("<li><a href=\"/ipfs/{}?filename={name}\">{name}</a> {} bytes</li>\n", e.cid, e.tsize);
    }
    html + "</ul>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type(Some("clip.mp4"), b""), "video/mp4");
        assert_eq!(content_type(Some("notes.txt"), b""), "text/plain; charset=utf-8");
        assert_eq!(content_type(None, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(content_type(None, b"hello \xc3"), "text/plain; charset=utf-8", "a cut character is still text");
        assert_eq!(content_type(None, b"\0\x01\x02"), "application/octet-stream");
        assert_eq!(content_type(None, b""), "application/octet-stream");
        assert_eq!(content_type(Some("noext"), b"plain words"), "text/plain; charset=utf-8");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=50-1000", 100), Some(Ok((50, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=5-4", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        // No overflow at the edge of u64: the whole file, or 416.
        assert_eq!(parse_range("bytes=0-18446744073709551615", 100), Some(Ok((0, 100))));
        assert_eq!(parse_range("bytes=18446744073709551615-18446744073709551615", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-18446744073709551615", 100), Some(Ok((0, 100))));
        assert_eq!(parse_range("bytes=0-18446744073709551616", 100), Some(Err(())), "not a u64: unsatisfiable");
    }
}

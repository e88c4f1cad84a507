//! `/files/<file-id>`: a paid file, decrypted by this node for a reader who proves access.
//!
//! 1. `GET /files/<id>/challenge?account=0x…` answers `{"typedData": …, "nonce": "…",
//!    "expires": …}`: EIP-712 typed data, as `eth_signTypedData_v4` takes it, of a key-release
//!    request for the file's current version by `account`, whose ephemeral key is one this node
//!    just made (the challenge). Only this node can open what the committee seals to it.
//! 2. `POST /files/<id>/session` with `{"account", "nonce", "signature"}`: the node sends the
//!    signed request to the committee like any reader (each member checks the reader's access
//!    at its finalized state), recovers the file key, and answers `201 {"session", "expires"}`.
//! 3. `GET|HEAD /files/<id>` with `Authorization: Bearer <session>` (or `?session=<session>`,
//!    for `<audio src>`): the plaintext, streamed and decrypted segment by segment, with
//!    `Range`. Every read asks the chain again whether the account may still read, so a revoked
//!    or expired pass ends the session.
//!
//! The key lives only in memory, in at most `max_sessions` sessions (oldest dropped first),
//! each for `session_ttl`, and is zeroed when dropped; plaintext is never written anywhere.
//! Any web page may call these routes (the reader's signature, not the page's origin, is the
//! authority), so they answer CORS requests from any origin, without credentials.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, Signature};
use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use ls_content::{FileKey, Manifest};
use ls_primitives::expiring::Expiring;
use serde_json::{Value, json};

use crate::{AppState, blocking, error, read::parse_range, stream_body};

/// Largest `POST /files/<id>/session` body read (413 beyond).
pub const MAX_SESSION_BODY: usize = 4096;

/// Why a paid-file request cannot be served; each maps to one HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PaidError {
    /// 400: the request is malformed (bad signature encoding, unknown challenge, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 403: the account may not read the file (no purchase, revoked, expired).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such file, or it is not an encrypted registered file.
    #[error("{0}")]
    NotFound(String),
    /// 503: the committee did not release the key (members down or not answering).
    #[error("{0}")]
    Unavailable(String),
}

impl PaidError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// A file key obtained from the committee, with the manifest it decrypts.
pub struct Unlocked {
    pub manifest: Manifest,
    pub key: FileKey,
}

/// A challenge for a reader to sign.
pub struct Challenge {
    /// EIP-712 typed data (`types`, `primaryType`, `domain`, `message`).
    pub typed_data: Value,
    /// Names the challenge when the signature comes back.
    pub nonce: u64,
    /// Unix seconds after which the signature is worthless.
    pub expires: u64,
}

/// What the gateway needs from the chain and the key-release committee; the node implements
/// it, tests use an in-memory one. Methods block (the gateway calls them on blocking threads).
pub trait PaidFiles: Send + Sync + 'static {
    /// A key-release request for `account` to sign, for the current version of `file_id`.
    fn challenge(&self, file_id: B256, account: Address) -> Result<Challenge, PaidError>;
    /// The key of `file_id`, released by the committee for `account`'s signature on the
    /// challenge `nonce` (each challenge is good for one try).
    fn unlock(&self, file_id: B256, account: Address, nonce: u64, signature: Signature) -> Result<Unlocked, PaidError>;
    /// Whether `account` may read `file_id` now.
    fn may_read(&self, file_id: B256, account: Address) -> Result<bool, PaidError>;
}

struct Session {
    account: Address,
    file_id: B256,
    manifest: Manifest,
    key: FileKey,
}

/// The open sessions: bounded, oldest first out.
pub(crate) struct Sessions {
    paid: Arc<dyn PaidFiles>,
    ttl: Duration,
    open: Mutex<Expiring<String, Arc<Session>>>,
}

impl Sessions {
    pub(crate) fn new(paid: Arc<dyn PaidFiles>, ttl: Duration, max: usize) -> Self {
        Self { paid, ttl, open: Mutex::new(Expiring::new(max)) }
    }

    fn insert(&self, session: Session) -> String {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.insert(token.clone(), Arc::new(session), now + self.ttl, now);
        token
    }

    fn get(&self, token: &str) -> Option<Arc<Session>> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&token.to_string(), Instant::now()).cloned()
    }
}

fn paid_error(e: PaidError) -> Response {
    error(e.status(), e.to_string())
}

fn file_id(text: &str) -> Result<B256, Response> {
    text.parse().map_err(|_| error(StatusCode::BAD_REQUEST, format!("{text:?} is not a file id (0x and 64 hex digits)")))
}

fn sessions(st: &AppState) -> Result<Arc<Sessions>, Response> {
    st.sessions.clone().ok_or_else(|| error(StatusCode::NOT_FOUND, "this node does not serve paid files"))
}

/// `GET /files/{id}/challenge?account=0x…`
pub(crate) async fn challenge(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let sessions = sessions(&st)?;
        let file_id = file_id(&id)?;
        let account: Address = q
            .get("account")
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "name the reading account: ?account=0x…"))?
            .parse()
            .map_err(|_| error(StatusCode::BAD_REQUEST, "account is not an address"))?;
        let c = blocking(move || sessions.paid.challenge(file_id, account)).await?.map_err(paid_error)?;
        Ok::<_, Response>(
            Json(json!({"typedData": c.typed_data, "nonce": c.nonce.to_string(), "expires": c.expires})).into_response(),
        )
    };
    run.await.unwrap_or_else(|r| r)
}

/// `POST /files/{id}/session` with `{"account", "nonce", "signature"}`.
pub(crate) async fn open_session(State(st): State<Arc<AppState>>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let run = async {
        let sessions = sessions(&st)?;
        let file_id = file_id(&id)?;
        let bad = |what: &str| error(StatusCode::BAD_REQUEST, format!("the body must be JSON {{\"account\", \"nonce\", \"signature\"}}: {what}"));
        let v: Value = serde_json::from_slice(&body).map_err(|e| bad(&e.to_string()))?;
        let account: Address = v["account"].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| bad("no account"))?;
        let nonce: u64 = match &v["nonce"] {
            Value::String(s) => s.parse().ok(),
            n => n.as_u64(),
        }
        .ok_or_else(|| bad("no nonce"))?;
        let signature = v["signature"]
            .as_str()
            .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
            .and_then(|b| Signature::from_raw(&b).ok())
            .ok_or_else(|| bad("no 65-byte hex signature"))?;
        let s = sessions.clone();
        let unlocked = blocking(move || s.paid.unlock(file_id, account, nonce, signature)).await?.map_err(paid_error)?;
        let ttl = sessions.ttl;
        let token = sessions.insert(Session { account, file_id, manifest: unlocked.manifest, key: unlocked.key });
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_add(ttl.as_secs());
        Ok::<_, Response>((StatusCode::CREATED, Json(json!({"session": token, "expires": expires}))).into_response())
    };
    run.await.unwrap_or_else(|r| r)
}

/// `GET|HEAD /files/{id}` with a session.
pub(crate) async fn read(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let sessions = sessions(&st)?;
        let file_id = file_id(&id)?;
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .or_else(|| q.get("session").cloned());
        let unauthorized = |msg: &str| {
            let mut r = error(StatusCode::UNAUTHORIZED, msg);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        };
        let Some(token) = token else {
            return Err(unauthorized("a paid file needs a session: GET /files/<id>/challenge, sign it, POST /files/<id>/session"));
        };
        let session = sessions.get(&token).ok_or_else(|| unauthorized("unknown or expired session; open a new one"))?;
        if session.file_id != file_id {
            return Err(error(StatusCode::FORBIDDEN, "this session is for another file"));
        }
        let (s, account) = (sessions.clone(), session.account);
        if !blocking(move || s.paid.may_read(file_id, account)).await?.map_err(paid_error)? {
            return Err(error(StatusCode::FORBIDDEN, format!("{account} may no longer read file {file_id}")));
        }
        let size = session.manifest.plaintext_len;
        let (status, start, end) = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| parse_range(v, size)) {
            Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
            Some(Err(())) => {
                let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, format!("range outside the file of {size} bytes"));
                r.headers_mut().insert(header::CONTENT_RANGE, crate::read::header_value(&format!("bytes */{size}")));
                return Err(r);
            }
            None => (StatusCode::OK, 0, size),
        };
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(header::CONTENT_TYPE, crate::read::header_value(&session.manifest.media_type));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
        // Plaintext for one account: no shared cache may keep it.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        if status == StatusCode::PARTIAL_CONTENT {
            h.insert(header::CONTENT_RANGE, crate::read::header_value(&format!("bytes {start}-{}/{size}", end - 1)));
        }
        if method == Method::HEAD || start == end {
            return Ok((status, h, Body::empty()).into_response());
        }
        let store = st.repo.blocks().clone();
        let body = stream_body(format!("file {file_id}"), move |w| {
            let m = &session.manifest;
            ls_content::decrypt_range(store.as_ref(), &m.ciphertext, m.plaintext_len, &session.key, m.nonce_prefix, start, end, w)
        });
        Ok((status, h, body).into_response())
    };
    run.await.unwrap_or_else(|r| r)
}

/// Any origin may call `/files` (see the module docs); nothing rides on cookies.
pub(crate) fn cors() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::RANGE])
        .expose_headers([header::CONTENT_RANGE, header::CONTENT_LENGTH, header::ACCEPT_RANGES])
        .max_age(Duration::from_secs(600))
}

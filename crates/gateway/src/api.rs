//! The Kubo RPC calls for pins, garbage collection and repository figures, answered as Kubo
//! answers them (`{"Pins": [...]}`, `{"Keys": {cid: {"Type": "recursive"}}}`, NDJSON
//! `{"Key": {"/": cid}}`, `{"RepoSize", "NumObjects"}`);
//! errors are `{"Message", "Code": 0, "Type": "error"}` with a fitting HTTP status.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use cid::Cid;
use ls_content::{Repo, RepoError};
use serde_json::json;

use crate::{AppState, blocking};

pub(crate) fn api_error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({"Message": msg.to_string(), "Code": 0, "Type": "error"}))).into_response()
}

fn repo_error(e: RepoError) -> Response {
    let status = match e {
        RepoError::Missing(_) | RepoError::NotPinned(_) => StatusCode::NOT_FOUND,
        RepoError::Links { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    api_error(status, e)
}

fn arg(q: &HashMap<String, String>) -> Result<Cid, Response> {
    let a = q.get("arg").ok_or_else(|| api_error(StatusCode::BAD_REQUEST, "argument \"arg\" is required"))?;
    let a = a.strip_prefix("/ipfs/").unwrap_or(a);
    Cid::try_from(a).map_err(|e| api_error(StatusCode::BAD_REQUEST, format!("invalid CID {a:?}: {e}")))
}

/// `pin/add` and `pin/rm` (the router refuses web pages): parse `arg`, run `change`, answer `{"Pins": [cid]}`.
async fn change_pin(
    st: Arc<AppState>,
    q: &HashMap<String, String>,
    change: fn(&Repo, &Cid) -> Result<(), RepoError>,
) -> Response {
    let cid = match arg(q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match blocking(move || change(&st.repo, &cid)).await {
        Ok(Ok(())) => axum::Json(json!({"Pins": [cid.to_string()]})).into_response(),
        Ok(Err(e)) => repo_error(e),
        Err(r) => r,
    }
}

pub(crate) async fn pin_add(State(st): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    change_pin(st, &q, Repo::pin).await
}

pub(crate) async fn pin_rm(State(st): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    change_pin(st, &q, Repo::unpin).await
}

pub(crate) async fn pin_ls(State(st): State<Arc<AppState>>) -> Response {
    match blocking(move || st.repo.pins()).await {
        Ok(Ok(pins)) => {
            let keys: serde_json::Map<String, serde_json::Value> =
                pins.into_iter().map(|c| (c.to_string(), json!({"Type": "recursive"}))).collect();
            axum::Json(json!({"Keys": keys})).into_response()
        }
        Ok(Err(e)) => repo_error(e),
        Err(r) => r,
    }
}

/// `repo/stat`: the blocks held and their bytes (what Kubo's flatfs reports as `RepoSize`; the
/// pack files may hold up to about as much again in deleted blocks until they are compacted).
pub(crate) async fn repo_stat(State(st): State<Arc<AppState>>) -> Response {
    let count = move || -> Result<(u64, u64), RepoError> {
        let blocks = st.repo.blocks();
        let cids = blocks.cids()?;
        let mut bytes = 0;
        for cid in &cids {
            bytes += blocks.size(cid)?.unwrap_or(0);
        }
        Ok((cids.len() as u64, bytes))
    };
    match blocking(count).await {
        Ok(Ok((objects, bytes))) => axum::Json(json!({"RepoSize": bytes, "NumObjects": objects})).into_response(),
        Ok(Err(e)) => repo_error(e),
        Err(r) => r,
    }
}

pub(crate) async fn repo_gc(State(st): State<Arc<AppState>>) -> Response {
    match blocking(move || st.repo.gc()).await {
        Ok(Ok(report)) => {
            let mut body = String::new();
            for cid in &report.removed {
                body += &json!({"Key": {"/": cid.to_string()}}).to_string();
                body.push('\n');
            }
            tracing::info!(removed = report.removed.len(), freed_bytes = report.freed_bytes, kept = report.kept, "garbage collected");
            (
                [(header::CONTENT_TYPE, "application/x-ndjson"), (header::HeaderName::from_static("x-freed-bytes"), &report.freed_bytes.to_string())],
                body,
            )
                .into_response()
        }
        Ok(Err(e)) => repo_error(e),
        Err(r) => r,
    }
}

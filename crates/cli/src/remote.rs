//! Talking to a running node, as `ipfs` talks to its daemon: the `--node` flag, one HTTP
//! client, and errors that say in one line when nothing answers or what the node refused.

use std::{io::Read, path::PathBuf, time::Duration};

use clap::Args;

#[derive(Debug, Args)]
pub struct NodeArg {
    /// The node's gateway.
    #[arg(long, env = "LIGHTSTREAMS_NODE", default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Where file keys are kept [default: ~/.lightstreams/keys].
    #[arg(long, env = "LIGHTSTREAMS_KEYS")]
    pub keys: Option<PathBuf>,
}

pub fn client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(None).build()?)
}

pub fn unreachable(node: &str, e: &reqwest::Error) -> anyhow::Error {
    // A request that got no HTTP answer at all may fail in many ways (refused, reset, closed
    // while the upload streamed, a proxy in between); ask once more with a bare GET to tell
    // "nothing is there" from "the node failed this request".
    let answers = e.status().is_some()
        || client()
            .and_then(|c| Ok(c.get(format!("{node}/")).timeout(Duration::from_secs(5)).send()?))
            .is_ok();
    if answers {
        anyhow::anyhow!("request to {node} failed: {e}")
    } else {
        anyhow::anyhow!("no lightstreams node answers at {node}: start one with `lightstreams node --dev`")
    }
}

/// Largest API answer read into memory (pin lists, gc reports): ~1 M pins.
pub const MAX_ANSWER: u64 = 64 << 20;
/// Largest error message read from a refusal, or upload answer.
pub const MAX_MESSAGE: u64 = 64 << 10;

/// Reads at most `limit` bytes of `body`; a longer body is an error that says so, rather than
/// memory that grows with whatever a node (or something posing as one) sends.
pub fn read_capped(mut body: impl Read, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut body).take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        anyhow::bail!("the node's answer ({what}) is larger than {limit} bytes; not reading it");
    }
    Ok(buf)
}

/// A refusal's text, capped.
pub fn message(resp: reqwest::blocking::Response) -> String {
    match read_capped(resp, MAX_MESSAGE, "an error message") {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => e.to_string(),
    }
}

/// The JSON of an API answer, capped at [`MAX_ANSWER`].
pub fn read_json(resp: reqwest::blocking::Response, what: &str) -> anyhow::Result<serde_json::Value> {
    let body = read_capped(resp, MAX_ANSWER, what)?;
    Ok(serde_json::from_slice(&body)?)
}

/// `POST /api/v0/<call>`; a refusal becomes an error carrying the node's message.
pub fn api_post(
    http: &reqwest::blocking::Client,
    node: &str,
    call: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<reqwest::blocking::Response> {
    let resp = http.post(format!("{node}/api/v0/{call}")).query(query).send().map_err(|e| unreachable(node, &e))?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let text = message(resp);
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["Message"].as_str().map(str::to_string))
        .unwrap_or(text);
    anyhow::bail!("{} ({status})", msg.trim())
}

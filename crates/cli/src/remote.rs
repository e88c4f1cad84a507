//! Talking to a running node, as `ipfs` talks to its daemon: the `--node` flag, one HTTP
//! client, and errors that say in one line when nothing answers or what the node refused.

use std::{path::PathBuf, time::Duration};

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
    let text = resp.text().unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["Message"].as_str().map(str::to_string))
        .unwrap_or(text);
    anyhow::bail!("{} ({status})", msg.trim())
}

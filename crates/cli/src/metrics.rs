//! `/metrics` in Prometheus text format on `--metrics-addr`: the chain's own gauges, plus on a
//! validator everything the commonware runtime records (consensus views, latencies, p2p peers
//! and traffic, marshal and storage).

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use anyhow::Context;
use ls_chain::Chain;

/// Where a validator's consensus metrics come from, set once its runtime is up.
pub type Source = Arc<OnceLock<Box<dyn Fn() -> String + Send + Sync>>>;

/// How many peers commonware's p2p tracker lists as connected in `text` (Prometheus text
/// format): it keeps one `…_connected{peer="…"}` series per connected peer and removes it when
/// the peer goes.
pub fn connected_peers(text: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split_once('{').is_some_and(|(name, labels)| name.ends_with("_connected") && labels.contains("peer=")))
        .count() as u64
}

/// The chain's gauges.
fn chain_metrics(chain: &Chain) -> String {
    let head = chain.head().header.number;
    let (pending, queued) = chain.pool().len();
    let mut out = String::new();
    for (name, help, value) in [
        ("lightstreams_head_block", "Number of the newest block (final on this node).", head as usize),
        ("lightstreams_finalized_block", "Number of the last finalized block.", head as usize),
        ("lightstreams_pending_blocks", "Blocks executed but not final yet.", chain.pending_len()),
        ("lightstreams_txpool_pending", "Transactions ready for the next block.", pending),
        ("lightstreams_txpool_queued", "Transactions waiting behind a nonce gap.", queued),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    }
    out
}

/// Serves `/metrics` on `addr` until the process exits.
pub async fn serve(addr: SocketAddr, chain: Arc<Chain>, source: Source) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding metrics to {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let mut text = chain_metrics(&chain);
            if let Some(consensus) = source.get() {
                text.push_str(&consensus());
            }
            async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_the_connected_series_only() {
        let text = "# HELP p2p_tracker_connected Unix timestamp in milliseconds when each connected peer became active\n\
            # TYPE p2p_tracker_connected gauge\n\
            p2p_tracker_connected{peer=\"aa\"} 1764400000000\n\
            p2p_tracker_connected{peer=\"bb\"} 1764400000001\n\
            p2p_tracker_blocked{peer=\"cc\"} 1764400000002\n\
            p2p_tracker_tracked 3\n";
        assert_eq!(super::connected_peers(text), 2);
        assert_eq!(super::connected_peers(""), 0);
    }
}

//! `/metrics` in Prometheus text format on `--metrics-addr`: the chain's own gauges, the
//! JSON-RPC calls answered, block interval and finality latency histograms, plus on a validator
//! or full node everything the commonware runtime records (consensus views, latencies, p2p
//! peers and traffic, marshal and storage).

use std::{
    net::SocketAddr,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use ls_chain::Chain;
use prometheus_client::{metrics::histogram::Histogram, registry::Registry};

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

/// Milliseconds: from 25 ms to 10 s, dense around the 250 ms block time.
const BUCKETS_MS: [f64; 13] = [25.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 2500.0, 10000.0];

/// Block interval (between the millisecond times of consecutive blocks) and finality latency
/// (from a block's time to its commit on this node), observed as blocks are committed.
fn block_times(chain: &Chain) -> Registry {
    let mut registry = Registry::default();
    let interval = Histogram::new(BUCKETS_MS);
    let finality = Histogram::new(BUCKETS_MS);
    registry.register("lightstreams_block_interval_ms", "Time between consecutive blocks (their millisecond times)", interval.clone());
    registry.register("lightstreams_finality_latency_ms", "From a block's time to its commit on this node", finality.clone());
    let mut blocks = chain.subscribe();
    tokio::spawn(async move {
        let mut last: Option<(u64, u64)> = None;
        loop {
            let block = match blocks.recv().await {
                Ok(b) => b,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    last = None;
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let header = &block.block.header;
            let ms = ls_primitives::timestamp_ms(header);
            let now = ls_chain::Clock::now_millis(&ls_chain::SystemClock);
            finality.observe(now.saturating_sub(ms) as f64);
            if let Some((number, prev)) = last
                && number + 1 == header.number
            {
                interval.observe(ms.saturating_sub(prev) as f64);
            }
            last = Some((header.number, ms));
        }
    });
    registry
}

/// The histograms in Prometheus text (prometheus-client writes OpenMetrics, whose `# EOF` may
/// only end the whole page).
fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return String::new();
    }
    text.lines().filter(|l| *l != "# EOF").map(|l| format!("{l}\n")).collect()
}

/// Serves `/metrics` on `addr` until the process exits; `calls` counts the JSON-RPC calls the
/// node answered.
pub async fn serve(addr: SocketAddr, chain: Arc<Chain>, source: Source, calls: Arc<AtomicU64>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding metrics to {addr}"))?;
    let bound = listener.local_addr()?;
    let times = Arc::new(block_times(&chain));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let mut text = chain_metrics(&chain);
            let name = "lightstreams_rpc_calls_total";
            text.push_str(&format!(
                "# HELP {name} JSON-RPC calls answered (each call of a batch counts).\n# TYPE {name} counter\n{name} {}\n",
                calls.load(Ordering::Relaxed)
            ));
            text.push_str(&encode(&times));
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

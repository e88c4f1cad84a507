//! Poll-based filters (eth_newFilter and friends): bounded in number, dropped after five
//! minutes without a poll, as geth does.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, U128};
use alloy_rpc_types_eth::Filter;
use parking_lot::Mutex;
use tokio::sync::broadcast;

/// Most filters installed at once.
pub const MAX_FILTERS: usize = 10_000;
/// A filter nobody polled for this long is removed.
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub(crate) enum FilterKind {
    /// Next block number to report.
    Blocks { next: u64 },
    Logs { filter: Box<Filter>, next: u64 },
    PendingTransactions { rx: broadcast::Receiver<B256> },
}

#[derive(Debug, Default)]
pub(crate) struct FilterManager {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    filters: HashMap<u64, (FilterKind, Instant)>,
}

impl FilterManager {
    /// Installs a filter; `None` when the node already holds [`MAX_FILTERS`].
    pub(crate) fn install(&self, kind: FilterKind) -> Option<U128> {
        let mut s = self.inner.lock();
        let now = Instant::now();
        s.filters.retain(|_, (_, seen)| now.duration_since(*seen) < FILTER_TIMEOUT);
        if s.filters.len() >= MAX_FILTERS {
            return None;
        }
        s.next_id += 1;
        let id = s.next_id;
        s.filters.insert(id, (kind, now));
        Some(U128::from(id))
    }

    pub(crate) fn uninstall(&self, id: U128) -> bool {
        let Ok(id) = u64::try_from(id) else { return false };
        self.inner.lock().filters.remove(&id).is_some()
    }

    /// Runs `f` on the filter and marks it polled. `None` if there is no such filter.
    pub(crate) fn with<R>(&self, id: U128, f: impl FnOnce(&mut FilterKind) -> R) -> Option<R> {
        let id = u64::try_from(id).ok()?;
        let mut s = self.inner.lock();
        let now = Instant::now();
        let (kind, seen) = s.filters.get_mut(&id)?;
        if now.duration_since(*seen) >= FILTER_TIMEOUT {
            s.filters.remove(&id);
            return None;
        }
        *seen = now;
        Some(f(kind))
    }
}

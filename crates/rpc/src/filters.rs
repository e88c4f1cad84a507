//! Poll-based filters (eth_newFilter and friends): bounded node-wide and per connection, dropped
//! after five minutes without a poll, as geth does. Ids are 128 random bits, so one client cannot
//! guess, poll or remove another's filter.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, U128};
use alloy_rpc_types_eth::Filter;
use parking_lot::Mutex;
use tokio::sync::broadcast;

/// A filter nobody polled for this long is removed.
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub(crate) enum FilterKind {
    /// Next block number to report.
    Blocks { next: u64 },
    Logs { filter: Box<Filter>, next: u64 },
    PendingTransactions { rx: broadcast::Receiver<B256> },
}

#[derive(Debug)]
struct Installed {
    kind: FilterKind,
    seen: Instant,
    /// The connection that installed it (counts against that connection's quota).
    conn: usize,
}

/// Why a filter was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    NodeFull,
    ConnectionFull,
}

#[derive(Debug)]
pub(crate) struct FilterManager {
    max: usize,
    max_per_connection: usize,
    filters: Mutex<HashMap<u128, Installed>>,
}

impl FilterManager {
    pub(crate) fn new(max: usize, max_per_connection: usize) -> Self {
        Self { max, max_per_connection, filters: Mutex::new(HashMap::new()) }
    }

    /// Installs a filter for connection `conn`.
    pub(crate) fn install(&self, kind: FilterKind, conn: usize) -> Result<U128, Refused> {
        let mut filters = self.filters.lock();
        let now = Instant::now();
        filters.retain(|_, f| now.duration_since(f.seen) < FILTER_TIMEOUT);
        if filters.len() >= self.max {
            return Err(Refused::NodeFull);
        }
        if filters.values().filter(|f| f.conn == conn).count() >= self.max_per_connection {
            return Err(Refused::ConnectionFull);
        }
        let id = loop {
            let id: u128 = rand::random();
            if id != 0 && !filters.contains_key(&id) {
                break id;
            }
        };
        filters.insert(id, Installed { kind, seen: now, conn });
        Ok(U128::from(id))
    }

    pub(crate) fn uninstall(&self, id: U128) -> bool {
        self.filters.lock().remove(&id.to::<u128>()).is_some()
    }

    /// After the chain was unwound to `head` (a dev node's `evm_revert`): block and log
    /// filters report again from the block after it, so the blocks mined next are not skipped.
    pub(crate) fn rewind(&self, head: u64) {
        for f in self.filters.lock().values_mut() {
            match &mut f.kind {
                FilterKind::Blocks { next } | FilterKind::Logs { next, .. } => *next = (*next).min(head + 1),
                FilterKind::PendingTransactions { .. } => {}
            }
        }
    }

    /// Runs `f` on the filter and marks it polled. `None` if there is no such filter.
    pub(crate) fn with<R>(&self, id: U128, f: impl FnOnce(&mut FilterKind) -> R) -> Option<R> {
        let id = id.to::<u128>();
        let mut filters = self.filters.lock();
        let now = Instant::now();
        let installed = filters.get_mut(&id)?;
        if now.duration_since(installed.seen) >= FILTER_TIMEOUT {
            filters.remove(&id);
            return None;
        }
        installed.seen = now;
        Some(f(&mut installed.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_and_unguessable_ids() {
        let m = FilterManager::new(5, 3);
        let a: Vec<U128> = (0..3).map(|_| m.install(FilterKind::Blocks { next: 0 }, 1).unwrap()).collect();
        assert_eq!(m.install(FilterKind::Blocks { next: 0 }, 1), Err(Refused::ConnectionFull));
        m.install(FilterKind::Blocks { next: 0 }, 2).unwrap();
        m.install(FilterKind::Blocks { next: 0 }, 3).unwrap();
        assert_eq!(m.install(FilterKind::Blocks { next: 0 }, 4), Err(Refused::NodeFull));
        // Not a counter: ids use all 128 bits (false with probability 2^-192), neighbours are empty.
        assert!(a.iter().any(|id| id.to::<u128>() >> 64 != 0));
        assert!(m.with(a[0].wrapping_add(U128::from(1)), |_| ()).is_none());
        assert!(m.with(a[0], |_| ()).is_some());
        assert!(m.uninstall(a[0]));
        assert!(!m.uninstall(a[0]));
        m.install(FilterKind::Blocks { next: 0 }, 1).unwrap();
    }
}

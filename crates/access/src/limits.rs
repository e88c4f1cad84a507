//! Replay protection (a bounded nonce cache) and per-key token-bucket rate limiting.

use alloy_primitives::Address;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Why the nonce cache refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefusal {
    /// `(reader, nonce)` was seen and has not expired.
    Replayed,
    /// The cache is full of unexpired entries; refusing is the safe answer (forgetting an
    /// unexpired nonce would let its request be replayed).
    Full,
}

/// Remembers `(reader, nonce)` of accepted requests until the request expires.
///
/// An entry is forgotten once `now >= expiry`, i.e. exactly when the request it came from would
/// be refused as expired anyway, so memory is bounded by the rate of requests times the longest
/// validity, and by `capacity`.
#[derive(Debug)]
pub struct NonceCache {
    seen: HashMap<(Address, u64), u64>,
    by_expiry: BTreeSet<(u64, Address, u64)>,
    capacity: usize,
}

impl NonceCache {
    /// A cache holding at most `capacity` unexpired nonces.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity,
        }
    }

    /// Number of remembered nonces.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets entries whose `expiry <= now`, then tells whether `(reader, nonce)` is recorded.
    pub fn contains(&mut self, reader: Address, nonce: u64, now: u64) -> bool {
        self.evict_expired(now);
        self.seen.contains_key(&(reader, nonce))
    }

    /// Forgets entries whose `expiry <= now`, then records `(reader, nonce)` unless it is
    /// already there (replay) or the cache is full.
    pub fn check_and_insert(
        &mut self,
        reader: Address,
        nonce: u64,
        expiry: u64,
        now: u64,
    ) -> Result<(), NonceRefusal> {
        self.evict_expired(now);
        if self.seen.contains_key(&(reader, nonce)) {
            return Err(NonceRefusal::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(NonceRefusal::Full);
        }
        self.seen.insert((reader, nonce), expiry);
        self.by_expiry.insert((expiry, reader, nonce));
        Ok(())
    }

    fn evict_expired(&mut self, now: u64) {
        while let Some(&(expiry, reader, nonce)) = self.by_expiry.first() {
            if expiry > now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&(reader, nonce));
        }
    }
}

/// A token bucket: up to `burst` requests at once, then one more every `refill_every_millis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket size (requests allowed back to back).
    pub burst: u32,
    /// Milliseconds to earn one token back (must be > 0; 0 is treated as 1).
    pub refill_every_millis: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    last: u64,
}

/// Per-key token buckets (keys: accounts; the RPC layer can reuse it for peers).
///
/// Keys whose bucket is full again are forgotten when room is needed, so at most `max_keys`
/// buckets are held; when all of them are still refilling, new keys are refused.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    buckets: HashMap<K, Bucket>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter applying `limit` to each key, tracking at most `max_keys` keys.
    pub fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
            max_keys,
        }
    }

    fn interval(&self) -> u64 {
        self.limit.refill_every_millis.max(1)
    }

    fn refill(limit: RateLimit, interval: u64, bucket: &mut Bucket, now: u64) {
        if now <= bucket.last {
            return;
        }
        let earned = (now - bucket.last) / interval;
        let tokens = u64::from(bucket.tokens).saturating_add(earned);
        if tokens >= u64::from(limit.burst) {
            bucket.tokens = limit.burst;
            bucket.last = now;
        } else {
            // tokens < burst <= u32::MAX
            bucket.tokens = tokens as u32;
            bucket.last += earned * interval;
        }
    }

    /// Takes one token for `key` at `now_millis`. On refusal returns the milliseconds until a
    /// token is available (one refill interval when the key was refused because the limiter is
    /// full of other keys that are still refilling).
    pub fn try_acquire(&mut self, key: &K, now_millis: u64) -> Result<(), u64> {
        let (limit, interval) = (self.limit, self.interval());
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.buckets.retain(|_, b| {
                Self::refill(limit, interval, b, now_millis);
                b.tokens < limit.burst
            });
            if self.buckets.len() >= self.max_keys {
                return Err(interval);
            }
        }
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: limit.burst,
            last: now_millis,
        });
        Self::refill(limit, interval, bucket, now_millis);
        if bucket.tokens == 0 {
            // refill() left now - last < interval, so this is at least 1.
            return Err(interval - now_millis.saturating_sub(bucket.last).min(interval - 1));
        }
        bucket.tokens -= 1;
        Ok(())
    }
}

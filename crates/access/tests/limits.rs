//! The nonce cache and the token buckets on their own.

use alloy_primitives::Address;
use ls_access::{NonceCache, NonceRefusal, RateLimit, RateLimiter};

#[test]
fn nonce_cache_forgets_exactly_at_expiry() {
    let a = Address::repeat_byte(1);
    let mut c = NonceCache::new(10);
    c.check_and_insert(a, 1, 100, 50).unwrap();
    assert_eq!(
        c.check_and_insert(a, 1, 100, 99),
        Err(NonceRefusal::Replayed)
    );
    assert_eq!(c.len(), 1);
    // at now == expiry the request is expired, and the entry may go
    c.check_and_insert(a, 2, 200, 100).unwrap();
    assert_eq!(c.len(), 1);
    c.check_and_insert(a, 1, 200, 100).unwrap();
}

#[test]
fn nonce_cache_is_bounded() {
    let mut c = NonceCache::new(2);
    for n in 0..2 {
        c.check_and_insert(Address::repeat_byte(n), 0, 10, 0)
            .unwrap();
    }
    assert_eq!(
        c.check_and_insert(Address::repeat_byte(9), 0, 10, 0),
        Err(NonceRefusal::Full)
    );
    c.check_and_insert(Address::repeat_byte(9), 0, 20, 10)
        .unwrap();
    assert_eq!(c.len(), 1);
}

#[test]
fn limiter_tracks_a_bounded_number_of_keys() {
    let limit = RateLimit {
        burst: 1,
        refill_every_millis: 100,
    };
    let mut l = RateLimiter::new(limit, 2);
    l.try_acquire(&1u8, 0).unwrap();
    l.try_acquire(&2u8, 0).unwrap();
    // both buckets are refilling: a third key is refused for one interval
    assert_eq!(l.try_acquire(&3u8, 50), Err(100));
    // once they are full again they are forgotten to make room
    l.try_acquire(&3u8, 100).unwrap();
    assert_eq!(l.try_acquire(&3u8, 150), Err(50));
    // a clock going backwards neither panics nor mints tokens
    assert_eq!(l.try_acquire(&3u8, 10), Err(100));
}

//! Transaction pool: validation, nonce ordering, replacement, bounded eviction

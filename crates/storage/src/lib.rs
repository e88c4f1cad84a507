//! redb-backed chain storage: headers, bodies, receipts, state, indexes

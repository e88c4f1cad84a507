//! revm block executor over Lightstreams state

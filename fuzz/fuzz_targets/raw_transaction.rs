//! cargo fuzz run raw_transaction: see ls_txpool::fuzzing::raw_transaction for what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ls_txpool::fuzzing::raw_transaction(data));

//! cargo fuzz run rpc_request: see ls_rpc::fuzzing::rpc_request for what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ls_rpc::fuzzing::rpc_request(data));

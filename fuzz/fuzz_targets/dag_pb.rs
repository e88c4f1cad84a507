//! cargo fuzz run dag_pb: see ls_content::fuzzing::dag_pb for what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ls_content::fuzzing::dag_pb(data));

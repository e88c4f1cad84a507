//! cargo fuzz run car: see ls_content::fuzzing::car for what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ls_content::fuzzing::car(data));

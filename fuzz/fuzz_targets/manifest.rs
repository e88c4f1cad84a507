//! cargo fuzz run manifest: see ls_content::fuzzing::manifest for what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ls_content::fuzzing::manifest(data));

//! Fuzz target: `sockscope::fuzzing::services` (see its documentation for the input layout and properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope::fuzzing::services(data));

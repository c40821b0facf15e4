//! Fuzz target: `sockscope::fuzzing::filter` (see its documentation for the input layout and properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope::fuzzing::filter(data));

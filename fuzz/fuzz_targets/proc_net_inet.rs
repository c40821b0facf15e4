//! Fuzz target: `sockscope::fuzzing::proc_net_inet` (see its documentation for the input layout and properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope::fuzzing::proc_net_inet(data));

//! Fuzz target: see `xendump_gdbserver::harness::open_stream`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xendump_gdbserver::harness::open_stream(data);
});

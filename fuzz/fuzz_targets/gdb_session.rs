//! Fuzz target: see `xendump_gdbserver::harness::gdb_session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xendump_gdbserver::harness::gdb_session(data);
});

//! What the Linux-awareness layer reads from a vmlinux, and what it costs.
//!
//!   cargo run --release --example debuginfo-scan -- VMLINUX [KASLR_OFFSET_HEX]
//!
//! Prints the release, build-id, the walker's struct layout, the symbols it starts
//! from (moved by the KASLR offset) and the scan's statistics: units and bytes of
//! `.debug_info` looked at, wall time, peak RSS (the mapped file's pages included) and
//! the process's own (anonymous) memory.

use xendump_gdbserver::os::linux::debuginfo::DebugInfo;
use xendump_gdbserver::os::linux::tasks::KernelAddresses;

/// A `/proc/self/status` value in KiB (VmHWM: peak RSS, which counts the mapped
/// vmlinux's pages; RssAnon: memory of our own).
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: debuginfo-scan VMLINUX [KASLR_OFFSET_HEX]")?;
    let kaslr = match args.next() {
        Some(k) => u64::from_str_radix(k.trim_start_matches("0x"), 16)?,
        None => 0,
    };
    let info = DebugInfo::open(&path)?;
    let st = info.stats();
    println!("file:      {path}");
    println!(
        "release:   {}",
        info.release().unwrap_or("(no linux_banner)")
    );
    println!("build-id:  {}", info.build_id_hex().unwrap_or_default());
    println!(
        "scan:      {} units, {:.1} of {:.1} MiB of .debug_info{}, {} symbols, {:.3} s, peak RSS {} MiB (own memory {} MiB)",
        st.units_scanned,
        st.debug_info_scanned as f64 / (1 << 20) as f64,
        st.debug_info_size as f64 / (1 << 20) as f64,
        if st.stopped_early { " (stopped early)" } else { "" },
        st.symbols,
        st.elapsed.as_secs_f64(),
        status_kib("VmHWM").map_or(0, |k| k / 1024),
        status_kib("RssAnon").map_or(0, |k| k / 1024),
    );
    match info.kernel_layout() {
        Ok(layout) => println!("layout:    {layout:?}"),
        Err(e) => println!("layout:    {e}"),
    }
    match KernelAddresses::from_debuginfo(&info, kaslr) {
        Ok(a) => println!("addresses: {a:x?}"),
        Err(e) => println!("addresses: {e}"),
    }
    Ok(())
}

//! Writes the bundled demo dumps (and any scenario as a dump file).
//!
//!   cargo run --example make-demo                 # regenerate demo/*.core
//!   cargo run --example make-demo -- OUT KIND MODE FORMAT
//!       KIND: pv | hvm; MODE: 2level | pae | 4level | 5level;
//!       FORMAT: elf | elf32tools | legacy

use std::path::Path;

use xendump_gdbserver::builder::scenario::Scenario;
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

fn write(
    out: &Path,
    kind: GuestKind,
    mode: PagingMode,
    opts: &DumpOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let s = Scenario::new(kind, mode)?;
    s.image.write_file(out, opts)?;
    println!("wrote {} ({kind:?} guest, {mode} paging)", out.display());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        std::fs::create_dir_all("demo")?;
        write(
            Path::new("demo/demo-pv64.core"),
            GuestKind::Pv,
            PagingMode::FourLevel,
            &DumpOptions::elf(Width::Bits64),
        )?;
        return Ok(());
    }
    let [out, kind, mode, format] = args.as_slice() else {
        return Err("usage: make-demo [OUT KIND MODE FORMAT]".into());
    };
    let kind = match kind.as_str() {
        "pv" => GuestKind::Pv,
        "hvm" => GuestKind::Hvm,
        k => return Err(format!("unknown kind {k}").into()),
    };
    let mode = match mode.as_str() {
        "2level" => PagingMode::TwoLevel { pse: true },
        "pae" => PagingMode::Pae,
        "4level" => PagingMode::FourLevel,
        "5level" => PagingMode::FiveLevel,
        m => return Err(format!("unknown mode {m}").into()),
    };
    let opts = match format.as_str() {
        "elf" => DumpOptions::elf(Width::Bits64),
        "elf32tools" => DumpOptions::elf(Width::Bits32),
        "legacy" => DumpOptions::legacy(if mode.is_32bit() {
            Width::Bits32
        } else {
            Width::Bits64
        }),
        f => return Err(format!("unknown format {f}").into()),
    };
    write(Path::new(out), kind, mode, &opts)
}

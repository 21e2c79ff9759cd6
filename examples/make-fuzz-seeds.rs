//! Writes the fuzzers' seed corpora: builder dumps of every variant, as each target
//! encodes its input (see `src/harness.rs`).
//!
//!   cargo run --example make-fuzz-seeds [-- OUT_DIR]     # default: fuzz/seeds
//!   cargo run --example make-fuzz-seeds -- --regressions # the seeds kept in
//!                                                        # tests/fuzz_regressions/
//!
//! OUT_DIR/open_dump: every format variant of every tiny guest (plus the odd knobs:
//! ELFCLASS32, invalid tails, legacy 8-byte index). OUT_DIR/read_memory: the same dumps
//! behind reads of the addresses the guest is known to hold. OUT_DIR/gdb_session: the
//! packets gdb sends in a session with memory and register reads and refused writes.
//! OUT_DIR/task_walker: the made-up kernels untouched, and with a task's pointers moved.
//! OUT_DIR/open_stream: saved images of every tiny guest (xl save, live, Remus cut in a
//! checkpoint, a bare v2 stream), whole and as libxc records.
//! Each also gets the small seed `harness::micro_seeds` gives it; `--regressions` writes
//! only those, into `tests/fuzz_regressions/TARGET/`, whose replay test checks them.

use std::path::{Path, PathBuf};

use xendump_gdbserver::builder::tiny::{tiny_mfn, TinyGuest, DATA_PFN, TEXT_PFN};
use xendump_gdbserver::builder::{
    all_variants, Container, DumpOptions, ElfOptions, Layout, LegacyOptions, StreamOptions,
};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::harness::{encode_read_input, micro_seeds, ReadOp};
use xendump_gdbserver::memory::PagingMode;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn variants(kind: GuestKind, width: Width) -> Vec<(String, DumpOptions)> {
    let mut v = all_variants(kind, width);
    v.push((
        "elf-class32".into(),
        DumpOptions {
            format: Layout::Elf(ElfOptions::class32_2007()),
            tools: Width::Bits32,
        },
    ));
    v.push((
        "elf-invalid-tail".into(),
        DumpOptions {
            format: Layout::Elf(ElfOptions {
                invalid_tail: 2,
                ..ElfOptions::default()
            }),
            tools: Width::Bits64,
        },
    ));
    if width == Width::Bits32 && kind == GuestKind::Pv {
        v.push((
            "legacy-index8".into(),
            DumpOptions {
                format: Layout::Legacy(LegacyOptions {
                    index_width: Some(8),
                    ..LegacyOptions::default()
                }),
                tools: Width::Bits32,
            },
        ));
    }
    v
}

fn reads(t: &TinyGuest) -> Vec<ReadOp> {
    let f = &t.facts;
    let pfn_addr = |pfn: u64| pfn * 4096;
    let table_addr = |pfn: u64| match t.image.kind {
        GuestKind::Pv => tiny_mfn(pfn) * 4096,
        GuestKind::Hvm => pfn * 4096,
    };
    vec![
        ReadOp {
            view: 0,
            slot: 0,
            len: 64,
            addr: f.banner_va,
        },
        ReadOp {
            view: 0,
            slot: 1,
            len: 8,
            addr: f.counter_va,
        },
        ReadOp {
            view: 0,
            slot: 0,
            len: 0x1100,
            addr: f.data_va + 0xf80,
        },
        ReadOp {
            view: 0,
            slot: 0,
            len: 16,
            addr: f.absent_va,
        },
        ReadOp {
            view: 0,
            slot: 0,
            len: 16,
            addr: f.unmapped_va,
        },
        ReadOp {
            view: 1,
            slot: 0,
            len: 32,
            addr: pfn_addr(TEXT_PFN) + 0x100,
        },
        ReadOp {
            view: 2,
            slot: 0,
            len: 32,
            addr: table_addr(DATA_PFN) + 0x40,
        },
        ReadOp {
            view: 0,
            slot: 7,
            len: 8,
            addr: f.text_va,
        },
    ]
}

fn gdb_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let session = [
        "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386",
        "vMustReplyEmpty",
        "QStartNoAckMode",
        "Hgp0.0",
        "qXfer:features:read:target.xml:0,ffb",
        "qXfer:features:read:target.xml:7fb,ffb",
        "qTStatus",
        "?",
        "qXfer:threads:read::0,ffb",
        "qfThreadInfo",
        "qsThreadInfo",
        "qAttached:1",
        "Hc-1",
        "qC",
        "qOffsets",
        "g",
        "p10",
        "p39",
        "mffffffff81000100,40",
        "mc1000100,40",
        "mffffffff90000000,8",
        "m0,fffffff",
        "Hgp1.2",
        "g",
        "qThreadExtraInfo,p1.2",
        "T2",
        "Tp1.9",
    ];
    let refused_writes = [
        "Mffffffff82000040,8:0102030405060708",
        "Xffffffff82000040,2:ab",
        "P10=0000000000000000",
        "Z0,ffffffff81000002,1",
        "z0,ffffffff81000002,1",
        "vCont?",
        "vCont;s:p1.1;c",
        "vCont;c",
        "c",
        "s",
    ];
    let monitor: Vec<String> = [
        "help",
        "info",
        "vcpu",
        "vcpu 1",
        "translate 0xffffffff82000040",
        "translate 0xc2000040 1",
        "p2m 0x2",
        "m2p 0x51007",
        "view physical",
        "view machine",
        "view virtual",
    ]
    .iter()
    .map(|c| format!("qRcmd,{}", hex(c)))
    .collect();
    // What QEMU-aware front ends (GEF, pwndbg), LLDB and gdb >= 16 send.
    let front_ends = [
        "qSupported:multiprocess+;swbreak+;xmlRegisters=i386",
        "Qqemu.sstepbits",
        "qOffsets",
        "qqemu.sstep",
        "Qqemu.sstep=7",
        "Qqemu.PhyMemMode:1",
        "qqemu.PhyMemMode",
        "m2000,10",
        "Qqemu.PhyMemMode:0",
        "qGDBServerVersion",
        "QThreadSuffixSupported",
        "qHostInfo",
        "qProcessInfo",
        "g;thread:0002;",
        "p10;thread:0001;",
        "xffffffff81000000,40",
        "x0,0",
        "xffffffff81000000,40",
        "qRcmd,696e666f206d656d",
        "qRcmd,696e666f207265676973746572",
        "qRcmd,7870202f387867203078323030",
        "qRcmd,67766132677061203078666666666666666638313030303030",
    ];
    let lines = |ls: &[&str]| ls.join("\n").into_bytes();
    let mut out = vec![
        ("session", lines(&session)),
        ("writes", lines(&refused_writes)),
        (
            "monitor",
            monitor
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        ),
        ("front-ends", lines(&front_ends)),
        ("detach", lines(&["qSupported", "g", "D"])),
        ("kill", lines(&["qSupported", "vKill;1", "k"])),
    ];
    // Raw streams: acks, a packet with a wrong checksum, a Ctrl-C, an unterminated one.
    out.push(("raw-acks", b"+$qSupported#37+$g#67+\x03$?#3f".to_vec()));
    out.push(("raw-badsum", b"+$qSupported#00".to_vec()));
    out.push(("raw-escape", b"$M0,2:}\x03}\x5d#00$m0,2#fb".to_vec()));
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn main() -> Res<()> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--regressions") {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
        for (target, name, bytes) in micro_seeds() {
            write(&dir.join(target), name, &bytes)?;
            println!("wrote {}/{target}/{name}", dir.display());
        }
        return Ok(());
    }
    let out = arg.map_or_else(|| PathBuf::from("fuzz/seeds"), PathBuf::from);
    for (target, name, bytes) in micro_seeds() {
        write(&out.join(target), name, &bytes)?;
    }
    let mut n = 0;
    for (kind, mode) in [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::TwoLevel { pse: true }),
        (GuestKind::Hvm, PagingMode::FiveLevel),
    ] {
        let t = TinyGuest::new(kind, mode)?;
        let width = if mode.is_32bit() {
            Width::Bits32
        } else {
            Width::Bits64
        };
        for (variant, opts) in variants(kind, width) {
            // Legacy HVM dumps get the CR3 Xen 3.0.x stored (TinyGuest::write).
            let Ok(bytes) = t.write(&opts) else {
                continue; // a knob this guest cannot be written with
            };
            let name: String = format!("{variant}-{kind:?}-{mode}")
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    'a'..='z' | '0'..='9' | '-' => Some(c),
                    '(' | ')' | ' ' => None,
                    _ => Some('-'),
                })
                .collect();
            write(&out.join("open_dump"), &name, &bytes)?;
            write(
                &out.join("read_memory"),
                &name,
                &encode_read_input(&reads(&t), &bytes),
            )?;
            n += 1;
        }
        // open_stream: saved images of the same guest, whole (mode 0) and as libxc
        // records behind the harness's own headers (mode 1 PV, 2 HVM).
        let tag = format!("{kind:?}-{mode}")
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
        for (variant, opts) in [
            ("xl-save", StreamOptions::xl_save()),
            ("live-2", StreamOptions::live(2)),
            ("remus-2-cut", StreamOptions::checkpointed(2, true)),
            (
                "libxc-v2",
                StreamOptions {
                    container: Container::Libxc,
                    version: 2,
                    ..StreamOptions::xl_save()
                },
            ),
        ] {
            let Ok(bytes) = t.image.write_stream(&opts) else {
                continue; // a 2-level PV guest has no saved image
            };
            let mut whole = vec![0u8];
            whole.extend_from_slice(&bytes);
            write(
                &out.join("open_stream"),
                &format!("{variant}-{tag}"),
                &whole,
            )?;
            if opts.container == Container::Libxc && opts.version == 2 {
                let bare = t.image.write_stream(&StreamOptions {
                    container: Container::Libxc,
                    ..StreamOptions::xl_save()
                })?;
                let mut records = vec![if kind == GuestKind::Pv { 1 } else { 2 }];
                records.extend_from_slice(&bare[40..]);
                write(
                    &out.join("open_stream"),
                    &format!("records-{tag}"),
                    &records,
                )?;
            }
        }
    }
    for (name, stream) in gdb_seeds() {
        for guest in [0u8, 2] {
            let mode = if name.starts_with("raw") { 0 } else { 1 } | guest;
            let mut v = vec![mode];
            v.extend_from_slice(&stream);
            write(&out.join("gdb_session"), &format!("{name}-{guest}"), &v)?;
        }
    }
    // task_walker: each guest untouched, and with one pointer of a task redirected.
    for guest in [0u8, 1] {
        write(
            &out.join("task_walker"),
            &format!("clean-{guest}"),
            &[guest],
        )?;
        // target 4: task 1's task_struct; a pointer-sized write at a few offsets.
        for offset in [0x380u16, 0x4d0, 0x598, 0x710, 0x818] {
            let mut v = vec![guest, 4];
            v.extend_from_slice(&offset.to_le_bytes());
            v.push(8);
            v.extend_from_slice(&0xffff_8880_0000_1000u64.to_le_bytes());
            write(
                &out.join("task_walker"),
                &format!("ptr-{guest}-{offset:x}"),
                &v,
            )?;
        }
    }
    println!(
        "wrote {n} dumps (x2 targets), the gdb and the task walker seeds under {}",
        out.display()
    );
    Ok(())
}

//! The DWARF reader against the C compiler: a stand-in vmlinux with Linux's struct
//! shapes (tests/fixtures/linux) is compiled and linked at test time, and every layout
//! the reader extracts is compared with gcc's own offsetof/sizeof (offsets.c), every
//! symbol with nm, the build-id with readelf.

#[path = "support/kernel_fixture.rs"]
mod kernel_fixture;

use kernel_fixture::{build, build_with, nm, readelf_build_id, run, Bits, Oracle, Shapes, ALL};
use xendump_gdbserver::os::linux::debuginfo::{sym, DebugInfo, DebugInfoError, KernelArch};
use xendump_gdbserver::os::linux::layout::{CpuField, KernelLayout, LayoutSource, ThreadList};
use xendump_gdbserver::os::linux::tasks::KernelAddresses;

/// Bit fields in the fixture's structs: `offsetof` cannot name them.
const BIT_FIELDS: &[&str] = &[
    "sched_reset_on_fork",
    "sched_contributes_to_load",
    "sched_migrated",
    "sched_remote_wakeup",
    "in_execve",
    "in_iowait",
    "iopl_warn",
    "sig_on_uaccess_err",
    "sig_on_uaccess_error",
    "uaccess_err",
];

#[test]
fn the_walker_layout_matches_the_compiler_in_every_variant() {
    for &v in ALL {
        let f = build(v);
        let info = DebugInfo::open(&f.vmlinux).unwrap();
        let oracle = Oracle::standard(&f);
        let expected = KernelLayout::resolve(&oracle).unwrap();
        let got = info.kernel_layout().unwrap();
        assert_eq!(got, expected, "{v:?}");
        // Every value the oracle printed, one by one (nested paths included).
        for (s, m, field) in &oracle.members {
            assert_eq!(info.member(s, m), Some(*field), "{v:?}: {s}.{m}");
        }
        for (s, size) in &oracle.sizes {
            assert_eq!(info.struct_size(s), Some(*size), "{v:?}: sizeof {s}");
        }
        // The shape-specific choices, spelled out.
        match v.shapes {
            Shapes::Old => {
                assert!(matches!(got.cpu, Some(CpuField::ThreadInfoOnStack(_))));
                assert!(matches!(got.threads, ThreadList::ThreadGroup { .. }));
                assert_eq!(got.frame, None);
                assert_eq!(got.thread_ip.is_some(), v.bits == Bits::I386, "{v:?}");
            }
            _ => {
                assert!(matches!(got.cpu, Some(CpuField::ThreadInfoInTask(_))));
                assert!(matches!(got.threads, ThreadList::SignalThreadHead { .. }));
                let names: Vec<&str> = got
                    .frame
                    .as_ref()
                    .unwrap()
                    .members
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                let want: &[&str] = match v.bits {
                    Bits::X86_64 => &["r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"],
                    Bits::I386 => &["flags", "si", "di", "bx", "bp", "ret_addr"],
                };
                assert_eq!(names, want, "{v:?}");
            }
        }
        assert_eq!(
            info.arch(),
            match v.bits {
                Bits::X86_64 => KernelArch::X86_64,
                Bits::I386 => KernelArch::I386,
            }
        );
    }
}

#[test]
fn every_member_the_reader_reports_matches_offsetof() {
    for &v in ALL {
        let f = build(v);
        let info = DebugInfo::open(&f.vmlinux).unwrap();
        let mut src = String::from(
            "#include \"kernel-shapes.h\"\n\
             #define MEMBER(s, m) asm volatile(\"\\n.ascii \\\"->member \" #s \" \" #m \" %c0 %c1\\\"\" : : \"i\"(__builtin_offsetof(struct s, m)), \"i\"(sizeof(((struct s *)0)->m)))\n\
             #define OFFSET(s, m) asm volatile(\"\\n.ascii \\\"->offset \" #s \" \" #m \" %c0\\\"\" : : \"i\"(__builtin_offsetof(struct s, m)))\n\
             #define SIZE(s) asm volatile(\"\\n.ascii \\\"->size \" #s \" %c0\\\"\" : : \"i\"(sizeof(struct s)))\n\
             void all(void) {\n",
        );
        let mut checked = 0;
        for (name, s) in info.structs() {
            src.push_str(&format!("SIZE({name});\n"));
            let all = s.members.iter().map(|(k, f)| (k, f)).chain(s.nested.iter());
            for (m, field) in all {
                if BIT_FIELDS.contains(&m.as_str()) {
                    continue;
                }
                // A flexible array member has no size to take.
                let mac = if field.size == 0 { "OFFSET" } else { "MEMBER" };
                src.push_str(&format!("{mac}({name}, {m});\n"));
                checked += 1;
            }
        }
        src.push_str("}\n");
        let oracle = Oracle::compile(&f, &src);
        assert_eq!(oracle.members.len(), checked, "{v:?}");
        for (s, m, field) in &oracle.members {
            assert_eq!(info.member(s, m), Some(*field), "{v:?}: {s}.{m}");
        }
        for (s, size) in &oracle.sizes {
            assert_eq!(info.struct_size(s), Some(*size), "{v:?}: sizeof {s}");
        }
        // The anonymous structs and unions were flattened into their parents.
        let mm = info.struct_layout("mm_struct").unwrap();
        assert!(mm.members.iter().any(|(n, _)| n == "mm_count"), "{v:?}");
        assert!(checked > 100, "{v:?}: only {checked} members");
    }
}

#[test]
fn symbols_are_those_nm_lists_and_kaslr_moves_all_but_zero_based_percpu() {
    let kaslr = 0x1e00_0000u64;
    for &v in ALL {
        let f = build(v);
        let info = DebugInfo::open(&f.vmlinux).unwrap();
        let nm = nm(&f.vmlinux);
        let mut names = vec![
            sym::INIT_TASK,
            sym::PER_CPU_OFFSET,
            sym::PER_CPU_START,
            sym::LINUX_BANNER,
            sym::TEXT,
            sym::STEXT,
            "__schedule",
        ];
        names.push(match v.bits {
            Bits::X86_64 => sym::INIT_TOP_PGT,
            Bits::I386 => sym::SWAPPER_PG_DIR,
        });
        names.push(match v.shapes {
            Shapes::Linux62 => sym::PCPU_HOT,
            _ => sym::CURRENT_TASK,
        });
        if v.shapes != Shapes::Old {
            names.push(sym::SWITCH_TO_ASM);
        } else {
            assert!(info.symbol(sym::SWITCH_TO_ASM).is_none());
        }
        for n in names {
            let s = info.symbol(n).unwrap_or_else(|| panic!("{v:?}: no {n}"));
            assert_eq!(Some(&s.address), nm.get(n), "{v:?}: {n}");
        }
        let a = KernelAddresses::from_debuginfo(&info, kaslr).unwrap();
        let percpu_var = match v.shapes {
            Shapes::Linux62 => {
                nm["pcpu_hot"]
                    + Oracle::standard(&f)
                        .get("pcpu_hot", "current_task")
                        .unwrap()
                        .offset
            }
            _ => nm["current_task"],
        };
        match v.bits {
            Bits::X86_64 => {
                assert_eq!(a.init_task, nm["init_task"] + kaslr, "{v:?}");
                assert_eq!(a.per_cpu_offset, Some(nm["__per_cpu_offset"] + kaslr));
                // Linked at 0: an offset into each CPU's area, not moved.
                assert!(percpu_var < 0x1000, "{v:?}");
                assert_eq!(a.current_task, Some(percpu_var), "{v:?}");
            }
            Bits::I386 => {
                let moved = |x: u64| (x + kaslr) & 0xffff_ffff;
                assert_eq!(a.init_task, moved(nm["init_task"]), "{v:?}");
                assert_eq!(a.current_task, Some(moved(percpu_var)), "{v:?}");
            }
        }
        assert_eq!(
            KernelAddresses::from_debuginfo(&info, 0).unwrap().init_task,
            nm["init_task"]
        );
    }
}

#[test]
fn release_and_build_id_identify_the_kernel_and_a_mismatch_names_both() {
    let v = ALL[0];
    let f = build(v);
    let info = DebugInfo::open(&f.vmlinux).unwrap();
    assert_eq!(info.release(), Some(v.release()));
    assert!(info
        .banner()
        .unwrap()
        .starts_with("Linux version 6.1.0-fixture (builder@"));
    let id = readelf_build_id(&f.vmlinux);
    assert_eq!(info.build_id_hex().as_deref(), Some(id.as_str()));
    info.check_matches(Some("6.1.0-fixture"), Some(&id))
        .unwrap();
    info.check_matches(None, Some(&id.to_uppercase())).unwrap();
    info.check_matches(None, None).unwrap();

    let e = info
        .check_matches(Some("6.1.0-18-amd64"), Some(&id))
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DebugInfoError::Mismatch { .. }), "{msg}");
    assert!(
        msg.contains("6.1.0-18-amd64") && msg.contains("6.1.0-fixture"),
        "{msg}"
    );
    assert!(msg.contains(&f.vmlinux.display().to_string()), "{msg}");

    let other = "5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed";
    let msg = info
        .check_matches(Some("6.1.0-fixture"), Some(other))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(other) && msg.contains(&id) && msg.contains("build-id"),
        "{msg}"
    );
}

#[test]
fn unusable_files_are_refused_with_the_reason() {
    let f = build(ALL[0]);
    let dir = f.dir.path();
    let path = |n: &str| dir.join(n).display().to_string();

    // The object before linking.
    let e = DebugInfo::open(&f.object).unwrap_err();
    assert!(matches!(e, DebugInfoError::Relocatable { .. }), "{e}");

    // No DWARF.
    run(
        "objcopy",
        &[
            "--strip-debug".into(),
            f.vmlinux.display().to_string(),
            path("stripped"),
        ],
        dir,
    );
    let e = DebugInfo::open(dir.join("stripped")).unwrap_err();
    assert!(matches!(e, DebugInfoError::NoDebugInfo { .. }), "{e}");
    assert!(e.to_string().contains("stripped"), "{e}");

    // Compressed DWARF: named, with the way out.
    run(
        "objcopy",
        &[
            "--compress-debug-sections=zlib".into(),
            f.vmlinux.display().to_string(),
            path("compressed"),
        ],
        dir,
    );
    let e = DebugInfo::open(dir.join("compressed")).unwrap_err();
    assert!(matches!(e, DebugInfoError::Compressed { .. }), "{e}");
    assert!(
        e.to_string().contains(".debug_") && e.to_string().contains("objcopy"),
        "{e}"
    );

    // A kernel without task_struct: the missing struct is named.
    std::fs::write(dir.join("empty.c"), "int not_a_kernel;\n").unwrap();
    run(
        "gcc",
        &[
            "-g".into(),
            "-c".into(),
            "-o".into(),
            path("empty.o"),
            path("empty.c"),
        ],
        dir,
    );
    run(
        "ld",
        &[
            "-e".into(),
            "0".into(),
            "-o".into(),
            path("empty"),
            path("empty.o"),
        ],
        dir,
    );
    let info = DebugInfo::open(dir.join("empty")).unwrap();
    let e = info.kernel_layout().unwrap_err();
    assert!(e.to_string().contains("struct task_struct"), "{e}");
    let e = KernelAddresses::from_debuginfo(&info, 0).unwrap_err();
    assert!(e.to_string().contains("init_task"), "{e}");
}

#[test]
fn the_scan_stops_once_everything_is_found() {
    // 40 more units of struct definitions after the kernel's: never looked at.
    let filler: String = (0..200)
        .map(|i| format!("static struct filler{i} {{ long a[{i}]; int b; }} filler_var{i} __attribute__((used));\n"))
        .collect();
    let extra: Vec<&str> = std::iter::repeat_n(filler.as_str(), 40).collect();
    let f = build_with(ALL[0], &extra, false);
    let info = DebugInfo::open(&f.vmlinux).unwrap();
    let st = info.stats();
    assert_eq!(st.units_scanned, 1, "{st:?}");
    assert!(st.stopped_early, "{st:?}");
    assert!(st.debug_info_scanned * 10 < st.debug_info_size, "{st:?}");
    info.kernel_layout().unwrap();

    // The same units first: the kernel's is the last one scanned.
    let f = build_with(ALL[0], &extra, true);
    let info = DebugInfo::open(&f.vmlinux).unwrap();
    let st = info.stats();
    assert_eq!(st.units_scanned, 41, "{st:?}");
    assert!(!st.stopped_early, "{st:?}");
    assert_eq!(
        info.kernel_layout().unwrap(),
        DebugInfo::open(&build(ALL[0]).vmlinux)
            .unwrap()
            .kernel_layout()
            .unwrap()
    );
}

//! A stand-in vmlinux for the Linux-awareness tests, built at test time from
//! `tests/fixtures/linux/` with the system's gcc and ld, and the oracle it is checked
//! against: the C compiler's own `offsetof` and `sizeof` (`offsets.c`, compiled with
//! `gcc -S`), never the DWARF reader under test.
//!
//! The object is linked (`kernel.lds`) rather than read as a `.o`: in a relocatable
//! object every DWARF string and type reference still needs a relocation the linker
//! applies (on x86_64 the value is in the RELA addend, the section holds zeros), and a
//! vmlinux is an executable with absolute symbol addresses. Linking with the kernel's
//! layout tricks (per-CPU section at 0 on x86_64, `--build-id`) gives a file a real
//! vmlinux looks like to the reader.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use xendump_gdbserver::os::linux::layout::{Field, LayoutSource};

/// Word size of a fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bits {
    X86_64,
    I386,
}

/// Which kernel shapes (see `kernel-shapes.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shapes {
    /// Linux 6.1.
    Linux61,
    /// Linux 6.2+ (`pcpu_hot`).
    Linux62,
    /// Before 4.9 / 3.14.
    Old,
}

/// One fixture to build.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    pub bits: Bits,
    pub shapes: Shapes,
    /// `-gdwarf-N`; `None`: gcc's default (DWARF 5 for gcc 12).
    pub dwarf: Option<u8>,
}

impl Variant {
    pub const fn new(bits: Bits, shapes: Shapes) -> Variant {
        Variant {
            bits,
            shapes,
            dwarf: None,
        }
    }

    /// The release the banner carries.
    pub fn release(&self) -> &'static str {
        match self.shapes {
            Shapes::Linux61 => "6.1.0-fixture",
            Shapes::Linux62 => "6.2.0-fixture",
            Shapes::Old => "4.4.0-fixture",
        }
    }

    /// Link address of `_text`.
    pub fn text(&self) -> u64 {
        match self.bits {
            Bits::X86_64 => 0xffff_ffff_8100_0000,
            Bits::I386 => 0xc100_0000,
        }
    }

    fn cflags(&self) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "-ffreestanding".into(),
            "-fno-pic".into(),
            "-fno-stack-protector".into(),
            // As the kernel is built: CFI goes to .debug_frame (kernel.lds drops
            // .eh_frame), which gdb and drgn unwind with.
            "-fno-asynchronous-unwind-tables".into(),
            "-O0".into(),
            format!("-DKS_RELEASE=\"{}\"", self.release()),
        ];
        match self.bits {
            Bits::X86_64 => v.push("-mcmodel=kernel".into()),
            Bits::I386 => v.push("-m32".into()),
        }
        match self.shapes {
            Shapes::Linux61 => {}
            Shapes::Linux62 => v.push("-DKS_62".into()),
            Shapes::Old => v.push("-DKS_OLD".into()),
        }
        match self.dwarf {
            Some(n) => v.push(format!("-gdwarf-{n}")),
            None => v.push("-g".into()),
        }
        v
    }

    fn name(&self) -> String {
        format!(
            "{:?}-{:?}{}",
            self.bits,
            self.shapes,
            self.dwarf.map_or(String::new(), |d| format!("-dwarf{d}"))
        )
    }
}

/// Every variant the tests cover.
pub const ALL: &[Variant] = &[
    Variant::new(Bits::X86_64, Shapes::Linux61),
    Variant::new(Bits::X86_64, Shapes::Linux62),
    Variant::new(Bits::X86_64, Shapes::Old),
    Variant::new(Bits::I386, Shapes::Linux61),
    Variant::new(Bits::I386, Shapes::Linux62),
    Variant::new(Bits::I386, Shapes::Old),
    Variant {
        bits: Bits::X86_64,
        shapes: Shapes::Linux61,
        dwarf: Some(4),
    },
];

/// A built fixture; its directory goes away on drop.
pub struct Fixture {
    pub variant: Variant,
    pub dir: tempfile::TempDir,
    /// The linked stand-in vmlinux.
    pub vmlinux: PathBuf,
    /// The relocatable object it was linked from.
    pub object: PathBuf,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linux")
}

/// Run a build tool; a missing tool fails the test with what to install.
pub fn run(tool: &str, args: &[String], dir: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): run scripts/install-deps.sh (the Linux-awareness tests compile a kernel fixture)")
        });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compile and link `variant`, with `extra` C sources linked after the fixture (or,
/// with `extra_first`, before it).
pub fn build_with(variant: Variant, extra: &[&str], extra_first: bool) -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix(&format!("kernel-fixture-{}-", variant.name()))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let src = fixtures_dir();
    let object = dir.path().join("kernel-shapes.o");
    let mut args = variant.cflags();
    args.extend([
        "-c".into(),
        "-o".into(),
        object.display().to_string(),
        src.join("kernel-shapes.c").display().to_string(),
    ]);
    run("gcc", &args, dir.path());
    let mut objects = Vec::new();
    for (i, text) in extra.iter().enumerate() {
        let c = dir.path().join(format!("extra{i}.c"));
        std::fs::write(&c, text).unwrap();
        let o = dir.path().join(format!("extra{i}.o"));
        let mut args = variant.cflags();
        args.extend([
            format!("-I{}", src.display()),
            "-c".into(),
            "-o".into(),
            o.display().to_string(),
            c.display().to_string(),
        ]);
        run("gcc", &args, dir.path());
        objects.push(o.display().to_string());
    }
    let vmlinux = dir.path().join("vmlinux");
    let (emulation, percpu) = match variant.bits {
        Bits::X86_64 => ("elf_x86_64", "0".to_string()),
        // i386 keeps its per-CPU section in the image.
        Bits::I386 => ("elf_i386", "ADDR(.data)+SIZEOF(.data)".to_string()),
    };
    let mut args: Vec<String> = vec![
        "-m".into(),
        emulation.into(),
        "--build-id=sha1".into(),
        "-T".into(),
        src.join("kernel.lds").display().to_string(),
        "--defsym".into(),
        format!("KS_TEXT={:#x}", variant.text()),
        "--defsym".into(),
        format!("KS_PERCPU_VMA={percpu}"),
        "-o".into(),
        vmlinux.display().to_string(),
    ];
    if extra_first {
        args.extend(objects.iter().cloned());
        args.push(object.display().to_string());
    } else {
        args.push(object.display().to_string());
        args.extend(objects.iter().cloned());
    }
    run("ld", &args, dir.path());
    Fixture {
        variant,
        dir,
        vmlinux,
        object,
    }
}

/// Compile and link `variant`.
pub fn build(variant: Variant) -> Fixture {
    build_with(variant, &[], false)
}

/// What gcc says the shapes are.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    pub pointer_size: u64,
    pub sizes: BTreeMap<String, u64>,
    /// (struct, member path, field), in the order printed.
    pub members: Vec<(String, String, Field)>,
}

impl Oracle {
    /// Compile `source` (which includes `kernel-shapes.h` and uses the MEMBER / SIZE /
    /// OFFSET macros of offsets.c) with `gcc -S` and read the values it printed.
    pub fn compile(fixture: &Fixture, source: &str) -> Oracle {
        let c = fixture.dir.path().join("oracle.c");
        std::fs::write(&c, source).unwrap();
        let mut args = fixture.variant.cflags();
        args.extend([
            format!("-I{}", fixtures_dir().display()),
            "-S".into(),
            "-o".into(),
            "-".into(),
            c.display().to_string(),
        ]);
        let asm = run("gcc", &args, fixture.dir.path());
        let mut o = Oracle {
            pointer_size: match fixture.variant.bits {
                Bits::X86_64 => 8,
                Bits::I386 => 4,
            },
            ..Oracle::default()
        };
        for line in asm.lines() {
            let Some(at) = line.find("\"->") else {
                continue;
            };
            let text = line[at + 3..].trim_end_matches('"');
            let w: Vec<&str> = text.split_whitespace().collect();
            match w.as_slice() {
                ["size", s, n] => {
                    o.sizes.insert(s.to_string(), n.parse().unwrap());
                }
                ["member", s, m, off, size] => o.members.push((
                    s.to_string(),
                    m.to_string(),
                    Field::new(off.parse().unwrap(), size.parse().unwrap()),
                )),
                ["offset", s, m, off] => o.members.push((
                    s.to_string(),
                    m.to_string(),
                    Field::new(off.parse().unwrap(), 0),
                )),
                _ => panic!("oracle line not understood: {line}"),
            }
        }
        o
    }

    /// The fixed oracle, `offsets.c`.
    pub fn standard(fixture: &Fixture) -> Oracle {
        let text = std::fs::read_to_string(fixtures_dir().join("offsets.c")).unwrap();
        Oracle::compile(fixture, &text)
    }

    pub fn get(&self, s: &str, m: &str) -> Option<Field> {
        self.members
            .iter()
            .find(|(a, b, _)| a == s && b == m)
            .map(|x| x.2)
    }
}

impl LayoutSource for Oracle {
    fn pointer_size(&self) -> u64 {
        self.pointer_size
    }
    fn struct_size(&self, name: &str) -> Option<u64> {
        self.sizes.get(name).copied()
    }
    fn member(&self, s: &str, path: &str) -> Option<Field> {
        self.get(s, path)
    }
    fn members(&self, s: &str) -> Option<Vec<(String, Field)>> {
        self.sizes.get(s)?;
        Some(
            self.members
                .iter()
                .filter(|(a, _, _)| a == s)
                .map(|(_, b, f)| (b.clone(), *f))
                .collect(),
        )
    }
}

/// `nm`'s view of the symbols: name → address (the oracle for the symbol table).
pub fn nm(path: &Path) -> BTreeMap<String, u64> {
    let out = run("nm", &[path.display().to_string()], path.parent().unwrap());
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let addr = u64::from_str_radix(w.next()?, 16).ok()?;
            let _kind = w.next()?;
            Some((w.next()?.to_string(), addr))
        })
        .collect()
}

/// `readelf -n`'s build-id, lower-case hex.
pub fn readelf_build_id(path: &Path) -> String {
    let out = run(
        "readelf",
        &["-n".into(), path.display().to_string()],
        path.parent().unwrap(),
    );
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("a build-id note")
        .trim()
        .to_string()
}

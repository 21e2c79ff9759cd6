//! The guest kernel's debug information, read from its `vmlinux`: the struct layouts
//! the task walker needs (by member name, never by hard-coded offsets), the symbols it
//! starts from, and what identifies the build (release and GNU build-id).
//!
//! **DWARF, not BTF.** The kernel's `.BTF` section describes types too, and more
//! compactly, but: gdb needs the DWARF `vmlinux` anyway to unwind and print anything,
//! so the user has it at hand; Debian's `-dbg` packages ship DWARF; and BTF carries no
//! symbol addresses (`init_task`, the per-CPU `current_task`), which the ELF symbol
//! table of the same file has. One file, one reader (gimli for DWARF, object for ELF).
//!
//! **Bounded work.** A distribution vmlinux holds hundreds of MiB of DWARF in
//! thousands of compilation units, most of which define `task_struct` again. The scan
//! looks only at each unit's top-level entries (skipping their children through
//! `DW_AT_sibling`, which gcc emits), parses the few structs it wants where it first
//! finds a complete definition, and stops as soon as every struct it expects is found.
//! Which optional structs to expect comes from the symbol table: `inactive_task_frame`
//! exists where `__switch_to_asm` does (both came with Linux 4.9), `pcpu_hot` where the
//! `pcpu_hot` symbol does (6.2). No entry is kept beyond the wanted structs' members.
//!
//! **Addresses.** Symbol values are link-time addresses; [`DebugInfo::runtime_address`]
//! adds the KASLR offset (VMCOREINFO `KERNELOFFSET`), except for x86_64's zero-based
//! per-CPU symbols (section `.data..percpu` linked at 0 before Linux 6.15), which are
//! offsets into each CPU's area and are not relocated.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use gimli::{AttributeValue, DebugInfoOffset, EndianSlice, Operation, RunTimeEndian, UnitOffset};
use object::{Object, ObjectSection, ObjectSymbol};
use serde::Serialize;

use super::layout::{Field, KernelLayout, LayoutSource, MissingLayout, STRUCTS, TASK_NESTED};

type Rd<'a> = EndianSlice<'a, RunTimeEndian>;
type Unit<'a> = gimli::Unit<Rd<'a>>;

/// Longest chain of typedefs and qualifiers followed to a type.
const MAX_TYPE_HOPS: usize = 32;
/// Deepest nesting of anonymous structs/unions and member paths followed.
const MAX_NESTING: usize = 8;
/// Bytes of `linux_banner` read at most.
const MAX_BANNER: usize = 512;
/// Units kept parsed for cross-unit type references.
const UNIT_CACHE: usize = 64;

/// Symbol names this module knows the meaning of.
pub mod sym {
    /// The first task (pid 0 on CPU 0), head of the `tasks` list.
    pub const INIT_TASK: &str = "init_task";
    /// Per-CPU pointer to the running task (x86, up to Linux 6.1).
    pub const CURRENT_TASK: &str = "current_task";
    /// Per-CPU struct whose `current_task` member is the running task (x86, 6.2+).
    pub const PCPU_HOT: &str = "pcpu_hot";
    /// Array of each CPU's per-CPU area offset.
    pub const PER_CPU_OFFSET: &str = "__per_cpu_offset";
    /// Start of the per-CPU section (0 on x86_64 before 6.15).
    pub const PER_CPU_START: &str = "__per_cpu_start";
    /// `"Linux version …"`.
    pub const LINUX_BANNER: &str = "linux_banner";
    /// The kernel's top page table (i386, and x86_64 before 4.13 / as an alias).
    pub const SWAPPER_PG_DIR: &str = "swapper_pg_dir";
    /// The x86_64 kernel's top page table.
    pub const INIT_TOP_PGT: &str = "init_top_pgt";
    /// Start of the kernel image.
    pub const TEXT: &str = "_text";
    /// Start of the kernel's code.
    pub const STEXT: &str = "_stext";
    /// The context-switch routine that pushes an `inactive_task_frame` (Linux 4.9+).
    pub const SWITCH_TO_ASM: &str = "__switch_to_asm";
}

/// Section of x86's per-CPU variables.
const PERCPU_SECTION: &str = ".data..percpu";

/// Why a vmlinux could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DebugInfoError {
    /// The file could not be opened or mapped.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not an ELF file (or a damaged one).
    #[error("{path}: not a readable ELF file: {source}")]
    Elf {
        path: PathBuf,
        source: object::Error,
    },
    /// An object file: its DWARF and symbols still need the linker's relocations.
    #[error("{path}: a relocatable object (ET_REL), not a linked vmlinux")]
    Relocatable { path: PathBuf },
    /// Built for another architecture.
    #[error("{path}: built for {arch}, not x86_64 or i386")]
    NotX86 { path: PathBuf, arch: String },
    /// No DWARF at all (a stripped kernel, or the compressed `vmlinuz`).
    #[error("{path}: no DWARF debug information (no .debug_info section); use the vmlinux with debug info (e.g. Debian's linux-image-*-dbg)")]
    NoDebugInfo { path: PathBuf },
    /// A compressed debug section (this build reads uncompressed DWARF only).
    #[error("{path}: section {section} is compressed ({format}); decompress it first: objcopy --decompress-debug-sections {path} vmlinux.plain")]
    Compressed {
        path: PathBuf,
        section: String,
        format: String,
    },
    /// Malformed DWARF.
    #[error("{path}: bad DWARF in {section} (unit at offset {unit:#x}): {source}")]
    Dwarf {
        path: PathBuf,
        section: &'static str,
        unit: u64,
        source: gimli::Error,
    },
    /// A DWARF construct this reader does not follow.
    #[error("{path}: unsupported DWARF in the unit at offset {unit:#x}: {what}")]
    Unsupported {
        path: PathBuf,
        unit: u64,
        what: &'static str,
    },
    /// A struct the walker needs has no complete definition in the DWARF.
    #[error("{path}: no definition of struct {name} in its DWARF")]
    MissingStruct { path: PathBuf, name: String },
    /// A struct lacks a member the walker needs.
    #[error("{path}: {source}")]
    Layout {
        path: PathBuf,
        source: MissingLayout,
    },
    /// A symbol the walker needs is not in the symbol table.
    #[error("{path}: no symbol {name} in its symbol table")]
    MissingSymbol { path: PathBuf, name: String },
    /// The file is not the kernel the dump was taken of.
    #[error("{path} is not the dumped kernel: the dump's {what} is {dump}, the file's is {file}")]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        dump: String,
        file: String,
    },
}

/// x86 flavour of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum KernelArch {
    X86_64,
    I386,
}

/// One struct as the DWARF describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StructLayout {
    /// The struct's tag name.
    pub name: String,
    /// `DW_AT_byte_size`.
    pub size: u64,
    /// Named members in declaration order; members of anonymous structs and unions
    /// appear in their place, at offsets from the start of this struct.
    pub members: Vec<(String, Field)>,
    /// Nested member paths resolved for the walker (`thread.sp`), where they exist.
    pub nested: BTreeMap<String, Field>,
}

impl StructLayout {
    /// Member `path`: a direct (or flattened anonymous) member, or a resolved nested path.
    pub fn member(&self, path: &str) -> Option<Field> {
        self.members
            .iter()
            .find(|(n, _)| n == path)
            .map(|(_, f)| *f)
            .or_else(|| self.nested.get(path).copied())
    }
}

/// An ELF symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symbol {
    /// Link-time value.
    pub address: u64,
    /// `st_size`.
    pub size: u64,
    /// Name of the section it is defined in, if any.
    pub section: Option<String>,
    /// Global (or weak) binding.
    pub global: bool,
}

/// What the DWARF scan cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Units whose top-level entries were looked at.
    pub units_scanned: u64,
    /// Bytes of `.debug_info` up to the end of the last unit scanned.
    pub debug_info_scanned: u64,
    /// Size of `.debug_info`.
    pub debug_info_size: u64,
    /// Did the scan stop before the end of `.debug_info`?
    pub stopped_early: bool,
    /// Symbols read from the symbol table.
    pub symbols: u64,
    /// Wall time of the whole [`DebugInfo::open`].
    pub elapsed: Duration,
}

/// What a vmlinux says about its kernel.
#[derive(Clone, Debug)]
pub struct DebugInfo {
    path: PathBuf,
    arch: KernelArch,
    structs: BTreeMap<String, StructLayout>,
    symbols: HashMap<String, Symbol>,
    banner: Option<String>,
    build_id: Option<Vec<u8>>,
    stats: ScanStats,
}

impl DebugInfo {
    /// Read `path` (a linked vmlinux with DWARF): struct layouts, symbols, release and
    /// build-id.
    pub fn open(path: impl AsRef<Path>) -> Result<DebugInfo, DebugInfoError> {
        let started = Instant::now();
        let path = path.as_ref().to_path_buf();
        let io = |source| DebugInfoError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only and private; a file truncated under us could
        // fault, as with any mapped read (the dump reader guards its own map; a vmlinux
        // is read once here, and not served).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let mut info = Self::parse(&path, &map)?;
        info.stats.elapsed = started.elapsed();
        Ok(info)
    }

    /// [`DebugInfo::open`] on bytes already in memory; `path` names them in errors.
    pub fn parse(path: &Path, data: &[u8]) -> Result<DebugInfo, DebugInfoError> {
        let started = Instant::now();
        let elf_err = |source| DebugInfoError::Elf {
            path: path.to_path_buf(),
            source,
        };
        let obj = object::File::parse(data).map_err(elf_err)?;
        if obj.kind() == object::ObjectKind::Relocatable {
            return Err(DebugInfoError::Relocatable {
                path: path.to_path_buf(),
            });
        }
        let arch = match obj.architecture() {
            object::Architecture::X86_64 => KernelArch::X86_64,
            object::Architecture::I386 => KernelArch::I386,
            other => {
                return Err(DebugInfoError::NotX86 {
                    path: path.to_path_buf(),
                    arch: format!("{other:?}"),
                })
            }
        };
        let symbols = read_symbols(&obj);
        let banner = symbols
            .get(sym::LINUX_BANNER)
            .and_then(|s| read_banner(&obj, s));
        let build_id = obj.build_id().ok().flatten().map(<[u8]>::to_vec);
        let mut stats = ScanStats {
            symbols: symbols.len() as u64,
            ..ScanStats::default()
        };
        let structs = scan_dwarf(path, &obj, &symbols, &mut stats)?;
        stats.elapsed = started.elapsed();
        Ok(DebugInfo {
            path: path.to_path_buf(),
            arch,
            structs,
            symbols,
            banner,
            build_id,
            stats,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// x86_64 or i386.
    pub fn arch(&self) -> KernelArch {
        self.arch
    }
    /// The struct `name`, if it was wanted and found.
    pub fn struct_layout(&self, name: &str) -> Option<&StructLayout> {
        self.structs.get(name)
    }
    /// Every struct found, by name.
    pub fn structs(&self) -> &BTreeMap<String, StructLayout> {
        &self.structs
    }
    /// The symbol `name` (link-time value).
    pub fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(name)
    }
    /// The symbol `name`, or an error naming it.
    pub fn require_symbol(&self, name: &str) -> Result<&Symbol, DebugInfoError> {
        self.symbol(name)
            .ok_or_else(|| DebugInfoError::MissingSymbol {
                path: self.path.clone(),
                name: name.into(),
            })
    }
    /// What the scan cost.
    pub fn stats(&self) -> ScanStats {
        self.stats
    }
    /// `linux_banner` as stored in the file, up to its newline.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }
    /// The kernel release (`uname -r`), from `linux_banner` ("Linux version X …").
    pub fn release(&self) -> Option<&str> {
        release_of(self.banner.as_deref()?)
    }
    /// The GNU build-id (`.note.gnu.build-id`).
    pub fn build_id(&self) -> Option<&[u8]> {
        self.build_id.as_deref()
    }
    /// The build-id as lower-case hex, as VMCOREINFO's `BUILD-ID` spells it.
    pub fn build_id_hex(&self) -> Option<String> {
        self.build_id
            .as_ref()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
    }

    /// Refuse a file that is not the dumped kernel: compare the dump's VMCOREINFO
    /// `OSRELEASE` and `BUILD-ID` (either may be absent) with the file's. A value the
    /// dump has but the file lacks is a mismatch too.
    pub fn check_matches(
        &self,
        osrelease: Option<&str>,
        build_id: Option<&str>,
    ) -> Result<(), DebugInfoError> {
        let mismatch = |what, dump: &str, file: Option<&str>| DebugInfoError::Mismatch {
            path: self.path.clone(),
            what,
            dump: dump.to_string(),
            file: file.unwrap_or("not recorded").to_string(),
        };
        if let Some(dump) = osrelease {
            if self.release() != Some(dump.trim()) {
                return Err(mismatch("kernel release", dump.trim(), self.release()));
            }
        }
        if let Some(dump) = build_id {
            let file = self.build_id_hex();
            // VMCOREINFO's BUILD-ID is the note's bytes in hex; compare case-blind.
            if file.as_deref().map(str::to_ascii_lowercase)
                != Some(dump.trim().to_ascii_lowercase())
            {
                return Err(mismatch("build-id", dump.trim(), file.as_deref()));
            }
        }
        Ok(())
    }

    /// Is `s` one of x86_64's zero-based per-CPU symbols (not moved by KASLR)?
    pub fn is_zero_based_percpu(&self, s: &Symbol) -> bool {
        self.arch == KernelArch::X86_64
            && s.section.as_deref() == Some(PERCPU_SECTION)
            && self
                .symbol(sym::PER_CPU_START)
                .is_some_and(|start| start.address == 0)
    }

    /// Where symbol `s` is in the running kernel, `kaslr_offset` being VMCOREINFO's
    /// `KERNELOFFSET` (0 without KASLR). Zero-based per-CPU symbols keep their value.
    pub fn runtime_address(&self, s: &Symbol, kaslr_offset: u64) -> u64 {
        if self.is_zero_based_percpu(s) {
            return s.address;
        }
        let a = s.address.wrapping_add(kaslr_offset);
        match self.arch {
            KernelArch::X86_64 => a,
            KernelArch::I386 => a & 0xffff_ffff,
        }
    }

    /// The walker's layout (see [`KernelLayout::resolve`]).
    pub fn kernel_layout(&self) -> Result<KernelLayout, DebugInfoError> {
        KernelLayout::resolve(self).map_err(|source| match source {
            MissingLayout::Struct(name) => DebugInfoError::MissingStruct {
                path: self.path.clone(),
                name,
            },
            source => DebugInfoError::Layout {
                path: self.path.clone(),
                source,
            },
        })
    }
}

impl LayoutSource for DebugInfo {
    fn pointer_size(&self) -> u64 {
        match self.arch {
            KernelArch::X86_64 => 8,
            KernelArch::I386 => 4,
        }
    }
    fn struct_size(&self, name: &str) -> Option<u64> {
        self.structs.get(name).map(|s| s.size)
    }
    fn member(&self, struct_name: &str, path: &str) -> Option<Field> {
        self.structs.get(struct_name)?.member(path)
    }
    fn members(&self, struct_name: &str) -> Option<Vec<(String, Field)>> {
        self.structs.get(struct_name).map(|s| s.members.clone())
    }
}

/// The release in a banner: the word after "Linux version ".
pub fn release_of(banner: &str) -> Option<&str> {
    banner
        .strip_prefix("Linux version ")?
        .split_whitespace()
        .next()
}

fn read_symbols(obj: &object::File<'_>) -> HashMap<String, Symbol> {
    let mut out: HashMap<String, Symbol> = HashMap::new();
    for s in obj.symbols() {
        if s.is_undefined()
            || matches!(
                s.kind(),
                object::SymbolKind::File | object::SymbolKind::Section
            )
        {
            continue;
        }
        let Ok(name) = s.name() else { continue };
        if name.is_empty() {
            continue;
        }
        let section = s
            .section_index()
            .and_then(|i| obj.section_by_index(i).ok())
            .and_then(|sec| sec.name().ok().map(str::to_string));
        let new = Symbol {
            address: s.address(),
            size: s.size(),
            section,
            global: s.is_global(),
        };
        // Static symbols may share a name across files; a global one wins.
        match out.get(name) {
            Some(old) if old.global || !new.global => {}
            _ => {
                out.insert(name.to_string(), new);
            }
        }
    }
    out
}

fn read_banner(obj: &object::File<'_>, s: &Symbol) -> Option<String> {
    let want = if s.size == 0 {
        MAX_BANNER as u64
    } else {
        s.size.min(MAX_BANNER as u64)
    };
    let sec = obj.sections().find(|sec| {
        sec.address() <= s.address && s.address < sec.address().saturating_add(sec.size())
    })?;
    let end = sec.address().saturating_add(sec.size());
    let len = want.min(end - s.address);
    let bytes = sec.data_range(s.address, len).ok()??;
    let text = bytes.split(|&b| b == 0 || b == b'\n').next()?;
    Some(String::from_utf8_lossy(text).into_owned())
}

/// Which structs to look for, and when the scan may stop.
struct Wants {
    pcpu_hot: bool,
    frame: bool,
}

impl Wants {
    fn wanted(name: &[u8]) -> Option<&'static str> {
        STRUCTS.iter().copied().find(|s| s.as_bytes() == name)
    }

    /// Is every struct this kernel is expected to define found?
    fn done(&self, found: &BTreeMap<String, StructLayout>) -> bool {
        let has = |n: &str| found.contains_key(n);
        let Some(task) = found.get("task_struct") else {
            return false;
        };
        let needs_signal = task.member("signal").is_some() && task.member("thread_node").is_some();
        // Before 4.9 the CPU number is in a thread_info at the bottom of the stack.
        let needs_thread_info =
            task.member("cpu").is_none() && task.member("thread_info").is_none();
        has("list_head")
            && has("mm_struct")
            && has("thread_struct")
            && (!needs_signal || has("signal_struct"))
            && (!needs_thread_info || has("thread_info"))
            && (!self.frame || has("inactive_task_frame"))
            && (!self.pcpu_hot || has("pcpu_hot"))
    }
}

fn scan_dwarf(
    path: &Path,
    obj: &object::File<'_>,
    symbols: &HashMap<String, Symbol>,
    stats: &mut ScanStats,
) -> Result<BTreeMap<String, StructLayout>, DebugInfoError> {
    for sec in obj.sections() {
        let Ok(name) = sec.name() else { continue };
        if !(name.starts_with(".debug_") || name.starts_with(".zdebug_")) {
            continue;
        }
        let compressed = sec
            .compressed_file_range()
            .map(|r| r.format != object::CompressionFormat::None)
            .unwrap_or(false);
        if compressed || name.starts_with(".zdebug_") {
            let format = match sec.compressed_file_range().map(|r| r.format) {
                Ok(object::CompressionFormat::Zstandard) => "zstd",
                _ => "zlib",
            };
            return Err(DebugInfoError::Compressed {
                path: path.to_path_buf(),
                section: name.to_string(),
                format: format.into(),
            });
        }
    }
    let Some(info_sec) = obj.section_by_name(".debug_info") else {
        return Err(DebugInfoError::NoDebugInfo {
            path: path.to_path_buf(),
        });
    };
    stats.debug_info_size = info_sec.size();
    let endian = if obj.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Rd<'_>, gimli::Error> {
        let data = obj
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).map_err(|source| DebugInfoError::Dwarf {
        path: path.to_path_buf(),
        section: ".debug_*",
        unit: 0,
        source,
    })?;
    let wants = Wants {
        pcpu_hot: symbols.contains_key(sym::PCPU_HOT),
        frame: symbols.contains_key(sym::SWITCH_TO_ASM),
    };
    let mut scanner = Scanner {
        dwarf: &dwarf,
        path,
        units: HashMap::new(),
        unit_starts: None,
    };
    let mut found = BTreeMap::new();
    let mut headers = dwarf.units();
    loop {
        let header = match headers.next() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(source) => {
                return Err(scanner.dwarf_err(stats.debug_info_scanned, source));
            }
        };
        let Some(start) = header.offset().as_debug_info_offset() else {
            continue;
        };
        stats.units_scanned += 1;
        stats.debug_info_scanned = (start.0 + header.length_including_self()) as u64;
        let unit = Rc::new(
            dwarf
                .unit(header)
                .map_err(|e| scanner.dwarf_err(start.0 as u64, e))?,
        );
        scanner.remember(start, &unit);
        let hits = top_level_structs(&dwarf, &unit, &found)
            .map_err(|e| scanner.dwarf_err(start.0 as u64, e))?;
        for (name, die) in hits {
            let at = DieRef { unit: start, die };
            let nested: &[&str] = if name == "task_struct" {
                TASK_NESTED
            } else {
                &[]
            };
            if let Some(layout) = scanner.struct_layout(name, at, nested)? {
                found.insert(name.to_string(), layout);
            }
        }
        if wants.done(&found) {
            stats.stopped_early = stats.debug_info_scanned < stats.debug_info_size;
            break;
        }
    }
    Ok(found)
}

/// Wanted structs defined (not merely declared) at the top level of `unit` and not
/// found yet. Only top-level entries are parsed: their children are skipped.
fn top_level_structs(
    dwarf: &gimli::Dwarf<Rd<'_>>,
    unit: &Unit<'_>,
    found: &BTreeMap<String, StructLayout>,
) -> Result<Vec<(&'static str, UnitOffset)>, gimli::Error> {
    let mut hits: Vec<(&'static str, UnitOffset)> = Vec::new();
    let mut cursor = unit.entries();
    // The unit's root, then its first child.
    if cursor.next_dfs()?.is_none() {
        return Ok(hits);
    }
    match cursor.next_dfs()? {
        Some((1, _)) => {}
        _ => return Ok(hits),
    }
    while let Some(e) = cursor.current() {
        if e.tag() == gimli::DW_TAG_structure_type {
            if let Some(name) = e.attr_value(gimli::DW_AT_name)? {
                let name = dwarf.attr_string(unit, name)?;
                if let Some(want) = Wants::wanted(name.slice()) {
                    let declaration = e.attr_value(gimli::DW_AT_declaration)?.is_some();
                    if !declaration
                        && !found.contains_key(want)
                        && !hits.iter().any(|(n, _)| *n == want)
                    {
                        hits.push((want, e.offset()));
                    }
                }
            }
        }
        if cursor.next_sibling()?.is_none() {
            break;
        }
    }
    Ok(hits)
}

/// A DIE: the start of its unit in `.debug_info`, and its offset in that unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DieRef {
    unit: DebugInfoOffset,
    die: UnitOffset,
}

/// What a type reference comes to after typedefs and qualifiers.
#[derive(Clone, Copy, Debug, Default)]
struct TypeInfo {
    size: Option<u64>,
    /// The struct or union, when it is one.
    aggregate: Option<DieRef>,
}

/// A member before flattening.
struct RawMember {
    name: Option<String>,
    offset: u64,
    ty: Option<DieRef>,
}

/// A member after flattening, with its type kept for nested paths.
#[derive(Clone)]
struct Member {
    name: String,
    field: Field,
    ty: Option<DieRef>,
}

struct Scanner<'d, 'a> {
    dwarf: &'d gimli::Dwarf<Rd<'a>>,
    path: &'d Path,
    /// Parsed units by start offset (bounded; cleared when full).
    units: HashMap<DebugInfoOffset, Rc<Unit<'a>>>,
    /// Every unit's start, for `DW_FORM_ref_addr`; listed on first need.
    unit_starts: Option<Vec<DebugInfoOffset>>,
}

impl<'a> Scanner<'_, 'a> {
    fn dwarf_err(&self, unit: u64, source: gimli::Error) -> DebugInfoError {
        DebugInfoError::Dwarf {
            path: self.path.to_path_buf(),
            section: ".debug_info",
            unit,
            source,
        }
    }

    fn remember(&mut self, start: DebugInfoOffset, unit: &Rc<Unit<'a>>) {
        if self.units.len() >= UNIT_CACHE {
            self.units.clear();
        }
        self.units.insert(start, Rc::clone(unit));
    }

    fn unit(&mut self, start: DebugInfoOffset) -> Result<Rc<Unit<'a>>, DebugInfoError> {
        if let Some(u) = self.units.get(&start) {
            return Ok(Rc::clone(u));
        }
        let err = |e| self.dwarf_err(start.0 as u64, e);
        let header = self
            .dwarf
            .debug_info
            .header_from_offset(start)
            .map_err(err)?;
        let unit = Rc::new(self.dwarf.unit(header).map_err(err)?);
        self.remember(start, &unit);
        Ok(unit)
    }

    /// The unit holding section offset `off` (for `DW_FORM_ref_addr`).
    fn unit_containing(&mut self, off: DebugInfoOffset) -> Result<DieRef, DebugInfoError> {
        if self.unit_starts.is_none() {
            let mut starts = Vec::new();
            let mut it = self.dwarf.units();
            while let Some(h) = it.next().map_err(|e| self.dwarf_err(0, e))? {
                if let Some(s) = h.offset().as_debug_info_offset() {
                    starts.push(s);
                }
            }
            self.unit_starts = Some(starts);
        }
        let starts = self.unit_starts.as_deref().unwrap_or(&[]);
        let at = starts.partition_point(|s| s.0 <= off.0);
        let start = at
            .checked_sub(1)
            .map(|i| starts[i])
            .ok_or_else(|| self.unsupported(off.0 as u64, "a reference before the first unit"))?;
        let unit = self.unit(start)?;
        let die = off
            .to_unit_offset(&unit.header)
            .ok_or_else(|| self.unsupported(off.0 as u64, "a reference outside any unit"))?;
        Ok(DieRef { unit: start, die })
    }

    fn unsupported(&self, unit: u64, what: &'static str) -> DebugInfoError {
        DebugInfoError::Unsupported {
            path: self.path.to_path_buf(),
            unit,
            what,
        }
    }

    /// The DIE a reference attribute points at.
    fn reference(
        &mut self,
        from: DebugInfoOffset,
        value: AttributeValue<Rd<'a>>,
    ) -> Result<Option<DieRef>, DebugInfoError> {
        match value {
            AttributeValue::UnitRef(die) => Ok(Some(DieRef { unit: from, die })),
            AttributeValue::DebugInfoRef(off) => self.unit_containing(off).map(Some),
            AttributeValue::DebugTypesRef(_) => Err(self.unsupported(
                from.0 as u64,
                "type-unit signatures (DW_FORM_ref_sig8, -fdebug-types-section)",
            )),
            _ => Ok(None),
        }
    }

    /// Follow typedefs and qualifiers from `r` to a type with a size.
    fn type_info(&mut self, mut r: DieRef) -> Result<TypeInfo, DebugInfoError> {
        for _ in 0..MAX_TYPE_HOPS {
            let unit = self.unit(r.unit)?;
            let err = |e| self.dwarf_err(r.unit.0 as u64, e);
            let e = unit.entry(r.die).map_err(err)?;
            let byte_size = e
                .attr_value(gimli::DW_AT_byte_size)
                .map_err(err)?
                .and_then(|v| v.udata_value());
            let next = e.attr_value(gimli::DW_AT_type).map_err(err)?;
            let tag = e.tag();
            match tag {
                gimli::DW_TAG_structure_type
                | gimli::DW_TAG_union_type
                | gimli::DW_TAG_class_type => {
                    return Ok(TypeInfo {
                        size: byte_size,
                        aggregate: Some(r),
                    })
                }
                gimli::DW_TAG_pointer_type
                | gimli::DW_TAG_reference_type
                | gimli::DW_TAG_rvalue_reference_type
                | gimli::DW_TAG_ptr_to_member_type => {
                    return Ok(TypeInfo {
                        size: byte_size.or(Some(u64::from(unit.encoding().address_size))),
                        aggregate: None,
                    })
                }
                gimli::DW_TAG_base_type | gimli::DW_TAG_subroutine_type => {
                    return Ok(TypeInfo {
                        size: byte_size,
                        aggregate: None,
                    })
                }
                gimli::DW_TAG_array_type => {
                    let count = self.array_count(r)?;
                    let elem = match next {
                        Some(v) => match self.reference(r.unit, v)? {
                            Some(t) => self.type_info(t)?.size,
                            None => None,
                        },
                        None => None,
                    };
                    let size = byte_size.or_else(|| elem.zip(count).map(|(s, n)| s * n));
                    return Ok(TypeInfo {
                        size,
                        aggregate: None,
                    });
                }
                gimli::DW_TAG_enumeration_type if byte_size.is_some() => {
                    return Ok(TypeInfo {
                        size: byte_size,
                        aggregate: None,
                    })
                }
                _ => {}
            }
            // typedef, const, volatile, restrict, atomic, an enum without a size: follow.
            match next {
                Some(v) => match self.reference(r.unit, v)? {
                    Some(t) => r = t,
                    None => return Ok(TypeInfo::default()),
                },
                // `const void`, a typedef of nothing: no size.
                None => return Ok(TypeInfo::default()),
            }
        }
        Ok(TypeInfo::default())
    }

    /// Elements in an array type: the product of its dimensions.
    fn array_count(&mut self, r: DieRef) -> Result<Option<u64>, DebugInfoError> {
        let unit = self.unit(r.unit)?;
        let err = |e| self.dwarf_err(r.unit.0 as u64, e);
        let mut tree = unit.entries_tree(Some(r.die)).map_err(err)?;
        let root = tree.root().map_err(err)?;
        let mut children = root.children();
        let mut total: Option<u64> = None;
        while let Some(child) = children.next().map_err(err)? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_subrange_type {
                continue;
            }
            let count = if let Some(c) = e.attr_value(gimli::DW_AT_count).map_err(err)? {
                c.udata_value()
            } else if let Some(ub) = e.attr_value(gimli::DW_AT_upper_bound).map_err(err)? {
                // A flexible array (`x[]`) has upper bound -1, or none at all.
                match ub.sdata_value() {
                    Some(n) if n >= 0 => Some(n as u64 + 1),
                    _ => Some(0),
                }
            } else {
                Some(0)
            };
            let n = count.unwrap_or(0);
            total = Some(total.unwrap_or(1).saturating_mul(n));
        }
        Ok(total)
    }

    /// The members of the struct or union at `r`, anonymous ones flattened.
    fn members(&mut self, r: DieRef, depth: usize) -> Result<Vec<Member>, DebugInfoError> {
        let raw = self.raw_members(r)?;
        let mut out = Vec::with_capacity(raw.len());
        for m in raw {
            let info = match m.ty {
                Some(t) => self.type_info(t)?,
                None => TypeInfo::default(),
            };
            match (m.name, info.aggregate) {
                (Some(name), _) => out.push(Member {
                    name,
                    field: Field::new(m.offset, info.size.unwrap_or(0)),
                    ty: m.ty,
                }),
                // An anonymous struct or union: its members belong to this struct.
                (None, Some(agg)) if depth < MAX_NESTING => {
                    for inner in self.members(agg, depth + 1)? {
                        out.push(Member {
                            field: Field::new(
                                m.offset.saturating_add(inner.field.offset),
                                inner.field.size,
                            ),
                            ..inner
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn raw_members(&mut self, r: DieRef) -> Result<Vec<RawMember>, DebugInfoError> {
        let unit = self.unit(r.unit)?;
        let err = |e| self.dwarf_err(r.unit.0 as u64, e);
        let mut tree = unit.entries_tree(Some(r.die)).map_err(err)?;
        let root = tree.root().map_err(err)?;
        let mut children = root.children();
        let mut raw = Vec::new();
        let mut refs = Vec::new();
        while let Some(child) = children.next().map_err(err)? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_member {
                continue;
            }
            let name = match e.attr_value(gimli::DW_AT_name).map_err(err)? {
                Some(v) => Some(
                    self.dwarf
                        .attr_string(&unit, v)
                        .map_err(err)?
                        .to_string_lossy()
                        .into_owned(),
                ),
                None => None,
            };
            let offset = match e
                .attr_value(gimli::DW_AT_data_member_location)
                .map_err(err)?
            {
                Some(v) => location(v, unit.encoding()).map_err(err)?,
                // A bit field (DWARF 4+): the byte holding its first bit.
                None => e
                    .attr_value(gimli::DW_AT_data_bit_offset)
                    .map_err(err)?
                    .and_then(|v| v.udata_value())
                    .map_or(0, |bits| bits / 8),
            };
            refs.push(e.attr_value(gimli::DW_AT_type).map_err(err)?);
            raw.push(RawMember {
                name,
                offset,
                ty: None,
            });
        }
        for (m, v) in raw.iter_mut().zip(refs) {
            if let Some(v) = v {
                m.ty = self.reference(r.unit, v)?;
            }
        }
        Ok(raw)
    }

    /// Read the struct `name` at `at`, resolving `nested` member paths.
    fn struct_layout(
        &mut self,
        name: &str,
        at: DieRef,
        nested: &[&str],
    ) -> Result<Option<StructLayout>, DebugInfoError> {
        let Some(size) = self.type_info(at)?.size else {
            return Ok(None);
        };
        let members = self.members(at, 0)?;
        let mut resolved = BTreeMap::new();
        for path in nested {
            if let Some(f) = self.nested(&members, path)? {
                resolved.insert(path.to_string(), f);
            }
        }
        Ok(Some(StructLayout {
            name: name.to_string(),
            size,
            members: members.into_iter().map(|m| (m.name, m.field)).collect(),
            nested: resolved,
        }))
    }

    /// Resolve `a.b.c` through member types.
    fn nested(&mut self, members: &[Member], path: &str) -> Result<Option<Field>, DebugInfoError> {
        let mut parts = path.split('.');
        let Some(first) = parts.next() else {
            return Ok(None);
        };
        let Some(mut cur) = members.iter().find(|m| m.name == first).cloned() else {
            return Ok(None);
        };
        let mut base = 0u64;
        for (depth, part) in parts.enumerate() {
            if depth >= MAX_NESTING {
                return Ok(None);
            }
            let Some(ty) = cur.ty else { return Ok(None) };
            let Some(agg) = self.type_info(ty)?.aggregate else {
                return Ok(None);
            };
            base = base.saturating_add(cur.field.offset);
            let inner = self.members(agg, 0)?;
            let Some(next) = inner.into_iter().find(|m| m.name == part) else {
                return Ok(None);
            };
            cur = next;
        }
        Ok(Some(Field::new(
            base.saturating_add(cur.field.offset),
            cur.field.size,
        )))
    }
}

/// A `DW_AT_data_member_location`: a constant, or (DWARF 2) an expression that adds
/// a constant to the struct's address.
fn location(v: AttributeValue<Rd<'_>>, encoding: gimli::Encoding) -> Result<u64, gimli::Error> {
    if let Some(n) = v.udata_value() {
        return Ok(n);
    }
    if let AttributeValue::Exprloc(expr) = v {
        let mut ops = expr.operations(encoding);
        let mut total = 0u64;
        while let Some(op) = ops.next()? {
            match op {
                Operation::PlusConstant { value } | Operation::UnsignedConstant { value } => {
                    total = total.wrapping_add(value)
                }
                Operation::SignedConstant { value } => total = total.wrapping_add(value as u64),
                _ => {}
            }
        }
        return Ok(total);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_is_the_word_after_linux_version() {
        assert_eq!(
            release_of("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12)"),
            Some("6.1.0-18-amd64")
        );
        assert_eq!(release_of("Linux version "), None);
        assert_eq!(release_of("FreeBSD 14.0"), None);
    }

    #[test]
    fn garbage_is_refused_as_not_elf_with_the_path() {
        let e = DebugInfo::parse(Path::new("/x/vmlinux"), b"not an elf file at all").unwrap_err();
        assert!(matches!(e, DebugInfoError::Elf { .. }), "{e}");
        assert!(e.to_string().starts_with("/x/vmlinux: "), "{e}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let e = DebugInfo::open("/nonexistent/vmlinux-xd").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/vmlinux-xd"), "{e}");
    }
}

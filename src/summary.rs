//! A readable summary of a dump: what `info` and `monitor info` print.

use std::fmt;

use serde::Serialize;

use crate::dump::stream::Container;
use crate::dump::{ContextLayout, DumpFormat, GuestKind, SavedImage, Width};
use crate::memory::{Guest, LegacyLayout, RootSource};
use crate::os::linux::kernel::{LinuxKernel, TaskRegisters};
use crate::os::linux::{find_vmcoreinfo, KernelMap, ScanDepth};

/// Everything `info` reports, ready for text or JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub format: &'static str,
    pub format_version: Option<String>,
    pub elf_class: Option<u8>,
    pub elf_machine: Option<u16>,
    pub magic: String,
    pub xen_version: Option<String>,
    pub xen_capabilities: Option<String>,
    pub xen_changeset: Option<String>,
    pub hypervisor_64bit: Option<bool>,
    pub tools_width: Option<u8>,
    pub guest_kind: &'static str,
    pub guest_width: u8,
    pub context_layout: &'static str,
    pub register_layout: &'static str,
    pub page_size: u64,
    pub page_slots: u64,
    pub pages: u64,
    pub pages_in_file: u64,
    pub pfn_range: Option<[String; 2]>,
    pub mfn_range: Option<[String; 2]>,
    pub index_bytes: usize,
    pub vcpus: Vec<VcpuSummary>,
    /// Saved images: what the stream says of itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_image: Option<SavedImage>,
    /// Legacy HVM dumps: the slot → pfn rule in use, and how each rule checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_hvm_layout: Option<LegacyLayout>,
    pub warnings: Vec<String>,
    /// The guest kernel's mappings and VMCOREINFO ([`Summary::with_kernel`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSummary>,
    /// The guest's Linux kernel read with its vmlinux ([`Summary::with_linux`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<LinuxSummary>,
}

/// What the vmlinux and the task walk found.
#[derive(Clone, Debug, Serialize)]
pub struct LinuxSummary {
    pub vmlinux: String,
    pub release: Option<String>,
    pub build_id: Option<String>,
    pub kaslr_offset: String,
    pub kaslr_source: &'static str,
    /// How to load the vmlinux in gdb.
    pub gdb_command: String,
    pub tasks: usize,
    pub running: usize,
    /// Sleeping tasks whose saved registers could not be read.
    pub without_registers: usize,
    /// Did the walk follow every list to its end?
    pub complete: bool,
    pub reads: u64,
    pub elapsed_ms: f64,
    /// Every task: pid, ppid, state, vCPU, comm, task_struct address.
    pub task_list: Vec<TaskSummary>,
    pub warnings: Vec<String>,
}

/// One task.
#[derive(Clone, Debug, Serialize)]
pub struct TaskSummary {
    pub pid: i32,
    pub tgid: i32,
    pub ppid: Option<i32>,
    pub state: char,
    pub vcpu: Option<usize>,
    pub comm: String,
    pub address: String,
    pub kernel_thread: bool,
}

/// What the guest's page tables and VMCOREINFO say about its kernel.
#[derive(Clone, Debug, Serialize)]
pub struct KernelSummary {
    /// Virtual address of guest-physical 0 (`PAGE_OFFSET`).
    pub direct_map: Option<String>,
    /// The x86_64 kernel image mapping.
    pub image: Option<ImageSummary>,
    /// Where VMCOREINFO was looked for.
    pub vmcoreinfo_search: &'static str,
    pub vmcoreinfo: Option<VmcoreinfoSummary>,
}

/// The kernel image mapping (x86_64).
#[derive(Clone, Debug, Serialize)]
pub struct ImageSummary {
    pub va: String,
    pub pa: String,
    pub size: u64,
    /// `pa - (va - __START_KERNEL_map)`, as crash derives it.
    pub phys_base: i64,
}

/// The guest's VMCOREINFO note.
#[derive(Clone, Debug, Serialize)]
pub struct VmcoreinfoSummary {
    /// Guest-physical address of the note.
    pub phys_addr: String,
    pub found: &'static str,
    pub osrelease: Option<String>,
    pub page_size: Option<u64>,
    /// `KERNELOFFSET`: the KASLR offset.
    pub kernel_offset: Option<String>,
    /// `NUMBER(phys_base)`.
    pub phys_base: Option<i64>,
    /// How to load a matching vmlinux in gdb.
    pub gdb_command: String,
    /// The whole note text.
    pub text: String,
}

/// `-0x1000` rather than a two's complement.
fn signed_hex(v: i64) -> String {
    if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

/// One vCPU's line in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct VcpuSummary {
    pub slot: usize,
    pub online: bool,
    /// Does the file hold this vCPU's registers? (A saved image skips vCPUs that were
    /// down.)
    pub registers_saved: bool,
    /// EFER, when the file records it (HVM saved images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efer: Option<String>,
    pub mode: &'static str,
    pub rip: String,
    pub rsp: String,
    /// CR3 as the guest had it; `None` when the dump cannot tell.
    pub cr3: Option<String>,
    /// CR3 as the dump stores it, when that differs (legacy HVM: a machine address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cr3_stored: Option<String>,
    pub root_frame: Option<String>,
    pub root_frame_space: &'static str,
    pub paging: String,
    pub paging_source: &'static str,
    /// "cr3", or "kernel" when the vCPU's CR3 could not be used.
    pub root_source: &'static str,
    /// Why the vCPU's CR3 could not be used, and what is read instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_note: Option<String>,
}

fn width_bits(w: Width) -> u8 {
    match w {
        Width::Bits32 => 32,
        Width::Bits64 => 64,
    }
}

impl Summary {
    /// Summarise `guest`.
    pub fn of(guest: &Guest) -> Summary {
        let d = guest.dump();
        let hex = |v: u64| format!("{v:#x}");
        let vcpus = guest
            .vcpus()
            .iter()
            .map(|v| {
                let space = guest.vcpu_space(v.slot);
                let cr3 = guest.guest_cr3(v.slot);
                let info = guest.root_info(v.slot);
                VcpuSummary {
                    slot: v.slot,
                    online: v.online(),
                    registers_saved: v.recorded,
                    efer: v.efer.map(hex),
                    mode: if v.kernel_mode() { "kernel" } else { "user" },
                    rip: hex(v.rip),
                    rsp: hex(v.gprs.rsp),
                    cr3: cr3.map(hex),
                    cr3_stored: (cr3 != Some(v.cr3())).then(|| hex(v.cr3())),
                    root_frame: space.and_then(|s| s.root).map(|r| {
                        if r.offset == 0 {
                            hex(r.frame)
                        } else {
                            format!("{:#x}+{:#x}", r.frame, r.offset)
                        }
                    }),
                    root_frame_space: match d.table_frame_space() {
                        crate::dump::FrameSpace::Guest => "pfn",
                        crate::dump::FrameSpace::Machine => "mfn",
                    },
                    paging: space.map_or("?".into(), |s| s.mode.to_string()),
                    paging_source: space.map_or("?", |s| s.mode_source),
                    root_source: match info.map(|i| &i.source) {
                        Some(RootSource::Kernel { .. }) => "kernel",
                        _ => "cr3",
                    },
                    root_note: info.and_then(|i| match (&i.source, i.problem) {
                        (RootSource::Kernel { how }, Some(p)) => {
                            Some(format!("{}: reads go through {how}", p.describe()))
                        }
                        (RootSource::Kernel { how }, None) => Some(format!("reads go through {how}")),
                        (RootSource::Cr3, Some(p)) => Some(p.describe().to_string()),
                        (RootSource::Cr3, None) => i
                            .guessed_offset
                            .filter(|_| space.is_some_and(|s| s.mode == crate::memory::PagingMode::Pae))
                            .map(|o| format!("PAE: the PDPT's offset in its page is not in the dump; the one at +{o:#x} is used")),
                    }),
                }
            })
            .collect();
        Summary {
            format: match (d.format(), d.saved_image().map(|s| s.container)) {
                (DumpFormat::Elf, _) => "ELF xc_core",
                (DumpFormat::Legacy, _) => "legacy xc_core (pre-ELF, Xen 3.0.x)",
                (DumpFormat::SavedImage, Some(Container::Xl)) => {
                    "xl save image (libxl stream, libxc migration stream)"
                }
                (DumpFormat::SavedImage, Some(Container::Libxl)) => {
                    "libxl stream (libxc migration stream inside)"
                }
                (DumpFormat::SavedImage, _) => "libxc migration stream",
            },
            format_version: d
                .format_version()
                .map(|v| format!("{}.{}", v >> 32, v & 0xffff_ffff)),
            elf_class: d.elf_class64().map(|c| if c { 64 } else { 32 }),
            elf_machine: d.elf_machine(),
            magic: match d.saved_image() {
                Some(s) => format!("XENF, stream version {}", s.libxc_version),
                None => format!("{:#x}", d.magic()),
            },
            xen_version: match d.saved_image() {
                Some(s) if s.xen_major == 0 => Some(format!(
                    "unknown (converted from a legacy stream by version {})",
                    s.xen_minor
                )),
                Some(s) => Some(format!("{}.{}", s.xen_major, s.xen_minor)),
                None => d.xen_version().map(|v| v.version_string()),
            },
            xen_capabilities: d.xen_version().map(|v| v.capabilities.clone()),
            xen_changeset: d
                .xen_version()
                .map(|v| v.changeset.clone())
                .filter(|c| !c.is_empty()),
            hypervisor_64bit: d.hypervisor_64bit(),
            tools_width: d.tools_width().map(width_bits),
            guest_kind: match d.guest_kind() {
                GuestKind::Pv => "PV",
                GuestKind::Hvm => "HVM/PVH",
            },
            guest_width: width_bits(guest.guest_width()),
            context_layout: match d.context_layout() {
                ContextLayout::X86_64 => "x86_64",
                ContextLayout::X86_32 => "x86_32",
            },
            register_layout: match guest.guest_width() {
                Width::Bits64 => "amd64 (i386:x86-64)",
                Width::Bits32 => "i386",
            },
            page_size: d.page_size(),
            page_slots: d.page_count(),
            pages: d.valid_page_count(),
            pages_in_file: d.pages_present(),
            pfn_range: d.pfn_range().map(|(a, b)| [hex(a.0), hex(b.0)]),
            mfn_range: d.mfn_range().map(|(a, b)| [hex(a.0), hex(b.0)]),
            index_bytes: d.index_bytes(),
            vcpus,
            saved_image: d.saved_image().cloned(),
            legacy_hvm_layout: guest.legacy_layout().cloned(),
            warnings: {
                let mut w = d.warnings().to_vec();
                w.extend_from_slice(guest.warnings());
                let faults = d.mapping_faults();
                if faults > 0 {
                    w.push(format!(
                        "the dump file shrank while in use ({faults} faults contained): bytes past its new end read as errors"
                    ));
                }
                w
            },
            kernel: None,
            linux: None,
        }
    }

    /// Add what `linux` (the vmlinux and its task walk) found.
    pub fn with_linux(mut self, linux: &LinuxKernel) -> Summary {
        let walk = &linux.walk;
        self.linux = Some(LinuxSummary {
            vmlinux: linux.vmlinux.clone(),
            release: linux.release.clone(),
            build_id: linux.build_id.clone(),
            kaslr_offset: format!("{:#x}", linux.kaslr_offset),
            kaslr_source: linux.offset_source.describe(),
            gdb_command: linux.gdb_command(),
            tasks: walk.tasks.len(),
            running: walk.tasks.iter().filter(|t| t.running_on.is_some()).count(),
            without_registers: linux
                .views
                .iter()
                .filter(|v| {
                    matches!(v.registers, TaskRegisters::Saved(_)) && v.registers_error.is_some()
                })
                .count(),
            complete: walk.complete,
            reads: walk.reads,
            elapsed_ms: linux.elapsed.as_secs_f64() * 1e3,
            task_list: walk
                .tasks
                .iter()
                .map(|t| TaskSummary {
                    pid: t.pid,
                    tgid: t.tgid,
                    ppid: t.ppid,
                    state: t.state,
                    vcpu: t.running_on,
                    comm: t.comm.clone(),
                    address: format!("{:#x}", t.address),
                    kernel_thread: t.kernel_thread,
                })
                .collect(),
            warnings: linux.warnings.clone(),
        });
        self
    }

    /// Add what the guest's page tables show of its kernel, and its VMCOREINFO note
    /// searched to `depth` (quick: the kernel image only, cheap enough for every
    /// `info`; full: all memory).
    pub fn with_kernel(mut self, guest: &Guest, depth: ScanDepth) -> Summary {
        let hex = |v: u64| format!("{v:#x}");
        let map = KernelMap::detect(guest);
        let info = find_vmcoreinfo(guest, &map, depth);
        self.kernel = Some(KernelSummary {
            direct_map: map.direct_map.map(|d| hex(d.base)),
            image: map.text.map(|t| ImageSummary {
                va: hex(t.va),
                pa: hex(t.pa),
                size: t.size,
                phys_base: t.phys_base(),
            }),
            vmcoreinfo_search: match depth {
                ScanDepth::Quick => "kernel image",
                ScanDepth::Full => "kernel image, then all memory",
            },
            vmcoreinfo: info.map(|i| VmcoreinfoSummary {
                phys_addr: hex(i.note_pa),
                found: i.found_by.describe(),
                osrelease: i.osrelease().map(str::to_string),
                page_size: i.page_size(),
                kernel_offset: i.kernel_offset().map(hex),
                phys_base: i.phys_base(),
                gdb_command: i.gdb_command(),
                text: i.text.clone(),
            }),
        });
        self
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        writeln!(f, "format:          {}", self.format)?;
        if let Some(v) = &self.format_version {
            writeln!(f, "format version:  {v}")?;
        }
        if let (Some(c), Some(m)) = (self.elf_class, self.elf_machine) {
            writeln!(f, "ELF:             class {c}, e_machine {m}")?;
        }
        writeln!(f, "magic:           {}", self.magic)?;
        writeln!(f, "Xen version:     {}", opt(&self.xen_version))?;
        writeln!(f, "capabilities:    {}", opt(&self.xen_capabilities))?;
        if let Some(c) = &self.xen_changeset {
            writeln!(f, "changeset:       {c}")?;
        }
        if let Some(t) = self.tools_width {
            writeln!(f, "dom0 tools:      {t}-bit")?;
        }
        writeln!(
            f,
            "guest:           {}, {}-bit (contexts {}, registers {})",
            self.guest_kind, self.guest_width, self.context_layout, self.register_layout
        )?;
        writeln!(f, "page size:       {}", self.page_size)?;
        writeln!(
            f,
            "pages:           {} ({} MiB){}{}",
            self.pages,
            (self.pages * self.page_size) >> 20,
            if self.page_slots != self.pages {
                format!(", {} slots incl. padding", self.page_slots)
            } else {
                String::new()
            },
            if self.pages_in_file < self.page_slots {
                format!(", only {} in the file", self.pages_in_file)
            } else {
                String::new()
            }
        )?;
        match &self.pfn_range {
            Some([a, b]) => writeln!(f, "pfn range:       {a} .. {b}")?,
            None => writeln!(f, "pfn range:       unknown (no p2m in this dump)")?,
        }
        match (&self.mfn_range, &self.saved_image) {
            (Some([a, b]), _) => writeln!(f, "mfn range:       {a} .. {b}")?,
            (None, Some(_)) => writeln!(
                f,
                "mfn range:       unknown (a saved image names pages by pfn only)"
            )?,
            (None, None) => writeln!(
                f,
                "mfn range:       unknown (HVM dumps record guest frames only)"
            )?,
        }
        if let Some(s) = &self.saved_image {
            write_saved(f, s, self.pages)?;
        }
        if let Some(l) = &self.legacy_hvm_layout {
            writeln!(f, "slot -> pfn:     {}", l.describe())?;
            for c in l.checks.iter().filter(|c| c.rule != l.rule) {
                writeln!(
                    f,
                    "  also tried:    {} ({} of {} page tables reached check)",
                    c.rule, c.tables_ok, c.tables_checked
                )?;
            }
            if let Some(k) = &l.kernel_check {
                writeln!(f, "  kernel check:  {k}")?;
            }
        }
        writeln!(f, "vCPUs:           {}", self.vcpus.len())?;
        for v in &self.vcpus {
            if !v.registers_saved {
                writeln!(
                    f,
                    "  vCPU {:<3} offline (no registers saved: the vCPU was down)",
                    v.slot
                )?;
                continue;
            }
            writeln!(
                f,
                "  vCPU {:<3} {:<7} {:<6} rip {:<18} rsp {:<18} cr3 {:<18} ({} {}) {} [{}]",
                v.slot,
                if v.online { "online" } else { "offline" },
                v.mode,
                v.rip,
                v.rsp,
                v.cr3.as_deref().unwrap_or("unknown"),
                v.root_frame_space,
                v.root_frame.as_deref().unwrap_or("-"),
                v.paging,
                v.paging_source
            )?;
            if let Some(c) = &v.cr3_stored {
                writeln!(f, "           stored cr3 {c} (a machine address)")?;
            }
            if let Some(e) = &v.efer {
                writeln!(f, "           efer {e}")?;
            }
            if let Some(n) = &v.root_note {
                writeln!(f, "           root: {n}")?;
            }
        }
        if let Some(k) = &self.kernel {
            write_kernel(f, k)?;
        }
        if let Some(l) = &self.linux {
            write_linux(f, l)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

fn write_saved(f: &mut fmt::Formatter<'_>, s: &SavedImage, pages: u64) -> fmt::Result {
    let mut container = match s.container {
        Container::Xl => "xl header".to_string(),
        Container::Libxl => "no xl header".to_string(),
        Container::Libxc => "bare".to_string(),
    };
    if let Some(x) = &s.xl {
        container.push_str(&format!(
            " (flags {:#x}/{:#x}, {} bytes of optional data)",
            x.mandatory_flags, x.optional_flags, x.optional_data_len
        ));
    }
    if let Some(v) = s.libxl_version {
        container.push_str(&format!(
            ", libxl stream v{v}{}",
            if s.libxl_from_legacy {
                " (converted from a legacy stream)"
            } else {
                ""
            }
        ));
    }
    writeln!(
        f,
        "saved image:     {container}, libxc stream v{} at offset {:#x}: {}",
        s.libxc_version, s.libxc_offset, s.domain_type
    )?;
    if let Some(c) = s.xl.as_ref().and_then(|x| x.config.as_ref()) {
        let mut line = format!(
            "{} bytes{}",
            c.bytes,
            if c.json { " of JSON" } else { " (not JSON)" }
        );
        if let Some(n) = &c.name {
            line.push_str(&format!(", name {n:?}"));
        }
        if let Some(t) = &c.domain_type {
            line.push_str(&format!(", type {t}"));
        }
        if let Some(n) = c.max_vcpus {
            line.push_str(&format!(", {n} vCPUs"));
        }
        if let Some(a) = &c.avail_vcpus {
            line.push_str(&format!(" ({} online)", a.len()));
        }
        if let Some(m) = c.max_memkb {
            line.push_str(&format!(", {} MiB", m >> 10));
        }
        if let Some(u) = &c.uuid {
            line.push_str(&format!(", uuid {u}"));
        }
        writeln!(f, "  config:        {line}")?;
    }
    writeln!(
        f,
        "  stream:        {}{}",
        if s.complete {
            "complete (END record)"
        } else {
            "INCOMPLETE (no END record)"
        },
        match (s.checkpoints, s.dropped_pages) {
            (0, _) => String::new(),
            (n, 0) => format!(", {n} checkpoints: the last is served"),
            (n, d) =>
                format!(", {n} checkpoints: the last is served, {d} page copies after it dropped"),
        }
    )?;
    let records: Vec<String> = s
        .records
        .iter()
        .map(|r| format!("{} {}×{}", r.layer, r.name, r.count))
        .collect();
    writeln!(f, "  records:       {}", records.join(", "))?;
    if s.skipped_optional > 0 {
        writeln!(
            f,
            "                 {} optional records of unknown types skipped",
            s.skipped_optional
        )?;
    }
    let types: Vec<String> = s
        .page_types
        .iter()
        .map(|t| format!("{} {}", t.page_type, t.count))
        .collect();
    writeln!(
        f,
        "  page copies:   {} for {} pages{}{}; types {}",
        s.page_copies,
        s.pages,
        if s.pages_without_data > 0 {
            format!(", {} pfns without data", s.pages_without_data)
        } else {
            String::new()
        },
        if s.verify_pages > 0 {
            format!(", {} verify copies (compared, not served)", s.verify_pages)
        } else {
            String::new()
        },
        types.join(", ")
    )?;
    writeln!(
        f,
        "  page index:    {} bytes, {} batches{} ({:.3} bytes/page)",
        s.index_bytes,
        s.index_batches,
        s.index_runs
            .map_or(", one entry a page".to_string(), |r| format!(", {r} runs")),
        s.index_bytes as f64 / pages.max(1) as f64
    )?;
    if let Some(pv) = &s.pv {
        writeln!(
            f,
            "  PV:            {}-bit, {} page-table levels{}",
            u32::from(pv.guest_width) * 8,
            pv.pt_levels,
            match pv.p2m_pfns {
                Some((a, b)) => format!(
                    ", p2m of pfns {a:#x}..{b:#x} in {} frames (pfns {})",
                    pv.p2m_frames.len(),
                    pv.p2m_frames
                        .iter()
                        .take(4)
                        .map(|p| format!("{p:#x}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                        + if pv.p2m_frames.len() > 4 { " …" } else { "" }
                ),
                None => ", no p2m frame list".to_string(),
            }
        )?;
    }
    if let Some(t) = &s.tsc {
        writeln!(
            f,
            "  TSC:           mode {}, {} kHz, {} ns elapsed, incarnation {}",
            t.mode, t.khz, t.nsec, t.incarnation
        )?;
    }
    if !s.hvm_params.is_empty() {
        let p: Vec<String> = s
            .hvm_params
            .iter()
            .map(|p| format!("{} {:#x}", p.name, p.value))
            .collect();
        writeln!(f, "  HVM params:    {}", p.join(", "))?;
    }
    if let Some(c) = &s.hvm_context {
        let e: Vec<String> = c
            .entries
            .iter()
            .map(|e| format!("{}×{}", e.name, e.count))
            .collect();
        writeln!(
            f,
            "  HVM context:   {} bytes{}: {}",
            c.bytes,
            match &c.header {
                Some(h) => format!(
                    " (saved by changeset {:#x}, cpuid {:#x}, guest TSC {} kHz)",
                    h.changeset, h.cpuid, h.gtsc_khz
                ),
                None => String::new(),
            },
            e.join(", ")
        )?;
    }
    for x in &s.vcpu_extras {
        writeln!(
            f,
            "  vCPU {} extras: extended {} bytes, xsave {} bytes, {} MSRs",
            x.vcpu, x.extended, x.xsave, x.msrs
        )?;
    }
    for e in &s.emulator {
        writeln!(
            f,
            "  emulator:      {} (emulator {}, index {}), {} bytes",
            e.kind, e.emulator, e.index, e.bytes
        )?;
    }
    if s.cpuid_leaves.is_some() || s.msr_entries.is_some() {
        writeln!(
            f,
            "  CPU policy:    {} CPUID leaves, {} MSRs",
            s.cpuid_leaves.unwrap_or(0),
            s.msr_entries.unwrap_or(0)
        )?;
    }
    Ok(())
}

fn write_linux(f: &mut fmt::Formatter<'_>, l: &LinuxSummary) -> fmt::Result {
    writeln!(
        f,
        "vmlinux:         {} ({}, build-id {}): matches the dump",
        l.vmlinux,
        l.release.as_deref().unwrap_or("release unknown"),
        l.build_id.as_deref().unwrap_or("none")
    )?;
    writeln!(
        f,
        "  KASLR offset   {} ({})",
        l.kaslr_offset, l.kaslr_source
    )?;
    writeln!(f, "  gdb:           {}", l.gdb_command)?;
    writeln!(
        f,
        "  tasks          {} ({} running on a vCPU{}), {} in {:.1} ms ({} reads)",
        l.tasks,
        l.running,
        if l.without_registers > 0 {
            format!(", {} without saved registers", l.without_registers)
        } else {
            String::new()
        },
        if l.complete {
            "walk complete"
        } else {
            "walk INCOMPLETE"
        },
        l.elapsed_ms,
        l.reads
    )?;
    for w in &l.warnings {
        writeln!(f, "warning: Linux: {w}")?;
    }
    Ok(())
}

fn write_kernel(f: &mut fmt::Formatter<'_>, k: &KernelSummary) -> fmt::Result {
    writeln!(
        f,
        "direct map:      {}",
        k.direct_map
            .as_deref()
            .unwrap_or("not found in the page tables")
    )?;
    if let Some(i) = &k.image {
        writeln!(
            f,
            "kernel image:    {} = phys {}, {:#x} bytes (phys_base {})",
            i.va,
            i.pa,
            i.size,
            signed_hex(i.phys_base)
        )?;
    }
    match &k.vmcoreinfo {
        None => writeln!(
            f,
            "VMCOREINFO:      not found (searched: {}{})",
            k.vmcoreinfo_search,
            if k.vmcoreinfo_search == "kernel image" {
                "; `info --vmcoreinfo full` searches all memory"
            } else {
                ""
            }
        )?,
        Some(v) => {
            writeln!(
                f,
                "VMCOREINFO:      at phys {}, found {}",
                v.phys_addr, v.found
            )?;
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            writeln!(f, "  OSRELEASE      {}", opt(&v.osrelease))?;
            if let Some(p) = v.page_size {
                writeln!(f, "  PAGESIZE       {p}")?;
            }
            writeln!(
                f,
                "  KERNELOFFSET   {}",
                match &v.kernel_offset {
                    Some(o) if o == "0x0" => "0x0 (no KASLR offset)".to_string(),
                    Some(o) => format!("{o} (KASLR)"),
                    None => "- (not recorded)".to_string(),
                }
            )?;
            if let Some(p) = v.phys_base {
                writeln!(f, "  phys_base      {}", signed_hex(p))?;
            }
            writeln!(f, "  gdb:           {}", v.gdb_command)?;
        }
    }
    Ok(())
}

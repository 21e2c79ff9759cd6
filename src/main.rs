//! `xendump-gdbserver`: serve a Xen core dump to gdb, or summarise it.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use xendump_gdbserver::convert::{
    apply_vmlinux, convert_file, recover_pfns, ConvertOptions, NoProgress, PfnRecovery, Progress,
    VmcoreinfoScan,
};
use xendump_gdbserver::dump::{Width, XenDump};
use xendump_gdbserver::gdb::monitor::COMMANDS;
use xendump_gdbserver::gdb::session::{SessionConfig, DEFAULT_PACKET_SIZE};
use xendump_gdbserver::memory::{Guest, GuestOptions, PagingOverride, CACHE_SLOTS};
use xendump_gdbserver::os::linux::debuginfo::DebugInfo;
use xendump_gdbserver::os::linux::{
    apply_kernel_view, KernelError, KernelOptions, LinuxKernel, P2mList, ScanDepth,
};
use xendump_gdbserver::server::{self, ServerConfig};
use xendump_gdbserver::summary::Summary;
use xendump_gdbserver::threads::Debuggee;

const AFTER_HELP: &str = "\
Examples:
  xendump-gdbserver guest.core                 serve on 127.0.0.1:1234
  gdb -x gdbinit vmlinux                       connect (or: gdb vmlinux -ex 'target remote :1234')
  xendump-gdbserver --listen 0.0.0.0:2000 guest.core
                                               serve on every interface (the dump becomes
                                               readable by anyone who can reach that port)
  xendump-gdbserver info guest.core            what is in the dump: format, Xen version,
                                               guest kind and width, pages, vCPUs
  xendump-gdbserver info --json guest.core     the same, for scripts
  xendump-gdbserver --vmlinux vmlinux guest.core
                                               also serve every kernel task as a thread
                                               (vmlinux: the dumped kernel, with DWARF)
  xendump-gdbserver convert guest.core -o vmcore
                                               write an ELF vmcore for crash, drgn, gdb
  xl save -c guest guest.img; xendump-gdbserver guest.img
                                               a running guest, checkpointed: saved images
                                               (xl save, xl migrate, Remus) serve like dumps

In gdb: `info threads` lists the vCPUs (vCPU n is thread n+1), then, with --vmlinux,
every kernel task (`monitor ps`). The dump is read-only: writes and resuming are
refused, the guest stays exactly as it was dumped.";

/// The examples, then the monitor commands as the command table lists them.
fn after_help() -> String {
    let mut text = format!(
        "{AFTER_HELP}\n\nmonitor commands (in gdb: `monitor NAME ...`; `monitor help` says more):\n"
    );
    for c in COMMANDS {
        let line = format!("{} {}", c.name, c.args);
        text.push_str(&format!("  {:<22}{}\n", line.trim_end(), c.summary));
    }
    text
}

/// Serve a Xen domain core dump (xl/xm dump-core) or saved domain (xl save) to gdb
/// as a halted machine.
#[derive(Parser, Debug)]
#[command(name = "xendump-gdbserver", version, after_help = after_help())]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print what the dump holds: format, Xen version, guest kind and width, pages,
    /// vCPUs with their rip/rsp/cr3 and paging mode.
    Info(InfoArgs),
    /// Write the dump as an ELF vmcore (Linux kdump layout) that crash, makedumpfile,
    /// drgn and gdb open: guest-physical PT_LOADs, the kernel image mapping, one
    /// NT_PRSTATUS per vCPU, the guest's VMCOREINFO.
    Convert(ConvertArgs),
}

#[derive(Args, Debug)]
struct ConvertArgs {
    /// The dump file.
    dump: PathBuf,
    /// The vmcore to write (created under a temporary name, renamed when complete).
    #[arg(short, long, value_name = "VMCORE")]
    output: PathBuf,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    force: bool,
    /// Leave pages missing from a truncated dump out instead of failing.
    #[arg(long)]
    allow_truncated: bool,
    /// Where to look for the guest's VMCOREINFO: `full` searches the kernel image, then
    /// all memory if needed; `quick` the kernel image only.
    #[arg(long, value_enum, default_value_t = ScanArg::Full)]
    vmcoreinfo: ScanArg,
    /// PV guests: write page tables as they are, with machine frames (the raw guest
    /// view). By default their entries get pseudo-physical frames, so crash and drgn
    /// walk them as in a native guest's vmcore.
    #[arg(long)]
    keep_machine_frames: bool,
    /// PV guests: keep the kernel's `xen_start_info` pointer. By default it is cleared
    /// in the vmcore (the note says where), because crash takes a non-NULL one for a
    /// Xen PV kernel whose page tables hold machine frames, and would misread the
    /// canonical ones.
    #[arg(long)]
    keep_xen_start_info: bool,
    /// Legacy (Xen 3.0.x) PV dumps, which record no pfns: the guest kernel's own p2m
    /// list, VA,ENTRIES (XenLinux: the values of `phys_to_machine_mapping` and
    /// `max_pfn`; Linux >= 3.19: `xen_p2m_addr` and `xen_p2m_size`; gdb on the served
    /// dump prints them with `p/x`).
    #[arg(long, value_name = "VA,ENTRIES", value_parser = parse_p2m_list)]
    p2m_list: Option<P2mList>,
    /// PV guests: the dumped kernel's vmlinux (with debug info). Adds every task's page
    /// tables (mm->pgd) to those made canonical, takes xen_start_info from its symbols,
    /// and finds a legacy dump's p2m list (xen_p2m_addr or phys_to_machine_mapping).
    #[arg(long, value_name = "VMLINUX")]
    vmlinux: Option<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
}

/// `VA,ENTRIES`, each decimal or 0x-hex.
fn parse_p2m_list(spec: &str) -> std::result::Result<P2mList, String> {
    let num = |v: &str| {
        let v = v.trim();
        match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse(),
        }
        .map_err(|e| format!("{v:?}: {e}"))
    };
    let (va, entries) = spec
        .split_once(',')
        .ok_or_else(|| "expected VA,ENTRIES".to_string())?;
    Ok(P2mList {
        va: num(va)?,
        entries: num(entries)?,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScanArg {
    Off,
    Quick,
    Full,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// Emit JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Where to look for the guest's VMCOREINFO (KASLR offset, release): `quick` reads
    /// the kernel image only, `full` all memory if needed.
    #[arg(long, value_enum, default_value_t = ScanArg::Quick)]
    vmcoreinfo: ScanArg,
    /// The guest kernel's vmlinux (with DWARF): also walk its tasks and report them.
    #[arg(long, value_name = "VMLINUX")]
    vmlinux: Option<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
    /// The dump file.
    dump: PathBuf,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The dump file (written by `xl dump-core` or `xm dump-core`), or a saved domain
    /// (`xl save [-c]`).
    #[arg(required = true)]
    dump: Option<PathBuf>,
    /// Where to listen: PORT, :PORT or HOST:PORT. Loopback unless you name another
    /// address; port 0 picks a free one (printed at start).
    #[arg(
        long,
        short = 'l',
        default_value = "127.0.0.1:1234",
        value_name = "ADDR:PORT"
    )]
    listen: String,
    /// gdb packet size in bytes; gdb reads memory in chunks of half this.
    #[arg(long, default_value_t = DEFAULT_PACKET_SIZE, value_parser = clap::value_parser!(usize))]
    packet_size: usize,
    /// Drop a client that leaves replies unread for this many seconds.
    #[arg(long, default_value_t = server::DEFAULT_WRITE_TIMEOUT.as_secs(), value_name = "SECONDS")]
    write_timeout: u64,
    /// Serve at most this many gdb sessions at once; more connections are closed.
    #[arg(long, default_value_t = server::DEFAULT_MAX_SESSIONS, value_name = "N")]
    max_sessions: usize,
    /// Let sessions with a client on this machine run wherever the scheduler puts them,
    /// instead of on the CPU the client sends from (for comparisons).
    #[arg(long)]
    no_follow_cpu: bool,
    /// Slots of each session's translation cache (virtual page → frame); 0 turns it
    /// off, for comparisons.
    #[arg(long, default_value_t = CACHE_SLOTS, value_name = "SLOTS")]
    translation_cache: usize,
    /// More logging: -v sessions and requests, -vv every gdb packet.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The guest kernel's vmlinux (the same build, with DWARF): every kernel task
    /// becomes a gdb thread after the vCPUs. A vmlinux of another build is refused.
    #[arg(long, value_name = "VMLINUX")]
    vmlinux: Option<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
}

#[derive(Args, Debug)]
struct GuestArgs {
    /// Paging mode for address translation. `auto` reads it from each vCPU's CR0/CR4
    /// (PV guests: from their width). HVM dumps carry no EFER, so long mode is inferred
    /// from the registers unless you say `4level`/`5level` (saved images record EFER).
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    paging: ModeArg,
    /// Register layout served to gdb. `auto`: from the guest's width and mode.
    #[arg(long, value_enum, default_value_t = ArchArg::Auto)]
    arch: ArchArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Auto,
    None,
    #[value(name = "2level")]
    TwoLevel,
    Pae,
    #[value(name = "4level")]
    FourLevel,
    #[value(name = "5level")]
    FiveLevel,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ArchArg {
    Auto,
    #[value(name = "x86-64")]
    X86_64,
    I386,
}

impl GuestArgs {
    fn options(&self) -> GuestOptions {
        GuestOptions {
            paging: match self.paging {
                ModeArg::Auto => None,
                ModeArg::None => Some(PagingOverride::NoPaging),
                ModeArg::TwoLevel => Some(PagingOverride::TwoLevel),
                ModeArg::Pae => Some(PagingOverride::Pae),
                ModeArg::FourLevel => Some(PagingOverride::FourLevel),
                ModeArg::FiveLevel => Some(PagingOverride::FiveLevel),
            },
            width: match self.arch {
                ArchArg::Auto => None,
                ArchArg::X86_64 => Some(Width::Bits64),
                ArchArg::I386 => Some(Width::Bits32),
            },
        }
    }
}

/// Open the dump, model the guest, and let the guest kernel's own data settle what the
/// dump leaves open (a legacy HVM layout, vCPUs whose page-table root is useless).
fn open_guest(path: &PathBuf, args: &GuestArgs) -> Result<Guest> {
    let dump = XenDump::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut guest = Guest::new(dump, args.options())
        .with_context(|| format!("cannot use {}", path.display()))?;
    apply_kernel_view(&mut guest);
    Ok(guest)
}

/// Read `vmlinux`, check it is the dumped kernel and walk its tasks. A file that is not
/// the dumped kernel (or not a kernel with debug information) is an error; a kernel
/// that no vCPU's page tables map is a warning (`None`): the vCPUs are still served.
fn open_kernel(
    guest: &Guest,
    vmlinux: &Path,
    warn: impl Fn(String),
) -> Result<Option<LinuxKernel>> {
    let info = DebugInfo::open(vmlinux)?;
    match LinuxKernel::open(guest, &info, &KernelOptions::default()) {
        Ok(kernel) => Ok(Some(kernel)),
        Err(e @ KernelError::NoKernelSpace { .. }) => {
            warn(format!("{e}: serving the vCPUs only"));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// gdbserver accepts `PORT`, `:PORT` and `HOST:PORT`; so do we.
fn parse_listen(spec: &str) -> Result<SocketAddr> {
    let spec = spec.trim();
    let full = if let Ok(port) = spec.parse::<u16>() {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = spec.strip_prefix(':') {
        format!("127.0.0.1:{port}")
    } else {
        spec.to_string()
    };
    full.to_socket_addrs()
        .with_context(|| {
            format!("invalid --listen address {spec:?} (expected PORT, :PORT or HOST:PORT)")
        })?
        .next()
        .with_context(|| format!("--listen address {spec:?} resolves to nothing"))
}

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => "xendump_gdbserver=info",
        1 => "xendump_gdbserver=debug,gdbstub=info",
        _ => "xendump_gdbserver=trace,gdbstub=trace",
    };
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // The fmt subscriber also forwards gdbstub's `log` records (its packet traces).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn serve(args: ServeArgs) -> Result<()> {
    init_logging(args.verbose);
    let Some(path) = args.dump.as_ref() else {
        bail!("no dump file given (see --help)");
    };
    if args.packet_size < 1024 {
        bail!("--packet-size must be at least 1024 bytes");
    }
    let addr = parse_listen(&args.listen)?;
    let guest = open_guest(path, &args.guest)?;
    for w in guest.dump().warnings().iter().chain(guest.warnings()) {
        tracing::warn!("{w}");
    }
    let kernel = match &args.vmlinux {
        None => None,
        Some(vmlinux) => {
            open_kernel(&guest, vmlinux, |w| tracing::warn!("{w}"))?.map(|k| (vmlinux, k))
        }
    };
    let debuggee = match kernel {
        None => Debuggee::new(guest),
        Some((vmlinux, kernel)) => {
            for w in &kernel.warnings {
                tracing::warn!("{w}");
            }
            let vcpus = guest.vcpus().len();
            let tasks = kernel.walk.tasks.len();
            eprintln!(
                "xendump-gdbserver: {} is the dumped kernel ({}), KASLR offset {:#x}: {}",
                vmlinux.display(),
                kernel.release.as_deref().unwrap_or("release unknown"),
                kernel.kaslr_offset,
                match tasks {
                    0 => "no tasks found (see the warnings)".to_string(),
                    1 => format!("1 task is thread {}", vcpus + 1),
                    n => format!("{n} tasks are threads {}-{}", vcpus + 1, vcpus + n),
                }
            );
            Debuggee::with_linux(guest, kernel)
        }
    };
    let debuggee = Arc::new(debuggee);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // Catch Ctrl-C before saying we serve: a Ctrl-C right after the "serving" line
        // must end the server cleanly, not by the default signal action.
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("cannot catch Ctrl-C")?;
        eprintln!(
            "xendump-gdbserver: serving {} ({} vCPUs) on {local}\n  connect with: gdb -ex 'target remote {local}' vmlinux",
            path.display(),
            debuggee.guest().vcpus().len()
        );
        if !local.ip().is_loopback() {
            tracing::warn!("listening on {local}: anyone who can reach it can read the dump");
        }
        let config = ServerConfig {
            session: SessionConfig {
                packet_size: args.packet_size,
                cache_slots: args.translation_cache,
            },
            write_timeout: std::time::Duration::from_secs(args.write_timeout.max(1)),
            max_sessions: args.max_sessions.max(1),
            follow_client_cpu: !args.no_follow_cpu,
        };
        server::serve(listener, debuggee, config, async move {
            let _ = interrupt.recv().await;
        })
        .await
        .context("server failed")
    })
}

fn info(args: InfoArgs) -> Result<()> {
    let guest = open_guest(&args.dump, &args.guest)?;
    let summary = Summary::of(&guest);
    let summary = match args.vmcoreinfo {
        ScanArg::Off => summary,
        ScanArg::Quick => summary.with_kernel(&guest, ScanDepth::Quick),
        ScanArg::Full => summary.with_kernel(&guest, ScanDepth::Full),
    };
    let summary = match &args.vmlinux {
        None => summary,
        Some(vmlinux) => {
            let warn = |w: String| eprintln!("xendump-gdbserver: warning: {w}");
            match open_kernel(&guest, vmlinux, warn)? {
                Some(k) => summary.with_linux(&k),
                None => summary,
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{summary}");
    }
    Ok(())
}

/// A progress bar on stderr.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&mut self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&mut self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

fn convert(args: ConvertArgs) -> Result<()> {
    let mut guest = open_guest(&args.dump, &args.guest)?;
    let say = !args.quiet;
    let mut opts = ConvertOptions {
        allow_truncated: args.allow_truncated,
        vmcoreinfo: match args.vmcoreinfo {
            ScanArg::Off => VmcoreinfoScan::Off,
            ScanArg::Quick => VmcoreinfoScan::Quick,
            ScanArg::Full => VmcoreinfoScan::Full,
        },
        force: args.force,
        keep_machine_frames: args.keep_machine_frames,
        extra_pgds: Vec::new(),
        keep_xen_start_info: args.keep_xen_start_info,
        xen_start_info_va: None,
    };
    let cannot = || format!("cannot convert {}", args.dump.display());
    if let Some(list) = args.p2m_list {
        let r = recover_pfns(&mut guest, list).with_context(cannot)?;
        if say {
            say_recovery(&r, guest.dump().valid_page_count());
        }
    }
    if let Some(path) = &args.vmlinux {
        let info = DebugInfo::open(path).with_context(cannot)?;
        let r = apply_vmlinux(&mut guest, &info, args.p2m_list, &mut opts).with_context(cannot)?;
        if say {
            if let Some(rec) = &r.recovery {
                say_recovery(rec, guest.dump().valid_page_count());
            }
            if r.tasks > 0 {
                eprintln!(
                    "xendump-gdbserver: {}: {} tasks, {} page tables of their own (mm->pgd) to canonicalise",
                    path.display(),
                    r.tasks,
                    r.pgds
                );
            }
            for w in &r.warnings {
                eprintln!("xendump-gdbserver: warning: {}: {w}", path.display());
            }
        }
    }
    if say {
        for w in guest.dump().warnings() {
            eprintln!("xendump-gdbserver: warning: {w}");
        }
    }
    let mut quiet = NoProgress;
    let mut bar;
    let progress: &mut dyn Progress = if say && std::io::stderr().is_terminal() {
        let style = indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} [{wide_bar}] {binary_bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar = Bar(indicatif::ProgressBar::new(0).with_style(style));
        &mut bar
    } else {
        &mut quiet
    };
    let report = convert_file(&guest, Some(&args.dump), &args.output, &opts, progress)
        .with_context(|| format!("cannot convert {}", args.dump.display()))?;
    if say {
        let p = &report.plan;
        for w in &p.warnings {
            eprintln!("xendump-gdbserver: warning: {w}");
        }
        if let Some(t) = &p.tables {
            let s = &t.stats;
            eprintln!(
                "xendump-gdbserver: page tables: {} pages rewritten with pseudo-physical frames ({} entries translated, {} to frames outside the guest dropped, {} of Xen's cleared)",
                s.total_pages(),
                s.total_translated(),
                s.total_dropped(),
                s.xen_cleared
            );
        }
        if let Some(si) = &p.start_info {
            eprintln!(
                "xendump-gdbserver: cleared the kernel's xen_start_info pointer at phys {:#x} so crash reads the guest as a native one (--keep-xen-start-info keeps it)",
                si.pa
            );
        }
        eprintln!(
            "xendump-gdbserver: wrote {}: {} MiB of guest memory in {} PT_LOADs ({} MiB of zero pages left as holes){}",
            report.output.display(),
            p.data_bytes() >> 20,
            p.segments.len() + p.image_segments.len(),
            report.stats.holes >> 20,
            match &p.vmcoreinfo {
                Some(v) => format!(
                    ", VMCOREINFO of {}; gdb: {}",
                    v.osrelease().unwrap_or("?"),
                    v.gdb_command()
                ),
                None => String::new(),
            }
        );
    }
    Ok(())
}

/// What recovering a legacy PV dump's pfns found, on stderr.
fn say_recovery(r: &PfnRecovery, pages: u64) {
    eprintln!(
        "xendump-gdbserver: pfns from the guest's p2m list at {:#x}: {} of {} pages named ({} entries invalid, {} foreign or identity, {} unreadable, {} naming frames outside the dump, {} duplicates)",
        r.list.va,
        r.pairs.pages,
        pages,
        r.entries.invalid,
        r.entries.foreign_or_identity,
        r.entries.unreadable,
        r.not_in_dump,
        r.pairs.duplicates
    );
    if r.pages_without_pfn > 0 {
        eprintln!(
            "xendump-gdbserver: warning: {} dumped pages are named by no entry of the p2m list and are left out of the vmcore",
            r.pages_without_pfn
        );
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Info(a)) => info(a),
        Some(Command::Convert(a)) => convert(a),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xendump-gdbserver: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

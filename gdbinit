# gdbinit for xendump-gdbserver.
#
#   xendump-gdbserver guest.core &          # serves on 127.0.0.1:1234
#   gdb -x gdbinit vmlinux                  # connects and sets gdb up for a kernel dump
#
# Another address:  XENDUMP_GDBSERVER=otherhost:2000 gdb -x gdbinit vmlinux
# Connect later:    XENDUMP_NO_CONNECT=1 gdb -x gdbinit vmlinux, then `xd-connect [ADDR]`

# A kernel dump prints long outputs (threads, backtraces): don't stop every screenful,
# and don't ask for confirmation in scripts.
set pagination off
set confirm off
set print pretty on
# Let the remote target description (amd64 or i386, sent by the server) decide the
# architecture; only the OS ABI is worth fixing, so Linux helpers and signal frames work.
set osabi GNU/Linux
# gdb would otherwise try to fetch the "executable" from the server, which has none.
set auto-connect-native-target off
# The kernel's own gdb scripts (lx-dmesg, lx-ps, ...) load from the vmlinux directory
# when they were built (CONFIG_GDB_SCRIPTS); allow that.
add-auto-load-safe-path /

# xd-connect [ADDR]: connect to the server (default $XENDUMP_GDBSERVER or localhost:1234).
define xd-connect
  if $argc == 0
    python import os; gdb.execute("target remote " + os.environ.get("XENDUMP_GDBSERVER", "localhost:1234"))
  else
    target remote $arg0
  end
end
document xd-connect
Connect to xendump-gdbserver. ADDR defaults to $XENDUMP_GDBSERVER, else localhost:1234.
end

# xd-info: what the dump is (format, Xen version, guest kind/width, pages, vCPUs).
define xd-info
  monitor info
end
document xd-info
Summary of the dump: format, Xen version, guest kind and width, pages, vCPUs.
end

# xd-vcpus: one line per vCPU with mode, rip, rsp, cr3 and paging mode.
define xd-vcpus
  monitor vcpu
end
document xd-vcpus
One line per vCPU: online/offline, kernel/user, rip, rsp, cr3, paging mode.
end

# xd-vcpu N: every register the dump holds for vCPU N, control and debug registers too.
define xd-vcpu
  monitor vcpu $arg0
end
document xd-vcpu
xd-vcpu N: all registers of vCPU N as stored in the dump (CRs, DRs, segment bases).
end

# xd-translate ADDR [VCPU]: the page-table walk for a virtual address.
define xd-translate
  if $argc == 1
    monitor translate $arg0
  else
    monitor translate $arg0 $arg1
  end
end
document xd-translate
xd-translate ADDR [VCPU]: walk the guest page tables for ADDR, level by level,
with every frame in both pfn and mfn terms, and where the page sits in the dump.
end

# xd-p2m PFN / xd-m2p MFN: frame number conversions through the dump's p2m table.
define xd-p2m
  monitor p2m $arg0
end
document xd-p2m
xd-p2m PFN: the machine frame and dump page holding guest frame PFN.
end
define xd-m2p
  monitor m2p $arg0
end
document xd-m2p
xd-m2p MFN: the guest frame and dump page holding machine frame MFN.
end

# xd-cr3 VALUE|off: read virtual addresses through another page table (another process).
define xd-cr3
  monitor cr3 $arg0
end
document xd-cr3
xd-cr3 VALUE: virtual reads go through the page tables CR3 VALUE points to (encoded as the
vCPU stores it), e.g. another process's mm->pgd. xd-cr3 off: back to each thread's own.
end

# xd-virtual / xd-physical / xd-machine: which address space `x`, `p` and `dump` read.
define xd-virtual
  monitor view virtual
end
document xd-virtual
Memory reads use guest virtual addresses (the current thread's vCPU page tables).
end
define xd-physical
  monitor view physical
end
document xd-physical
Memory reads use guest pseudo-physical addresses (pfn space), e.g. x/8xg 0x1000.
end
define xd-machine
  monitor view machine
end
document xd-machine
Memory reads use machine addresses (mfn space; PV and legacy dumps only).
end

# xd-kaslr: load the vmlinux gdb was started with where the guest kernel ran. A kernel
# moved by KASLR has every symbol at its link address + the offset the guest recorded
# (VMCOREINFO KERNELOFFSET, which the server reads); x86_64's per-CPU section is
# linked at 0 and must stay there (its symbols are offsets, not addresses). Runs on
# connect; XENDUMP_NO_KASLR=1 leaves the symbols as loaded.
python
import re

def xd_kaslr():
    vmlinux = gdb.current_progspace().filename
    try:
        reply = gdb.execute("monitor kaslr", to_string=True)
    except gdb.error as e:
        print("xendump: cannot ask the server for the KASLR offset: %s" % e)
        return
    m = re.search(r"KASLR offset: (0x[0-9a-fA-F]+)", reply)
    if not m:
        why = (reply.strip().splitlines() or ["no reply"])[0]
        print("xendump: KASLR offset unknown, symbols left at their link addresses (%s)" % why)
        return
    offset = int(m.group(1), 16)
    if not vmlinux:
        print("xendump: the kernel's KASLR offset is %#x; load vmlinux with: "
              "add-symbol-file vmlinux -o %#x -s .data..percpu 0" % (offset, offset))
        return
    if offset == 0:
        print("xendump: kernel not moved (KASLR offset 0): %s loaded at its link addresses" % vmlinux)
        return
    sections = gdb.execute("maint info sections", to_string=True)
    percpu = re.search(r"(0x[0-9a-fA-F]+)->0x[0-9a-fA-F]+ at 0x[0-9a-fA-F]+: \.data\.\.percpu\s", sections)
    keep_percpu = percpu is not None and int(percpu.group(1), 16) == 0
    cmd = "add-symbol-file %s -o %#x" % (vmlinux, offset)
    if keep_percpu:
        cmd += " -s .data..percpu 0"
    gdb.execute("symbol-file", to_string=True)
    gdb.execute(cmd, to_string=True)
    print("xendump: kernel moved by KASLR offset %#x: %s%s" % (
        offset, cmd, " (per-CPU section kept at 0)" if keep_percpu else ""))

class XdKaslr(gdb.Command):
    """Load the vmlinux gdb was started with at the guest kernel's KASLR offset.

The offset is the guest's VMCOREINFO KERNELOFFSET, read by the server (monitor kaslr);
x86_64's per-CPU section stays at 0. Runs on connect unless XENDUMP_NO_KASLR is set."""
    def __init__(self):
        super().__init__("xd-kaslr", gdb.COMMAND_USER)
    def invoke(self, arg, from_tty):
        xd_kaslr()

XdKaslr()
end

python
import os
if not os.environ.get("XENDUMP_NO_CONNECT"):
    gdb.execute("xd-connect")
    if not os.environ.get("XENDUMP_NO_KASLR"):
        xd_kaslr()
end

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

# gdb's memory cache, for the address ranges the server says read alike in every thread
# (`monitor shared`: on Linux, the kernel half, mapped through the same top-level page-
# table entries in every process). A round trip to the server costs far more than a
# local read, and gdb reads a struct field by field: with the cache, each 4 KiB page is
# fetched once (a line never spans two pages, so an unmapped page never spoils a mapped
# one). Only those ranges are cached, so a user page of one thread can never be served
# for another (gdb also empties its cache whenever the current thread changes); anything
# else is read from the server every time. `monitor` commands change what addresses mean
# (view, cr3), so the cache is flushed after each one.
# XENDUMP_NO_CACHE=1 leaves gdb's cache off.
python
import os, re

xd_cached_ranges = []

def xd_cache():
    """Mark the ranges every thread reads alike as cacheable (again, after a connect)."""
    global xd_cached_ranges
    if os.environ.get("XENDUMP_NO_CACHE"):
        return
    # Drop the regions a previous connection set up.
    if xd_cached_ranges:
        for line in gdb.execute("info mem", to_string=True).splitlines():
            m = re.match(r"(\d+)\s+y\s+(0x[0-9a-f]+) (0x[0-9a-f]+) ro cache", line)
            if m and (int(m.group(2), 16), int(m.group(3), 16) % (1 << 64)) in xd_cached_ranges:
                gdb.execute("delete mem " + m.group(1))
        xd_cached_ranges = []
    try:
        reply = gdb.execute("monitor shared", to_string=True)
    except gdb.error:
        return
    ranges = [(int(a, 16), int(b, 16) % (1 << 64))
              for a, b in re.findall(r"^\s+(0x[0-9a-f]+) (0x[0-9a-f]+)$", reply, re.M)]
    if not ranges:
        return
    # Memory outside the regions stays readable, uncached, as without any region.
    gdb.execute("set mem inaccessible-by-default off")
    gdb.execute("set dcache line-size 4096")
    gdb.execute("set dcache size 4096")
    for lo, hi in ranges:
        gdb.execute("mem %#x %#x ro cache" % (lo, hi))
    xd_cached_ranges = ranges
    gdb.execute("maint flush dcache", to_string=True)
end

define hookpost-monitor
  python gdb.execute("maint flush dcache", to_string=True)
end

# xd-connect [ADDR]: connect to the server (default $XENDUMP_GDBSERVER or localhost:1234).
define xd-connect
  if $argc == 0
    python import os; gdb.execute("target remote " + os.environ.get("XENDUMP_GDBSERVER", "localhost:1234"))
  else
    target remote $arg0
  end
  python xd_cache()
end
document xd-connect
Connect to xendump-gdbserver. ADDR defaults to $XENDUMP_GDBSERVER, else localhost:1234.
Then let gdb cache the memory every thread reads alike (monitor shared).
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
# (VMCOREINFO KERNELOFFSET, which the server reads: `monitor kaslr`); x86_64's per-CPU
# section is linked at 0 and must stay there (its symbols are offsets, not addresses).
# On connect the symbols are set aside first, so that the first stop is not shown
# with unmoved symbols; XENDUMP_NO_KASLR=1 leaves them as gdb loaded them.
python
import re
import struct

def xd_percpu_at_zero(path):
    """Is the ELF file's .data..percpu section linked at 0 (x86_64 before 6.15)?"""
    try:
        with open(path, "rb") as f:
            data = f.read(64)
            if data[:4] != b"\x7fELF" or data[5] != 1:
                return False
            wide = data[4] == 2
            if wide:
                shoff, = struct.unpack_from("<Q", data, 0x28)
                shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
            else:
                shoff, = struct.unpack_from("<I", data, 0x20)
                shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2e)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            def section(i):
                e = table[i * shentsize:(i + 1) * shentsize]
                if wide:
                    name, _, _, addr, off, size = struct.unpack_from("<IIQQQQ", e)
                else:
                    name, _, _, addr, off, size = struct.unpack_from("<IIIIII", e)
                return name, addr, off, size
            _, _, stroff, strsize = section(shstrndx)
            f.seek(stroff)
            names = f.read(strsize)
            for i in range(shnum):
                name, addr, _, _ = section(i)
                if names[name:].split(b"\0", 1)[0] == b".data..percpu":
                    return addr == 0
    except (OSError, struct.error, IndexError):
        pass
    return False

def xd_vmlinux():
    """The kernel's symbol file: the main one, or the first one added."""
    if gdb.current_progspace().filename:
        return gdb.current_progspace().filename
    files = [o.filename for o in gdb.objfiles() if o.filename]
    return files[0] if files else None

def xd_load(vmlinux, cmd):
    """Replace whatever symbols of `vmlinux` gdb holds by those `cmd` loads."""
    if gdb.current_progspace().filename == vmlinux:
        gdb.execute("symbol-file", to_string=True)
    elif any(o.filename == vmlinux for o in gdb.objfiles()):
        gdb.execute("remove-symbol-file " + vmlinux, to_string=True)
    gdb.execute(cmd, to_string=True)

def xd_kaslr(vmlinux=None):
    vmlinux = vmlinux or xd_vmlinux()
    try:
        reply = gdb.execute("monitor kaslr", to_string=True)
    except gdb.error as e:
        reply = "the server did not answer: %s" % e
    m = re.search(r"KASLR offset: (0x[0-9a-fA-F]+)", reply)
    offset = int(m.group(1), 16) if m else 0
    if not vmlinux:
        if offset:
            print("xendump: the kernel's KASLR offset is %#x; load vmlinux with: "
                  "add-symbol-file vmlinux -o %#x -s .data..percpu 0" % (offset, offset))
        return
    if not m:
        why = (reply.strip().splitlines() or ["no reply"])[0]
        xd_load(vmlinux, "symbol-file " + vmlinux)
        print("xendump: KASLR offset unknown, %s loaded at its link addresses (%s)" % (vmlinux, why))
        return
    if offset == 0:
        xd_load(vmlinux, "symbol-file " + vmlinux)
        print("xendump: kernel not moved (KASLR offset 0): %s loaded at its link addresses" % vmlinux)
        return
    keep_percpu = xd_percpu_at_zero(vmlinux)
    cmd = "add-symbol-file %s -o %#x" % (vmlinux, offset)
    if keep_percpu:
        cmd += " -s .data..percpu 0"
    xd_load(vmlinux, cmd)
    print("xendump: kernel moved by KASLR offset %#x: %s%s" % (
        offset, cmd, " (per-CPU section kept at 0)" if keep_percpu else ""))

class XdKaslr(gdb.Command):
    """Load the kernel's symbols at the guest kernel's KASLR offset.

The offset is the guest's VMCOREINFO KERNELOFFSET, read by the server (monitor kaslr);
x86_64's per-CPU section stays at 0. Runs on connect unless XENDUMP_NO_KASLR is set."""
    def __init__(self):
        super().__init__("xd-kaslr", gdb.COMMAND_USER)
    def invoke(self, arg, from_tty):
        xd_kaslr(arg.strip() or None)

XdKaslr()
end

python
import os
if not os.environ.get("XENDUMP_NO_CONNECT"):
    vmlinux = None
    if not os.environ.get("XENDUMP_NO_KASLR"):
        vmlinux = gdb.current_progspace().filename
        # Set aside until the offset is known.
        if vmlinux:
            gdb.execute("symbol-file", to_string=True)
    gdb.execute("xd-connect")
    if vmlinux:
        xd_kaslr(vmlinux)
        gdb.execute("frame")
end

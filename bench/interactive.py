#!/usr/bin/python3
"""Interactive kernel debugging through the server against gdb on a local core.

Run by bench/interactive.sh, which builds the stand-in vmlinux (tests/fixtures/linux),
a builder dump of a Linux guest with its tasks (examples/linux-guest.rs) and the vmcore
`convert` writes for it. The same gdb commands run

* through the server, started the README's way (`gdb -x gdbinit vmlinux`, the server
  without --vmlinux so the threads are the vCPUs, as in a local core), and
* on the local core (`gdb vmlinux vmcore`),

each timed inside gdb (its start-up and connection taken off), median of the runs,
servers and the local core taking turns. The workloads model the memory traffic of the
kernel's own gdb scripts on the stand-in kernel:

* lx-ps: walk init_task.tasks and each thread group (signal->thread_head), reading
  pid, comm and state of every task (what lx-ps does: many small dependent reads);
  then the same again in the same session (what gdb's memory cache is for);
* lx-version: linux_banner, as a string;
* p *task: the whole task_struct of the first 64 tasks, printed;
* bt: `thread apply all bt` (every vCPU);
* x/1024xg of init_task's memory.

Every workload's output must be the same through the server and on the local core
(a fast wrong answer cannot pass), but for `bt`: the builder's vCPUs stop at addresses
in no function, and gdb unwinds the two targets' register sets differently from there
(the vmcore's NT_PRSTATUS holds fewer registers than the remote `g` packet); its output
must only be there.

    bench/interactive.py VMLINUX DUMP VMCORE SERVER[:GDBINIT] [SERVER[:GDBINIT] ...] [--runs N]
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GDBINIT = os.path.join(HERE, "..", "gdbinit")

WORKLOADS = r'''
import gdb, time

def xd_tasks():
    init = gdb.parse_and_eval("init_task")
    ts = gdb.lookup_type("struct task_struct")
    tp = ts.pointer()
    def entries(head, member):
        off = [f.bitpos // 8 for f in ts.fields() if f.name == member][0]
        node = head["next"]
        while int(node) != int(head.address):
            yield (node.cast(gdb.lookup_type("unsigned long")) - off).cast(tp)
            node = node["next"]
    leaders = [init.address] + list(entries(init["tasks"], "tasks"))
    for leader in leaders:
        for t in entries(leader["signal"]["thread_head"], "thread_node"):
            yield t

def xd_lx_ps():
    out = []
    for t in xd_tasks():
        out.append("%d %s %d" % (int(t["pid"]), t["comm"].string(), int(t["__state"])))
    return "\n".join(out)

def xd_lx_version():
    return gdb.parse_and_eval("linux_banner").string()

def xd_p_task():
    out = []
    for i, t in enumerate(xd_tasks()):
        if i == 64:
            break
        out.append(gdb.execute("p *(struct task_struct *)%d" % int(t), to_string=True))
    return "".join(out)

def xd_bt():
    text = gdb.execute("thread apply all bt", to_string=True)
    # Frames only: thread headers name the target differently (remote vs core).
    return "\n".join(re.sub(r"^#\d+\s+(0x[0-9a-f]+ in )?", "", l)
                     for l in text.splitlines() if l.startswith("#"))

def xd_x():
    return gdb.execute("x/1024xg &init_task", to_string=True)

import re
XD_WORKLOADS = [("lx-ps", xd_lx_ps), ("lx-ps, again", xd_lx_ps),
                ("lx-version", xd_lx_version),
                ("p *task (64 tasks)", xd_p_task), ("bt, every thread", xd_bt),
                ("x/1024xg", xd_x)]

def xd_run(out_dir):
    # The same printing on both sides (the gdbinit prints structs pretty).
    gdb.execute("set print pretty off")
    for name, fn in XD_WORKLOADS:
        t0 = time.perf_counter(); c0 = time.process_time()
        text = fn()
        t = time.perf_counter() - t0; c = time.process_time() - c0
        slug = re.sub(r"[^a-z0-9]+", "_", name)
        with open("%s/%s.txt" % (out_dir, slug), "w") as f:
            f.write(text)
        print("XD-WORK %s|%.6f|%.6f" % (name, t, c))
'''


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(server, dump):
    p = subprocess.Popen([server, "--listen", "127.0.0.1:0", dump],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r" on (127\.0\.0\.1:\d+)", line)
        if m:
            return p, m.group(1)
    raise SystemExit("server did not start: %s" % server)


def run(args, env, out_dir, script, server_pid=None):
    """One gdb run of every workload: {name: (wall, gdb cpu)}, server CPU."""
    os.makedirs(out_dir, exist_ok=True)
    cmds = ["source " + script, "python xd_run(%r)" % out_dir]
    full = args[:1] + ["-nx", "-batch"] + args[1:-1] + sum([["-ex", c] for c in cmds], []) + args[-1:]
    s0 = cpu_of(server_pid) if server_pid else 0
    out = subprocess.run(full, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    s = cpu_of(server_pid) - s0 if server_pid else 0
    res = {}
    for line in out.stdout.splitlines():
        if line.startswith("XD-WORK "):
            name, wall, cpu = line[8:].split("|")
            res[name] = (float(wall), float(cpu))
    if len(res) != 6:
        raise SystemExit("gdb failed:\n%s\n%s" % (out.stdout[-3000:], out.stderr[-3000:]))
    return res, s


def main():
    argv = sys.argv[1:]
    runs = 5
    if "--runs" in argv:
        i = argv.index("--runs")
        runs = int(argv[i + 1])
        del argv[i:i + 2]
    vmlinux, dump, vmcore = argv[:3]
    servers = []
    for spec in argv[3:]:
        server, _, gdbinit = spec.partition(":")
        servers.append((server, gdbinit or GDBINIT))
    tmp = tempfile.mkdtemp(prefix="xd-interactive-")
    script = os.path.join(tmp, "workloads.py")
    with open(script, "w") as f:
        f.write(WORKLOADS)
    procs = [start_server(s, dump) for s, _ in servers]
    rows = {}
    try:
        for r in range(runs):
            local, _ = run(["gdb", vmlinux, vmcore], dict(os.environ), os.path.join(tmp, "local"), script)
            rows.setdefault("local", []).append(local)
            for k, ((server, gdbinit), (p, addr)) in enumerate(zip(servers, procs)):
                env = dict(os.environ, XENDUMP_GDBSERVER=addr)
                env.pop("XENDUMP_NO_CONNECT", None)
                out_dir = os.path.join(tmp, "server%d" % k)
                res, srv = run(["gdb", "-x", gdbinit, vmlinux], env, out_dir, script, p.pid)
                rows.setdefault(k, []).append((res, srv))
                for name in os.listdir(out_dir):
                    a = open(os.path.join(out_dir, name)).read()
                    b = open(os.path.join(tmp, "local", name)).read()
                    if not a or (a != b and not name.startswith("bt")):
                        raise SystemExit("%s: %s differs from the local core's (%s)"
                                         % (server, name, os.path.join(tmp)))
    finally:
        for p, _ in procs:
            p.kill()
            p.wait()
    names = [n for n, _ in rows["local"][0].items()]
    med = lambda xs: statistics.median(xs)
    print("   (median of %d runs; ms inside gdb, its start-up taken off; ratio = server / local core)" % runs)
    head = "   %-22s %12s" % ("workload", "local core")
    for k, (server, gdbinit) in enumerate(servers):
        head += " %24s" % ("server %d" % (k + 1))
    print(head)
    for n in names:
        loc = med([x[n][0] for x in rows["local"]])
        line = "   %-22s %9.1f ms" % (n, loc * 1e3)
        for k in range(len(servers)):
            v = med([x[0][n][0] for x in rows[k]])
            line += " %12.1f ms %6.2fx   " % (v * 1e3, v / loc)
        print(line)
    tot_loc = med([sum(w for w, _ in x.values()) for x in rows["local"]])
    line = "   %-22s %9.1f ms" % ("all", tot_loc * 1e3)
    for k in range(len(servers)):
        v = med([sum(w for w, _ in x[0].values()) for x in rows[k]])
        line += " %12.1f ms %6.2fx   " % (v * 1e3, v / tot_loc)
    print(line)
    for k, (server, gdbinit) in enumerate(servers):
        srv = med([s for _, s in rows[k]])
        print("   server %d: %s with %s; its CPU over all workloads %.0f ms" % (k + 1, server, gdbinit, srv * 1e3))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Kernel tasks as gdb threads: gdb through the server against drgn on the vmcore.

Run by bench/linux-threads.sh, which builds the stand-in vmlinux, a dump with many
tasks (examples/linux-guest.rs) and its vmcore (`convert`). Times, on the same guest:

* gdb (`gdb -x gdbinit vmlinux`, connected to `xendump-gdbserver --vmlinux`):
  `info threads`, and `thread apply all bt`; gdb's own start-up, connection and
  symbol relocation (the same session with no command) is taken off;
* drgn on the vmcore: listing every task (init_task.tasks and each group's
  signal->thread_head, as for_each_task does) and `stack_trace()` of every task;
  drgn's start-up (opening the core, loading the vmlinux) is taken off;

and checks that every sleeping task's backtrace is the same function list in both.
Prints a table; --json for the raw figures.

    bench/linux_threads.py SERVER VMLINUX DUMP VMCORE [--runs N] [--json]
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

GDBINIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gdbinit")

DRGN_SCRIPT = r"""
import json, sys, time
t0 = time.monotonic()
c0 = time.process_time()
import drgn
from drgn.helpers.linux.list import list_for_each_entry
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
addresses = [int(a, 16) for a in open(sys.argv[3]).read().split()]
t1 = time.monotonic()
c1 = time.process_time()
# Every task, as the kernel lists them: leaders on init_task.tasks, their threads on
# signal->thread_head (what drgn's for_each_task does without the pid hash).
init = prog["init_task"]
listed = []
for leader in [init.address_of_()] + list(
    list_for_each_entry("struct task_struct", init.tasks.address_of_(), "tasks")
):
    for t in list_for_each_entry(
        "struct task_struct", leader.signal.thread_head.address_of_(), "thread_node"
    ):
        listed.append((int(t.pid), t.comm.string_().decode(errors="replace"),
                       int(t.__state), t.value_()))
t2 = time.monotonic()
c2 = time.process_time()
traces = {}
for a in addresses:
    task = drgn.Object(prog, "struct task_struct *", a)
    names = []
    try:
        for frame in prog.stack_trace(task):
            name = frame.name
            if name is None:
                try:
                    name = frame.symbol().name
                except LookupError:
                    break
            names.append(name)
    except Exception as e:
        names = ["error: %s" % e]
    traces[hex(a)] = names
t3 = time.monotonic()
c3 = time.process_time()
print(json.dumps({"startup": t1 - t0, "list": t2 - t1, "listed": len(listed),
                  "bt": t3 - t2, "list_cpu": c2 - c1, "bt_cpu": c3 - c2,
                  "traces": traces}))
"""


def start_server(server, vmlinux, dump):
    p = subprocess.Popen(
        [server, "--listen", "127.0.0.1:0", "--vmlinux", vmlinux, dump],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    t0 = time.monotonic()
    for line in p.stderr:
        m = re.search(r" on (127\.0\.0\.1:\d+)", line)
        if m:
            return p, m.group(1), time.monotonic() - t0
    raise SystemExit("server did not start")


def cpu_of(pid):
    """CPU seconds (user + system) process `pid` has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_gdb(addr, vmlinux, cmds, out_path, server_pid):
    """Run gdb with `cmds`: (wall seconds, gdb CPU seconds, server CPU seconds)."""
    env = dict(os.environ, XENDUMP_GDBSERVER=addr)
    env.pop("XENDUMP_NO_CONNECT", None)
    args = ["gdb", "-nx", "-batch", "-x", GDBINIT]
    for c in cmds:
        args += ["-ex", c]
    args.append(vmlinux)
    with open(out_path, "w") as out:
        server0 = cpu_of(server_pid)
        t0 = time.monotonic()
        p = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        if status != 0:
            raise SystemExit("gdb failed: %s" % args)
        return wall, usage.ru_utime + usage.ru_stime, cpu_of(server_pid) - server0


def gdb_traces(path):
    """thread id -> function names, from `thread apply all bt` output."""
    traces, current = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"Thread (\d+) \(", line)
            if m:
                current = traces.setdefault(int(m.group(1)), [])
                continue
            m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", line)
            if m and current is not None:
                current.append(m.group(1))
    return traces


def median(xs):
    return statistics.median(xs)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = 3
    if "--runs" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--runs") + 1])
        args.remove(str(runs))
    server, vmlinux, dump, vmcore = args[:4]
    info = json.loads(subprocess.run(
        [server, "info", "--json", "--vmlinux", vmlinux, dump],
        check=True, capture_output=True, text=True).stdout)
    tasks = info["linux"]["task_list"]
    vcpus = len(info["vcpus"])
    tmp = tempfile.mkdtemp(prefix="linux-threads-")

    proc, addr, server_start = start_server(server, vmlinux, dump)
    try:
        base, listing, bts = [], [], []
        for _ in range(runs):
            base.append(run_gdb(addr, vmlinux, [], os.path.join(tmp, "base.out"), proc.pid))
            listing.append(run_gdb(addr, vmlinux, ["info threads"],
                                   os.path.join(tmp, "threads.out"), proc.pid))
            bts.append(run_gdb(addr, vmlinux, ["thread apply all bt"],
                               os.path.join(tmp, "bt.out"), proc.pid))
    finally:
        proc.kill()
        proc.wait()
    with open(os.path.join(tmp, "threads.out")) as f:
        thread_lines = sum(1 for l in f if re.match(r"[ *] \d+\s+Thread ", l))
    gdb_bt = gdb_traces(os.path.join(tmp, "bt.out"))

    addresses = os.path.join(tmp, "addresses")
    with open(addresses, "w") as f:
        f.write("\n".join(t["address"] for t in tasks))
    script = os.path.join(tmp, "drgn_tasks.py")
    with open(script, "w") as f:
        f.write(DRGN_SCRIPT)
    drgn_runs = []
    for _ in range(runs):
        out = subprocess.run(["/usr/bin/python3", script, vmcore, vmlinux, addresses],
                             check=True, capture_output=True, text=True).stdout
        drgn_runs.append(json.loads(out))
    drgn_bt = drgn_runs[-1]["traces"]

    # Every sleeping task: the same functions, innermost first, in both.
    same = differ = 0
    examples = []
    for i, t in enumerate(tasks):
        if t["vcpu"] is not None:
            continue
        g = gdb_bt.get(vcpus + i + 1, [])
        d = drgn_bt.get(t["address"], [])
        if g and g == d:
            same += 1
        else:
            differ += 1
            if len(examples) < 3:
                examples.append((t["pid"], t["comm"], g, d))
    def net(xs, k):
        """Median of field k of the runs, minus the start-up run's."""
        return median([x[k] for x in xs]) - median([b[k] for b in base])

    def both(xs):
        return median([x[1] for x in xs]) + median([x[2] for x in xs]) - (
            median([b[1] for b in base]) + median([b[2] for b in base]))

    result = {
        "tasks": len(tasks),
        "threads_listed": thread_lines,
        "server_startup_s": server_start,
        "gdb_startup_s": median([b[0] for b in base]),
        "gdb_info_threads_s": net(listing, 0),
        "gdb_info_threads_cpu_s": both(listing),
        "gdb_thread_apply_all_bt_s": net(bts, 0),
        "gdb_thread_apply_all_bt_cpu_s": both(bts),
        "server_cpu_in_bt_s": median([x[2] for x in bts]),
        "drgn_startup_s": median([r["startup"] for r in drgn_runs]),
        "drgn_list_tasks_s": median([r["list"] for r in drgn_runs]),
        "drgn_list_tasks_cpu_s": median([r["list_cpu"] for r in drgn_runs]),
        "drgn_listed": drgn_runs[-1]["listed"],
        "drgn_stack_trace_all_s": median([r["bt"] for r in drgn_runs]),
        "drgn_stack_trace_all_cpu_s": median([r["bt_cpu"] for r in drgn_runs]),
        "sleeping_tasks_same_backtrace": same,
        "sleeping_tasks_different_backtrace": differ,
        "examples_of_differences": examples,
        "runs": runs,
    }
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
        return
    r = result
    ms = lambda s: "%8.1f ms" % (s * 1e3)
    print(f"{r['tasks']} tasks ({r['threads_listed']} gdb threads with the vCPUs), median of "
          f"{runs} runs; each tool's start-up taken off; CPU = gdb + server, or drgn")
    print(f"  server start-up (task walk included)   {ms(r['server_startup_s'])}")
    print(f"  gdb start-up, connect, KASLR reload    {ms(r['gdb_startup_s'])}")
    print(f"  drgn start-up (core + vmlinux)         {ms(r['drgn_startup_s'])}")
    print("                                       wall        CPU")
    print(f"  gdb info threads                  {ms(r['gdb_info_threads_s'])} {ms(r['gdb_info_threads_cpu_s'])}")
    print(f"  drgn list every task              {ms(r['drgn_list_tasks_s'])} {ms(r['drgn_list_tasks_cpu_s'])}")
    print(f"  gdb thread apply all bt           {ms(r['gdb_thread_apply_all_bt_s'])} {ms(r['gdb_thread_apply_all_bt_cpu_s'])}"
          f"   (server {ms(r['server_cpu_in_bt_s']).strip()})")
    print(f"  drgn stack_trace() of every task  {ms(r['drgn_stack_trace_all_s'])} {ms(r['drgn_stack_trace_all_cpu_s'])}")
    print(f"  bt ratio gdb/drgn: wall {r['gdb_thread_apply_all_bt_s']/r['drgn_stack_trace_all_s']:.2f}, "
          f"CPU {r['gdb_thread_apply_all_bt_cpu_s']/r['drgn_stack_trace_all_cpu_s']:.2f}")
    print(f"  sleeping tasks with the same backtrace in both: {same}, different: {differ}")
    for e in examples:
        print(f"    pid {e[0]} {e[1]}: gdb {e[2]} drgn {e[3]}")


if __name__ == "__main__":
    main()

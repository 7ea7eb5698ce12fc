#!/usr/bin/env python3
"""Where the scheduler woke each backend thread during a benchmark row, from a tracefs text trace.

Record (root; tracefs mounted at /sys/kernel/tracing):
    T=/sys/kernel/tracing; echo > $T/trace
    echo 1 > $T/events/sched/sched_waking/enable; echo 1 > $T/events/sched/sched_switch/enable
    echo 1 > $T/tracing_on; ./jxen bench --only send-to-backend; echo 0 > $T/tracing_on
    cat $T/trace > wakes.trace; python3 tools/sched-wakes.py wakes.trace

For each wake of a backend (jxen's bench backend, the C VMM's kvmref-backend) it classifies: was the thread's previous
CPU the waker's own CPU (the pair shares a core) or the other one, was that other CPU idle, and where the wake went;
then, by where it went, the median time from the wake to the backend running (sched_waking to its sched_switch in),
and how long the backend then stays on its CPU (sched_switch in to out: its own work for one event). Last, how
often the pair (the backend and the vCPU thread that wakes it) comes together or parts, per wake made in each state,
and the vCPU thread's CPU time per wake (its load, which steers where the scheduler puts the backend).
"""
import statistics
import collections
import re
import sys

BACKENDS = ("jxen-bench-back", "kvmref-backend")  # comm is cut at 15 characters
VCPU_OF = {"jxen-bench-back": "jxen-vcpu-0", "kvmref-backend": "kvmref-vcpu-0"}  # the thread that sends to it
EVENT = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+): (.*)$")


def main(path):
    last_cpu = {}  # pid -> the CPU it last ran on
    running = {}  # cpu -> comm running there now
    stats = collections.defaultdict(collections.Counter)
    woken = {}  # pid -> (comm, where the wake went, its time)
    delays = collections.defaultdict(list)  # (comm, where) -> microseconds from the wake to running
    backend_pids = {}  # pid -> backend comm
    switched_in = {}  # backend pid -> when it last started running
    on_cpu = collections.defaultdict(list)  # (comm, where it was woken) -> microseconds per stay on a CPU
    woken_where = {}  # backend pid -> where its last wake went
    together = {}  # backend comm -> whether its last wake by its vCPU thread went to that thread's CPU
    wakes_in = collections.defaultdict(collections.Counter)  # backend comm -> wakes made while together/apart
    changes = collections.defaultdict(collections.Counter)  # backend comm -> joins and partings
    cpu_time = collections.Counter()  # pid -> seconds on a CPU
    comm_of = {}  # pid -> its last name seen
    since = {}  # cpu -> (pid running, since when)
    for line in open(path):
        m = EVENT.match(line)
        if not m:
            continue
        cpu, when, name, rest = int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)
        if name == "sched_switch":
            prev_pid = int(re.search(r"prev_pid=(\d+)", rest).group(1))
            next_pid = int(re.search(r"next_pid=(\d+)", rest).group(1))
            last_cpu[prev_pid] = cpu
            if cpu in since:
                cpu_time[since[cpu][0]] += when - since[cpu][1]
            since[cpu] = (next_pid, when)
            comm_of[next_pid] = running[cpu] = rest.split("next_comm=")[1].split(" next_pid=")[0]
            if prev_pid in switched_in:
                on_cpu[(backend_pids[prev_pid], woken_where.get(prev_pid))].append((when - switched_in.pop(prev_pid)) * 1e6)
            if next_pid in backend_pids:
                switched_in[next_pid] = when
            comm, where, at = woken.pop(next_pid, (None, None, 0))
            if comm:
                delays[(comm, where)].append((when - at) * 1e6)
        elif name == "sched_waking":
            comm = rest.split("comm=")[1].split(" pid=")[0]
            if comm not in BACKENDS:
                continue
            pid = int(re.search(r" pid=(\d+)", rest).group(1))
            backend_pids[pid] = comm
            target = int(re.search(r"target_cpu=(\d+)", rest).group(1))
            prev = last_cpu.get(pid, -1)
            others = [c for c in running if c != cpu]
            idle = "idle" if others and all(running[c].startswith("swapper") for c in others) else "busy"
            where = "the waker's CPU" if target == cpu else "another CPU"
            key = "previous CPU {}, other CPU {} -> woken on {}".format("the waker's" if prev == cpu else "another", idle, where)
            stats[comm][key] += 1
            woken[pid] = (comm, where, when)
            woken_where[pid] = where
            if m.group(1).strip().startswith(VCPU_OF[comm]):
                now = target == cpu
                if comm in together:
                    wakes_in[comm][together[comm]] += 1
                    if now != together[comm]:
                        changes[comm]["join" if now else "part"] += 1
                together[comm] = now
    for comm, counts in stats.items():
        total = sum(counts.values())
        print(f"{comm}: {total} wakes")
        for key, n in counts.most_common():
            print(f"  {n:7d} {100 * n / total:5.1f} %  {key}")
        for (c, where), d in sorted(delays.items()):
            if c == comm:
                stays = sorted(on_cpu[(comm, where)])
                print(f"  woken on {where}: running after {statistics.median(d):.1f} us (median of {len(d)}),"
                      f" then on that CPU for {statistics.median(stays):.1f} us (median; p90 {stays[int(0.9 * len(stays))]:.1f})")
        apart, joined = wakes_in[comm][False], wakes_in[comm][True]
        print(f"  with {VCPU_OF[comm]}: {changes[comm]['join']} joins in {apart} wakes apart"
              f" ({100 * changes[comm]['join'] / max(1, apart):.2f} %), {changes[comm]['part']} partings in {joined} wakes together"
              f" ({100 * changes[comm]['part'] / max(1, joined):.2f} %)")
        vcpu_seconds = sum(t for pid, t in cpu_time.items() if comm_of.get(pid) == VCPU_OF[comm])
        print(f"  {VCPU_OF[comm]} on a CPU {vcpu_seconds:.2f} s: {1e6 * vcpu_seconds / total:.0f} us per wake")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: sched-wakes.py TRACE")
    main(sys.argv[1])

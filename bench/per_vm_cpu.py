#!/usr/bin/env python3
"""Per-VM CPU of igvm-mgr's processes (not a test): one VM (TCG, -S, 64 MiB) started and stopped at
a time, N times, with a warm capability cache; prints the medians of the CPU time of the `start`
process, of the supervisor until the VM is ready (all its threads, /proc/PID/task/*/schedstat),
and of the `stop` process, plus the wall time of `start` and `stop`. With several --binary
options the binaries take turns, round by round, so that load drifting over the run hits each
alike: how a change to start-up is compared.

    bench/build-release
    python3 bench/per_vm_cpu.py [--runs 9] [--binary .build-static/release/igvm-mgr --binary OTHER]

Every process is spawned from an argv list (no shell).
"""
import argparse, json, os, resource, shutil, statistics, subprocess, tempfile, time

from lifecycle_bench import destroy_all, guest_config, warm_cache


def thread_cpu_ms(pid):
    """CPU time of every thread of `pid` so far (schedstat's first field, nanoseconds)."""
    total = 0
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e6


def child(argv):
    """Runs `argv`; returns its stdout, its CPU time and its wall time (ms)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    wall = (time.monotonic() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return result.stdout, cpu, wall


def one_vm(binary, config, state, name):
    out, start_cpu, start_wall = child([binary, "start", config, "--name", name, "--paused", "--json", "--state-dir", state])
    supervisor_cpu = thread_cpu_ms(json.loads(out)["supervisor-pid"])
    _, stop_cpu, stop_wall = child([binary, "stop", name, "--mode", "quit", "--state-dir", state])
    return start_cpu, start_wall, supervisor_cpu, stop_cpu, stop_wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--binary", action="append")
    parser.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    args = parser.parse_args()
    binaries = [os.path.abspath(b) for b in (args.binary or [".build-static/release/igvm-mgr"])]
    folder = tempfile.mkdtemp(prefix="ipc-", dir="/tmp")
    config = f"{folder}/bench.toml"
    guest_config(config, "bench", args.qemu)
    rows = {b: [] for b in binaries}
    try:
        for i, binary in enumerate(binaries):
            state = f"{folder}/s{i}"
            warm_cache(binary, config, state)
        for run in range(args.runs):
            for i, binary in enumerate(binaries):
                rows[binary].append(one_vm(binary, config, f"{folder}/s{i}", f"vm{run}"))
    finally:
        for i, binary in enumerate(binaries):
            destroy_all(binary, f"{folder}/s{i}")
        shutil.rmtree(folder, ignore_errors=True)
    print(f"medians of {args.runs} (ms): start CPU / wall | supervisor CPU until ready | stop CPU / wall")
    for binary, values in rows.items():
        m = [statistics.median(column) for column in zip(*values)]
        print(f"{m[0]:6.1f} / {m[1]:6.1f} | {m[2]:6.1f} | {m[3]:6.1f} / {m[4]:6.1f}   {binary}")


if __name__ == "__main__":
    main()

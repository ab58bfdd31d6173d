#!/usr/bin/env python3
"""Lifecycle under random faults (not a test): N times, start a TCG VM and hurt it at a random
place, then `stop --force` and `list`, and finally count the QEMU processes left running.

Faults: the supervisor killed (SIGKILL, through the supervisor-only test hook
IGVM_MGR_TEST_FAULT) at one of the five named points of `start` or three of `stop`; SIGTERM to
the supervisor; the control socket deleted; the supervisor stopped (SIGSTOP).

    swift build --product igvm-mgr
    python3 bench/fault_loop.py [--runs 50] [--seed S] [--igvm-mgr .build/debug/igvm-mgr]

Prints one line per run and a summary: runs whose `list` phase after `stop --force` is still
active (or orphaned/lost), and QEMU processes still running — untracked ones are those whose
VM record does not name them. Every process is spawned from an argv list (no shell).
"""
import argparse, json, os, random, shutil, signal, subprocess, sys, tempfile, time

START_POINTS = ["before-spawn", "gate-spawned", "pid-recorded", "qemu-released", "monitor-connected"]
STOP_POINTS = ["stop-requested", "stop-step-sent", "qemu-exited"]
FAULTS = [("start", p) for p in START_POINTS] + [("stop", p) for p in STOP_POINTS] + \
         [("sigterm", None), ("no-control-socket", None), ("sigstop", None)]
ACTIVE = {"starting", "running", "paused", "stopping", "orphaned", "lost"}


def run(binary, state, *args, env=None):
    return subprocess.run([binary, *args, "--state-dir", state], capture_output=True, text=True, env=env, timeout=120)


def processes_writing_to(path):
    """PIDs whose stdout is `path` (QEMU writes qemu.log, the supervisor supervisor.log)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/fd/1") == path:
                    with open(f"/proc/{entry}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] not in "ZX":
                            found.append(int(entry))
            except OSError:
                pass
    return found


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def one_run(binary, config, state, name, fault):
    kind, point = fault
    env = dict(os.environ)
    if point:
        env["IGVM_MGR_TEST_FAULT"] = point
    folder = os.path.join(state, name)
    started = run(binary, state, "start", config, "--name", name, "--json", env=env)
    if started.returncode == 0:
        info = json.loads(started.stdout)
        supervisor = info["supervisor-pid"]
        if kind == "stop":
            run(binary, state, "stop", name, "--mode", "quit", "--timeout", "2")
        elif kind == "sigterm":
            os.kill(supervisor, signal.SIGTERM)
            # Wait for the event the signal starts, not for time.
            wait_for(lambda: "SIGNAL_RECEIVED" in open(os.path.join(folder, "events.jsonl")).read(), 10)
        elif kind == "no-control-socket":
            os.unlink(os.path.join(folder, "control.sock"))
        elif kind == "sigstop":
            os.kill(supervisor, signal.SIGSTOP)
    stop = run(binary, state, "stop", name, "--force")
    listed = {vm["name"]: vm for vm in json.loads(run(binary, state, "list", "--json").stdout)}
    phase = listed.get(name, {}).get("phase", "?")
    left = processes_writing_to(os.path.join(folder, "qemu.log"))
    return phase, left, started.returncode, stop.returncode, (stop.stderr or "").strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--igvm-mgr", default=".build/debug/igvm-mgr")
    parser.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    binary = os.path.abspath(args.igvm_mgr)
    root = tempfile.mkdtemp(prefix="im-fl-", dir="/tmp")
    state = os.path.join(root, "s")
    config = os.path.join(root, "vm.toml")
    with open(config, "w") as f:
        f.write(f'name = "vm"\n\n[qemu]\nbinary = "{args.qemu}"\nmachine = "q35"\naccel = "tcg"\nmemory = "64M"\n')
    bad_phase, untracked, leftover = 0, 0, 0
    print(f"seed {seed}")
    try:
        for i in range(args.runs):
            fault = rng.choice(FAULTS)
            name = f"f{i}"
            phase, left, start_rc, stop_rc, stop_err = one_run(binary, config, state, name, fault)
            if phase in ACTIVE:
                bad_phase += 1
            if left:
                leftover += len(left)
                record = json.load(open(os.path.join(state, name, "state.json")))
                recorded = (record.get("qemu") or {}).get("pid")
                untracked += sum(1 for pid in left if pid != recorded)
            label = fault[0] + (":" + fault[1] if fault[1] else "")
            print(f"{i:3} {label:28} start={start_rc} stop={stop_rc} phase={phase:8} qemu-left={left}"
                  + (f"  stop: {stop_err}" if stop_rc else ""))
    finally:
        # Whatever is left is killed here so that the machine is clean, after being counted.
        for pid in processes_writing_to_any(state):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    print(f"runs {args.runs}: active phase after stop --force {bad_phase}, QEMU left running {leftover}, untracked {untracked}")
    return 1 if bad_phase or leftover else 0


def processes_writing_to_any(state):
    pids = []
    if os.path.isdir(state):
        for name in os.listdir(state):
            for log in ("qemu.log", "supervisor.log"):
                pids += processes_writing_to(os.path.join(state, name, log))
    return pids


if __name__ == "__main__":
    sys.exit(main())

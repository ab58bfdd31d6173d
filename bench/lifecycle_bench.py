#!/usr/bin/env python3
"""Lifecycle benchmark (not a test): start N VMs (TCG, -S, 64 MiB) until each is QMP-ready,
then stop them all — with igvm-mgr (a supervisor per VM; a `start` and a `stop` per VM, all at once,
and then one `start` of all the definitions and one `stop` of all the names) and with two
peers: a serial loop of `qemu-system-x86_64 -daemonize` plus waiting for the QMP sockets, and
the same QEMUs started all at once (the fair peer: igvm-mgr's starts run in parallel too).

Prints the times, the ratios and the supervisors' RSS. Goal: <= 1.3x the parallel bare start and
<= 15 MiB RSS per supervisor.

    bench/build-release
    python3 bench/lifecycle_bench.py [--count 50] [--igvm-mgr .build-static/release/igvm-mgr]

Every process is spawned from an argv list (no shell).
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

try:  # libvirt 11 as a further peer when it is installed and running (bench/libvirt_peer.py)
    import libvirt_peer
except ImportError:
    libvirt_peer = None

GUEST = ["-machine", "q35", "-accel", "tcg", "-m", "64M", "-nodefaults", "-no-user-config", "-display", "none"]


def qmp_ready(path, timeout=60.0):
    """Connects, reads the greeting and negotiates: the VM's monitor answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            f = s.makefile("rw")
            json.loads(f.readline())
            f.write('{"execute": "qmp_capabilities"}\n'); f.flush()
            reply = json.loads(f.readline())
            assert "return" in reply, reply
            return s, f
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)


def wait_gone(pid, timeout=30.0):
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.002)


def quit_all(monitors, pidfiles):
    """Sends `quit` on every monitor and waits for each QEMU to be gone; returns the seconds."""
    t0 = time.monotonic()
    pids = [int(open(path).read()) for path in pidfiles]
    for s, f in monitors:
        f.write('{"execute": "quit"}\n'); f.flush()
    for pid in pids:
        wait_gone(pid)
    for s, f in monitors:
        s.close()
    return time.monotonic() - t0


def bare(qemu, n, folder):
    t0 = time.monotonic()
    for i in range(n):
        subprocess.run([qemu, *GUEST, "-S", "-qmp", f"unix:{folder}/b{i}.sock,server=on,wait=off",
                        "-daemonize", "-pidfile", f"{folder}/b{i}.pid"], check=True)
    monitors = [qmp_ready(f"{folder}/b{i}.sock") for i in range(n)]
    t1 = time.monotonic()
    return t1 - t0, quit_all(monitors, [f"{folder}/b{i}.pid" for i in range(n)])


def bare_parallel(qemu, n, folder):
    """Every QEMU spawned at once, each monitor awaited on its own thread, then all quit."""
    t0 = time.monotonic()
    daemons = [subprocess.Popen([qemu, *GUEST, "-S", "-qmp", f"unix:{folder}/p{i}.sock,server=on,wait=off",
                                 "-daemonize", "-pidfile", f"{folder}/p{i}.pid"]) for i in range(n)]
    for d in daemons:
        if d.wait() != 0:
            sys.exit("qemu -daemonize failed")
    with ThreadPoolExecutor(max_workers=n) as pool:
        monitors = list(pool.map(lambda i: qmp_ready(f"{folder}/p{i}.sock"), range(n)))
    t1 = time.monotonic()
    return t1 - t0, quit_all(monitors, [f"{folder}/p{i}.pid" for i in range(n)])


def rss_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0])
    # PSS shares the pages of the binary and its libraries among the processes mapping them.
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                values["Pss"] = int(line.split()[1])
    return values


def supervised(igvm, qemu, n, folder, warm=True):
    state = f"{folder}/s" + ("" if warm else "-cold")
    config = f"{folder}/bench.toml"
    guest_config(config, "bench", qemu)
    base = ["--state-dir", state]
    if warm:
        warm_cache(igvm, config, state)
    t0 = time.monotonic()
    starts = [subprocess.Popen([igvm, "start", config, "--name", f"vm{i}", "--paused", "--json", *base],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(n)]
    results = [p.communicate() + (p.returncode,) for p in starts]
    t1 = time.monotonic()
    failed = [r for r in results if r[2] != 0]
    if failed:
        sys.exit(f"igvm-mgr start failed: {failed[0][1].decode()}")
    supervisors = [json.loads(r[0])["supervisor-pid"] for r in results]
    rss = [rss_kib(pid) for pid in supervisors]
    # And once each supervisor has served its control socket (status, a pass-through command,
    # a manager command): the code that runs then faults back in.
    for i in range(n):
        for command in (["status", f"vm{i}"], ["qmp", f"vm{i}", "query-status"], ["qmp", f"vm{i}", "x-igvm-mgr-status"]):
            subprocess.run([igvm, *command, *base], stdout=subprocess.DEVNULL, check=True)
    rss_served = [rss_kib(pid) for pid in supervisors]
    t2 = time.monotonic()
    stops = [subprocess.Popen([igvm, "stop", f"vm{i}", "--mode", "quit", *base], stdout=subprocess.DEVNULL)
             for i in range(n)]
    for p in stops:
        p.wait()
    for pid in supervisors:
        wait_gone(pid)
    return t1 - t0, time.monotonic() - t2, rss, rss_served


def json_documents(text):
    """The JSON documents of a multi-VM command's --json output, one after another."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def batched(igvm, qemu, n, folder):
    """The same VMs with one `igvm-mgr start` of all the definitions and one `igvm-mgr stop` of all
    the names (each VM still gets its own supervisor): the per-command process start-up paid once."""
    state = f"{folder}/batch"
    base = ["--state-dir", state]
    configs = []
    for i in range(n):
        configs.append(f"{folder}/batch{i}.toml")
        guest_config(configs[-1], f"bvm{i}", qemu)
    warm_cache(igvm, configs[0], state)
    t0 = time.monotonic()
    started = subprocess.run([igvm, "start", *configs, "--paused", "--json", *base], capture_output=True, text=True)
    t1 = time.monotonic()
    if started.returncode != 0:
        sys.exit(f"igvm-mgr start (all) failed: {started.stderr}")
    supervisors = [d["supervisor-pid"] for d in json_documents(started.stdout)]
    assert len(supervisors) == n, started.stdout
    t2 = time.monotonic()
    subprocess.run([igvm, "stop", *[f"bvm{i}" for i in range(n)], "--mode", "quit", *base], stdout=subprocess.DEVNULL, check=True)
    for pid in supervisors:
        wait_gone(pid)
    return t1 - t0, time.monotonic() - t2


def guest_config(path, name, qemu):
    """The benchmarks' guest: q35 under TCG, 64 MiB, nothing else."""
    with open(path, "w") as f:
        f.write(f'name = "{name}"\n[qemu]\nbinary = "{qemu}"\nmachine = "q35"\naccel = "tcg"\nmemory = "64M"\n')


def warm_cache(igvm, config, state):
    """An operator's first start probes the binary once and caches the result (STATE/.qemu-caps);
    a warm cache is the steady state being compared: one VM started and destroyed first."""
    base = ["--state-dir", state]
    subprocess.run([igvm, "start", config, "--name", "warm", "--paused", *base], stdout=subprocess.DEVNULL, check=True)
    subprocess.run([igvm, "destroy", "warm", *base], stdout=subprocess.DEVNULL, check=True)


def destroy_all(igvm, state):
    """Destroys every VM of the state directory `state` (one destroy of all the names)."""
    if not os.path.isdir(state):
        return
    listed = subprocess.run([igvm, "list", "--json", "--state-dir", state], capture_output=True, text=True)
    names = [vm["name"] for vm in json.loads(listed.stdout or "[]")] if listed.returncode == 0 else os.listdir(state)
    names = [n for n in names if not n.startswith(".")]
    if names:
        subprocess.run([igvm, "destroy", *names, "--state-dir", state], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def leave_nothing_running(igvm, folder):
    """A run that failed half-way (a start that failed, an interrupt) leaves no VM behind: every
    supervised VM of the run's state directories is destroyed, every bare QEMU killed."""
    for state in ("s", "s-cold", "batch"):
        destroy_all(igvm, os.path.join(folder, state))
    for name in os.listdir(folder):
        if name.endswith(".pid"):
            try:
                pid = int(open(os.path.join(folder, name)).read())
                if "qemu" in open(f"/proc/{pid}/cmdline").read():
                    os.kill(pid, 9)
            except (ValueError, OSError):
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--igvm-mgr", default=".build-static/release/igvm-mgr")
    parser.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="imb-", dir="/tmp")
    try:
        b_start, b_stop = bare(args.qemu, args.count, folder)
        p_start, p_stop = bare_parallel(args.qemu, args.count, folder)
        c_start, _, _, _ = supervised(os.path.abspath(args.igvm_mgr), args.qemu, args.count, folder, warm=False)
        s_start, s_stop, rss, rss_served = supervised(os.path.abspath(args.igvm_mgr), args.qemu, args.count, folder)
        m_start, m_stop = batched(os.path.abspath(args.igvm_mgr), args.qemu, args.count, folder)
        libvirt_ok, libvirt_why = libvirt_peer.available() if libvirt_peer else (False, "bench/libvirt_peer.py missing")
        libvirt = libvirt_peer.run(args.count, args.qemu) if libvirt_ok else None
    finally:
        leave_nothing_running(os.path.abspath(args.igvm_mgr), folder)
        shutil.rmtree(folder, ignore_errors=True)
    b_total, p_total, s_total, m_total = b_start + b_stop, p_start + p_stop, s_start + s_stop, m_start + m_stop
    mean = lambda key, rss=rss: sum(r[key] for r in rss) / len(rss) / 1024
    print(f"{args.count} VMs (TCG, -S, 64 MiB), QEMU {args.qemu}")
    print(f"bare loop (-daemonize + QMP ready): start {b_start:.2f} s, stop {b_stop:.2f} s, total {b_total:.2f} s")
    print(f"bare, all at once:                  start {p_start:.2f} s, stop {p_stop:.2f} s, total {p_total:.2f} s")
    print(f"igvm-mgr, cold probe cache:         start {c_start:.2f} s (one start probes the binary, the others wait for it)")
    print(f"igvm-mgr (parallel starts):         start {s_start:.2f} s, stop {s_stop:.2f} s, total {s_total:.2f} s")
    print(f"ratio igvm-mgr / bare serial: start {s_start / b_start:.2f}x, total {s_total / b_total:.2f}x")
    print(f"ratio igvm-mgr / bare parallel: start {s_start / p_start:.2f}x, total {s_total / p_total:.2f}x (goal <= 1.3x)")
    print(f"igvm-mgr (one start, one stop of all): start {m_start:.2f} s, stop {m_stop:.2f} s, total {m_total:.2f} s")
    print(f"ratio igvm-mgr one command / bare parallel: start {m_start / p_start:.2f}x, total {m_total / p_total:.2f}x (goal <= 1.3x)")
    if libvirt:
        print(f"libvirt: {libvirt_why}")
        print("\n".join(libvirt_peer.report(libvirt, (s_start, s_total), (p_start, p_total), (b_start, b_total))))
    else:
        print(f"libvirt: not measured: {libvirt_why}")
    print(f"supervisor RSS: mean {mean('VmRSS'):.1f} MiB (anon {mean('RssAnon'):.1f} MiB, file {mean('RssFile'):.1f} MiB), "
          f"max {max(r['VmRSS'] for r in rss) / 1024:.1f} MiB (goal <= 15 MiB); PSS mean {mean('Pss'):.1f} MiB")
    print(f"  after status + 2 control-socket commands each: mean {mean('VmRSS', rss_served):.1f} MiB "
          f"(file {mean('RssFile', rss_served):.1f} MiB), max {max(r['VmRSS'] for r in rss_served) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()

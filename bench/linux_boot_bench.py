#!/usr/bin/env python3
"""Boot-to-prompt of configs/linux-tcg.toml: `igvm-mgr start` against the same argv run by hand.

Each round measures from the moment the command is spawned to the guest's shell prompt
("guest# ") in the console log, then ends the VM (igvm-mgr: `stop --mode quit`; by hand: SIGKILL).
The hand-run argv is `igvm-mgr args --qmp-socket` without -S, so QEMU runs at once; everything
else is identical except the console: under igvm-mgr the supervisor relays it and writes the log
(fd=4, server=off), by hand QEMU listens and writes the log itself (logfile=), and a client
connected as soon as the socket exists drains it, as the relay does (with nobody connected the
by-hand boot took 1.2-2x as long here, 2026-12-03; the cause was not traced, the drain removes it). Usage: bench/linux_boot_bench.py [ROUNDS]
"""
import json, os, shutil, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGVM_MGR = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True).stdout.strip() + "/igvm-mgr"
CONFIG = os.path.join(ROOT, "configs/linux-tcg.toml")
PROMPT = b"guest# "

from vmfwupdate_bench import wait_for  # noqa: E402 (the bench's one wait for a marker in a file)


def wait_for_prompt(log):
    return wait_for(log, PROMPT, timeout=120)


def managed(state):
    t0 = time.time()  # wait_for returns wall time
    subprocess.run([IGVM_MGR, "start", CONFIG, "--state-dir", state], check=True, capture_output=True)
    t = wait_for_prompt(f"{state}/linux-tcg/console.log") - t0
    subprocess.run([IGVM_MGR, "stop", "linux-tcg", "--mode", "quit", "--state-dir", state], check=True, capture_output=True)
    subprocess.run([IGVM_MGR, "destroy", "linux-tcg", "--state-dir", state], capture_output=True)
    return t


def drain(path, deadline=60):
    """Connects to the console socket as soon as QEMU listens on it and reads until EOF."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            time.sleep(0.001)
            continue
        while s.recv(65536):
            pass
        s.close()
        return


def by_hand(state):
    folder = f"{state}/linux-tcg"
    os.makedirs(folder, exist_ok=True)
    argv = json.loads(subprocess.run([IGVM_MGR, "args", CONFIG, "--json", "--state-dir", state, "--qmp-socket", folder + "/qmp.sock"],
                                     check=True, capture_output=True, text=True).stdout)
    argv = [a for a in argv if a != "-S"]
    t0 = time.time()  # wait_for returns wall time
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reader = threading.Thread(target=drain, args=(folder + "/console.sock",), daemon=True)
    reader.start()
    t = wait_for_prompt(folder + "/console.log") - t0
    p.kill()
    p.wait()
    reader.join()
    shutil.rmtree(folder)
    return t


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    state = tempfile.mkdtemp(prefix="im-b", dir="/tmp")
    results = {"igvm-mgr": [], "by hand": []}
    try:
        for _ in range(rounds):
            results["by hand"].append(by_hand(state))
            results["igvm-mgr"].append(managed(state))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    med = {k: sorted(v)[len(v) // 2] for k, v in results.items()}
    for k, v in results.items():
        print(f"{k:9s} median {med[k]:.2f} s  runs " + " ".join(f"{x:.2f}" for x in v))
    print(f"ratio igvm-mgr / by hand: {med['igvm-mgr'] / med['by hand']:.3f}")


if __name__ == "__main__":
    main()

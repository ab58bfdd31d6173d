#!/usr/bin/env python3
"""vmfwupdate timing (a benchmark, not a test): from the guest's reset to the stage-2 marker.

igvm-mgr: `igvm-mgr start` of a VM booting the test firmware (firmware/vmfwupdate-test); the
supervisor's step timings (vmfwupdate-step-timings events) give read-out (mailbox + image),
store (whole file + fsync + SHA-256) and quit; relaunch is from the old instance's end to the
stage-2 marker on the debug console. Two configs, alternated:
- kept RAM (the default with the interface on): guest RAM in a memory-backend-file every instance
  maps, the mailbox and image read from that file;
- fresh RAM: the config names its own `[memory-backend]` (memory-backend-ram), so RAM is not kept,
  the read-out goes through QMP `pmemsave` and the relaunch starts on fresh RAM: the relaunch as
  it was before guest RAM was preserved.

Peer, in the same run: a minimal Python qemu.qmp script doing the same steps by hand against the
same QEMU (launch, SHUTDOWN guest-reset, pmemsave mailbox and image, write + fsync + sha256, quit,
launch with -bios IMAGE, wait for the marker) — what the orchestration costs over the bare steps.

Usage: bench/build-release && bench/vmfwupdate_bench.py [--runs N] [--binary .build-static/release/igvm-mgr]
Prints the medians and the ratios of the totals (kept RAM over fresh RAM, kept RAM over the peer).
"""
import argparse, asyncio, hashlib, json, os, struct, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FW = os.path.join(ROOT, "firmware", "vmfwupdate-test")
STAGE2 = b"igvm-mgr-test: stage2 running\n"
MAILBOX_GPA = 0x9000


def assemble(directory):
    subprocess.run(["nasm", "-f", "bin", "-I", FW + "/", "-o", f"{directory}/stage2.bin", f"{FW}/stage2.asm"], check=True)
    subprocess.run(["nasm", "-f", "bin", "-I", FW + "/", "-I", directory + "/", "-o", f"{directory}/stage1.rom",
                    f"{FW}/stage1.asm"], check=True)
    return f"{directory}/stage1.rom"


def wait_for(path, marker, timeout=30):
    """Returns the wall time at which `path` first holds `marker` (polled every 0.5 ms)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path, "rb") as f:
                if marker in f.read():
                    return time.time()
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    raise TimeoutError(f"{path} never showed {marker!r}")


def parse_at(text):
    # RFC 3339 UTC with fractional seconds: 2026-11-23T10:48:00.123456Z
    from datetime import datetime, timezone
    return datetime.strptime(text.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def igvm_mgr_run(binary, qemu, rom, work, index, fresh_ram=False):
    name = f"{'f' if fresh_ram else 'b'}{index}"
    backend = '[memory-backend]\ntype = "memory-backend-ram"\n' if fresh_ram else ""
    state = f"{work}/s"
    debugcon = f"{work}/{name}.debugcon.log"
    config = f"{work}/{name}.toml"
    with open(config, "w") as f:
        f.write(f'name = "{name}"\n[qemu]\nbinary = "{qemu}"\nmachine = "q35"\naccel = "tcg"\nmemory = "64M"\n'
                f'debugcon = "{name}.debugcon.log"\n[firmware]\nbios = "{rom}"\n'
                f'[vmfwupdate]\nenabled = true\nmailbox = "0x{MAILBOX_GPA:x}"\n' + backend)
    subprocess.run([binary, "start", config, "--state-dir", state], check=True, capture_output=True)
    marker_at = wait_for(debugcon, STAGE2)
    deadline = time.time() + 30
    while json.loads(subprocess.run([binary, "status", name, "--json", "--state-dir", state],
                                    capture_output=True, check=True).stdout)["phase"] != "stopped":
        if time.time() > deadline:
            raise TimeoutError("VM never stopped")
        time.sleep(0.01)
    events = [json.loads(line) for line in open(f"{state}/{name}/events.jsonl")]
    reset_at = next(parse_at(e["at"]) for e in events if e["event"] == "SHUTDOWN" and e["data"]["reason"] == "guest-reset")
    timings = next(e["data"] for e in events if e["event"] == "vmfwupdate-step-timings")
    readout = timings["read-mailbox"] + timings["read-image"]
    store, quit = timings["store"], timings["quit"]
    total = marker_at - reset_at
    subprocess.run([binary, "destroy", name, "--state-dir", state], capture_output=True)
    return {"read-out": readout, "store": store, "quit": quit, "relaunch": total - readout - store - quit, "total": total}


async def peer_run(qemu, rom, work, index):
    from qemu.qmp import QMPClient
    fwcfg = f"{work}/p{index}"
    os.makedirs(fwcfg, exist_ok=True)
    # fw-cfg name -> value (docs/vmfwupdate.md, "What the guest sees").
    files = {"opt/org.igvm-mgr/vmfwupdate/mailbox-gpa": MAILBOX_GPA, "etc/vmfwupdate/cap": 1 << 33,
             "etc/vmfwupdate/bios-size": 0x10000}
    args = []
    for name, value in files.items():
        key = name.rsplit("/", 1)[-1]
        with open(f"{fwcfg}/{key}", "wb") as f:
            f.write(struct.pack("<Q", value))
        args += ["-fw_cfg", f"name={name},file={fwcfg}/{key}"]

    async def launch(bios, debugcon, extra):
        # We listen, QEMU connects (client mode): no window between QEMU's bind and listen.
        sock = f"{fwcfg}/qmp.sock"
        if os.path.exists(sock):
            os.unlink(sock)
        client = QMPClient("peer")
        await client.start_server(sock)
        proc = await asyncio.create_subprocess_exec(
            qemu, "-machine", "q35", "-accel", "tcg", "-m", "64M", "-nodefaults", "-display", "none", "-S",
            "-bios", bios, "-action", "reboot=shutdown,shutdown=pause",
            "-chardev", f"file,id=d,path={debugcon}", "-device", "isa-debugcon,iobase=0x402,chardev=d",
            *args, *extra, "-qmp", f"unix:{sock}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await client.accept()
        return proc, client

    proc, client = await launch(rom, f"{fwcfg}/d1.log", [])
    events = client.events
    await client.execute("cont")
    async for event in events:
        if event["event"] == "SHUTDOWN":
            reset_at = time.time()
            break
    t = time.time()
    # struct vmfwupdate: fw_image_addr, fw_image_size, opaque_addr, opaque_size from offset 24.
    await client.execute("pmemsave", {"val": MAILBOX_GPA, "size": 56, "filename": f"{fwcfg}/mb"})
    mailbox = open(f"{fwcfg}/mb", "rb").read()
    addr, size, oaddr, osize = struct.unpack_from("<QQQQ", mailbox, 24)
    await client.execute("pmemsave", {"val": addr, "size": size, "filename": f"{fwcfg}/img"})
    await client.execute("pmemsave", {"val": oaddr, "size": osize, "filename": f"{fwcfg}/opq"})
    readout = time.time() - t
    t = time.time()
    image = open(f"{fwcfg}/img", "rb").read()
    digest = hashlib.sha256(image).hexdigest()
    with open(f"{fwcfg}/{digest}.rom.tmp", "wb") as f:
        f.write(image)
        f.flush()
        os.fsync(f.fileno())
    os.rename(f"{fwcfg}/{digest}.rom.tmp", f"{fwcfg}/{digest}.rom")
    store = time.time() - t
    t = time.time()
    await quit_and_disconnect(client)
    await proc.wait()
    quit = time.time() - t
    proc, client = await launch(f"{fwcfg}/{digest}.rom", f"{fwcfg}/d2.log",
                                ["-fw_cfg", f"name=etc/vmfwupdate/opaque-blob,file={fwcfg}/opq"])
    await client.execute("cont")
    marker_at = await asyncio.get_running_loop().run_in_executor(None, wait_for, f"{fwcfg}/d2.log", STAGE2)
    await quit_and_disconnect(client)
    await proc.wait()
    total = marker_at - reset_at
    return {"read-out": readout, "store": store, "quit": quit, "relaunch": total - readout - store - quit, "total": total}


async def quit_and_disconnect(client):
    """`quit`; QEMU's hang-up races the reply, and qemu.qmp then raises EOFError from disconnect()."""
    try:
        await client.execute("quit")
    except Exception:
        pass
    try:
        await client.disconnect()
    except EOFError:
        pass


def median(values):
    return sorted(values)[len(values) // 2]


def summary(label, runs):
    keys = ["read-out", "store", "quit", "relaunch", "total"]
    print(f"{label:10}" + "".join(f"{k:>12}" for k in keys))
    for stat, pick in (("median", median), ("min", min)):
        print(f"  {stat:8}" + "".join(f"{pick([r[k] for r in runs]) * 1000:10.1f}ms" for k in keys))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build-static/release/igvm-mgr"))
    parser.add_argument("--qemu", default="/usr/bin/qemu-system-x86_64")
    a = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fwb-", dir="/tmp")
    rom = assemble(work)
    kept, fresh, peer = [], [], []
    for i in range(a.runs):  # alternate, so that machine noise hits every contender alike
        kept.append(igvm_mgr_run(a.binary, a.qemu, rom, work, i))
        fresh.append(igvm_mgr_run(a.binary, a.qemu, rom, work, i, fresh_ram=True))
        peer.append(asyncio.run(peer_run(a.qemu, rom, work, i)))
    print(f"guest reset → stage-2 marker, {a.runs} runs each, QEMU {a.qemu} (TCG)")
    summary("kept RAM", kept)
    summary("fresh RAM", fresh)
    summary("peer", peer)
    print("kept RAM: igvm-mgr's default with the interface on (RAM in a file every instance maps)")
    print("fresh RAM: igvm-mgr with the config's own memory-backend-ram (pmemsave read-out, fresh RAM: the relaunch before RAM was kept)")
    print("peer: hand-written Python qemu.qmp script doing the same steps (no supervisor, no event log, no state.json; pmemsave, fresh RAM)")
    total = {label: median([r["total"] for r in runs]) for label, runs in (("kept", kept), ("fresh", fresh), ("peer", peer))}
    print(f"ratios of median totals: kept/fresh {total['kept'] / total['fresh']:.2f}, kept/peer {total['kept'] / total['peer']:.2f}, "
          f"fresh/peer {total['fresh'] / total['peer']:.2f}")


if __name__ == "__main__":
    main()

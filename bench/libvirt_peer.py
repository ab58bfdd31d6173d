#!/usr/bin/env python3
"""libvirt 11 as a named peer of bench/lifecycle_bench.py: N transient domains of the bench's
guest started at once with `virsh create --paused`, then all stopped with `virsh destroy`.

    bench/libvirt-setup                                  # libvirt 11 from bookworm-backports, daemons up
    python3 bench/libvirt_peer.py [--count 20] [--qemu /usr/bin/qemu-system-x86_64]

A start counts as ready when `virsh create --paused` returns: libvirtd has then spawned QEMU
with -S, connected and negotiated its QMP monitor and run its start-up queries, and reported
the domain as paused (the same point the bench's other contenders wait for: a monitor that
answers). A stop is done when `virsh destroy` returns: libvirtd has sent SIGTERM and seen the
process gone. Each virsh is its own process with its own connection to libvirtd, as an operator
or a script would run it; the starts and the stops are each issued at once from a thread pool,
like the bench's parallel bare peer.

Every process is spawned from an argv list (no shell).
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

URI = "qemu:///system"
SETUP_HINT = "bench/libvirt-setup installs libvirt 11 from bookworm-backports and starts its daemons"

# The bench's guest: `-machine q35 -accel tcg -m 64M -nodefaults -no-user-config -display none -S`.
# type='qemu' is TCG (https://libvirt.org/formatdomain.html#element-and-attribute-overview).
# <acpi/>: without it libvirt passes acpi=off, while bare QEMU's q35 has ACPI on. The USB
# controller and the balloon are turned off because libvirt adds them by default (a qemu-xhci
# on a pcie-root-port of its own, a virtio balloon); with both off it adds no device at all.
# What libvirt 11.3 still adds to the QEMU argv (seen in /var/log/libvirt/qemu/NAME.log) and bare
# QEMU does not run: `-name guest=NAME,debug-threads=on`, a `secret` object (its master key
# file), `-machine pc-q35-10.0,usb=off,dump-guest-core=off,memory-backend=pc.ram` with an
# explicit `memory-backend-ram` object, `-cpu qemu64` (TCG's default anyway), `-overcommit
# mem-lock=off`, `-smp 1,...`, `-uuid`, `-rtc base=utc`, `-no-shutdown`, `-boot strict=on`,
# `-audiodev none`, `-global ICH9-LPC.noreboot=off`, `-watchdog-action reset`, `-sandbox on,...`
# (seccomp), `-msg timestamp=on`, and the monitor on a socket libvirt passes as an fd. Around
# QEMU libvirtd also puts each domain in its own mount namespace with a private /dev, in cgroups
# (machine/qemu-ID-NAME.libvirt-qemu) and has virtlogd take its stdout/stderr. On the monitor,
# a start sent 475 commands in libvirt's debug log where the bare peer sends one
# (qmp_capabilities): 464 of them `qom-get` of the vCPU's (/machine/unattached/device[0])
# feature properties, one each, to read the guest CPU back; the rest query-* and migration caps.
DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <emulator>{qemu}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def virsh(*args, check=True):
    argv = [shutil.which("virsh") or "virsh", "-q", "-c", URI, *args]
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def available():
    """(True, "libvirt 11.x, QEMU x") when libvirtd answers on qemu:///system with libvirt 11 or
    later; else (False, why)."""
    if not shutil.which("virsh"):
        return False, f"virsh is not installed ({SETUP_HINT})"
    try:
        result = virsh("version", check=False)
    except subprocess.TimeoutExpired:
        return False, f"libvirtd did not answer on {URI} within 120 s"
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        return False, f"libvirtd does not answer on {URI}: {why} ({SETUP_HINT})"
    library = re.search(r"Using library: libvirt (\d+)\.(\S+)", result.stdout)
    hypervisor = re.search(r"Running hypervisor: (.+)", result.stdout)
    if not library:
        return False, f"cannot read the libvirt version from `virsh version`: {result.stdout!r}"
    version = f"{library.group(1)}.{library.group(2)}"
    if int(library.group(1)) < 11:
        return False, f"libvirt {version} is installed; the named peer is libvirt 11 ({SETUP_HINT})"
    return True, f"libvirt {version}, {hypervisor.group(1).strip() if hypervisor else 'hypervisor unknown'}"


def run(count, qemu="/usr/bin/qemu-system-x86_64", warm=True):
    """Starts `count` domains at once (`virsh create --paused`), then destroys them all at once;
    returns {"start": seconds, "stop": seconds}. With `warm`, one domain is created and destroyed
    first, untimed, as the bench warms igvm-mgr's probe cache: libvirtd's capability cache is
    on disk already, this only pages in the start path once."""
    folder = tempfile.mkdtemp(prefix="imb-libvirt-", dir="/tmp")
    # Names carry the PID so that runs on the same libvirtd never collide.
    names = [f"imb-{os.getpid()}-{i}" for i in range(count)]
    created = []
    try:
        def define(name):
            path = os.path.join(folder, f"{name}.xml")
            with open(path, "w") as f:
                f.write(DOMAIN_XML.format(name=name, qemu=qemu))
            return path
        if warm:
            virsh("create", "--paused", define(f"imb-{os.getpid()}-warm"))
            virsh("destroy", f"imb-{os.getpid()}-warm")
        paths = [define(name) for name in names]

        def create(i):
            virsh("create", "--paused", paths[i])
            created.append(names[i])

        with ThreadPoolExecutor(max_workers=count) as pool:
            t0 = time.monotonic()
            list(pool.map(create, range(count)))
            t1 = time.monotonic()
            list(pool.map(lambda name: virsh("destroy", name), names))
            t2 = time.monotonic()
        created.clear()
        return {"start": t1 - t0, "stop": t2 - t1}
    finally:
        # A failed run leaves no domain behind (transient domains vanish when destroyed).
        for name in created:
            virsh("destroy", name, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def report(result, igvm, bare_parallel, bare_serial):
    """The bench's lines for libvirt: its times and the ratios igvm-mgr / libvirt (start, total)
    and libvirt / bare. `igvm`, `bare_parallel`, `bare_serial`: (start, total) in seconds."""
    start, stop = result["start"], result["stop"]
    total = start + stop
    return [
        f"libvirt (virsh create --paused / destroy, all at once): start {start:.2f} s, stop {stop:.2f} s, total {total:.2f} s",
        f"ratio igvm-mgr / libvirt: start {igvm[0] / start:.2f}x, total {igvm[1] / total:.2f}x",
        f"ratio libvirt / bare parallel: start {start / bare_parallel[0]:.2f}x, total {total / bare_parallel[1]:.2f}x; "
        f"libvirt / bare serial: start {start / bare_serial[0]:.2f}x, total {total / bare_serial[1]:.2f}x",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    args = parser.parse_args()
    ok, why = available()
    print(why)
    if not ok:
        sys.exit(1)
    result = run(args.count, args.qemu)
    print(f"{args.count} domains: start {result['start']:.2f} s, stop {result['stop']:.2f} s, "
          f"total {result['start'] + result['stop']:.2f} s")


if __name__ == "__main__":
    main()

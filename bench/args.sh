#!/usr/bin/env bash
# Whole-process time of `igvm-mgr args CONFIG` (release build) for every example config,
# against the peer `qemu-system-x86_64 --version` (a process start of the program we drive).
# Prints hyperfine's table and the ratio igvm-mgr / qemu --version per config.
#   bench/args.sh            # build release, run
#   RUNS=50 bench/args.sh    # more runs; SCRATCH=.build-release for a separate build folder
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || { echo "bench/args.sh: hyperfine is not installed (apt-get install hyperfine)" >&2; exit 2; }
QEMU=$(command -v qemu-system-x86_64) || { echo "bench/args.sh: qemu-system-x86_64 not found" >&2; exit 2; }

# SCRATCH: a separate build folder, so a release build does not wait on a debug build's lock.
SCRATCH=${SCRATCH:-$PWD/.build-static}
BIN="$(SCRATCH="$SCRATCH" bench/build-release 2>/dev/null)"
RUNS=${RUNS:-30}
OUT=bench/out
mkdir -p "$OUT"

commands=("$QEMU --version")
names=("qemu-system-x86_64 --version")
for config in configs/*.toml; do
    commands+=("$BIN args --qmp-socket /tmp/bench.sock $config")
    names+=("igvm-mgr args $(basename "$config")")
done

args=(--warmup 3 --runs "$RUNS" --export-json "$OUT/args.json" -N)
for i in "${!commands[@]}"; do args+=(-n "${names[$i]}" "${commands[$i]}"); done
hyperfine "${args[@]}"

python3 - "$OUT/args.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
peer = results[0]
print(f"\n{'command':40} {'mean ms':>9} {'stddev':>8} {'ratio vs qemu --version':>24}")
for r in results:
    print(f"{r['command']:40} {r['mean']*1000:9.2f} {r['stddev']*1000:8.2f} {r['mean']/peer['mean']:24.2f}")
PY

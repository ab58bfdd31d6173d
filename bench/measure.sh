#!/bin/sh
# Benchmark (not a test): whole-process `igvm-mgr measure --mode snp` against the peer tool
# sev-snp-measure and against `openssl dgst -sha384` over the same image (the hashing floor),
# in one hyperfine run so the figures are comparable.
#
#   bench/measure.sh [OVMF image]      (default /usr/share/OVMF/OVMF_CODE_4M.fd)
#
# Builds igvm-mgr in release mode first. Needs hyperfine, openssl and sev-snp-measure
# (pip install sev-snp-measure==0.0.13).
set -eu
cd "$(dirname "$0")/.."
ovmf=${1:-/usr/share/OVMF/OVMF_CODE_4M.fd}
for tool in hyperfine openssl sev-snp-measure; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
bin=$(bench/build-release)

# Same digest from both tools first: a fast wrong answer is not a result.
for n in 1 64; do
    ours=$("$bin" measure --mode snp --vcpus "$n" --vcpu-type EPYC-v4 --ovmf "$ovmf")
    peer=$(sev-snp-measure --mode snp --vcpus "$n" --vcpu-type EPYC-v4 --ovmf "$ovmf")
    if [ "$ours" != "$peer" ]; then
        echo "bench: digests differ for $n vCPUs: igvm-mgr $ours, sev-snp-measure $peer" >&2
        exit 1
    fi
    echo "vcpus=$n digest $ours (both tools)"
done

ls -l "$ovmf"
hyperfine -N --warmup 3 --min-runs 20 \
    -n "igvm-mgr 1 vCPU" "$bin measure --mode snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf $ovmf" \
    -n "igvm-mgr 64 vCPUs" "$bin measure --mode snp --vcpus 64 --vcpu-type EPYC-v4 --ovmf $ovmf" \
    -n "sev-snp-measure 1 vCPU" "sev-snp-measure --mode snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf $ovmf" \
    -n "sev-snp-measure 64 vCPUs" "sev-snp-measure --mode snp --vcpus 64 --vcpu-type EPYC-v4 --ovmf $ovmf" \
    -n "openssl dgst -sha384" "openssl dgst -sha384 $ovmf"

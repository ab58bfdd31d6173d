#!/usr/bin/env python3
"""Peer side of bench/igvm-mgr-bench: Python qemu.qmp (PyPI) against the same QEMU.

Usage: qemu_qmp_bench.py SOCKET RTT_COUNT THROUGHPUT_COUNT IN_FLIGHT
Prints one JSON object: median/p99 round-trip time of query-status (ns) and the throughput
(commands/s) of THROUGHPUT_COUNT query-status with IN_FLIGHT in flight via asyncio.gather.
"""
import asyncio
import json
import sys
import time

from qemu.qmp import QMPClient


async def main(path, rtt_count, tp_count, width):
    qmp = QMPClient('bench')
    await qmp.connect(path)
    for _ in range(500):  # warm-up
        await qmp.execute('query-status')
    latencies = []
    for _ in range(rtt_count):
        start = time.perf_counter_ns()
        await qmp.execute('query-status')
        latencies.append(time.perf_counter_ns() - start)
    gate = asyncio.Semaphore(width)

    async def one():
        async with gate:
            await qmp.execute('query-status')

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(tp_count)))
    elapsed = time.perf_counter() - start
    await qmp.disconnect()
    latencies.sort()
    print(json.dumps({
        'median_ns': latencies[len(latencies) // 2],
        'p99_ns': latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        'throughput': tp_count / elapsed,
    }))


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))

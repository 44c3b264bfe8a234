"""Nexus operations through the Python SDK, Keel against Temporal's dev server in the same
run: caller workflows that each call one operation of a handler worker's service through an
endpoint, synchronous (the handler answers at once) and asynchronous (the handler starts a
workflow whose completion completes the operation). Operations per second and the latency of
each caller workflow (start to result), p50 and p99.

    python bench/python_nexus.py --keel-bin target/release/keel [--operations 200] [--concurrency 20]

Prints one JSON line per measurement and a table with the Keel/Temporal ratios. Not part of
the test suite (figures, not assertions)."""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from nexus_workflows import NEXUS_WORKFLOWS, GreeterHandler, NexusCaller  # noqa: E402
from ports import reserve_port  # noqa: E402
from python_sdk import wait_port  # noqa: E402
from scenarios import ensure_endpoint  # noqa: E402

OPERATIONS = {"sync": "greet", "async": "echo_later"}


async def run_operations(target: str, kind: str, operations: int, concurrency: int) -> dict:
    client = await Client.connect(target)
    suffix = uuid.uuid4().hex[:8]
    caller_queue, handler_queue, endpoint = f"bench-{suffix}", f"bench-{suffix}-h", f"bench-{suffix}"
    await ensure_endpoint(client, endpoint, handler_queue)
    latencies = []
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with slots:
            began = time.monotonic()
            result = await client.execute_workflow(
                NexusCaller.run, args=[endpoint, OPERATIONS[kind], f"{suffix}-{i}", 60.0],
                id=f"{caller_queue}-{i}", task_queue=caller_queue)
            latencies.append(time.monotonic() - began)
            return result

    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS), \
            Worker(client, task_queue=handler_queue, workflows=NEXUS_WORKFLOWS,
                   nexus_service_handlers=[GreeterHandler()]):
        began = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(operations)))
        took = time.monotonic() - began
    prefix = "hello " if kind == "sync" else "echo "
    assert results == [f"{prefix}{suffix}-{i}" for i in range(operations)], results[:3]
    latencies.sort()
    return {
        "kind": kind,
        "operations": operations,
        "seconds": round(took, 3),
        "per_second": round(operations / took, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keel-bin", required=True)
    parser.add_argument("--temporal-bin", default=shutil.which("temporal") or os.path.join(os.path.dirname(sys.executable), "temporal"))
    parser.add_argument("--operations", type=int, default=200, help="caller workflows per kind, one operation each")
    parser.add_argument("--concurrency", type=int, default=20, help="caller workflows running at once")
    args = parser.parse_args()
    data = tempfile.mkdtemp()
    servers = {}
    try:
        keel_port, temporal_port = reserve_port(), reserve_port()
        servers["keel"] = subprocess.Popen(
            [args.keel_bin, "server", "start-dev", "--listen", f"127.0.0.1:{keel_port}", "--data-dir", f"{data}/keel",
             "--headless", "--http-listen", f"127.0.0.1:{reserve_port()}", "--metrics-listen", f"127.0.0.1:{reserve_port()}"],
            stdout=subprocess.DEVNULL,
        )
        servers["temporal"] = subprocess.Popen(
            [args.temporal_bin, "server", "start-dev", "--headless", "--port", str(temporal_port), "--ui-port", str(reserve_port()),
             "--http-port", str(reserve_port()), "--db-filename", f"{data}/temporal.db", "--log-level", "error"],
            stdout=subprocess.DEVNULL,
        )
        wait_port(keel_port)
        wait_port(temporal_port)
        time.sleep(2)
        targets = {"keel": f"127.0.0.1:{keel_port}", "temporal": f"127.0.0.1:{temporal_port}"}
        rows = {}
        for kind in OPERATIONS:
            for name, target in targets.items():
                r = asyncio.run(run_operations(target, kind, args.operations, args.concurrency))
                r.update(server=name)
                print(json.dumps(r), flush=True)
                rows[(name, kind)] = r
        print(f"\n{'nexus':<7}{'keel ops/s':>12}{'temporal ops/s':>16}{'ratio':>8}"
              f"{'keel p50/p99 ms':>20}{'temporal p50/p99 ms':>22}")
        for kind in OPERATIONS:
            k, t = rows[("keel", kind)], rows[("temporal", kind)]
            print(f"{kind:<7}{k['per_second']:>12}{t['per_second']:>16}{k['per_second'] / t['per_second']:>8.2f}"
                  f"{str(k['p50_ms']) + ' / ' + str(k['p99_ms']):>20}{str(t['p50_ms']) + ' / ' + str(t['p99_ms']):>22}")
    finally:
        for p in servers.values():
            p.terminate()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

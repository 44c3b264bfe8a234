"""Python SDK end to end, Keel against Temporal's dev server in the same run: workflows of
sequential activities and signals driven by the official Python SDK worker, with its
workflow cache (sticky queues) and without (every task replays the whole history).

    python bench/python_sdk.py --keel-bin target/release/keel [--workflows 20] [--steps 20]

Prints one JSON line per (server, cache) and a table of workflows per second with the
Keel/Temporal ratio. Not part of the test suite (figures, not assertions)."""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def step(i: int) -> int:
    return i + 1


@workflow.defn
class StepsWorkflow:
    """`steps` sequential activities; a workflow with a history of about 6 events per step."""

    @workflow.run
    async def run(self, steps: int) -> int:
        value = 0
        for _ in range(steps):
            value = await workflow.execute_activity(step, value, start_to_close_timeout=timedelta(seconds=30))
        return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


async def run_once(target: str, cached: bool, workflows: int, steps: int) -> dict:
    client = await Client.connect(target)
    queue = f"bench-{uuid.uuid4()}"
    cache = {} if cached else {"max_cached_workflows": 0}
    async with Worker(client, task_queue=queue, workflows=[StepsWorkflow], activities=[step], **cache):
        began = time.monotonic()
        handles = [
            await client.start_workflow(StepsWorkflow.run, steps, id=f"{queue}-{i}", task_queue=queue)
            for i in range(workflows)
        ]
        results = await asyncio.gather(*(h.result() for h in handles))
        took = time.monotonic() - began
    assert results == [steps] * workflows
    return {"workflows": workflows, "steps": steps, "seconds": round(took, 3), "per_second": round(workflows / took, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keel-bin", required=True)
    parser.add_argument("--temporal-bin", default=shutil.which("temporal") or os.path.join(os.path.dirname(sys.executable), "temporal"))
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    data = tempfile.mkdtemp()
    servers = {}
    try:
        keel_port, temporal_port = free_port(), free_port()
        servers["keel"] = subprocess.Popen(
            [args.keel_bin, "server", "start-dev", "--listen", f"127.0.0.1:{keel_port}", "--data-dir", f"{data}/keel"],
            stdout=subprocess.DEVNULL,
        )
        servers["temporal"] = subprocess.Popen(
            [args.temporal_bin, "server", "start-dev", "--headless", "--port", str(temporal_port), "--ui-port", str(free_port()),
             "--db-filename", f"{data}/temporal.db", "--log-level", "error"],
            stdout=subprocess.DEVNULL,
        )
        wait_port(keel_port)
        wait_port(temporal_port)
        time.sleep(2)
        targets = {"keel": f"127.0.0.1:{keel_port}", "temporal": f"127.0.0.1:{temporal_port}"}
        rows = {}
        for cached in (True, False):
            for name, target in targets.items():
                r = asyncio.run(run_once(target, cached, args.workflows, args.steps))
                r.update(server=name, cache=cached)
                print(json.dumps(r), flush=True)
                rows[(name, cached)] = r["per_second"]
        print(f"\n{'worker cache':<14}{'keel wf/s':>12}{'temporal wf/s':>16}{'keel/temporal':>16}")
        for cached in (True, False):
            k, t = rows[("keel", cached)], rows[("temporal", cached)]
            print(f"{('on (sticky)' if cached else 'off'):<14}{k:>12}{t:>16}{k / t:>16.2f}")
    finally:
        for p in servers.values():
            p.terminate()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

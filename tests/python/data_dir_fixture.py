"""The data directory fixture (tests/python/fixtures/data-dir-v<format>.tar.gz): a start-dev
data directory made by the release that introduced its storage format, holding workflows in
flight. test_upgrade.py checks that every later build opens it and runs them to completion.

    python tests/python/data_dir_fixture.py   # with KEEL_BIN set: (re)makes the fixture

FROZEN: the fixture's histories were made by the workflow code below; the SDK replays them
strictly, so this code must never change. A new storage format gets a new fixture file."""

import asyncio
import pathlib
import signal
import sys
import tarfile
import tempfile
from datetime import timedelta

from temporalio import activity, workflow

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
QUEUE = "data-dir-fixture"
# Ids of the workflows in the fixture, by what they wait for when it was made.
NOT_STARTED = [f"not-started-{i}" for i in range(3)]  # no workflow task taken yet
WAITING = [f"waiting-{i}" for i in range(3)]  # ran an activity, waits for the "go" signal
TIMER = [f"timer-{i}" for i in range(3)]  # waits on a 1 s timer, long overdue on open


@activity.defn(name="fixture_greet")
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn(name="FixtureGreetThenWait")
class GreetThenWait:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal(name="go")
    def signal_go(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(
            "fixture_greet", name, start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.go)
        return greeting


@workflow.defn(name="FixtureSleep")
class Sleep:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(1)
        return f"slept {name}"


def fixture_path(storage_format: int) -> pathlib.Path:
    return FIXTURES / f"data-dir-v{storage_format}.tar.gz"


async def _completed_tasks(handle) -> int:
    return [e.event_type for e in (await handle.fetch_history()).events].count(7)


async def _fill(target: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(target)
    async with Worker(client, task_queue=QUEUE, workflows=[GreetThenWait, Sleep], activities=[greet]):
        for wf_id in WAITING:
            await client.start_workflow(GreetThenWait.run, wf_id, id=wf_id, task_queue=QUEUE)
        for wf_id in TIMER:
            await client.start_workflow(Sleep.run, wf_id, id=wf_id, task_queue=QUEUE)
        # Each waits where its list says: after the activity's workflow task, or on its timer.
        for wf_id, tasks in [(i, 2) for i in WAITING] + [(i, 1) for i in TIMER]:
            handle = client.get_workflow_handle(wf_id)
            for _ in range(200):
                if await _completed_tasks(handle) >= tasks:
                    break
                await asyncio.sleep(0.05)
    # No worker any more: these stop before their first workflow task.
    for wf_id in NOT_STARTED:
        await client.start_workflow(GreetThenWait.run, wf_id, id=wf_id, task_queue=QUEUE)


def main() -> None:
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from conftest import Keel

    with tempfile.TemporaryDirectory() as tmp:
        data = pathlib.Path(tmp) / "data"
        keel = Keel(str(data))
        keel.start()
        asyncio.run(_fill(keel.target))
        keel.proc.send_signal(signal.SIGTERM)
        assert keel.proc.wait(30) == 0
        for log in data.glob("LOG*"):
            log.unlink()  # RocksDB's info logs
        format_version = int((data / "KEEL_FORMAT").read_text())
        out = fixture_path(format_version)
        with tarfile.open(out, "w:gz") as tar:
            tar.add(data, arcname="data")
        print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

"""Retention through the Python SDK against a real `keel` built with the test clock
(`keel-test`): a closed run is readable for its namespace's retention period (the default
namespace keeps one day, Temporal's minimum) and deleted by the timer service after it; a
running workflow is never touched. The node's clock is moved a day ahead through the
test-clock offset file, as keel-jepsen skews clocks."""

import asyncio
import os
import pathlib
import uuid

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import Keel
from test_sdk import ACTIVITIES, WORKFLOWS, GreetWorkflow, WaitForSignalWorkflow

DAY_AND_AN_HOUR_MS = 25 * 3600 * 1000


@pytest.fixture
def keel_with_test_clock(tmp_path):
    binary = pathlib.Path(os.environ["KEEL_BIN"]).with_name("keel-test")
    k = Keel(str(tmp_path / "data"), str(binary))
    k.start()
    yield k
    k.kill9()


async def deleted(handle) -> bool:
    try:
        await handle.describe()
        return False
    except RPCError as e:
        assert e.status == RPCStatusCode.NOT_FOUND, e
        return True


async def test_a_closed_run_is_deleted_after_the_retention_period(keel_with_test_clock):
    keel = keel_with_test_clock
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        closed = await client.start_workflow(GreetWorkflow.run, "Keel", id=f"wf-{uuid.uuid4()}", task_queue=queue)
        assert await closed.result() == "Hello, Keel!"
        running = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=f"wf-{uuid.uuid4()}", task_queue=queue)
        await asyncio.sleep(2)
        assert not await deleted(closed), "kept while its retention period lasts"

        pathlib.Path(keel.data_dir, "test-clock-offset-ms").write_text(str(DAY_AND_AN_HOUR_MS))
        for _ in range(100):
            if await deleted(closed):
                break
            await asyncio.sleep(0.2)
        assert await deleted(closed), "deleted once a day has passed"
        with pytest.raises(RPCError) as err:
            await closed.fetch_history()
        assert err.value.status == RPCStatusCode.NOT_FOUND
        # The running workflow is untouched and still works.
        await running.signal(WaitForSignalWorkflow.push, "still here")
        assert await running.result() == ["still here"]

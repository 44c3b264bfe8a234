"""Cron workflows and start delays through the Python SDK against a real `keel`: runs on the
schedule, each seeing the previous result (and a failure), the schedule ending when the
workflow is terminated, bad schedules refused, a start delay holding the first task. Exact
event sequences are compared with Temporal's in test_fixtures.py."""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType, WorkflowExecutionStatus
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cron_workflows import CronCounterWorkflow
from scenarios import cron_runs, scenario_worker
from test_sdk import SleepWorkflow

E = EventType
S = WorkflowExecutionStatus


async def close_event(client, wf_id, run_id):
    return (await client.get_workflow_handle(wf_id, run_id=run_id).fetch_history()).events[-1]


async def test_a_cron_workflow_runs_on_schedule_and_goes_on_after_a_failure(keel):
    client = await Client.connect(keel.target)
    queue, wf_id = f"q-{uuid.uuid4()}", f"wf-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        await client.start_workflow(CronCounterWorkflow.run, id=wf_id, task_queue=queue, cron_schedule="@every 1s")
        runs = await cron_runs(client, wf_id, 4)
        await client.get_workflow_handle(wf_id).terminate("enough")
    closes = [await close_event(client, wf_id, r) for r in runs]
    assert [c.event_type for c in closes] == [
        E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    ]
    results = [c.workflow_execution_completed_event_attributes.result.payloads[0].data for c in closes[0:3:2]]
    assert results == [b"1", b"2"], "the run after the failure counts on from the last result"
    # Each run started when the schedule said, chained to the one before.
    started = []
    for previous, run in zip(runs, runs[1:]):
        history = await client.get_workflow_handle(wf_id, run_id=run).fetch_history()
        attrs = history.events[0].workflow_execution_started_event_attributes
        assert attrs.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
        assert attrs.continued_execution_run_id == previous
        started.append(attrs)
    assert started[1].continued_failure.message == "the second run fails"
    # Terminated: the schedule is over, no run follows.
    await asyncio.sleep(1.5)
    description = await client.get_workflow_handle(wf_id).describe()
    assert description.run_id == runs[3]
    assert description.status == S.WORKFLOW_EXECUTION_STATUS_TERMINATED


@pytest.mark.parametrize(
    "schedule, message",
    [
        ("61 * * * *", "invalid CronSchedule."),
        ("0 0 31 2 *", "invalid CronSchedule, no time can be found to satisfy the schedule"),
    ],
)
async def test_bad_cron_schedules_are_refused(keel, schedule, message):
    client = await Client.connect(keel.target)
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(CronCounterWorkflow.run, id=f"wf-{uuid.uuid4()}", task_queue="nobody", cron_schedule=schedule)
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert refused.value.message == message


async def test_a_start_delay_holds_the_first_workflow_task(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        began = time.monotonic()
        handle = await client.start_workflow(
            SleepWorkflow.run, 0.0, id=f"wf-{uuid.uuid4()}", task_queue=queue, start_delay=timedelta(seconds=2)
        )
        assert await handle.result() == "woke"
        assert time.monotonic() - began >= 2.0
    first = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert first.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=2)

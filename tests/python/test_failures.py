"""The failure paths of "Temporal semantics I" through the Python SDK against a real `keel`:
workflow tasks that fail or time out, each activity timeout (with a completion that arrives
after its timeout), cancelling an activity in its retry backoff, the execution timeout and
the limits. Their exact event sequences are compared with Temporal's in test_fixtures.py;
these tests assert what the workflow code and the client see."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType, RetryState, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError, RPCStatusCode

from failure_workflows import (
    ActivityTimeoutWorkflow,
    CancelInBackoffWorkflow,
    FailFirstTaskWorkflow,
    TooManyActivitiesWorkflow,
)
from scenarios import scenario_worker
from test_sdk import SleepWorkflow, WaitForSignalWorkflow

E = EventType
OVER_PAYLOAD_LIMIT = "x" * (2 * 1024 * 1024 + 1)


async def run(keel, workflow, *args, **options):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        handle = await client.start_workflow(workflow, *args, id=f"wf-{uuid.uuid4()}", task_queue=queue, **options)
        result = await handle.result()
    return handle, result


async def event_types(handle) -> list:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def test_a_failed_workflow_task_is_retried_and_recorded_once(keel):
    handle, result = await run(keel, FailFirstTaskWorkflow.run)
    assert result == "second task succeeded"
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert len(failed) == 1
    attrs = failed[0].workflow_task_failed_event_attributes
    assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE
    assert attrs.failure.message == "a bug in the first workflow task"
    scheduled = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]
    assert [e.workflow_task_scheduled_event_attributes.attempt for e in scheduled] == [1, 2]


async def test_an_activity_finishing_after_its_start_to_close_timeout_is_rejected(keel):
    handle, result = await run(keel, ActivityTimeoutWorkflow.run, "start_to_close")
    assert result == "TimeoutError: activity StartToClose timeout"
    await asyncio.sleep(1.5)  # the activity (2 s) finishes and reports after its 1 s timeout
    types = await event_types(handle)
    assert E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT in types
    assert E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED not in types
    assert types[-1] == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


async def test_an_activity_nobody_polls_times_out_schedule_to_start(keel):
    _, result = await run(keel, ActivityTimeoutWorkflow.run, "schedule_to_start")
    assert result == "TimeoutError: activity ScheduleToStart timeout"


async def test_schedule_to_close_times_out_an_attempt_still_running(keel):
    handle, result = await run(keel, ActivityTimeoutWorkflow.run, "schedule_to_close_while_running")
    # Temporal's wording whenever no further attempt fits in the schedule-to-close budget.
    assert result == (
        "TimeoutError: Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying"
    )
    history = await handle.fetch_history()
    timed_out = next(e for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
    # The running attempt's timeout carries the previous attempt's failure as its cause.
    assert timed_out.activity_task_timed_out_event_attributes.failure.cause.message == "first attempt fails"
    started = next(e for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 2


async def test_a_retry_past_the_schedule_to_close_timeout_is_not_made(keel):
    """As on Temporal: when the next attempt would start after the schedule-to-close deadline,
    the last failure is final, with retry state TIMEOUT."""
    handle, result = await run(keel, ActivityTimeoutWorkflow.run, "schedule_to_close")
    assert result == "ApplicationError: boiler exploded"
    history = await handle.fetch_history()
    failed = next(e for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    assert failed.activity_task_failed_event_attributes.retry_state == RetryState.RETRY_STATE_TIMEOUT
    started = next(e for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 3


async def test_cancelling_an_activity_in_its_retry_backoff_cancels_it_at_once(keel):
    handle, result = await run(keel, CancelInBackoffWorkflow.run)
    assert result == "activity ended: CancelledError"
    types = await event_types(handle)
    # The failed first attempt is not in history; the activity never started again.
    assert E.EVENT_TYPE_ACTIVITY_TASK_STARTED not in types
    assert E.EVENT_TYPE_ACTIVITY_TASK_FAILED not in types
    assert types.index(E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED) + 1 == types.index(E.EVENT_TYPE_ACTIVITY_TASK_CANCELED)


async def test_the_execution_timeout_ends_the_run_without_retry(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        handle = await client.start_workflow(
            SleepWorkflow.run,
            30.0,
            id=f"wf-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert isinstance(failed.value.cause, TemporalTimeoutError)
    last = (await handle.fetch_history()).events[-1]
    assert last.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT
    # The retry policy allows more attempts, but the execution's time is up.
    assert last.workflow_execution_timed_out_event_attributes.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert not last.workflow_execution_timed_out_event_attributes.new_execution_run_id


async def test_one_activity_past_the_pending_limit_fails_the_workflow_task(keel):
    handle, result = await run(keel, TooManyActivitiesWorkflow.run)
    assert result == "retried task scheduled nothing"
    history = await handle.fetch_history()
    failed = next(e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    attrs = failed.workflow_task_failed_event_attributes
    assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED
    assert E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in [e.event_type for e in history.events]


async def test_payloads_over_two_megabytes_are_refused_and_nothing_is_written(keel):
    client = await Client.connect(keel.target)
    wf_id = f"wf-{uuid.uuid4()}"
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(WaitForSignalWorkflow.run, OVER_PAYLOAD_LIMIT, id=wf_id, task_queue="nobody")
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(wf_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND

    handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=wf_id, task_queue="nobody")
    with pytest.raises(RPCError) as refused:
        await handle.signal(WaitForSignalWorkflow.push, OVER_PAYLOAD_LIMIT)
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert await event_types(handle) == [E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]

"""Workflows that signal and cancel other workflows, through the Python SDK against a real
`keel`: delivery to a running workflow, a missing one and itself, cancellation of a running
and a closed workflow, a ping-pong of signals, and the pending-signals limit. Exact event
sequences are compared with Temporal's in test_fixtures.py."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowFailureError

from external_workflows import CancelOtherWorkflow, PingPongWorkflow, SignalOtherWorkflow, SignalSelfWorkflow, TooManySignalsWorkflow
from scenarios import scenario_worker
from test_sdk import SleepWorkflow, WaitForSignalWorkflow

E = EventType
S = WorkflowExecutionStatus
NOT_FOUND_SIGNAL = "ApplicationError: ExternalWorkflowExecutionNotFound: Unable to signal external workflow because it was not found"
NOT_FOUND_CANCEL = "ApplicationError: ExternalWorkflowExecutionNotFound: Unable to cancel external workflow because not found"


def ids():
    return f"q-{uuid.uuid4()}", f"wf-{uuid.uuid4()}"


async def test_a_workflow_signals_another_and_a_missing_one_fails(keel):
    client = await Client.connect(keel.target)
    queue, wf_id = ids()
    async with scenario_worker(client, queue):
        target = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=f"{wf_id}-target", task_queue=queue)
        sender = await client.start_workflow(SignalOtherWorkflow.run, target.id, id=wf_id, task_queue=queue)
        assert await sender.result() == ["signaled", NOT_FOUND_SIGNAL]
        assert await target.result() == ["from a workflow"]
    signaled = next(e for e in (await target.fetch_history()).events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    sent_by = signaled.workflow_execution_signaled_event_attributes.external_workflow_execution
    assert (sent_by.workflow_id, sent_by.run_id) == (wf_id, sender.result_run_id)


async def test_a_workflow_cannot_signal_itself(keel):
    client = await Client.connect(keel.target)
    queue, wf_id = ids()
    async with scenario_worker(client, queue):
        handle = await client.start_workflow(SignalSelfWorkflow.run, id=wf_id, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert str(failed.value.cause) == NOT_FOUND_SIGNAL.split(": ", 1)[1]


async def test_a_workflow_cancels_another_a_closed_one_and_a_missing_one(keel):
    client = await Client.connect(keel.target)
    queue, wf_id = ids()
    async with scenario_worker(client, queue):
        sleeper = await client.start_workflow(SleepWorkflow.run, 300.0, id=f"{wf_id}-sleeper", task_queue=queue)
        canceller = await client.start_workflow(CancelOtherWorkflow.run, sleeper.id, id=wf_id, task_queue=queue)
        assert await canceller.result() == ["cancel requested", NOT_FOUND_CANCEL]
        with pytest.raises(WorkflowFailureError):
            await sleeper.result()
        assert (await sleeper.describe()).status == S.WORKFLOW_EXECUTION_STATUS_CANCELED
        # The sleeper is closed now: asking again is not an error, and changes nothing.
        length = len((await sleeper.fetch_history()).events)
        again = await client.start_workflow(CancelOtherWorkflow.run, sleeper.id, id=f"{wf_id}-again", task_queue=queue)
        assert await again.result() == ["cancel requested", NOT_FOUND_CANCEL]
        assert len((await sleeper.fetch_history()).events) == length


async def test_two_workflows_play_ping_pong_by_signal(keel):
    client = await Client.connect(keel.target)
    queue, wf_id = ids()
    async with scenario_worker(client, queue):
        pong = await client.start_workflow(PingPongWorkflow.run, args=[f"{wf_id}-ping", False, 20], id=f"{wf_id}-pong", task_queue=queue)
        ping = await client.start_workflow(PingPongWorkflow.run, args=[pong.id, True, 20], id=f"{wf_id}-ping", task_queue=queue)
        assert await pong.result() == list(range(1, 20, 2))
        assert await ping.result() == list(range(2, 21, 2))


async def test_one_signal_past_the_pending_limit_fails_the_workflow_task(keel):
    client = await Client.connect(keel.target)
    queue, wf_id = ids()
    async with scenario_worker(client, queue):
        handle = await client.start_workflow(TooManySignalsWorkflow.run, f"{wf_id}-nobody", id=wf_id, task_queue=queue)
        assert await handle.result() == "retried task sent nothing"
    history = await handle.fetch_history()
    failed = next(e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    cause = failed.workflow_task_failed_event_attributes.cause
    assert cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_SIGNALS_LIMIT_EXCEEDED
    types = [e.event_type for e in history.events]
    assert E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED not in types

"""ResetWorkflowExecution through the Python SDK against a real `keel`: a completed workflow
reset to its first workflow task runs again with its signals reapplied; a running one is
terminated by the reset and, with reapply type NONE, the new run gets no signals; the
activity of a reset workflow runs again; bad reset points and a repeated request id. The
exact history of the new run is compared with Temporal's in test_fixtures.py (scenario
reset_to_first_workflow_task)."""

import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from scenarios import _await_tasks, _signal, reset_workflow
from test_sdk import ACTIVITIES, WORKFLOWS, GreetWorkflow, WaitForSignalWorkflow

E = EventType


@pytest.fixture
async def worker_client(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        yield client, queue


async def test_a_completed_workflow_reset_runs_again_with_its_signals(worker_client):
    client, queue = worker_client
    wf_id = f"wf-{uuid.uuid4()}"
    base = await _signal(client, queue, wf_id)
    base_run = (await base.describe()).run_id
    new_run = await reset_workflow(client, wf_id, base_run, 4)
    assert await new_run.result() == ["a", "b"]
    assert (await client.get_workflow_handle(wf_id, run_id=base_run).describe()).status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
    assert (await client.get_workflow_handle(wf_id).describe()).run_id == new_run.run_id
    failed = [e for e in (await new_run.fetch_history()).events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    attrs = failed[0].workflow_task_failed_event_attributes
    assert (attrs.base_run_id, attrs.new_run_id, attrs.failure.message) == (base_run, new_run.run_id, "reset by the test")


async def test_a_running_workflow_is_terminated_by_its_reset(worker_client):
    client, queue = worker_client
    wf_id = f"wf-{uuid.uuid4()}"
    base = await client.start_workflow(WaitForSignalWorkflow.run, 2, id=wf_id, task_queue=queue)
    await _await_tasks(base, 1)
    await base.signal(WaitForSignalWorkflow.push, "before")
    await _await_tasks(base, 2)
    base_run = (await base.describe()).run_id
    new_run = await reset_workflow(
        client, wf_id, base_run, 4, reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_NONE
    )
    last = (await client.get_workflow_handle(wf_id, run_id=base_run).fetch_history()).events[-1]
    assert last.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert last.workflow_execution_terminated_event_attributes.identity == "history-resetter"
    # No signal was reapplied: the new run waits for two new ones.
    await new_run.signal(WaitForSignalWorkflow.push, "x")
    await new_run.signal(WaitForSignalWorkflow.push, "y")
    assert await new_run.result() == ["x", "y"]


async def test_a_reset_workflow_runs_its_activity_again(worker_client):
    client, queue = worker_client
    wf_id = f"wf-{uuid.uuid4()}"
    base = await client.start_workflow(GreetWorkflow.run, "Keel", id=wf_id, task_queue=queue)
    assert await base.result() == "Hello, Keel!"
    new_run = await reset_workflow(client, wf_id, (await base.describe()).run_id, 4)
    assert await new_run.result() == "Hello, Keel!"
    types = [e.event_type for e in (await new_run.fetch_history()).events]
    assert types.count(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1
    assert types.index(E.EVENT_TYPE_WORKFLOW_TASK_FAILED) < types.index(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)


async def test_bad_reset_points_and_a_repeated_request(worker_client):
    client, queue = worker_client
    wf_id = f"wf-{uuid.uuid4()}"
    base = await _signal(client, queue, wf_id)
    run = (await base.describe()).run_id
    for finish, message in [
        (99, "Workflow task finish ID must be > 1 && <= workflow last event ID."),
        (1, "Workflow task finish ID must be > 1 && <= workflow last event ID."),
        (5, "Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, WorkflowTaskStarted + 1]: 5"),
    ]:
        with pytest.raises(RPCError) as err:
            await reset_workflow(client, wf_id, run, finish)
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert err.value.message == message
    request = ResetWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=wf_id, run_id=run),
        reason="once",
        workflow_task_finish_event_id=4,
        request_id="same-request",
    )
    first = await client.workflow_service.reset_workflow_execution(request)
    again = await client.workflow_service.reset_workflow_execution(request)
    assert first.run_id == again.run_id

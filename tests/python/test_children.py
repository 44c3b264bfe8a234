"""Child workflows and a saga through the Python SDK against a real `keel`: results and
failures delivered to the parent, a fan-out of 100 children, parent close policies, a
saga's compensations in reverse order. Event sequences are compared with Temporal's in
test_fixtures.py."""

import uuid

from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client
from temporalio.worker import Worker

from child_workflows import AbandoningParentWorkflow, FanOutWorkflow, HelloChildWorkflow, ParentWorkflow
from failure_workflows import SagaWorkflow
from scenarios import scenario_worker

E = EventType
S = WorkflowExecutionStatus


async def run(client, workflow, *args):
    queue = f"q-{uuid.uuid4()}"
    wf_id = f"wf-{uuid.uuid4()}"
    async with scenario_worker(client, queue):
        handle = await client.start_workflow(workflow, *args, id=wf_id, task_queue=queue)
        return handle, await handle.result()


async def test_a_childs_result_and_failure_reach_the_parent(keel):
    client = await Client.connect(keel.target)
    handle, result = await run(client, ParentWorkflow.run, "child")
    assert result == ["Hello, child!", "ApplicationError: child gave up"]
    child = await client.get_workflow_handle(f"{handle.id}-greet").describe()
    assert child.status == S.WORKFLOW_EXECUTION_STATUS_COMPLETED
    assert child.parent_id == handle.id
    assert child.parent_run_id == handle.result_run_id


async def test_a_fan_out_of_100_children(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    # A caching worker: without a cache every one of the parent's ~100 tasks replays its whole
    # history, which takes the Python worker longer than the task timeout.
    async with Worker(client, task_queue=queue, workflows=[FanOutWorkflow, HelloChildWorkflow]):
        handle = await client.start_workflow(FanOutWorkflow.run, 100, id=f"wf-{uuid.uuid4()}", task_queue=queue)
        result = await handle.result()
    assert result == [f"Hello, {i}!" for i in range(100)]
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert types.count(E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) == 100
    assert types.count(E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED) == 100
    assert types.count(E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED) == 100


async def test_parent_close_terminates_or_abandons_its_children(keel):
    client = await Client.connect(keel.target)
    handle, result = await run(client, AbandoningParentWorkflow.run)
    assert result == "parent done"
    terminated = await client.get_workflow_handle(f"{handle.id}-terminated").describe()
    assert terminated.status == S.WORKFLOW_EXECUTION_STATUS_TERMINATED
    abandoned = client.get_workflow_handle(f"{handle.id}-abandoned")
    assert (await abandoned.describe()).status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
    await abandoned.terminate()


async def test_a_saga_undoes_its_booked_steps_in_reverse_order(keel):
    client = await Client.connect(keel.target)
    handle, result = await run(client, SagaWorkflow.run)
    assert result == ["undid hotel", "undid flight"]
    history = await handle.fetch_history()
    scheduled = [
        (e.activity_task_scheduled_event_attributes.activity_type.name)
        for e in history.events
        if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["book", "book", "book", "undo", "undo"]

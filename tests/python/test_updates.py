"""Workflow updates through the Python SDK against a real `keel`: accepted and completed,
rejected by a validator (no trace in history), a handler that waits on an activity, a
handler that fails, deduplication by update id, updates racing signals, an update on a
closed workflow, an accepted update the workflow abandons, Temporal's in-flight limit, a
kill -9, and update-with-start (ExecuteMultiOperation).
The exact histories are compared with Temporal's in test_fixtures.py (scenarios
updates and update_abandoned)."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage, WorkflowIdConflictPolicy
from temporalio.api.errordetails.v1 import MultiOperationExecutionFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Meta, Request, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    ExecuteMultiOperationRequest,
    PollWorkflowExecutionUpdateRequest,
    StartWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from scenarios import _await_tasks
from test_sdk import ACTIVITIES
from update_workflows import UPDATE_WORKFLOWS, AbandonUpdateWorkflow, CounterWorkflow

E = EventType


def event_types(history):
    return [e.event_type for e in history.events]


async def start_counter(client, queue):
    handle = await client.start_workflow(CounterWorkflow.run, id=f"wf-{uuid.uuid4()}", task_queue=queue)
    await _await_tasks(handle, 1)
    return handle


@pytest.fixture
async def worker_client(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=UPDATE_WORKFLOWS, activities=ACTIVITIES):
        yield client, queue


async def test_an_accepted_update_returns_its_result_and_is_in_history(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    assert await handle.execute_update(CounterWorkflow.add, 5, id="first") == 5
    assert await handle.execute_update(CounterWorkflow.add, 2, id="second") == 7
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == [7, ["update 5", "update 2"]]
    history = await handle.fetch_history()
    accepted = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    completed = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
    assert [e.workflow_execution_update_accepted_event_attributes.protocol_instance_id for e in accepted] == ["first", "second"]
    assert [e.workflow_execution_update_completed_event_attributes.accepted_event_id for e in completed] == [
        e.event_id for e in accepted
    ]
    assert accepted[0].workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "add"


async def test_a_rejected_update_leaves_no_trace_in_history(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    before = event_types(await handle.fetch_history())
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(CounterWorkflow.add, -1)
    assert "cannot add -1" in str(failed.value.cause)
    assert event_types(await handle.fetch_history()) == before
    # The run goes on: a valid update after the rejection is accepted.
    assert await handle.execute_update(CounterWorkflow.add, 3) == 3
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == [3, ["update 3"]]


async def test_an_update_waiting_on_an_activity_completes_in_a_later_task(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    update = await handle.start_update(CounterWorkflow.greet_later, "Keel", wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    assert await update.result() == "Hello, Keel!"
    await handle.signal(CounterWorkflow.finish)
    await handle.result()
    types = event_types(await handle.fetch_history())
    accepted = types.index(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    scheduled = types.index(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    completed = types.index(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
    assert accepted < scheduled < types.index(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) < completed


async def test_a_failing_update_handler_fails_the_update_not_the_workflow(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(CounterWorkflow.fail, "on purpose")
    assert "on purpose" in str(failed.value.cause)
    history = await handle.fetch_history()
    completed = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
    assert completed[0].workflow_execution_update_completed_event_attributes.outcome.failure.message == "on purpose"
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == [0, []]


async def test_the_same_update_id_is_carried_out_once(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    first, second = await asyncio.gather(
        handle.execute_update(CounterWorkflow.add, 4, id="once"),
        handle.execute_update(CounterWorkflow.add, 4, id="once"),
    )
    assert first == second == 4
    # After completion too: the outcome comes from history.
    assert await handle.execute_update(CounterWorkflow.add, 4, id="once") == 4
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == [4, ["update 4"]]
    types = event_types(await handle.fetch_history())
    assert types.count(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == 1


async def test_updates_racing_signals_are_each_applied_once(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    calls = []
    for i in range(1, 11):
        calls.append(handle.execute_update(CounterWorkflow.add, i, id=f"u{i}"))
        calls.append(handle.signal(CounterWorkflow.push, 100 * i))
    results = await asyncio.gather(*calls)
    update_results = [r for r in results if r is not None]
    assert len(update_results) == 10
    await handle.signal(CounterWorkflow.finish)
    total, seen = await handle.result()
    assert total == sum(range(1, 11)) + 100 * sum(range(1, 11))
    assert sorted(seen) == sorted([f"update {i}" for i in range(1, 11)] + [f"signal {100 * i}" for i in range(1, 11)])
    # Each update saw the running total at its turn: the largest result is the last one's.
    assert max(update_results) <= total
    history = await handle.fetch_history()
    signaled = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    accepted = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert (len(signaled), len(accepted)) == (11, 10)  # ten pushes and the finish


async def test_an_update_of_a_closed_workflow_is_not_found_unless_it_completed(worker_client):
    client, queue = worker_client
    handle = await start_counter(client, queue)
    assert await handle.execute_update(CounterWorkflow.add, 1, id="before-close") == 1
    await handle.signal(CounterWorkflow.finish)
    await handle.result()
    with pytest.raises(RPCError) as err:
        await handle.execute_update(CounterWorkflow.add, 1, id="after-close")
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert "workflow execution already completed" in err.value.message
    assert await handle.execute_update(CounterWorkflow.add, 1, id="before-close") == 1


async def test_an_accepted_update_the_workflow_abandons_fails_when_it_completes(worker_client):
    client, queue = worker_client
    handle = await client.start_workflow(AbandonUpdateWorkflow.run, id=f"wf-{uuid.uuid4()}", task_queue=queue)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(AbandonUpdateWorkflow.hang)
    assert "completed before the Update completed" in str(failed.value.cause)
    assert await handle.result() == "done"


def raw_update(workflow_id, update_id, stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED):
    return UpdateWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        wait_policy=WaitPolicy(lifecycle_stage=stage),
        request=Request(meta=Meta(update_id=update_id, identity="test"), input=Input(name="add")),
    )


async def test_in_flight_limit_admitted_stage_and_unknown_updates(keel):
    # No worker: updates stay admitted.
    client = await Client.connect(keel.target)
    handle = await client.start_workflow(CounterWorkflow.run, id=f"wf-{uuid.uuid4()}", task_queue=f"q-{uuid.uuid4()}")
    service = client.workflow_service

    async def admitted(update_id):
        with pytest.raises(RPCError) as err:
            await service.update_workflow_execution(raw_update(handle.id, update_id), timeout=timedelta(seconds=2))
        # The client gives up at its own deadline (the SDK reports that as CANCELLED).
        assert err.value.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)

    await asyncio.gather(*(admitted(f"u{i}") for i in range(10)))
    with pytest.raises(RPCError) as err:
        await service.update_workflow_execution(raw_update(handle.id, "one-too-many"))
    assert err.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert "in-flight updates has been reached (10)" in err.value.message

    with pytest.raises(RPCError) as err:
        await service.update_workflow_execution(
            raw_update(handle.id, "x", UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED)
        )
    assert err.value.status == RPCStatusCode.PERMISSION_DENIED

    with pytest.raises(RPCError) as err:
        await service.poll_workflow_execution_update(
            PollWorkflowExecutionUpdateRequest(
                namespace="default",
                update_ref=UpdateRef(workflow_execution=WorkflowExecution(workflow_id=handle.id), update_id="never-sent"),
            )
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND
    await handle.terminate()


async def test_updates_survive_a_kill9_accepted_ones_from_disk_admitted_ones_by_retry(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=UPDATE_WORKFLOWS, activities=ACTIVITIES):
        handle = await start_counter(client, queue)
        assert await handle.execute_update(CounterWorkflow.add, 1, id="before-crash") == 1
    # No worker now: this update is admitted and waits on the leader's memory only.
    waiting = asyncio.create_task(handle.execute_update(CounterWorkflow.add, 2, id="during-crash"))
    await asyncio.sleep(0.5)
    keel.restart_after_kill9()
    # Its caller is told to retry (UNAVAILABLE), and the SDK sends it again to the new process.
    async with Worker(client, task_queue=queue, workflows=UPDATE_WORKFLOWS, activities=ACTIVITIES):
        assert await asyncio.wait_for(waiting, 60) == 3
        # The accepted one was on disk: the same id answers from history, not again.
        assert await handle.execute_update(CounterWorkflow.add, 1, id="before-crash") == 1
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == [3, ["update 1", "update 2"]]


async def test_update_with_start_starts_or_uses_the_workflow_and_updates_it(worker_client):
    client, queue = worker_client
    wf_id = f"wf-{uuid.uuid4()}"

    def start(policy=WorkflowIDConflictPolicy.USE_EXISTING, workflow_id=wf_id):
        return WithStartWorkflowOperation(CounterWorkflow.run, id=workflow_id, task_queue=queue, id_conflict_policy=policy)

    first = start()
    assert await client.execute_update_with_start_workflow(CounterWorkflow.add, 5, start_workflow_operation=first) == 5
    second = start()
    assert await client.execute_update_with_start_workflow(CounterWorkflow.add, 2, start_workflow_operation=second) == 7
    assert (await first.workflow_handle()).result_run_id == (await second.workflow_handle()).result_run_id
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.execute_update_with_start_workflow(
            CounterWorkflow.add, 1, start_workflow_operation=start(WorkflowIDConflictPolicy.FAIL)
        )
    # A rejected update does not undo the start.
    rejected = start(workflow_id=f"{wf_id}-rejected")
    with pytest.raises(WorkflowUpdateFailedError):
        await client.execute_update_with_start_workflow(CounterWorkflow.add, -1, start_workflow_operation=rejected)
    assert (await (await rejected.workflow_handle()).describe()).status == WorkflowExecutionStatus.RUNNING
    handle = client.get_workflow_handle(wf_id)
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == [7, ["update 5", "update 2"]]


async def test_update_with_start_errors_name_the_failing_operation(keel):
    client = await Client.connect(keel.target)
    wf_id = f"wf-{uuid.uuid4()}"
    start = StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=wf_id,
        workflow_type=WorkflowType(name="CounterWorkflow"),
        task_queue=TaskQueue(name="nobody"),
        request_id=str(uuid.uuid4()),
        cron_schedule="* * * * *",
        workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
    )
    request = ExecuteMultiOperationRequest(
        namespace="default",
        operations=[
            ExecuteMultiOperationRequest.Operation(start_workflow=start),
            ExecuteMultiOperationRequest.Operation(update_workflow=raw_update(wf_id, "u")),
        ],
    )
    with pytest.raises(RPCError) as err:
        await client.workflow_service.execute_multi_operation(request)
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == "Update-with-Start could not be executed."
    failure = MultiOperationExecutionFailure()
    assert err.value.grpc_status.details[0].Unpack(failure)
    assert [(s.code, s.message) for s in failure.statuses] == [
        (RPCStatusCode.INVALID_ARGUMENT, "CronSchedule is not allowed."),
        (RPCStatusCode.ABORTED, "Operation was aborted."),
    ]


async def test_poll_answers_at_once_with_the_stage_reached_admitted_before_any_worker(keel):
    # A client that waits for five updates to be admitted before it starts its worker.
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    handle = await client.start_workflow(CounterWorkflow.run, id=f"wf-{uuid.uuid4()}", task_queue=queue)
    sends = [asyncio.create_task(handle.execute_update(CounterWorkflow.add, n, id=f"add-{n}")) for n in range(1, 6)]
    Stage = UpdateWorkflowExecutionLifecycleStage

    async def stage_now(update_id, asked=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_UNSPECIFIED):
        """The stage a poll without waiting reports (None: not admitted yet). A poll that
        waited instead would run into the 5 s here."""
        request = PollWorkflowExecutionUpdateRequest(
            namespace="default",
            update_ref=UpdateRef(workflow_execution=WorkflowExecution(workflow_id=handle.id), update_id=update_id),
            wait_policy=WaitPolicy(lifecycle_stage=asked),
        )
        try:
            polled = await asyncio.wait_for(
                client.workflow_service.poll_workflow_execution_update(request, retry=False), timeout=5
            )
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return polled.stage

    ids = [f"add-{n}" for n in range(1, 6)]
    for _ in range(100):
        stages = [await stage_now(i) for i in ids]
        if all(s == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED for s in stages):
            break
        await asyncio.sleep(0.1)
    assert stages == [Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED] * 5
    asked_admitted = await stage_now("add-1", Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED)
    assert asked_admitted == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED

    async with Worker(client, task_queue=queue, workflows=UPDATE_WORKFLOWS, activities=ACTIVITIES):
        totals = await asyncio.gather(*sends)
        assert max(totals) == 15 and len(set(totals)) == 5
        assert await stage_now("add-3") == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
    await handle.terminate()


@pytest.mark.parametrize(
    "reuse",
    [
        WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        WorkflowIDReusePolicy.REJECT_DUPLICATE,
    ],
)
async def test_update_with_start_attaches_to_the_update_a_closed_run_completed(worker_client, reuse):
    client, queue = worker_client
    workflow_id = f"wf-{uuid.uuid4()}"

    def operation():
        return WithStartWorkflowOperation(
            CounterWorkflow.run, id=workflow_id, task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, id_reuse_policy=reuse,
        )

    first = operation()
    assert await client.execute_update_with_start_workflow(
        CounterWorkflow.add, 7, start_workflow_operation=first, id="only-once") == 7
    handle = await first.workflow_handle()
    await handle.signal(CounterWorkflow.finish)
    assert await handle.result() == [7, ["update 7"]]
    # The same update id again: the answer is the completed update's, under every reuse
    # policy, and no run starts.
    again = operation()
    assert await client.execute_update_with_start_workflow(
        CounterWorkflow.add, 7, start_workflow_operation=again, id="only-once") == 7
    assert (await again.workflow_handle()).result_run_id == handle.result_run_id
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    assert len(runs) == 1

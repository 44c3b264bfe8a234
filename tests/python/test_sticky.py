"""Sticky task queues through the Python SDK against a real `keel`: a caching worker gets
its run's next tasks on its own queue; a worker killed mid-run loses its tasks to another
worker after the sticky schedule-to-start timeout; a worker that shuts down hands them over
at once. A query of a run a worker caches goes to that worker's sticky queue, and to the
normal queue if that worker does not take it in time. The exact history of the killed
worker is compared with Temporal's in test_fixtures.py (scenario sticky_worker_killed)."""

import asyncio
import time
import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType, QueryResultType, TaskQueueKind, TimeoutType
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    RespondQueryTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
)
from temporalio.client import Client
from temporalio.worker import Worker

from scenarios import _await_tasks, _sticky_worker_killed
from test_sdk import ACTIVITIES, WORKFLOWS, WaitForSignalWorkflow

E = EventType


def scheduled_queues(history):
    return [
        e.workflow_task_scheduled_event_attributes.task_queue.kind
        for e in history.events
        if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]


async def test_a_caching_worker_gets_its_runs_next_tasks_on_its_sticky_queue(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 3, id=f"wf-{uuid.uuid4()}", task_queue=queue)
        for i, value in enumerate(["a", "b", "c"], start=1):
            await _await_tasks(handle, i)
            await handle.signal(WaitForSignalWorkflow.push, value)
        assert await handle.result() == ["a", "b", "c"]
    kinds = scheduled_queues(await handle.fetch_history())
    assert kinds == [TaskQueueKind.TASK_QUEUE_KIND_NORMAL] + [TaskQueueKind.TASK_QUEUE_KIND_STICKY] * 3


async def test_a_sticky_worker_killed_mid_run_loses_its_work_to_another_worker(keel):
    client = await Client.connect(keel.target)
    handle = await _sticky_worker_killed(client, f"q-{uuid.uuid4()}", f"wf-{uuid.uuid4()}")
    assert await handle.result() == ["a", "b"]
    history = await handle.fetch_history()
    timed_out = [e for e in history.events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]
    assert [e.workflow_task_timed_out_event_attributes.timeout_type for e in timed_out] == [
        TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    ]
    assert scheduled_queues(history)[-1] == TaskQueueKind.TASK_QUEUE_KIND_NORMAL


async def test_a_worker_that_shuts_down_hands_its_runs_over_at_once(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 2, id=f"wf-{uuid.uuid4()}", task_queue=queue)
        await _await_tasks(handle, 1)
        await handle.signal(WaitForSignalWorkflow.push, "a")
        await _await_tasks(handle, 2)
    # The first worker is gone (it told the server so). The next task is scheduled for its
    # sticky queue, but handed to the normal queue without waiting for a timeout.
    await handle.signal(WaitForSignalWorkflow.push, "b")
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        assert await handle.result() == ["a", "b"]
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT not in types


async def bare_sticky_run(client, queue, sticky):
    """A run whose first task a bare client completed with `sticky` as its sticky queue."""
    handle = await client.start_workflow("AnyWorkflow", id=f"wf-{uuid.uuid4()}", task_queue=queue)
    task = await poll(client, queue)
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            task_token=task.task_token,
            identity="bare",
            sticky_attributes=StickyExecutionAttributes(
                worker_task_queue=TaskQueue(name=sticky, kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=queue),
                schedule_to_start_timeout=Duration(seconds=10),
            ),
        )
    )
    return handle


async def poll(client, queue):
    return await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), identity="bare")
    )


async def answer_query(client, queue, answer):
    task = await poll(client, queue)
    assert task.HasField("query"), "a query task"
    await client.workflow_service.respond_query_task_completed(
        RespondQueryTaskCompletedRequest(
            task_token=task.task_token,
            completed_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
            query_result=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=answer.encode())]),
        )
    )


async def test_a_query_of_a_cached_run_goes_to_its_sticky_worker(keel):
    client = await Client.connect(keel.target)
    queue, sticky = f"q-{uuid.uuid4()}", f"sticky-{uuid.uuid4()}"
    handle = await bare_sticky_run(client, queue, sticky)
    query = asyncio.create_task(handle.query("state"))
    await answer_query(client, sticky, '"from the cache"')
    assert await query == "from the cache"


async def test_a_query_its_sticky_worker_does_not_take_goes_to_the_normal_queue(keel):
    client = await Client.connect(keel.target)
    queue, sticky = f"q-{uuid.uuid4()}", f"sticky-{uuid.uuid4()}"
    handle = await bare_sticky_run(client, queue, sticky)
    began = time.monotonic()
    query = asyncio.create_task(handle.query("state"))
    await answer_query(client, queue, '"from another worker"')
    assert await query == "from another worker"
    assert time.monotonic() - began < 10, "after the sticky wait, not the caller's deadline"

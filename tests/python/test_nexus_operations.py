"""Nexus operations through the Python SDK against a real `keel`: a caller workflow's
operation answered by a handler worker in another namespace, a retryable handler error
retried (Describe shows the backoff and the failure, as the dev server's), a second answer to
the same attempt refused, an unknown endpoint failing the workflow task with Temporal's
cause, a workflow-backed (asynchronous) operation started and completed by its workflow's
close across a kill -9, and an operation queued across a kill -9 completed exactly once. (Histories of sync, failed, retried and timed-out operations are
compared with the dev server's in test_fixtures: scenarios nexus_*.)"""

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, PendingNexusOperationState, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure, NexusHandlerFailureInfo
from temporalio.api.nexus.v1 import Response, StartOperationResponse
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest, PollNexusTaskQueueRequest, RegisterNamespaceRequest,
    RespondNexusTaskCompletedRequest, RespondNexusTaskFailedRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker
from google.protobuf.duration_pb2 import Duration

from conftest import Keel
from nexus_workflows import NEXUS_WORKFLOWS, GreeterHandler, NexusCaller
from scenarios import ensure_endpoint


def names() -> tuple:
    suffix = uuid.uuid4().hex[:8]
    return f"ep-{suffix}", f"caller-{suffix}", f"handlers-{suffix}"


async def events_of(handle) -> list:
    return [e async for e in handle.fetch_history_events()]


async def wait_for_event(handle, event_type, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for e in await events_of(handle):
            if e.event_type == event_type:
                return e
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {EventType.Name(event_type)} within {timeout} s")


async def poll_nexus(client, queue: str, namespace: str = "default"):
    return await client.workflow_service.poll_nexus_task_queue(PollNexusTaskQueueRequest(
        namespace=namespace, identity="raw-handler", task_queue=TaskQueue(name=queue)))


def sync_answer(client, token: bytes, text: str, namespace: str = "default"):
    return client.workflow_service.respond_nexus_task_completed(RespondNexusTaskCompletedRequest(
        namespace=namespace, identity="raw-handler", task_token=token,
        response=Response(start_operation=StartOperationResponse(sync_success=StartOperationResponse.Sync(
            payload=Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode()))))))


async def test_a_handler_in_another_namespace_answers_the_operation(keel: Keel):
    client = await Client.connect(keel.target)
    await client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace="nexus-handlers", workflow_execution_retention_period=Duration(seconds=86400)))
    handlers = await Client.connect(keel.target, namespace="nexus-handlers")
    endpoint, caller_queue, handler_queue = names()
    await ensure_endpoint(client, endpoint, handler_queue, namespace="nexus-handlers")
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS), \
            Worker(handlers, task_queue=handler_queue, nexus_service_handlers=[GreeterHandler()]):
        result = await client.execute_workflow(
            NexusCaller.run, args=[endpoint, "greet", "across", 20.0], id=f"wf-{caller_queue}", task_queue=caller_queue)
    assert result == "hello across"


async def test_a_retryable_handler_error_backs_off_and_the_next_attempt_completes(keel: Keel):
    client = await Client.connect(keel.target)
    endpoint, caller_queue, handler_queue = names()
    await ensure_endpoint(client, endpoint, handler_queue)
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS):
        handle = await client.start_workflow(
            NexusCaller.run, args=[endpoint, "greet", "raw", 30.0], id=f"wf-{caller_queue}", task_queue=caller_queue)
        first = await poll_nexus(client, handler_queue)
        start = first.request.start_operation
        assert (start.service, start.operation, first.request.endpoint) == ("Greeter", "greet", endpoint)
        assert start.payload.data == b'"raw"'
        assert first.request.header["nexus-request-id"] == start.request_id
        # How long the attempt may take: Keel's whole 10 s (the dev server's is a little less).
        timeout = first.request.header["request-timeout"]
        assert timeout.endswith("s") and 0 < float(timeout.removesuffix("ms").removesuffix("s")) <= 10, timeout
        assert [link.type for link in start.links] == ["temporal.api.common.v1.Link.WorkflowEvent"]
        assert f"/workflows/wf-{caller_queue}/" in start.links[0].url
        await client.workflow_service.respond_nexus_task_failed(RespondNexusTaskFailedRequest(
            namespace="default", identity="raw-handler", task_token=first.task_token,
            failure=Failure(message="boom", nexus_handler_failure_info=NexusHandlerFailureInfo(type="INTERNAL"))))

        described = await client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace="default", execution={"workflow_id": f"wf-{caller_queue}"}))
        [pending] = described.pending_nexus_operations
        assert (pending.endpoint, pending.service, pending.operation) == (endpoint, "Greeter", "greet")
        assert pending.state == PendingNexusOperationState.PENDING_NEXUS_OPERATION_STATE_BACKING_OFF
        assert pending.attempt == 1, "the attempts made so far, as Temporal counts"
        assert pending.last_attempt_failure.message == "boom"
        assert pending.last_attempt_failure.nexus_handler_failure_info.type == "INTERNAL"
        backoff = pending.next_attempt_schedule_time.ToNanoseconds() - pending.last_attempt_complete_time.ToNanoseconds()
        # Temporal's first backoff: 1 s less up to 20 % jitter (Keel's has none: exactly 1 s).
        assert 800_000_000 <= backoff <= 1_000_000_000, backoff

        second = await poll_nexus(client, handler_queue)
        assert second.request.start_operation.request_id == start.request_id, "one request id for every attempt"
        await sync_answer(client, second.task_token, "second time lucky")
        # The attempt answered once cannot be answered again.
        with pytest.raises(RPCError) as again:
            await sync_answer(client, second.task_token, "twice")
        assert again.value.status == RPCStatusCode.NOT_FOUND
        assert await handle.result() == "second time lucky"
    completed = [e for e in await events_of(handle) if e.event_type == EventType.EVENT_TYPE_NEXUS_OPERATION_COMPLETED]
    assert len(completed) == 1


async def test_an_unknown_endpoint_fails_the_workflow_task_with_temporals_cause(keel: Keel):
    client = await Client.connect(keel.target)
    _, caller_queue, _ = names()
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS):
        handle = await client.start_workflow(
            NexusCaller.run, args=["no-such-endpoint", "greet", "x", 20.0], id=f"wf-{caller_queue}", task_queue=caller_queue)
        failed = await wait_for_event(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        await handle.terminate()
    attrs = failed.workflow_task_failed_event_attributes
    assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_NEXUS_OPERATION_ATTRIBUTES
    assert attrs.failure.message == 'BadScheduleNexusOperationAttributes: endpoint "no-such-endpoint" not found'


async def test_a_workflow_backed_operation_starts_and_completes_when_its_workflow_does(keel: Keel):
    client = await Client.connect(keel.target)
    endpoint, caller_queue, handler_queue = names()
    await ensure_endpoint(client, endpoint, handler_queue)
    name = f"n-{caller_queue}"
    wf_id = f"wf-{caller_queue}"
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS), \
            Worker(client, task_queue=handler_queue, workflows=NEXUS_WORKFLOWS, nexus_service_handlers=[GreeterHandler()]):
        handle = await client.start_workflow(
            NexusCaller.run, args=[endpoint, "echo_when_told", name, 60.0], id=wf_id, task_queue=caller_queue)
        started = await wait_for_event(handle, EventType.EVENT_TYPE_NEXUS_OPERATION_STARTED)
        token = started.nexus_operation_started_event_attributes.operation_token
        assert token
        [link] = started.links
        assert (link.workflow_event.workflow_id, link.workflow_event.event_ref.event_id) == (f"told-{name}", 1)
        described = await client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace="default", execution={"workflow_id": wf_id}))
        [pending] = described.pending_nexus_operations
        assert pending.state == PendingNexusOperationState.PENDING_NEXUS_OPERATION_STATE_STARTED
        assert pending.operation_token == token
        handler_run = client.get_workflow_handle(f"told-{name}")
        first = (await events_of(handler_run))[0].workflow_execution_started_event_attributes
        assert [c.nexus.url for c in first.completion_callbacks] == ["temporal://system"]
    # The callback survives a crash of the server: it is part of the handler's run.
    keel.restart_after_kill9()
    client = await Client.connect(keel.target)
    handle = client.get_workflow_handle(wf_id)
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS), \
            Worker(client, task_queue=handler_queue, workflows=NEXUS_WORKFLOWS, nexus_service_handlers=[GreeterHandler()]):
        await client.get_workflow_handle(f"told-{name}").signal("go")
        assert await handle.result() == f"echo {name}"
    kinds = [e.event_type for e in await events_of(handle)]
    assert kinds.count(EventType.EVENT_TYPE_NEXUS_OPERATION_STARTED) == 1
    assert kinds.count(EventType.EVENT_TYPE_NEXUS_OPERATION_COMPLETED) == 1


async def test_an_operation_queued_across_a_kill_9_completes_exactly_once(keel: Keel):
    client = await Client.connect(keel.target)
    endpoint, caller_queue, handler_queue = names()
    await ensure_endpoint(client, endpoint, handler_queue)
    wf_id = f"wf-{caller_queue}"
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS):
        handle = await client.start_workflow(
            NexusCaller.run, args=[endpoint, "greet", "survivor", 60.0], id=wf_id, task_queue=caller_queue)
        await wait_for_event(handle, EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED)
    keel.restart_after_kill9()
    client = await Client.connect(keel.target)
    handle = client.get_workflow_handle(wf_id)
    async with Worker(client, task_queue=caller_queue, workflows=NEXUS_WORKFLOWS), \
            Worker(client, task_queue=handler_queue, nexus_service_handlers=[GreeterHandler()]):
        assert await handle.result() == "hello survivor"
    kinds = [e.event_type for e in await events_of(handle)]
    assert kinds.count(EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED) == 1
    assert kinds.count(EventType.EVENT_TYPE_NEXUS_OPERATION_COMPLETED) == 1

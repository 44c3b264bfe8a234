"""Standalone activities (StartActivityExecution and its siblings) through the Python SDK,
its raw gRPC calls and the real `temporal activity` CLI against a real `keel`: a start and
its result, retries and timeouts, id reuse and conflict policies with Temporal's errors,
cancellation before and during an attempt (the worker learns of it from its heartbeats),
termination, deletion, describe's long poll, and List/Count with the query language. The
expected answers are the dev server's (recorded by hand with the same calls)."""

import asyncio
import json
import subprocess
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity
from temporalio.api.common.v1 import ActivityType, RetryPolicy as RetryPolicyProto
from temporalio.api.enums.v1 import ActivityExecutionStatus, PendingActivityState
from temporalio.api.errordetails.v1 import ActivityExecutionAlreadyStartedFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DeleteActivityExecutionRequest, DescribeActivityExecutionRequest,
    PollActivityTaskQueueRequest, RequestCancelActivityExecutionRequest,
    RespondActivityTaskCompletedRequest, StartActivityExecutionRequest,
)
from temporalio.client import ActivityExecutionStatus as Status, ActivityFailureError, Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError, TimeoutError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import Keel
from test_cli import temporal_cli

ATTEMPTS = {}


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def flaky(key: str) -> str:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] < 3:
        raise ApplicationError(f"attempt {ATTEMPTS[key]} fails")
    return f"done after {ATTEMPTS[key]}"


@activity.defn
async def doomed(key: str) -> str:
    raise ApplicationError("never", non_retryable=True)


@activity.defn
async def wait_for_cancel(key: str) -> str:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.1)


def start_request(activity_id: str, queue: str, **kw) -> StartActivityExecutionRequest:
    fields = dict(namespace="default", identity="test", request_id=str(uuid.uuid4()),
                  activity_id=activity_id, activity_type=ActivityType(name="greet"),
                  task_queue=TaskQueue(name=queue), start_to_close_timeout=Duration(seconds=30))
    fields.update(kw)
    return StartActivityExecutionRequest(**fields)


def status_error(exc: pytest.ExceptionInfo) -> tuple:
    e = exc.value
    return e.status, e.message


async def test_a_started_activity_runs_on_a_worker_and_its_result_and_description_are_kept(keel: Keel):
    client = await Client.connect(keel.target)
    queue = f"sa-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, activities=[greet]):
        handle = await client.start_activity(greet, "keel", id="greet-1", task_queue=queue,
                                             start_to_close_timeout=timedelta(seconds=10),
                                             summary="says hello")
        assert await asyncio.wait_for(handle.result(), 30) == "hello keel"
    d = await handle.describe()
    assert (d.activity_id, d.status, d.attempt, d.activity_type) == ("greet-1", Status.COMPLETED, 1, "greet")
    described = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id="greet-1", include_input=True, include_outcome=True))
    info = described.info
    assert info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_COMPLETED
    assert info.activity_type.name == "greet" and info.task_queue == queue
    assert info.attempt == 1 and info.run_id == handle.run_id
    assert info.last_worker_identity and info.close_time.seconds > 0
    assert info.start_to_close_timeout.seconds == 10 and info.retry_policy.backoff_coefficient == 2.0
    assert info.user_metadata.summary.data == b'"says hello"'
    assert json.loads(described.input.payloads[0].data) == "keel"
    assert json.loads(described.outcome.result.payloads[0].data) == "hello keel"
    # A workflow list does not show standalone activities.
    assert [w async for w in client.list_workflows(f"WorkflowId = 'greet-1'")] == []


async def test_retries_follow_the_policy_and_a_final_failure_is_the_outcome(keel: Keel):
    client = await Client.connect(keel.target)
    queue = f"sa-{uuid.uuid4()}"
    key = str(uuid.uuid4())
    async with Worker(client, task_queue=queue, activities=[flaky, doomed]):
        retried = await client.execute_activity(
            flaky, key, id=f"flaky-{key}", task_queue=queue, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)))
        assert retried == "done after 3"
        described = await client.get_activity_handle(f"flaky-{key}").describe()
        assert (described.status, described.attempt) == (Status.COMPLETED, 3)
        with pytest.raises(ActivityFailureError) as failed:
            await client.execute_activity(doomed, key, id=f"doomed-{key}", task_queue=queue,
                                          start_to_close_timeout=timedelta(seconds=10))
        assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.message == "never"
    r = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=f"doomed-{key}", include_outcome=True))
    assert r.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_FAILED
    assert r.outcome.failure.message == "never"
    assert r.outcome.retry_state == 2  # RETRY_STATE_NON_RETRYABLE_FAILURE


async def test_timeouts_end_an_activity_nobody_runs_or_that_stops_heartbeating(keel: Keel):
    client = await Client.connect(keel.target)
    nobody = f"nobody-{uuid.uuid4()}"
    handle = await client.start_activity(greet, "x", id=f"s2c-{uuid.uuid4()}", task_queue=nobody,
                                         schedule_to_close_timeout=timedelta(seconds=1))
    with pytest.raises(ActivityFailureError) as timed_out:
        await asyncio.wait_for(handle.result(), 30)
    assert isinstance(timed_out.value.cause, TimeoutError)
    d = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=handle.id, include_outcome=True))
    assert d.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_TIMED_OUT
    # Only schedule-to-close given: the others take its value, and the first to fire is
    # schedule-to-start, as on the dev server.
    assert d.info.schedule_to_start_timeout.seconds == 1 and d.info.start_to_close_timeout.seconds == 1
    assert d.outcome.failure.message == "activity ScheduleToStart timeout"
    assert d.outcome.retry_state == 3  # RETRY_STATE_TIMEOUT

    # A started attempt that stops heartbeating times out (one attempt allowed).
    queue = f"hb-{uuid.uuid4()}"
    await client.workflow_service.start_activity_execution(start_request(
        "hb-1", queue, heartbeat_timeout=Duration(seconds=1), retry_policy=RetryPolicyProto(maximum_attempts=1)))
    task = await client.workflow_service.poll_activity_task_queue(PollActivityTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=queue), identity="silent"))
    assert task.activity_id == "hb-1" and task.activity_run_id and task.attempt == 1
    assert not task.workflow_execution.workflow_id and not task.workflow_type.name
    for _ in range(100):
        d = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
            namespace="default", activity_id="hb-1", include_outcome=True))
        if d.info.status != ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_RUNNING:
            break
        await asyncio.sleep(0.1)
    assert d.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_TIMED_OUT
    assert d.outcome.failure.timeout_failure_info.timeout_type == 4  # TIMEOUT_TYPE_HEARTBEAT
    # The silent worker's late completion is refused: the activity is over.
    with pytest.raises(RPCError) as late:
        await client.workflow_service.respond_activity_task_completed(RespondActivityTaskCompletedRequest(
            namespace="default", task_token=task.task_token))
    assert status_error(late) == (RPCStatusCode.NOT_FOUND, "activity not found for ID: hb-1")


async def test_id_reuse_and_conflict_policies_answer_as_temporal(keel: Keel):
    client = await Client.connect(keel.target)
    service = client.workflow_service
    queue = f"nobody-{uuid.uuid4()}"
    first = start_request("reuse-1", queue, request_id="first")
    started = await service.start_activity_execution(first)
    assert started.started and started.link.activity.activity_id == "reuse-1"
    again = await service.start_activity_execution(first)  # the same request: the same run
    assert again.run_id == started.run_id and not again.started
    with pytest.raises(RPCError) as conflict:
        await service.start_activity_execution(start_request("reuse-1", queue))
    assert status_error(conflict) == (RPCStatusCode.ALREADY_EXISTS, "activity execution already started")
    detail = ActivityExecutionAlreadyStartedFailure()
    conflict.value.grpc_status.details[0].Unpack(detail)
    assert (detail.start_request_id, detail.run_id) == ("first", started.run_id)
    existing = await service.start_activity_execution(start_request("reuse-1", queue, id_conflict_policy=2))
    assert existing.run_id == started.run_id and not existing.started

    # Closed: completed refuses ALLOW_DUPLICATE_FAILED_ONLY and REJECT_DUPLICATE; terminated allows it.
    await client.get_activity_handle("reuse-1").terminate(reason="make room")
    with pytest.raises(RPCError) as rejected:
        await service.start_activity_execution(start_request("reuse-1", queue, id_reuse_policy=3))
    assert rejected.value.status == RPCStatusCode.ALREADY_EXISTS
    second = await service.start_activity_execution(start_request("reuse-1", queue, id_reuse_policy=2))
    assert second.started and second.run_id != started.run_id

    # Bad requests are refused with the dev server's texts, and nothing is started.
    for bad, text in [
        (dict(start_to_close_timeout=None),
         "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId=bad-1 ActivityType=greet"),
        (dict(activity_type=None), "activityType is not set"),
        (dict(task_queue=None), "taskQueue is not set"),
    ]:
        with pytest.raises(RPCError) as refused:
            await service.start_activity_execution(start_request("bad-1", queue, **bad))
        assert status_error(refused) == (RPCStatusCode.INVALID_ARGUMENT, text)
    with pytest.raises(RPCError) as missing_ns:
        await service.start_activity_execution(start_request("bad-1", queue, namespace="nope"))
    assert status_error(missing_ns) == (RPCStatusCode.NOT_FOUND, "Namespace nope is not found.")
    with pytest.raises(RPCError) as missing:
        await client.get_activity_handle("bad-1").describe()
    assert status_error(missing) == (RPCStatusCode.NOT_FOUND, "activity not found for ID: bad-1")


async def test_cancellation_reaches_a_running_attempt_and_ends_an_idle_one(keel: Keel):
    client = await Client.connect(keel.target)
    service = client.workflow_service
    # Not running yet: canceled at once, the reason as the failure's details.
    idle = await client.start_activity(greet, "x", id=f"idle-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}",
                                       start_to_close_timeout=timedelta(seconds=10))
    await idle.cancel(reason="not needed")
    with pytest.raises(ActivityFailureError) as canceled:
        await asyncio.wait_for(idle.result(), 30)
    assert isinstance(canceled.value.cause, CancelledError)
    d = await service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=idle.id, include_outcome=True))
    assert d.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_CANCELED
    assert d.info.canceled_reason == "not needed"
    assert d.outcome.failure.message == "Activity canceled"
    assert json.loads(d.outcome.failure.canceled_failure_info.details.payloads[0].data) == "not needed"
    with pytest.raises(RPCError) as closed:
        await idle.cancel()
    assert status_error(closed) == (RPCStatusCode.FAILED_PRECONDITION, "activity is in terminal state Canceled")

    # Running: the worker's heartbeats report it and the SDK raises in the activity.
    queue = f"cancel-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, activities=[wait_for_cancel]):
        running = await client.start_activity(wait_for_cancel, "x", id=f"running-{uuid.uuid4()}", task_queue=queue,
                                              start_to_close_timeout=timedelta(seconds=30),
                                              heartbeat_timeout=timedelta(seconds=5))
        for _ in range(100):
            d = await service.describe_activity_execution(DescribeActivityExecutionRequest(
                namespace="default", activity_id=running.id))
            if d.info.run_state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                break
            await asyncio.sleep(0.1)
        assert d.info.run_state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        await service.request_cancel_activity_execution(RequestCancelActivityExecutionRequest(
            namespace="default", activity_id=running.id, request_id="cancel-1", reason="stop", identity="tester"))
        with pytest.raises(RPCError) as twice:
            await service.request_cancel_activity_execution(RequestCancelActivityExecutionRequest(
                namespace="default", activity_id=running.id, request_id="cancel-2"))
        assert twice.value.status == RPCStatusCode.FAILED_PRECONDITION
        with pytest.raises(ActivityFailureError) as canceled:
            await asyncio.wait_for(running.result(), 30)
        assert isinstance(canceled.value.cause, CancelledError)
    d = await service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id=running.id, include_outcome=True))
    assert d.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_CANCELED
    assert d.info.total_heartbeat_count >= 1
    assert d.outcome.failure.canceled_failure_info.identity == "tester"


async def test_terminate_delete_and_describe_long_poll(keel: Keel):
    client = await Client.connect(keel.target)
    service = client.workflow_service
    queue = f"nobody-{uuid.uuid4()}"
    handle = await client.start_activity(greet, "x", id="term-1", task_queue=queue,
                                         start_to_close_timeout=timedelta(seconds=10))
    first = await service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id="term-1"))

    async def long_poll(run_id: str):
        return await service.describe_activity_execution(DescribeActivityExecutionRequest(
            namespace="default", activity_id="term-1", run_id=run_id, long_poll_token=first.long_poll_token,
            include_outcome=True))

    # A token names a run: without the run id it is refused, as the dev server refuses it.
    with pytest.raises(RPCError) as no_run:
        await long_poll("")
    assert status_error(no_run) == (RPCStatusCode.INVALID_ARGUMENT,
                                     "run id is required when long poll token is provided")

    waiting = asyncio.create_task(long_poll(first.run_id))
    await asyncio.sleep(0.5)
    assert not waiting.done(), "the long poll waits for a change"
    await handle.terminate(reason="enough")
    changed = await asyncio.wait_for(waiting, 10)
    assert changed.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_TERMINATED
    assert changed.outcome.failure.message == "enough"
    with pytest.raises(RPCError) as again:
        await handle.terminate()
    assert again.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert again.value.message.startswith("already terminated with request ID ")

    # Delete removes a running activity (terminated first) and a closed one.
    await client.start_activity(greet, "x", id="del-1", task_queue=queue,
                                          start_to_close_timeout=timedelta(seconds=10))
    for activity_id in ["del-1", "term-1"]:
        await service.delete_activity_execution(DeleteActivityExecutionRequest(namespace="default", activity_id=activity_id))
        with pytest.raises(RPCError) as gone:
            await client.get_activity_handle(activity_id).describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND


async def test_list_and_count_with_the_query_language(keel: Keel):
    client = await Client.connect(keel.target)
    queue = f"list-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, activities=[greet]):
        for i in range(3):
            await client.execute_activity(greet, str(i), id=f"done-{i}", task_queue=queue,
                                          start_to_close_timeout=timedelta(seconds=10))
    idle_queue = f"idle-{uuid.uuid4()}"
    for i in range(2):
        await client.start_activity(greet, "x", id=f"open-{i}", task_queue=idle_queue,
                                    start_to_close_timeout=timedelta(seconds=10))
    listed = [a async for a in client.list_activities("")]
    assert [a.activity_id for a in listed] == ["open-1", "open-0", "done-2", "done-1", "done-0"]
    completed = [a.activity_id async for a in client.list_activities(
        f"ActivityType = 'greet' AND ExecutionStatus = 'Completed' AND TaskQueue = '{queue}'")]
    assert completed == ["done-2", "done-1", "done-0"]
    assert [a.activity_id async for a in client.list_activities("ActivityId = 'open-0'")] == ["open-0"]
    assert [a.activity_id async for a in client.list_activities("CloseTime IS NULL")] == ["open-1", "open-0"]
    paged = [a.activity_id async for a in client.list_activities("", page_size=2)]
    assert paged == ["open-1", "open-0", "done-2", "done-1", "done-0"]
    assert (await client.count_activities("")).count == 5
    grouped = await client.count_activities("GROUP BY ExecutionStatus")
    assert {tuple(g.group_values): g.count for g in grouped.groups} == {("Completed",): 3, ("Running",): 2}
    assert grouped.count == 5
    with pytest.raises(RPCError) as bad:
        await client.count_activities("Foo = 1")
    assert status_error(bad) == (RPCStatusCode.INVALID_ARGUMENT, "invalid query: invalid search attribute: Foo")


def cli(keel: Keel, *args) -> subprocess.CompletedProcess:
    return subprocess.run([temporal_cli(), "activity", *args, "--address", keel.target],
                          capture_output=True, text=True, timeout=60)


async def test_the_temporal_cli_starts_describes_lists_and_ends_standalone_activities(keel: Keel):
    client = await Client.connect(keel.target)
    queue = f"cli-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, activities=[greet]):
        done = await asyncio.to_thread(cli, keel, "execute", "--activity-id", "cli-1", "--type", "greet",
                                       "--task-queue", queue, "--start-to-close-timeout", "10s", "--input", '"cli"')
        assert done.returncode == 0, done.stderr
        assert "hello cli" in done.stdout
    started = cli(keel, "start", "--activity-id", "cli-2", "--type", "greet", "--task-queue", f"nobody-{queue}",
                  "--start-to-close-timeout", "10s")
    assert started.returncode == 0, started.stderr
    described = cli(keel, "describe", "--activity-id", "cli-1", "-o", "json")
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout)["info"]
    assert info["status"] == "ACTIVITY_EXECUTION_STATUS_COMPLETED" and info["activityType"]["name"] == "greet"
    listed = cli(keel, "list", "--query", "ExecutionStatus = 'Running'", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [a["activityId"] for a in json.loads(listed.stdout)] == ["cli-2"]
    counted = cli(keel, "count", "--query", "ActivityType = 'greet'")
    assert counted.returncode == 0 and "2" in counted.stdout, counted.stdout + counted.stderr
    canceled = cli(keel, "cancel", "--activity-id", "cli-2", "--reason", "from the CLI")
    assert canceled.returncode == 0, canceled.stderr
    d = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id="cli-2"))
    assert d.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_CANCELED
    assert d.info.canceled_reason == "from the CLI"


async def test_by_id_completion_reaches_a_standalone_activity_even_before_it_started(keel: Keel):
    """`temporal activity complete|fail --activity-id` without a workflow id: a scheduled
    activity may be completed by id but not failed (it has no running attempt), as on the dev
    server."""
    queue = f"nobody-{uuid.uuid4()}"
    started = cli(keel, "start", "--activity-id", "by-id", "--type", "greet", "--task-queue", queue,
                  "--start-to-close-timeout", "30s")
    assert started.returncode == 0, started.stderr
    failed = cli(keel, "fail", "--activity-id", "by-id", "--reason", "nope")
    assert failed.returncode == 1 and "activity not found for ID: by-id" in failed.stderr, failed.stderr
    completed = cli(keel, "complete", "--activity-id", "by-id", "--result", '"by hand"')
    assert completed.returncode == 0, completed.stderr
    client = await Client.connect(keel.target)
    d = await client.workflow_service.describe_activity_execution(DescribeActivityExecutionRequest(
        namespace="default", activity_id="by-id", include_outcome=True))
    assert d.info.status == ActivityExecutionStatus.ACTIVITY_EXECUTION_STATUS_COMPLETED
    assert json.loads(d.outcome.result.payloads[0].data) == "by hand"

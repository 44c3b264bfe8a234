"""PauseActivity, UnpauseActivity, ResetActivity and UpdateActivityOptions from the Python
SDK's client and the `temporal activity` CLI, against a running Python worker: what the
activity is told (its cancellation details), what Describe shows, how retries and deadlines
follow, and Temporal's refusals (as the dev server answers them)."""

import asyncio
import subprocess
import time
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import activity
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    PauseActivityExecutionRequest,
    PauseActivityRequest,
    ResetActivityRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
)
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activity_ops_workflows import OperatedActivityWorkflow
from test_cli import temporal_cli


class Operated:
    """The activity "operated": `mode` says how each attempt behaves; what each attempt saw
    is kept for the test."""

    def __init__(self, mode: str):
        self.mode = mode
        self.attempts = []
        self.cancellations = []
        self.running = asyncio.Event()

    @activity.defn(name="operated")
    async def run(self) -> str:
        attempt = activity.info().attempt
        self.attempts.append(attempt)
        if self.mode == "fail_first" and len(self.attempts) == 1:
            raise ApplicationError("the first attempt fails")
        if self.mode == "fail_attempt_1" and attempt == 1:
            raise ApplicationError("every run's first attempt fails")
        if self.mode in ("pause", "long") and len(self.attempts) == 1:
            self.running.set()
            try:
                for _ in range(300):
                    activity.heartbeat("working")
                    await asyncio.sleep(0.1)
            except asyncio.CancelledError:
                self.cancellations.append(activity.cancellation_details())
                raise
        return f"attempt {attempt}"


async def start(client, operated: Operated, **options):
    queue = f"activity-ops-{uuid.uuid4()}"
    worker = Worker(client, task_queue=queue, workflows=[OperatedActivityWorkflow], activities=[operated.run])
    handle = await client.start_workflow(
        OperatedActivityWorkflow.run, options, id=f"operated-{uuid.uuid4()}", task_queue=queue
    )
    return worker, handle


def this(handle) -> WorkflowExecution:
    return WorkflowExecution(workflow_id=handle.id)


async def pending(client, handle):
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace="default", execution=this(handle))
    )
    return list(described.pending_activities)


async def attempt_is(client, handle, attempt) -> bool:
    """Whether the run's pending activity is at `attempt`."""
    infos = await pending(client, handle)
    return bool(infos) and infos[0].attempt == attempt


async def wait_for(what, check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def pause_request(handle, request_id: str, **target) -> PauseActivityRequest:
    return PauseActivityRequest(
        namespace="default",
        execution=this(handle),
        identity="operator",
        reason="looking into it",
        request_id=request_id,
        **(target or {"id": "op"}),
    )


async def test_a_paused_attempt_is_told_its_retry_waits_and_unpause_runs_it(keel):
    client = await Client.connect(keel.target)
    operated = Operated("pause")
    worker, handle = await start(client, operated)
    async with worker:
        await asyncio.wait_for(operated.running.wait(), 20)
        await client.workflow_service.pause_activity(pause_request(handle, "pause-1"))
        [info] = await pending(client, handle)
        assert info.paused
        assert info.pause_info.manual.identity == "operator"
        assert info.pause_info.manual.reason == "looking into it"
        assert info.state in (
            PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED,
            PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED,
        )

        async def paused_between_attempts():
            [info] = await pending(client, handle)
            return info if info.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED else None

        # Visibility finds runs with paused activities by TemporalPauseInfo, as Temporal's.
        async def listed_as_paused():
            query = f'WorkflowId = "{handle.id}" AND TemporalPauseInfo = "property:activityType=operated"'
            return [w async for w in client.list_workflows(query)]

        await wait_for("the run to be listed as paused", listed_as_paused)
        info = await wait_for("the paused attempt to end", paused_between_attempts)
        assert info.attempt == 2
        assert info.last_failure.application_failure_info.type == "ActivityPause"
        [details] = operated.cancellations
        assert details.paused and not details.cancel_requested

        # Temporal's answers to pausing again: the same request is a no-op, another refused.
        await client.workflow_service.pause_activity(pause_request(handle, "pause-1"))
        with pytest.raises(RPCError) as refused:
            await client.workflow_service.pause_activity(pause_request(handle, "pause-2"))
        assert refused.value.status == RPCStatusCode.FAILED_PRECONDITION
        assert refused.value.message == "activity is already paused"

        await asyncio.sleep(2.5)  # past the 1 s backoff: nothing is dispatched while paused
        assert operated.attempts == [1]
        [info] = await pending(client, handle)
        assert info.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED

        await client.workflow_service.unpause_activity(
            UnpauseActivityRequest(namespace="default", execution=this(handle), id="op")
        )
        assert await asyncio.wait_for(handle.result(), 20) == "attempt 2"
    described = await handle.describe()
    assert "TemporalPauseInfo" not in described.raw_description.workflow_execution_info.search_attributes.indexed_fields


async def test_new_options_shorten_the_running_attempts_deadline(keel):
    client = await Client.connect(keel.target)
    operated = Operated("long")
    worker, handle = await start(client, operated, attempts=1)
    async with worker:
        await asyncio.wait_for(operated.running.wait(), 20)
        began = time.monotonic()
        answer = await client.workflow_service.update_activity_options(
            UpdateActivityOptionsRequest(
                namespace="default",
                execution=this(handle),
                id="op",
                activity_options=ActivityOptions(start_to_close_timeout=Duration(seconds=3)),
                # Either spelling of a path; one Temporal does not know is ignored.
                update_mask=FieldMask(paths=["startToCloseTimeout", "no_such_field"]),
            )
        )
        assert answer.activity_options.start_to_close_timeout.seconds == 3
        assert answer.activity_options.heartbeat_timeout.seconds == 2
        [info] = await pending(client, handle)
        assert info.activity_options.start_to_close_timeout.seconds == 3
        assert await asyncio.wait_for(handle.result(), 20) == "timed out: START_TO_CLOSE"
        assert time.monotonic() - began < 10, "the 3 s deadline, not the 60 s one, fired"


async def test_reset_runs_an_activity_waiting_out_its_backoff_from_attempt_one(keel):
    client = await Client.connect(keel.target)
    operated = Operated("fail_first")
    worker, handle = await start(client, operated, backoff=60)
    async with worker:
        await wait_for("the first attempt to fail", lambda: attempt_is(client, handle, 2))
        await client.workflow_service.reset_activity(
            ResetActivityRequest(namespace="default", execution=this(handle), id="op", reset_heartbeat=True)
        )
        # Well inside the 60 s backoff, and counted from 1 again.
        assert await asyncio.wait_for(handle.result(), 20) == "attempt 1"
    assert operated.attempts == [1, 1]


async def test_refusals_name_what_is_missing_or_gone(keel):
    client = await Client.connect(keel.target)
    svc = client.workflow_service

    async def refused(call, request):
        with pytest.raises(RPCError) as e:
            await call(request)
        return e.value.status, e.value.message

    no_workflow = PauseActivityRequest(namespace="default", id="op")
    assert await refused(svc.pause_activity, no_workflow) == (
        RPCStatusCode.INVALID_ARGUMENT,
        "WorkflowId is not set on request.",
    )
    no_activity = UnpauseActivityRequest(namespace="default", execution=WorkflowExecution(workflow_id="w"))
    assert await refused(svc.unpause_activity, no_activity) == (
        RPCStatusCode.INVALID_ARGUMENT,
        "Either Activity.Id or Activity.Type should be set on request.",
    )
    unknown = ResetActivityRequest(namespace="default", execution=WorkflowExecution(workflow_id="nope"), id="op")
    assert await refused(svc.reset_activity, unknown) == (
        RPCStatusCode.NOT_FOUND,
        "workflow not found for ID: nope",
    )
    elsewhere = PauseActivityRequest(namespace="nowhere", execution=WorkflowExecution(workflow_id="w"), id="op")
    status, message = await refused(svc.pause_activity, elsewhere)
    assert (status, message) == (RPCStatusCode.NOT_FOUND, "Namespace nowhere is not found.")
    # The newer spelling the CLI calls names the activity by id alone.
    no_id = PauseActivityExecutionRequest(namespace="default", workflow_id="w")
    assert await refused(svc.pause_activity_execution, no_id) == (
        RPCStatusCode.INVALID_ARGUMENT,
        "activity ID is required",
    )

    operated = Operated("fail_first")
    worker, handle = await start(client, operated, backoff=60)
    async with worker:
        await wait_for("the first attempt to fail", lambda: attempt_is(client, handle, 2))
        status, message = await refused(svc.pause_activity, pause_request(handle, "p", type="no-such-type"))
        assert status == RPCStatusCode.NOT_FOUND
        assert message.startswith("Can't find pending activity")
        # Both spellings at once are refused before anything changes.
        both = UpdateActivityOptionsRequest(
            namespace="default",
            execution=this(handle),
            id="op",
            restore_original=True,
            activity_options=ActivityOptions(start_to_close_timeout=Duration(seconds=3)),
            update_mask=FieldMask(paths=["start_to_close_timeout"]),
        )
        assert await refused(svc.update_activity_options, both) == (
            RPCStatusCode.INVALID_ARGUMENT,
            "Both UpdateMask and RestoreOriginal are provided",
        )
        await handle.terminate("done")
    status, message = await refused(svc.pause_activity, pause_request(handle, "p"))
    assert (status, message) == (RPCStatusCode.NOT_FOUND, "workflow execution already completed")


def cli(keel, *args, check=True) -> subprocess.CompletedProcess:
    """`temporal activity ARGS` against `keel`; with `check`, it must succeed."""
    done = subprocess.run(
        [temporal_cli(), "activity", *args, "--address", keel.target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


async def test_the_temporal_cli_pauses_updates_unpauses_and_resets(keel):
    client = await Client.connect(keel.target)
    operated = Operated("pause")
    worker, handle = await start(client, operated, backoff=60)
    async with worker:
        await asyncio.wait_for(operated.running.wait(), 20)
        target = ["--workflow-id", handle.id, "--activity-id", "op"]
        await asyncio.to_thread(cli, keel, "pause", *target, "--reason", "from the cli")
        [info] = await pending(client, handle)
        assert info.paused and info.pause_info.manual.reason == "from the cli"
        await wait_for("the paused attempt to end", lambda: attempt_is(client, handle, 2))
        await asyncio.to_thread(cli, keel, "update-options", *target, "--schedule-to-close-timeout", "5m")
        [info] = await pending(client, handle)
        assert info.activity_options.schedule_to_close_timeout.seconds == 300
        assert info.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED
        # Reset keeping it paused: the count starts over, nothing is dispatched yet.
        await asyncio.to_thread(cli, keel, "reset", *target, "--keep-paused")
        [info] = await pending(client, handle)
        assert (info.attempt, info.state) == (1, PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED)
        # Unpaused, attempt 1 runs at once (not after the 60 s backoff).
        await asyncio.to_thread(cli, keel, "unpause", *target)
        assert await asyncio.wait_for(handle.result(), 20) == "attempt 1"
    assert operated.attempts == [1, 1]
    # Without a workflow id the CLI names a standalone activity: none is found, as on the
    # dev server without one.
    done = cli(keel, "pause", "--activity-id", "op", check=False)
    assert done.returncode != 0 and "activity not found for ID: op" in done.stderr, done.stderr


async def test_the_cli_unpauses_by_query_as_a_batch_job(keel):
    """`temporal activity unpause --query` starts a batch job (UnpauseActivitiesOperation)
    over the runs the query finds; TemporalPauseInfo finds the paused ones."""
    client = await Client.connect(keel.target)
    operated = Operated("fail_attempt_1")
    queue = f"activity-ops-{uuid.uuid4()}"
    marker = uuid.uuid4().hex[:8]
    async with Worker(client, task_queue=queue, workflows=[OperatedActivityWorkflow], activities=[operated.run]):
        handles = [
            await client.start_workflow(
                OperatedActivityWorkflow.run, {"backoff": 60}, id=f"batch-{marker}-{i}", task_queue=queue
            )
            for i in range(3)
        ]
        for handle in handles:
            await wait_for("the first attempt to fail", lambda h=handle: attempt_is(client, h, 2))
            await client.workflow_service.pause_activity(pause_request(handle, "pause"))
        query = f'WorkflowId STARTS_WITH "batch-{marker}-" AND TemporalPauseInfo IS NOT NULL'

        async def all_listed():
            return len([w async for w in client.list_workflows(query)]) == 3

        await wait_for("the paused runs to be listed", all_listed)
        await asyncio.to_thread(cli, keel, "unpause", "--query", query, "--reason", "batch", "--yes")
        results = await asyncio.wait_for(asyncio.gather(*[h.result() for h in handles]), 30)
    assert results == ["attempt 2"] * 3, "unpaused within the 60 s backoff"

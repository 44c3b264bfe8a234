"""The official Python SDK (`temporalio` from PyPI) against a real `keel` process: the same
scenarios as the Rust SDK tests, asserting results and exact event sequences."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

E = EventType


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def explode(what: str) -> str:
    raise ApplicationError(f"{what} exploded")


@activity.defn
async def linger(secs: float) -> str:
    await asyncio.sleep(secs)
    return "finished"


@activity.defn
async def fail_then_linger(secs: float) -> str:
    if activity.info().attempt == 1:
        raise ApplicationError("first attempt fails")
    await asyncio.sleep(secs)
    return "finished"


@workflow.defn
class GreetWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class SleepWorkflow:
    @workflow.run
    async def run(self, secs: float) -> str:
        await asyncio.sleep(secs)
        return "woke"


@workflow.defn
class ExplodeWorkflow:
    @workflow.run
    async def run(self, what: str) -> str:
        return await workflow.execute_activity(
            explode,
            what,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class FailWorkflow:
    @workflow.run
    async def run(self, why: str) -> str:
        raise ApplicationError(why, non_retryable=True)


@workflow.defn
class LingerWorkflow:
    @workflow.run
    async def run(self, secs: float) -> str:
        try:
            return await workflow.execute_activity(
                linger,
                secs,
                start_to_close_timeout=timedelta(seconds=3),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except Exception as e:  # the timeout reaches the workflow as an ActivityError
            return f"activity failed: {e}"


@activity.defn
async def heartbeat_until_cancelled() -> str:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.1)


@workflow.defn
class WaitForSignalWorkflow:
    def __init__(self) -> None:
        self.values: list = []

    @workflow.signal
    def push(self, value: str) -> None:
        self.values.append(value)

    @workflow.query
    def current(self) -> list:
        return self.values

    @workflow.query
    def broken(self) -> str:
        raise ValueError("this query always fails")

    @workflow.run
    async def run(self, count: int) -> list:
        await workflow.wait_condition(lambda: len(self.values) >= count)
        return self.values


@workflow.defn
class CancelActivityWorkflow:
    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            heartbeat_until_cancelled,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await asyncio.sleep(1)
        handle.cancel()
        try:
            await handle
        except Exception as e:
            return f"activity ended: {type(e.cause).__name__}"
        return "activity finished?"


@activity.defn
async def completes_later() -> str:
    activity.raise_complete_async()


@workflow.defn
class AsyncActivityWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            completes_later, start_to_close_timeout=timedelta(seconds=30), activity_id="external"
        )


@workflow.defn
class SilentActivityWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            return await workflow.execute_activity(
                linger,
                10.0,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=timedelta(seconds=1),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except Exception as e:
            return f"{type(e.cause).__name__}: {e.cause}"


@workflow.defn
class FlakyWorkflow:
    @workflow.run
    async def run(self, succeed_on: int) -> str:
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} fails")
        return f"succeeded on attempt {attempt}"


WORKFLOWS = [
    FlakyWorkflow,
    AsyncActivityWorkflow,
    SilentActivityWorkflow,
    GreetWorkflow,
    SleepWorkflow,
    ExplodeWorkflow,
    FailWorkflow,
    LingerWorkflow,
    WaitForSignalWorkflow,
    CancelActivityWorkflow,
]
ACTIVITIES = [greet, explode, linger, fail_then_linger, heartbeat_until_cancelled, completes_later]

ACTIVITY_ROUND_TRIP = [
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
]

TIMER = [
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    E.EVENT_TYPE_TIMER_STARTED,
    E.EVENT_TYPE_TIMER_FIRED,
    E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
]


async def event_types(handle) -> list:
    history = await handle.fetch_history()
    ids = [e.event_id for e in history.events]
    assert ids == list(range(1, len(ids) + 1)), "event ids are contiguous"
    return [e.event_type for e in history.events]


def worker(client: Client, queue: str) -> Worker:
    return Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES)


async def test_activity_workflow_returns_its_result(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-greet"):
        handle = await client.start_workflow(GreetWorkflow.run, "Keel", id="py-greet-1", task_queue="py-greet")
        assert await handle.result() == "Hello, Keel!"
    assert await event_types(handle) == ACTIVITY_ROUND_TRIP


async def test_two_second_timer(keel):
    client = await Client.connect(keel.target)
    loop = asyncio.get_running_loop()
    async with worker(client, "py-sleep"):
        began = loop.time()
        handle = await client.start_workflow(SleepWorkflow.run, 2.0, id="py-sleep-1", task_queue="py-sleep")
        assert await handle.result() == "woke"
        assert loop.time() - began >= 2.0
    assert await event_types(handle) == TIMER


async def test_failing_activity_fails_the_workflow(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-explode"):
        handle = await client.start_workflow(ExplodeWorkflow.run, "boiler", id="py-explode-1", task_queue="py-explode")
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        assert "boiler exploded" in str(err.value.cause.cause)
    types = await event_types(handle)
    assert types[4:7] == [
        E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    ]
    assert types[-1] == E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED


async def test_workflow_that_fails_itself(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-fail"):
        handle = await client.start_workflow(FailWorkflow.run, "on purpose", id="py-fail-1", task_queue="py-fail")
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        assert "on purpose" in str(err.value.cause)
    assert await event_types(handle) == [
        E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    ]


async def wait_for(handle, event_type, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if event_type in await event_types(handle):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {event_type}")


async def test_timer_workflow_survives_kill9(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-dur-timer"):
        handle = await client.start_workflow(SleepWorkflow.run, 3.0, id="py-dur-timer-1", task_queue="py-dur-timer")
        await wait_for(handle, E.EVENT_TYPE_TIMER_STARTED)
        keel.restart_after_kill9()
        assert await handle.result() == "woke"
    assert await event_types(handle) == TIMER


async def test_activity_running_at_kill9_times_out(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-dur-act"):
        handle = await client.start_workflow(LingerWorkflow.run, 6.0, id="py-dur-act-1", task_queue="py-dur-act")
        await wait_for(handle, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        for _ in range(100):
            desc = await handle.describe()
            if desc.raw_description.pending_activities and desc.raw_description.pending_activities[0].state == 2:
                break  # PENDING_ACTIVITY_STATE_STARTED
            await asyncio.sleep(0.05)
        keel.restart_after_kill9()
        result = await handle.result()
        assert "activity failed" in result
    types = await event_types(handle)
    assert types[4:7] == [
        E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    ]
    assert types[-1] == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


async def test_signals_are_delivered_in_order_and_deduplicated(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-signal"):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 3, id="py-signal-1", task_queue="py-signal")
        await handle.signal(WaitForSignalWorkflow.push, "a")
        await handle.signal(WaitForSignalWorkflow.push, "b")
        raw = client.workflow_service
        from temporalio.api.common.v1 import Payloads, WorkflowExecution
        from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest

        payloads = await client.data_converter.encode(["c"])
        req = SignalWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id="py-signal-1"),
            signal_name="push",
            input=Payloads(payloads=payloads),
            request_id="same-request",
        )
        await raw.signal_workflow_execution(req)
        await raw.signal_workflow_execution(req)  # a retry of the same request: delivered once
        assert await handle.result() == ["a", "b", "c"]
    types = await event_types(handle)
    assert types.count(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 3
    with pytest.raises(Exception) as err:
        await handle.signal(WaitForSignalWorkflow.push, "late")
    assert "already completed" in str(err.value)


async def test_signal_with_start_starts_then_signals_the_running_run(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-sws"):
        handle = await client.start_workflow(
            WaitForSignalWorkflow.run, 2, id="py-sws-1", task_queue="py-sws", start_signal="push", start_signal_args=["x"]
        )
        again = await client.start_workflow(
            WaitForSignalWorkflow.run, 2, id="py-sws-1", task_queue="py-sws", start_signal="push", start_signal_args=["y"]
        )
        assert again.result_run_id == handle.result_run_id
        assert await handle.result() == ["x", "y"]
    types = await event_types(handle)
    assert types[:3] == [
        E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]


async def test_cancel_request_cancels_the_workflow(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-cancel"):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-cancel-1", task_queue="py-cancel")
        await wait_for(handle, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        await handle.cancel()
        await handle.cancel()  # asking twice is fine
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    types = await event_types(handle)
    assert types.count(E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) == 1
    assert types[-1] == E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED


async def test_terminate_closes_the_workflow_at_once(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-term"):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-term-1", task_queue="py-term")
        await wait_for(handle, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        await handle.terminate(reason="enough")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    types = await event_types(handle)
    assert types[-1] == E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    history = await handle.fetch_history()
    assert history.events[-1].workflow_execution_terminated_event_attributes.reason == "enough"


async def test_delete_removes_closed_and_running_runs(keel):
    client = await Client.connect(keel.target)

    async def delete(workflow_id: str) -> None:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace="default", workflow_execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )

    async with worker(client, "py-del"):
        done = await client.start_workflow(GreetWorkflow.run, "Keel", id="py-del-1", task_queue="py-del")
        assert await done.result() == "Hello, Keel!"
    # Nobody polls this queue: the run stays open until the deletion terminates it.
    running = await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-del-2", task_queue="py-del-idle")
    for workflow_id in ("py-del-1", "py-del-2"):
        await delete(workflow_id)
        handle = client.get_workflow_handle(workflow_id)
        for read in (handle.describe, handle.fetch_history):
            with pytest.raises(RPCError) as err:
                await read()
            assert err.value.status == RPCStatusCode.NOT_FOUND
        with pytest.raises(RPCError) as err:
            await delete(workflow_id)
        assert err.value.status == RPCStatusCode.NOT_FOUND
    # The id is free again: a new run starts.
    again = await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-del-2", task_queue="py-del-idle")
    assert again.result_run_id != running.result_run_id
    await again.terminate()


async def test_workflow_cancels_its_running_activity(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-act-cancel"):
        handle = await client.start_workflow(CancelActivityWorkflow.run, id="py-act-cancel-1", task_queue="py-act-cancel")
        assert await handle.result() == "activity ended: CancelledError"
    types = await event_types(handle)
    assert E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in types
    assert E.EVENT_TYPE_ACTIVITY_TASK_CANCELED in types


async def test_queries_running_and_closed_workflows(keel):
    from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
    from temporalio.common import QueryRejectCondition

    client = await Client.connect(keel.target)
    async with worker(client, "py-query"):
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 2, id="py-query-1", task_queue="py-query")
        await handle.signal(WaitForSignalWorkflow.push, "a")
        assert await handle.query(WaitForSignalWorkflow.current) == ["a"]
        with pytest.raises(WorkflowQueryFailedError) as err:
            await handle.query(WaitForSignalWorkflow.broken)
        assert "this query always fails" in str(err.value)
        await handle.signal(WaitForSignalWorkflow.push, "b")
        assert await handle.result() == ["a", "b"]
        before = await event_types(handle)
        # A closed workflow is queried by replaying its history on a worker.
        assert await handle.query(WaitForSignalWorkflow.current) == ["a", "b"]
        assert await event_types(handle) == before, "queries write no history"
        with pytest.raises(WorkflowQueryRejectedError):
            await handle.query(WaitForSignalWorkflow.current, reject_condition=QueryRejectCondition.NOT_OPEN)


async def test_query_without_a_worker_fails_in_time(keel):
    from datetime import timedelta as td

    client = await Client.connect(keel.target)
    handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-query-2", task_queue="nobody-polls")
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(Exception):
        await handle.query(WaitForSignalWorkflow.current, rpc_timeout=td(seconds=3))
    assert loop.time() - began < 10


async def test_activity_completed_by_id_from_outside_the_worker(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-byid"):
        handle = await client.start_workflow(AsyncActivityWorkflow.run, id="py-byid-1", task_queue="py-byid")
        for _ in range(100):
            desc = await handle.describe()
            if desc.raw_description.pending_activities and desc.raw_description.pending_activities[0].state == 2:
                break
            await asyncio.sleep(0.05)
        outside = client.get_async_activity_handle(workflow_id="py-byid-1", run_id=None, activity_id="external")
        await outside.heartbeat("halfway")
        await outside.complete("done by id")
        assert await handle.result() == "done by id"
        with pytest.raises(Exception):
            await outside.complete("twice")


async def test_activity_without_heartbeats_times_out(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-hb"):
        handle = await client.start_workflow(SilentActivityWorkflow.run, id="py-hb-1", task_queue="py-hb")
        result = await handle.result()
        assert result.startswith("TimeoutError") and "heartbeat" in result.lower(), result
    types = await event_types(handle)
    assert E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT in types


async def test_workflow_id_reuse_and_conflict_policies(keel):
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    client = await Client.connect(keel.target)
    async with worker(client, "py-ids"):
        first = await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-ids-1", task_queue="py-ids")
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(WaitForSignalWorkflow.run, 1, id="py-ids-1", task_queue="py-ids")
        same = await client.start_workflow(
            WaitForSignalWorkflow.run,
            1,
            id="py-ids-1",
            task_queue="py-ids",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert same.result_run_id == first.result_run_id
        await first.signal(WaitForSignalWorkflow.push, "done")
        assert await first.result() == ["done"]
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                WaitForSignalWorkflow.run,
                1,
                id="py-ids-1",
                task_queue="py-ids",
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        replaced = await client.start_workflow(
            WaitForSignalWorkflow.run,
            1,
            id="py-ids-1",
            task_queue="py-ids",
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        assert replaced.result_run_id != first.result_run_id
        newer = await client.start_workflow(
            WaitForSignalWorkflow.run,
            1,
            id="py-ids-1",
            task_queue="py-ids",
            id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        )
        assert newer.result_run_id != replaced.result_run_id
        old = client.get_workflow_handle("py-ids-1", run_id=replaced.result_run_id)
        assert (await old.describe()).status.name == "TERMINATED"
        await newer.terminate(reason="cleanup")


async def test_workflow_retry_policy_runs_a_new_attempt(keel):
    client = await Client.connect(keel.target)
    async with worker(client, "py-retry"):
        handle = await client.start_workflow(
            FlakyWorkflow.run,
            2,
            id="py-retry-1",
            task_queue="py-retry",
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
        )
        assert await handle.result() == "succeeded on attempt 2"
        first = await client.get_workflow_handle("py-retry-1", run_id=handle.result_run_id).fetch_history()
        failed = first.events[-1].workflow_execution_failed_event_attributes
        assert failed.retry_state == 1  # RETRY_STATE_IN_PROGRESS
        latest = client.get_workflow_handle("py-retry-1")
        second = await latest.fetch_history()
        started = second.events[0].workflow_execution_started_event_attributes
        assert started.attempt == 2
        assert started.continued_execution_run_id == handle.result_run_id
        described = (await latest.describe()).raw_description.workflow_execution_info
        assert failed.new_execution_run_id == described.execution.run_id
        assert described.first_run_id == handle.result_run_id
        # Auto-reset points: the first run's first completed task (this worker's build), carried
        # to the second run with an expiry; the same build adds no second point.
        [point] = described.auto_reset_points.points
        assert point.run_id == handle.result_run_id
        assert point.first_workflow_task_completed_id == 4
        assert point.build_id and point.resettable
        assert point.expire_time.ToSeconds() - point.create_time.ToSeconds() >= 24 * 3600 - 60
        assert started.prev_auto_reset_points == described.auto_reset_points

        exhausted = await client.start_workflow(
            FlakyWorkflow.run,
            5,
            id="py-retry-2",
            task_queue="py-retry",
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
        )
        with pytest.raises(WorkflowFailureError):
            await exhausted.result()
        last = await client.get_workflow_handle("py-retry-2").fetch_history()
        assert last.events[-1].workflow_execution_failed_event_attributes.retry_state == 4  # MAXIMUM_ATTEMPTS_REACHED

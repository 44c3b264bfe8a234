"""The scenarios as one runnable set, shared by the pytest suite and by
`record_fixtures.py`, which runs them against Temporal's own dev server to record the
expected histories. Histories are normalised: fields that differ between any two runs of the
same scenario (times, ids, identities, sizes) are dropped."""

import asyncio
import os
import pathlib
import re
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.json_format import MessageToDict
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType, Priority as PriorityProto, WorkflowExecution
from temporalio.api.workflow.v1 import WorkflowExecutionOptions
from temporalio.api.enums.v1 import CommandType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PauseActivityRequest,
    PollWorkflowTaskQueueRequest,
    ResetWorkflowExecutionRequest,
    RespondWorkflowTaskCompletedRequest,
    UnpauseActivityRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.common import Priority, RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activity_ops_workflows import ACTIVITY_OPS_ACTIVITIES, ACTIVITY_OPS_WORKFLOWS, PausableWorkflow
from chain_workflows import CHAIN_WORKFLOWS, CountToWorkflow
from cron_workflows import CRON_WORKFLOWS, CronCounterWorkflow
from external_workflows import (
    EXTERNAL_WORKFLOWS,
    CancelOtherWorkflow,
    SignalOtherWorkflow,
    SignalSelfWorkflow,
    TooManySignalsWorkflow,
)
from child_workflows import CHILD_WORKFLOWS, AbandoningParentWorkflow, ParentWorkflow, TakenChildIdWorkflow
from update_workflows import UPDATE_WORKFLOWS, AbandonUpdateWorkflow, CounterWorkflow, UnfinishedHandlerWorkflow
from marker_workflows import MARKER_ACTIVITIES, MARKER_WORKFLOWS, LongLocalActivityWorkflow, PatchedWorkflow
from nexus_workflows import NEXUS_WORKFLOWS, GreeterHandler, NexusCaller
from priority_workflows import PRIORITY_ACTIVITIES, PRIORITY_WORKFLOWS, InheritingParent
from search_attribute_workflows import (
    KEYWORD,
    SEARCH_ATTRIBUTE_WORKFLOWS,
    BadUpsertWorkflow,
    UpsertWorkflow,
)
from failure_workflows import (
    ActivityTimeoutWorkflow,
    CancelInBackoffWorkflow,
    FailFirstTaskWorkflow,
    FAILURE_ACTIVITIES,
    FAILURE_WORKFLOWS,
    TooManyActivitiesWorkflow,
)

from test_sdk import (
    ACTIVITIES,
    WORKFLOWS,
    AsyncActivityWorkflow,
    CancelActivityWorkflow,
    ExplodeWorkflow,
    FailWorkflow,
    FlakyWorkflow,
    GreetWorkflow,
    SilentActivityWorkflow,
    SleepWorkflow,
    WaitForSignalWorkflow,
)


async def _run(client, queue, wf_id, run, arg, **options):
    args = [] if arg is None else [arg]
    handle = await client.start_workflow(run, *args, id=wf_id, task_queue=queue, **options)
    try:
        await handle.result()
    except Exception:
        pass  # failing scenarios fail on purpose; their histories are what is compared
    return handle


async def _await_tasks(handle, count=1):
    """Until `count` workflow tasks have completed, so the next event arrives at a quiet run."""
    for _ in range(200):
        history = await handle.fetch_history()
        if sum(e.event_type == 7 for e in history.events) >= count:  # WorkflowTaskCompleted
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow did not make progress")


async def _signal(client, queue, wf_id):
    handle = await client.start_workflow(WaitForSignalWorkflow.run, 2, id=wf_id, task_queue=queue)
    await _await_tasks(handle, 1)
    await handle.signal(WaitForSignalWorkflow.push, "a")
    await _await_tasks(handle, 2)
    await handle.signal(WaitForSignalWorkflow.push, "b")
    await handle.result()
    return handle


async def _signal_with_start(client, queue, wf_id):
    handle = await client.start_workflow(
        WaitForSignalWorkflow.run, 1, id=wf_id, task_queue=queue, start_signal="push", start_signal_args=["x"]
    )
    await handle.result()
    return handle


async def _cancel(client, queue, wf_id):
    handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=wf_id, task_queue=queue)
    await _await_tasks(handle, 1)
    await handle.cancel()
    try:
        await handle.result()
    except Exception:
        pass
    return handle


async def _terminate(client, queue, wf_id):
    handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=wf_id, task_queue=queue)
    await _await_tasks(handle, 1)
    await handle.terminate(reason="enough")
    return handle


async def _complete_by_id(client, queue, wf_id):
    handle = await client.start_workflow(AsyncActivityWorkflow.run, id=wf_id, task_queue=queue)
    for _ in range(200):
        desc = await handle.describe()
        if desc.raw_description.pending_activities and desc.raw_description.pending_activities[0].state == 2:
            break
        await asyncio.sleep(0.05)
    outside = client.get_async_activity_handle(workflow_id=wf_id, run_id=None, activity_id="external")
    await outside.heartbeat("halfway")
    await outside.complete("done by id")
    await handle.result()
    return handle


async def _retried(client, queue, wf_id, which):
    handle = await client.start_workflow(
        FlakyWorkflow.run,
        2,
        id=wf_id,
        task_queue=queue,
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
    )
    await handle.result()
    run_id = handle.result_run_id if which == "first" else None
    return client.get_workflow_handle(wf_id, run_id=run_id)


async def _timed_out(client, queue, wf_id, which):
    handle = await client.start_workflow(
        SleepWorkflow.run,
        30.0,
        id=wf_id,
        task_queue=queue,
        run_timeout=timedelta(seconds=1),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2),
    )
    try:
        await handle.result()
    except Exception:
        pass  # both runs time out
    run_id = handle.result_run_id if which == "first" else None
    return client.get_workflow_handle(wf_id, run_id=run_id)


async def _activity_paused(client, queue, wf_id):
    """The running attempt is paused (its heartbeat tells it, the SDK fails it with
    ActivityPause), waits past its backoff, and runs again once unpaused: no operation
    writes an event, attempt 2's start carries the pause failure."""
    handle = await client.start_workflow(PausableWorkflow.run, id=wf_id, task_queue=queue)

    async def state():
        desc = await handle.describe()
        pending = desc.raw_description.pending_activities
        return pending[0].state if pending else None

    async def until(wanted):
        for _ in range(400):
            if await state() == wanted:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the activity never reached state {wanted}")

    execution = WorkflowExecution(workflow_id=wf_id)
    await until(2)  # STARTED
    await client.workflow_service.pause_activity(
        PauseActivityRequest(namespace="default", execution=execution, id="pausable", request_id="pause")
    )
    await until(4)  # PAUSED: the attempt failed, the next one waits
    await asyncio.sleep(1.5)  # past the 1 s backoff
    await client.workflow_service.unpause_activity(
        UnpauseActivityRequest(namespace="default", execution=execution, id="pausable")
    )
    await handle.result()
    return handle


async def _unfinished_handler(client, queue, wf_id, which, run):
    """A signal (or an update) arrives before any worker polls; the first workflow task
    continues as new while its handler still waits (the SDK's "unfinished handler" case).
    A queue of its own, whose worker starts only once the signal or update is in."""
    own_queue = f"{queue}-unfinished-{uuid.uuid4()}"
    handle = await client.start_workflow(UnfinishedHandlerWorkflow.run, False, id=wf_id, task_queue=own_queue)
    update = None
    if which == "signal":
        await handle.signal(UnfinishedHandlerWorkflow.slow_signal)
    else:
        update = asyncio.create_task(handle.execute_update(UnfinishedHandlerWorkflow.slow_update, id="slow"))
        await asyncio.sleep(1)  # admitted, waiting for a worker
    async with Worker(client, task_queue=own_queue, workflows=[UnfinishedHandlerWorkflow], max_cached_workflows=0):
        await handle.result()  # follows the continue-as-new to the second run
        if update is not None:
            try:
                await asyncio.wait_for(update, 30)
            except Exception:
                pass  # the run it was accepted in continued as new
    return client.get_workflow_handle(wf_id, run_id=handle.first_execution_run_id if run == "first" else None)


async def _priority_updated(client, queue, wf_id):
    """A run's priority changed by UpdateWorkflowExecutionOptions (one field by mask, then
    the same value again, which changes nothing) between its signals."""
    handle = await client.start_workflow(
        WaitForSignalWorkflow.run, 2, id=wf_id, task_queue=queue,
        priority=Priority(priority_key=2, fairness_key="tenant-a", fairness_weight=2.5))
    await _await_tasks(handle, 1)
    for _ in range(2):
        await client.workflow_service.update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=wf_id),
            workflow_execution_options=WorkflowExecutionOptions(priority=PriorityProto(priority_key=1)),
            update_mask=FieldMask(paths=["priority.priority_key"]), identity="scenario"))
    await handle.signal(WaitForSignalWorkflow.push, "a")
    await _await_tasks(handle, 2)
    await handle.signal(WaitForSignalWorkflow.push, "b")
    await handle.result()
    return handle


# The Nexus scenarios' endpoint and the queue its handlers poll (created once per server).
NEXUS_ENDPOINT = "scenario-endpoint"
NEXUS_HANDLER_QUEUE = "scenario-nexus-handlers"


async def ensure_endpoint(client, name: str, queue: str, namespace: str = "default") -> None:
    from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
    from temporalio.api.operatorservice.v1 import CreateNexusEndpointRequest
    try:
        await client.operator_service.create_nexus_endpoint(CreateNexusEndpointRequest(spec=EndpointSpec(
            name=name, target=EndpointTarget(worker=EndpointTarget.Worker(namespace=namespace, task_queue=queue)))))
    except RPCError as e:
        if e.status != RPCStatusCode.ALREADY_EXISTS:
            raise


async def _nexus(client, queue, wf_id, operation, timeout_seconds=20.0, handlers=True):
    """A workflow calls a Nexus operation of a worker's Greeter service (through an endpoint
    targeting the handlers' queue) and returns its outcome."""
    await ensure_endpoint(client, NEXUS_ENDPOINT, NEXUS_HANDLER_QUEUE)
    handle = await client.start_workflow(
        NexusCaller.run, args=[NEXUS_ENDPOINT, operation, "keel", timeout_seconds], id=wf_id, task_queue=queue)
    if handlers:
        async with Worker(client, task_queue=NEXUS_HANDLER_QUEUE, workflows=NEXUS_WORKFLOWS,
                          nexus_service_handlers=[GreeterHandler()], max_cached_workflows=0):
            await handle.result()
    else:
        await handle.result()
    return handle


async def _nexus_async(client, queue, wf_id):
    """A workflow-backed operation: the handler's workflow completes only once the caller has
    seen the operation start (its second workflow task), so both servers write the same order."""
    await ensure_endpoint(client, NEXUS_ENDPOINT, NEXUS_HANDLER_QUEUE)
    handle = await client.start_workflow(
        NexusCaller.run, args=[NEXUS_ENDPOINT, "echo_when_told", "keel", 20.0], id=wf_id, task_queue=queue)
    async with Worker(client, task_queue=NEXUS_HANDLER_QUEUE, workflows=NEXUS_WORKFLOWS,
                      nexus_service_handlers=[GreeterHandler()], max_cached_workflows=0):
        await _await_tasks(handle, 2)
        await client.get_workflow_handle("told-keel").signal("go")
        await handle.result()
    return handle


async def _versioning_pinned(client, queue, wf_id):
    """A versioned worker (deployment version fixture-dep.1.0, made current) runs a pinned
    workflow: every WorkflowTaskCompleted names the behaviour and the version."""
    from temporalio.api.deployment.v1 import WorkerDeploymentVersion as ApiVersion
    from temporalio.api.workflowservice.v1 import (
        DescribeWorkerDeploymentVersionRequest, SetWorkerDeploymentCurrentVersionRequest,
    )
    from temporalio.common import WorkerDeploymentVersion
    from temporalio.worker import WorkerDeploymentConfig
    from versioning_workflows import PinnedSteps, which_activity

    own_queue, deployment = f"{queue}-versioned", "fixture-dep"
    async with Worker(client, task_queue=own_queue, workflows=[PinnedSteps], activities=[which_activity("1.0")],
                      max_cached_workflows=0, deployment_config=WorkerDeploymentConfig(
                          version=WorkerDeploymentVersion(deployment, "1.0"), use_worker_versioning=True)):
        for _ in range(200):
            try:
                await client.workflow_service.describe_worker_deployment_version(
                    DescribeWorkerDeploymentVersionRequest(namespace=client.namespace, deployment_version=ApiVersion(
                        deployment_name=deployment, build_id="1.0")))
                break
            except RPCError:
                await asyncio.sleep(0.05)
        await client.workflow_service.set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace, deployment_name=deployment, build_id="1.0", identity="scenario"))
        handle = await client.start_workflow(PinnedSteps.run, id=wf_id, task_queue=own_queue)
        await _await_tasks(handle, 2)
        await handle.signal(PinnedSteps.proceed)
        await handle.result()
    return handle


def scenario_worker(client, queue) -> Worker:
    """A worker for every scenario workflow. No workflow cache, so no sticky queue: Keel does
    not have sticky queues yet, and the fixtures compare the mode both servers serve. (With
    stickiness Temporal names the worker's sticky queue in later WorkflowTaskScheduled events.)"""
    return Worker(
        client, task_queue=queue, workflows=WORKFLOWS + FAILURE_WORKFLOWS + CHAIN_WORKFLOWS + CHILD_WORKFLOWS + EXTERNAL_WORKFLOWS + CRON_WORKFLOWS + SEARCH_ATTRIBUTE_WORKFLOWS + MARKER_WORKFLOWS + UPDATE_WORKFLOWS + ACTIVITY_OPS_WORKFLOWS + PRIORITY_WORKFLOWS + NEXUS_WORKFLOWS, activities=ACTIVITIES + FAILURE_ACTIVITIES + MARKER_ACTIVITIES + ACTIVITY_OPS_ACTIVITIES + PRIORITY_ACTIVITIES, max_cached_workflows=0
    )


async def _steal_workflow_task(client, queue):
    """Polls the next workflow task of `queue` as a bare client that never answers it."""
    task = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), identity="thief")
    )
    assert task.task_token, "a workflow task was waiting"
    return task


async def _workflow_task_timeout(client, queue, wf_id):
    """A worker takes the first workflow task and never answers: it times out after the
    workflow's task timeout and a worker that does answer gets the retried task."""
    private = f"{queue}-workflow-task-timeout"
    handle = await client.start_workflow(
        GreetWorkflow.run, "late", id=wf_id, task_queue=private, task_timeout=timedelta(seconds=1)
    )
    await _steal_workflow_task(client, private)
    async with scenario_worker(client, private):
        await handle.result()
    return handle


async def _signal_during_task(client, queue, wf_id):
    """A signal arrives while the first workflow task runs: it is written after that task
    completes and schedules the next task."""
    private = f"{queue}-signal-during-task"
    handle = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=wf_id, task_queue=private)
    task = await _steal_workflow_task(client, private)
    await handle.signal(WaitForSignalWorkflow.push, "during the task")
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(namespace=client.namespace, task_token=task.task_token, identity="thief")
    )
    async with scenario_worker(client, private):
        await handle.result()
    return handle


async def _bad_command(client, queue, wf_id):
    """A completion carries a ScheduleActivityTask without any timeout: the server refuses it
    with INVALID_ARGUMENT, fails the workflow task with BadScheduleActivityAttributes and
    schedules the next one."""
    private = f"{queue}-bad-command"
    handle = await client.start_workflow(GreetWorkflow.run, "again", id=wf_id, task_queue=private)
    task = await _steal_workflow_task(client, private)
    no_timeouts = Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id="1", activity_type=ActivityType(name="greet"), task_queue=TaskQueue(name=private)
        ),
    )
    try:
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=client.namespace, task_token=task.task_token, identity="thief", commands=[no_timeouts]
            )
        )
        raise AssertionError("a command without timeouts was accepted")
    except RPCError as e:
        assert e.status == RPCStatusCode.INVALID_ARGUMENT, e
    async with scenario_worker(client, private):
        await handle.result()
    return handle


async def _continued(client, queue, wf_id, which):
    """Three runs chained by continue-as-new; the first or the last run's history."""
    handle = await client.start_workflow(CountToWorkflow.run, args=[0, 2], id=wf_id, task_queue=queue)
    await client.get_workflow_handle(wf_id).result()
    run_id = handle.result_run_id if which == "first" else None
    return client.get_workflow_handle(wf_id, run_id=run_id)


async def _taken_child_id(client, queue, wf_id):
    """The child's workflow id is held by a running workflow: the start fails in history."""
    taken = f"{queue}-taken-child-id"  # the same in every recording: it is the child's input
    holder = await client.start_workflow(WaitForSignalWorkflow.run, 1, id=taken, task_queue=queue)
    handle = await _run(client, queue, wf_id, TakenChildIdWorkflow.run, taken)
    await holder.terminate()
    return handle


async def _parent_close_policies(client, queue, wf_id):
    """The parent completes with two children running: the TERMINATE child is terminated
    (its history is the one compared), the ABANDON child keeps running."""
    await _run(client, queue, wf_id, AbandoningParentWorkflow.run, None)
    terminated = client.get_workflow_handle(f"{wf_id}-terminated")
    for _ in range(200):
        if (await terminated.describe()).status != 1:  # no longer RUNNING
            break
        await asyncio.sleep(0.05)
    abandoned = client.get_workflow_handle(f"{wf_id}-abandoned")
    assert (await abandoned.describe()).status == 1, "the abandoned child still runs"
    await abandoned.terminate()
    return terminated


async def _signal_external(client, queue, wf_id, which):
    """A workflow signals a waiting workflow, then a missing one; the sender's or the
    target's history. The target's id is the sender's input, so it is the same in every
    recording."""
    target = client.get_workflow_handle(f"{queue}-signal-target")
    await client.start_workflow(WaitForSignalWorkflow.run, 1, id=target.id, task_queue=queue)
    sender = await _run(client, queue, wf_id, SignalOtherWorkflow.run, target.id)
    await target.result()
    return sender if which == "sender" else target


async def _cancel_external(client, queue, wf_id, which):
    """A workflow asks a sleeping workflow to cancel, then a missing one; the sender's or the
    target's history."""
    target = client.get_workflow_handle(f"{queue}-cancel-target")
    await client.start_workflow(SleepWorkflow.run, 300.0, id=target.id, task_queue=queue)
    await _await_tasks(target, 1)
    sender = await _run(client, queue, wf_id, CancelOtherWorkflow.run, target.id)
    try:
        await target.result()
    except Exception:
        pass  # canceled, as asked
    return sender if which == "sender" else target


async def cron_runs(client, wf_id, count):
    """The first `count` run ids of a cron workflow, each taken from the previous run's close
    event once it has one."""
    runs = [(await client.get_workflow_handle(wf_id).describe()).run_id]
    while len(runs) < count:
        last = (await client.get_workflow_handle(wf_id, run_id=runs[-1]).fetch_history()).events[-1]
        closed = last.workflow_execution_completed_event_attributes.new_execution_run_id or (
            last.workflow_execution_failed_event_attributes.new_execution_run_id
        )
        if closed:
            runs.append(closed)
        else:
            await asyncio.sleep(0.1)
    return runs


async def _cron(client, queue, wf_id, index):
    """A cron workflow every 2 s whose second run fails; the history of run `index` (0-based)
    once four runs exist, the fourth terminated while it waits for its time."""
    await client.start_workflow(CronCounterWorkflow.run, id=wf_id, task_queue=queue, cron_schedule="@every 2s")
    runs = await cron_runs(client, wf_id, 4)
    await client.get_workflow_handle(wf_id).terminate("enough")
    return client.get_workflow_handle(wf_id, run_id=runs[index])


async def _sticky_worker_killed(client, queue, wf_id):
    """A caching worker in its own process takes the first two tasks (the second on its
    sticky queue), then dies by SIGKILL; the next task waits on its sticky queue for the
    2 s schedule-to-start timeout, then goes to the normal queue and another worker."""
    queue = f"{queue}-sticky"  # its own queue: the scenario worker must not take the first tasks
    here = pathlib.Path(__file__).parent
    worker = subprocess.Popen(
        [sys.executable, str(here / "sticky_worker.py"), client.service_client.config.target_host, queue, "2"],
        stdout=subprocess.PIPE,
        cwd=here,
    )
    try:
        assert worker.stdout.readline().strip() == b"ready"
        handle = await client.start_workflow(WaitForSignalWorkflow.run, 2, id=wf_id, task_queue=queue)
        await _await_tasks(handle, 1)
        await handle.signal(WaitForSignalWorkflow.push, "a")
        await _await_tasks(handle, 2)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    await handle.signal(WaitForSignalWorkflow.push, "b")
    async with scenario_worker(client, queue):
        await handle.result()
    return handle


async def _upserts(client, queue, wf_id):
    """Search attributes and memo set at start, upserted and removed by the workflow."""
    return await _run(
        client,
        queue,
        wf_id,
        UpsertWorkflow.run,
        None,
        memo={"gone": "soon", "kept": 1},
        search_attributes=TypedSearchAttributes([SearchAttributePair(KEYWORD, "at start")]),
    )


async def _bad_upsert(client, queue, wf_id):
    """An upsert of an unregistered attribute fails the workflow task (then terminated)."""
    handle = await client.start_workflow(BadUpsertWorkflow.run, id=wf_id, task_queue=queue)
    for _ in range(200):
        events = (await handle.fetch_history()).events
        if any(e.event_type == 9 for e in events):  # WorkflowTaskFailed
            break
        await asyncio.sleep(0.05)
    await handle.terminate()
    return handle


async def _updates(client, queue, wf_id):
    """A rejected update (no trace), an accepted one completed in the same task, one that
    waits on an activity, a signal, then the workflow completes."""
    handle = await client.start_workflow(CounterWorkflow.run, id=wf_id, task_queue=queue)
    await _await_tasks(handle, 1)
    try:
        await handle.execute_update(CounterWorkflow.add, -1, id="rejected")
    except Exception:
        pass  # rejected on purpose
    await handle.execute_update(CounterWorkflow.add, 2, id="accepted")
    await handle.execute_update(CounterWorkflow.greet_later, "Keel", id="with-activity")
    await handle.signal(CounterWorkflow.push, 3)
    await handle.signal(CounterWorkflow.finish)
    await handle.result()
    return handle


async def _update_abandoned(client, queue, wf_id):
    """The workflow accepts an update it never completes, and completes."""
    handle = await client.start_workflow(AbandonUpdateWorkflow.run, id=wf_id, task_queue=queue)
    await _await_tasks(handle, 1)
    try:
        await handle.execute_update(AbandonUpdateWorkflow.hang, id="abandoned")
    except Exception:
        pass  # fails on purpose: the workflow completed first
    await handle.result()
    return handle


async def reset_workflow(client, wf_id, run_id, finish_event_id, **options):
    """ResetWorkflowExecution to the workflow task that ends at `finish_event_id`; the new
    run's handle."""
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id=wf_id, run_id=run_id),
            reason="reset by the test",
            workflow_task_finish_event_id=finish_event_id,
            request_id=str(uuid.uuid4()),
            **options,
        )
    )
    return client.get_workflow_handle(wf_id, run_id=response.run_id)


async def _reset(client, queue, wf_id):
    """A workflow that got two signals is reset to its first workflow task: the new run
    gets the signals again and completes with them."""
    handle = await _signal(client, queue, wf_id)
    first_run = (await handle.describe()).run_id
    new_run = await reset_workflow(client, wf_id, first_run, 4)
    await new_run.result()
    return new_run


async def _execution_timeout(client, queue, wf_id):
    return await _run(client, queue, wf_id, SleepWorkflow.run, 30.0, execution_timeout=timedelta(seconds=2))


# name -> driver(client, task queue, workflow id) returning the workflow's handle when done.
SCENARIOS = {
    "activity": lambda c, q, w: _run(c, q, w, GreetWorkflow.run, "Keel"),
    "timer": lambda c, q, w: _run(c, q, w, SleepWorkflow.run, 2.0),
    "failing_activity": lambda c, q, w: _run(c, q, w, ExplodeWorkflow.run, "boiler"),
    "failing_workflow": lambda c, q, w: _run(c, q, w, FailWorkflow.run, "on purpose"),
    "signal": _signal,
    "signal_with_start": _signal_with_start,
    "cancel_workflow": _cancel,
    "terminate_workflow": _terminate,
    "cancel_activity": lambda c, q, w: _run(c, q, w, CancelActivityWorkflow.run, None),
    "heartbeat_timeout": lambda c, q, w: _run(c, q, w, SilentActivityWorkflow.run, None),
    "complete_by_id": _complete_by_id,
    "workflow_retry_first_run": lambda c, q, w: _retried(c, q, w, "first"),
    "workflow_retry_second_run": lambda c, q, w: _retried(c, q, w, "second"),
    "run_timeout_retry_first_run": lambda c, q, w: _timed_out(c, q, w, "first"),
    "run_timeout_retry_second_run": lambda c, q, w: _timed_out(c, q, w, "second"),
    "workflow_task_failure": lambda c, q, w: _run(c, q, w, FailFirstTaskWorkflow.run, None),
    "workflow_task_timeout": _workflow_task_timeout,
    "signal_during_workflow_task": _signal_during_task,
    "workflow_execution_timeout": _execution_timeout,
    "activity_start_to_close_timeout": lambda c, q, w: _run(c, q, w, ActivityTimeoutWorkflow.run, "start_to_close"),
    "activity_schedule_to_start_timeout": lambda c, q, w: _run(c, q, w, ActivityTimeoutWorkflow.run, "schedule_to_start"),
    "activity_schedule_to_close_while_running": lambda c, q, w: _run(
        c, q, w, ActivityTimeoutWorkflow.run, "schedule_to_close_while_running"
    ),
    "activity_schedule_to_close_timeout": lambda c, q, w: _run(c, q, w, ActivityTimeoutWorkflow.run, "schedule_to_close"),
    "cancel_activity_in_retry_backoff": lambda c, q, w: _run(c, q, w, CancelInBackoffWorkflow.run, None),
    "bad_command": _bad_command,
    "child_workflows": lambda c, q, w: _run(c, q, w, ParentWorkflow.run, "child"),
    "child_workflow_id_taken": _taken_child_id,
    "parent_close_policy_terminate": _parent_close_policies,
    "continue_as_new_first_run": lambda c, q, w: _continued(c, q, w, "first"),
    "continue_as_new_last_run": lambda c, q, w: _continued(c, q, w, "last"),
    "pending_activities_limit": lambda c, q, w: _run(c, q, w, TooManyActivitiesWorkflow.run, None),
    "signal_external": lambda c, q, w: _signal_external(c, q, w, "sender"),
    "signal_external_target": lambda c, q, w: _signal_external(c, q, w, "target"),
    "signal_self": lambda c, q, w: _run(c, q, w, SignalSelfWorkflow.run, None),
    "cancel_external": lambda c, q, w: _cancel_external(c, q, w, "sender"),
    "cancel_external_target": lambda c, q, w: _cancel_external(c, q, w, "target"),
    "pending_signals_limit": lambda c, q, w: _run(c, q, w, TooManySignalsWorkflow.run, f"{q}-nobody"),
    "cron_first_run": lambda c, q, w: _cron(c, q, w, 0),
    "cron_failed_run": lambda c, q, w: _cron(c, q, w, 1),
    "cron_after_failure": lambda c, q, w: _cron(c, q, w, 2),
    "cron_terminated_while_waiting": lambda c, q, w: _cron(c, q, w, 3),
    "sticky_worker_killed": _sticky_worker_killed,
    "upsert_search_attributes_and_memo": _upserts,
    "bad_search_attribute_upsert": _bad_upsert,
    # 4 s of local activity with 2 s workflow tasks: the worker heartbeats the task twice.
    "local_activity_longer_than_task_timeout": lambda c, q, w: _run(
        c, q, w, LongLocalActivityWorkflow.run, 4.0, task_timeout=timedelta(seconds=2)
    ),
    "patched": lambda c, q, w: _run(c, q, w, PatchedWorkflow.run, None),
    "updates": _updates,
    "update_abandoned": _update_abandoned,
    "reset_to_first_workflow_task": _reset,
    "activity_paused_and_unpaused": _activity_paused,
    "unfinished_signal_handler_first_run": lambda c, q, w: _unfinished_handler(c, q, w, "signal", "first"),
    "unfinished_signal_handler_second_run": lambda c, q, w: _unfinished_handler(c, q, w, "signal", "second"),
    "unfinished_update_handler_first_run": lambda c, q, w: _unfinished_handler(c, q, w, "update", "first"),
    "unfinished_update_handler_second_run": lambda c, q, w: _unfinished_handler(c, q, w, "update", "second"),
    "priority_updated": _priority_updated,
    "nexus_sync": lambda c, q, w: _nexus(c, q, w, "greet"),
    "nexus_handler_error": lambda c, q, w: _nexus(c, q, w, "refuse"),
    "nexus_retried": lambda c, q, w: _nexus(c, q, w, "flaky"),
    "nexus_timeout": lambda c, q, w: _nexus(c, q, w, "greet", timeout_seconds=3.0, handlers=False),
    "nexus_async": _nexus_async,
    "versioning_pinned": _versioning_pinned,
    "priority_inherited": lambda c, q, w: _run(
        c, q, w, InheritingParent.run, None,
        priority=Priority(priority_key=2, fairness_key="tenant-a", fairness_weight=2.5),
    ),
}

# Differ between runs of the same scenario on the same server, or are server-internal.
VOLATILE = {
    "eventTime",  # wall clock
    "taskId",  # server-internal sequence
    "identity",  # worker process id and host
    "requestId",  # random per poll
    "originalExecutionRunId",  # random run id
    "firstExecutionRunId",  # random run id
    "workflowId",  # scenarios use random ids
    "newExecutionRunId",  # random run id of the next run
    "continuedExecutionRunId",  # random run id of the previous run
    "workflowExecutionExpirationTime",  # start time + execution timeout
    "createTime",  # a reset point's wall clock
    "expireTime",  # a reset point's wall clock + retention
    "runId",  # a reset point's random run id
    "namespaceId",  # random per server
    "parentWorkflowNamespaceId",  # random per server
    "historySizeBytes",  # depends on the lengths of the fields above
    "stackTrace",  # the worker's file paths (differ between checkouts)
}


# A run id inside a text (the SDK names the sender's run in a cancellation reason).
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str):
        return _UUID.sub("<uuid>", value)
    return value


# Known difference, not compared: Temporal stamps ActivityTaskStarted with the worker's build
# id (deprecated worker-versioning v1) in some cases and not in others (not for an activity
# the workflow canceled); Keel stamps it whenever the activity was scheduled with
# use_workflow_build_id. No SDK reads it on replay.
IGNORED_PATHS = {
    ("activityTaskStartedEventAttributes", "workerVersion"),
}


def _drop_ignored(event: dict) -> dict:
    for outer, inner in IGNORED_PATHS:
        event.get(outer, {}).pop(inner, None)
    return event


def _mask_worker_names(value):
    # A worker's build id is a hash of its code: present on both servers, equal only per build.
    # A sticky queue is named by the worker process (pid, host, random part).
    if isinstance(value, dict):
        if value.get("kind") == "TASK_QUEUE_KIND_STICKY":
            value = {**value, "name": "<sticky queue>"}
        return {k: ("<build id>" if k == "buildId" else _mask_worker_names(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_worker_names(v) for v in value]
    return value


def _drop_cron_wait(event: dict) -> dict:
    # A cron run waits until the schedule's next second after the previous run closed: 1 s or
    # 2 s on a 2 s schedule, depending on where in its second the run closed.
    started = event.get("workflowExecutionStartedEventAttributes", {})
    if "cronSchedule" in started:
        started.pop("firstWorkflowTaskBackoff", None)
    return event


def _drop_continue_as_new_wait(event: dict) -> dict:
    # A run that continued as new less than a second after it began holds the next run's
    # first workflow task back for the rest of that second (history.workflowIdReuseMinimalInterval):
    # whether and how long depends on how fast the run went (the dev server's timers fire
    # late, so its runs often pass the second). test_chains checks the hold-back itself.
    started = event.get("workflowExecutionStartedEventAttributes", {})
    backoff = started.get("firstWorkflowTaskBackoff", "")
    if started.get("initiator") == "CONTINUE_AS_NEW_INITIATOR_WORKFLOW" and backoff.endswith("s"):
        if float(backoff[:-1]) < 1.0:
            started.pop("firstWorkflowTaskBackoff")
    return event


def _mask_local_activity_times(event: dict) -> dict:
    # A local activity's marker carries its schedule and completion wall-clock times in its
    # "data" detail (JSON encoded by the SDK); its result detail is compared as is.
    marker = event.get("markerRecordedEventAttributes", {})
    if marker.get("markerName") == "core_local_activity" and "data" in marker.get("details", {}):
        marker["details"]["data"] = "<local activity times>"
    return event


def _sort_sdk_flags(event: dict) -> dict:
    # The SDK lists its used flags from a hash set: order varies between worker processes.
    meta = event.get("workflowTaskCompletedEventAttributes", {}).get("sdkMetadata", {})
    for key in ("coreUsedFlags", "langUsedFlags"):
        if key in meta:
            meta[key] = sorted(meta[key])
    return event


def normalise(history) -> list:
    return [
        _mask_local_activity_times(
            _drop_continue_as_new_wait(
                _drop_cron_wait(_drop_ignored(_sort_sdk_flags(_mask_worker_names(_strip(MessageToDict(e))))))
            )
        )
        for e in history.events
    ]


def flatten(value, path=""):
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()}
    return {path: value}


def differences(got: list, expected: list) -> list:
    """Readable differences between two normalised histories: 'event N path: got vs expected'."""
    out = []
    if len(got) != len(expected):
        out.append(f"{len(got)} events, expected {len(expected)}")
    for n, (a, b) in enumerate(zip(got, expected), start=1):
        fa, fb = flatten(a), flatten(b)
        for key in sorted(set(fa) | set(fb)):
            if fa.get(key) != fb.get(key):
                out.append(f"event {n} {key}: keel={fa.get(key)!r} temporal={fb.get(key)!r}")
    return out

"""The scenarios as one runnable set, shared by the pytest suite and by
`record_fixtures.py`, which runs them against Temporal's own dev server to record the
expected histories. Histories are normalised: fields that differ between any two runs of the
same scenario (times, ids, identities, sizes) are dropped."""

import asyncio
from datetime import timedelta

from google.protobuf.json_format import MessageToDict
from temporalio.common import RetryPolicy

from test_sdk import (
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


async def _run(client, queue, wf_id, run, arg):
    args = [] if arg is None else [arg]
    handle = await client.start_workflow(run, *args, id=wf_id, task_queue=queue)
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
    "historySizeBytes",  # depends on the lengths of the fields above
    "stackTrace",  # the worker's file paths (differ between checkouts)
}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


# Known difference, not compared: Temporal stamps ActivityTaskStarted with the worker's build
# id (deprecated worker-versioning v1) in some cases and not in others (not for an activity
# the workflow canceled); Keel stamps it whenever the activity was scheduled with
# use_workflow_build_id. No SDK reads it on replay.
# Known difference, not compared: Keel keeps no auto-reset points yet (they come with
# ResetWorkflowExecution), so a retried run's WorkflowExecutionStarted lacks the previous
# run's `prevAutoResetPoints`.
IGNORED_PATHS = {
    ("activityTaskStartedEventAttributes", "workerVersion"),
    ("workflowExecutionStartedEventAttributes", "prevAutoResetPoints"),
}


def _drop_ignored(event: dict) -> dict:
    for outer, inner in IGNORED_PATHS:
        event.get(outer, {}).pop(inner, None)
    return event


def _mask_build_ids(value):
    # A worker's build id is a hash of its code: present on both servers, equal only per build.
    if isinstance(value, dict):
        return {k: ("<build id>" if k == "buildId" else _mask_build_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_build_ids(v) for v in value]
    return value


def _sort_sdk_flags(event: dict) -> dict:
    # The SDK lists its used flags from a hash set: order varies between worker processes.
    meta = event.get("workflowTaskCompletedEventAttributes", {}).get("sdkMetadata", {})
    for key in ("coreUsedFlags", "langUsedFlags"):
        if key in meta:
            meta[key] = sorted(meta[key])
    return event


def normalise(history) -> list:
    return [_drop_ignored(_sort_sdk_flags(_mask_build_ids(_strip(MessageToDict(e))))) for e in history.events]


def _flatten(value, path=""):
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{path}[{i}]").items()}
    return {path: value}


def differences(got: list, expected: list) -> list:
    """Readable differences between two normalised histories: 'event N path: got vs expected'."""
    out = []
    if len(got) != len(expected):
        out.append(f"{len(got)} events, expected {len(expected)}")
    for n, (a, b) in enumerate(zip(got, expected), start=1):
        fa, fb = _flatten(a), _flatten(b)
        for key in sorted(set(fa) | set(fb)):
            if fa.get(key) != fb.get(key):
                out.append(f"event {n} {key}: keel={fa.get(key)!r} temporal={fb.get(key)!r}")
    return out

"""Workflows for the failure paths of "Temporal semantics I": workflow tasks that fail or time
out, the activity timeouts, cancelling an activity in its retry backoff, and the pending
activity limit. Each decides from its own history (not from process state) whether this is
the first attempt, so it behaves the same under any worker and on replay."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from test_sdk import explode, fail_then_linger, linger

# A queue no worker polls: activities sent there wait for their schedule-to-start timeout.
NOBODY_POLLS = "nobody-polls"
# Temporal's default limit of pending activities per run.
PENDING_ACTIVITIES_LIMIT = 2000
# WorkflowExecutionStarted, WorkflowTaskScheduled, WorkflowTaskStarted: the first task.
FIRST_TASK_HISTORY_LENGTH = 3


def _first_task() -> bool:
    return workflow.info().get_current_history_length() <= FIRST_TASK_HISTORY_LENGTH


@workflow.defn
class FailFirstTaskWorkflow:
    """A bug in the first workflow task (an exception that is not a Temporal failure): the
    SDK fails the task (RespondWorkflowTaskFailed) and the retried task succeeds."""

    @workflow.run
    async def run(self) -> str:
        if _first_task():
            raise RuntimeError("a bug in the first workflow task")
        return "second task succeeded"


@workflow.defn
class ActivityTimeoutWorkflow:
    """Runs one activity that ends in the named timeout; returns how the activity failed."""

    @workflow.run
    async def run(self, which: str) -> str:
        try:
            if which == "start_to_close":
                # The worker finishes the activity after its timeout: that completion must
                # be rejected, the history keeps the timeout.
                await workflow.execute_activity(
                    linger,
                    2.0,
                    start_to_close_timeout=timedelta(seconds=1),
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            elif which == "schedule_to_start":
                await workflow.execute_activity(
                    linger,
                    0.0,
                    task_queue=NOBODY_POLLS,
                    schedule_to_start_timeout=timedelta(seconds=1),
                    start_to_close_timeout=timedelta(seconds=10),
                )
            elif which == "schedule_to_close_while_running":
                # Attempt 1 fails at once; attempt 2 (from 1 s) is still running at 2 s.
                await workflow.execute_activity(
                    fail_then_linger,
                    5.0,
                    schedule_to_close_timeout=timedelta(seconds=2),
                    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
                )
            elif which == "schedule_to_close":
                # Fails at 0 s, 1 s and 2 s; the fourth attempt would start after the 2.5 s.
                await workflow.execute_activity(
                    explode,
                    "boiler",
                    schedule_to_close_timeout=timedelta(seconds=2.5),
                    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0),
                )
            else:
                raise ValueError(which)
        except ActivityError as e:
            return f"{type(e.cause).__name__}: {e.cause}"
        return "the activity did not time out"


@workflow.defn
class CancelInBackoffWorkflow:
    """Cancels an activity while it waits out its retry backoff: canceled at once, no retry."""

    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            explode,
            "boiler",
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=60)),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await asyncio.sleep(1)
        handle.cancel()
        try:
            await handle
        except ActivityError as e:
            return f"activity ended: {type(e.cause).__name__}"
        return "activity finished?"


@workflow.defn
class TooManyActivitiesWorkflow:
    """Its first task schedules one activity more than the limit: the server fails that
    task; the retried task schedules nothing and completes."""

    @workflow.run
    async def run(self) -> str:
        if _first_task():
            for _ in range(PENDING_ACTIVITIES_LIMIT + 1):
                workflow.start_activity(linger, 0.0, task_queue=NOBODY_POLLS, start_to_close_timeout=timedelta(seconds=10))
            await asyncio.sleep(3600)
        return "retried task scheduled nothing"


@activity.defn
async def book(step: str) -> str:
    if step == "car":
        raise ApplicationError(f"no {step} available", non_retryable=True)
    return f"booked {step}"


@activity.defn
async def undo(step: str) -> str:
    return f"undid {step}"


@workflow.defn
class SagaWorkflow:
    """Books flight, hotel, then car; the car fails, so the booked steps are undone in
    reverse order. Returns what was undone."""

    @workflow.run
    async def run(self) -> list:
        booked, undone = [], []
        try:
            for step in ["flight", "hotel", "car"]:
                await workflow.execute_activity(book, step, start_to_close_timeout=timedelta(seconds=10))
                booked.append(step)
        except ActivityError:
            for step in reversed(booked):
                undone.append(await workflow.execute_activity(undo, step, start_to_close_timeout=timedelta(seconds=10)))
        return undone


FAILURE_WORKFLOWS = [
    FailFirstTaskWorkflow,
    ActivityTimeoutWorkflow,
    CancelInBackoffWorkflow,
    TooManyActivitiesWorkflow,
    SagaWorkflow,
]
FAILURE_ACTIVITIES = [book, undo]

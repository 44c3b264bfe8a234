"""The workflows of test_activity_ops.py and of the paused-activity fixture scenario (a
module of their own: the SDK's sandbox refuses workflows defined beside the tests' process
imports)."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError


@workflow.defn
class OperatedActivityWorkflow:
    """Runs the activity "operated" (id "op") under the given deadline and retry policy; an
    activity that fails for good is reported in the result rather than failing the run."""

    @workflow.run
    async def run(self, options: dict) -> str:
        try:
            return await workflow.execute_activity(
                "operated",
                activity_id="op",
                start_to_close_timeout=timedelta(seconds=options.get("start_to_close", 60)),
                heartbeat_timeout=timedelta(seconds=2),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=options.get("backoff", 1)),
                    backoff_coefficient=1.0,
                    maximum_attempts=options.get("attempts", 0),
                ),
                result_type=str,
            )
        except ActivityError as e:
            if isinstance(e.cause, TimeoutError):
                return f"timed out: {e.cause.type.name}"
            return f"failed: {e.cause}"


@activity.defn
async def pausable() -> str:
    """Attempt 1 heartbeats until it is cancelled (a pause cancels it); later attempts
    return at once."""
    attempt = activity.info().attempt
    if attempt == 1:
        for _ in range(300):
            activity.heartbeat("working")
            await asyncio.sleep(0.1)
    return f"resumed at attempt {attempt}"


@workflow.defn
class PausableWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            pausable,
            activity_id="pausable",
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
        )


ACTIVITY_OPS_WORKFLOWS = [OperatedActivityWorkflow, PausableWorkflow]
ACTIVITY_OPS_ACTIVITIES = [pausable]

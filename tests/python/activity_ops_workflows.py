"""The workflow of test_activity_ops.py (a module of its own: the SDK's sandbox refuses
workflows defined beside the tests' process imports)."""

from datetime import timedelta

from temporalio import workflow
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

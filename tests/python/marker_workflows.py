"""Markers ("Temporal semantics II"): a local activity that outlives the workflow task
timeout (the worker keeps the task alive by completing it with force_create_new_workflow_task
and no commands), a side effect, and a patch."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def slow_local(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}s"


@workflow.defn
class LongLocalActivityWorkflow:
    """A local activity of `seconds`, longer than the run's workflow task timeout."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_local_activity(slow_local, seconds, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class PatchedWorkflow:
    """Takes a patch and a side effect (a random number recorded once)."""

    @workflow.run
    async def run(self) -> str:
        value = workflow.random().randint(1, 6)
        if workflow.patched("v2"):
            return f"v2 {value > 0}"
        return "v1"


MARKER_WORKFLOWS = [LongLocalActivityWorkflow, PatchedWorkflow]
MARKER_ACTIVITIES = [slow_local]

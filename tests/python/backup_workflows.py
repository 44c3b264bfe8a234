"""Workflows for the backup tests (no heavy imports: the workflow sandbox re-imports this)."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@activity.defn(name="stamp")
async def stamp(s: str) -> str:
    return f"done {s}"


@activity.defn(name="stamp")
async def stamp_that_hangs(s: str) -> str:
    """The source cluster's worker: starts the activity and never finishes it, so the backup
    holds started activities that must time out and be retried after the restore."""
    await asyncio.sleep(3600)
    return "never"


@workflow.defn
class SleepStampSleep:
    """A timer, an activity (3 s start-to-close, retried), another timer."""

    @workflow.run
    async def run(self, s: str) -> str:
        await workflow.sleep(1)
        out = await workflow.execute_activity(
            "stamp", s, start_to_close_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        await workflow.sleep(1)
        return out

"""Workflows for the worker versioning tests: each asks the worker that runs its activity which
build it is (every worker registers a `which` activity answering its own build id), before and
after a signal, so a test sees which version ran each step."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import VersioningBehavior


def which_activity(build_id: str):
    @activity.defn(name="which")
    async def which() -> str:
        return build_id

    return which


async def _ask() -> str:
    return await workflow.execute_activity("which", start_to_close_timeout=timedelta(seconds=10))


class _TwoSteps:
    def __init__(self) -> None:
        self.go = False

    async def steps(self) -> list:
        seen = [await _ask()]
        await workflow.wait_condition(lambda: self.go)
        seen.append(await _ask())
        return seen

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="PinnedSteps", versioning_behavior=VersioningBehavior.PINNED)
class PinnedSteps(_TwoSteps):
    @workflow.run
    async def run(self) -> list:
        return await self.steps()


@workflow.defn(name="AutoSteps", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoSteps(_TwoSteps):
    @workflow.run
    async def run(self) -> list:
        return await self.steps()

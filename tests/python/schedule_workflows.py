"""Workflows the schedule tests run: one that returns at once (and reports the result the
schedule carried from its previous run), one that waits until cancelled, one that fails."""

from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.exceptions import ApplicationError


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        last: Optional[str] = workflow.get_last_completion_result(type_hint=str)
        failure = workflow.get_last_failure()
        return f"hello {name} (after {last!r}, failure {failure.message if failure else None!r})"


@workflow.defn
class Linger:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(minutes=10))


@workflow.defn
class Fail:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("scheduled failure", non_retryable=True)


SCHEDULE_WORKFLOWS = [Greet, Linger, Fail]

"""Workflows with updates ("Temporal semantics II"): a validator that rejects, a handler that
runs an activity (accepted in one workflow task, completed in a later one), updates racing
signals, and a handler still running when the workflow completes."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from test_sdk import greet


@workflow.defn
class CounterWorkflow:
    """Adds what updates and signals send; completes when told to finish, with the total and
    the order things arrived in."""

    def __init__(self) -> None:
        self.total = 0
        self.seen: list = []
        self.done = False

    @workflow.run
    async def run(self) -> list:
        await workflow.wait_condition(lambda: self.done)
        # Let handlers still running (an update waiting on an activity) finish first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return [self.total, self.seen]

    @workflow.update
    async def add(self, n: int) -> int:
        self.total += n
        self.seen.append(f"update {n}")
        return self.total

    @add.validator
    def validate_add(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"cannot add {n}")

    @workflow.update
    async def greet_later(self, name: str) -> str:
        greeting = await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))
        self.seen.append(f"greeted {name}")
        return greeting

    @workflow.update
    async def fail(self, message: str) -> None:
        raise ApplicationError(message, non_retryable=True)

    @workflow.signal
    async def push(self, n: int) -> None:
        self.total += n
        self.seen.append(f"signal {n}")

    @workflow.signal
    async def finish(self) -> None:
        self.done = True


@workflow.defn
class AbandonUpdateWorkflow:
    """Accepts an update whose handler never finishes, and completes: the update's caller
    gets Temporal's "completed before the update completed" failure."""

    def __init__(self) -> None:
        self.accepted = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.accepted)
        return "done"

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def hang(self) -> None:
        self.accepted = True
        await asyncio.Event().wait()


UPDATE_WORKFLOWS = [CounterWorkflow, AbandonUpdateWorkflow]


@workflow.defn
class UnfinishedHandlerWorkflow:
    """Its first run continues as new at once, while the handlers of a signal and an update
    delivered with its first workflow task still wait: the SDK's "unfinished handler" case
    (it warns and lets the run close). The second run returns what it was given."""

    @workflow.signal
    async def slow_signal(self) -> None:
        await workflow.sleep(30)

    @workflow.update
    async def slow_update(self) -> str:
        await workflow.sleep(30)
        return "too late"

    @workflow.run
    async def run(self, continued: bool) -> str:
        if not continued:
            workflow.continue_as_new(True)
        return "second run"

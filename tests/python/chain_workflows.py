"""Workflows that chain runs under one workflow id ("Temporal semantics II"): continue-as-new
with new input, and an entity workflow that continues as new every 100 signals and must not
lose one."""

import asyncio
from datetime import timedelta

from temporalio import workflow

# An entity continues as new after handling this many signals in one run.
SIGNALS_PER_RUN = 100


@workflow.defn
class CountToWorkflow:
    """Continues as new with `n + 1` until `n == goal`, then returns the run's input."""

    @workflow.run
    async def run(self, n: int, goal: int) -> str:
        if n < goal:
            await asyncio.sleep(0.1)  # one timer per run, so a run has more than one task
            workflow.continue_as_new(args=[n + 1, goal])
        return f"reached {n} after {workflow.info().continued_run_id is not None} continue"


@workflow.defn
class EntityWorkflow:
    """Adds up "add" signals; continues as new once a run has handled SIGNALS_PER_RUN of them,
    carrying its total (and whether "finish" arrived); returns the total on "finish"."""

    def __init__(self) -> None:
        self.total = 0
        self.handled = 0
        self.finished = False

    @workflow.signal
    def add(self, amount: int) -> None:
        self.total += amount
        self.handled += 1

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.query
    def current(self) -> int:
        return self.total

    @workflow.run
    async def run(self, carried_total: int, finished: bool) -> int:
        self.total += carried_total
        self.finished = self.finished or finished
        await workflow.wait_condition(lambda: self.finished or self.handled >= SIGNALS_PER_RUN)
        if self.handled < SIGNALS_PER_RUN:
            return self.total
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(args=[self.total, self.finished])


@workflow.defn
class TightLoopWorkflow:
    """Continues as new on its first workflow task until `n == goal`: a tight loop."""

    @workflow.run
    async def run(self, n: int, goal: int) -> int:
        if n < goal:
            workflow.continue_as_new(args=[n + 1, goal])
        return n


CHAIN_WORKFLOWS = [CountToWorkflow, EntityWorkflow, TightLoopWorkflow]

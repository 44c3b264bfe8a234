"""Workflows that signal and cancel other workflows ("Temporal semantics II"):
SignalExternalWorkflowExecution and RequestCancelExternalWorkflowExecution, to a running
workflow and to one that does not exist."""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from failure_workflows import _first_task
    from test_sdk import WaitForSignalWorkflow

# Temporal's limit on signals a workflow has in flight to other workflows.
PENDING_SIGNALS_LIMIT = 2000


@workflow.defn
class SignalOtherWorkflow:
    """Signals the workflow `target` (a WaitForSignalWorkflow), then one that does not exist;
    returns what happened to each."""

    @workflow.run
    async def run(self, target: str) -> list:
        outcomes = []
        for workflow_id in (target, f"{target}-missing"):
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal(WaitForSignalWorkflow.push, "from a workflow")
                outcomes.append("signaled")
            except Exception as e:
                outcomes.append(f"{type(e).__name__}: {e}")
        return outcomes


@workflow.defn
class CancelOtherWorkflow:
    """Asks the workflow `target` to cancel, then one that does not exist; returns what
    happened to each."""

    @workflow.run
    async def run(self, target: str) -> list:
        outcomes = []
        for workflow_id in (target, f"{target}-missing"):
            try:
                await workflow.get_external_workflow_handle(workflow_id).cancel()
                outcomes.append("cancel requested")
            except Exception as e:
                outcomes.append(f"{type(e).__name__}: {e}")
        return outcomes


@workflow.defn
class SignalSelfWorkflow:
    """Signals itself and returns the value it received."""

    def __init__(self) -> None:
        self.values: list = []

    @workflow.signal
    def push(self, value: str) -> None:
        self.values.append(value)

    @workflow.run
    async def run(self) -> list:
        await workflow.get_external_workflow_handle(workflow.info().workflow_id).signal(SignalSelfWorkflow.push, "me")
        await workflow.wait_condition(lambda: len(self.values) >= 1)
        return self.values


@workflow.defn
class PingPongWorkflow:
    """Two of these bat a counter back and forth by signal until it reaches `rounds`; each
    returns the values it received."""

    def __init__(self) -> None:
        self.received: list = []

    @workflow.signal
    def ball(self, value: int) -> None:
        self.received.append(value)

    @workflow.run
    async def run(self, partner: str, serve: bool, rounds: int) -> list:
        partner_handle = workflow.get_external_workflow_handle(partner)
        if serve:
            await partner_handle.signal(PingPongWorkflow.ball, 1)
        handled = 0
        while True:
            await workflow.wait_condition(lambda: len(self.received) > handled)
            value = self.received[handled]
            handled += 1
            if value >= rounds:
                return self.received
            await partner_handle.signal(PingPongWorkflow.ball, value + 1)
            if value + 1 >= rounds:
                return self.received


@workflow.defn
class TooManySignalsWorkflow:
    """Its first task signals one workflow more than the limit: the server fails that task;
    the retried task sends nothing and completes."""

    @workflow.run
    async def run(self, target: str) -> str:
        if _first_task():
            handle = workflow.get_external_workflow_handle(target)
            for i in range(PENDING_SIGNALS_LIMIT + 1):
                asyncio.ensure_future(handle.signal("anything", i))
            await asyncio.sleep(3600)
        return "retried task sent nothing"


EXTERNAL_WORKFLOWS = [SignalOtherWorkflow, CancelOtherWorkflow, SignalSelfWorkflow, PingPongWorkflow, TooManySignalsWorkflow]

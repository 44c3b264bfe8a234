"""Parents and children ("Temporal semantics II"): a child's result delivered to its parent,
a fan-out of many children, a child whose workflow id is taken, and parent close policies."""

import asyncio

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from test_sdk import FailWorkflow, GreetWorkflow, WaitForSignalWorkflow


@workflow.defn
class ParentWorkflow:
    """Runs one child that greets, one that fails; returns both outcomes."""

    @workflow.run
    async def run(self, name: str) -> list:
        greeting = await workflow.execute_child_workflow(GreetWorkflow.run, name, id=f"{workflow.info().workflow_id}-greet")
        try:
            await workflow.execute_child_workflow(FailWorkflow.run, "child gave up", id=f"{workflow.info().workflow_id}-fail")
            failed = "child succeeded?"
        except ChildWorkflowError as e:
            failed = f"{type(e.cause).__name__}: {e.cause}"
        return [greeting, failed]


@workflow.defn
class HelloChildWorkflow:
    """A child that answers at once. Defined here, not in a test module: the workflow sandbox
    re-imports a workflow's module for every run, and test modules import pytest."""

    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


@workflow.defn
class FanOutWorkflow:
    """Starts `count` children at once and returns their results in order."""

    @workflow.run
    async def run(self, count: int) -> list:
        parent = workflow.info().workflow_id
        children = [
            workflow.execute_child_workflow(HelloChildWorkflow.run, str(i), id=f"{parent}-{i}")
            for i in range(count)
        ]
        return list(await asyncio.gather(*children))


@workflow.defn
class TakenChildIdWorkflow:
    """Starts a child under a workflow id that a running workflow holds."""

    @workflow.run
    async def run(self, taken_id: str) -> str:
        try:
            await workflow.start_child_workflow(WaitForSignalWorkflow.run, 1, id=taken_id)
        except Exception as e:
            return f"{type(e).__name__}"
        return "started?"


@workflow.defn
class AbandoningParentWorkflow:
    """Starts two waiting children (one terminated, one abandoned when the parent closes) and
    completes as soon as both started."""

    @workflow.run
    async def run(self) -> str:
        parent = workflow.info().workflow_id
        await workflow.start_child_workflow(
            WaitForSignalWorkflow.run, 1, id=f"{parent}-terminated", parent_close_policy=ParentClosePolicy.TERMINATE
        )
        await workflow.start_child_workflow(
            WaitForSignalWorkflow.run, 1, id=f"{parent}-abandoned", parent_close_policy=ParentClosePolicy.ABANDON
        )
        return "parent done"


CHILD_WORKFLOWS = [ParentWorkflow, HelloChildWorkflow, FanOutWorkflow, TakenChildIdWorkflow, AbandoningParentWorkflow]

"""Workflows of test_eager.py and test_dynamic_config.py (a module of their own: the SDK's
sandbox refuses workflows defined beside the tests' HTTP and process imports)."""

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from test_sdk import greet


@workflow.defn
class ThreeGreetingsWorkflow:
    """Three activities in one workflow task (the Python worker asks for eager execution of
    up to three per task), then one more."""

    @workflow.run
    async def run(self, name: str) -> list:
        first = [
            workflow.start_activity(greet, f"{name} {i}", start_to_close_timeout=timedelta(seconds=10))
            for i in range(3)
        ]
        results = [await a for a in first]
        results.append(await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10)))
        return results


@workflow.defn
class UntilSuggestedWorkflow:
    """Sleeps in a loop until the server suggests continuing as new; returns the history
    length it was suggested at."""

    @workflow.run
    async def run(self, padding: str) -> int:
        for _ in range(50):
            if workflow.info().is_continue_as_new_suggested():
                return workflow.info().get_current_history_length()
            await asyncio.sleep(0.01)
        return -1

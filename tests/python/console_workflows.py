"""Workflows the console's browser tests run: one that calls an activity, sleeps on a timer and
returns (a history with an activity, a timer and a signal to draw), and one that waits for a
signal that never comes (a run to terminate from the page)."""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def console_shout(text: str) -> str:
    return text.upper()


@workflow.defn
class ConsoleGreet:
    def __init__(self) -> None:
        self.poked = False

    @workflow.signal
    def poke(self) -> None:
        self.poked = True

    @workflow.run
    async def run(self, name: str) -> str:
        shouted = await workflow.execute_activity(
            console_shout, f"hello {name}", start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.sleep(timedelta(milliseconds=300))
        return shouted


@workflow.defn
class ConsoleWait:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


CONSOLE_WORKFLOWS = [ConsoleGreet, ConsoleWait]
CONSOLE_ACTIVITIES = [console_shout]

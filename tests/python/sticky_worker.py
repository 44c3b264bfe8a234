"""A caching (sticky) worker in a process of its own, for tests that kill it with SIGKILL:

    python sticky_worker.py TARGET TASK_QUEUE STICKY_TIMEOUT_SECONDS

Prints "ready" once polling."""

import asyncio
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from test_sdk import ACTIVITIES, WORKFLOWS


async def main(target: str, queue: str, sticky_timeout: float) -> None:
    client = await Client.connect(target)
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout),
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))

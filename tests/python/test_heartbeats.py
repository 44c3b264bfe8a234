"""Heartbeat details survive a failed attempt (the activity_failure_include_heartbeat
capability Keel advertises): the SDK sends the last details with RespondActivityTaskFailed,
and the next attempt starts with them."""

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker


@activity.defn
async def heartbeat_then_fail() -> str:
    info = activity.info()
    if info.attempt == 1:
        # Heartbeat, then fail at once: the details are still in the SDK's throttle when the
        # failure goes out, so they reach the server only inside RespondActivityTaskFailed.
        activity.heartbeat("first heartbeat")
        activity.heartbeat("progress from attempt 1")
        raise ApplicationError("attempt 1 fails after heartbeating")
    return f"attempt {info.attempt} resumed from {list(info.heartbeat_details)}"


@workflow.defn
class ResumeWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            heartbeat_then_fail,
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
        )


async def test_failed_attempt_hands_its_last_heartbeat_to_the_next(keel):
    client = await Client.connect(keel.target)
    queue = f"heartbeats-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ResumeWorkflow], activities=[heartbeat_then_fail]):
        result = await client.execute_workflow(ResumeWorkflow.run, id=f"resume-{uuid.uuid4()}", task_queue=queue)
    assert result == "attempt 2 resumed from ['progress from attempt 1']"

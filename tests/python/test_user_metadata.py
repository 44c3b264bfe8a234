"""User metadata through the Python SDK against a real `keel`: a workflow's static summary and
details given at start are on its WorkflowExecutionStarted event and shown by Describe; a
timer's and an activity's summaries are on the events their commands wrote."""

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import default as default_converter
from temporalio.worker import Worker

from test_sdk import ACTIVITIES, greet

E = EventType


@workflow.defn
class SummarisedWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(0.05, summary="a short nap")
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10), summary="say hello"
        )


def text(payload) -> str:
    return default_converter().payload_converter.from_payload(payload, str)


async def test_summaries_and_details_are_kept_and_shown(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[SummarisedWorkflow], activities=ACTIVITIES):
        handle = await client.start_workflow(
            SummarisedWorkflow.run, "meta", id=f"wf-{uuid.uuid4()}", task_queue=queue,
            static_summary="Greets someone", static_details="**Details** in _markdown_",
        )
        assert await handle.result() == "Hello, meta!"
    described = await handle.describe()
    assert await described.static_summary() == "Greets someone"
    assert await described.static_details() == "**Details** in _markdown_"
    events = {e.event_type: e async for e in handle.fetch_history_events()}
    started = events[E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED].user_metadata
    assert text(started.summary) == "Greets someone"
    assert text(started.details) == "**Details** in _markdown_"
    assert text(events[E.EVENT_TYPE_TIMER_STARTED].user_metadata.summary) == "a short nap"
    assert text(events[E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED].user_metadata.summary) == "say hello"

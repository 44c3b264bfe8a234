"""Markers through the Python SDK against a real `keel`: a local activity longer than the
workflow task timeout (the worker heartbeats the task: completions with
force_create_new_workflow_task) with a caching and a non-caching worker, and a patch
(MarkerRecorded plus the TemporalChangeVersion upsert). Exact event sequences are compared
with Temporal's in test_fixtures.py."""

import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from marker_workflows import MARKER_ACTIVITIES, MARKER_WORKFLOWS, LongLocalActivityWorkflow, PatchedWorkflow

E = EventType


@pytest.mark.parametrize("cached", [True, False])
async def test_a_local_activity_outlives_the_workflow_task_timeout(keel, cached):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    cache = {} if cached else {"max_cached_workflows": 0}
    async with Worker(client, task_queue=queue, workflows=MARKER_WORKFLOWS, activities=MARKER_ACTIVITIES, **cache):
        handle = await client.start_workflow(
            LongLocalActivityWorkflow.run, 4.0, id=f"wf-{uuid.uuid4()}", task_queue=queue, task_timeout=timedelta(seconds=2)
        )
        assert await handle.result() == "slept 4.0s"
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT not in types, "the heartbeats kept the task alive"
    assert types.count(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) >= 3, "at least two heartbeats"
    assert types.count(E.EVENT_TYPE_MARKER_RECORDED) == 1


async def test_a_patch_records_its_marker_and_change_version(keel):
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=MARKER_WORKFLOWS, activities=MARKER_ACTIVITIES):
        handle = await client.start_workflow(PatchedWorkflow.run, id=f"wf-{uuid.uuid4()}", task_queue=queue)
        assert await handle.result() == "v2 True"
    events = (await handle.fetch_history()).events
    markers = [e.marker_recorded_event_attributes.marker_name for e in events if e.event_type == E.EVENT_TYPE_MARKER_RECORDED]
    assert markers == ["core_patch"]
    described = (await handle.describe()).raw_description.workflow_execution_info.search_attributes
    assert described.indexed_fields["TemporalChangeVersion"].data == b'["v2"]'

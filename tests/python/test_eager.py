"""Eager workflow start and eager activity dispatch through the Python SDK against a real
`keel`: the first workflow task comes back in StartWorkflowExecution's answer and activities
in the completion's answer, so no poll carries them (their started events name the request
ids the starter and the completion used, not a poller's); `--dynamic-config-value` turns
either off, and a cluster with a member below the feature level that introduced them does
neither (tested in test_rolling_upgrade.py)."""

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import Keel
from ports import reserve_port
from test_metrics import samples, value
from eager_workflows import ThreeGreetingsWorkflow
from test_sdk import ACTIVITIES

E = EventType


async def start_request_ids(client, workflow_id: str) -> set:
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace="default", execution={"workflow_id": workflow_id})
    )
    return set(described.workflow_extended_info.request_id_infos.keys())


def keel_with_metrics(tmp_path, *flags) -> Keel:
    port = reserve_port()
    keel = Keel(str(tmp_path / "data"), extra_args=["--metrics-listen", f"127.0.0.1:{port}", "--headless", *flags])
    keel.metrics = f"http://127.0.0.1:{port}"
    keel.start()
    return keel


async def run_three_greetings(keel: Keel):
    """Runs the workflow with eager start asked for; returns what the checks need."""
    client = await Client.connect(keel.target)
    queue = f"q-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ThreeGreetingsWorkflow], activities=ACTIVITIES):
        handle = await client.start_workflow(
            ThreeGreetingsWorkflow.run, "eager", id=f"wf-{uuid.uuid4()}", task_queue=queue, request_eager_start=True
        )
        assert await handle.result() == ["Hello, eager 0!", "Hello, eager 1!", "Hello, eager 2!", "Hello, eager!"]
    events = [e async for e in handle.fetch_history_events()]
    assert [e.event_type for e in events[:3]] == [
        E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]
    assert sum(e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED for e in events) == 4
    first_task_by = events[2].workflow_task_started_event_attributes.request_id
    s = samples(keel.metrics)
    counted = {
        kind: {
            task_type: value(s, kind, namespace="default", taskqueue=queue, task_type=task_type)
            for task_type in ("workflow", "activity")
        }
        for kind in ("eager_execution", "poll_success")
    }
    return handle, first_task_by in await start_request_ids(client, handle.id), counted


async def test_the_starter_gets_the_first_workflow_task_and_the_completer_its_activities(tmp_path):
    keel = keel_with_metrics(tmp_path)
    try:
        client = await Client.connect(keel.target)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.capabilities.eager_workflow_start
        handle, started_by_the_start, counted = await run_three_greetings(keel)
        assert getattr(handle, "__temporal_eagerly_started"), "StartWorkflowExecution carried the first task"
        assert started_by_the_start, "the first task's started event names the start's request id"
        # Every activity asked for eager execution (the Python worker does, on its own queue,
        # while it has slots) and none went through the queue.
        assert counted["eager_execution"] == {"workflow": 1, "activity": 4}
        assert counted["poll_success"]["activity"] == 0
    finally:
        keel.kill9()


async def test_dynamic_config_turns_eager_dispatch_off(tmp_path):
    keel = keel_with_metrics(
        tmp_path,
        "--dynamic-config-value", "system.enableEagerWorkflowStart=false",
        "--dynamic-config-value", "system.enableActivityEagerExecution=false",
    )
    try:
        handle, started_by_the_start, counted = await run_three_greetings(keel)
        assert not getattr(handle, "__temporal_eagerly_started")
        assert not started_by_the_start, "a poll started the first task"
        assert counted["eager_execution"] == {"workflow": 0, "activity": 0}
        assert counted["poll_success"]["activity"] == 4
        assert counted["poll_success"]["workflow"] >= 1
    finally:
        keel.kill9()

"""Task priorities and fairness through the Python SDK and the `temporal` CLI against a real
`keel`: a backlog of activities is handed out by priority key (1 first, unset as 3, above 5
as 5) and first in, first out within a key; with `matching.enableFairness` fairness keys
share a key by weight; a run's priority is on its started event and Describe, and its
children inherit the fields they leave unset (activities are queued by the merged priority,
their tasks carry their own); DescribeTaskQueue counts the
backlog by priority key; a bad priority is refused as Temporal refuses it;
UpdateWorkflowExecutionOptions changes a run's priority by field mask."""

import asyncio
import json
import subprocess
import uuid

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import activity
from temporalio.api.common.v1 import Priority as PriorityProto, WorkflowExecution
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest, StartWorkflowExecutionRequest, UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client
from temporalio.common import Priority
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import Keel
from priority_workflows import ActivitiesAtPriorities, InheritingParent, PriorityEcho, priority_seen
from test_cli import temporal_cli

TURNS = []  # the activities take_turn ran, in the order the worker got them


@activity.defn
async def take_turn(name: str) -> str:
    TURNS.append(name)
    return name


async def run_backlog(keel: Keel, plan: list) -> list:
    """Schedules the plan's activities at once with no activity worker, then lets one worker
    with a single slot work through the backlog; returns the order they ran in and the
    backlog by priority key DescribeTaskQueue reported before."""
    client = await Client.connect(keel.target)
    workflow_queue, activity_queue = f"wq-{uuid.uuid4()}", f"aq-{uuid.uuid4()}"
    TURNS.clear()
    async with Worker(client, task_queue=workflow_queue, workflows=[ActivitiesAtPriorities]):
        handle = await client.start_workflow(ActivitiesAtPriorities.run, args=[activity_queue, plan],
                                             id=f"backlog-{uuid.uuid4()}", task_queue=workflow_queue)
        for _ in range(200):
            described = await handle.describe()
            if len(described.raw_description.pending_activities) == len(plan):
                break
            await asyncio.sleep(0.05)
        assert len(described.raw_description.pending_activities) == len(plan), "the backlog was never complete"
        queue = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=activity_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, report_stats=True))
        backlog = {key: s.approximate_backlog_count for key, s in queue.stats_by_priority_key.items()}
        async with Worker(client, task_queue=activity_queue, activities=[take_turn], max_concurrent_activities=1):
            assert await asyncio.wait_for(handle.result(), 60) == [p[0] for p in plan]
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_id: e.activity_task_scheduled_event_attributes.priority
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    for name, key, fairness, weight in plan:
        assert (scheduled[name].priority_key, scheduled[name].fairness_key) == (key, fairness), name
    return list(TURNS), backlog


async def test_a_backlog_is_handed_out_by_priority_key_and_in_order_within_a_key(keel):
    plan = [
        ["unset-a", 0, "", 0], ["p5-a", 5, "", 0], ["p1-a", 1, "", 0], ["p2-a", 2, "", 0],
        ["p1-b", 1, "", 0], ["p3", 3, "", 0], ["p9", 9, "", 0], ["p4", 4, "", 0],
        ["p2-b", 2, "tenant", 2.0], ["unset-b", 0, "", 0],
    ]
    turns, backlog = await run_backlog(keel, plan)
    assert turns == ["p1-a", "p1-b", "p2-a", "p2-b", "unset-a", "p3", "unset-b", "p4", "p5-a", "p9"]
    assert backlog == {1: 2, 2: 2, 3: 3, 4: 1, 5: 2}, backlog


async def test_with_fairness_on_fairness_keys_share_a_priority_key_by_weight(tmp_path):
    keel = Keel(str(tmp_path / "data"), extra_args=["--headless", "--dynamic-config-value",
                                                    "matching.enableFairness=true"])
    keel.start()
    try:
        heavy = [[f"heavy-{i}", 0, "heavy", 3.0] for i in range(12)]
        light = [[f"light-{i}", 0, "light", 0] for i in range(4)]
        turns, _ = await run_backlog(keel, heavy + light + [["urgent", 1, "light", 0]])
    finally:
        keel.kill9()
    assert turns[0] == "urgent", turns
    # Queued behind twelve "heavy" tasks, "light" (weight 1) still gets one turn in four
    # against "heavy" (weight 3); each key's own tasks stay in order.
    first_eight = turns[1:9]
    assert sum(t.startswith("light") for t in first_eight) == 2, turns
    assert [t for t in turns if t.startswith("heavy")] == [h[0] for h in heavy]
    assert [t for t in turns if t.startswith("light")] == [x[0] for x in light]


async def test_a_runs_priority_is_recorded_and_inherited_field_by_field(keel):
    client = await Client.connect(keel.target)
    queue = f"inherit-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[InheritingParent, PriorityEcho],
                      activities=[priority_seen]):
        handle = await client.start_workflow(
            InheritingParent.run, id=f"inherit-{uuid.uuid4()}", task_queue=queue,
            priority=Priority(priority_key=2, fairness_key="tenant-a", fairness_weight=2.5))
        seen = await handle.result()
    assert seen == {
        "own": [2, "tenant-a", 2.5],
        "plain_child": [2, "tenant-a", 2.5],
        "keyed_child": [1, "tenant-a", 2.5],
        # An activity task carries the activity's own priority, as the dev server's does
        # (the fixture priority_inherited); the merged one decides its place in the queue.
        "plain_activity": [0, "", 0.0],
        "fair_activity": [0, "tenant-b", 0.0],
    }
    described = await handle.describe()
    p = described.raw_description.workflow_execution_info.priority
    assert (p.priority_key, p.fairness_key, p.fairness_weight) == (2, "tenant-a", 2.5)
    child = await client.get_workflow_handle(f"{handle.id}-c2").describe()
    p = child.raw_description.workflow_execution_info.priority
    assert (p.priority_key, p.fairness_key) == (1, "tenant-a")
    started = [e async for e in handle.fetch_history_events()][0]
    assert started.workflow_execution_started_event_attributes.priority.fairness_key == "tenant-a"


async def test_a_bad_priority_is_refused_as_temporal_refuses_it(keel):
    client = await Client.connect(keel.target)
    for bad, message in [
        (PriorityProto(priority_key=-1), "priority key can't be negative"),
        (PriorityProto(fairness_key="k" * 65), "fairness key length exceeds limit"),
        (PriorityProto(fairness_weight=-1.0), "must be greater than zero"),
    ]:
        request = StartWorkflowExecutionRequest(
            namespace="default", workflow_id=f"bad-{uuid.uuid4()}", workflow_type={"name": "PriorityEcho"},
            task_queue={"name": "nobody"}, request_id=str(uuid.uuid4()), priority=bad)
        try:
            await client.workflow_service.start_workflow_execution(request)
        except RPCError as e:
            assert e.status == RPCStatusCode.INVALID_ARGUMENT and message in e.message, (e.status, e.message)
        else:
            raise AssertionError(f"{bad} was accepted")
        # Nothing was started.
        assert [w async for w in client.list_workflows(f"WorkflowId = '{request.workflow_id}'")] == []


async def test_update_workflow_execution_options_changes_a_runs_priority_as_temporal_does(keel):
    """One field by mask (the rest kept), the whole priority, nothing (an empty mask, or the
    same value: no event), and Temporal's refusals; each change is one
    WorkflowExecutionOptionsUpdated event that workers may ignore."""
    client = await Client.connect(keel.target)
    service = client.workflow_service
    wf_id = f"options-{uuid.uuid4()}"
    handle = await client.start_workflow("PriorityEcho", id=wf_id, task_queue=f"nobody-{uuid.uuid4()}",
                                         priority=Priority(priority_key=3, fairness_key="a", fairness_weight=2.0))

    async def update(paths, priority=None, **options):
        r = await service.update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest(
            namespace="default", workflow_execution=WorkflowExecution(workflow_id=wf_id),
            workflow_execution_options=WorkflowExecutionOptions(priority=priority, **options),
            update_mask=FieldMask(paths=paths), identity="tester"))
        p = r.workflow_execution_options.priority
        return (p.priority_key, p.fairness_key, p.fairness_weight)

    assert await update(["priority.priority_key"], PriorityProto(priority_key=1)) == (1, "a", 2.0)
    assert await update(["priority.priority_key"], PriorityProto(priority_key=1)) == (1, "a", 2.0)
    assert await update([], PriorityProto(priority_key=4)) == (1, "a", 2.0)
    assert await update(["priority"], PriorityProto(priority_key=4)) == (4, "", 0.0)
    p = (await handle.describe()).raw_description.workflow_execution_info.priority
    assert (p.priority_key, p.fairness_key) == (4, "")
    events = [e async for e in handle.fetch_history_events()]
    updated = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED]
    assert [(e.workflow_execution_options_updated_event_attributes.priority.priority_key, e.worker_may_ignore,
             e.workflow_execution_options_updated_event_attributes.identity) for e in updated] == [
        (1, True, "tester"), (4, True, "tester")]
    for paths, priority, options, status, text in [
        (["priorityKey"], PriorityProto(priority_key=1), {}, RPCStatusCode.INVALID_ARGUMENT,
         'error parsing UpdateMask: proto: invalid path "priorityKey" for message '
         '"temporal.api.workflow.v1.WorkflowExecutionOptions"'),
        (["priority"], PriorityProto(priority_key=-1), {}, RPCStatusCode.INVALID_ARGUMENT,
         "priority key can't be negative"),
        (["versioning_override"], None, {"versioning_override": VersioningOverride(auto_upgrade=False)},
         RPCStatusCode.INVALID_ARGUMENT, "auto-upgrade override must be true"),
        (["versioning_override"], None,
         {"versioning_override": VersioningOverride(pinned=VersioningOverride.PinnedOverride())},
         RPCStatusCode.INVALID_ARGUMENT, "must provide version if override is pinned."),
    ]:
        with pytest.raises(RPCError) as refused:
            await update(paths, priority, **options)
        assert refused.value.status == status, refused.value
        assert text is None or refused.value.message == text
    await handle.terminate()
    with pytest.raises(RPCError) as closed:
        await update(["priority"], PriorityProto(priority_key=1))
    assert (closed.value.status, closed.value.message) == (RPCStatusCode.NOT_FOUND, "workflow execution already completed")
    wf_id = "no-such-workflow"
    with pytest.raises(RPCError) as missing:
        await update(["priority"], PriorityProto(priority_key=1))
    assert (missing.value.status, missing.value.message) == (RPCStatusCode.NOT_FOUND, "workflow not found for ID: no-such-workflow")


def test_the_cli_starts_a_workflow_with_a_priority_and_describe_shows_it(keel):
    workflow_id = f"cli-priority-{uuid.uuid4()}"
    started = subprocess.run(
        [temporal_cli(), "workflow", "start", "--address", keel.target, "--type", "PriorityEcho",
         "--task-queue", "nobody", "--workflow-id", workflow_id, "--priority-key", "4",
         "--fairness-key", "cli", "--fairness-weight", "0.5"],
        capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    described = subprocess.run(
        [temporal_cli(), "workflow", "describe", "--address", keel.target, "--workflow-id", workflow_id,
         "--output", "json"],
        capture_output=True, text=True, timeout=60)
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout)["workflowExecutionInfo"]
    assert info["priority"] == {"priorityKey": 4, "fairnessKey": "cli", "fairnessWeight": 0.5}, info

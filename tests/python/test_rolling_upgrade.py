"""A rolling upgrade: a three-node cluster of the previous release's build (KEEL_OLD_BIN, built
by scripts/test.sh from a pinned commit) runs workflows; its nodes are replaced one at a time
by this build on the same data directories (SIGTERM, restart), with the workers and clients
working throughout. Every workflow completes, the cluster ends with every member on this
build, and nothing acknowledged is lost. While a member runs the previous build the cluster
stays at its feature level (no eager start); once all are upgraded it moves to this one's and
records it, after which a node of the previous build cannot join."""

import asyncio
import os
import signal
import subprocess
import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import Cluster, ClusterNode
from ports import reserve_port
from test_backup import feature_levels, keel_cli
from test_cluster import ShoutThenSleep, shout

OLD = os.environ.get("KEEL_OLD_BIN", "")


@pytest.mark.skipif(not OLD, reason="KEEL_OLD_BIN (the previous release's build) is not set")
async def test_a_cluster_of_the_previous_build_is_upgraded_node_by_node_with_workflows_in_flight(tmp_path):
    peers = {i: reserve_port() for i in (1, 2, 3)}
    initial = ",".join(f"{i}=127.0.0.1:{p}" for i, p in peers.items())
    nodes = [ClusterNode(i, str(tmp_path / f"node{i}"), initial, peers[i]) for i in (1, 2, 3)]
    for n in nodes:
        n.binary = OLD
        n.start()
    cluster = Cluster(nodes)
    try:
        cluster.wait_leader()
        old_version = cluster.status()[1][-2]
        # Clients and workers on node 3, upgraded last; then on node 1 once it is new.
        client = await Client.connect(nodes[2].target)
        handles = []
        async with Worker(client, task_queue="upgrade", workflows=[ShoutThenSleep], activities=[shout]):
            for i in range(20):
                handles.append(await client.start_workflow(
                    ShoutThenSleep.run, f"u{i}", id=f"upgrade-{uuid.uuid4()}", task_queue="upgrade"))
            for n in nodes:
                # As a supervisor stops it: SIGTERM, and SIGKILL after a grace period (the
                # previous release waits for its long polls, up to a minute, before exiting).
                n.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(n.proc.wait, 10)
                except subprocess.TimeoutExpired:
                    n.kill9()
                n.binary = ""
                n.start()  # this build, on the same data directory
                cluster.wait_leader(timeout=30)
                for i in range(5):
                    handles.append(await client.start_workflow(
                        ShoutThenSleep.run, f"n{n.node_id}-{i}", id=f"upgrade-{uuid.uuid4()}",
                        task_queue="upgrade"))
                if n.node_id == 2:
                    # One member still runs the previous build: nothing of a later feature
                    # level (here eager start) is proposed, the start falls back to a poll.
                    mixed = await client.start_workflow(
                        ShoutThenSleep.run, "mixed", id=f"upgrade-{uuid.uuid4()}", task_queue="upgrade",
                        request_eager_start=True)
                    assert not getattr(mixed, "__temporal_eagerly_started")
                    handles.append(mixed)
                    # Nor a kind of a later level: a standalone activity is refused (by a
                    # leader of this build with the reason, by one of the previous build as
                    # a method it does not have), and nothing is written.
                    with pytest.raises(RPCError) as too_new:
                        await client.start_activity(
                            "shout", "mixed", id="mixed-activity", task_queue="upgrade",
                            start_to_close_timeout=timedelta(seconds=10))
                    assert too_new.value.status in (RPCStatusCode.FAILED_PRECONDITION,
                                                    RPCStatusCode.UNIMPLEMENTED), too_new.value
                    if too_new.value.status == RPCStatusCode.FAILED_PRECONDITION:
                        assert "finish upgrading the cluster first" in too_new.value.message
            # Once the leader has surveyed the members, the cluster is at this build's level
            # (what every member, all of this build now, reports as `version/fN/lLEVEL`).
            for _ in range(60):
                status = keel_cli("cluster", "status", "--address", nodes[0].target).stdout
                members, level = feature_levels(status)
                if members == {level}:
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"the cluster never reached its members' level: {status}")
            upgraded = await client.start_workflow(
                ShoutThenSleep.run, "upgraded", id=f"upgrade-{uuid.uuid4()}", task_queue="upgrade",
                request_eager_start=True)
            assert getattr(upgraded, "__temporal_eagerly_started"), "eager start once every member can apply it"
            handles.append(upgraded)
            standalone = await client.start_activity(
                "shout", "standalone", id="upgraded-activity", task_queue="upgrade",
                start_to_close_timeout=timedelta(seconds=10))
            assert await asyncio.wait_for(standalone.result(), 30) == "STANDALONE"
            with pytest.raises(RPCError) as never_written:
                await client.get_activity_handle("mixed-activity").describe()
            assert never_written.value.status == RPCStatusCode.NOT_FOUND
            results = await asyncio.wait_for(asyncio.gather(*[h.result() for h in handles]), timeout=120)
        expected = [f"U{i}" for i in range(20)] + [f"N1-{i}" for i in range(5)] + [f"N2-{i}" for i in range(5)]
        expected += ["MIXED"] + [f"N3-{i}" for i in range(5)] + ["UPGRADED"]
        assert results == expected
        rows = cluster.status()
        assert sorted(rows) == [1, 2, 3]
        versions = {cols[-2] for cols in rows.values()}
        assert len(versions) == 1 and versions != {old_version}, (old_version, versions)

        # The cluster's level is recorded now: a node of the previous build asking to join
        # is refused (it could not apply the log), with the reason in its own log.
        log_path = tmp_path / "node4.log"
        with open(log_path, "w") as log:
            joiner = subprocess.Popen(
                [OLD, "server", "start", "--node-id", "4", "--listen", f"127.0.0.1:{reserve_port()}",
                 "--peer-listen", f"127.0.0.1:{reserve_port()}", "--data-dir", str(tmp_path / "node4"),
                 "--join-peer", f"127.0.0.1:{peers[1]}"],
                stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "KEEL_LOG": "warn,openraft=off"},
            )
        try:
            for _ in range(60):
                if "below the cluster's level" in log_path.read_text():
                    break
                await asyncio.sleep(0.5)
            assert "below the cluster's level" in log_path.read_text(), log_path.read_text()[-2000:]
            assert 4 not in cluster.status(), cluster.status()
        finally:
            joiner.kill()
            joiner.wait()
    finally:
        for n in nodes:
            n.kill9()

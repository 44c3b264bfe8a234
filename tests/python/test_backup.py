"""Backup and restore with the `keel snapshot` commands: a backup taken from a live node while
200 workflows run (timers pending, activities started on a worker that never finishes them,
and more workflows starting during the save) holds every workflow acknowledged before it;
restored into a fresh one-node and a fresh three-node cluster, every one of them completes
there (due timers fire, the started activities time out and are retried). A restored cluster
is a new cluster: a node of the old one is never drawn into it. A damaged file is refused."""

import asyncio
import os
import re
import subprocess
import time
import uuid

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from backup_workflows import SleepStampSleep, stamp, stamp_that_hangs
from conftest import Cluster, ClusterNode, Keel
from ports import reserve_port

QUEUE = "backup"
RUNNING = 200


def keel_cli(*args, check=True, timeout=120):
    out = subprocess.run([os.environ["KEEL_BIN"], *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, f"keel {' '.join(args)} failed: {out.stderr}"
    return out


def feature_levels(status: str) -> tuple:
    """`keel cluster status` output as (the levels its member rows report as
    `version/fN/lLEVEL`, the cluster's level on its last line)."""
    lines = status.splitlines()
    members = {m.group(1) for m in map(re.compile(r"/f\d+/l(\d+)").search, lines) if m}
    return members, lines[-1].rsplit(" ", 1)[-1] if lines else ""


def status_fields(output: str) -> dict:
    """`keel snapshot status` lines as name -> value."""
    fields = {}
    for line in output.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            fields[parts[0]] = parts[1].strip()
    return fields


async def count_started_activities(client, ids) -> int:
    started = 0
    for wf_id in ids:
        d = await client.get_workflow_handle(wf_id).describe()
        started += sum(1 for a in d.raw_description.pending_activities if a.state == 2)  # STARTED
    return started


async def take_backup_while_running(source_target: str, path: str):
    """Starts RUNNING workflows on the source, with a worker whose activities hang, and saves a
    backup while they run and while more start; the ids acknowledged before the save."""
    client = await Client.connect(source_target)
    ids = [f"backup-{i}-{uuid.uuid4()}" for i in range(RUNNING)]
    async with Worker(client, task_queue=QUEUE, workflows=[SleepStampSleep], activities=[stamp_that_hangs]):
        for wf_id in ids[:150]:
            await client.start_workflow(SleepStampSleep.run, wf_id, id=wf_id, task_queue=QUEUE)
        # Under load the worker may take a while to pick the first activities up; the backup
        # is only worth taking once some are running.
        deadline = time.monotonic() + 60
        while await count_started_activities(client, ids[:150:15]) < 5:
            assert time.monotonic() < deadline, "5 activities started within 60 s"
            await asyncio.sleep(0.2)
        # The last 50 are still in their first timer when the backup is taken.
        for wf_id in ids[150:]:
            await client.start_workflow(SleepStampSleep.run, wf_id, id=wf_id, task_queue=QUEUE)
        late = [f"late-{i}-{uuid.uuid4()}" for i in range(50)]

        async def start_late():
            for wf_id in late:
                await client.start_workflow(SleepStampSleep.run, wf_id, id=wf_id, task_queue=QUEUE)

        writer = asyncio.create_task(start_late())
        saved = await asyncio.to_thread(keel_cli, "snapshot", "save", "--address", source_target, path)
        await writer
        assert await count_started_activities(client, ids[:150]) > 0, "some activities were running"
    return ids, late, saved.stdout


async def all_complete(target: str, ids, timeout: float = 120):
    client = await Client.connect(target)
    async with Worker(client, task_queue=QUEUE, workflows=[SleepStampSleep], activities=[stamp]):
        results = await asyncio.wait_for(
            asyncio.gather(*[client.get_workflow_handle(i).result() for i in ids]), timeout=timeout)
    assert results == [f"done {i}" for i in ids]


async def test_a_backup_of_a_live_node_restores_into_one_node_and_three_and_every_workflow_completes(tmp_path):
    source = Keel(str(tmp_path / "source"))
    source.start()
    backup = str(tmp_path / "keel.backup")
    try:
        ids, late, saved = await take_backup_while_running(source.target, backup)
    finally:
        source.kill9()
    assert "saved" in saved

    status = status_fields(keel_cli("snapshot", "status", backup).stdout)
    assert int(status["index"].split()[0]) > RUNNING, status
    assert int(status["size"].split()[0]) == os.path.getsize(backup)
    assert len(status["sha256"]) == 64
    assert int(status["workflow"].split()[-1]) >= RUNNING, status  # "workflow runs N"

    # One node, as start-dev.
    single = Keel(str(tmp_path / "restored-one"))
    keel_cli("snapshot", "restore", backup, "--data-dir", single.data_dir)
    single.start()
    try:
        await all_complete(single.target, ids)
        client = await Client.connect(single.target)
        present = 0
        for wf_id in late:
            try:
                await client.get_workflow_handle(wf_id).describe()
                present += 1
            except RPCError:
                pass
        print(f"{present} of {len(late)} workflows started during the save are in the backup")
    finally:
        single.kill9()

    # Three nodes, each restored from the same file with the same member list.
    peers = {i: reserve_port() for i in (1, 2, 3)}
    initial = ",".join(f"{i}=127.0.0.1:{p}" for i, p in peers.items())
    nodes = [ClusterNode(i, str(tmp_path / f"restored-{i}"), initial, peers[i]) for i in (1, 2, 3)]
    for n in nodes:
        keel_cli("snapshot", "restore", backup, "--data-dir", n.data_dir, "--node-id", str(n.node_id),
                 "--initial-cluster", initial)
    for n in nodes:
        n.start()
    cluster = Cluster(nodes)
    try:
        leader = cluster.wait_leader(timeout=30)
        follower = next(n for n in nodes if n.node_id != leader)
        await all_complete(follower.target, ids)
        # The leader recorded every member's client address (a restore knows only peers).
        rows = cluster.status()
        assert sorted(rows) == [1, 2, 3]
        assert {rows[n.node_id][1] for n in nodes} == {n.target for n in nodes}
        # The leader surveyed the members' feature levels: every one runs this build.
        out = keel_cli("cluster", "status", "--address", follower.target).stdout
        members, level = feature_levels(out)
        assert members == {level}, out
    finally:
        for n in nodes:
            n.kill9()


async def test_a_restored_cluster_never_draws_in_a_node_of_the_old_one(tmp_path):
    # The old cluster: one `keel server start` node with a peer port.
    old_peer = reserve_port()
    old = ClusterNode(1, str(tmp_path / "old"), f"1=127.0.0.1:{old_peer}", old_peer)
    old.start()
    backup = str(tmp_path / "keel.backup")
    try:
        Cluster([old]).wait_leader()
        client = await Client.connect(old.target)
        await client.start_workflow(SleepStampSleep.run, "before", id="before", task_queue=QUEUE)
        keel_cli("snapshot", "save", "--address", old.target, backup)

        new_peer = reserve_port()
        new = ClusterNode(1, str(tmp_path / "new"), f"1=127.0.0.1:{new_peer}", new_peer)
        keel_cli("snapshot", "restore", backup, "--data-dir", new.data_dir, "--initial-cluster",
                 f"1=127.0.0.1:{new_peer}")
        new.start()
        try:
            Cluster([new]).wait_leader()
            new_client = await Client.connect(new.target)
            await new_client.get_workflow_handle("before").describe()
            await new_client.start_workflow(SleepStampSleep.run, "after", id="after", task_queue=QUEUE)
            # The restored cluster's leader is told to take the old node in (a mistake an
            # operator could make): the old node refuses every message from the new cluster.
            added = keel_cli("cluster", "add-node", "--address", new.target, "--node-id", "2",
                             "--client-addr", old.target, "--peer-addr", f"127.0.0.1:{old_peer}",
                             check=False, timeout=60)
            assert added.returncode != 0, added.stdout
            await asyncio.sleep(2)
            with pytest.raises(RPCError):
                await client.get_workflow_handle("after").describe()
            old_rows = Cluster([old]).status(old.target)
            assert old_rows[1][3] == "leader" and sorted(old_rows) == [1], old_rows
            ids = {}
            for node in (old, new):
                out = keel_cli("cluster", "status", "--address", node.target).stdout
                ids[node.node_id if node is old else "new"] = [
                    line.split()[1] for line in out.splitlines() if line.startswith("cluster ")]
            assert ids[1] and ids["new"] and ids[1] != ids["new"], ids
        finally:
            new.kill9()
    finally:
        old.kill9()


def test_a_damaged_backup_is_refused_by_status_and_restore(tmp_path):
    source = Keel(str(tmp_path / "source"))
    source.start()
    backup = str(tmp_path / "keel.backup")
    try:
        keel_cli("snapshot", "save", "--address", source.target, backup)
    finally:
        source.kill9()
    data = bytearray(open(backup, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(backup, "wb").write(bytes(data))
    out = keel_cli("snapshot", "status", backup, check=False)
    assert out.returncode != 0 and "checksum does not match" in out.stderr, out.stderr
    target = tmp_path / "restored"
    out = keel_cli("snapshot", "restore", backup, "--data-dir", str(target), check=False)
    assert out.returncode != 0 and "checksum does not match" in out.stderr, out.stderr
    assert not target.exists() or not any(target.iterdir()), "nothing written"


async def test_cluster_compact_compacts_every_member_and_reports_sizes(tmp_path):
    from conftest import start_cluster

    cluster = start_cluster(tmp_path)
    try:
        leader = cluster.wait_leader()
        client = await Client.connect(cluster.node(leader).target)
        # A new leader registers `default` with its first entries: wait until it has.
        for _ in range(100):
            try:
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default"), retry=False)
                break
            except RPCError:
                await asyncio.sleep(0.1)
        for i in range(50):
            await client.start_workflow(SleepStampSleep.run, f"c{i}", id=f"compact-{i}", task_queue=QUEUE)
        out = keel_cli("cluster", "compact", "--address", cluster.nodes[0].target).stdout
        lines = [line for line in out.splitlines() if line.startswith("node ")]
        assert sorted(int(line.split()[1].rstrip(":")) for line in lines) == [1, 2, 3], out
        for line in lines:
            before, after = (float(w) for w in line.split() if w.replace(".", "").isdigit())
            assert after > 0, line
        rows = cluster.status()
        assert all(float(cols[-3]) > 0 for cols in rows.values()), rows  # disk_mib
        await client.get_workflow_handle("compact-49").describe()
    finally:
        for n in cluster.nodes:
            n.kill9()

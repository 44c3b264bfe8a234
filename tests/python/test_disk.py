"""A full disk is an alarm, not a zombie. On a small filesystem (a tmpfs this test mounts: root
only) filled below --min-free-disk, writes are refused with RESOURCE_EXHAUSTED and Temporal's
ResourceExhaustedFailure (cause PERSISTENCE_STORAGE_LIMIT, no file path in the message), reads
keep working, /readyz names the reason and keel_disk_alarm is 1; once space is back (the
filesystem grown, or the filler deleted) writes are taken again by themselves, and nothing
acknowledged is lost. In a three-node cluster the leader's alarm refuses writes sent to any
node; a follower's alarm shows on its own /readyz while the cluster goes on."""

import asyncio
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import ResourceExhaustedCause
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import ClusterNode, Cluster, Keel
from ports import reserve_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

RESERVE_MIB = 48


class Tmpfs:
    """A tmpfs of `size_mib` at `path`, growable, unmounted at the end."""

    def __init__(self, path, size_mib: int):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", self.path], check=True)

    def free(self) -> int:
        s = os.statvfs(self.path)
        return s.f_bavail * s.f_frsize

    def grow(self, size_mib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size_mib}m", self.path], check=True)

    def fill_to(self, free_bytes: int) -> str:
        """Takes space until `free_bytes` are left; the filler's path."""
        filler = os.path.join(self.path, "filler")
        with open(filler, "ab") as f:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size + self.free() - free_bytes)
        return filler

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", self.path], check=False)


def readyz(metrics_port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/readyz?verbose", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(metrics_port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not served")


def wait_for(check, what: str, timeout: float = 10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def start_raw(client: Client, wf_id: str):
    """One StartWorkflowExecution, not retried by the SDK (it retries RESOURCE_EXHAUSTED)."""
    return await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace="default", workflow_id=wf_id, workflow_type=WorkflowType(name="Anything"),
            task_queue=TaskQueue(name="disk"), request_id=str(uuid.uuid4())),
        retry=False)


async def assert_writes_refused_reads_work(client: Client, acknowledged):
    with pytest.raises(RPCError) as refused:
        await start_raw(client, f"refused-{uuid.uuid4()}")
    err = refused.value
    assert err.status == RPCStatusCode.RESOURCE_EXHAUSTED, err
    assert "disk is nearly full" in err.message and "/" not in err.message, err.message
    detail = ResourceExhaustedFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_PERSISTENCE_STORAGE_LIMIT
    for wf_id in acknowledged:
        await client.get_workflow_handle(wf_id).describe()
    listed = [w.id async for w in client.list_workflows("WorkflowType = 'Anything'")]
    assert set(acknowledged) <= set(listed)


async def test_a_single_node_refuses_writes_below_the_reserve_and_resumes_when_space_is_back(tmp_path):
    fs = Tmpfs(tmp_path / "fs", 400)
    metrics_port = reserve_port()
    keel = Keel(os.path.join(fs.path, "data"), extra_args=[
        "--min-free-disk", f"{RESERVE_MIB}MiB", "--metrics-listen", f"127.0.0.1:{metrics_port}", "--headless"])
    try:
        keel.start()
        client = await Client.connect(keel.target)
        acknowledged = [f"before-{i}" for i in range(10)]
        for wf_id in acknowledged:
            await start_raw(client, wf_id)
        assert readyz(metrics_port)[0] == 200

        fs.fill_to((RESERVE_MIB - 16) << 20)
        wait_for(lambda: readyz(metrics_port)[0] == 503, "readiness to fail")
        status, text = readyz(metrics_port)
        assert "[-]disk" in text and "writes are refused" in text, text
        assert metric(metrics_port, "keel_disk_alarm") == 1
        assert metric(metrics_port, "keel_disk_reserve_bytes") == RESERVE_MIB << 20
        await assert_writes_refused_reads_work(client, acknowledged)

        fs.grow(600)
        wait_for(lambda: readyz(metrics_port)[0] == 200, "readiness to come back")
        assert metric(metrics_port, "keel_disk_alarm") == 0
        await start_raw(client, "after")
        for wf_id in acknowledged + ["after"]:
            await client.get_workflow_handle(wf_id).describe()
        assert keel.proc.poll() is None, "the node stayed up throughout"
    finally:
        keel.kill9()
        fs.unmount()


async def test_in_a_cluster_the_leaders_alarm_refuses_writes_everywhere_and_a_followers_shows_on_it(tmp_path):
    peers = {i: reserve_port() for i in (1, 2, 3)}
    metrics = {i: reserve_port() for i in (1, 2, 3)}
    initial = ",".join(f"{i}=127.0.0.1:{p}" for i, p in peers.items())
    disks = {i: Tmpfs(tmp_path / f"fs{i}", 400) for i in (1, 2, 3)}
    nodes = [ClusterNode(i, os.path.join(disks[i].path, "data"), initial, peers[i],
                         ["--min-free-disk", f"{RESERVE_MIB}MiB", "--metrics-listen", f"127.0.0.1:{metrics[i]}"])
             for i in (1, 2, 3)]
    try:
        for n in nodes:
            n.start()
        cluster = Cluster(nodes)
        leader = cluster.wait_leader()
        follower = next(n for n in nodes if n.node_id != leader)
        client = await Client.connect(follower.target)
        acknowledged = [f"c-before-{i}" for i in range(5)]
        for wf_id in acknowledged:
            await start_raw(client, wf_id)

        filler = disks[leader].fill_to((RESERVE_MIB - 16) << 20)
        wait_for(lambda: readyz(metrics[leader])[0] == 503, "the leader's readiness to fail")
        await assert_writes_refused_reads_work(client, acknowledged)
        os.remove(filler)
        wait_for(lambda: readyz(metrics[leader])[0] == 200, "the leader's readiness to come back")
        await start_raw(client, "c-after-leader")

        filler = disks[follower.node_id].fill_to((RESERVE_MIB - 16) << 20)
        wait_for(lambda: readyz(metrics[follower.node_id])[0] == 503, "the follower's readiness to fail")
        assert "[-]disk" in readyz(metrics[follower.node_id])[1]
        leader_client = await Client.connect(cluster.node(leader).target)
        await start_raw(leader_client, "c-while-follower-low")
        os.remove(filler)
        wait_for(lambda: readyz(metrics[follower.node_id])[0] == 200, "the follower's readiness to come back")
        for wf_id in acknowledged + ["c-after-leader", "c-while-follower-low"]:
            await client.get_workflow_handle(wf_id).describe()
        assert all(n.proc.poll() is None for n in nodes), "every node stayed up"
    finally:
        for n in nodes:
            n.kill9()
        for d in disks.values():
            d.unmount()


async def test_a_raft_storage_failure_exits_non_zero_and_a_restart_keeps_everything_acknowledged(tmp_path):
    """With no reserve, writes go on until RocksDB itself hits ENOSPC: Raft stops, and the
    process exits 70 with a clear log instead of living on answering nothing."""
    fs = Tmpfs(tmp_path / "fs", 160)
    data = os.path.join(fs.path, "data")
    log = tmp_path / "keel.log"
    port = reserve_port()
    proc = subprocess.Popen(
        [os.environ["KEEL_BIN"], "server", "start-dev", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
         "--headless", "--min-free-disk", "0"],
        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env={**os.environ, "KEEL_LOG": "warn"})
    try:
        from conftest import wait_serving
        wait_serving(proc, "keel")
        client = await Client.connect(f"127.0.0.1:{port}")
        fs.fill_to(4 << 20)
        payload = "x" * (1_500_000)
        acknowledged = []
        from temporalio.api.common.v1 import Payloads, Payload
        for i in range(400):
            try:
                await client.workflow_service.start_workflow_execution(
                    StartWorkflowExecutionRequest(
                        namespace="default", workflow_id=f"big-{i}", workflow_type=WorkflowType(name="Anything"),
                        task_queue=TaskQueue(name="disk"), request_id=str(uuid.uuid4()),
                        input=Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"},
                                                         data=payload.encode())])),
                    retry=False, timeout=timedelta(seconds=15))
                acknowledged.append(f"big-{i}")
            except RPCError:
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            if proc.poll() is not None:
                break
        code = await asyncio.to_thread(proc.wait, 60)
        assert code == 70, code
        assert "Raft stopped on a fatal error" in log.read_text(), log.read_text()[-3000:]
        assert acknowledged, "some starts were acknowledged before the disk filled"
        os.remove(os.path.join(fs.path, "filler"))
        fs.grow(600)
        keel = Keel(data, extra_args=["--headless"])
        keel.start()
        try:
            client = await Client.connect(keel.target)
            for wf_id in acknowledged:
                await client.get_workflow_handle(wf_id).describe()
        finally:
            keel.kill9()
    finally:
        if proc.poll() is None:
            proc.kill()
        fs.unmount()

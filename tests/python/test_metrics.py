"""The metrics listener of a real keel: `/metrics` parses as Prometheus text (with the
official client library's parser) and counts what happened (requests per operation, errors
by type, workflow outcomes, polls and schedule-to-start latency, proposals, fsyncs, leadership,
heartbeat round trips to peers, process), task queue labels stay
bounded, and `/livez` and `/readyz` answer as etcd's do: a node cut off from its quorum is not
ready (503, naming the failed check) until the cluster has a leader again."""

import time
import urllib.error
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.worker import Worker

from conftest import Keel, start_cluster
from console_workflows import CONSOLE_ACTIVITIES, CONSOLE_WORKFLOWS, ConsoleGreet, ConsoleWait
from ports import reserve_port


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(base: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample /metrics gives."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(all_samples: dict, name: str, **labels) -> float:
    """A sample's value; a counter's by its name as written (Temporal's names have no
    `_total`) or as the parser reports it (with `_total`)."""
    key = frozenset(labels.items())
    return all_samples.get((name, key), all_samples.get((f"{name}_total", key), 0.0))


@pytest.fixture
def keel_metrics(tmp_path):
    port = reserve_port()
    k = Keel(str(tmp_path / "data"), extra_args=["--metrics-listen", f"127.0.0.1:{port}", "--headless"])
    k.metrics = f"http://127.0.0.1:{port}"
    k.start()
    yield k
    k.kill9()


async def test_metrics_count_what_happened(keel_metrics):
    client = await Client.connect(keel_metrics.target)
    queue = f"metrics-{uuid.uuid4()}"
    # Activities through the queue (eager ones are counted in test_eager.py).
    async with Worker(client, task_queue=queue, workflows=CONSOLE_WORKFLOWS, activities=CONSOLE_ACTIVITIES,
                      disable_eager_activity_execution=True):
        for i in range(3):
            await client.execute_workflow(ConsoleGreet.run, f"m{i}", id=f"m-{uuid.uuid4()}", task_queue=queue)
        waiting = await client.start_workflow(ConsoleWait.run, id=f"m-wait-{uuid.uuid4()}", task_queue=queue)
        await waiting.terminate("metrics test")
    with pytest.raises(Exception):
        await client.get_workflow_handle("no-such-workflow").describe()
    s = samples(keel_metrics.metrics)
    assert value(s, "service_requests", operation="StartWorkflowExecution") >= 4
    assert value(s, "service_requests", operation="RespondWorkflowTaskCompleted") >= 6
    assert value(s, "service_error_with_type", operation="DescribeWorkflowExecution", error_type="NotFound") >= 1
    assert value(s, "service_latency_count", operation="StartWorkflowExecution") >= 4
    # Workflow tasks after a run's first go to the worker's sticky queue: summed over queues.
    def polled(name, task_type):
        return sum(v for (n, labels), v in s.items() if n in (name, f"{name}_total")
                   and dict(labels).get("task_type") == task_type
                   and dict(labels).get("namespace") == "default")
    assert polled("poll_success", "workflow") >= 6
    assert value(s, "poll_success", task_type="workflow", namespace="default", taskqueue=queue) >= 4
    assert polled("poll_success", "activity") >= 3
    assert polled("task_schedule_to_start_latency_count", "workflow") >= 6
    assert polled("task_schedule_to_start_latency_count", "activity") >= 3
    assert value(s, "workflow_success", namespace="default") == 3
    assert value(s, "workflow_terminate", namespace="default") == 1
    assert value(s, "keel_server_has_leader") == 1 and value(s, "keel_server_is_leader") == 1
    assert value(s, "keel_server_proposals_committed_total") >= 10
    assert value(s, "keel_server_proposals_pending") == 0
    assert value(s, "keel_disk_wal_fsync_duration_seconds_count") > 0
    assert value(s, "keel_raft_apply_batch_entries_count") > 0
    assert value(s, "keel_raft_applied_index") == value(s, "keel_raft_last_log_index") > 0
    assert value(s, "process_resident_memory_bytes") > 1_000_000
    assert value(s, "process_open_fds") > 0
    # Every metric the Grafana dashboard in ops/grafana draws is one Keel serves (those that
    # appear only once their first event happened are listed).
    import json
    import pathlib
    import re

    dashboard = json.loads((pathlib.Path(__file__).resolve().parents[2] / "ops/grafana/keel.json").read_text())
    wanted = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b((?:service|workflow|approximate|task_schedule|poll|keel|process)_[a-z_]+)", target["expr"]):
                wanted.add(re.sub(r"_(bucket|sum|count)$", "", name))
    served = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n, _ in s} | {n for n, _ in s}
    after_first_event = {"workflow_failed", "workflow_timeout", "workflow_cancel", "workflow_continued_as_new",
                         "keel_network_peer_lag_entries", "keel_network_peer_round_trip_time_seconds",
                         "poll_timeouts"}
    assert wanted - served - after_first_event == set()
    assert get(f"{keel_metrics.metrics}/livez") == (200, "ok\n")
    status, text = get(f"{keel_metrics.metrics}/readyz?verbose")
    assert status == 200 and "[+]leader" in text and text.endswith("ok\n")


async def test_task_queue_labels_are_bounded(keel_metrics):
    client = await Client.connect(keel_metrics.target)
    prefix = uuid.uuid4().hex[:6]
    for i in range(210):
        await client.start_workflow(ConsoleWait.run, id=f"tq-{prefix}-{i}", task_queue=f"tq-{prefix}-{i}")
    s = samples(keel_metrics.metrics)
    queues = {dict(labels)["taskqueue"] for (name, labels) in s if name == "approximate_backlog_count"}
    assert len(queues) <= 201, len(queues)
    assert "__other__" in queues
    backlog = sum(v for (name, _), v in s.items() if name == "approximate_backlog_count")
    assert backlog == 210


def test_readyz_fails_without_a_quorum_and_recovers(tmp_path):
    ports = {i: reserve_port() for i in (1, 2, 3)}
    cluster = start_cluster(tmp_path, lambda i: ["--metrics-listen", f"127.0.0.1:{ports[i]}"])
    try:
        leader = cluster.wait_leader()
        for i in (1, 2, 3):
            assert get(f"http://127.0.0.1:{ports[i]}/readyz")[0] == 200
        time.sleep(0.5)  # heartbeats go out every 100 ms
        s = samples(f"http://127.0.0.1:{ports[leader]}")
        for peer in {1, 2, 3} - {leader}:
            assert value(s, "keel_network_peer_round_trip_time_seconds_count", peer=str(peer)) > 0
        survivor = 3
        for i in (1, 2):
            cluster.node(i).kill9()
        url = f"http://127.0.0.1:{ports[survivor]}/readyz"
        deadline = time.time() + 30
        while get(url)[0] == 200:
            assert time.time() < deadline, "a node without a quorum stayed ready"
            time.sleep(0.2)
        status, text = get(url)
        assert status == 503 and ("[-]leader" in text or "[-]quorum" in text), text
        assert get(f"http://127.0.0.1:{ports[survivor]}/livez")[0] == 200
        s = samples(f"http://127.0.0.1:{ports[survivor]}")
        assert value(s, "keel_server_leader_changes_seen_total") >= 1
        cluster.node(1).start()
        deadline = time.time() + 30
        while get(url)[0] != 200:
            assert time.time() < deadline, "ready did not come back with a quorum"
            time.sleep(0.2)
    finally:
        for n in cluster.nodes:
            n.kill9()

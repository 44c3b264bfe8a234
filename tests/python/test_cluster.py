"""The Python SDK against a three-node Keel cluster: client and worker connected to a
follower (every call forwarded to the leader) complete workflows, also across a leader kill;
updates sent across a leader kill are each applied exactly once. Each test runs twice: on a
plain cluster, and on one whose nodes speak only mutual TLS to each other."""

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from update_workflows import UPDATE_WORKFLOWS, CounterWorkflow


@activity.defn
async def shout(s: str) -> str:
    return s.upper()


@workflow.defn
class ShoutThenSleep:
    @workflow.run
    async def run(self, s: str) -> str:
        out = await workflow.execute_activity(shout, s, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(1.5)
        return out


async def test_client_and_worker_on_a_follower_complete_workflows(cluster_both_ways):
    cluster = cluster_both_ways
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    client = await Client.connect(follower.target)
    async with Worker(client, task_queue="py-cluster", workflows=[ShoutThenSleep], activities=[shout]):
        results = await asyncio.gather(*[
            client.execute_workflow(ShoutThenSleep.run, f"w{i}", id=f"py-cluster-{uuid.uuid4()}", task_queue="py-cluster")
            for i in range(10)
        ])
    assert results == [f"W{i}" for i in range(10)]


async def test_workflows_complete_across_a_leader_kill(cluster_both_ways):
    cluster = cluster_both_ways
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    client = await Client.connect(follower.target)
    async with Worker(client, task_queue="py-failover", workflows=[ShoutThenSleep], activities=[shout]):
        handles = [
            await client.start_workflow(ShoutThenSleep.run, f"f{i}", id=f"py-failover-{uuid.uuid4()}", task_queue="py-failover")
            for i in range(10)
        ]
        await asyncio.sleep(0.5)
        cluster.node(leader).kill9()
        results = await asyncio.wait_for(asyncio.gather(*[h.result() for h in handles]), timeout=90)
    assert results == [f"F{i}" for i in range(10)]
    assert cluster.wait_leader() != leader


async def test_updates_across_a_leader_kill_are_each_applied_once(cluster_both_ways):
    cluster = cluster_both_ways
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    client = await Client.connect(follower.target)
    per_workflow = 20
    async with Worker(client, task_queue="py-updates", workflows=UPDATE_WORKFLOWS):
        handles = [
            await client.start_workflow(CounterWorkflow.run, id=f"py-updates-{uuid.uuid4()}", task_queue="py-updates")
            for _ in range(5)
        ]

        async def caller(handle):
            for k in range(per_workflow):
                # The same update id until it answers: a retry after the leader change is
                # deduplicated if the first attempt was accepted.
                while True:
                    try:
                        await handle.execute_update(CounterWorkflow.add, 1, id=f"{handle.id}-{k}")
                        break
                    except RPCError:
                        await asyncio.sleep(0.2)

        callers = asyncio.gather(*(caller(h) for h in handles))
        await asyncio.sleep(0.5)
        cluster.node(leader).kill9()
        await asyncio.wait_for(callers, timeout=120)
        for h in handles:
            await h.signal(CounterWorkflow.finish)
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
    assert [total for total, _ in results] == [per_workflow] * 5
    assert all(len(seen) == per_workflow for _, seen in results)
    assert cluster.wait_leader() != leader


async def test_sigterm_of_the_leader_hands_leadership_over_and_loses_nothing(tmp_path):
    import signal
    import time

    from conftest import start_cluster

    cluster = start_cluster(tmp_path, logs=True)
    try:
        leader = cluster.wait_leader()
        follower = next(n for n in cluster.nodes if n.node_id != leader)
        client = await Client.connect(follower.target)
        async with Worker(client, task_queue="py-sigterm", workflows=[ShoutThenSleep], activities=[shout]):
            handles = [
                await client.start_workflow(ShoutThenSleep.run, f"t{i}", id=f"py-sigterm-{uuid.uuid4()}",
                                            task_queue="py-sigterm")
                for i in range(20)
            ]
            old = cluster.node(leader)
            began = time.monotonic()
            old.proc.send_signal(signal.SIGTERM)
            new_leader = None
            while new_leader is None and time.monotonic() - began < 20:
                roles = cluster.status(follower.target)
                new_leader = next((i for i, cols in roles.items() if cols[3] == "leader" and i != leader), None)
            elected = time.monotonic() - began
            code = await asyncio.to_thread(old.proc.wait, 30)
            stopped = time.monotonic() - began
            results = await asyncio.wait_for(asyncio.gather(*[h.result() for h in handles]), timeout=90)
        assert results == [f"T{i}" for i in range(20)]
        assert new_leader is not None and code == 0, (new_leader, code)
        log = open(old.log_path).read()
        assert "handed leadership over before stopping" in log, log[-2000:]
        print(f"SIGTERM of the leader: node {new_leader} leads after {elected:.2f} s, "
              f"the old leader exited after {stopped:.2f} s")
    finally:
        for n in cluster.nodes:
            n.kill9()


async def test_the_cluster_keeps_its_feature_level_while_a_member_is_down(cluster):
    """Once the leader has seen every member at this build's level it records that level in
    the log: a member killed afterwards does not take eager start away."""
    import time

    from test_backup import feature_levels, keel_cli

    leader = cluster.node(cluster.wait_leader())

    def level_line() -> tuple:
        return feature_levels(keel_cli("cluster", "status", "--address", leader.target).stdout)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        members, level = level_line()
        if len(members) == 1 and members == {level}:
            break
        await asyncio.sleep(0.5)
    assert len(members) == 1 and members == {level}, (members, level)
    down = next(n for n in cluster.nodes if n is not leader)
    down.kill9()
    # The leader surveys the members every 5 s; across three surveys with one member not
    # answering (counted at the lowest level), the cluster's level stays where it was.
    began = time.monotonic()
    while time.monotonic() - began < 16:
        _, now = level_line()
        assert now == level, f"the cluster level fell from {level} to {now} with node {down.node_id} down"
        await asyncio.sleep(1)
    client = await Client.connect(leader.target)
    async with Worker(client, task_queue="py-level", workflows=[ShoutThenSleep], activities=[shout]):
        handle = await client.start_workflow(ShoutThenSleep.run, "down", id=f"py-level-{uuid.uuid4()}",
                                             task_queue="py-level", request_eager_start=True)
        assert getattr(handle, "__temporal_eagerly_started"), "eager start with a member down"
        assert await handle.result() == "DOWN"
    down.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and down.node_id not in cluster.status(leader.target):
        await asyncio.sleep(0.5)
    assert level_line() == (members, level)

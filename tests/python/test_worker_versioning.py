"""Worker versioning against a real `keel`, with the Python SDK's versioned workers
(WorkerDeploymentConfig) and the real `temporal worker deployment` CLI: versions appear as their
workers poll; new work goes to the current version (or a ramp's share); a pinned workflow stays
on the version it started on while an auto-upgrade one moves on at its next task; the
deployment, its versions and its routing are kept across a kill -9; a version with open pinned
workflows cannot be deleted; an override moves a workflow.

The scenario of the first test was run against `temporal server start-dev` (server 1.32) with
the same calls: the same outcomes, events and describe fields, except that the dev server
spreads a routing change to matching in the background (a workflow signalled right after the
change may still run on the old version there) and reports a version DRAINING for minutes
after its last pinned workflow closed (Keel counts them when asked: DRAINED at once)."""

import asyncio
import json
import subprocess
import uuid

import pytest
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as ApiVersion
from temporalio.api.workflowservice.v1 import (
    DeleteWorkerDeploymentVersionRequest, DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest, SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker, WorkerDeploymentConfig

from conftest import Keel
from test_cli import temporal_cli
from versioning_workflows import AutoSteps, PinnedSteps, which_activity


def versioned_worker(client: Client, queue: str, deployment: str, build_id: str) -> Worker:
    return Worker(
        client, task_queue=queue, workflows=[PinnedSteps, AutoSteps], activities=[which_activity(build_id)],
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment, build_id), use_worker_versioning=True),
    )


def cli(keel: Keel, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([temporal_cli(), *args, "--address", keel.target],
                          capture_output=True, text=True, timeout=30)


async def wait_for_version(client: Client, deployment: str, build_id: str) -> None:
    """Until the version's workers have polled (their first poll registers it)."""
    for _ in range(100):
        try:
            await client.workflow_service.describe_worker_deployment_version(
                DescribeWorkerDeploymentVersionRequest(
                    namespace="default", deployment_version=ApiVersion(deployment_name=deployment, build_id=build_id)))
            return
        except RPCError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"version {deployment}.{build_id} never appeared")


async def first_step_done(handle) -> None:
    """Until the workflow's first activity (its first step) has completed."""
    for _ in range(100):
        if any([e async for e in handle.fetch_history_events()
                if e.HasField("activity_task_completed_event_attributes")]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never finished its first step")


async def set_current(client: Client, deployment: str, build_id: str):
    return await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(namespace="default", deployment_name=deployment,
                                                 build_id=build_id, identity="test"))


def completed_versions(history) -> list:
    return [(e.workflow_task_completed_event_attributes.deployment_version.build_id,
             e.workflow_task_completed_event_attributes.versioning_behavior)
            for e in history.events if e.HasField("workflow_task_completed_event_attributes")]


async def test_pinned_stays_and_auto_upgrade_moves_as_the_current_version_changes(keel: Keel):
    client = await Client.connect(keel.target)
    service = client.workflow_service
    dep, queue = f"dep-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    async with versioned_worker(client, queue, dep, "1.0"):
        await wait_for_version(client, dep, "1.0")
        described = await service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace="default", deployment_name=dep))
        info = described.worker_deployment_info
        assert info.routing_config.current_version == "__unversioned__"
        assert [v.deployment_version.build_id for v in info.version_summaries] == ["1.0"]
        first = await set_current(client, dep, "1.0")
        assert first.previous_version == "__unversioned__"
        pinned = await client.start_workflow("PinnedSteps", id=f"pinned-{queue}", task_queue=queue)
        auto = await client.start_workflow("AutoSteps", id=f"auto-{queue}", task_queue=queue)
        # Both ran their first step on 1.0 (the activity of a workflow on 1.0 goes there too).
        for handle in (pinned, auto):
            await first_step_done(handle)
        async with versioned_worker(client, queue, dep, "2.0"):
            await wait_for_version(client, dep, "2.0")
            second = await set_current(client, dep, "2.0")
            assert second.previous_deployment_version.build_id == "1.0"
            await pinned.signal("proceed")
            await auto.signal("proceed")
            assert await pinned.result() == ["1.0", "1.0"]
            assert await auto.result() == ["1.0", "2.0"]

            pinned_history = await pinned.fetch_history()
            assert {v for v in completed_versions(pinned_history)} == {("1.0", 1)}  # PINNED
            auto_history = await auto.fetch_history()
            assert completed_versions(auto_history)[0] == ("1.0", 2)  # AUTO_UPGRADE
            assert completed_versions(auto_history)[-1] == ("2.0", 2)
            desc = (await pinned.describe()).raw_description.workflow_execution_info.versioning_info
            assert (desc.behavior, desc.deployment_version.build_id, desc.version) == (1, "1.0", f"{dep}.1.0")

            # Temporal's versioning search attributes, through the query language.
            found = [w.id async for w in client.list_workflows(f"TemporalWorkerDeploymentVersion = '{dep}:1.0'")]
            assert found == [pinned.id]
            found = [w.id async for w in client.list_workflows(
                f"TemporalUsedWorkerDeploymentVersions = '{dep}:2.0'")]
            assert found == [auto.id]
            found = [w.id async for w in client.list_workflows(f"BuildIds = 'pinned:{dep}:1.0'")]
            assert found == [pinned.id]

            # The CLI sees the same deployment.
            described = cli(keel, "worker", "deployment", "describe", "--name", dep, "-o", "json")
            assert described.returncode == 0, described.stderr
            shown = json.loads(described.stdout)
            assert shown["routingConfig"]["currentVersionBuildID"] == "2.0"
            assert [v["BuildID"] for v in shown["versionSummaries"]] == ["2.0", "1.0"]
            listed = cli(keel, "worker", "deployment", "list")
            assert listed.returncode == 0 and dep in listed.stdout, listed.stderr
            version = cli(keel, "worker", "deployment", "describe-version", "--deployment-name", dep,
                          "--build-id", "1.0", "-o", "json")
            assert version.returncode == 0, version.stderr
            assert json.loads(version.stdout)["drainageInfo"]["drainageStatus"] == "drained"

            # The current version cannot be deleted, nor one whose workers still poll.
            for build, why in [("2.0", "current or ramping"), ("1.0", "active pollers")]:
                with pytest.raises(RPCError) as err:
                    await service.delete_worker_deployment_version(DeleteWorkerDeploymentVersionRequest(
                        namespace="default", deployment_version=ApiVersion(deployment_name=dep, build_id=build)))
                assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
                assert err.value.message == f"version '{dep}:{build}' cannot be deleted since it has {why}" \
                    or err.value.message == f"version '{dep}:{build}' cannot be deleted since it is {why}"


async def test_a_version_with_open_pinned_workflows_drains_and_routing_survives_kill9(keel: Keel):
    client = await Client.connect(keel.target)
    service = client.workflow_service
    dep, queue = f"dep-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    async with versioned_worker(client, queue, dep, "1.0"):
        await wait_for_version(client, dep, "1.0")
        await set_current(client, dep, "1.0")
        pinned = await client.start_workflow("PinnedSteps", id=f"pinned-{queue}", task_queue=queue)
        for _ in range(100):
            if (await pinned.describe()).raw_description.workflow_execution_info.HasField("versioning_info"):
                break
            await asyncio.sleep(0.05)
        await set_current(client, dep, "")  # back to unversioned workers: 1.0 drains
    version = ApiVersion(deployment_name=dep, build_id="1.0")
    described = await service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(namespace="default", deployment_version=version))
    assert described.worker_deployment_version_info.drainage_info.status == 1  # DRAINING
    with pytest.raises(RPCError) as err:
        await service.delete_worker_deployment_version(
            DeleteWorkerDeploymentVersionRequest(namespace="default", deployment_version=version))
    assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert err.value.message == f"version '{dep}:1.0' cannot be deleted since it is draining"

    keel.restart_after_kill9()
    client = await Client.connect(keel.target)
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace="default", deployment_name=dep))
    assert described.worker_deployment_info.routing_config.current_version == "__unversioned__"
    assert described.worker_deployment_info.routing_config.revision_number == 2
    # The pinned workflow's next task waits for 1.0's workers, not the unversioned ones.
    pinned = client.get_workflow_handle(pinned.id)
    await pinned.signal("proceed")
    async with Worker(client, task_queue=queue, workflows=[PinnedSteps, AutoSteps],
                      activities=[which_activity("unversioned")]):
        await asyncio.sleep(1.0)
        assert (await pinned.describe()).status.name == "RUNNING"
    async with versioned_worker(client, queue, dep, "1.0"):
        assert await pinned.result() == ["1.0", "1.0"]
    described = await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(namespace="default", deployment_version=version))
    assert described.worker_deployment_version_info.drainage_info.status == 2  # DRAINED


async def test_a_ramp_takes_new_workflows_and_an_override_pins_one(keel: Keel):
    client = await Client.connect(keel.target)
    service = client.workflow_service
    dep, queue = f"dep-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    async with versioned_worker(client, queue, dep, "1.0"), versioned_worker(client, queue, dep, "2.0"):
        await wait_for_version(client, dep, "1.0")
        await wait_for_version(client, dep, "2.0")
        await set_current(client, dep, "1.0")
        ramped = await service.set_worker_deployment_ramping_version(SetWorkerDeploymentRampingVersionRequest(
            namespace="default", deployment_name=dep, build_id="2.0", percentage=100, identity="test"))
        assert ramped.previous_version == ""
        handles = [await client.start_workflow("AutoSteps", id=f"auto-{i}-{queue}", task_queue=queue)
                   for i in range(3)]
        # The whole ramp: every new workflow runs on 2.0 while 1.0 stays current.
        for h in handles:
            await h.signal("proceed")
            assert await h.result() == ["2.0", "2.0"]
        unset = cli(keel, "worker", "deployment", "set-ramping-version", "--deployment-name", dep,
                    "--delete", "--yes")
        assert unset.returncode == 0, unset.stderr
        moved = await client.start_workflow("AutoSteps", id=f"moved-{queue}", task_queue=queue)
        await first_step_done(moved)
        # Pinned to 2.0 by an operator: its next steps run there although 1.0 is current.
        override = cli(keel, "workflow", "update-options", "--workflow-id", moved.id,
                       "--versioning-override-behavior", "pinned", "--versioning-override-deployment-name", dep,
                       "--versioning-override-build-id", "2.0")
        assert override.returncode == 0, override.stderr
        await moved.signal("proceed")
        assert await moved.result() == ["1.0", "2.0"]
        info = (await moved.describe()).raw_description.workflow_execution_info.versioning_info
        assert info.versioning_override.pinned.version.build_id == "2.0"
        updated = [e async for e in moved.fetch_history_events()
                   if e.HasField("workflow_execution_options_updated_event_attributes")]
        assert len(updated) == 1
        assert updated[0].workflow_execution_options_updated_event_attributes.versioning_override.pinned.version \
            == ApiVersion(deployment_name=dep, build_id="2.0")


async def test_a_manager_identity_keeps_other_clients_from_changing_the_routing(keel: Keel):
    client = await Client.connect(keel.target)
    dep, queue = f"dep-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    async with versioned_worker(client, queue, dep, "1.0"):
        await wait_for_version(client, dep, "1.0")
        claimed = cli(keel, "worker", "deployment", "manager-identity", "set", "--deployment-name", dep,
                      "--manager-identity", "deployer", "--yes")
        assert claimed.returncode == 0, claimed.stderr
        shown = json.loads(cli(keel, "worker", "deployment", "describe", "--name", dep, "-o", "json").stdout)
        assert shown["managerIdentity"] == "deployer"
        with pytest.raises(RPCError) as err:
            await set_current(client, dep, "1.0")  # identity "test"
        assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
        assert err.value.message.startswith("ManagerIdentity 'deployer' is set and does not match user identity 'test'")
        await client.workflow_service.set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest(
            namespace="default", deployment_name=dep, build_id="1.0", identity="deployer"))
        released = cli(keel, "worker", "deployment", "manager-identity", "unset", "--deployment-name", dep,
                       "--identity", "deployer", "--yes")
        assert released.returncode == 0, released.stderr
        await set_current(client, dep, "")  # anyone may again


async def test_a_new_current_version_missing_a_busy_queue_is_refused_unless_told_to_ignore_it(keel: Keel):
    client = await Client.connect(keel.target)
    dep = f"dep-{uuid.uuid4().hex[:6]}"
    both, only_old = f"q-{uuid.uuid4().hex[:6]}", f"q-{uuid.uuid4().hex[:6]}"
    async with versioned_worker(client, both, dep, "1.0"), versioned_worker(client, only_old, dep, "1.0"), \
            versioned_worker(client, both, dep, "2.0"):
        await wait_for_version(client, dep, "1.0")
        await wait_for_version(client, dep, "2.0")
        await set_current(client, dep, "1.0")
        # Work arrives on the queue only 1.0 polls.
        handle = await client.start_workflow("PinnedSteps", id=f"busy-{only_old}", task_queue=only_old)
        with pytest.raises(RPCError) as err:
            await set_current(client, dep, "2.0")
        assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
        assert err.value.message == (
            f"proposed current version '{dep}:2.0' is missing active task queues from the current version; "
            "these would become unversioned if it is set as the current version")
        await client.workflow_service.set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest(
            namespace="default", deployment_name=dep, build_id="2.0", identity="test",
            ignore_missing_task_queues=True))
        await handle.signal("proceed")
        assert await handle.result() == ["1.0", "1.0"]

"""Batch operations against a real Keel: the `temporal` CLI's `workflow terminate --query`
and `batch describe|list|terminate`, a signal batch over listed executions (each signal
delivered once), Temporal's refusals, and a terminate batch over 500 runs across a kill -9
of the leader of a three-node cluster (every run terminated, each counted once, the job
completes on the new leader)."""

import asyncio
import json
import subprocess
import time
import uuid

import pytest
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.batch.v1 import (
    BatchOperationReset,
    BatchOperationSignal,
    BatchOperationTermination,
    BatchOperationUpdateWorkflowExecutionOptions,
)
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.common.v1 import Priority as PriorityProto
from temporalio.api.workflow.v1 import PostResetOperation, VersioningOverride, WorkflowExecutionOptions
from temporalio.api.common.v1 import Execution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    StartBatchOperationRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from test_cli import temporal_cli


def cli(address: str, *args: str) -> str:
    done = subprocess.run(
        [temporal_cli(), *args, "--address", address], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


async def start_idle(client, prefix: str, n: int) -> None:
    await asyncio.gather(*[
        client.start_workflow("Idle", id=f"{prefix}-{i:03}", task_queue="no-worker") for i in range(n)
    ])


def wait_job(address: str, job_id: str, within: float = 120) -> dict:
    """The job once it stopped running. The CLI gives up at once on UNAVAILABLE (a cluster
    electing a new leader), so a failed call is asked again."""
    deadline = time.time() + within
    while True:
        done = subprocess.run(
            [temporal_cli(), "batch", "describe", "--job-id", job_id, "--output", "json", "--address", address],
            capture_output=True, text=True, timeout=60,
        )
        described = json.loads(done.stdout) if done.returncode == 0 else {"state": "?", "error": done.stderr}
        if described["state"] not in ("BATCH_OPERATION_STATE_RUNNING", "?"):
            return described
        assert time.time() < deadline, described
        time.sleep(0.3)


async def test_cli_terminates_by_query_and_describes_the_job(keel):
    client = await Client.connect(keel.target)
    prefix = f"bt-{uuid.uuid4().hex[:8]}"
    await start_idle(client, prefix, 20)
    await start_idle(client, f"other-{prefix}", 3)
    out = cli(keel.target, "workflow", "terminate", "--query", f"WorkflowId STARTS_WITH '{prefix}'",
              "--reason", "batch test", "--yes")
    assert out.strip().splitlines()[-1].startswith("Started batch for job ID: ")
    job_id = out.strip().split(": ")[-1]
    done = wait_job(keel.target, job_id)
    assert done["state"] == "BATCH_OPERATION_STATE_COMPLETED", done
    assert done["operationType"] == "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW"
    assert done["totalOperationCount"] == "20" and done["completeOperationCount"] == "20"
    assert done["reason"] == "batch test" and done["query"] == f"WorkflowId STARTS_WITH '{prefix}'"
    assert (await client.count_workflows(f"WorkflowId STARTS_WITH '{prefix}' AND ExecutionStatus = 'Terminated'")).count == 20
    # Runs outside the query are untouched.
    assert (await client.count_workflows(f"WorkflowId STARTS_WITH 'other-{prefix}' AND ExecutionStatus = 'Running'")).count == 3
    assert job_id in cli(keel.target, "batch", "list")


async def test_signal_batch_over_listed_executions_delivers_each_once(keel):
    client = await Client.connect(keel.target)
    prefix = f"sig-{uuid.uuid4().hex[:8]}"
    await start_idle(client, prefix, 5)
    job_id = f"job-{uuid.uuid4()}"
    await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
        namespace="default", job_id=job_id, reason="ping",
        target_executions=[Execution(business_id=f"{prefix}-{i:03}") for i in range(5)]
        + [Execution(business_id=f"{prefix}-missing")],
        signal_operation=BatchOperationSignal(signal="ping", identity="batch-test"),
    ))
    done = wait_job(keel.target, job_id)
    assert done["state"] == "BATCH_OPERATION_STATE_COMPLETED", done
    # A missing target counts as done, as on Temporal.
    assert done["completeOperationCount"] == "6", done
    for i in range(5):
        history = await client.get_workflow_handle(f"{prefix}-{i:03}").fetch_history()
        signals = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
        assert len(signals) == 1 and signals[0].workflow_execution_signaled_event_attributes.signal_name == "ping"


async def test_an_options_batch_gives_each_run_of_a_query_the_new_priority_key(keel):
    client = await Client.connect(keel.target)
    prefix = f"opt-{uuid.uuid4().hex[:8]}"
    await start_idle(client, prefix, 4)
    job_id = f"job-{uuid.uuid4()}"
    await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
        namespace="default", job_id=job_id, reason="reprioritise",
        visibility_query=f"WorkflowId STARTS_WITH '{prefix}'",
        update_workflow_options_operation=BatchOperationUpdateWorkflowExecutionOptions(
            identity="batch-test", workflow_execution_options=WorkflowExecutionOptions(
                priority=PriorityProto(priority_key=1)),
            update_mask=FieldMask(paths=["priority.priority_key"])),
    ))
    done = wait_job(keel.target, job_id)
    assert done["state"] == "BATCH_OPERATION_STATE_COMPLETED", done
    assert done["operationType"] == "BATCH_OPERATION_TYPE_UPDATE_WORKFLOW_EXECUTION_OPTIONS", done
    assert done["completeOperationCount"] == "4", done
    for i in range(4):
        handle = client.get_workflow_handle(f"{prefix}-{i:03}")
        assert (await handle.describe()).raw_description.workflow_execution_info.priority.priority_key == 1
        history = await handle.fetch_history()
        updated = [e for e in history.events
                   if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED]
        assert len(updated) == 1 and updated[0].worker_may_ignore


async def test_bad_batch_requests_are_refused_with_temporals_messages(keel):
    client = await Client.connect(keel.target)
    terminate = BatchOperationTermination(identity="t")
    cases = [
        (StartBatchOperationRequest(namespace="default", job_id="j", reason="r", termination_operation=terminate),
         "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)"),
        (StartBatchOperationRequest(namespace="default", reason="r", visibility_query="WorkflowId = 'x'",
                                    termination_operation=terminate),
         "JobId is not set on request."),
        (StartBatchOperationRequest(namespace="default", job_id="j", reason="r", visibility_query="WorkflowId = 'x'",
                                    target_executions=[Execution(business_id="x")], termination_operation=terminate),
         "visibility query, executions, and target executions are mutually exclusive"),
        (StartBatchOperationRequest(namespace="default", job_id="j", reason="r", visibility_query="WorkflowId = 'x'",
                                    signal_operation=BatchOperationSignal()),
         "must provide signal name"),
        (StartBatchOperationRequest(namespace="default", job_id="j", reason="r", visibility_query="Nope = 'x'",
                                    termination_operation=terminate),
         "invalid visibility query: invalid query: invalid search attribute: Nope"),
    ]
    for request, message in cases:
        with pytest.raises(RPCError) as err:
            await client.workflow_service.start_batch_operation(request)
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, request
        assert err.value.message == message
    # A malformed versioning override is refused before the job starts.
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
            namespace="default", job_id="j", reason="r", visibility_query="WorkflowId = 'x'",
            update_workflow_options_operation=BatchOperationUpdateWorkflowExecutionOptions(
                identity="t", workflow_execution_options=WorkflowExecutionOptions(
                    versioning_override=VersioningOverride(pinned=VersioningOverride.PinnedOverride(
                        version=WorkerDeploymentVersion(deployment_name="d")))),
                update_mask=FieldMask(paths=["versioning_override"])),
        ))
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == "must specify pinned override behavior if override is pinned."
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
            namespace="default", job_id="j", reason="r", visibility_query="WorkflowId = 'x'",
            reset_operation=BatchOperationReset(identity="t", post_reset_operations=[PostResetOperation()]),
        ))
    assert err.value.message == "post-reset operations are not supported by Keel yet"
    with pytest.raises(RPCError) as err:
        await client.workflow_service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace="default", job_id="no-such-job"))
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_cli_reset_by_query_resets_each_run_once(keel):
    from temporalio.worker import Worker

    from console_workflows import CONSOLE_ACTIVITIES, CONSOLE_WORKFLOWS, ConsoleWait

    client = await Client.connect(keel.target)
    prefix = f"rs-{uuid.uuid4().hex[:8]}"
    queue = f"reset-batch-{prefix}"
    async with Worker(client, task_queue=queue, workflows=CONSOLE_WORKFLOWS, activities=CONSOLE_ACTIVITIES):
        handles = [await client.start_workflow(ConsoleWait.run, id=f"{prefix}-{i:02}", task_queue=queue)
                   for i in range(10)]
        # Each run completes its first workflow task (and then waits forever).
        for h in handles:
            for _ in range(100):
                events = (await h.fetch_history()).events
                if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events):
                    break
                await asyncio.sleep(0.1)
        out = cli(keel.target, "workflow", "reset", "--query", f"WorkflowId STARTS_WITH '{prefix}'",
                  "--type", "FirstWorkflowTask", "--reason", "batch reset", "--yes")
        job_id = out.strip().split(": ")[-1]
        done = wait_job(keel.target, job_id)
        assert done["state"] == "BATCH_OPERATION_STATE_COMPLETED", done
        assert done["operationType"] == "BATCH_OPERATION_TYPE_RESET_WORKFLOW"
        assert done["completeOperationCount"] == "10" and done.get("failureOperationCount", "0") == "0", done
        for h in handles:
            # Two runs: the base (terminated by the resetter) and one new run, still running.
            assert (await client.count_workflows(f"WorkflowId = '{h.id}'")).count == 2
            current = await client.get_workflow_handle(h.id).describe()
            assert current.run_id != h.result_run_id
            assert current.status == WorkflowExecutionStatus.RUNNING
            base = await client.get_workflow_handle(h.id, run_id=h.result_run_id).describe()
            assert base.status == WorkflowExecutionStatus.TERMINATED
            history = (await client.get_workflow_handle(h.id).fetch_history()).events
            failed = [e for e in history if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            attrs = failed[0].workflow_task_failed_event_attributes
            assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
            assert attrs.failure.message == "batch reset" and attrs.base_run_id == h.result_run_id


async def test_one_batch_at_a_time_and_stop(keel):
    client = await Client.connect(keel.target)
    prefix = f"stop-{uuid.uuid4().hex[:8]}"
    await start_idle(client, prefix, 200)
    out = cli(keel.target, "workflow", "terminate", "--query", f"WorkflowId STARTS_WITH '{prefix}'",
              "--reason", "slow", "--rps", "5", "--yes")
    job_id = out.strip().split(": ")[-1]
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_batch_operation(StartBatchOperationRequest(
            namespace="default", job_id=f"second-{uuid.uuid4()}", reason="r",
            visibility_query=f"WorkflowId STARTS_WITH '{prefix}'",
            termination_operation=BatchOperationTermination(identity="t"),
        ))
    assert err.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert err.value.message == "Max concurrent batch operations is reached"
    cli(keel.target, "batch", "terminate", "--job-id", job_id, "--reason", "enough")
    stopped = wait_job(keel.target, job_id)
    assert stopped["state"] == "BATCH_OPERATION_STATE_FAILED"
    terminated = (await client.count_workflows(f"WorkflowId STARTS_WITH '{prefix}' AND ExecutionStatus = 'Terminated'")).count
    await asyncio.sleep(1)
    # Nothing more happens after the stop.
    again = (await client.count_workflows(f"WorkflowId STARTS_WITH '{prefix}' AND ExecutionStatus = 'Terminated'")).count
    assert terminated == again < 200


@pytest.mark.timeout(300)
async def test_batch_of_500_across_a_leader_kill_terminates_each_run_once(cluster):
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    client = await Client.connect(follower.target)
    prefix = f"kill-{uuid.uuid4().hex[:8]}"
    await start_idle(client, prefix, 500)
    out = cli(follower.target, "workflow", "terminate", "--query", f"WorkflowId STARTS_WITH '{prefix}'",
              "--reason", "mass cleanup", "--yes")
    job_id = out.strip().split(": ")[-1]
    await asyncio.sleep(3)  # some 150 targets in at 50 per second
    cluster.node(leader).kill9()
    done = await asyncio.to_thread(wait_job, follower.target, job_id, 180)
    assert done["state"] == "BATCH_OPERATION_STATE_COMPLETED", done
    # Each run acted on and counted exactly once: a step applied twice would count twice.
    assert done["totalOperationCount"] == "500"
    assert done["completeOperationCount"] == "500", done
    assert done.get("failureOperationCount", "0") == "0"
    assert (await client.count_workflows(f"WorkflowId STARTS_WITH '{prefix}' AND ExecutionStatus = 'Terminated'")).count == 500
    for i in range(0, 500, 50):
        history = await client.get_workflow_handle(f"{prefix}-{i:03}").fetch_history()
        terminated = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED]
        assert len(terminated) == 1
        assert terminated[0].workflow_execution_terminated_event_attributes.reason == "mass cleanup"

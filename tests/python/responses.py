"""The responses a client and a worker get, call by call, for one workflow driven by raw
WorkflowService calls (no SDK help): system info, start, the first workflow task, an activity
scheduled with only a start-to-close timeout, its activity task, describe while it runs, the
second task, completion, describe after close, the history. Shared by record_fixtures.py
(which records them from Temporal's dev server into fixtures/responses.json) and
test_responses.py (which compares Keel's, field by field).

Normalised so that what differs between any two runs is masked but not dropped: a masked
field must still be present (or absent) exactly as in Temporal's answer, since stricter SDKs
(TypeScript's) fail on a missing timestamp or duration. Zero durations ("0s") are compared
by value."""

import re
import uuid

from google.protobuf.json_format import MessageToDict
from temporalio.api.command.v1 import (
    Command,
    CompleteWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType, DescribeTaskQueueMode, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
    GetSystemInfoRequest,
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.converter import default as default_converter

from scenarios import flatten

# Values that differ between runs or servers: replaced by "<masked>", presence kept.
MASKED = {
    "taskToken", "runId", "workflowId", "requestId", "identity", "namespaceId", "taskId",
    "eventTime", "startTime", "closeTime", "executionTime", "scheduledTime", "startedTime",
    "lastStartedTime", "currentAttemptScheduledTime", "expirationTime", "lastUpdateTime",
    "historySizeBytes", "firstRunId", "originalExecutionRunId", "firstExecutionRunId",
    "createTime", "expireTime", "serverVersion", "lastAccessTime", "stateTransitionCount",
    "binaryChecksum", "buildId", "originalStartTime", "executionDuration", "approximateBacklogAge",
    "tasksAddRate", "tasksDispatchRate", "backlogIncreaseRate",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def mask(value, key=""):
    if key in MASKED:
        return "<masked>"
    if isinstance(value, dict):
        return {_UUID.sub("<uuid>", k): mask(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str):
        return _UUID.sub("<uuid>", value)
    return value


def _payloads(*values) -> Payloads:
    return Payloads(payloads=default_converter().payload_converter.to_payloads(list(values)))


async def run_raw_workflow(client, namespace: str = "default") -> dict:
    """Drives one workflow through raw calls; returns {call name: normalised response}."""
    svc = client.workflow_service
    queue = f"raw-responses-{uuid.uuid4()}"
    wf_id = f"raw-responses-{uuid.uuid4()}"
    out = {}

    def record(name, response):
        out[name] = mask(MessageToDict(response))
        return response

    record("GetSystemInfo", await svc.get_system_info(GetSystemInfoRequest()))
    started = record(
        "StartWorkflowExecution",
        await svc.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=namespace,
                workflow_id=wf_id,
                workflow_type=WorkflowType(name="RawWorkflow"),
                task_queue=TaskQueue(name=queue),
                input=_payloads("in"),
                identity="raw-client",
                request_id=str(uuid.uuid4()),
            )
        ),
    )
    execution = WorkflowExecution(workflow_id=wf_id, run_id=started.run_id)

    async def poll_workflow_task(name):
        return record(
            name,
            await svc.poll_workflow_task_queue(
                PollWorkflowTaskQueueRequest(
                    namespace=namespace, task_queue=TaskQueue(name=queue), identity="raw-worker"
                )
            ),
        )

    async def describe(name):
        record(
            name,
            await svc.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(namespace=namespace, execution=execution)
            ),
        )

    task = await poll_workflow_task("PollWorkflowTaskQueue (first task)")
    record(
        "RespondWorkflowTaskCompleted (schedule activity)",
        await svc.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=namespace,
                task_token=task.task_token,
                identity="raw-worker",
                commands=[
                    Command(
                        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
                        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
                            activity_id="1",
                            activity_type=ActivityType(name="raw_activity"),
                            task_queue=TaskQueue(name=queue),
                            input=_payloads("act"),
                            start_to_close_timeout={"seconds": 30},
                        ),
                    )
                ],
            )
        ),
    )
    activity_task = record(
        "PollActivityTaskQueue",
        await svc.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=namespace, task_queue=TaskQueue(name=queue), identity="raw-worker"
            )
        ),
    )
    await describe("DescribeWorkflowExecution (activity running)")
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        record(
            f"DescribeTaskQueue ({TaskQueueType.Name(kind)}, stats)",
            await svc.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=namespace, task_queue=TaskQueue(name=queue),
                    task_queue_type=kind, report_stats=True,
                )
            ),
        )
    # As the `temporal task-queue describe` CLI asks.
    record(
        "DescribeTaskQueue (enhanced)",
        await svc.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace, task_queue=TaskQueue(name=queue),
                api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
                task_queue_types=[TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
                report_pollers=True, report_stats=True,
            )
        ),
    )
    record(
        "RespondActivityTaskCompleted",
        await svc.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(
                namespace=namespace,
                task_token=activity_task.task_token,
                result=_payloads("done"),
                identity="raw-worker",
            )
        ),
    )
    task = await poll_workflow_task("PollWorkflowTaskQueue (second task)")
    record(
        "RespondWorkflowTaskCompleted (complete workflow)",
        await svc.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=namespace,
                task_token=task.task_token,
                identity="raw-worker",
                commands=[
                    Command(
                        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
                        complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(
                            result=_payloads("out")
                        ),
                    )
                ],
            )
        ),
    )
    await describe("DescribeWorkflowExecution (closed)")
    record(
        "GetWorkflowExecutionHistory",
        await svc.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(namespace=namespace, execution=execution)
        ),
    )
    # Pages of "4": Temporal counts the batches events were written in, Keel counts events,
    # so only the events of all pages together are compared.
    token, events, pages = b"", [], 0
    while True:
        reverse = await svc.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=namespace, execution=execution, maximum_page_size=4,
                next_page_token=token,
            )
        )
        events.extend(reverse.history.events)
        pages += 1
        token = reverse.next_page_token
        if not token or pages > 20:
            break
    out["GetWorkflowExecutionHistoryReverse (every page of 4)"] = {
        "events": [mask(MessageToDict(e)) for e in events],
        "more_than_one_page": pages > 1,
    }
    return out


def response_differences(got: dict, expected: dict, known: dict) -> list:
    """'call path: keel=... temporal=...' for every field that differs, except the paths in
    `known` (a path prefix -> why Keel differs there)."""
    out = []
    for call in expected:
        if call not in got:
            out.append(f"{call}: not called")
            continue
        fa, fb = flatten(got[call]), flatten(expected[call])
        for path in sorted(set(fa) | set(fb)):
            if fa.get(path) == fb.get(path):
                continue
            if any(f"{call} {path}".startswith(prefix) for prefix in known):
                continue
            out.append(f"{call} {path}: keel={fa.get(path)!r} temporal={fb.get(path)!r}")
    return out

"""Schedule scenarios shared by record_fixtures.py (recorded from Temporal's dev server into
fixtures/schedules.json) and test_schedules.py (Keel must answer the same): a rich spec's
canonical form, Describe right after a create with trigger, matching times across both
daylight-saving changes of a named zone, a duplicate create's error and details, and the
refusals of bad requests (Temporal's codes and texts). Every call goes through the raw
WorkflowService, as the SDKs and the CLI send it.

Times that depend on when the scenario ran are replaced by "<time>" and ids by their shape."""

import re
import uuid

from google.protobuf.duration_pb2 import Duration
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import ScheduleOverlapPolicy, WorkflowIdReusePolicy
from temporalio.api.schedule.v1 import (
    CalendarSpec,
    IntervalSpec,
    Range,
    Schedule,
    ScheduleAction,
    SchedulePatch,
    SchedulePolicies,
    ScheduleSpec,
    ScheduleState,
    StructuredCalendarSpec,
    TriggerImmediatelyRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import NewWorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    CreateScheduleRequest,
    DeleteScheduleRequest,
    DescribeScheduleRequest,
    DescribeWorkflowExecutionRequest,
    ListScheduleMatchingTimesRequest,
    PatchScheduleRequest,
    UpdateScheduleRequest,
)
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.service import RPCError

NS = "default"


def ts(text: str) -> Timestamp:
    t = Timestamp()
    t.FromJsonString(text)
    return t


def action(workflow_id: str, **extra) -> ScheduleAction:
    return ScheduleAction(
        start_workflow=NewWorkflowExecutionInfo(
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="Nothing"),
            task_queue=TaskQueue(name="schedules-no-worker"),
            **extra,
        )
    )


RICH_SPEC = ScheduleSpec(
    structured_calendar=[
        StructuredCalendarSpec(
            hour=[Range(start=9, end=17, step=2)],
            day_of_week=[Range(start=1, end=5)],
            comment="office hours",
        )
    ],
    calendar=[CalendarSpec(minute="*/15", hour="3", day_of_month="1-7", month="jan,jul", comment="strings")],
    cron_string=[
        "30 6 * * MON-FRI # weekdays",
        "0 0 12 29 2 * 2028",
        "@every 90m/15m",
        "@monthly",
    ],
    interval=[IntervalSpec(interval=Duration(seconds=7200), phase=Duration(seconds=60))],
    exclude_calendar=[CalendarSpec(day_of_month="25", month="12", comment="christmas")],
    start_time=ts("2030-01-01T00:00:00Z"),
    end_time=ts("2031-01-01T00:00:00Z"),
    timezone_name="Europe/Berlin",
)


def normalise(value):
    """Run-dependent parts replaced: RFC 3339 times, uuids, the unique suffix of ids."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        value = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", value)
        value = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", value)
        value = re.sub(r"sched-[0-9a-f]{8}", "sched-<id>", value)
    return value


def error(e: RPCError) -> dict:
    return {"code": e.status.name, "message": normalise(e.message)}


async def call(fn, request) -> dict:
    try:
        return {"ok": normalise(MessageToDict(await fn(request)))}
    except RPCError as e:
        return error(e)


async def run_schedule_scenarios(client) -> dict:
    svc = client.workflow_service
    out = {}
    tag = uuid.uuid4().hex[:8]

    # A rich spec, paused so it never fires: Describe shows the canonical form.
    rich = f"sched-{tag}-rich"
    await svc.create_schedule(CreateScheduleRequest(
        namespace=NS, schedule_id=rich, request_id=str(uuid.uuid4()),
        schedule=Schedule(spec=RICH_SPEC, action=action(f"sched-{tag}-wf"), state=ScheduleState(paused=True, notes="n")),
    ))
    described = MessageToDict((await svc.describe_schedule(DescribeScheduleRequest(namespace=NS, schedule_id=rich))).schedule)
    out["rich_spec"] = normalise(described)

    # Created with trigger_immediately: Describe right after shows the action and the run.
    trig = f"sched-{tag}-trig"
    await svc.create_schedule(CreateScheduleRequest(
        namespace=NS, schedule_id=trig, request_id=str(uuid.uuid4()),
        schedule=Schedule(
            spec=ScheduleSpec(interval=[IntervalSpec(interval=Duration(seconds=3600))]),
            action=action(f"sched-{tag}-trig-wf"),
            policies=SchedulePolicies(catchup_window=Duration(seconds=1)),
        ),
        initial_patch=SchedulePatch(trigger_immediately=TriggerImmediatelyRequest()),
    ))
    d = await svc.describe_schedule(DescribeScheduleRequest(namespace=NS, schedule_id=trig))
    info = d.info
    started = info.recent_actions[0].start_workflow_result if info.recent_actions else None
    out["after_trigger"] = normalise({
        "action_count": info.action_count,
        "recent_actions": len(info.recent_actions),
        "running_workflows": len(info.running_workflows),
        "future_action_times": len(info.future_action_times),
        "policies": MessageToDict(d.schedule.policies),
        "conflict_token": d.conflict_token.hex(),
        "workflow_id": started.workflow_id if started else None,
        "status": info.recent_actions[0].start_workflow_status if info.recent_actions else None,
    })
    if started:
        wf = await svc.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace=NS, execution=WorkflowExecution(workflow_id=started.workflow_id)))
        attrs = wf.workflow_execution_info.search_attributes.indexed_fields
        out["started_workflow"] = {
            "search_attributes": sorted(attrs.keys()),
            "types": {k: v.metadata.get("type", b"").decode() for k, v in attrs.items()},
            "scheduled_by": attrs["TemporalScheduledById"].data.decode() == f'"{trig}"',
        }

    # Matching times around both daylight-saving changes of 2024 in New York.
    dst = f"sched-{tag}-dst"
    await svc.create_schedule(CreateScheduleRequest(
        namespace=NS, schedule_id=dst, request_id=str(uuid.uuid4()),
        schedule=Schedule(
            spec=ScheduleSpec(cron_string=["30 0-4 * * *"], timezone_name="America/New_York"),
            action=action(f"sched-{tag}-dst-wf"), state=ScheduleState(paused=True),
        ),
    ))
    for name, start, end in [
        ("spring", "2024-03-09T23:00:00Z", "2024-03-10T12:00:00Z"),
        ("fall", "2024-11-02T23:00:00Z", "2024-11-03T12:00:00Z"),
    ]:
        r = await svc.list_schedule_matching_times(ListScheduleMatchingTimesRequest(
            namespace=NS, schedule_id=dst, start_time=ts(start), end_time=ts(end)))
        out[f"matching_{name}"] = [t.ToJsonString() for t in r.start_time]

    # A second create of the same id.
    try:
        await svc.create_schedule(CreateScheduleRequest(
            namespace=NS, schedule_id=rich, request_id=str(uuid.uuid4()),
            schedule=Schedule(spec=RICH_SPEC, action=action("x"))))
        out["duplicate"] = {"ok": True}
    except RPCError as e:
        out["duplicate"] = {**error(e), "details": [d.type_url.split("/")[-1] for d in e.grpc_status.details]}

    # Refusals.
    def create(sid: str, spec=None, act=None, request_id="r", **kw):
        return CreateScheduleRequest(
            namespace=NS, schedule_id=sid, request_id=request_id,
            schedule=Schedule(spec=spec or ScheduleSpec(interval=[IntervalSpec(interval=Duration(seconds=60))]),
                              action=act or action("w"), **kw))

    bad = f"sched-{tag}-bad"
    cases = {
        "no_request_id": create(bad, request_id=""),
        "cron_fields": create(bad, ScheduleSpec(cron_string=["1 2 3"])),
        "cron_range": create(bad, ScheduleSpec(cron_string=["61 * * * *"])),
        "cron_step": create(bad, ScheduleSpec(cron_string=["*/0 * * * *"])),
        "interval_small": create(bad, ScheduleSpec(interval=[IntervalSpec(interval=Duration(nanos=500_000_000))])),
        "phase_negative": create(bad, ScheduleSpec(interval=[IntervalSpec(interval=Duration(seconds=60), phase=Duration(seconds=-1))])),
        "phase_big": create(bad, ScheduleSpec(interval=[IntervalSpec(interval=Duration(seconds=60), phase=Duration(seconds=60))])),
        "calendar_range": create(bad, ScheduleSpec(structured_calendar=[StructuredCalendarSpec(hour=[Range(start=24)])])),
        "comment_long": create(bad, ScheduleSpec(calendar=[CalendarSpec(comment="x" * 201)])),
        "zone_unknown": create(bad, ScheduleSpec(interval=[IntervalSpec(interval=Duration(seconds=60))], timezone_name="Mars/Olympus")),
        "zone_conflict": create(bad, ScheduleSpec(cron_string=["CRON_TZ=UTC 0 0 * * *", "CRON_TZ=Asia/Tokyo 0 0 * * *"])),
        "action_cron": create(bad, act=action("w", cron_schedule="* * * * *")),
        "action_reuse": create(bad, act=action("w", workflow_id_reuse_policy=WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE)),
        "action_no_type": create(bad, act=ScheduleAction(start_workflow=NewWorkflowExecutionInfo(workflow_id="w", task_queue=TaskQueue(name="q")))),
        "no_schedule_id": create(""),
    }
    out["errors"] = {name: await call(svc.create_schedule, req) for name, req in cases.items()}
    missing = f"sched-{tag}-missing"
    out["not_found"] = {
        "describe": await call(svc.describe_schedule, DescribeScheduleRequest(namespace=NS, schedule_id=missing)),
        "patch": await call(svc.patch_schedule, PatchScheduleRequest(
            namespace=NS, schedule_id=missing, patch=SchedulePatch(pause="p"))),
        "delete": await call(svc.delete_schedule, DeleteScheduleRequest(namespace=NS, schedule_id=missing)),
        "matching_times": await call(svc.list_schedule_matching_times, ListScheduleMatchingTimesRequest(
            namespace=NS, schedule_id=missing, start_time=ts("2024-01-01T00:00:00Z"), end_time=ts("2024-01-02T00:00:00Z"))),
    }
    out["patch_unset"] = await call(svc.patch_schedule, PatchScheduleRequest(namespace=NS, schedule_id=rich))
    out["notes_long"] = await call(svc.patch_schedule, PatchScheduleRequest(
        namespace=NS, schedule_id=rich, patch=SchedulePatch(pause="x" * 1001)))
    out["stale_token"] = await call(svc.update_schedule, UpdateScheduleRequest(
        namespace=NS, schedule_id=rich, conflict_token=(99).to_bytes(8, "big"),
        schedule=Schedule(spec=RICH_SPEC, action=action(f"sched-{tag}-wf"),
                          policies=SchedulePolicies(overlap_policy=ScheduleOverlapPolicy.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL))))
    for sid in (rich, trig, dst):
        await svc.delete_schedule(DeleteScheduleRequest(namespace=NS, schedule_id=sid))
    return out

//! CreateSchedule, DescribeSchedule, UpdateSchedule, PatchSchedule, DeleteSchedule,
//! ListSchedules, CountSchedules, ListScheduleMatchingTimes. Requests are checked as
//! Temporal's frontend checks them (its texts), the spec is canonicalized here so a bad one
//! is refused before the log, and the record lives in replicated state
//! (`keel_engine::schedules`), read after a linearizable barrier: Describe right after a
//! write shows it, on any node.

use super::{page_size, Frontend, Res};
use crate::errors;
use keel_engine::keys;
use keel_engine::mutation::Kind;
use keel_engine::outcome::Outcome;
use keel_engine::query::eval::eval;
use keel_engine::records::{NamespaceRecord, ScheduleRecord};
use keel_engine::schedules::{self, list, spec};
use keel_engine::search_attributes;
use keel_engine::time::{timestamp, timestamp_nanos};
use keel_engine::validate;
use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::SearchAttributes,
    enums::v1::{TaskQueueKind, WorkflowIdReusePolicy},
    schedule::v1::{schedule_action::Action, Schedule, SchedulePatch},
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

/// Temporal's V1 runs a schedule as workflow `temporal-sys-scheduler:<id>` and checks the
/// length of that id; a run's id gets the nominal time appended, checked with this one.
const SCHEDULER_PREFIX: &str = "temporal-sys-scheduler:";
const APPENDED_TIME: &str = "-2009-11-10T23:00:00Z";

fn invalid(message: impl Into<String>) -> Status {
    errors::invalid_argument(message)
}

fn schedule_id(id: &str) -> Result<(), Status> {
    if id.is_empty() {
        // Temporal's text: V1 looks the schedule's workflow up before anything checks the id.
        return Err(invalid(
            "Can't load workflow execution.  WorkflowId not set.",
        ));
    }
    validate::id("WorkflowId", &format!("{SCHEDULER_PREFIX}{id}")).map_err(invalid)
}

/// The schedule as it will be stored: canonical spec, checked action, typed attributes.
fn checked_schedule(ns: &NamespaceRecord, schedule: Option<Schedule>) -> Result<Schedule, Status> {
    let mut schedule = schedule.unwrap_or_default();
    let canonical = spec::canonicalize(&schedule.spec.clone().unwrap_or_default())
        .map_err(|e| invalid(format!("Invalid schedule spec: {e}")))?;
    schedule.spec = Some(canonical);
    if let Some(Action::StartWorkflow(info)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
    {
        validate::id(
            "WorkflowId",
            &format!("{}{APPENDED_TIME}", info.workflow_id),
        )
        .map_err(invalid)?;
        if let Some(queue) = &mut info.task_queue {
            if queue.kind == TaskQueueKind::Unspecified as i32 {
                queue.kind = TaskQueueKind::Normal as i32;
            }
        }
        let probe = StartWorkflowExecutionRequest {
            workflow_id: info.workflow_id.clone(),
            workflow_type: info.workflow_type.clone(),
            task_queue: info.task_queue.clone(),
            input: info.input.clone(),
            workflow_execution_timeout: info.workflow_execution_timeout,
            workflow_run_timeout: info.workflow_run_timeout,
            workflow_task_timeout: info.workflow_task_timeout,
            ..Default::default()
        };
        validate::start_request(&probe).map_err(invalid)?;
        if !info.cron_schedule.is_empty() {
            return Err(invalid("Scheduled workflow must not contain CronSchedule"));
        }
        let reuse = info.workflow_id_reuse_policy;
        if reuse != WorkflowIdReusePolicy::Unspecified as i32
            && reuse != WorkflowIdReusePolicy::AllowDuplicate as i32
        {
            return Err(invalid(
                "Scheduled workflow must not contain WorkflowIDReusePolicy",
            ));
        }
        if let Some(attributes) = &mut info.search_attributes {
            search_attributes::check(ns, attributes).map_err(invalid)?;
        }
    }
    if let Some(state) = &schedule.state {
        notes(&state.notes)?;
    }
    Ok(schedule)
}

fn notes(text: &str) -> Result<(), Status> {
    if text.len() > schedules::MAX_NOTES_BYTES {
        return Err(invalid("Schedule notes exceeds limit."));
    }
    Ok(())
}

fn checked_patch(patch: &SchedulePatch) -> Result<(), Status> {
    notes(&patch.pause)?;
    notes(&patch.unpause)
}

fn checked_attributes(
    ns: &NamespaceRecord,
    attributes: &mut Option<SearchAttributes>,
) -> Result<(), Status> {
    if let Some(attributes) = attributes {
        search_attributes::check(ns, attributes).map_err(invalid)?;
    }
    Ok(())
}

fn conflict_token(outcome: Outcome) -> Result<Vec<u8>, Status> {
    match outcome {
        Outcome::Schedule { conflict_token } => Ok(schedules::token_bytes(conflict_token)),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn create(
    f: &Frontend,
    req: Request<CreateScheduleRequest>,
) -> Res<CreateScheduleResponse> {
    let mut req = req.into_inner();
    let ns = f.keel.namespace(&req.namespace)?;
    schedule_id(&req.schedule_id)?;
    if req.request_id.is_empty() {
        return Err(invalid("RequestId is not set on request."));
    }
    if req.request_id.len() > validate::MAX_ID_LENGTH {
        return Err(invalid("RequestId exceeds length limit."));
    }
    req.schedule = Some(checked_schedule(&ns, req.schedule.take())?);
    checked_attributes(&ns, &mut req.search_attributes)?;
    if let Some(patch) = &req.initial_patch {
        checked_patch(patch)?;
    }
    let outcome = f.keel.propose(Kind::CreateSchedule(req)).await?;
    Ok(Response::new(CreateScheduleResponse {
        conflict_token: conflict_token(outcome)?,
    }))
}

/// The schedule's record, after a barrier so that every acknowledged write is in it.
async fn read(f: &Frontend, namespace: &str, id: &str) -> Result<ScheduleRecord, Status> {
    schedule_id(id)?;
    f.keel.linearizable().await?;
    f.keel.namespace(namespace)?;
    let bytes = f
        .keel
        .store
        .state_get(&keys::schedule(namespace, id))
        .map_err(errors::internal)?
        .ok_or_else(|| errors::rejection(schedules::not_found(id)))?;
    ScheduleRecord::decode(bytes.as_slice()).map_err(errors::internal)
}

pub(super) async fn describe(
    f: &Frontend,
    req: Request<DescribeScheduleRequest>,
) -> Res<DescribeScheduleResponse> {
    let req = req.into_inner();
    let rec = read(f, &req.namespace, &req.schedule_id).await?;
    let now = keel_raft::leader_now();
    Ok(Response::new(DescribeScheduleResponse {
        schedule: Some(schedules::described(&rec)),
        info: Some(schedules::info(&rec, now, rec.encoded_len())),
        memo: rec.memo.clone().filter(|m| !m.fields.is_empty()),
        search_attributes: rec
            .search_attributes
            .clone()
            .filter(|s| !s.indexed_fields.is_empty()),
        conflict_token: schedules::token_bytes(rec.conflict_token),
    }))
}

pub(super) async fn update(
    f: &Frontend,
    req: Request<UpdateScheduleRequest>,
) -> Res<UpdateScheduleResponse> {
    let mut req = req.into_inner();
    let ns = f.keel.namespace(&req.namespace)?;
    schedule_id(&req.schedule_id)?;
    req.schedule = Some(checked_schedule(&ns, req.schedule.take())?);
    checked_attributes(&ns, &mut req.search_attributes)?;
    f.keel.propose(Kind::UpdateSchedule(req)).await?;
    Ok(Response::new(UpdateScheduleResponse {}))
}

pub(super) async fn patch(
    f: &Frontend,
    req: Request<PatchScheduleRequest>,
) -> Res<PatchScheduleResponse> {
    let req = req.into_inner();
    let Some(patch) = &req.patch else {
        return Err(invalid("Patch is not set on request."));
    };
    f.keel.namespace(&req.namespace)?;
    schedule_id(&req.schedule_id)?;
    checked_patch(patch)?;
    f.keel.propose(Kind::PatchSchedule(req)).await?;
    Ok(Response::new(PatchScheduleResponse {}))
}

pub(super) async fn delete(
    f: &Frontend,
    req: Request<DeleteScheduleRequest>,
) -> Res<DeleteScheduleResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    schedule_id(&req.schedule_id)?;
    f.keel.propose(Kind::DeleteSchedule(req)).await?;
    Ok(Response::new(DeleteScheduleResponse {}))
}

pub(super) async fn matching_times(
    f: &Frontend,
    req: Request<ListScheduleMatchingTimesRequest>,
) -> Res<ListScheduleMatchingTimesResponse> {
    let req = req.into_inner();
    let (Some(start), Some(end)) = (
        timestamp_nanos(&req.start_time),
        timestamp_nanos(&req.end_time),
    ) else {
        return Err(invalid("missing or invalid query"));
    };
    let rec = read(f, &req.namespace, &req.schedule_id).await?;
    Ok(Response::new(ListScheduleMatchingTimesResponse {
        start_time: schedules::matching_times(&rec, start, end)
            .into_iter()
            .filter_map(timestamp)
            .collect(),
    }))
}

/// The namespace's schedules matching `query`, in schedule id order, from after `after`,
/// at most `limit`.
async fn matching(
    f: &Frontend,
    namespace: &str,
    query: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ScheduleRecord>, Status> {
    let ns = f.keel.namespace(namespace)?;
    let plan = list::plan(query, &ns.search_attributes).map_err(invalid)?;
    f.keel.linearizable().await?;
    let prefix = keys::schedule_prefix(namespace);
    let mut from = after.map(|id| {
        let mut k = keys::schedule(namespace, id);
        k.push(0);
        k
    });
    let mut out = Vec::new();
    loop {
        let rows = f
            .keel
            .store
            .state_scan(&prefix, from.as_deref(), 256)
            .map_err(errors::internal)?;
        let Some((last, _)) = rows.last() else {
            return Ok(out);
        };
        let mut next = last.clone();
        next.push(0);
        from = Some(next);
        let exhausted = rows.len() < 256;
        for (_, v) in rows {
            let rec = ScheduleRecord::decode(v.as_slice()).map_err(errors::internal)?;
            if plan
                .filter
                .as_ref()
                .is_none_or(|p| eval(p, &rec) == Some(true))
            {
                out.push(rec);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        if exhausted {
            return Ok(out);
        }
    }
}

pub(super) async fn list(
    f: &Frontend,
    req: Request<ListSchedulesRequest>,
) -> Res<ListSchedulesResponse> {
    let req = req.into_inner();
    let size = page_size(req.maximum_page_size);
    // The token is the last schedule id of the previous page.
    let after = if req.next_page_token.is_empty() {
        None
    } else {
        Some(
            String::from_utf8(req.next_page_token.clone())
                .map_err(|_| invalid("invalid page token"))?,
        )
    };
    let recs = matching(f, &req.namespace, &req.query, after.as_deref(), size).await?;
    let now = keel_raft::leader_now();
    let next_page_token = match recs.last() {
        Some(last) if recs.len() == size => last.schedule_id.clone().into_bytes(),
        _ => Vec::new(),
    };
    Ok(Response::new(ListSchedulesResponse {
        schedules: recs.iter().map(|r| schedules::list_entry(r, now)).collect(),
        next_page_token,
    }))
}

pub(super) async fn count(
    f: &Frontend,
    req: Request<CountSchedulesRequest>,
) -> Res<CountSchedulesResponse> {
    let req = req.into_inner();
    let recs = matching(f, &req.namespace, &req.query, None, usize::MAX).await?;
    Ok(Response::new(CountSchedulesResponse {
        count: recs.len() as i64,
        groups: Vec::new(),
    }))
}

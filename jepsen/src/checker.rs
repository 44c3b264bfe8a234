//! The checker: pure code from the recorded operations and the final state of the cluster to
//! a list of anomalies. Each rule is one function named after what it guards; an anomaly
//! names its kind, the workflow and the operations that show it.

use crate::op::{EventSummary, Op, OpKind, Outcome};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One workflow's current run as every node agrees it is at the end (read after healing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalWorkflow {
    pub run_id: String,
    pub events: Vec<EventSummary>,
    /// Payloads of WorkflowExecutionSignaled events, in history order.
    pub signals: Vec<String>,
    /// Update ids of WorkflowExecutionUpdateAccepted events, in history order.
    pub updates_accepted: Vec<String>,
    /// Update ids of WorkflowExecutionUpdateCompleted events, in history order.
    pub updates_completed: Vec<String>,
    pub timers: Vec<TimerCheck>,
    pub activities: Vec<ActivityCheck>,
    /// Nexus operations by scheduled event id: scheduled, and their outcome events.
    pub nexus: Vec<NexusCheck>,
    /// The deployment builds of its WorkflowTaskCompleted events, each once, in history
    /// order ("" for an unversioned worker's).
    pub completed_builds: Vec<String>,
    /// Closed by the end of the run (the liveness bound).
    pub closed: bool,
    /// Pending activities Describe shows paused at the end (open runs only).
    pub paused_activities: usize,
}

/// A timer's stamped times, from TimerStarted and TimerFired.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerCheck {
    pub timer_id: String,
    pub started_ms: i64,
    pub fire_after_ms: i64,
    pub fired_ms: Option<i64>,
}

/// An activity's outcome in history.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityCheck {
    pub scheduled_event_id: i64,
    /// Attempt recorded by ActivityTaskStarted (written with the final outcome).
    pub started_attempt: Option<i32>,
    pub completed: bool,
    pub timed_out: bool,
}

/// A Nexus operation in history: whether its NexusOperationScheduled event is there, how many
/// NexusOperationStarted events it has, and its outcome events (a completion's result;
/// `<failed>` and the like for the others).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NexusCheck {
    pub scheduled_event_id: i64,
    pub scheduled: bool,
    pub started: usize,
    pub outcomes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalState {
    /// By workflow id; a workflow the cluster does not know is absent.
    pub workflows: BTreeMap<String, FinalWorkflow>,
    /// Every node's state checksum after healing.
    pub checksums: Vec<(u64, String)>,
    /// What ListWorkflowExecutions returned after healing (every page), in order:
    /// (workflow id, run id, open).
    pub listed: Vec<(String, String, bool)>,
    /// What CountWorkflowExecutions returned after healing.
    pub counted: i64,
    /// Batch jobs (acknowledged or unknown) as DescribeBatchOperation shows them once
    /// settled; a job the cluster does not have is absent.
    pub batches: BTreeMap<String, FinalBatch>,
    /// The workload's schedule once paused after healing; `None` if the cluster lost it.
    pub schedule: Option<FinalSchedule>,
    /// Every standalone activity a client tried to start, as the cluster describes it after
    /// healing (absent: the cluster does not have it).
    pub standalone: BTreeMap<String, FinalStandalone>,
    /// What ListActivityExecutions returned after healing (every page), in order.
    pub standalone_listed: Vec<String>,
    /// The worker deployment's current build after healing ("" unversioned; `None`: the
    /// cluster does not have the deployment).
    pub deployment_current: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalStandalone {
    pub run_id: String,
    /// `ActivityExecutionStatus`.
    pub status: i32,
    /// A completed one's result.
    pub result: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalSchedule {
    pub create_time_secs: i64,
    pub action_count: i64,
    pub missed_catchup_window: i64,
    /// The workflow id of every run listed with the schedule's `TemporalScheduledById`.
    pub runs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalBatch {
    pub completed: bool,
    pub done: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: &'static str,
    pub workflow_id: String,
    pub detail: String,
    /// Indexes into the operation list.
    pub ops: Vec<usize>,
}

pub fn check(ops: &[Op], end: &FinalState) -> Vec<Anomaly> {
    let mut found = Vec::new();
    acknowledged_starts_exist(ops, end, &mut found);
    one_run_per_workflow_id(ops, &mut found);
    signals_exactly_once(ops, end, &mut found);
    updates_exactly_once(ops, end, &mut found);
    reads_are_prefixes(ops, end, &mut found);
    histories_are_contiguous(end, &mut found);
    replicas_identical(end, &mut found);
    tasks_completed_once(ops, &mut found);
    activity_completions_in_history(ops, end, &mut found);
    timers_not_early(end, &mut found);
    workflows_complete(ops, end, &mut found);
    visibility_matches_histories(end, &mut found);
    batch_jobs_exactly_once(ops, end, &mut found);
    schedule_actions_exactly_once(ops, end, &mut found);
    activity_operations_take(ops, end, &mut found);
    standalone_activities_exactly_once(ops, end, &mut found);
    nexus_outcomes_exactly_once(ops, end, &mut found);
    pinned_runs_stay_on_their_version(end, &mut found);
    routing_changes_durable(ops, end, &mut found);
    found
}

/// Worker versioning: every workflow task of a versioned workflow's run was completed by one
/// version (its runs are pinned), and of an unversioned one by unversioned workers.
fn pinned_runs_stay_on_their_version(end: &FinalState, found: &mut Vec<Anomaly>) {
    for (id, w) in &end.workflows {
        let versioned = id.starts_with(crate::workload::VERSIONED_PREFIX);
        let wrong = if versioned {
            w.completed_builds.len() > 1 || w.completed_builds.iter().any(|b| b.is_empty())
        } else {
            w.completed_builds.iter().any(|b| !b.is_empty())
        };
        if wrong {
            found.push(anomaly(
                "pinned-run-moved",
                id,
                format!(
                    "workflow tasks completed by builds {:?}",
                    w.completed_builds
                ),
                vec![],
            ));
        }
    }
}

/// The deployment's routing after healing is what the last acknowledged change set, or what
/// a later change of unknown outcome did (the router changes it one call at a time).
fn routing_changes_durable(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    let changes: Vec<(usize, &str, &Outcome)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match &op.kind {
            OpKind::SetCurrentVersion { build_id } => Some((i, build_id.as_str(), &op.outcome)),
            _ => None,
        })
        .collect();
    let Some(last_ok) = changes.iter().rposition(|(_, _, o)| **o == Outcome::Ok) else {
        return;
    };
    let mut allowed: Vec<&str> = vec![changes[last_ok].1];
    allowed.extend(
        changes[last_ok + 1..]
            .iter()
            .filter(|(_, _, o)| matches!(o, Outcome::Unknown(_)))
            .map(|(_, b, _)| *b),
    );
    let current = end.deployment_current.as_deref();
    if !current.is_some_and(|c| allowed.contains(&c)) {
        found.push(anomaly(
            "routing-change-lost",
            "",
            format!("current version {current:?} after healing; the changes allow {allowed:?}"),
            vec![changes[last_ok].0],
        ));
    }
}

/// Nexus operations: started and ended at most once, never for an operation that was not
/// scheduled, and an answer the server acknowledged is the outcome the caller's history has
/// (an async answer's: the result of the handler workflow it started).
fn nexus_outcomes_exactly_once(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (id, w) in &end.workflows {
        for n in &w.nexus {
            if !n.scheduled {
                found.push(anomaly(
                    "nexus-outcome-not-scheduled",
                    id,
                    format!(
                        "an outcome for event {}, which scheduled no operation",
                        n.scheduled_event_id
                    ),
                    vec![],
                ));
            }
            if n.started > 1 {
                found.push(anomaly(
                    "nexus-started-twice",
                    id,
                    format!(
                        "operation {}: started {} times",
                        n.scheduled_event_id, n.started
                    ),
                    vec![],
                ));
            }
            if n.outcomes.len() > 1 {
                found.push(anomaly(
                    "nexus-outcome-twice",
                    id,
                    format!(
                        "operation {}: outcomes {:?}",
                        n.scheduled_event_id, n.outcomes
                    ),
                    vec![],
                ));
            }
        }
    }
    for (i, op) in ops.iter().enumerate() {
        let OpKind::AnswerNexus {
            workflow_id,
            run_id,
            scheduled_event_id,
            result,
        } = &op.kind
        else {
            continue;
        };
        if op.outcome != Outcome::Ok {
            continue;
        }
        let Some(w) = end
            .workflows
            .get(workflow_id)
            .filter(|w| &w.run_id == run_id)
        else {
            continue; // a later run took the id: the answered run is not the one read
        };
        let recorded = w
            .nexus
            .iter()
            .find(|n| n.scheduled_event_id == *scheduled_event_id)
            .map(|n| n.outcomes.clone())
            .unwrap_or_default();
        if recorded != [result.clone()] {
            found.push(anomaly(
                "lost-nexus-answer",
                workflow_id,
                format!(
                    "acknowledged answer {result:?} to operation {scheduled_event_id}, history has {recorded:?}"
                ),
                vec![i],
            ));
        }
    }
}

/// Standalone activities: an acknowledged start exists at the end as the run it was
/// answered with, and (its workers ran until every one closed) completed with its own id as
/// the result; no run was acknowledged completed twice, an acknowledged completion is never
/// lost, nothing exists that no client started, and the list shows each exactly once.
fn standalone_activities_exactly_once(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    use temporalio_protos::temporal::api::enums::v1::ActivityExecutionStatus as S;
    let completed = S::Completed as i32;
    let mut started = std::collections::BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        let OpKind::StartActivity {
            activity_id,
            run_id,
        } = &op.kind
        else {
            continue;
        };
        started.insert(activity_id.as_str());
        if op.outcome != Outcome::Ok {
            continue;
        }
        match end.standalone.get(activity_id) {
            None => found.push(anomaly(
                "lost-standalone-start",
                activity_id,
                "acknowledged start, no such activity at the end".into(),
                vec![i],
            )),
            Some(a) if Some(&a.run_id) != run_id.as_ref() => found.push(anomaly(
                "lost-standalone-start",
                activity_id,
                format!(
                    "acknowledged run {run_id:?}, the activity's run {}",
                    a.run_id
                ),
                vec![i],
            )),
            Some(a) if a.status != completed => found.push(anomaly(
                "standalone-not-completed",
                activity_id,
                format!("status {} after healing", a.status),
                vec![i],
            )),
            Some(a) if a.result.as_deref() != Some(activity_id.as_str()) => found.push(anomaly(
                "standalone-wrong-result",
                activity_id,
                format!("result {:?}", a.result),
                vec![i],
            )),
            Some(_) => {}
        }
    }
    let mut completions: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, op) in ok_ops(ops) {
        if let OpKind::CompleteStandalone {
            activity_id,
            run_id,
            ..
        } = &op.kind
        {
            completions
                .entry((activity_id, run_id))
                .or_default()
                .push(i);
        }
    }
    for ((id, run), acked) in completions {
        if acked.len() > 1 {
            found.push(anomaly(
                "standalone-completed-twice",
                id,
                format!("{} acknowledged completions of run {run}", acked.len()),
                acked.clone(),
            ));
        }
        match end.standalone.get(id) {
            Some(a) if a.run_id == run && a.status == completed => {}
            other => found.push(anomaly(
                "lost-standalone-completion",
                id,
                format!("acknowledged completion of run {run}, at the end {other:?}"),
                acked,
            )),
        }
    }
    for id in end.standalone.keys() {
        let times = end.standalone_listed.iter().filter(|l| *l == id).count();
        if times != 1 {
            found.push(anomaly(
                "standalone-visibility",
                id,
                format!("listed {times} times"),
                vec![],
            ));
        }
    }
    for id in &end.standalone_listed {
        if !started.contains(id.as_str()) {
            found.push(anomaly(
                "phantom-standalone",
                id,
                "listed, but no client started it".into(),
                vec![],
            ));
        } else if !end.standalone.contains_key(id) {
            found.push(anomaly(
                "standalone-visibility",
                id,
                "listed, but describe does not find it".into(),
                vec![],
            ));
        }
    }
}

/// The run of the schedule's action for nominal time `secs`.
fn scheduled_run(secs: i64) -> String {
    format!(
        "{}-{}",
        crate::workload::SCHEDULED_WORKFLOW_ID,
        keel_engine::time::format_rfc3339(secs * 1_000_000_000)
    )
}

/// The schedule (every second, ALLOW_ALL, a year's catch-up window) started each second
/// from its creation to its last action exactly once, missed none, counted each run once;
/// an acknowledged trigger started its run, a refused one did not.
fn schedule_actions_exactly_once(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    let created = ops.iter().position(|op| {
        matches!(op.kind, OpKind::CreateSchedule { .. }) && op.outcome == Outcome::Ok
    });
    let Some(s) = &end.schedule else {
        if let Some(i) = created {
            found.push(anomaly(
                "schedule-lost",
                crate::workload::SCHEDULE_ID,
                "created, then gone".into(),
                vec![i],
            ));
        }
        return;
    };
    let mut seen = BTreeSet::new();
    for run in &s.runs {
        if !seen.insert(run.clone()) {
            found.push(anomaly(
                "schedule-action-duplicated",
                run,
                "started twice".into(),
                vec![],
            ));
        }
    }
    if s.action_count != seen.len() as i64 {
        found.push(anomaly(
            "schedule-miscounted",
            crate::workload::SCHEDULE_ID,
            format!("{} actions counted, {} runs", s.action_count, seen.len()),
            vec![],
        ));
    }
    if s.missed_catchup_window != 0 {
        found.push(anomaly(
            "schedule-missed",
            crate::workload::SCHEDULE_ID,
            format!(
                "{} times missed inside a year's catch-up window",
                s.missed_catchup_window
            ),
            vec![],
        ));
    }
    // Scheduled runs sort before the triggers' (2099) and by time among themselves.
    let first_trigger = scheduled_run(crate::workload::TRIGGER_BASE_SECS);
    if let Some(last) = seen.range(..first_trigger).next_back() {
        let mut secs = s.create_time_secs + 1;
        while scheduled_run(secs) <= *last {
            if !seen.contains(&scheduled_run(secs)) {
                found.push(anomaly(
                    "schedule-action-lost",
                    &scheduled_run(secs),
                    "a due time before the last action was never started".into(),
                    vec![],
                ));
            }
            secs += 1;
        }
    }
    for (i, op) in ops.iter().enumerate() {
        let OpKind::TriggerSchedule { nominal_secs } = &op.kind else {
            continue;
        };
        let run = scheduled_run(*nominal_secs);
        match (&op.outcome, seen.contains(&run)) {
            (Outcome::Ok, false) => found.push(anomaly(
                "schedule-trigger-lost",
                &run,
                "acknowledged, never started".into(),
                vec![i],
            )),
            (Outcome::Fail(_), true) => found.push(anomaly(
                "schedule-trigger-phantom",
                &run,
                "refused, but started".into(),
                vec![i],
            )),
            _ => {}
        }
    }
}

/// A batch job's signal reaches each target at most once (never for a refused job), an
/// acknowledged job completes after healing, and a completed job counted each target once.
fn batch_jobs_exactly_once(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (i, op) in ops.iter().enumerate() {
        let OpKind::BatchSignal { job_id, targets } = &op.kind else {
            continue;
        };
        let mut distinct: Vec<&String> = targets.iter().collect();
        distinct.sort();
        distinct.dedup();
        for wf in distinct {
            let seen = end
                .workflows
                .get(wf)
                .map_or(0, |w| w.signals.iter().filter(|p| *p == job_id).count());
            let allowed = if matches!(op.outcome, Outcome::Fail(_)) {
                0
            } else {
                1
            };
            if seen > allowed {
                found.push(anomaly(
                    "batch-signal-duplicated",
                    wf,
                    format!(
                        "job {job_id} ({}) signalled it {seen} times",
                        op.outcome.label()
                    ),
                    vec![i],
                ));
            }
        }
        let job = end.batches.get(job_id);
        match (&op.outcome, job) {
            (Outcome::Ok, None) => found.push(anomaly(
                "batch-lost",
                "",
                format!("acknowledged job {job_id} does not exist"),
                vec![i],
            )),
            (Outcome::Ok | Outcome::Unknown(_), Some(j)) if !j.completed => found.push(anomaly(
                "batch-incomplete",
                "",
                format!("job {job_id} did not complete after healing"),
                vec![i],
            )),
            (Outcome::Ok | Outcome::Unknown(_), Some(j))
                if j.done + j.failed != targets.len() as i64 =>
            {
                found.push(anomaly(
                    "batch-miscounted",
                    "",
                    format!(
                        "job {job_id}: {} done + {} failed for {} targets",
                        j.done,
                        j.failed,
                        targets.len()
                    ),
                    vec![i],
                ))
            }
            _ => {}
        }
    }
}

/// After healing, List shows each run once, every workflow's current run among them with the
/// state its history ends in (open or closed), no run the cluster does not have, and Count
/// agrees with the list: visibility is written with the change it describes, so it never lags.
fn visibility_matches_histories(end: &FinalState, found: &mut Vec<Anomaly>) {
    let mut seen = BTreeSet::new();
    for (wf, run, _) in &end.listed {
        if !seen.insert((wf.clone(), run.clone())) {
            found.push(anomaly(
                "visibility-duplicate",
                wf,
                format!("run {run} listed twice"),
                vec![],
            ));
        }
        if !end.workflows.contains_key(wf) {
            found.push(anomaly(
                "visibility-phantom",
                wf,
                format!("run {run} listed, but the workflow does not exist"),
                vec![],
            ));
        }
    }
    for (wf, w) in &end.workflows {
        match end
            .listed
            .iter()
            .find(|(id, run, _)| id == wf && *run == w.run_id)
        {
            None => found.push(anomaly(
                "visibility-missing",
                wf,
                format!("current run {} not listed", w.run_id),
                vec![],
            )),
            Some((_, _, open)) if *open == w.closed => found.push(anomaly(
                "visibility-stale",
                wf,
                format!(
                    "run {} listed as {}, its history says {}",
                    w.run_id,
                    if *open { "open" } else { "closed" },
                    if w.closed { "closed" } else { "open" }
                ),
                vec![],
            )),
            Some(_) => {}
        }
    }
    if end.counted != end.listed.len() as i64 {
        found.push(anomaly(
            "visibility-count",
            "",
            format!("count {} but {} runs listed", end.counted, end.listed.len()),
            vec![],
        ));
    }
}

fn anomaly(kind: &'static str, wf: &str, detail: String, ops: Vec<usize>) -> Anomaly {
    Anomaly {
        kind,
        workflow_id: wf.to_string(),
        detail,
        ops,
    }
}

fn ok_ops(ops: &[Op]) -> impl Iterator<Item = (usize, &Op)> {
    ops.iter()
        .enumerate()
        .filter(|(_, o)| o.outcome == Outcome::Ok)
}

/// Every acknowledged start exists at the end, as the run the server answered with.
fn acknowledged_starts_exist(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (i, op) in ok_ops(ops) {
        let OpKind::Start {
            workflow_id,
            run_id,
            ..
        } = &op.kind
        else {
            continue;
        };
        match end.workflows.get(workflow_id) {
            None => found.push(anomaly(
                "lost-start",
                workflow_id,
                "acknowledged start, no such workflow at the end".into(),
                vec![i],
            )),
            Some(w) if Some(&w.run_id) != run_id.as_ref() => found.push(anomaly(
                "lost-start",
                workflow_id,
                format!("acknowledged run {run_id:?}, current run {}", w.run_id),
                vec![i],
            )),
            Some(_) => {}
        }
    }
}

/// Runs never close during the workload, so every acknowledged start of one id must name the
/// same run: two means two runs were open at once.
fn one_run_per_workflow_id(ops: &[Op], found: &mut Vec<Anomaly>) {
    let mut runs: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, op) in ok_ops(ops) {
        if let OpKind::Start {
            workflow_id,
            run_id: Some(run),
            ..
        } = &op.kind
        {
            runs.entry(workflow_id)
                .or_default()
                .entry(run)
                .or_default()
                .push(i);
        }
    }
    for (wf, by_run) in runs {
        if by_run.len() > 1 {
            found.push(anomaly(
                "two-open-runs",
                wf,
                format!("{} runs acknowledged: {:?}", by_run.len(), by_run.keys()),
                by_run.values().flatten().copied().collect(),
            ));
        }
    }
}

/// An acknowledged signal appears exactly once; an unknown one at most once; a failed one
/// not at all.
fn signals_exactly_once(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (i, op) in ops.iter().enumerate() {
        let OpKind::Signal {
            workflow_id,
            payload,
        } = &op.kind
        else {
            continue;
        };
        let seen = end
            .workflows
            .get(workflow_id)
            .map_or(0, |w| w.signals.iter().filter(|p| *p == payload).count());
        let (ok, kind) = match op.outcome {
            Outcome::Ok => (
                seen == 1,
                if seen == 0 {
                    "lost-signal"
                } else {
                    "duplicated-signal"
                },
            ),
            Outcome::Unknown(_) => (seen <= 1, "duplicated-signal"),
            Outcome::Fail(_) => (seen == 0, "failed-signal-applied"),
        };
        if !ok {
            found.push(anomaly(
                kind,
                workflow_id,
                format!(
                    "signal {payload} ({}) appears {seen} times",
                    op.outcome.label()
                ),
                vec![i],
            ));
        }
    }
}

/// An update acknowledged with its result is in history exactly once, accepted and
/// completed, with that result; one whose fate is unknown at most once; a failed one never.
/// No update id is ever accepted twice.
fn updates_exactly_once(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (i, op) in ops.iter().enumerate() {
        let OpKind::Update {
            workflow_id,
            update_id,
            result,
        } = &op.kind
        else {
            continue;
        };
        let count = |ids: &[String]| ids.iter().filter(|u| *u == update_id).count();
        let (accepted, completed) = end.workflows.get(workflow_id).map_or((0, 0), |w| {
            (count(&w.updates_accepted), count(&w.updates_completed))
        });
        let problem = match op.outcome {
            Outcome::Ok if (accepted, completed) == (0, 0) => Some("lost-update"),
            Outcome::Ok if result.as_deref() != Some(update_id.as_str()) => {
                Some("wrong-update-result")
            }
            Outcome::Ok if (accepted, completed) != (1, 1) => Some("duplicated-update"),
            Outcome::Unknown(_) if accepted > 1 || completed > 1 => Some("duplicated-update"),
            Outcome::Fail(_) if accepted > 0 => Some("failed-update-applied"),
            _ => None,
        };
        if let Some(kind) = problem {
            found.push(anomaly(
                kind,
                workflow_id,
                format!(
                    "update {update_id} ({}) accepted {accepted} times, completed {completed} times",
                    op.outcome.label()
                ),
                vec![i],
            ));
        }
    }
}

/// Every history read during the run is a prefix of the final history of that run.
fn reads_are_prefixes(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (i, op) in ok_ops(ops) {
        let OpKind::Read {
            workflow_id,
            run_id: Some(run),
            events,
        } = &op.kind
        else {
            continue;
        };
        let Some(w) = end.workflows.get(workflow_id) else {
            found.push(anomaly(
                "read-of-lost-workflow",
                workflow_id,
                format!(
                    "read {} events of a workflow absent at the end",
                    events.len()
                ),
                vec![i],
            ));
            continue;
        };
        if &w.run_id != run {
            continue;
        }
        if !w.events.starts_with(events) {
            let diverge = events
                .iter()
                .zip(&w.events)
                .position(|(a, b)| a != b)
                .unwrap_or(w.events.len());
            found.push(anomaly(
                "read-not-a-prefix",
                workflow_id,
                format!(
                    "read {} events, final {}; first difference at position {diverge}",
                    events.len(),
                    w.events.len()
                ),
                vec![i],
            ));
        }
    }
}

fn histories_are_contiguous(end: &FinalState, found: &mut Vec<Anomaly>) {
    for (wf, w) in &end.workflows {
        if let Some(pos) = w
            .events
            .iter()
            .enumerate()
            .position(|(n, e)| e.event_id != n as i64 + 1)
        {
            found.push(anomaly(
                "event-ids-not-contiguous",
                wf,
                format!("event at position {pos} has id {}", w.events[pos].event_id),
                vec![],
            ));
        }
    }
}

fn replicas_identical(end: &FinalState, found: &mut Vec<Anomaly>) {
    let distinct: BTreeSet<&str> = end.checksums.iter().map(|(_, c)| c.as_str()).collect();
    if distinct.len() > 1 {
        found.push(anomaly(
            "replicas-differ",
            "",
            format!("state checksums after healing: {:?}", end.checksums),
            vec![],
        ));
    }
}

/// No workflow task or activity task is accepted as completed twice.
fn tasks_completed_once(ops: &[Op], found: &mut Vec<Anomaly>) {
    let mut seen: BTreeMap<(&'static str, &str, &str, i64), Vec<usize>> = BTreeMap::new();
    for (i, op) in ok_ops(ops) {
        let key = match &op.kind {
            OpKind::CompleteWorkflowTask {
                workflow_id,
                run_id,
                started_event_id,
            } => (
                "workflow-task-completed-twice",
                workflow_id.as_str(),
                run_id.as_str(),
                *started_event_id,
            ),
            OpKind::CompleteActivity {
                workflow_id,
                run_id,
                scheduled_event_id,
                ..
            } => (
                "activity-completed-twice",
                workflow_id.as_str(),
                run_id.as_str(),
                *scheduled_event_id,
            ),
            _ => continue,
        };
        seen.entry(key).or_default().push(i);
    }
    for ((kind, wf, run, id), idx) in seen {
        if idx.len() > 1 {
            found.push(anomaly(
                kind,
                wf,
                format!("run {run}, event {id}: accepted {} times", idx.len()),
                idx,
            ));
        }
    }
}

/// An accepted activity completion is the activity's outcome in history, for the attempt
/// that history says started; a completion after a timeout fired must have been refused.
fn activity_completions_in_history(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    for (i, op) in ok_ops(ops) {
        let OpKind::CompleteActivity {
            workflow_id,
            run_id,
            scheduled_event_id,
            attempt,
        } = &op.kind
        else {
            continue;
        };
        let Some(w) = end
            .workflows
            .get(workflow_id)
            .filter(|w| &w.run_id == run_id)
        else {
            continue;
        };
        let a = w
            .activities
            .iter()
            .find(|a| a.scheduled_event_id == *scheduled_event_id);
        let problem = match a {
            None => Some("no such activity in history".to_string()),
            Some(a) if a.timed_out => {
                Some("history says timed out, yet a completion was accepted".into())
            }
            Some(a) if !a.completed => Some("accepted completion missing from history".into()),
            Some(a) if a.started_attempt != Some(*attempt) => Some(format!(
                "accepted attempt {attempt}, history started attempt {:?}",
                a.started_attempt
            )),
            Some(_) => None,
        };
        if let Some(p) = problem {
            found.push(anomaly(
                "activity-completion-mismatch",
                workflow_id,
                format!("activity scheduled at {scheduled_event_id}: {p}"),
                vec![i],
            ));
        }
    }
    for (wf, w) in &end.workflows {
        for a in w.activities.iter().filter(|a| a.timed_out && a.completed) {
            found.push(anomaly(
                "completed-after-timeout",
                wf,
                format!(
                    "activity {} both timed out and completed",
                    a.scheduled_event_id
                ),
                vec![],
            ));
        }
    }
}

/// No timer fires before its due time by the stamped clock.
fn timers_not_early(end: &FinalState, found: &mut Vec<Anomaly>) {
    for (wf, w) in &end.workflows {
        for t in &w.timers {
            if let Some(fired) = t.fired_ms {
                let due = t.started_ms + t.fire_after_ms;
                if fired < due {
                    found.push(anomaly(
                        "timer-fired-early",
                        wf,
                        format!("timer {} fired {} ms before due", t.timer_id, due - fired),
                        vec![],
                    ));
                }
            }
        }
    }
}

/// Liveness: after healing, every workflow that exists completes within the bound.
fn workflows_complete(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    let started: BTreeSet<&str> = ops
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Start { workflow_id, .. } => Some(workflow_id.as_str()),
            _ => None,
        })
        .collect();
    for (wf, w) in &end.workflows {
        if started.contains(wf.as_str()) && !w.closed {
            found.push(anomaly(
                "not-completed",
                wf,
                format!("still open at the end ({} events)", w.events.len()),
                vec![],
            ));
        }
    }
}

/// Pausing and unpausing an activity is never refused as malformed or unknown to the server
/// (INVALID_ARGUMENT, UNIMPLEMENTED: the request the workload sends is always valid; the
/// activity being gone or paused by another request, faults and unreachable members give
/// other answers); an activity whose workflow's unpause-all was acknowledged after healing is
/// not paused at the end.
fn activity_operations_take(ops: &[Op], end: &FinalState, found: &mut Vec<Anomaly>) {
    let mut swept = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let (wf, all) = match &op.kind {
            OpKind::PauseActivity { workflow_id, .. } => (workflow_id, false),
            OpKind::UnpauseActivity { workflow_id, all } => (workflow_id, *all),
            _ => continue,
        };
        if let Outcome::Fail(why) = &op.outcome {
            if why.starts_with("InvalidArgument") || why.starts_with("Unimplemented") {
                found.push(anomaly(
                    "activity-op-refused",
                    wf,
                    format!("{}: {why}", op.kind.name()),
                    vec![i],
                ));
            }
        }
        if all && op.outcome == Outcome::Ok {
            swept.insert(wf.as_str(), i);
        }
    }
    for (wf, w) in &end.workflows {
        if let (Some(i), true) = (swept.get(wf.as_str()), w.paused_activities > 0) {
            found.push(anomaly(
                "paused-after-unpause",
                wf,
                format!("{} activities still paused", w.paused_activities),
                vec![*i],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::TRIGGER_BASE_SECS as TRIGGER_BASE;

    fn op(kind: OpKind, outcome: Outcome) -> Op {
        Op {
            process: "c0".into(),
            kind,
            invoke_ms: 0,
            complete_ms: 1,
            outcome,
        }
    }

    fn start(wf: &str, run: &str) -> Op {
        op(
            OpKind::Start {
                workflow_id: wf.into(),
                repeat: false,
                run_id: Some(run.into()),
            },
            Outcome::Ok,
        )
    }

    fn signal(wf: &str, payload: &str, outcome: Outcome) -> Op {
        op(
            OpKind::Signal {
                workflow_id: wf.into(),
                payload: payload.into(),
            },
            outcome,
        )
    }

    fn events(n: i64) -> Vec<EventSummary> {
        (1..=n)
            .map(|id| EventSummary {
                event_id: id,
                event_type: 1,
            })
            .collect()
    }

    /// A healthy end state: workflow "w" run "r" closed, with `signals`.
    fn healthy(signals: &[&str]) -> FinalState {
        let mut end = FinalState {
            checksums: vec![(1, "a".into()), (2, "a".into())],
            listed: vec![("w".into(), "r".into(), false)],
            counted: 1,
            ..Default::default()
        };
        end.workflows.insert(
            "w".into(),
            FinalWorkflow {
                run_id: "r".into(),
                events: events(5),
                signals: signals.iter().map(|s| s.to_string()).collect(),
                closed: true,
                ..Default::default()
            },
        );
        end
    }

    fn kinds(found: &[Anomaly]) -> Vec<&'static str> {
        found.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn a_clean_history_has_no_anomalies() {
        let ops = vec![
            start("w", "r"),
            signal("w", "s1", Outcome::Ok),
            signal("w", "s2", Outcome::Unknown("Unavailable".into())),
            signal("w", "s3", Outcome::Fail("NotFound".into())),
        ];
        assert_eq!(check(&ops, &healthy(&["s1", "s2"])), vec![]);
    }

    #[test]
    fn lists_that_lag_miss_duplicate_or_invent_runs_are_found() {
        let ops = vec![start("w", "r")];
        let mut end = healthy(&[]);
        end.listed = vec![
            ("w".into(), "r".into(), true),
            ("w".into(), "r".into(), true),
            ("ghost".into(), "g".into(), false),
        ];
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "visibility-duplicate",
                "visibility-phantom",
                "visibility-stale",
                "visibility-count"
            ]
        );
        end.listed.clear();
        end.counted = 0;
        assert_eq!(kinds(&check(&ops, &end)), vec!["visibility-missing"]);
    }

    fn batch(job: &str, targets: &[&str], outcome: Outcome) -> Op {
        op(
            OpKind::BatchSignal {
                job_id: job.into(),
                targets: targets.iter().map(|t| t.to_string()).collect(),
            },
            outcome,
        )
    }

    #[test]
    fn batch_jobs_lost_incomplete_miscounted_or_signalling_twice_are_found() {
        let ops = vec![
            start("w", "r"),
            batch("fine", &["w", "w"], Outcome::Ok),
            batch("twice", &["w"], Outcome::Unknown("Unavailable".into())),
            batch("refused", &["w"], Outcome::Fail("ResourceExhausted".into())),
            batch("lost", &["w"], Outcome::Ok),
            batch("stuck", &["w"], Outcome::Ok),
            batch("miscounted", &["w"], Outcome::Ok),
        ];
        // "fine" names w twice: the job acts twice, the run takes the signal once.
        let mut end = healthy(&["fine", "twice", "twice", "refused"]);
        let done = |done, completed| FinalBatch {
            completed,
            done,
            failed: 0,
        };
        end.batches.insert("fine".into(), done(2, true));
        end.batches.insert("twice".into(), done(1, true));
        end.batches.insert("stuck".into(), done(0, false));
        end.batches.insert("miscounted".into(), done(2, true));
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "batch-signal-duplicated",
                "batch-signal-duplicated",
                "batch-lost",
                "batch-incomplete",
                "batch-miscounted"
            ]
        );
    }

    #[test]
    fn schedule_actions_lost_duplicated_missed_or_triggered_wrongly_are_found() {
        let created = 1_800_000_000;
        let trigger = |secs, outcome| op(OpKind::TriggerSchedule { nominal_secs: secs }, outcome);
        let ops = vec![
            op(
                OpKind::CreateSchedule {
                    schedule_id: "js".into(),
                },
                Outcome::Ok,
            ),
            trigger(TRIGGER_BASE + 1, Outcome::Ok),
            trigger(TRIGGER_BASE + 2, Outcome::Ok),
            trigger(TRIGGER_BASE + 3, Outcome::Fail("InvalidArgument".into())),
            trigger(TRIGGER_BASE + 4, Outcome::Unknown("Unavailable".into())),
        ];
        let runs = |secs: &[i64]| secs.iter().map(|s| scheduled_run(*s)).collect::<Vec<_>>();
        let fine = FinalSchedule {
            create_time_secs: created,
            action_count: 5,
            missed_catchup_window: 0,
            runs: runs(&[
                created + 1,
                created + 2,
                created + 3,
                TRIGGER_BASE + 1,
                TRIGGER_BASE + 2,
            ]),
        };
        let mut end = FinalState {
            schedule: Some(fine.clone()),
            ..Default::default()
        };
        assert_eq!(check(&ops, &end), vec![]);
        let kinds = |end: &FinalState| {
            let mut found = Vec::new();
            schedule_actions_exactly_once(&ops, end, &mut found);
            found.iter().map(|a| a.kind).collect::<Vec<_>>()
        };
        end.schedule = Some(FinalSchedule {
            action_count: 6,
            missed_catchup_window: 1,
            runs: runs(&[
                created + 1,
                created + 3,
                created + 3,
                TRIGGER_BASE + 2,
                TRIGGER_BASE + 3,
                TRIGGER_BASE + 4,
            ]),
            ..fine
        });
        assert_eq!(
            kinds(&end),
            [
                "schedule-action-duplicated",
                "schedule-miscounted",
                "schedule-missed",
                "schedule-action-lost",
                "schedule-trigger-lost",
                "schedule-trigger-phantom"
            ]
        );
        end.schedule = None;
        assert_eq!(kinds(&end), ["schedule-lost"]);
    }

    fn update(id: &str, result: Option<&str>, outcome: Outcome) -> Op {
        op(
            OpKind::Update {
                workflow_id: "w".into(),
                update_id: id.into(),
                result: result.map(str::to_string),
            },
            outcome,
        )
    }

    #[test]
    fn lost_duplicated_wrong_and_failed_updates_are_found() {
        let ops = vec![
            start("w", "r"),
            update("fine", Some("fine"), Outcome::Ok),
            update("maybe", None, Outcome::Unknown("DeadlineExceeded".into())),
            update("lost", Some("lost"), Outcome::Ok),
            update("twice", Some("twice"), Outcome::Ok),
            update("wrong", Some("other"), Outcome::Ok),
            update("refused", None, Outcome::Fail("NotFound".into())),
        ];
        let mut end = healthy(&[]);
        let w = end.workflows.get_mut("w").unwrap();
        for id in ["fine", "maybe", "twice", "twice", "wrong", "refused"] {
            w.updates_accepted.push(id.into());
            w.updates_completed.push(id.into());
        }
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "lost-update",
                "duplicated-update",
                "wrong-update-result",
                "failed-update-applied"
            ]
        );
    }

    #[test]
    fn lost_and_duplicated_signals_are_found() {
        let ops = vec![
            start("w", "r"),
            signal("w", "lost", Outcome::Ok),
            signal("w", "twice", Outcome::Ok),
            signal(
                "w",
                "unknown-twice",
                Outcome::Unknown("DeadlineExceeded".into()),
            ),
            signal("w", "failed", Outcome::Fail("NotFound".into())),
        ];
        let end = healthy(&["twice", "twice", "unknown-twice", "unknown-twice", "failed"]);
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "lost-signal",
                "duplicated-signal",
                "duplicated-signal",
                "failed-signal-applied"
            ]
        );
    }

    #[test]
    fn a_lost_start_and_two_open_runs_are_found() {
        let ops = vec![start("w", "r"), start("w", "r2"), start("gone", "x")];
        let found = check(&ops, &healthy(&[]));
        assert_eq!(
            kinds(&found),
            vec!["lost-start", "lost-start", "two-open-runs"]
        );
        assert_eq!(found[2].ops, vec![0, 1]);
    }

    #[test]
    fn a_read_that_is_not_a_prefix_is_found() {
        let mut bad = events(3);
        bad[2].event_type = 9;
        let read = |events| {
            op(
                OpKind::Read {
                    workflow_id: "w".into(),
                    run_id: Some("r".into()),
                    events,
                },
                Outcome::Ok,
            )
        };
        let ops = vec![start("w", "r"), read(events(4)), read(bad), read(events(6))];
        let found = check(&ops, &healthy(&[]));
        assert_eq!(
            kinds(&found),
            vec!["read-not-a-prefix", "read-not-a-prefix"]
        );
        assert_eq!(found[0].ops, vec![2]);
        assert_eq!(found[1].ops, vec![3]);
    }

    #[test]
    fn gaps_diverging_replicas_early_timers_and_open_workflows_are_found() {
        let mut end = healthy(&[]);
        end.checksums.push((3, "b".into()));
        let w = end.workflows.get_mut("w").unwrap();
        w.events.remove(2);
        w.closed = false;
        end.listed[0].2 = true; // listed open, as its history says
        let w = end.workflows.get_mut("w").unwrap();
        w.timers = vec![
            TimerCheck {
                timer_id: "ok".into(),
                started_ms: 1_000,
                fire_after_ms: 1_000,
                fired_ms: Some(2_000),
            },
            TimerCheck {
                timer_id: "early".into(),
                started_ms: 1_000,
                fire_after_ms: 1_000,
                fired_ms: Some(1_999),
            },
        ];
        assert_eq!(
            kinds(&check(&[start("w", "r")], &end)),
            vec![
                "event-ids-not-contiguous",
                "replicas-differ",
                "timer-fired-early",
                "not-completed"
            ]
        );
    }

    #[test]
    fn tasks_accepted_twice_and_stale_activity_completions_are_found() {
        let wt = || {
            op(
                OpKind::CompleteWorkflowTask {
                    workflow_id: "w".into(),
                    run_id: "r".into(),
                    started_event_id: 3,
                },
                Outcome::Ok,
            )
        };
        let act = |attempt| {
            op(
                OpKind::CompleteActivity {
                    workflow_id: "w".into(),
                    run_id: "r".into(),
                    scheduled_event_id: 5,
                    attempt,
                },
                Outcome::Ok,
            )
        };
        let mut end = healthy(&[]);
        end.workflows.get_mut("w").unwrap().activities = vec![ActivityCheck {
            scheduled_event_id: 5,
            started_attempt: Some(2),
            completed: true,
            timed_out: false,
        }];
        let ops = vec![start("w", "r"), wt(), wt(), act(1), act(2)];
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "activity-completed-twice",
                "workflow-task-completed-twice",
                "activity-completion-mismatch"
            ]
        );
        // Only the attempt history started may complete it.
        assert_eq!(
            kinds(&check(&[start("w", "r"), act(2)], &end)),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_completion_after_a_timeout_is_found() {
        let mut end = healthy(&[]);
        end.workflows.get_mut("w").unwrap().activities = vec![ActivityCheck {
            scheduled_event_id: 5,
            started_attempt: Some(1),
            completed: true,
            timed_out: true,
        }];
        assert_eq!(
            kinds(&check(&[start("w", "r")], &end)),
            vec!["completed-after-timeout"]
        );
    }

    #[test]
    fn an_activity_left_paused_after_an_acknowledged_unpause_or_a_bad_refusal_is_found() {
        let pause = |outcome| {
            op(
                OpKind::PauseActivity {
                    workflow_id: "w".into(),
                    request_id: "p".into(),
                },
                outcome,
            )
        };
        let unpause_all = op(
            OpKind::UnpauseActivity {
                workflow_id: "w".into(),
                all: true,
            },
            Outcome::Ok,
        );
        let expected_refusals = vec![
            start("w", "r"),
            pause(Outcome::Fail("NotFound: no pending activity".into())),
            pause(Outcome::Fail("FailedPrecondition: already paused".into())),
            pause(Outcome::Fail("ResourceExhausted: h2 protocol error".into())),
            unpause_all.clone(),
        ];
        assert_eq!(check(&expected_refusals, &healthy(&[])), vec![]);

        let mut end = healthy(&[]);
        let w = end.workflows.get_mut("w").unwrap();
        w.closed = false;
        w.paused_activities = 1;
        end.listed = vec![("w".into(), "r".into(), true)];
        let ops = vec![
            start("w", "r"),
            pause(Outcome::Fail("InvalidArgument: bad".into())),
            unpause_all,
        ];
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "not-completed",
                "activity-op-refused",
                "paused-after-unpause"
            ]
        );
    }

    #[test]
    fn standalone_activities_lost_twice_completed_or_phantom_are_found() {
        use temporalio_protos::temporal::api::enums::v1::ActivityExecutionStatus as S;
        let start = |id: &str, outcome| {
            op(
                OpKind::StartActivity {
                    activity_id: id.into(),
                    run_id: (outcome == Outcome::Ok).then(|| format!("run-{id}")),
                },
                outcome,
            )
        };
        let complete = |id: &str| {
            op(
                OpKind::CompleteStandalone {
                    activity_id: id.into(),
                    run_id: format!("run-{id}"),
                    attempt: 1,
                },
                Outcome::Ok,
            )
        };
        let done = |id: &str| FinalStandalone {
            run_id: format!("run-{id}"),
            status: S::Completed as i32,
            result: Some(id.to_string()),
        };
        let ops = vec![
            start("fine", Outcome::Ok),
            complete("fine"),
            start("lost", Outcome::Ok),
            start("twice", Outcome::Ok),
            complete("twice"),
            complete("twice"),
            start("maybe", Outcome::Unknown("timeout".into())),
        ];
        let mut end = FinalState::default();
        for id in ["fine", "twice"] {
            end.standalone.insert(id.into(), done(id));
        }
        end.standalone_listed = vec!["fine".into(), "twice".into(), "ghost".into()];
        let kinds: Vec<_> = check(&ops, &end)
            .into_iter()
            .filter(|a| a.kind.contains("standalone"))
            .map(|a| (a.kind, a.workflow_id))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("lost-standalone-start", "lost".to_string()),
                ("standalone-completed-twice", "twice".to_string()),
                ("phantom-standalone", "ghost".to_string()),
            ]
        );
        // Nothing to report once the lost one is there and the ghost is gone.
        end.standalone.insert("lost".into(), done("lost"));
        end.standalone_listed = vec!["fine".into(), "twice".into(), "lost".into()];
        // (the first five operations: one acknowledged completion of "twice")
        let left: Vec<_> = check(&ops[..5], &end)
            .into_iter()
            .filter(|a| a.kind.contains("standalone"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn nexus_outcomes_twice_unscheduled_or_lost_are_found() {
        let answer = |id: i64, result: &str, outcome: Outcome| {
            op(
                OpKind::AnswerNexus {
                    workflow_id: "w".into(),
                    run_id: "r".into(),
                    scheduled_event_id: id,
                    result: result.into(),
                },
                outcome,
            )
        };
        let ops = vec![
            start("w", "r"),
            answer(5, "req/1", Outcome::Ok),
            answer(6, "req6/2", Outcome::Unknown("DeadlineExceeded".into())),
            answer(7, "req7/1", Outcome::Ok),
            answer(8, "req8/1", Outcome::Fail("NotFound".into())),
        ];
        let mut end = healthy(&[]);
        let check_of = |id: i64, scheduled: bool, outcomes: &[&str]| NexusCheck {
            scheduled_event_id: id,
            scheduled,
            started: 0,
            outcomes: outcomes.iter().map(|o| o.to_string()).collect(),
        };
        end.workflows.get_mut("w").unwrap().nexus = vec![
            check_of(5, true, &["req/1"]),
            check_of(6, true, &["req6/1", "req6/2"]),
            check_of(7, true, &["req7/2"]),
            check_of(8, true, &["req8/2"]),
            check_of(9, false, &["<failed>"]),
            NexusCheck {
                started: 2,
                ..check_of(10, true, &[])
            },
        ];
        assert_eq!(
            kinds(&check(&ops, &end)),
            vec![
                "nexus-outcome-twice",
                "nexus-outcome-not-scheduled",
                "nexus-started-twice",
                "lost-nexus-answer"
            ]
        );
    }

    #[test]
    fn a_pinned_run_that_moved_and_a_lost_routing_change_are_anomalies() {
        let mut end = healthy(&[]);
        let w = end.workflows["w"].clone();
        for (id, builds) in [
            ("jv-1", vec!["a"]),
            ("jv-2", vec!["a", "b"]),
            ("jv-3", vec![""]),
            ("jw-4", vec!["b"]),
        ] {
            end.workflows.insert(
                id.into(),
                FinalWorkflow {
                    completed_builds: builds.into_iter().map(String::from).collect(),
                    ..w.clone()
                },
            );
        }
        let moved: Vec<String> = pinned_check(&end);
        assert_eq!(moved, vec!["jv-2", "jv-3", "jw-4"]);

        let set = |b: &str, outcome: Outcome| {
            op(OpKind::SetCurrentVersion { build_id: b.into() }, outcome)
        };
        let ops = vec![
            set("a", Outcome::Ok),
            set("b", Outcome::Ok),
            set("a", Outcome::Unknown("DeadlineExceeded".into())),
            set("b", Outcome::Fail("FailedPrecondition".into())),
        ];
        let routing = |current: Option<&str>| {
            let mut found = Vec::new();
            let end = FinalState {
                deployment_current: current.map(String::from),
                ..Default::default()
            };
            routing_changes_durable(&ops, &end, &mut found);
            kinds(&found)
        };
        assert!(
            routing(Some("b")).is_empty(),
            "the last acknowledged change"
        );
        assert!(
            routing(Some("a")).is_empty(),
            "a later change of unknown outcome"
        );
        // Only "a" (unknown) and "b" (acknowledged) may be current: unversioned or a lost
        // deployment means an acknowledged change was lost.
        assert_eq!(routing(Some("")), vec!["routing-change-lost"]);
        assert_eq!(routing(None), vec!["routing-change-lost"]);
    }

    fn pinned_check(end: &FinalState) -> Vec<String> {
        let mut found = Vec::new();
        pinned_runs_stay_on_their_version(end, &mut found);
        found.into_iter().map(|a| a.workflow_id).collect()
    }
}

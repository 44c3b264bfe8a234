//! Visibility kept by `apply`: rows, index keys and counts follow starts, closes, upserts and
//! deletes; List walks in Temporal's order with pages that continue exactly; Count uses the
//! counters; the query parser never panics and its printed plans compile back to themselves.
//! Batch jobs, which walk visibility: each target acted on and counted once, resumable from
//! the record alone, one running job per namespace.

use keel_engine::mutation::*;
use keel_engine::query::compile;
use keel_engine::visibility::{count, list, VisibilityError};
use keel_engine::{apply, keys, MemState, Mutation, Outcome};
use std::collections::BTreeMap;
use temporalio_protos::temporal::api::{
    common::v1::{Payload, SearchAttributes, WorkflowExecution, WorkflowType},
    enums::v1::{IndexedValueType, WorkflowExecutionStatus},
    operatorservice::v1 as ops,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};

const NS: &str = "default";
const SEC: i64 = 1_000_000_000;

struct Cluster {
    state: MemState,
    now: i64,
    n: usize,
}

impl Cluster {
    fn new() -> Self {
        let mut c = Cluster {
            state: MemState::default(),
            now: 1_700_000_000 * SEC,
            n: 0,
        };
        c.apply(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(ws::RegisterNamespaceRequest {
                namespace: NS.into(),
                ..Default::default()
            }),
            namespace_id: "ns-id".into(),
            if_absent: false,
        }));
        c.apply(Kind::AddSearchAttributes(ops::AddSearchAttributesRequest {
            namespace: NS.into(),
            search_attributes: [
                ("Color".to_string(), IndexedValueType::Keyword as i32),
                ("Tags".to_string(), IndexedValueType::KeywordList as i32),
                ("Size".to_string(), IndexedValueType::Int as i32),
            ]
            .into_iter()
            .collect(),
        }));
        c
    }

    fn apply(&mut self, kind: Kind) -> Outcome {
        self.try_apply(kind).expect("mutation applies")
    }

    fn try_apply(&mut self, kind: Kind) -> Result<Outcome, keel_engine::Rejection> {
        self.now += SEC;
        let applied = apply(
            &self.state,
            &Mutation {
                now: self.now,
                kind: Some(kind),
            },
        );
        self.state.apply_writes(applied.writes);
        applied.outcome
    }

    fn start(&mut self, wf: &str, ty: &str, attrs: &[(&str, &str)]) -> String {
        self.n += 1;
        let run_id = format!("run-{:04}", self.n);
        let search_attributes = (!attrs.is_empty()).then(|| SearchAttributes {
            indexed_fields: attrs
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        Payload {
                            metadata: [("encoding".to_string(), b"json/plain".to_vec())]
                                .into_iter()
                                .collect(),
                            data: v.as_bytes().to_vec(),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        });
        self.apply(Kind::StartWorkflow(StartWorkflow {
            request: Some(ws::StartWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_id: wf.into(),
                workflow_type: Some(WorkflowType { name: ty.into() }),
                task_queue: Some(TaskQueue {
                    name: "q".into(),
                    ..Default::default()
                }),
                request_id: format!("req-{}", self.n),
                search_attributes,
                ..Default::default()
            }),
            run_id: run_id.clone(),
            ..Default::default()
        }));
        run_id
    }

    fn terminate(&mut self, wf: &str) {
        self.apply(Kind::TerminateWorkflow(
            ws::TerminateWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: wf.into(),
                    run_id: String::new(),
                }),
                reason: "test".into(),
                ..Default::default()
            },
        ));
    }

    fn delete(&mut self, wf: &str) {
        self.apply(Kind::DeleteWorkflow(ws::DeleteWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: wf.into(),
                run_id: String::new(),
            }),
        }));
    }

    fn custom(&self) -> BTreeMap<String, i32> {
        [
            ("Color".to_string(), IndexedValueType::Keyword as i32),
            ("Tags".to_string(), IndexedValueType::KeywordList as i32),
            ("Size".to_string(), IndexedValueType::Int as i32),
        ]
        .into_iter()
        .collect()
    }

    /// Every workflow id the query lists, in order, walking pages of `page`.
    fn ids(&self, query: &str, page: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut token = Vec::new();
        loop {
            let p = list(&self.state, NS, &self.custom(), query, page, &token).unwrap();
            assert!(p.executions.len() <= page);
            out.extend(
                p.executions
                    .iter()
                    .map(|e| e.execution.as_ref().unwrap().workflow_id.clone()),
            );
            if p.next_page_token.is_empty() {
                return out;
            }
            token = p.next_page_token;
        }
    }

    fn count(&self, query: &str) -> i64 {
        count(&self.state, NS, &self.custom(), query).unwrap().count
    }
}

#[test]
fn list_is_open_runs_first_then_latest_closed_and_exact_after_each_change() {
    let mut c = Cluster::new();
    for i in 0..5 {
        c.start(&format!("wf-{i}"), "A", &[]);
    }
    c.terminate("wf-1");
    c.terminate("wf-3");
    // Open runs newest first, then closed ones by close time, newest first.
    assert_eq!(c.ids("", 100), ["wf-4", "wf-2", "wf-0", "wf-3", "wf-1"]);
    assert_eq!(
        c.ids("ExecutionStatus = 'Running'", 100),
        ["wf-4", "wf-2", "wf-0"]
    );
    assert_eq!(
        c.ids("ExecutionStatus = 'Terminated'", 100),
        ["wf-3", "wf-1"]
    );
    assert_eq!(c.ids("CloseTime IS NULL", 100), ["wf-4", "wf-2", "wf-0"]);
    c.delete("wf-3");
    assert_eq!(c.ids("", 100), ["wf-4", "wf-2", "wf-0", "wf-1"]);
    assert_eq!(c.count(""), 4);
    assert_eq!(c.count("ExecutionStatus = 'Terminated'"), 1);
}

#[test]
fn pages_continue_where_they_stopped_on_every_index() {
    let mut c = Cluster::new();
    for i in 0..23 {
        let color = if i % 2 == 0 { "\"red\"" } else { "\"blue\"" };
        c.start(
            &format!("wf-{i:02}"),
            if i % 3 == 0 { "A" } else { "B" },
            &[("Color", color)],
        );
    }
    for q in [
        "",
        "WorkflowType = 'B'",
        "Color = 'red'",
        "Color = 'red' AND WorkflowType = 'A'",
        "ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH 'wf-1'",
    ] {
        let all = c.ids(q, 1000);
        for page in [1, 4, 7] {
            assert_eq!(c.ids(q, page), all, "{q} in pages of {page}");
        }
    }
    assert_eq!(c.ids("WorkflowType = 'A'", 1000).len(), 8);
    assert_eq!(c.count("Color = 'red'"), 12);
}

#[test]
fn upserted_attributes_are_indexed_and_old_values_forgotten() {
    let mut c = Cluster::new();
    c.start(
        "wf",
        "A",
        &[
            ("Color", "\"red\""),
            ("Tags", "[\"x\",\"y\"]"),
            ("Size", "3"),
        ],
    );
    assert_eq!(c.ids("Tags = 'y'", 10), ["wf"]);
    assert_eq!(c.ids("Size > 2 AND Color IN ('red', 'green')", 10), ["wf"]);
    assert_eq!(c.ids("Size > 3", 10), Vec::<String>::new());
    // The workflow id's next run (after a terminate and a new start) replaces nothing of the
    // first run's row: both are listed, each with its own attributes.
    c.terminate("wf");
    c.start("wf", "A", &[("Color", "\"blue\"")]);
    assert_eq!(c.ids("WorkflowId = 'wf'", 10), ["wf", "wf"]);
    assert_eq!(c.count("Color = 'red'"), 1);
    assert_eq!(c.count("Color = 'blue'"), 1);
}

#[test]
fn counts_by_status_come_from_counters_and_match_a_scan() {
    let mut c = Cluster::new();
    for i in 0..6 {
        c.start(&format!("wf-{i}"), "A", &[]);
    }
    c.terminate("wf-0");
    c.terminate("wf-5");
    let grouped = count(&c.state, NS, &c.custom(), "GROUP BY ExecutionStatus").unwrap();
    assert_eq!(grouped.count, 6);
    let groups: Vec<(String, i64)> = grouped
        .groups
        .iter()
        .map(|(p, n)| (String::from_utf8(p.data.clone()).unwrap(), *n))
        .collect();
    assert_eq!(
        groups,
        [
            ("\"Running\"".to_string(), 4),
            ("\"Terminated\"".to_string(), 2)
        ]
    );
    // The same counts by scanning (a filter the counters cannot answer).
    let scanned = count(
        &c.state,
        NS,
        &c.custom(),
        "WorkflowType = 'A' GROUP BY ExecutionStatus",
    )
    .unwrap();
    assert_eq!(scanned.count, grouped.count);
    assert_eq!(scanned.groups, grouped.groups);
    let prefix = keys::visibility_count_prefix(NS);
    assert_eq!(c.state.scan(&prefix).count(), 2);
}

#[test]
fn tokens_from_another_query_or_forged_are_refused() {
    let mut c = Cluster::new();
    for i in 0..3 {
        c.start(&format!("wf-{i}"), "A", &[]);
    }
    let p = list(&c.state, NS, &c.custom(), "", 1, &[]).unwrap();
    assert!(!p.next_page_token.is_empty());
    let other = list(
        &c.state,
        NS,
        &c.custom(),
        "WorkflowType = 'A'",
        1,
        &p.next_page_token,
    );
    assert!(matches!(other, Err(VisibilityError::BadToken(_))));
    let other_ns = list(
        &c.state,
        "elsewhere",
        &c.custom(),
        "",
        1,
        &p.next_page_token,
    );
    assert!(matches!(other_ns, Err(VisibilityError::BadToken(_))));
    let forged = list(&c.state, NS, &c.custom(), "", 1, b"garbage");
    assert!(matches!(forged, Err(VisibilityError::BadToken(_))));
    assert!(matches!(
        list(&c.state, NS, &c.custom(), "Nope = 1", 1, &[]),
        Err(VisibilityError::Query(_))
    ));
}

#[test]
fn a_run_whose_row_did_not_change_costs_no_visibility_write() {
    let mut c = Cluster::new();
    c.start("wf", "A", &[]);
    // A signal changes the run (a new event) but nothing a list shows.
    let before: Vec<_> = c
        .state
        .scan(&[0, 0, 0, 0, 10])
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    c.apply(Kind::SignalWorkflow(ws::SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: "wf".into(),
            run_id: String::new(),
        }),
        signal_name: "s".into(),
        request_id: "sig-1".into(),
        ..Default::default()
    }));
    let after: Vec<_> = c
        .state
        .scan(&[0, 0, 0, 0, 10])
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(before, after);
    let rows = c.ids("", 10);
    assert_eq!(rows, ["wf"]);
    let status = WorkflowExecutionStatus::Running as i32;
    assert_eq!(c.count(&format!("ExecutionStatus = {status}")), 1);
}

/// What visibility costs per run in storage: the row, its index keys and its share of the
/// counters (tables 10, 11 and 12), for closed runs of a type with one keyword attribute.
/// Printed for the benchmark notes; bounded so that a layout change that bloats it fails.
#[test]
fn bytes_per_run_the_indexes_add() {
    let mut c = Cluster::new();
    let runs = 1000;
    for i in 0..runs {
        let wf = format!("wf-{i:05}");
        c.start(
            &wf,
            if i % 2 == 0 { "x" } else { "y" },
            &[("Color", "\"red\"")],
        );
        c.terminate(&wf);
    }
    let bytes = |table: u8| -> usize {
        c.state
            .scan(&[0, 0, 0, 0, table])
            .map(|(k, v)| k.len() + v.len())
            .sum()
    };
    let (row, index, counts) = (bytes(10), bytes(11), bytes(12));
    let per_run = (row + index + counts) as f64 / runs as f64;
    println!(
        "visibility per closed run: {per_run:.0} bytes (row {:.0}, index keys {:.0}, counters {:.2})",
        row as f64 / runs as f64,
        index as f64 / runs as f64,
        counts as f64 / runs as f64
    );
    assert!(per_run < 1500.0, "{per_run} bytes per run");
}

/// A small deterministic generator (no RNG crate needed for a fuzz loop).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() as usize % items.len()]
    }
}

/// A random query of the grammar (often ill-typed: names and literals are mixed freely).
fn random_query(rng: &mut Lcg, depth: u32) -> String {
    const NAMES: &[&str] = &[
        "WorkflowId",
        "WorkflowType",
        "ExecutionStatus",
        "StartTime",
        "CloseTime",
        "Color",
        "Tags",
        "Size",
        "`Color`",
        "ExecutionDuration",
        "HistoryLength",
        "Nope",
    ];
    const LITERALS: &[&str] = &[
        "'x'",
        "\"y\"",
        "'Running'",
        "'Completed'",
        "'2024-01-02T03:04:05Z'",
        "12",
        "-3.5",
        "true",
        "'it''s'",
        "'1h'",
        "1700000000000000000",
        "'red'",
        "3",
    ];
    if depth > 0 && rng.next().is_multiple_of(3) {
        let a = random_query(rng, depth - 1);
        let b = random_query(rng, depth - 1);
        return match rng.next() % 4 {
            0 => format!("{a} AND {b}"),
            1 => format!("{a} OR {b}"),
            2 => format!("NOT ({a})"),
            _ => format!("({a}) AND NOT {b}"),
        };
    }
    let name = rng.pick(NAMES);
    let lit = rng.pick(LITERALS);
    match rng.next() % 8 {
        0 => format!(
            "{name} {} {lit}",
            rng.pick(&["=", "!=", "<", "<=", ">", ">=", "<>"])
        ),
        1 => format!("{name} IN ({lit}, {})", rng.pick(LITERALS)),
        2 => format!("{name} NOT IN ({lit})"),
        3 => format!("{name} BETWEEN {lit} AND {}", rng.pick(LITERALS)),
        4 => format!("{name} STARTS_WITH {lit}"),
        5 => format!("{name} IS {}NULL", rng.pick(&["", "NOT "])),
        6 => format!(
            "{name} = {lit} GROUP BY {}",
            rng.pick(&["ExecutionStatus", "WorkflowType"])
        ),
        _ => format!("{name} = {lit}"),
    }
}

#[test]
fn arbitrary_queries_never_panic_and_printed_plans_compile_to_themselves() {
    let custom: BTreeMap<String, i32> = Cluster::new().custom();
    let mut rng = Lcg(7);
    let mut compiled = 0;
    let round_trip = |q: &str| {
        if let Ok(plan) = compile(q, &custom) {
            let printed = plan.to_string();
            let again = compile(&printed, &custom)
                .unwrap_or_else(|e| panic!("{q} printed as {printed}: {e}"));
            assert_eq!(again, plan, "{q} printed as {printed}");
            return true;
        }
        false
    };
    for _ in 0..20_000 {
        let q = random_query(&mut rng, 3);
        compiled += usize::from(round_trip(&q));
        // The same query with a character removed or duplicated somewhere: mostly malformed.
        let cut = rng.next() as usize % q.len().max(1);
        if q.is_char_boundary(cut) {
            let mut broken = q.clone();
            if rng.next().is_multiple_of(2) && cut < q.len() {
                broken.remove(cut);
            } else {
                broken.insert(
                    cut,
                    rng.pick(&["'", "(", ")", "`", ",", "=", "!"])
                        .chars()
                        .next()
                        .unwrap(),
                );
            }
            round_trip(&broken);
        }
    }
    // Any printable text at all.
    for _ in 0..5_000 {
        let len = rng.next() as usize % 30;
        let s: String = (0..len)
            .map(|_| char::from_u32(32 + (rng.next() % 95) as u32).unwrap())
            .collect();
        round_trip(&s);
    }
    assert!(
        compiled > 2_000,
        "only {compiled} generated queries compiled"
    );
}

// ---- batch jobs ----------------------------------------------------------------------------

use keel_engine::records::BatchJobRecord;
use keel_engine::visibility::read::targets_after;
use prost::Message;
use temporalio_protos::temporal::api::{
    batch::v1::BatchOperationTermination, enums::v1::BatchOperationState,
    workflowservice::v1::start_batch_operation_request::Operation,
};

impl Cluster {
    fn start_terminate_batch(
        &mut self,
        job: &str,
        query: &str,
    ) -> Result<Outcome, keel_engine::Rejection> {
        self.try_apply(Kind::StartBatch(StartBatch {
            request: Some(ws::StartBatchOperationRequest {
                namespace: NS.into(),
                job_id: job.into(),
                reason: "cleanup".into(),
                visibility_query: query.into(),
                operation: Some(Operation::TerminationOperation(BatchOperationTermination {
                    identity: "tester".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            // As the frontend widens a terminate's query.
            query: format!("({query}) AND ExecutionStatus = 'Running'"),
            total_estimate: 0,
        }))
    }

    fn job(&self, job: &str) -> BatchJobRecord {
        let bytes = self
            .state
            .0
            .get(&keys::batch_job(NS, job))
            .expect("job record");
        BatchJobRecord::decode(bytes.as_slice()).unwrap()
    }

    /// What the leader's runner proposes next: up to `n` steps after the job's cursor.
    fn next_steps(&self, job: &str, n: usize) -> Vec<BatchStep> {
        let record = self.job(job);
        let after = (!record.cursor.is_empty()).then_some(record.cursor.as_slice());
        targets_after(&self.state, NS, &self.custom(), &record.query, n, after)
            .unwrap()
            .into_iter()
            .map(|(info, order)| {
                let e = info.execution.unwrap();
                BatchStep {
                    namespace: NS.into(),
                    job_id: job.into(),
                    workflow_id: e.workflow_id,
                    run_id: e.run_id,
                    order,
                    index: -1,
                }
            })
            .collect()
    }
}

#[test]
fn a_batch_terminates_each_target_once_and_resumes_from_its_record() {
    let mut c = Cluster::new();
    for i in 0..5 {
        c.start(&format!("wf-{i}"), if i % 2 == 0 { "A" } else { "B" }, &[]);
    }
    c.start_terminate_batch("job", "WorkflowType = 'A'")
        .unwrap();
    // The runner does one step, then "loses leadership": the next runner starts from the
    // record alone and finds only the two targets left.
    let first = c.next_steps("job", 1);
    assert_eq!(first.len(), 1);
    c.apply(Kind::BatchStep(first[0].clone()));
    let rest = c.next_steps("job", 100);
    assert_eq!(rest.len(), 2, "the cursor moved past the first target");
    // The first step proposed again (a retry across a leader change) changes nothing.
    let before = c.state.clone();
    c.apply(Kind::BatchStep(first[0].clone()));
    let mut replayed = c.state.clone();
    replayed.0.remove(&keys::meta());
    let mut expected = before;
    expected.0.remove(&keys::meta());
    assert_eq!(replayed, expected);
    for step in rest {
        c.apply(Kind::BatchStep(step));
    }
    assert!(c.next_steps("job", 100).is_empty());
    c.apply(Kind::FinishBatch(FinishBatch {
        namespace: NS.into(),
        job_id: "job".into(),
    }));
    let job = c.job("job");
    assert_eq!(job.state, BatchOperationState::Completed as i32);
    assert_eq!((job.complete_count, job.failure_count), (3, 0));
    // Terminated newest first, so the oldest closed last: it lists first.
    assert_eq!(
        c.ids("ExecutionStatus = 'Terminated'", 10),
        ["wf-0", "wf-2", "wf-4"]
    );
    assert_eq!(c.ids("ExecutionStatus = 'Running'", 10), ["wf-3", "wf-1"]);
}

#[test]
fn one_running_batch_per_namespace_and_job_ids_are_unique() {
    let mut c = Cluster::new();
    c.start("wf", "A", &[]);
    c.start_terminate_batch("one", "WorkflowType = 'A'")
        .unwrap();
    assert!(matches!(
        c.start_terminate_batch("two", "WorkflowType = 'A'"),
        Err(keel_engine::Rejection::ResourceExhausted(_))
    ));
    c.apply(Kind::StopBatch(ws::StopBatchOperationRequest {
        namespace: NS.into(),
        job_id: "one".into(),
        reason: "enough".into(),
        ..Default::default()
    }));
    assert_eq!(c.job("one").state, BatchOperationState::Failed as i32);
    // A stopped job's steps change nothing.
    for step in c.next_steps("one", 10) {
        c.apply(Kind::BatchStep(step));
    }
    assert_eq!(c.ids("ExecutionStatus = 'Running'", 10), ["wf"]);
    assert!(matches!(
        c.start_terminate_batch("one", "WorkflowType = 'A'"),
        Err(keel_engine::Rejection::WorkflowAlreadyStarted { .. })
    ));
    c.start_terminate_batch("two", "WorkflowType = 'A'")
        .unwrap();
}

#[test]
fn a_target_that_is_gone_counts_as_done() {
    let mut c = Cluster::new();
    c.start("wf", "A", &[]);
    c.start_terminate_batch("job", "WorkflowType = 'A'")
        .unwrap();
    let steps = c.next_steps("job", 10);
    c.delete("wf");
    for step in steps {
        c.apply(Kind::BatchStep(step));
    }
    let job = c.job("job");
    assert_eq!((job.complete_count, job.failure_count), (1, 0));
}

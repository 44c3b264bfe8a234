//! List and Count: compile the query, pick an index, walk it in Temporal's order, check each
//! run against the whole filter, stop when the page is full.
//!
//! The planner takes the top-level `AND` terms of the filter and, among the equalities on an
//! indexed column, uses the most selective kind: workflow id, then a keyword attribute, then
//! workflow type, task queue, execution status; with none, the index of all runs. The choice
//! depends only on the query, so a page token (the order of the last run returned, bound to
//! the namespace and query by a fingerprint) continues the same walk. Counts with no filter
//! but the status (and the hidden-record rule) come from the per-status counters, without a
//! scan.

use crate::keys::{self, visibility_index as ix};
use crate::query::eval::eval;
use crate::query::parser::CmpOp;
use crate::query::plan::{status_name, NAMESPACE_DIVISION};
use crate::query::{compile, Filter, Plan, QueryError, System, Value};
use crate::view::{MemState, ReadError};
use prost::Message;
use std::collections::BTreeMap;
use temporalio_protos::temporal::api::common::v1::Payload;
use temporalio_protos::temporal::api::enums::v1::IndexedValueType as T;
use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo;

/// Keys and values read in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Ordered reads of `state` (a RocksDB snapshot or the in-memory state of tests).
pub trait ScanView {
    /// Up to `limit` entries under `prefix`, from `from` (inclusive, within the prefix).
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Entries, ReadError>;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError>;
}

impl ScanView for MemState {
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Entries, ReadError> {
        Ok(self
            .0
            .range(from.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self.0.get(key).cloned())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VisibilityError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("invalid page token: {0}")]
    BadToken(&'static str),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("undecodable visibility record: {0}")]
    Corrupt(String),
}

pub struct ListPage {
    pub executions: Vec<WorkflowExecutionInfo>,
    /// Empty when the walk is over (a full page always gets one, as Temporal's SQL store).
    pub next_page_token: Vec<u8>,
}

/// A page token: where the walk stopped, and which namespace and query it belongs to.
#[derive(Clone, PartialEq, prost::Message)]
struct PageToken {
    #[prost(uint64, tag = "1")]
    fingerprint: u64,
    /// The order (key tail) of the last run returned.
    #[prost(bytes = "vec", tag = "2")]
    after: Vec<u8>,
}

fn fingerprint(namespace: &str, query: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in namespace.bytes().chain([0u8]).chain(query.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The index prefix a plan walks.
fn choose_index(namespace: &str, plan: &Plan) -> Vec<u8> {
    let mut terms = Vec::new();
    if let Some(f) = &plan.filter {
        conjuncts(f, &mut terms);
    }
    let mut best: Option<(u8, Vec<u8>)> = None;
    for term in terms {
        let (field, value) = match term {
            Filter::Compare {
                field,
                op: CmpOp::Eq,
                value,
            } => (field, value),
            Filter::In {
                field,
                values,
                negated: false,
            } if values.len() == 1 => (field, &values[0]),
            _ => continue,
        };
        let candidate = match (field.system, value) {
            (Some(System::WorkflowId), Value::Str(v)) => (
                0,
                keys::visibility_index_prefix(namespace, ix::WORKFLOW_ID, &[v]),
            ),
            (None, Value::Str(v)) if matches!(field.ty, T::Keyword | T::KeywordList) => (
                1,
                keys::visibility_index_prefix(namespace, ix::KEYWORD, &[&field.name, v]),
            ),
            (Some(System::WorkflowType), Value::Str(v)) => (
                2,
                keys::visibility_index_prefix(namespace, ix::WORKFLOW_TYPE, &[v]),
            ),
            (Some(System::TaskQueue), Value::Str(v)) => (
                3,
                keys::visibility_index_prefix(namespace, ix::TASK_QUEUE, &[v]),
            ),
            (Some(System::ExecutionStatus), Value::Status(s)) => {
                (4, keys::visibility_status_prefix(namespace, *s))
            }
            _ => continue,
        };
        if best.as_ref().is_none_or(|(rank, _)| candidate.0 < *rank) {
            best = Some(candidate);
        }
    }
    best.map(|(_, prefix)| prefix)
        .unwrap_or_else(|| keys::visibility_index_prefix(namespace, ix::ALL, &[]))
}

fn conjuncts<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
    match f {
        Filter::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

/// Walks the plan's index from `after` (exclusive), calling `visit` with each matching run
/// and its order until it returns false. Index keys whose row is gone are skipped.
fn walk(
    view: &dyn ScanView,
    namespace: &str,
    plan: &Plan,
    after: Option<&[u8]>,
    mut visit: impl FnMut(WorkflowExecutionInfo, &[u8]) -> bool,
) -> Result<(), VisibilityError> {
    const BATCH: usize = 256;
    let prefix = choose_index(namespace, plan);
    let mut from = prefix.clone();
    if let Some(after) = after {
        from.extend_from_slice(after);
        from.push(0);
    }
    loop {
        let batch = view.scan(&prefix, &from, BATCH)?;
        let done = batch.len() < BATCH;
        for (key, _) in &batch {
            let order = &key[prefix.len()..];
            let (wf, run) = keys::decode_visibility_order(order)
                .ok_or_else(|| VisibilityError::Corrupt("index key".into()))?;
            let Some(bytes) = view.get(&keys::visibility_row(namespace, &wf, &run))? else {
                continue;
            };
            let info = WorkflowExecutionInfo::decode(bytes.as_slice())
                .map_err(|e| VisibilityError::Corrupt(e.to_string()))?;
            let matches = plan
                .filter
                .as_ref()
                .is_none_or(|f| eval(f, &info) == Some(true));
            if matches && !visit(info, order) {
                return Ok(());
            }
        }
        match batch.last() {
            Some((last, _)) if !done => {
                from = last.clone();
                from.push(0);
            }
            _ => return Ok(()),
        }
    }
}

/// One page of ListWorkflowExecutions. `page_size` must be in 1..=1000 (the frontend maps
/// Temporal's out-of-range values first).
pub fn list(
    view: &dyn ScanView,
    namespace: &str,
    custom: &BTreeMap<String, i32>,
    query: &str,
    page_size: usize,
    token: &[u8],
) -> Result<ListPage, VisibilityError> {
    let plan = compile(query, custom)?;
    let print = fingerprint(namespace, query);
    let after = if token.is_empty() {
        None
    } else {
        let t = PageToken::decode(token).map_err(|_| VisibilityError::BadToken("undecodable"))?;
        if t.fingerprint != print {
            return Err(VisibilityError::BadToken(
                "it belongs to another query or namespace",
            ));
        }
        if keys::decode_visibility_order(&t.after).is_none() {
            return Err(VisibilityError::BadToken("no position"));
        }
        Some(t.after)
    };
    let mut executions = Vec::new();
    let mut last = Vec::new();
    walk(view, namespace, &plan, after.as_deref(), |info, order| {
        executions.push(info);
        last = order.to_vec();
        executions.len() < page_size
    })?;
    let next_page_token = if executions.len() == page_size {
        PageToken {
            fingerprint: print,
            after: last,
        }
        .encode_to_vec()
    } else {
        Vec::new()
    };
    Ok(ListPage {
        executions,
        next_page_token,
    })
}

/// Up to `limit` runs the query matches after the order `after` (exclusive), with their
/// orders: how a batch job walks its targets and resumes.
pub fn targets_after(
    view: &dyn ScanView,
    namespace: &str,
    custom: &BTreeMap<String, i32>,
    query: &str,
    limit: usize,
    after: Option<&[u8]>,
) -> Result<Vec<(WorkflowExecutionInfo, Vec<u8>)>, VisibilityError> {
    let plan = compile(query, custom)?;
    let mut out = Vec::new();
    walk(view, namespace, &plan, after, |info, order| {
        out.push((info, order.to_vec()));
        out.len() < limit
    })?;
    Ok(out)
}

pub struct CountResult {
    pub count: i64,
    /// With `GROUP BY`: each value (a JSON string payload, typed Keyword) and its count,
    /// largest first.
    pub groups: Vec<(Payload, i64)>,
}

pub(crate) fn keyword_payload(s: &str) -> Payload {
    crate::search_attributes::json_payload(serde_json::to_vec(s).unwrap_or_default(), "Keyword")
}

/// Whether a filter term is the rule that hides schedule and batch records.
fn is_hidden_rule(f: &Filter) -> bool {
    matches!(f, Filter::IsNull { field, negated: false } if field.name == NAMESPACE_DIVISION)
}

/// The statuses a filter allows if it says nothing else than the status and the hidden rule:
/// `Some(None)` for every status, `Some(Some(s))` for one, `None` for any other filter.
fn counter_answerable(plan: &Plan) -> Option<Option<i32>> {
    let mut terms = Vec::new();
    conjuncts(plan.filter.as_ref()?, &mut terms);
    let (mut status, mut hidden_rule) = (None, false);
    for t in terms {
        match t {
            t if is_hidden_rule(t) => hidden_rule = true,
            Filter::Compare {
                field,
                op: CmpOp::Eq,
                value: Value::Status(s),
            } if field.is_status() && status.is_none() => status = Some(*s),
            _ => return None,
        }
    }
    hidden_rule.then_some(status)
}

fn status_counts(
    view: &dyn ScanView,
    namespace: &str,
) -> Result<BTreeMap<i32, i64>, VisibilityError> {
    let prefix = keys::visibility_count_prefix(namespace);
    let mut out = BTreeMap::new();
    for (k, v) in view.scan(&prefix, &prefix, 64)? {
        let status = keys::visibility_count_status(&k)
            .ok_or_else(|| VisibilityError::Corrupt("count key".into()))?;
        let n: [u8; 8] = v
            .as_slice()
            .try_into()
            .map_err(|_| VisibilityError::Corrupt("count".into()))?;
        out.insert(status, u64::from_be_bytes(n) as i64);
    }
    Ok(out)
}

/// CountWorkflowExecutions.
pub fn count(
    view: &dyn ScanView,
    namespace: &str,
    custom: &BTreeMap<String, i32>,
    query: &str,
) -> Result<CountResult, VisibilityError> {
    let plan = compile(query, custom)?;
    let by_status = plan.group_by.as_ref().is_some_and(|g| g.is_status());
    let mut groups: BTreeMap<String, i64> = BTreeMap::new();
    let mut total = 0i64;
    if let (Some(only), true) = (
        counter_answerable(&plan),
        plan.group_by.is_none() || by_status,
    ) {
        for (status, n) in status_counts(view, namespace)? {
            if only.is_none_or(|s| s == status) {
                total += n;
                if by_status {
                    *groups.entry(status_name(status).to_string()).or_default() += n;
                }
            }
        }
    } else {
        walk(view, namespace, &plan, None, |info, _| {
            total += 1;
            if let Some(g) = &plan.group_by {
                let value = if g.is_status() {
                    status_name(info.status).to_string()
                } else {
                    use crate::query::eval::Row;
                    match info.attribute(&g.name, T::Keyword).first() {
                        Some(Value::Str(s)) => s.clone(),
                        _ => String::new(),
                    }
                };
                *groups.entry(value).or_default() += 1;
            }
            true
        })?;
    }
    let mut groups: Vec<(String, i64)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(CountResult {
        count: total,
        groups: if plan.group_by.is_some() {
            groups
                .into_iter()
                .map(|(v, n)| (keyword_payload(&v), n))
                .collect()
        } else {
            Vec::new()
        },
    })
}

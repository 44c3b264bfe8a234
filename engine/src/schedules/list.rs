//! ListSchedules' and CountSchedules' query: the visibility language over schedules, as
//! Temporal runs it (`TemporalNamespaceDivision = 'TemporalScheduler' AND ExecutionStatus =
//! 'Running' AND (<query>)`), with the reserved attributes other than
//! `TemporalSchedulePaused` and `ScheduleId` refused. A schedule is a row whose WorkflowId is
//! its schedule id, always Running, with its own search attributes.

use crate::query::eval::Row;
use crate::query::parser::{parse, Expr};
use crate::query::{compile, Plan, System, Value};
use crate::records::ScheduleRecord;
use crate::search_attributes::system_attributes;
use crate::visibility::row::payload_values;
use std::collections::BTreeMap;
use temporalio_protos::temporal::api::enums::v1::{
    IndexedValueType as T, WorkflowExecutionStatus as Status,
};

pub const DIVISION: &str = "TemporalScheduler";

fn names(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            names(a, out);
            names(b, out);
        }
        Expr::Not(a) => names(a, out),
        Expr::Compare { name, .. }
        | Expr::In { name, .. }
        | Expr::Between { name, .. }
        | Expr::StartsWith { name, .. }
        | Expr::IsNull { name, .. }
        | Expr::Like { name } => out.push(name.clone()),
    }
}

/// The plan for a schedule query, or the message of INVALID_ARGUMENT.
pub fn plan(query: &str, custom: &BTreeMap<String, i32>) -> Result<Plan, String> {
    let query = query.trim();
    if !query.is_empty() {
        let parsed = parse(query).map_err(|e| e.to_string())?;
        let mut used = Vec::new();
        if let Some(filter) = &parsed.filter {
            names(filter, &mut used);
        }
        for name in used {
            let bare = name.strip_prefix("Temporal").unwrap_or(&name);
            let reserved = system_attributes()
                .any(|(n, _)| n == name || n.strip_prefix("Temporal") == Some(bare))
                && !custom.contains_key(&name);
            if reserved && name != "TemporalSchedulePaused" {
                return Err(format!(
                    "invalid query filter for schedules: cannot filter on {name:?}"
                ));
            }
        }
    }
    let full = if query.is_empty() {
        format!("TemporalNamespaceDivision = '{DIVISION}' AND ExecutionStatus = 'Running'")
    } else {
        format!(
            "TemporalNamespaceDivision = '{DIVISION}' AND ExecutionStatus = 'Running' AND ({query})"
        )
    };
    compile(&full, custom).map_err(|e| e.to_string())
}

impl Row for ScheduleRecord {
    fn system(&self, column: System) -> Option<Value> {
        match column {
            System::WorkflowId => Some(Value::Str(self.schedule_id.clone())),
            System::ExecutionStatus => Some(Value::Status(Status::Running as i32)),
            _ => None,
        }
    }

    fn attribute(&self, name: &str, ty: T) -> Vec<Value> {
        match name {
            "TemporalNamespaceDivision" => vec![Value::Str(DIVISION.into())],
            "TemporalSchedulePaused" => vec![Value::Bool(super::state(self).paused)],
            _ => self
                .search_attributes
                .as_ref()
                .and_then(|s| s.indexed_fields.get(name))
                .map(|p| payload_values(p, ty))
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::eval::eval;
    use temporalio_protos::temporal::api::schedule::v1::{Schedule, ScheduleState};

    fn matches(query: &str, rec: &ScheduleRecord) -> bool {
        let plan = plan(query, &BTreeMap::new()).unwrap();
        eval(plan.filter.as_ref().unwrap(), rec) == Some(true)
    }

    #[test]
    fn schedule_queries() {
        let rec = ScheduleRecord {
            schedule_id: "nightly".into(),
            schedule: Some(Schedule {
                state: Some(ScheduleState {
                    paused: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches("", &rec));
        assert!(matches("TemporalSchedulePaused = true", &rec));
        assert!(!matches("TemporalSchedulePaused = false", &rec));
        assert!(matches("ScheduleId = 'nightly'", &rec));
        assert!(!matches("ScheduleId STARTS_WITH 'day'", &rec));
        assert_eq!(
            plan("WorkflowType = 'x'", &BTreeMap::new()).unwrap_err(),
            "invalid query filter for schedules: cannot filter on \"WorkflowType\""
        );
        assert!(plan("ScheduleId = ", &BTreeMap::new())
            .unwrap_err()
            .starts_with("invalid query: "));
    }
}

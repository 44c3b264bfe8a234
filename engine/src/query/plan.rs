//! From a parsed query to a typed plan: each name resolved to a system column or a search
//! attribute of the namespace (custom first, then Temporal's, then with the `Temporal` prefix
//! added or removed; `ScheduleId` means `WorkflowId`), each operator checked against the
//! attribute's type, each literal turned into a value of that type, with Temporal's errors.
//! Runs never listed by a plain query (a schedule's or batch job's own record) are hidden by
//! adding `TemporalNamespaceDivision IS NULL` unless the query names that attribute.
//!
//! A plan prints as a query (`Display`) that compiles back to the same plan.

use super::parser::{parse, CmpOp, Expr, Literal};
use super::QueryError;
use std::collections::BTreeMap;
use std::fmt;
use temporalio_protos::temporal::api::enums::v1::{
    IndexedValueType as T, WorkflowExecutionStatus as Status,
};

/// Columns kept by the server for every run (the rest are search attributes of the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    WorkflowId,
    RunId,
    WorkflowType,
    TaskQueue,
    ExecutionStatus,
    StartTime,
    ExecutionTime,
    CloseTime,
    ExecutionDuration,
    HistoryLength,
    HistorySizeBytes,
    StateTransitionCount,
    ParentWorkflowId,
    ParentRunId,
    RootWorkflowId,
    RootRunId,
    /// Standalone activities only (see `Subject::Activities`).
    ActivityType,
}

/// What a query lists: workflow runs, or standalone activities, whose queries also name
/// `ActivityId` (their id, kept as the workflow id column) and `ActivityType`, and have no
/// hidden records to leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Workflows,
    Activities,
}

const SYSTEM: &[(&str, System, T)] = &[
    ("WorkflowId", System::WorkflowId, T::Keyword),
    ("RunId", System::RunId, T::Keyword),
    ("WorkflowType", System::WorkflowType, T::Keyword),
    ("TaskQueue", System::TaskQueue, T::Keyword),
    ("ExecutionStatus", System::ExecutionStatus, T::Keyword),
    ("StartTime", System::StartTime, T::Datetime),
    ("ExecutionTime", System::ExecutionTime, T::Datetime),
    ("CloseTime", System::CloseTime, T::Datetime),
    ("ExecutionDuration", System::ExecutionDuration, T::Int),
    ("HistoryLength", System::HistoryLength, T::Int),
    ("HistorySizeBytes", System::HistorySizeBytes, T::Int),
    ("StateTransitionCount", System::StateTransitionCount, T::Int),
    ("ParentWorkflowId", System::ParentWorkflowId, T::Keyword),
    ("ParentRunId", System::ParentRunId, T::Keyword),
    ("RootWorkflowId", System::RootWorkflowId, T::Keyword),
    ("RootRunId", System::RootRunId, T::Keyword),
];

/// Temporal's predefined attributes a query may name (stored with a run's search attributes).
const PREDEFINED: &[(&str, T)] = &[
    ("TemporalChangeVersion", T::KeywordList),
    ("BinaryChecksums", T::KeywordList),
    ("BuildIds", T::KeywordList),
    ("TemporalPauseInfo", T::KeywordList),
    ("TemporalReportedProblems", T::KeywordList),
    ("BatcherNamespace", T::Keyword),
    ("BatcherUser", T::Keyword),
    ("TemporalScheduledById", T::Keyword),
    ("TemporalNamespaceDivision", T::Keyword),
    ("TemporalScheduledStartTime", T::Datetime),
    ("TemporalSchedulePaused", T::Bool),
    ("TemporalWorkerDeploymentVersion", T::Keyword),
    ("TemporalWorkflowVersioningBehavior", T::Keyword),
    ("TemporalWorkerDeployment", T::Keyword),
    ("TemporalUsedWorkerDeploymentVersions", T::KeywordList),
];

pub const NAMESPACE_DIVISION: &str = "TemporalNamespaceDivision";

/// What a name in a query refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The resolved name (a system column's or the stored attribute's).
    pub name: String,
    pub ty: T,
    /// A system column, or `None` for a search attribute of the run.
    pub system: Option<System>,
}

impl Field {
    pub fn is_status(&self) -> bool {
        self.system == Some(System::ExecutionStatus)
    }
}

/// A typed literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Unix nanoseconds.
    Time(i64),
    /// A `WorkflowExecutionStatus`.
    Status(i32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        field: Field,
        op: CmpOp,
        value: Value,
    },
    In {
        field: Field,
        values: Vec<Value>,
        negated: bool,
    },
    Between {
        field: Field,
        low: Value,
        high: Value,
        negated: bool,
    },
    StartsWith {
        field: Field,
        prefix: String,
        negated: bool,
    },
    IsNull {
        field: Field,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub filter: Option<Filter>,
    /// `GROUP BY` (Count only): the one field grouped on.
    pub group_by: Option<Field>,
}

/// Compiles a query against the namespace's custom search attributes (name -> type).
pub fn compile(query: &str, custom: &BTreeMap<String, i32>) -> Result<Plan, QueryError> {
    compile_for(query, custom, Subject::Workflows)
}

/// Compiles a query of `subject` (see `Subject`).
pub fn compile_for(
    query: &str,
    custom: &BTreeMap<String, i32>,
    subject: Subject,
) -> Result<Plan, QueryError> {
    let parsed = parse(query)?;
    if parsed.order_by {
        return Err(QueryError::not_supported("'ORDER BY' clause".into()));
    }
    if parsed.limit {
        return Err(QueryError::not_supported("'LIMIT' clause".into()));
    }
    let resolver = Resolver { custom, subject };
    let group_by = match parsed.group_by.as_slice() {
        [] => None,
        [name] => {
            let field = resolver.field(name)?;
            let allowed = field.is_status()
                || field.name == NAMESPACE_DIVISION
                || field.name.starts_with("TemporalLowCardinalityKeyword");
            if !allowed {
                return Err(QueryError::not_supported(format!(
                    "'GROUP BY' clause is not supported for search attribute {}",
                    field.name
                )));
            }
            Some(field)
        }
        _ => {
            return Err(QueryError::not_supported(
                "'GROUP BY' clause supports only a single field".into(),
            ))
        }
    };
    let mut filter = match &parsed.filter {
        Some(e) => Some(resolver.filter(e)?),
        None => None,
    };
    if subject == Subject::Workflows && !filter.as_ref().is_some_and(names_division) {
        let hidden = Filter::IsNull {
            field: resolver.field(NAMESPACE_DIVISION)?,
            negated: false,
        };
        filter = Some(match filter {
            Some(f) => Filter::And(Box::new(f), Box::new(hidden)),
            None => hidden,
        });
    }
    Ok(Plan { filter, group_by })
}

fn names_division(f: &Filter) -> bool {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => names_division(a) || names_division(b),
        Filter::Not(a) => names_division(a),
        Filter::Compare { field, .. }
        | Filter::In { field, .. }
        | Filter::Between { field, .. }
        | Filter::StartsWith { field, .. }
        | Filter::IsNull { field, .. } => field.name == NAMESPACE_DIVISION,
    }
}

pub fn type_name(ty: T) -> &'static str {
    match ty {
        T::Keyword => "Keyword",
        T::KeywordList => "KeywordList",
        T::Text => "Text",
        T::Int => "Int",
        T::Double => "Double",
        T::Bool => "Bool",
        T::Datetime => "Datetime",
        T::Unspecified => "Unspecified",
    }
}

struct Resolver<'a> {
    custom: &'a BTreeMap<String, i32>,
    subject: Subject,
}

impl Resolver<'_> {
    fn exact(&self, name: &str) -> Option<Field> {
        if let Some(ty) = self.custom.get(name) {
            return Some(Field {
                name: name.to_string(),
                ty: T::try_from(*ty).unwrap_or(T::Keyword),
                system: None,
            });
        }
        if let Some((n, s, ty)) = SYSTEM.iter().find(|(n, ..)| *n == name) {
            return Some(Field {
                name: n.to_string(),
                ty: *ty,
                system: Some(*s),
            });
        }
        PREDEFINED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, ty)| Field {
                name: n.to_string(),
                ty: *ty,
                system: None,
            })
    }

    fn field(&self, name: &str) -> Result<Field, QueryError> {
        if self.subject == Subject::Activities {
            match name {
                "ActivityId" => {
                    return self
                        .exact("WorkflowId")
                        .ok_or_else(|| QueryError::unknown_attribute(name))
                }
                "ActivityType" => {
                    return Ok(Field {
                        name: name.to_string(),
                        ty: T::Keyword,
                        system: Some(System::ActivityType),
                    })
                }
                _ => {}
            }
        }
        if name == "ScheduleId" || name == "TemporalScheduleId" {
            return self
                .exact("WorkflowId")
                .ok_or_else(|| QueryError::unknown_attribute(name));
        }
        self.exact(name)
            .or_else(|| self.exact(&format!("Temporal{name}")))
            .or_else(|| name.strip_prefix("Temporal").and_then(|n| self.exact(n)))
            .ok_or_else(|| QueryError::unknown_attribute(name))
    }

    fn filter(&self, e: &Expr) -> Result<Filter, QueryError> {
        Ok(match e {
            Expr::And(a, b) => Filter::And(Box::new(self.filter(a)?), Box::new(self.filter(b)?)),
            Expr::Or(a, b) => Filter::Or(Box::new(self.filter(a)?), Box::new(self.filter(b)?)),
            Expr::Not(a) => Filter::Not(Box::new(self.filter(a)?)),
            Expr::Compare { name, op, value } => {
                let field = self.field(name)?;
                if !matches!(op, CmpOp::Eq | CmpOp::Ne)
                    && matches!(field.ty, T::KeywordList | T::Text)
                {
                    return Err(op_not_supported(op.symbol(), &field));
                }
                let value = typed(&field, value)?;
                Filter::Compare {
                    field,
                    op: *op,
                    value,
                }
            }
            Expr::In {
                name,
                values,
                negated,
            } => {
                let field = self.field(name)?;
                if field.ty == T::Text {
                    return Err(op_not_supported("IN", &field));
                }
                let values = values
                    .iter()
                    .map(|v| typed(&field, v))
                    .collect::<Result<_, _>>()?;
                Filter::In {
                    field,
                    values,
                    negated: *negated,
                }
            }
            Expr::Between {
                name,
                low,
                high,
                negated,
            } => {
                let field = self.field(name)?;
                if matches!(field.ty, T::Bool | T::KeywordList | T::Text) {
                    return Err(QueryError::invalid(format!(
                        "cannot do range condition on search attribute '{}' of type {}",
                        field.name,
                        type_name(field.ty)
                    )));
                }
                let (low, high) = (typed(&field, low)?, typed(&field, high)?);
                Filter::Between {
                    field,
                    low,
                    high,
                    negated: *negated,
                }
            }
            Expr::StartsWith {
                name,
                prefix,
                negated,
            } => {
                let field = self.field(name)?;
                if matches!(field.ty, T::KeywordList | T::Text) {
                    return Err(op_not_supported("STARTS_WITH", &field));
                }
                match typed(&field, prefix)? {
                    Value::Str(prefix) if field.ty == T::Keyword && !field.is_status() => {
                        Filter::StartsWith {
                            field,
                            prefix,
                            negated: *negated,
                        }
                    }
                    _ => return Err(op_not_supported("STARTS_WITH", &field)),
                }
            }
            Expr::IsNull { name, negated } => Filter::IsNull {
                field: self.field(name)?,
                negated: *negated,
            },
            Expr::Like { name } => return Err(op_not_supported("LIKE", &self.field(name)?)),
        })
    }
}

fn op_not_supported(op: &str, field: &Field) -> QueryError {
    QueryError::not_supported(format!(
        "operator '{op}' not supported for {} type search attribute '{}'",
        type_name(field.ty),
        field.name
    ))
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::Str(s) => format!("\"{s}\" (type: string)"),
        Literal::Number(n) if n.parse::<i64>().is_ok() => format!("{n} (type: int64)"),
        Literal::Number(n) => format!("{n} (type: float64)"),
        Literal::Bool(b) => format!("{b} (type: bool)"),
    }
}

/// A literal as a value of the field's type, or Temporal's error.
fn typed(field: &Field, lit: &Literal) -> Result<Value, QueryError> {
    let wrong_type = || {
        QueryError::invalid(format!(
            "invalid value type for search attribute {} of type {}: {}",
            field.name,
            type_name(field.ty),
            literal_text(lit)
        ))
    };
    if field.is_status() {
        return status(lit).ok_or_else(|| {
            let shown = match lit {
                Literal::Str(s) | Literal::Number(s) => s.clone(),
                Literal::Bool(b) => b.to_string(),
            };
            QueryError::invalid(format!("invalid ExecutionStatus value '{shown}'"))
        });
    }
    if field.system == Some(System::ExecutionDuration) {
        if let Literal::Str(s) = lit {
            return duration_nanos(s).map(Value::Int).ok_or_else(|| {
                QueryError::invalid(format!(
                    "invalid duration value for search attribute ExecutionDuration: {s}"
                ))
            });
        }
    }
    match (field.ty, lit) {
        (T::Keyword | T::KeywordList | T::Text, Literal::Str(s)) => Ok(Value::Str(s.clone())),
        (T::Int, Literal::Number(n)) => number(n).ok_or_else(wrong_type),
        (T::Double, Literal::Number(n)) => match number(n) {
            Some(Value::Int(i)) => Ok(Value::Double(i as f64)),
            Some(v) => Ok(v),
            None => Err(wrong_type()),
        },
        (T::Bool, Literal::Bool(b)) => Ok(Value::Bool(*b)),
        (T::Datetime, Literal::Str(s)) => crate::time::parse_rfc3339(s)
            .map(Value::Time)
            .ok_or_else(|| QueryError::invalid(format!("unable to parse datetime '{s}'"))),
        (T::Datetime, Literal::Number(n)) => n
            .parse::<i64>()
            .map(Value::Time)
            .map_err(|_| QueryError::invalid(format!("unable to parse datetime '{n}'"))),
        _ => Err(wrong_type()),
    }
}

fn number(n: &str) -> Option<Value> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Value::Int(i));
    }
    n.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::Double)
}

/// `Running`, `WORKFLOW_EXECUTION_STATUS_RUNNING` or `1` (case-sensitive, as Temporal).
fn status(lit: &Literal) -> Option<Value> {
    let n = match lit {
        Literal::Str(s) => STATUS_NAMES
            .iter()
            .position(|n| n == s)
            .map(|i| i as i32 + 1)
            .or_else(|| Status::from_str_name(s).map(|st| st as i32))?,
        Literal::Number(n) => n.parse::<i32>().ok()?,
        Literal::Bool(_) => return None,
    };
    (1..=STATUS_NAMES.len() as i32)
        .contains(&n)
        .then_some(Value::Status(n))
}

/// The names of `WorkflowExecutionStatus` 1..=8, as queries and outputs spell them.
pub const STATUS_NAMES: &[&str] = &[
    "Running",
    "Completed",
    "Failed",
    "Canceled",
    "Terminated",
    "ContinuedAsNew",
    "TimedOut",
    "Paused",
];

pub fn status_name(status: i32) -> &'static str {
    usize::try_from(status - 1)
        .ok()
        .and_then(|i| STATUS_NAMES.get(i))
        .copied()
        .unwrap_or("Unspecified")
}

/// ExecutionDuration literals: a Go duration (`2h45m`, `1.5s`, also `d` for days) or
/// `hh:mm:ss`, in nanoseconds.
fn duration_nanos(s: &str) -> Option<i64> {
    if let [h, m, sec] = s.split(':').collect::<Vec<_>>().as_slice() {
        let (h, m, sec) = (
            h.parse::<i64>().ok()?,
            m.parse::<i64>().ok()?,
            sec.parse::<i64>().ok()?,
        );
        return ((h * 60 + m) * 60 + sec).checked_mul(1_000_000_000);
    }
    crate::time::parse_go_duration(s, true).filter(|n| *n >= 0)
}

// ---- printing: a plan as a query that compiles back to it ----------------------------------

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
            Value::Int(i) | Value::Time(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Status(s) => write!(f, "'{}'", status_name(*s)),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = |negated: bool| if negated { "NOT " } else { "" };
        match self {
            Filter::And(a, b) => write!(f, "({a}) AND ({b})"),
            Filter::Or(a, b) => write!(f, "({a}) OR ({b})"),
            Filter::Not(a) => write!(f, "NOT ({a})"),
            Filter::Compare { field, op, value } => {
                write!(f, "`{}` {} {value}", field.name, op.symbol())
            }
            Filter::In {
                field,
                values,
                negated,
            } => {
                let list: Vec<String> = values.iter().map(Value::to_string).collect();
                write!(
                    f,
                    "`{}` {}IN ({})",
                    field.name,
                    not(*negated),
                    list.join(", ")
                )
            }
            Filter::Between {
                field,
                low,
                high,
                negated,
            } => write!(
                f,
                "`{}` {}BETWEEN {low} AND {high}",
                field.name,
                not(*negated)
            ),
            Filter::StartsWith {
                field,
                prefix,
                negated,
            } => write!(
                f,
                "`{}` {}STARTS_WITH {}",
                field.name,
                not(*negated),
                Value::Str(prefix.clone())
            ),
            Filter::IsNull { field, negated } => {
                write!(f, "`{}` IS {}NULL", field.name, not(*negated))
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(filter) = &self.filter {
            write!(f, "{filter}")?;
        }
        if let Some(g) = &self.group_by {
            write!(f, " GROUP BY `{}`", g.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> BTreeMap<String, i32> {
        [
            ("CustomKw", T::Keyword),
            ("CustomKwList", T::KeywordList),
            ("CustomText", T::Text),
            ("CustomInt", T::Int),
            ("CustomBool", T::Bool),
            ("CustomDouble", T::Double),
            ("CustomDatetime", T::Datetime),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t as i32))
        .collect()
    }

    fn err(q: &str) -> String {
        compile(q, &custom()).unwrap_err().to_string()
    }

    /// Answers of Temporal's dev server to the same queries.
    #[test]
    fn errors_are_temporals() {
        for (q, e) in [
            ("Foo = 'x'", "invalid search attribute: Foo"),
            ("WorkflowType LIKE 'x%'", "operation is not supported: operator 'LIKE' not supported for Keyword type search attribute 'WorkflowType'"),
            ("CustomKwList < 'a'", "operation is not supported: operator '<' not supported for KeywordList type search attribute 'CustomKwList'"),
            ("CustomText < 'a'", "operation is not supported: operator '<' not supported for Text type search attribute 'CustomText'"),
            ("CustomBool BETWEEN true AND false", "invalid expression: cannot do range condition on search attribute 'CustomBool' of type Bool"),
            ("CustomText STARTS_WITH 'a'", "operation is not supported: operator 'STARTS_WITH' not supported for Text type search attribute 'CustomText'"),
            ("CustomInt STARTS_WITH 'a'", "invalid expression: invalid value type for search attribute CustomInt of type Int: \"a\" (type: string)"),
            ("StartTime > '2024-01-02'", "invalid expression: unable to parse datetime '2024-01-02'"),
            ("ExecutionStatus = 'running'", "invalid expression: invalid ExecutionStatus value 'running'"),
            ("ExecutionDuration > 'x'", "invalid expression: invalid duration value for search attribute ExecutionDuration: x"),
            ("CustomBool = 1", "invalid expression: invalid value type for search attribute CustomBool of type Bool: 1 (type: int64)"),
            ("CustomKw = true", "invalid expression: invalid value type for search attribute CustomKw of type Keyword: true (type: bool)"),
            ("WorkflowId = 'a' GROUP BY WorkflowType", "operation is not supported: 'GROUP BY' clause is not supported for search attribute WorkflowType"),
            ("GROUP BY ExecutionStatus, WorkflowType", "operation is not supported: 'GROUP BY' clause supports only a single field"),
            ("WorkflowId = 'a' ORDER BY StartTime", "operation is not supported: 'ORDER BY' clause"),
            ("a = 'x' LIMIT 5", "operation is not supported: 'LIMIT' clause"),
            ("NamespaceId = 'x'", "invalid search attribute: NamespaceId"),
            ("WorkflowId = 'x' and workflowtype = 'y'", "invalid search attribute: workflowtype"),
            ("lower(WorkflowId) = 'x'", "invalid expression: must be a column name but was *sqlparser.FuncExpr"),
        ] {
            assert_eq!(err(q), format!("invalid query: {e}"), "{q}");
        }
    }

    #[test]
    fn accepted_forms() {
        for q in [
            "CustomBool < true",
            "StartTime > 1700000000000000000",
            "StartTime > '2024-01-02T03:04:05Z'",
            "ExecutionStatus = 1",
            "ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_RUNNING'",
            "ExecutionDuration > '2h45m'",
            "ExecutionDuration > '1d'",
            "ExecutionDuration > '01:02:03'",
            "CustomInt = 1.5",
            "CustomDouble = 1",
            "CustomDatetime = 5",
            "GROUP BY ExecutionStatus",
            "ScheduleId = 'x'",
            "ChangeVersion = 'x'",
            "TemporalScheduledById = \"x\"",
            "`CustomKw` = 'x'",
        ] {
            compile(q, &custom()).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn hidden_records_are_excluded_unless_the_query_names_the_division() {
        let p = compile("WorkflowType = 'x'", &custom()).unwrap();
        assert!(p
            .to_string()
            .contains("`TemporalNamespaceDivision` IS NULL"));
        let p = compile("TemporalNamespaceDivision = 'TemporalScheduler'", &custom()).unwrap();
        assert!(!p.to_string().contains("IS NULL"));
    }

    #[test]
    fn printed_plans_compile_to_the_same_plan() {
        for q in [
            "WorkflowType = 'a''b' AND (StartTime > '2024-01-02T03:04:05.5+02:00' OR NOT CustomInt IN (1, 2))",
            "CustomDouble BETWEEN 1 AND 2.5 AND CustomKw NOT STARTS_WITH 'p'",
            "ExecutionStatus != 'Completed' AND CustomKwList IS NOT NULL AND CustomBool = false",
            "ExecutionDuration < '1h' GROUP BY ExecutionStatus",
            "",
        ] {
            let plan = compile(q, &custom()).unwrap();
            let again = compile(&plan.to_string(), &custom()).unwrap();
            assert_eq!(plan, again, "{q} -> {plan}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration_nanos("2h45m"),
            Some((2 * 3600 + 45 * 60) * 1_000_000_000)
        );
        assert_eq!(duration_nanos("1d"), Some(86_400 * 1_000_000_000));
        assert_eq!(duration_nanos("01:02:03"), Some(3723 * 1_000_000_000));
        assert_eq!(duration_nanos("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_nanos("x"), None);
    }
}

//! A plan's filter against one run, with SQL's three-valued logic (Temporal's dev server
//! stores visibility in SQL): a comparison with a missing value is unknown, `NOT unknown` is
//! unknown, and only runs for which the filter is true are listed.

use super::parser::CmpOp;
use super::plan::{Field, Filter, System, Value};
use std::cmp::Ordering;
use temporalio_protos::temporal::api::enums::v1::IndexedValueType as T;

/// The values of one run a filter reads.
pub trait Row {
    /// A system column's value; `None` when it has none (CloseTime of an open run).
    fn system(&self, column: System) -> Option<Value>;
    /// A search attribute's values (several for a KeywordList; none when absent), read as
    /// the given type.
    fn attribute(&self, name: &str, ty: T) -> Vec<Value>;
}

fn values(row: &dyn Row, field: &Field) -> Vec<Value> {
    match field.system {
        Some(column) => row.system(column).into_iter().collect(),
        None => row.attribute(&field.name, field.ty),
    }
}

/// `Some(true)`: the run matches; `Some(false)`: it does not; `None`: unknown (no match).
pub fn eval(filter: &Filter, row: &dyn Row) -> Option<bool> {
    match filter {
        Filter::And(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Filter::Or(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Filter::Not(a) => eval(a, row).map(|b| !b),
        Filter::Compare { field, op, value } => {
            let have = values(row, field);
            if have.is_empty() {
                return None;
            }
            let any_eq = || have.iter().any(|v| equal(field, v, value));
            match op {
                CmpOp::Eq => Some(any_eq()),
                CmpOp::Ne => Some(!any_eq()),
                _ => {
                    let ord = compare(&have[0], value)?;
                    Some(match op {
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        CmpOp::Ge => ord != Ordering::Less,
                        CmpOp::Eq | CmpOp::Ne => unreachable!("handled above"),
                    })
                }
            }
        }
        Filter::In {
            field,
            values: wanted,
            negated,
        } => {
            let have = values(row, field);
            if have.is_empty() {
                return None;
            }
            let found = have
                .iter()
                .any(|v| wanted.iter().any(|w| equal(field, v, w)));
            Some(found != *negated)
        }
        Filter::Between {
            field,
            low,
            high,
            negated,
        } => {
            let have = values(row, field);
            let v = have.first()?;
            let inside =
                compare(v, low)? != Ordering::Less && compare(v, high)? != Ordering::Greater;
            Some(inside != *negated)
        }
        Filter::StartsWith {
            field,
            prefix,
            negated,
        } => match values(row, field).first()? {
            Value::Str(s) => Some(s.starts_with(prefix.as_str()) != *negated),
            _ => None,
        },
        Filter::IsNull { field, negated } => Some(values(row, field).is_empty() != *negated),
    }
}

fn equal(field: &Field, have: &Value, want: &Value) -> bool {
    if field.ty == T::Text {
        if let (Value::Str(text), Value::Str(words)) = (have, want) {
            return text_matches(text, words);
        }
    }
    compare(have, want) == Some(Ordering::Equal)
}

/// Full-text match as Temporal's dev server answers it: any word of the query appears among
/// the text's words (ignoring case).
fn text_matches(text: &str, words: &str) -> bool {
    let tokens = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let have = tokens(text);
    let want = tokens(words);
    want.iter().any(|w| have.contains(w))
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) | (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Status(x), Value::Status(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Double(y)) => (*x as f64).partial_cmp(y),
        (Value::Double(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        _ => None,
    }
}

//! Temporal's visibility query language, Keel's own implementation: `lexer` (tokens),
//! `parser` (the grammar, into an untyped tree), `plan` (names resolved against the
//! namespace's search attributes, operators checked per type, literals typed: a `Plan`),
//! `eval` (a plan's filter against one run). Running a plan over the indexes is
//! `crate::visibility`'s.

pub mod eval;
pub mod lexer;
pub mod parser;
pub mod plan;

pub use plan::{compile, Field, Filter, Plan, System, Value};

/// A query Temporal would refuse: INVALID_ARGUMENT with this text (`invalid query: ...`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid query: {0}")]
pub struct QueryError(pub String);

/// Temporal wraps a query as `select * from table1 where <query>` before parsing it, and its
/// syntax errors count positions (from 1) in that text.
const WRAPPER_LEN: usize = "select * from table1 where ".len();

impl QueryError {
    /// A syntax error just before byte `offset` of the query.
    pub fn syntax(offset: usize) -> Self {
        QueryError(format!(
            "malformed SQL query: syntax error at position {}",
            offset + WRAPPER_LEN + 1
        ))
    }
    pub fn not_supported(detail: String) -> Self {
        QueryError(format!("operation is not supported: {detail}"))
    }
    pub fn invalid(detail: String) -> Self {
        QueryError(format!("invalid expression: {detail}"))
    }
    pub fn unknown_attribute(name: &str) -> Self {
        QueryError(format!("invalid search attribute: {name}"))
    }
}

//! Visibility: every run's list row and its index keys, kept by `apply` in the same write
//! batch as the change they describe, so a list is exact the moment a start, close, upsert or
//! delete is acknowledged. No second store.
//!
//! - `row`: a run's `WorkflowExecutionInfo` as List returns it, and reading a row's values
//!   for a query filter.
//! - `index`: the key layouts (tables 10-12 of `keys`) and their maintenance: `execution::save`
//!   notices a changed row by its hash; `flush` rewrites that run's row, index keys and
//!   per-status counts before the mutation's writes are handed back.
//! - `read`: the planner (pick the index for the most selective indexed predicate) and the
//!   executor of List and Count over any `ScanView` (a RocksDB snapshot, or `MemState`).

pub mod index;
pub mod read;
pub mod row;

pub use index::flush;
pub(crate) use index::note_saved;
pub use read::{count, list, CountResult, ListPage, ScanView, VisibilityError};
pub use row::execution_info;

//! Task priority and fairness, Temporal's `Priority` (a priority key, a fairness key and a
//! fairness weight): validated as Temporal validates it, inherited field by field (a child
//! workflow and an activity take their run's fields wherever they leave their own unset, a
//! run that continues or retries keeps its run's), and carried on every task, whose order in
//! its queue matching decides (`TaskPriority`).
//!
//! A priority is kept in state only once the cluster's recorded level includes it
//! (`feature_level::RELEASE_4`): builds before it dropped the field, so until every member
//! is at that level every replica drops it alike.

use crate::ctx::ApplyCtx;
use crate::feature_level;
use temporalio_protos::temporal::api::common::v1::Priority;

/// Temporal's limit on a fairness key, in bytes.
pub const FAIRNESS_KEY_MAX_LENGTH: usize = 64;

/// Temporal's checks, with its messages.
pub fn validate(priority: Option<&Priority>) -> Result<(), String> {
    let Some(p) = priority else { return Ok(()) };
    if p.priority_key < 0 {
        return Err("priority key can't be negative".into());
    }
    if p.fairness_key.len() > FAIRNESS_KEY_MAX_LENGTH {
        return Err("fairness key length exceeds limit".into());
    }
    if p.fairness_weight < 0.0 || p.fairness_weight.is_nan() {
        return Err("must be greater than zero".into());
    }
    Ok(())
}

/// `own`'s fields where set, `inherited`'s where not.
pub fn merge(inherited: Option<&Priority>, own: Option<&Priority>) -> Option<Priority> {
    match (inherited, own) {
        (None, own) => own.cloned(),
        (inherited, None) => inherited.cloned(),
        (Some(base), Some(own)) => Some(Priority {
            priority_key: if own.priority_key != 0 {
                own.priority_key
            } else {
                base.priority_key
            },
            fairness_key: if own.fairness_key.is_empty() {
                base.fairness_key.clone()
            } else {
                own.fairness_key.clone()
            },
            fairness_weight: if own.fairness_weight != 0.0 {
                own.fairness_weight
            } else {
                base.fairness_weight
            },
        }),
    }
}

/// Whether the cluster's recorded level keeps priorities.
pub(crate) fn kept(ctx: &ApplyCtx) -> bool {
    ctx.cluster_level() >= feature_level::RELEASE_4
}

/// `priority`, checked, if the cluster's recorded level keeps priorities; nothing (and no
/// check, as the builds before) if it does not.
pub(crate) fn checked(
    ctx: &ApplyCtx,
    priority: Option<Priority>,
) -> Result<Option<Priority>, String> {
    if !kept(ctx) {
        return Ok(None);
    }
    validate(priority.as_ref())?;
    Ok(priority)
}

/// A task's priority as matching orders by it: 0 fields are unset (the queue's default key,
/// weight 1). The weight is in thousandths, so the value can be hashed and compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskPriority {
    pub priority_key: u32,
    pub fairness_key: String,
    pub fairness_weight_milli: u32,
}

impl TaskPriority {
    pub fn of(priority: Option<&Priority>) -> TaskPriority {
        let Some(p) = priority else {
            return TaskPriority::default();
        };
        let weight = if p.fairness_weight.is_finite() && p.fairness_weight > 0.0 {
            (p.fairness_weight as f64 * 1000.0)
                .round()
                .clamp(1.0, u32::MAX as f64) as u32
        } else {
            0
        };
        TaskPriority {
            priority_key: p.priority_key.max(0) as u32,
            fairness_key: p.fairness_key.clone(),
            fairness_weight_milli: weight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: i32, fairness: &str, weight: f32) -> Priority {
        Priority {
            priority_key: key,
            fairness_key: fairness.into(),
            fairness_weight: weight,
        }
    }

    #[test]
    fn own_fields_win_and_unset_ones_are_inherited() {
        let run = p(2, "tenant-a", 3.0);
        assert_eq!(merge(Some(&run), None), Some(run.clone()));
        assert_eq!(merge(None, Some(&run)), Some(run.clone()));
        assert_eq!(merge(None, None), None);
        assert_eq!(
            merge(Some(&run), Some(&p(4, "", 0.0))),
            Some(p(4, "tenant-a", 3.0))
        );
        assert_eq!(
            merge(Some(&run), Some(&p(0, "tenant-b", 0.5))),
            Some(p(2, "tenant-b", 0.5))
        );
    }

    #[test]
    fn temporals_checks() {
        assert_eq!(validate(None), Ok(()));
        assert_eq!(validate(Some(&p(5, "k", 1.0))), Ok(()));
        assert_eq!(
            validate(Some(&p(-1, "", 0.0))),
            Err("priority key can't be negative".into())
        );
        assert_eq!(
            validate(Some(&p(1, &"k".repeat(65), 0.0))),
            Err("fairness key length exceeds limit".into())
        );
        assert_eq!(
            validate(Some(&p(1, "", -2.0))),
            Err("must be greater than zero".into())
        );
    }

    #[test]
    fn a_task_priority_is_comparable_and_unset_fields_stay_zero() {
        assert_eq!(TaskPriority::of(None), TaskPriority::default());
        assert_eq!(
            TaskPriority::of(Some(&p(3, "t", 0.25))),
            TaskPriority {
                priority_key: 3,
                fairness_key: "t".into(),
                fairness_weight_milli: 250
            }
        );
        assert_eq!(
            TaskPriority::of(Some(&p(0, "", 0.0))).fairness_weight_milli,
            0
        );
    }
}

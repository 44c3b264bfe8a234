//! Retry policies, shared by activities and workflows: whether a failure is retried, and the
//! backoff before the next attempt. Plain IEEE multiplications only (no `powi`), so every
//! replica computes the same nanosecond.

use crate::time::nanos;
use temporalio_protos::temporal::api::{
    common::v1::RetryPolicy,
    enums::v1::{RetryState, TimeoutType},
    failure::v1::{failure::FailureInfo, Failure},
};

/// The backoff before attempt `attempt + 1`, or why there is none. `deadline` (unix nanos, 0 =
/// none) is when all attempts must be over: a retry that would start after it is not made.
pub(crate) fn backoff(
    policy: &RetryPolicy,
    attempt: i32,
    failure: &Failure,
    now: i64,
    deadline: i64,
) -> Result<i64, RetryState> {
    let mut explicit_delay = None;
    match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) => {
            if info.non_retryable || policy.non_retryable_error_types.contains(&info.r#type) {
                return Err(RetryState::NonRetryableFailure);
            }
            explicit_delay = info.next_retry_delay.map(|d| nanos(&Some(d)));
        }
        Some(FailureInfo::TimeoutFailureInfo(info))
            if info.timeout_type != TimeoutType::StartToClose as i32
                && info.timeout_type != TimeoutType::Heartbeat as i32 =>
        {
            return Err(RetryState::Timeout);
        }
        _ => {}
    }
    if policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts {
        return Err(RetryState::MaximumAttemptsReached);
    }
    let max_interval = nanos(&policy.maximum_interval);
    let delay = match explicit_delay {
        Some(d) => d,
        None => {
            let coefficient = if policy.backoff_coefficient >= 1.0 {
                policy.backoff_coefficient
            } else {
                2.0
            };
            let cap = if max_interval > 0 {
                max_interval as f64
            } else {
                i64::MAX as f64
            };
            let mut d = nanos(&policy.initial_interval).max(1) as f64;
            for _ in 1..attempt.max(1) {
                d *= coefficient;
                if d >= cap {
                    break;
                }
            }
            d.min(cap) as i64
        }
    };
    if deadline > 0 && now.saturating_add(delay) >= deadline {
        return Err(RetryState::Timeout);
    }
    Ok(delay)
}

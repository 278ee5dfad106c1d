//! Webhook delivery rules: what counts as delivered, and when to try again (docs/webhooks.md).

use crate::text_enum::text_enum;
use crate::time::Timestamp;

/// Seconds to wait before each retry after a failed attempt, W Checkout's schedule: 14 retries
/// spread over 84,840 s, about 23.6 hours after the first attempt.
pub const RETRY_SCHEDULE_SECS: [i64; 14] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// Seconds an attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT_SECS: u64 = 15;

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt.
        Pending => "PENDING",
        /// The receiver acknowledged it.
        Delivered => "DELIVERED",
        /// Every attempt failed; an operator may resend it.
        Failed => "FAILED",
    }
}

/// True when a receiver's answer acknowledges the event: HTTP 2xx with an empty body, or a body
/// whose `retcode` is `200`/`"200"`, or a body containing `SUCCESS`.
pub fn acknowledged(http_status: u16, body: &[u8]) -> bool {
    if !(200..300).contains(&http_status) {
        return false;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    if body.windows(7).any(|w| w == b"SUCCESS") {
        return true;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    match json.get("retcode") {
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(200),
        Some(serde_json::Value::String(s)) => s == "200",
        _ => false,
    }
}

/// What follows attempt number `attempt` (1 for the first) when it failed: the time of the next
/// one, or `None` when the schedule is exhausted and the delivery has failed.
pub fn next_attempt_after_failure(
    attempt: u32,
    schedule_secs: &[i64],
    now: Timestamp,
) -> Option<Timestamp> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    schedule_secs
        .get(index)
        .map(|delay| now.plus_seconds(*delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements() {
        assert!(acknowledged(200, b""));
        assert!(acknowledged(204, b"  "));
        assert!(acknowledged(200, br#"{"retcode":200,"retmsg":"SUCCESS"}"#));
        assert!(acknowledged(200, br#"{"retcode":"200"}"#));
        assert!(acknowledged(200, b"SUCCESS"));
        assert!(!acknowledged(200, br#"{"retcode":500}"#));
        assert!(!acknowledged(200, b"ok"));
        assert!(!acknowledged(500, b""));
        assert!(!acknowledged(301, b""));
        assert!(!acknowledged(404, br#"{"retcode":200}"#));
    }

    #[test]
    fn the_schedule_runs_out_after_fourteen_retries() {
        let now = Timestamp::from_micros(0);
        assert_eq!(
            next_attempt_after_failure(1, &RETRY_SCHEDULE_SECS, now),
            Some(now.plus_seconds(15))
        );
        assert_eq!(
            next_attempt_after_failure(4, &RETRY_SCHEDULE_SECS, now),
            Some(now.plus_seconds(180))
        );
        assert_eq!(
            next_attempt_after_failure(14, &RETRY_SCHEDULE_SECS, now),
            Some(now.plus_seconds(21600))
        );
        assert_eq!(
            next_attempt_after_failure(15, &RETRY_SCHEDULE_SECS, now),
            None
        );
        let total: i64 = RETRY_SCHEDULE_SECS.iter().sum();
        assert_eq!(total, 84_840, "about 23.6 hours");
    }
}

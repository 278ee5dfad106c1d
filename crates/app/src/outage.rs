//! A worker's run of failed rounds (its chain node down, say): said once when it starts and once
//! when it ends, retried with a growing wait in between, so an outage of an hour is two log
//! lines, not thousands. The figures in between are on `/health` and `/metrics`.

use std::time::Duration;

use wcheckout_domain::time::Timestamp;

/// The failures since the last good round, if any.
#[derive(Debug)]
pub struct Outage {
    /// When the first failure of the run happened, and how many there have been.
    run: Option<(Timestamp, u32)>,
    /// Wait after the first failure; doubled after each further one.
    first_wait: Duration,
    /// Longest wait between two attempts.
    max_wait: Duration,
}

/// What a failed round means for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// True for the first failure of a run: the one to tell the operator about.
    pub starts_outage: bool,
    /// How long to wait before the next attempt.
    pub wait: Duration,
}

/// The end of a run of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Seconds from the first failure to the good round.
    pub down_secs: i64,
    /// Failed rounds in between.
    pub failed_rounds: u32,
}

impl Outage {
    /// Waits start at `first_wait` and double up to `max_wait`.
    pub fn new(first_wait: Duration, max_wait: Duration) -> Outage {
        Outage {
            run: None,
            first_wait,
            max_wait: max_wait.max(first_wait),
        }
    }

    /// A round failed at `now`.
    pub fn failed(&mut self, now: Timestamp) -> Failure {
        let (since, failures) = self.run.unwrap_or((now, 0));
        let failures = failures.saturating_add(1);
        self.run = Some((since, failures));
        let doublings = failures.saturating_sub(1).min(16);
        let wait = self
            .first_wait
            .saturating_mul(1u32 << doublings)
            .min(self.max_wait);
        Failure {
            starts_outage: failures == 1,
            wait,
        }
    }

    /// A round succeeded at `now`: the run of failures it ends, if there was one.
    pub fn succeeded(&mut self, now: Timestamp) -> Option<Recovery> {
        let (since, failed_rounds) = self.run.take()?;
        Some(Recovery {
            down_secs: now.seconds().saturating_sub(since.seconds()).max(0),
            failed_rounds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_said_once_retried_with_backoff_and_ended_once() {
        let mut outage = Outage::new(Duration::from_secs(1), Duration::from_secs(30));
        let at = |s: i64| Timestamp::from_micros(s * 1_000_000);
        assert_eq!(outage.succeeded(at(0)), None, "nothing to end");
        let waits = (1..=8).map(|s| outage.failed(at(s))).collect::<Vec<_>>();
        assert!(waits[0].starts_outage);
        assert!(waits[1..].iter().all(|f| !f.starts_outage));
        let secs = waits.iter().map(|f| f.wait.as_secs()).collect::<Vec<_>>();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(
            outage.succeeded(at(100)),
            Some(Recovery {
                down_secs: 99,
                failed_rounds: 8
            })
        );
        assert_eq!(outage.succeeded(at(101)), None);
        assert!(outage.failed(at(102)).starts_outage, "a new run");
    }
}

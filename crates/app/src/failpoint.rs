//! Pause points for crash tests: when `WCHECKOUT_FAILPOINT` names one, the task reaching it
//! says so on stderr and stops there for good, so a test can SIGKILL the process at exactly
//! that step. Unset (always, outside tests), they cost one environment lookup.

/// The environment variable naming the pause point to stop at.
pub const FAILPOINT_ENV: &str = "WCHECKOUT_FAILPOINT";

/// Stops here forever when the failpoint `name` is set.
pub async fn pause_at(name: &str) {
    if std::env::var(FAILPOINT_ENV).is_ok_and(|set| set == name) {
        eprintln!("FAILPOINT {name} reached");
        std::future::pending::<()>().await;
    }
}

//! Pause points for crash tests: when `WCHECKOUT_FAILPOINT` names one, the task reaching it
//! says so on stderr and stops there for good, so a test can SIGKILL the process at exactly
//! that step. They exist only in builds with the `failpoints` feature, which `cargo test`
//! enables for the binary it tests; in any other build a pause point is an empty function.

/// The environment variable naming the pause point to stop at.
pub const FAILPOINT_ENV: &str = "WCHECKOUT_FAILPOINT";

/// Stops here forever when the failpoint `name` is set.
#[cfg(feature = "failpoints")]
pub async fn pause_at(name: &str) {
    if std::env::var(FAILPOINT_ENV).is_ok_and(|set| set == name) {
        eprintln!("FAILPOINT {name} reached");
        std::future::pending::<()>().await;
    }
}

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
pub async fn pause_at(_name: &str) {}

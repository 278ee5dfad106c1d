//! Who holds a worker's lease (a chain's watcher, a chain's payout engine), and taking one back
//! from this instance's own previous run.
//!
//! A holder names a gateway's stable identity (`server.instance_id`, by default its host name)
//! and its run: where its process ids mean something (the boot and PID namespace), its pid, the
//! process's start time and a random part. A lease held by another identity is taken only once
//! it expires. A lease held by our own identity but another run is taken back at once when that
//! run is provably gone: it ran in our boot and PID namespace and its pid is no longer alive, or
//! now belongs to a process started at another time. A live process configured with our
//! identity (two gateways given the same `instance_id` by mistake, or two in one process as in
//! tests) is never dislodged early, and neither is one whose process we cannot see (another host,
//! another container): those wait for expiry, as before.

use std::fmt;

use wcheckout_domain::ports::{Store, StoreError};
use wcheckout_domain::time::Timestamp;

/// The longest `server.instance_id`.
pub const MAX_IDENTITY_LEN: usize = 64;

/// Whether `identity` can name a gateway in leases: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn valid_identity(identity: &str) -> bool {
    !identity.is_empty()
        && identity.len() <= MAX_IDENTITY_LEN
        && identity
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The default identity: the host name, with characters an identity cannot hold replaced.
pub fn default_identity() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_IDENTITY_LEN)
        .collect();
    if cleaned.is_empty() {
        "wcheckout".to_owned()
    } else {
        cleaned
    }
}

/// One run of a gateway, as written in the leases it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The gateway's stable identity.
    pub identity: String,
    /// Where `pid` means something: the boot id and the PID namespace (empty when unknown).
    pub place: String,
    /// The process id.
    pub pid: u32,
    /// The process's start time, in clock ticks since boot (0 when unknown).
    pub started: u64,
    /// Random, so that two runs in one process differ.
    pub nonce: String,
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}",
            self.identity, self.place, self.pid, self.started, self.nonce
        )
    }
}

impl LeaseHolder {
    /// This process, under `identity`.
    pub fn this_process(identity: &str) -> LeaseHolder {
        let pid = std::process::id();
        LeaseHolder {
            identity: identity.to_owned(),
            place: this_place(),
            pid,
            started: start_time(pid).unwrap_or(0),
            nonce: crate::secrets::random_hex(8),
        }
    }

    /// Reads a holder written by [`fmt::Display`]; `None` for any other text (an older
    /// version's holder, a test's name).
    pub fn parse(text: &str) -> Option<LeaseHolder> {
        let mut parts = text.split('|');
        let holder = LeaseHolder {
            identity: parts.next()?.to_owned(),
            place: parts.next()?.to_owned(),
            pid: parts.next()?.parse().ok()?,
            started: parts.next()?.parse().ok()?,
            nonce: parts.next()?.to_owned(),
        };
        (parts.next().is_none() && valid_identity(&holder.identity)).then_some(holder)
    }

    /// Whether `other` is a run of our own identity, other than this one, that is provably
    /// gone (see the module's documentation).
    pub fn outlives(&self, other: &LeaseHolder) -> bool {
        self.identity == other.identity
            && *self != *other
            && !self.place.is_empty()
            && self.place == other.place
            && other.started != 0
            && start_time(other.pid) != Some(other.started)
    }
}

/// Takes or renews the lease `name` for `holder` until `until`, as [`Store::take_lease`]
/// does, and also takes it back at once from a previous run of the same identity that is gone.
pub async fn take(
    store: &dyn Store,
    name: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, StoreError> {
    if store.take_lease(name, holder, now, until).await? {
        return Ok(true);
    }
    let (Some(ours), Some(current)) = (LeaseHolder::parse(holder), store.lease_holder(name).await?)
    else {
        return Ok(false);
    };
    let gone = LeaseHolder::parse(&current).is_some_and(|previous| ours.outlives(&previous));
    if !gone {
        return Ok(false);
    }
    let taken = store.take_lease_from(name, &current, holder, until).await?;
    if taken {
        tracing::info!(lease = %name, previous = %current, "lease taken back from this instance's previous run, which is gone");
    }
    Ok(taken)
}

/// The boot and PID namespace of this process (`boot-id/pid-namespace`); empty when either is
/// unknown (not Linux).
fn this_place() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .map(|link| link.to_string_lossy().into_owned())
        .unwrap_or_default();
    let namespace: String = namespace.chars().filter(char::is_ascii_digit).collect();
    let boot = boot.trim();
    if boot.is_empty() || namespace.is_empty() {
        return String::new();
    }
    format!("{boot}/{namespace}")
}

/// When process `pid` started (field 22 of `/proc/PID/stat`); `None` when there is no such
/// process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_read_back_and_reject_other_text() {
        let holder = LeaseHolder::this_process("gw-1");
        assert_eq!(LeaseHolder::parse(&holder.to_string()), Some(holder));
        assert_eq!(LeaseHolder::parse("A"), None);
        assert_eq!(LeaseHolder::parse("1234-abcd"), None);
        assert_eq!(LeaseHolder::parse("bad id|p|1|2|n"), None);
        assert_eq!(LeaseHolder::parse("gw|p|1|2|n|extra"), None);
    }

    #[test]
    fn identities_are_checked_and_derived() {
        assert!(valid_identity("gw-1.eu_west"));
        assert!(!valid_identity(""));
        assert!(!valid_identity("a|b"));
        assert!(!valid_identity(&"x".repeat(65)));
        assert!(valid_identity(&default_identity()));
    }

    #[test]
    fn only_a_gone_run_of_our_identity_is_outlived() {
        let ours = LeaseHolder::this_process("gw-1");
        if ours.place.is_empty() || ours.started == 0 {
            // Without /proc nothing is ever provably gone.
            return;
        }
        // Another run in this very process: alive.
        let sibling = LeaseHolder::this_process("gw-1");
        assert!(!ours.outlives(&sibling));
        // Our own lease is no one else's.
        assert!(!ours.outlives(&ours));
        // Our pid, but a process started at another time: the pid was reused, the run is gone.
        let reused = LeaseHolder {
            started: ours.started + 1,
            ..sibling.clone()
        };
        assert!(ours.outlives(&reused));
        // A pid with no process (above Linux's largest pid).
        let dead = LeaseHolder {
            pid: 4_194_305,
            ..sibling.clone()
        };
        assert!(ours.outlives(&dead));
        // Another identity, or a place we cannot see into, or no start time: never early.
        let other = LeaseHolder {
            identity: "gw-2".into(),
            ..dead.clone()
        };
        assert!(!ours.outlives(&other));
        let elsewhere = LeaseHolder {
            place: "other-boot/1".into(),
            ..dead.clone()
        };
        assert!(!ours.outlives(&elsewhere));
        let unknown = LeaseHolder { started: 0, ..dead };
        assert!(!ours.outlives(&unknown));
    }
}

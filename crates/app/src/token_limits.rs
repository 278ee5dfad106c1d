//! Limits on failed token requests and console sign-ins, kept in this process's memory
//! (several processes each apply them on their own).
//!
//! - Every failed request (`00005` wrong apiKey/apiSecret or disabled app, `00004` bad refresh
//!   token) counts against the client's address: an IPv4 address, or an IPv6 /64. An address
//!   with [`TokenLimitPolicy::failures_per_address`] failures in its window is answered `00429`
//!   until the window ends, before anything is looked up, right secret or not.
//! - A failure for an existing app from an address that is not one of the app's own (none
//!   obtained a token for it from there within [`TokenLimitPolicy::trusted_for_secs`], and the
//!   address is not on its IP allow-list) also counts against the app. Once the app has
//!   [`TokenLimitPolicy::failures_per_app`] such failures in its window, each further stranger's
//!   failure uses up that stranger's whole allowance at once: many addresses guessing one app's
//!   secret get one try each per window. The app's own addresses keep their usual allowance,
//!   so an attacker cannot lock a merchant out from its own servers, and the right secret is
//!   accepted from any address that is not itself over its limit.
//! - Windows are fixed (they start at the first failure and last
//!   [`TokenLimitPolicy::window_secs`]). Each table keeps at most
//!   [`TokenLimitPolicy::max_tracked`] entries: ended windows go first, then the oldest.
//! - Console sign-ins ([`LoginLimiter`]) count failures per client address and per username
//!   the same way: either over its limit refuses every attempt, right password or not, until
//!   its window ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use wcheckout_domain::app::IpNetwork;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::time::Timestamp;

/// The numbers of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenLimitPolicy {
    /// Length of a counting window, seconds.
    pub window_secs: i64,
    /// Failures an address may have in a window.
    pub failures_per_address: u32,
    /// Failures from strangers an app takes in a window before each stranger gets one try.
    pub failures_per_app: u32,
    /// How long an address that obtained a token for an app counts as one of the app's own.
    pub trusted_for_secs: i64,
    /// Most entries each table keeps.
    pub max_tracked: usize,
}

impl Default for TokenLimitPolicy {
    fn default() -> Self {
        TokenLimitPolicy {
            window_secs: 60,
            failures_per_address: 10,
            failures_per_app: 30,
            trusted_for_secs: 24 * 3600,
            max_tracked: 10_000,
        }
    }
}

/// What a limit counts: an IPv4 address, or the /64 of an IPv6 address (a single host often
/// holds a whole /64). IPv4-mapped IPv6 addresses count as their IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Client(IpAddr);

impl Client {
    fn of(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(_) => Client(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !u128::from(u64::MAX);
                    Client(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

/// Failures counted since `started`.
#[derive(Clone, Copy, Debug)]
struct Window {
    started: Timestamp,
    failures: u32,
}

impl Window {
    fn ends(&self, window_secs: i64) -> Timestamp {
        self.started.plus_seconds(window_secs)
    }

    fn ended(&self, now: Timestamp, window_secs: i64) -> bool {
        now >= self.ends(window_secs)
    }
}

#[derive(Default)]
struct Tables {
    addresses: HashMap<Client, Window>,
    apps: HashMap<AppId, Window>,
    /// The last time each address obtained a token for each app.
    trusted: HashMap<(AppId, Client), Timestamp>,
}

/// The token endpoint's limits on failed requests.
#[derive(Default)]
pub struct TokenLimiter {
    policy: TokenLimitPolicy,
    tables: Mutex<Tables>,
}

impl TokenLimiter {
    /// A limiter applying `policy`.
    pub fn new(policy: TokenLimitPolicy) -> TokenLimiter {
        TokenLimiter {
            policy,
            tables: Mutex::default(),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables stay consistent whatever a panicking holder did: each change is one
        // assignment.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The seconds `ip` must wait (at least 1) when it is over its limit; `None` when it may try.
    pub fn blocked(&self, ip: IpAddr, now: Timestamp) -> Option<u64> {
        let tables = self.tables();
        let window = tables.addresses.get(&Client::of(ip))?;
        let window_secs = self.policy.window_secs;
        if window.ended(now, window_secs) || window.failures < self.policy.failures_per_address {
            return None;
        }
        let micros_left = window
            .ends(window_secs)
            .micros()
            .saturating_sub(now.micros());
        let seconds = micros_left.saturating_add(999_999) / 1_000_000;
        Some(u64::try_from(seconds).unwrap_or(1).max(1))
    }

    /// Counts a failed request from `ip`; `app` is the app the apiKey named, with its IP
    /// allow-list, when it named one.
    pub fn record_failure(&self, ip: IpAddr, app: Option<(&AppId, &[IpNetwork])>, now: Timestamp) {
        let policy = &self.policy;
        let client = Client::of(ip);
        let mut tables = self.tables();
        let stranger_to = app.filter(|(app, allow)| !self.is_own(&tables, app, allow, ip, now));
        let mut exhausted = false;
        if let Some((app, _)) = stranger_to {
            let window = window_of(&mut tables.apps, app.clone(), now, policy.bounds());
            exhausted = window.failures >= policy.failures_per_app;
            window.failures = window.failures.saturating_add(1);
        }
        let window = window_of(&mut tables.addresses, client, now, policy.bounds());
        if exhausted {
            // The app is being guessed at from many addresses: this one has had its try.
            *window = Window {
                started: now,
                failures: policy.failures_per_address,
            };
        } else {
            window.failures = window.failures.saturating_add(1);
        }
    }

    /// Records that `ip` obtained a token for `app`: from now on it is one of the app's own.
    pub fn record_success(&self, ip: IpAddr, app: &AppId, now: Timestamp) {
        let key = (app.clone(), Client::of(ip));
        let mut tables = self.tables();
        let trusted = &mut tables.trusted;
        if !trusted.contains_key(&key) && trusted.len() >= self.policy.max_tracked {
            let since = now.plus_seconds(-self.policy.trusted_for_secs);
            trusted.retain(|_, last| *last > since);
            evict_oldest(trusted, self.policy.max_tracked, |last| *last);
        }
        trusted.insert(key, now);
    }

    /// True when `ip` is one of `app`'s own addresses: on its allow-list, or it obtained a token
    /// for it recently.
    fn is_own(
        &self,
        tables: &Tables,
        app: &AppId,
        allow: &[IpNetwork],
        ip: IpAddr,
        now: Timestamp,
    ) -> bool {
        let since = now.plus_seconds(-self.policy.trusted_for_secs);
        allow.iter().any(|net| net.contains(ip))
            || tables
                .trusted
                .get(&(app.clone(), Client::of(ip)))
                .is_some_and(|last| *last > since)
    }

    /// How many entries each table holds: addresses, apps, trusted pairs.
    pub fn tracked(&self) -> (usize, usize, usize) {
        let tables = self.tables();
        (
            tables.addresses.len(),
            tables.apps.len(),
            tables.trusted.len(),
        )
    }
}

/// How long a window lasts and how many entries a table keeps.
#[derive(Clone, Copy)]
struct Bounds {
    window_secs: i64,
    max_tracked: usize,
}

impl TokenLimitPolicy {
    const fn bounds(&self) -> Bounds {
        Bounds {
            window_secs: self.window_secs,
            max_tracked: self.max_tracked,
        }
    }
}

/// The current window of `key`, opened (and room made for it) when there is none or the last
/// one ended.
fn window_of<K: Hash + Eq>(
    map: &mut HashMap<K, Window>,
    key: K,
    now: Timestamp,
    bounds: Bounds,
) -> &mut Window {
    if !map.contains_key(&key) && map.len() >= bounds.max_tracked {
        map.retain(|_, window| !window.ended(now, bounds.window_secs));
        evict_oldest(map, bounds.max_tracked, |window| window.started);
    }
    let fresh = Window {
        started: now,
        failures: 0,
    };
    let window = map.entry(key).or_insert(fresh);
    if window.ended(now, bounds.window_secs) {
        *window = fresh;
    }
    window
}

/// Whether `window` has `limit` failures and has not ended.
fn over(window: Option<&Window>, limit: u32, now: Timestamp, window_secs: i64) -> bool {
    window.is_some_and(|w| !w.ended(now, window_secs) && w.failures >= limit)
}

/// The numbers of the console's sign-in limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginLimitPolicy {
    /// Length of a counting window, seconds.
    pub window_secs: i64,
    /// Failed sign-ins an address may have in a window.
    pub failures_per_address: u32,
    /// Failed sign-ins a username may have in a window, from anywhere.
    pub failures_per_name: u32,
    /// Most entries each table keeps.
    pub max_tracked: usize,
}

impl Default for LoginLimitPolicy {
    fn default() -> Self {
        LoginLimitPolicy {
            window_secs: 15 * 60,
            failures_per_address: 20,
            failures_per_name: 5,
            max_tracked: 10_000,
        }
    }
}

impl LoginLimitPolicy {
    const fn bounds(&self) -> Bounds {
        Bounds {
            window_secs: self.window_secs,
            max_tracked: self.max_tracked,
        }
    }
}

#[derive(Default)]
struct LoginTables {
    addresses: HashMap<Client, Window>,
    names: HashMap<String, Window>,
}

/// The console's limits on failed sign-ins.
#[derive(Default)]
pub struct LoginLimiter {
    policy: LoginLimitPolicy,
    tables: Mutex<LoginTables>,
}

/// Usernames are counted by their first characters only, so that long made-up names cannot
/// grow the table's memory.
fn name_key(name: &str) -> String {
    name.chars().take(crate::operators::MAX_NAME_KEY).collect()
}

impl LoginLimiter {
    /// A limiter applying `policy`.
    pub fn new(policy: LoginLimitPolicy) -> LoginLimiter {
        LoginLimiter {
            policy,
            tables: Mutex::default(),
        }
    }

    fn tables(&self) -> MutexGuard<'_, LoginTables> {
        // Each change is one assignment: the tables stay consistent whatever a holder did.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `ip` or `name` is over its limit: then every attempt is refused.
    pub fn blocked(&self, ip: IpAddr, name: &str, now: Timestamp) -> bool {
        let tables = self.tables();
        let policy = &self.policy;
        let window = policy.window_secs;
        let address = tables.addresses.get(&Client::of(ip));
        over(address, policy.failures_per_address, now, window)
            || over(
                tables.names.get(&name_key(name)),
                policy.failures_per_name,
                now,
                window,
            )
    }

    /// Counts a failed sign-in from `ip` as `name`.
    pub fn record_failure(&self, ip: IpAddr, name: &str, now: Timestamp) {
        let bounds = self.policy.bounds();
        let mut tables = self.tables();
        let address = window_of(&mut tables.addresses, Client::of(ip), now, bounds);
        address.failures = address.failures.saturating_add(1);
        let named = window_of(&mut tables.names, name_key(name), now, bounds);
        named.failures = named.failures.saturating_add(1);
    }
}

/// When `map` is still at `bound`, drops its oldest eighth or so (by `age`; entries as old as
/// the last one dropped go too), so that making room costs one pass per many insertions.
fn evict_oldest<K, V>(map: &mut HashMap<K, V>, bound: usize, age: impl Fn(&V) -> Timestamp) {
    if map.len() < bound {
        return;
    }
    let mut ages: Vec<Timestamp> = map.values().map(&age).collect();
    let cut = ages.len() / 8;
    let (_, newest_dropped, _) = ages.select_nth_unstable(cut);
    let newest_dropped = *newest_dropped;
    map.retain(|_, value| age(value) > newest_dropped);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + seconds * 1_000_000)
    }

    fn networks(allow: &[&str]) -> Vec<IpNetwork> {
        allow
            .iter()
            .map(|net| IpNetwork::parse(net).unwrap())
            .collect()
    }

    fn small() -> TokenLimitPolicy {
        TokenLimitPolicy {
            window_secs: 60,
            failures_per_address: 3,
            failures_per_app: 5,
            trusted_for_secs: 3600,
            max_tracked: 64,
        }
    }

    #[test]
    fn an_address_is_blocked_for_the_rest_of_its_window() {
        let limiter = TokenLimiter::new(small());
        let attacker = ip("203.0.113.9");
        for second in 0..3 {
            assert_eq!(limiter.blocked(attacker, at(second)), None);
            limiter.record_failure(attacker, None, at(second));
        }
        assert_eq!(limiter.blocked(attacker, at(3)), Some(57));
        assert_eq!(
            limiter.blocked(attacker, Timestamp::from_micros(at(59).micros() + 1)),
            Some(1)
        );
        assert_eq!(limiter.blocked(ip("198.51.100.1"), at(3)), None);
        assert_eq!(limiter.blocked(attacker, at(60)), None, "the window ended");
        limiter.record_failure(attacker, None, at(60));
        assert_eq!(limiter.blocked(attacker, at(61)), None, "a new window");
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let limiter = TokenLimiter::new(small());
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
            limiter.record_failure(ip(host), None, at(0));
        }
        assert!(limiter.blocked(ip("2001:db8:1:2::99"), at(1)).is_some());
        assert_eq!(limiter.blocked(ip("2001:db8:1:3::1"), at(1)), None);
        for _ in 0..3 {
            limiter.record_failure(ip("::ffff:192.0.2.7"), None, at(0));
        }
        assert!(limiter.blocked(ip("192.0.2.7"), at(1)).is_some());
    }

    #[test]
    fn strangers_get_one_try_each_once_an_app_is_under_attack() {
        let limiter = TokenLimiter::new(small());
        let shop_id = AppId::new("app_shop");
        let allow = networks(&["10.9.0.0/16"]);
        let shop = Some((&shop_id, allow.as_slice()));
        let own = ip("192.0.2.10");
        limiter.record_success(own, &shop_id, at(0));
        // Five strangers fail once each: the app's allowance for strangers is used.
        for n in 1..=5 {
            let stranger = ip(&format!("198.51.100.{n}"));
            limiter.record_failure(stranger, shop, at(1));
            assert_eq!(limiter.blocked(stranger, at(2)), None, "{stranger}");
        }
        // From now on a stranger's failure blocks it at once, for a whole window.
        let late = ip("198.51.100.77");
        limiter.record_failure(late, shop, at(10));
        assert_eq!(limiter.blocked(late, at(11)), Some(59));
        // The app's own addresses keep their allowance: recent token holders, allow-listed.
        for own in [own, ip("10.9.3.4")] {
            limiter.record_failure(own, shop, at(12));
            assert_eq!(limiter.blocked(own, at(13)), None, "{own}");
        }
        // Another app is not affected.
        let other_id = AppId::new("app_other");
        let newcomer = ip("198.51.100.200");
        limiter.record_failure(newcomer, Some((&other_id, &[])), at(14));
        assert_eq!(limiter.blocked(newcomer, at(15)), None);
        // Trust lapses after an hour (this policy): then the address is a stranger too.
        for n in 1..=5 {
            limiter.record_failure(ip(&format!("198.51.100.{n}")), shop, at(3601));
        }
        limiter.record_failure(own, shop, at(3602));
        assert!(limiter.blocked(own, at(3603)).is_some());
    }

    #[test]
    fn sign_ins_are_limited_per_address_and_per_name() {
        let limiter = LoginLimiter::new(LoginLimitPolicy {
            window_secs: 60,
            failures_per_address: 4,
            failures_per_name: 2,
            max_tracked: 64,
        });
        let (attacker, owner) = (ip("203.0.113.9"), ip("192.0.2.1"));
        for second in 0..2 {
            assert!(!limiter.blocked(attacker, "alice", at(second)));
            limiter.record_failure(attacker, "alice", at(second));
        }
        // alice is locked wherever the next attempt comes from; other names are not.
        assert!(limiter.blocked(owner, "alice", at(2)));
        assert!(!limiter.blocked(owner, "bob", at(2)));
        for name in ["bob", "carol"] {
            limiter.record_failure(attacker, name, at(3));
        }
        // The attacker's address is locked for every name.
        assert!(limiter.blocked(attacker, "dave", at(4)));
        assert!(!limiter.blocked(owner, "dave", at(4)));
        assert!(!limiter.blocked(owner, "alice", at(60)), "the window ended");
    }

    #[test]
    fn tables_stay_bounded() {
        let limiter = TokenLimiter::new(small());
        let shop_id = AppId::new("app_shop");
        let shop = Some((&shop_id, &[][..]));
        for n in 0..10_000_u32 {
            let [_, a, b, c] = n.to_be_bytes();
            let address = IpAddr::from([10, a, b, c]);
            let now = at(i64::from(n / 100));
            limiter.record_failure(address, shop, now);
            limiter.record_success(address, &AppId::new(format!("app_{n}")), now);
        }
        let (addresses, apps, trusted) = limiter.tracked();
        assert!(addresses <= 64, "{addresses}");
        assert_eq!(apps, 1);
        assert!(trusted <= 64, "{trusted}");
        // The most recent address is still counted (blocked at once: the app is under attack).
        assert!(
            limiter
                .blocked(IpAddr::from([10, 0, 39, 15]), at(99))
                .is_some()
        );
    }
}

//! Points in time, always UTC, stored as microseconds since the Unix epoch.

use std::fmt;

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// A point in time in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

const ISO_MICROS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");
const SPACED_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const ISO_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// One second in microseconds.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

impl Timestamp {
    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// From milliseconds since the epoch (saturating far outside any real date).
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis.saturating_mul(1000))
    }

    /// Microseconds since the epoch.
    pub const fn micros(&self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch.
    pub const fn millis(&self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Whole seconds since the epoch.
    pub const fn seconds(&self) -> i64 {
        self.0.div_euclid(MICROS_PER_SECOND)
    }

    /// This instant moved by whole seconds (saturating).
    pub const fn plus_seconds(&self, seconds: i64) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(seconds.saturating_mul(MICROS_PER_SECOND)),
        )
    }

    /// Whole seconds from `self` until `later`, rounded up, never negative.
    pub fn seconds_until(&self, later: Timestamp) -> i64 {
        let micros = later.0.saturating_sub(self.0).max(0);
        micros.saturating_add(MICROS_PER_SECOND - 1) / MICROS_PER_SECOND
    }

    fn as_datetime(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0).saturating_mul(1000)).ok()
    }

    /// `2025-09-26T14:49:09.294114` (UTC, microseconds, no zone), the order objects' format.
    pub fn to_iso_micros(&self) -> String {
        self.format(ISO_MICROS)
    }

    /// `2025-12-23 12:56:47` (UTC), the abnormal payment objects' format.
    pub fn to_spaced_seconds(&self) -> String {
        self.format(SPACED_SECONDS)
    }

    fn format(&self, description: &[FormatItem<'static>]) -> String {
        self.as_datetime()
            .and_then(|dt| dt.format(description).ok())
            .unwrap_or_default()
    }

    /// Parses a time given by an integrator: epoch milliseconds, `yyyy-MM-dd HH:mm:ss`,
    /// `yyyy-MM-ddTHH:mm:ss[.ffffff]` or RFC 3339; times without a zone are UTC.
    pub fn parse_flexible(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse::<i64>().ok().map(Timestamp::from_millis);
        }
        if let Ok(dt) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        {
            return Some(Timestamp::from_datetime(dt));
        }
        [ISO_MICROS, SPACED_SECONDS, ISO_SECONDS]
            .iter()
            .find_map(|format| PrimitiveDateTime::parse(text, format).ok())
            .map(|dt| Timestamp::from_datetime(dt.assume_utc()))
    }

    fn from_datetime(dt: OffsetDateTime) -> Timestamp {
        let micros = dt.unix_timestamp_nanos() / 1000;
        Timestamp(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_docs() {
        let t = Timestamp::parse_flexible("2025-09-26T14:49:09.294114").unwrap();
        assert_eq!(t.to_iso_micros(), "2025-09-26T14:49:09.294114");
        assert_eq!(t.to_spaced_seconds(), "2025-09-26 14:49:09");
        assert_eq!(
            Timestamp::parse_flexible("2025-09-26 14:49:09")
                .unwrap()
                .seconds(),
            t.seconds()
        );
        assert_eq!(
            Timestamp::parse_flexible("1758701681000")
                .unwrap()
                .seconds(),
            1758701681
        );
        assert!(Timestamp::parse_flexible("yesterday").is_none());
    }

    #[test]
    fn counts_remaining_seconds_up() {
        let t = Timestamp::from_micros(0);
        assert_eq!(t.seconds_until(Timestamp::from_micros(1)), 1);
        assert_eq!(t.seconds_until(Timestamp::from_micros(-5)), 0);
        assert_eq!(t.seconds_until(t.plus_seconds(60)), 60);
    }
}

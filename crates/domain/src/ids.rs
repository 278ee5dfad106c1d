//! Identifiers: integrator numbers, W Checkout system ids, app ids.

use std::fmt;

use crate::time::Timestamp;

/// An integrator-chosen number (`orderNo`, `refundOrderNo`, `settlementOrderNo`):
/// `^[A-Za-z0-9_-]{1,64}$`, unique per app.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntegratorNo(String);

impl IntegratorNo {
    /// Longest accepted number.
    pub const MAX_LEN: usize = 64;

    /// Checks the pattern.
    pub fn parse(text: &str) -> Option<IntegratorNo> {
        let ok = (1..=Self::MAX_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| IntegratorNo(text.to_owned()))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IntegratorNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of object a system id names, which fixes its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysidKind {
    /// Checkout order, `OR…`.
    Order,
    /// Refund order, `RF…`.
    Refund,
    /// Settlement order, `ST…`.
    Settlement,
    /// Abnormal payment, `AP…`.
    AbnormalPayment,
    /// Payout (an on-chain send of ours), `PO…`.
    Payout,
}

impl SysidKind {
    /// The two-letter prefix.
    pub const fn prefix(self) -> &'static str {
        match self {
            SysidKind::Order => "OR",
            SysidKind::Refund => "RF",
            SysidKind::Settlement => "ST",
            SysidKind::AbnormalPayment => "AP",
            SysidKind::Payout => "PO",
        }
    }
}

/// Composes a W Checkout system id like `OR1971467057612247041`: the prefix and 19 digits made
/// of the creation millisecond and 22 random bits, so ids sort by time and two processes
/// practically never collide (the store's unique key catches the rest).
pub fn compose_sysid(kind: SysidKind, now: Timestamp, random: u32) -> String {
    const EPOCH_2020_MS: i64 = 1_577_836_800_000;
    let millis = u64::try_from(now.millis().saturating_sub(EPOCH_2020_MS)).unwrap_or(0);
    let value = (millis << 22) | u64::from(random & 0x3f_ffff);
    format!("{}{value:019}", kind.prefix())
}

/// The id of an app (an integrator), `app_` + 16 lower-case letters and digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppId(String);

impl AppId {
    /// Wraps a stored or generated id.
    pub fn new(id: impl Into<String>) -> AppId {
        AppId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The merchant an order belongs to when the integrator names none.
pub const DEFAULT_MERCHANT_ID: &str = "default";

/// Longest accepted `merchantId` / `customerId`.
pub const MAX_EXTERNAL_ID_LEN: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrator_numbers_follow_the_pattern() {
        assert!(IntegratorNo::parse("1759988038609").is_some());
        assert!(IntegratorNo::parse("order_2024-01").is_some());
        assert!(IntegratorNo::parse(&"a".repeat(64)).is_some());
        for bad in ["", "a b", "订单", "a/b", "a.b", &"a".repeat(65)] {
            assert!(IntegratorNo::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sysids_have_prefix_and_19_digits() {
        let id = compose_sysid(
            SysidKind::Order,
            Timestamp::from_millis(1_758_701_681_000),
            12345,
        );
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("OR"));
        assert!(id[2..].bytes().all(|b| b.is_ascii_digit()));
        let later = compose_sysid(
            SysidKind::Order,
            Timestamp::from_millis(1_758_701_681_001),
            0,
        );
        assert!(later > id);
    }
}

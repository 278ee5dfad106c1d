//! Apps: the integrators an operator serves. Each has its own credentials, webhook URL, IP
//! allow-list, underpayment tolerance and page branding; nothing is shared between apps.
#![deny(clippy::arithmetic_side_effects)]

use std::net::IpAddr;

use crate::ids::AppId;
use crate::money::{Decimal, TokenAmount};
use crate::time::Timestamp;

/// An IPv4 or IPv6 network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`, or a bare address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `ADDRESS[/PREFIX]`.
    pub fn parse(text: &str) -> Option<IpNetwork> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNetwork { address, prefix })
    }

    /// True when `ip` is inside the network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn prefix_matches(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full_bytes = usize::from(prefix / 8);
    let rest_bits = prefix % 8;
    if net[..full_bytes] != ip[..full_bytes] {
        return false;
    }
    if rest_bits == 0 {
        return true;
    }
    let mask = 0xffu8 << 8u8.saturating_sub(rest_bits);
    (net[full_bytes] & mask) == (ip[full_bytes] & mask)
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// How much less than the amount due still counts as paid in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnderpaymentTolerance {
    /// Percent of the amount due (`0.5` = half a percent).
    pub percent: Decimal,
    /// Absolute amount in whole tokens (`0.01`).
    pub amount: Decimal,
}

impl UnderpaymentTolerance {
    /// The least a payer may send for `due`: the more lenient of the two allowances applies,
    /// each rounded down to base units so that a tolerance never grows by rounding.
    pub fn min_accepted(&self, due: TokenAmount, decimals: u8) -> TokenAmount {
        let by_percent = percent_of(due, &self.percent);
        let by_amount = floor_base_units(&self.amount, decimals);
        due.saturating_sub(by_percent.max(by_amount))
    }
}

fn percent_of(due: TokenAmount, percent: &Decimal) -> TokenAmount {
    let hundred_scale = percent.scale().saturating_add(2);
    let product = due.base_units().checked_mul(percent.mantissa());
    let divisor = 10u128.checked_pow(hundred_scale);
    match (product, divisor) {
        (Some(p), Some(d)) => TokenAmount::from_base_units(p.checked_div(d).unwrap_or(0)),
        _ => due,
    }
}

fn floor_base_units(amount: &Decimal, decimals: u8) -> TokenAmount {
    let decimals = u32::from(decimals);
    let units = if amount.scale() <= decimals {
        let factor = 10u128.checked_pow(decimals.saturating_sub(amount.scale()));
        factor.and_then(|f| amount.mantissa().checked_mul(f))
    } else {
        let divisor = 10u128.checked_pow(amount.scale().saturating_sub(decimals));
        divisor.and_then(|d| amount.mantissa().checked_div(d))
    };
    TokenAmount::from_base_units(units.unwrap_or(u128::MAX))
}

/// How the hosted payment page presents an app.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Branding {
    /// Name shown to payers (defaults to the app name).
    pub display_name: Option<String>,
    /// Logo URL or `data:` URI.
    pub logo_url: Option<String>,
    /// Theme colour, `#rrggbb`.
    pub theme_color: Option<String>,
}

/// An integrator as stored. Secrets are kept only as a hash (`apiSecret`) or sealed with the
/// operator's master key (`signKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// `app_…`.
    pub id: AppId,
    /// Operator-facing name.
    pub name: String,
    /// Public half of the client credentials.
    pub api_key: String,
    /// SHA-256 of the `apiSecret`, hex.
    pub api_secret_hash: String,
    /// The `signKey`, sealed by the master key.
    pub sign_key_sealed: String,
    /// Where events are delivered.
    pub webhook_url: Option<String>,
    /// Networks allowed to call the API; empty means any.
    pub ip_allow: Vec<IpNetwork>,
    /// Underpayment tolerance for new orders.
    pub tolerance: UnderpaymentTolerance,
    /// Hosted page branding.
    pub branding: Branding,
    /// Increased by every secret rotation, which invalidates every token issued before.
    pub secrets_version: i64,
    /// Disabled apps can't obtain tokens or call the API.
    pub enabled: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl App {
    /// True when the allow-list is empty or contains `ip`.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.ip_allow.is_empty() || self.ip_allow.iter().any(|net| net.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix() {
        let net = IpNetwork::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpNetwork::parse("203.0.113.7").unwrap();
        assert!(one.contains("203.0.113.7".parse().unwrap()));
        assert!(!one.contains("203.0.113.8".parse().unwrap()));
        assert!(
            IpNetwork::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(IpNetwork::parse("10.0.0.0/33").is_none());
        assert!(IpNetwork::parse("nonsense").is_none());
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn tolerance_takes_the_more_lenient_allowance() {
        let due = TokenAmount::from_base_units(100_000_000);
        let t = |p: &str, a: &str| UnderpaymentTolerance {
            percent: Decimal::parse(p).unwrap(),
            amount: Decimal::parse(a).unwrap(),
        };
        assert_eq!(t("0", "0").min_accepted(due, 6), due);
        assert_eq!(t("1", "0").min_accepted(due, 6).base_units(), 99_000_000);
        assert_eq!(t("0", "0.01").min_accepted(due, 6).base_units(), 99_990_000);
        assert_eq!(t("1", "0.01").min_accepted(due, 6).base_units(), 99_000_000);
        assert_eq!(t("0", "1000").min_accepted(due, 6), TokenAmount::ZERO);
    }
}

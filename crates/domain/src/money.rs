//! Exact money. No floats anywhere: a [`Decimal`] is an integer mantissa with a decimal scale,
//! a [`TokenAmount`] is an integer of a token's base units. Every operation is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::cmp::Ordering;
use std::fmt;

use ruint::aliases::U256;

/// Most decimal places a [`Decimal`] may carry (36 keeps 10^scale inside u128).
pub const MAX_SCALE: u32 = 36;

/// Significant decimal digits a binary64 float (`f64`, a JavaScript number) holds exactly: every
/// decimal of at most 15 significant digits comes back unchanged from the nearest float. Digits
/// of a JSON number beyond these are the noise of binary arithmetic (`1999 × 0.01` is written
/// `19.990000000000002`), which [`Decimal::round_significant`] removes before pricing.
pub const FLOAT_SIGNIFICANT_DIGITS: u32 = 15;

/// A non-negative exact decimal: `mantissa / 10^scale`.
///
/// The scale is kept as written (`1.50` stays `1.50`), while equality and ordering compare values.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: u128,
    scale: u32,
}

/// Why a text is not an acceptable decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not a number in JSON number syntax (a sign, digits, optional fraction and exponent).
    #[error("is not a number")]
    Syntax,
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// Too many digits to hold exactly.
    #[error("has too many digits")]
    TooLarge,
}

/// The result of arithmetic does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount arithmetic overflow")]
pub struct Overflow;

impl Default for Decimal {
    fn default() -> Self {
        Decimal::ZERO
    }
}

fn pow10(exp: u32) -> Option<u128> {
    10u128.checked_pow(exp)
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa / 10^scale`; `None` when the scale is above [`MAX_SCALE`].
    pub fn new(mantissa: u128, scale: u32) -> Option<Decimal> {
        (scale <= MAX_SCALE).then_some(Decimal { mantissa, scale })
    }

    /// A whole number.
    pub fn from_integer(value: u128) -> Decimal {
        Decimal {
            mantissa: value,
            scale: 0,
        }
    }

    /// The integer mantissa.
    pub fn mantissa(&self) -> u128 {
        self.mantissa
    }

    /// Decimal places as written.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// True when the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Parses JSON number syntax exactly (`12`, `0.30000000000000004`, `1.5e-3`). A leading `-`
    /// is recognised only to refuse it with [`DecimalError::Negative`].
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (number, exponent) = split_exponent(rest)?;
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (number, None),
        };
        let valid_int = !int_part.is_empty()
            && int_part.bytes().all(|b| b.is_ascii_digit())
            && (int_part == "0" || !int_part.starts_with('0'));
        let valid_frac =
            frac_part.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
        if !valid_int || !valid_frac {
            return Err(DecimalError::Syntax);
        }
        let frac = frac_part.unwrap_or("");
        let digits = int_part.trim_start_matches('0').to_owned() + frac;
        let digits = digits.trim_start_matches('0');
        let mantissa = if digits.is_empty() {
            0
        } else {
            digits.parse::<u128>().map_err(|_| DecimalError::TooLarge)?
        };
        if negative && mantissa != 0 {
            return Err(DecimalError::Negative);
        }
        let frac_len = i64::try_from(frac.len()).map_err(|_| DecimalError::TooLarge)?;
        let scale = frac_len
            .checked_sub(exponent)
            .ok_or(DecimalError::TooLarge)?;
        Decimal::with_signed_scale(mantissa, scale)
    }

    fn with_signed_scale(mantissa: u128, scale: i64) -> Result<Decimal, DecimalError> {
        if scale >= 0 {
            let scale = u32::try_from(scale).map_err(|_| DecimalError::TooLarge)?;
            let value = Decimal::new(mantissa, scale).ok_or(DecimalError::TooLarge)?;
            return Ok(value);
        }
        let shift = u32::try_from(scale.unsigned_abs()).map_err(|_| DecimalError::TooLarge)?;
        let factor = pow10(shift).ok_or(DecimalError::TooLarge)?;
        let mantissa = mantissa.checked_mul(factor).ok_or(DecimalError::TooLarge)?;
        Ok(Decimal { mantissa, scale: 0 })
    }

    /// The same value without trailing fractional zeros (`1.500` becomes `1.5`).
    pub fn normalized(&self) -> Decimal {
        let mut value = *self;
        while value.scale > 0 && value.mantissa.is_multiple_of(10) {
            value.mantissa /= 10;
            value.scale = value.scale.saturating_sub(1);
        }
        value
    }

    /// Decimal places the value needs (`1.50` needs 1).
    pub fn significant_scale(&self) -> u32 {
        self.normalized().scale
    }

    /// The value rescaled to `scale` places, when that loses nothing.
    pub fn rescale_exact(&self, scale: u32) -> Option<Decimal> {
        let normalized = self.normalized();
        if normalized.scale > scale || scale > MAX_SCALE {
            return None;
        }
        let factor = pow10(scale.checked_sub(normalized.scale)?)?;
        let mantissa = normalized.mantissa.checked_mul(factor)?;
        Some(Decimal { mantissa, scale })
    }

    /// `self × other`, rounded up (towards more) to `scale` places.
    pub fn mul_round_up(&self, other: &Decimal, scale: u32) -> Result<Decimal, Overflow> {
        let product = U256::from(self.mantissa)
            .checked_mul(U256::from(other.mantissa))
            .ok_or(Overflow)?;
        let product_scale = self.scale.checked_add(other.scale).ok_or(Overflow)?;
        let mantissa = rescale_round_up(product, product_scale, scale)?;
        let mantissa = u128::try_from(mantissa).map_err(|_| Overflow)?;
        Decimal::new(mantissa, scale).ok_or(Overflow)
    }

    /// The value rounded to `digits` significant digits, half up (a first dropped digit of 5 or
    /// more rounds up): `19.990000000000002` to 15 digits is `19.99`, `0.1234567890123455`
    /// is `0.123456789012346`. A value with no more digits than that is returned as written.
    pub fn round_significant(&self, digits: u32) -> Result<Decimal, Overflow> {
        let value = self.normalized();
        let length = value
            .mantissa
            .checked_ilog10()
            .map_or(0, |log| log.saturating_add(1));
        let dropped = match length.checked_sub(digits) {
            Some(dropped) if dropped > 0 => dropped,
            _ => return Ok(*self),
        };
        let divisor = pow10(dropped).ok_or(Overflow)?;
        let kept = value.mantissa.checked_div(divisor).ok_or(Overflow)?;
        let remainder = value.mantissa.checked_rem(divisor).ok_or(Overflow)?;
        let half = divisor.checked_div(2).ok_or(Overflow)?;
        let rounded = if remainder >= half {
            kept.checked_add(1).ok_or(Overflow)?
        } else {
            kept
        };
        match value.scale.checked_sub(dropped) {
            Some(scale) => Decimal::new(rounded, scale)
                .map(|rounded| rounded.normalized())
                .ok_or(Overflow),
            // Digits dropped left of the point come back as zeros: 1234567890123456789 to 15
            // digits is 1234567890123460000.
            None => {
                let zeros = dropped.checked_sub(value.scale).ok_or(Overflow)?;
                let factor = pow10(zeros).ok_or(Overflow)?;
                let mantissa = rounded.checked_mul(factor).ok_or(Overflow)?;
                Ok(Decimal::from_integer(mantissa))
            }
        }
    }

    /// The value as an integer count of `10^-decimals` units, when that is exact.
    pub fn to_base_units(&self, decimals: u8) -> Option<u128> {
        self.rescale_exact(u32::from(decimals)).map(|d| d.mantissa)
    }

    /// Exact sum.
    pub fn checked_add(&self, other: &Decimal) -> Result<Decimal, Overflow> {
        let scale = self.scale.max(other.scale);
        let a = self.rescale_exact(scale).ok_or(Overflow)?;
        let b = other.rescale_exact(scale).ok_or(Overflow)?;
        let mantissa = a.mantissa.checked_add(b.mantissa).ok_or(Overflow)?;
        Ok(Decimal { mantissa, scale })
    }

    /// Exact difference; `None` when it would be negative.
    pub fn checked_sub(&self, other: &Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let a = self.rescale_exact(scale)?;
        let b = other.rescale_exact(scale)?;
        let mantissa = a.mantissa.checked_sub(b.mantissa)?;
        Some(Decimal { mantissa, scale })
    }

    /// The same value written with at least `min_scale` decimal places and no needless
    /// trailing zeros beyond them: with 2, `739` becomes `739.00` and `1000.233567` stays.
    pub fn with_min_scale(&self, min_scale: u32) -> Decimal {
        let normalized = self.normalized();
        normalized
            .rescale_exact(normalized.scale.max(min_scale))
            .unwrap_or(normalized)
    }
}

fn split_exponent(text: &str) -> Result<(&str, i64), DecimalError> {
    let Some(at) = text.find(['e', 'E']) else {
        return Ok((text, 0));
    };
    let (number, exponent) = text.split_at(at);
    let exponent = &exponent[1..];
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 4 {
        return Err(
            if digits.len() > 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
                DecimalError::TooLarge
            } else {
                DecimalError::Syntax
            },
        );
    }
    let exponent: i64 = exponent.parse().map_err(|_| DecimalError::Syntax)?;
    Ok((number, exponent))
}

fn rescale_round_up(value: U256, from_scale: u32, to_scale: u32) -> Result<U256, Overflow> {
    let ten = U256::from(10u8);
    if from_scale <= to_scale {
        let exp = to_scale.checked_sub(from_scale).ok_or(Overflow)?;
        let factor = ten.checked_pow(U256::from(exp)).ok_or(Overflow)?;
        return value.checked_mul(factor).ok_or(Overflow);
    }
    let exp = from_scale.checked_sub(to_scale).ok_or(Overflow)?;
    let divisor = ten.checked_pow(U256::from(exp)).ok_or(Overflow)?;
    let quotient = value.checked_div(divisor).ok_or(Overflow)?;
    let remainder = value.checked_rem(divisor).ok_or(Overflow)?;
    if remainder.is_zero() {
        Ok(quotient)
    } else {
        quotient.checked_add(U256::from(1u8)).ok_or(Overflow)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        let widen = |d: &Decimal| {
            let exp = scale.saturating_sub(d.scale);
            U256::from(d.mantissa).saturating_mul(U256::from(10u8).saturating_pow(U256::from(exp)))
        };
        widen(self).cmp(&widen(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let scale = usize::try_from(self.scale).map_err(|_| fmt::Error)?;
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len().saturating_sub(scale));
            write!(f, "{int}.{frac}")
        } else {
            let zeros = "0".repeat(scale.saturating_sub(digits.len()));
            write!(f, "0.{zeros}{digits}")
        }
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

/// An amount of a token in its base units (for a 6-decimal stablecoin, 1 USDT = 1_000_000).
///
/// Only checked arithmetic exists, so an overflow is an error and never a wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenAmount(u128);

impl TokenAmount {
    /// Nothing.
    pub const ZERO: TokenAmount = TokenAmount(0);

    /// An amount of base units.
    pub const fn from_base_units(base_units: u128) -> TokenAmount {
        TokenAmount(base_units)
    }

    /// The base units.
    pub const fn base_units(&self) -> u128 {
        self.0
    }

    /// True when zero.
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Exact sum, or [`Overflow`].
    pub fn checked_add(self, other: TokenAmount) -> Result<TokenAmount, Overflow> {
        self.0.checked_add(other.0).map(TokenAmount).ok_or(Overflow)
    }

    /// Exact difference, `None` when `other` is larger.
    pub fn checked_sub(self, other: TokenAmount) -> Option<TokenAmount> {
        self.0.checked_sub(other.0).map(TokenAmount)
    }

    /// Difference, floored at zero.
    pub fn saturating_sub(self, other: TokenAmount) -> TokenAmount {
        TokenAmount(self.0.saturating_sub(other.0))
    }

    /// The amount as a decimal number of whole tokens.
    pub fn to_decimal(self, decimals: u8) -> Decimal {
        Decimal {
            mantissa: self.0,
            scale: u32::from(decimals),
        }
    }

    /// Parses a whole-token decimal (`"12.5"`) into base units, refusing more decimal places
    /// than the token has (never rounding).
    pub fn from_decimal(value: &Decimal, decimals: u8) -> Option<TokenAmount> {
        value.to_base_units(decimals).map(TokenAmount)
    }
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn parses_json_numbers_exactly() {
        assert_eq!(d("0.30000000000000004").to_string(), "0.30000000000000004");
        assert_eq!(d("124.68").to_string(), "124.68");
        assert_eq!(d("1.50").to_string(), "1.50");
        assert_eq!(d("1e3").to_string(), "1000");
        assert_eq!(d("1.5E-3").to_string(), "0.0015");
        assert_eq!(d("0").to_string(), "0");
        assert_eq!(d("-0").to_string(), "0");
    }

    #[test]
    fn refuses_what_is_not_a_json_number() {
        for bad in [
            "", ".5", "5.", "01", "1,5", "abc", "1e", "+1", "NaN", "Infinity", " 1",
        ] {
            assert_eq!(Decimal::parse(bad), Err(DecimalError::Syntax), "{bad:?}");
        }
        assert_eq!(Decimal::parse("-1"), Err(DecimalError::Negative));
        assert_eq!(Decimal::parse("1e99999"), Err(DecimalError::TooLarge));
        assert_eq!(Decimal::parse("1e40"), Err(DecimalError::TooLarge));
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(d("1.5"), d("1.500"));
        assert!(d("1.49") < d("1.5"));
    }

    #[test]
    fn multiplies_and_rounds_up() {
        assert_eq!(
            d("0.30000000000000004")
                .mul_round_up(&d("1"), 2)
                .unwrap()
                .to_string(),
            "0.31"
        );
        assert_eq!(
            d("123.45")
                .mul_round_up(&d("1.00996"), 2)
                .unwrap()
                .to_string(),
            "124.68"
        );
        assert_eq!(
            d("10").mul_round_up(&d("1"), 2).unwrap().to_string(),
            "10.00"
        );
        let huge = d("1000000000000.123456789012345678");
        assert!(huge.mul_round_up(&d("1.123456789"), 6).is_ok());
    }

    #[test]
    fn rounds_to_significant_digits_half_up() {
        let round = |text: &str| d(text).round_significant(FLOAT_SIGNIFICANT_DIGITS).unwrap();
        assert_eq!(round("19.990000000000002").to_string(), "19.99");
        assert_eq!(round("0.30000000000000004").to_string(), "0.3");
        assert_eq!(round("0.1234567890123455").to_string(), "0.123456789012346");
        assert_eq!(
            round("0.12345678901234549").to_string(),
            "0.123456789012345"
        );
        assert_eq!(round("9.9999999999999999").to_string(), "10");
        assert_eq!(round("3.0000000000000004e-7").to_string(), "0.0000003");
        assert_eq!(
            round("1234567890123456789").to_string(),
            "1234567890123460000"
        );
        assert_eq!(
            round("1234567890123456789e-2").to_string(),
            "12345678901234600"
        );
        // At most 15 significant digits: unchanged, written as it was.
        assert_eq!(round("19.990").to_string(), "19.990");
        assert_eq!(round("123456789012.345").to_string(), "123456789012.345");
        assert_eq!(
            round("0.000000000000000000001").to_string(),
            "0.000000000000000000001"
        );
        assert_eq!(
            round("1000000000000000000000").to_string(),
            "1000000000000000000000"
        );
        assert_eq!(round("0").to_string(), "0");
        // Rounding up past the largest mantissa is an overflow, never a wrap.
        let largest = Decimal::from_integer(u128::MAX);
        assert_eq!(largest.round_significant(16), Err(Overflow));
        assert_eq!(
            largest.round_significant(15).unwrap().to_string(),
            "340282366920938000000000000000000000000"
        );
    }

    /// What an integrator computing in `f64` would send for `x`: the shortest text that reads
    /// back as `x` (JavaScript, Python, Rust), and 17 significant digits (`%.17g`).
    fn float_renderings(x: f64) -> [String; 2] {
        [format!("{x}"), format!("{x:.16e}")]
    }

    /// `x`, sent as a JSON number, prices as `expected`: rounded to 15 significant digits, then
    /// at rate 1 up to the payment scale (2) as an order is, and also to 6 places.
    fn prices_as(x: f64, expected: &Decimal) -> Result<(), TestCaseError> {
        for text in float_renderings(x) {
            let sent = d(&text);
            let priced = sent.round_significant(FLOAT_SIGNIFICANT_DIGITS).unwrap();
            prop_assert_eq!(&priced, expected, "{} sent for {}", text, expected);
            for scale in [2, 6] {
                let paying = priced
                    .mul_round_up(&Decimal::from_integer(1), scale)
                    .unwrap();
                let exact = expected
                    .mul_round_up(&Decimal::from_integer(1), scale)
                    .unwrap();
                prop_assert_eq!(paying, exact, "{} sent for {}", text, expected);
            }
        }
        Ok(())
    }

    #[test]
    fn float_noise_of_usual_computations_prices_as_meant() {
        prices_as(0.1 + 0.2, &d("0.3")).unwrap();
        prices_as(1999.0 * 0.01, &d("19.99")).unwrap();
        prices_as(0.1 * 3.0, &d("0.3")).unwrap();
        prices_as(1.1 * 1.1, &d("1.21")).unwrap();
        prices_as(100.0 * 1.1, &d("110")).unwrap();
        assert_eq!(format!("{}", 1999.0 * 0.01), "19.990000000000002");
    }

    #[test]
    fn base_units_are_exact_or_refused() {
        assert_eq!(d("1.5").to_base_units(6), Some(1_500_000));
        assert_eq!(d("1.5000000").to_base_units(6), Some(1_500_000));
        assert_eq!(d("1.0000001").to_base_units(6), None);
        assert_eq!(
            TokenAmount::from_base_units(739_000_000)
                .to_decimal(6)
                .with_min_scale(2)
                .to_string(),
            "739.00"
        );
        assert_eq!(
            TokenAmount::from_base_units(1)
                .to_decimal(6)
                .with_min_scale(2)
                .to_string(),
            "0.000001"
        );
    }

    proptest! {
        #[test]
        fn display_round_trips(mantissa in any::<u64>(), scale in 0u32..20) {
            let value = Decimal::new(u128::from(mantissa), scale).unwrap();
            prop_assert_eq!(Decimal::parse(&value.to_string()).unwrap(), value);
            prop_assert_eq!(value.to_string(), Decimal::parse(&value.to_string()).unwrap().to_string());
        }

        #[test]
        fn round_up_never_undershoots(a in 1u64..u64::MAX, b in 1u32..10_000_000, scale in 0u32..8) {
            let x = Decimal::new(u128::from(a), 6).unwrap();
            let rate = Decimal::new(u128::from(b), 6).unwrap();
            let product = x.mul_round_up(&rate, scale).unwrap();
            let exact = U256::from(a) * U256::from(b);
            let shown = U256::from(product.mantissa()) * U256::from(10u8).pow(U256::from(12 - scale.min(12)));
            prop_assert!(shown >= exact);
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The nearest float to any decimal of at most 15 significant digits, in either
        /// rendering, rounds back to that decimal.
        #[test]
        fn floats_of_15_digit_decimals_round_back(n in 1u64..1_000_000_000_000_000, scale in 0u32..=18) {
            let expected = Decimal::new(u128::from(n), scale).unwrap();
            let x = n as f64 / 10f64.powi(i32::try_from(scale).unwrap());
            prices_as(x, &expected)?;
        }

        /// Cents times 0.01, and a quantity times a unit price computed that way.
        #[test]
        fn float_products_price_as_meant(cents in 1u64..100_000_000_000_000, quantity in 1u64..1000, unit_cents in 1u64..10_000_000) {
            prices_as(cents as f64 * 0.01, &Decimal::new(u128::from(cents), 2).unwrap())?;
            prices_as(cents as f64 / 100.0, &Decimal::new(u128::from(cents), 2).unwrap())?;
            let unit = unit_cents as f64 * 0.01;
            let total = Decimal::new(u128::from(quantity * unit_cents), 2).unwrap();
            prices_as(quantity as f64 * unit, &total)?;
        }

        /// Two and three prices in cents, each computed as cents × 0.01, added.
        #[test]
        fn float_sums_price_as_meant(a in 1u64..10_000_000_000, b in 1u64..10_000_000_000, c in 0u64..10_000_000_000) {
            let two = Decimal::new(u128::from(a + b), 2).unwrap();
            prices_as(a as f64 * 0.01 + b as f64 * 0.01, &two)?;
            let three = Decimal::new(u128::from(a + b + c), 2).unwrap();
            prices_as(a as f64 * 0.01 + b as f64 * 0.01 + c as f64 * 0.01, &three)?;
        }
    }

    proptest! {
        #[test]
        fn token_sums_are_checked(a in any::<u128>(), b in any::<u128>()) {
            let sum = TokenAmount::from_base_units(a).checked_add(TokenAmount::from_base_units(b));
            prop_assert_eq!(sum.is_ok(), a.checked_add(b).is_some());
        }
    }
}

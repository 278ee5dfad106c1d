//! JSON building blocks: exact numbers, the `retcode`/`retdata`/`retmsg` envelope, pages, and
//! body parsing whose errors name the field.

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use wcheckout_domain::error::{ErrorCode, Rejection};
use wcheckout_domain::money::{Decimal, FLOAT_SIGNIFICANT_DIGITS, Overflow};

/// A number written into JSON exactly as its decimal text (`124.68`, `0.30000000000000004`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonNumber(String);

impl JsonNumber {
    /// The decimal as a JSON number.
    pub fn new(value: &Decimal) -> JsonNumber {
        JsonNumber(value.to_string())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for JsonNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.clone()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        JsonDecimal::deserialize(deserializer).map(|d| JsonNumber::new(&d.0))
    }
}

/// An exact decimal read from a JSON number or a numeric string (`1.5` or `"1.5"`), without
/// ever passing through a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct JsonDecimal(pub Decimal);

impl<'de> Deserialize<'de> for JsonDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_decimal(deserializer).map(|(value, _)| JsonDecimal(value))
    }
}

/// A USD price as sent (`orderAmount`): the exact decimal, and whether it came as a JSON number
/// or as a numeric string, because only a number may carry float noise (see [`Self::priced`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonPrice {
    /// Exactly what was sent; echoed back as sent.
    pub sent: Decimal,
    /// True for a JSON number, false for a numeric string.
    pub from_number: bool,
}

impl JsonPrice {
    /// The value that is priced. A JSON number with more than 15 significant digits is the
    /// output of binary floating point (`1999 × 0.01` arrives as `19.990000000000002`), and
    /// no float holds more than 15 of them exactly: it is rounded to 15 (half up), so the
    /// payer pays `19.99`, not `20.00`. A string is text the integrator wrote on purpose and is
    /// priced exactly.
    pub fn priced(&self) -> Result<Decimal, Overflow> {
        if self.from_number {
            self.sent.round_significant(FLOAT_SIGNIFICANT_DIGITS)
        } else {
            Ok(self.sent)
        }
    }
}

impl<'de> Deserialize<'de> for JsonPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_decimal(deserializer).map(|(sent, from_number)| JsonPrice { sent, from_number })
    }
}

/// An exact decimal from a JSON number or numeric string, and whether it was a number.
fn read_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(Decimal, bool), D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    let text = raw.get();
    let from_number = !text.starts_with('"');
    let number = if from_number {
        text.to_owned()
    } else {
        serde_json::from_str::<String>(text).map_err(de::Error::custom)?
    };
    Decimal::parse(&number)
        .map(|value| (value, from_number))
        .map_err(|e| de::Error::custom(format!("{e} (got {text})")))
}

/// The response envelope of every API call.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// `"200"` on success, else an error code (`"00001"` ...).
    #[schema(example = "200")]
    pub retcode: &'static str,
    /// The result; `null` on error (and wherever nothing is returned).
    #[schema(nullable)]
    pub retdata: Option<T>,
    /// `""` on success, else what went wrong.
    pub retmsg: String,
}

impl<T> Envelope<T> {
    /// A success.
    pub fn ok(data: T) -> Envelope<T> {
        Envelope {
            retcode: ErrorCode::Success.as_str(),
            retdata: Some(data),
            retmsg: String::new(),
        }
    }

    /// An error.
    pub fn error(code: ErrorCode, message: String) -> Envelope<T> {
        Envelope {
            retcode: code.as_str(),
            retdata: None,
            retmsg: message,
        }
    }
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    /// The rows of this page.
    pub records: Vec<T>,
    /// Rows matching the filter in all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page_no: u32,
    /// Rows per page.
    pub page_size: u32,
}

/// Parses a JSON request body into `T`; every error names the field (`orderNo: ...`).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(Rejection::invalid("request body", "must be a JSON object")),
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(Rejection::invalid("request body", "must be a JSON object"));
        }
        Some(_) => {}
    }
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut json).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        describe(&path, &inner)
    })?;
    json.end()
        .map_err(|_| Rejection::invalid("request body", "has trailing characters"))?;
    Ok(parsed)
}

/// Like [`parse_body`], with an empty body meaning every field's default (list requests).
pub fn parse_body_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Rejection> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_body(body)
    }
}

fn describe(path: &str, error: &serde_json::Error) -> Rejection {
    let message = error.to_string();
    let message = plain_types(strip_position(&message));
    let message = message.as_str();
    if error.is_syntax() || error.is_eof() {
        return Rejection::invalid("request body", format!("is not valid JSON ({message})"));
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        let full = if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return Rejection::invalid(&full, "is required");
    }
    if path == "." {
        return Rejection::invalid("request body", message);
    }
    Rejection::invalid(path, message)
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// Names JSON types the way integrators know them: `expected i64` becomes
/// `expected an integer`.
fn plain_types(message: &str) -> String {
    const NAMES: [(&str, &str); 4] = [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        (
            "expected u64",
            "expected an integer from 0 to 18446744073709551615",
        ),
        ("expected u32", "expected an integer from 0 to 4294967295"),
    ];
    NAMES
        .iter()
        .fold(message.to_owned(), |text, (rust, plain)| {
            text.replace(rust, plain)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        order_no: String,
        amount: JsonDecimal,
        #[serde(default)]
        expired_in: Option<i64>,
    }

    #[test]
    fn reads_exact_numbers_and_numeric_strings() {
        let s: Sample =
            parse_body(br#"{"orderNo":"1","amount":0.30000000000000004,"expiredIn":null}"#)
                .unwrap();
        assert_eq!(s.amount.0.to_string(), "0.30000000000000004");
        assert_eq!(s.order_no, "1");
        assert_eq!(s.expired_in, None);
        let s: Sample = parse_body(br#"{"orderNo":"1","amount":"1000.233567"}"#).unwrap();
        assert_eq!(s.amount.0.to_string(), "1000.233567");
    }

    #[derive(Deserialize, Debug)]
    struct Priced {
        price: JsonPrice,
    }

    fn priced(body: &str) -> (String, String) {
        let Priced { price } = parse_body(body.as_bytes()).unwrap();
        (price.sent.to_string(), price.priced().unwrap().to_string())
    }

    #[test]
    fn float_noise_of_numbers_is_not_priced() {
        let cases = [
            (
                r#"{"price":19.990000000000002}"#,
                "19.990000000000002",
                "19.99",
            ),
            (
                r#"{"price":0.30000000000000004}"#,
                "0.30000000000000004",
                "0.3",
            ),
            (
                r#"{"price":1.9990000000000002e1}"#,
                "19.990000000000002",
                "19.99",
            ),
            (r#"{"price":19.99}"#, "19.99", "19.99"),
            (r#"{"price":19.990}"#, "19.990", "19.990"),
            (
                r#"{"price":123456789012.345}"#,
                "123456789012.345",
                "123456789012.345",
            ),
            // A string is priced exactly as written, whatever its digits.
            (
                r#"{"price":"19.990000000000002"}"#,
                "19.990000000000002",
                "19.990000000000002",
            ),
        ];
        for (body, sent, price) in cases {
            assert_eq!(priced(body), (sent.to_owned(), price.to_owned()), "{body}");
        }
        let error = parse_body::<Priced>(br#"{"price":"-1"}"#).unwrap_err();
        assert!(
            error.message.starts_with("price: must not be negative"),
            "{}",
            error.message
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&[u8], &str); 8] = [
            (
                br#"{"orderNo":5,"amount":1}"#,
                "orderNo: invalid type: integer `5`, expected a string",
            ),
            (br#"{"amount":1}"#, "orderNo: is required"),
            (
                br#"{"orderNo":"1","amount":"abc"}"#,
                "amount: is not a number",
            ),
            (
                br#"{"orderNo":"1","amount":-3}"#,
                "amount: must not be negative",
            ),
            (
                br#"{"orderNo":"1","amount":1,"expiredIn":1.5}"#,
                "expiredIn: invalid type",
            ),
            (
                br#"{"orderNo":"1","amount":1,"expiredIn":99999999999999999999}"#,
                "expiredIn:",
            ),
            (b"{\"orderNo\":", "request body: is not valid JSON"),
            (b"[1,2]", "request body: must be a JSON object"),
        ];
        for (body, expected) in cases {
            let error = parse_body::<Sample>(body).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidParameter);
            assert!(
                error.message.starts_with(expected),
                "{} vs {expected}",
                error.message
            );
        }
        assert!(
            parse_body::<Sample>(b"  ")
                .unwrap_err()
                .message
                .contains("must be a JSON object")
        );
    }

    #[test]
    fn numbers_serialize_exactly() {
        let n = JsonNumber::new(&Decimal::parse("124.68").unwrap());
        assert_eq!(serde_json::to_string(&n).unwrap(), "124.68");
        let env = Envelope::ok(n);
        assert_eq!(
            serde_json::to_string(&env).unwrap(),
            r#"{"retcode":"200","retdata":124.68,"retmsg":""}"#
        );
    }
}

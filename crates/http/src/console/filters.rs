//! The lists' query strings: the fields every list shares, read the same way everywhere. A
//! wrong field is answered 400 naming it.

use wcheckout_domain::time::Timestamp;

/// A field's text, trimmed, or `None` when empty.
pub(super) fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Refuses control characters in free-text fields: nothing a filter matches holds one, and
/// PostgreSQL refuses some.
pub(super) fn printable(fields: &[(&str, &str)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| v.chars().any(char::is_control)) {
        Some((field, _)) => Err(format!("{field}: control characters are not allowed")),
        None => Ok(()),
    }
}

/// The page asked for, 1 when none.
pub(super) fn page_number(text: &str) -> Result<u32, String> {
    let page = match given(text) {
        Some(text) => text.parse().ok().filter(|n| (1..=100_000).contains(n)),
        None => Some(1),
    };
    page.ok_or_else(|| "page: a number from 1 to 100000".to_owned())
}

/// A time field (`yyyy-MM-dd` or `yyyy-MM-dd HH:mm:ss`, UTC); a day alone means `day_time` of
/// that day (its first second for a start, its last for an end).
pub(super) fn time_field(
    field: &str,
    text: &str,
    day_time: &str,
) -> Result<Option<Timestamp>, String> {
    match given(text) {
        Some(text) => {
            let text = if text.len() == 10 {
                format!("{text} {day_time}")
            } else {
                text
            };
            let parsed = Timestamp::parse_flexible(&text).map(Some);
            parsed.ok_or_else(|| format!("{field}: not a date (yyyy-MM-dd [HH:mm:ss])"))
        }
        None => Ok(None),
    }
}

/// Whether the list is asked for as a CSV file (`format=csv`); any other format is wrong.
pub(super) fn wants_csv(format: &str) -> Result<bool, String> {
    match format.trim() {
        "" | "html" => Ok(false),
        "csv" => Ok(true),
        _ => Err("format: csv or nothing".to_owned()),
    }
}

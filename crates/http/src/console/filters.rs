//! The lists' query strings: the fields every list shares, read the same way everywhere. A
//! wrong field is answered 400 naming it.

use wcheckout_domain::ports::Cursor;
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

/// The longest key a list's cursor holds (every sysid, number or event id is far shorter).
const MAX_CURSOR_KEY: usize = 128;

/// Where a list's page starts (`after=MICROS.KEY`, written by its "Next" link), or `None` for
/// the first page.
pub(super) fn after_field(text: &str) -> Result<Option<Cursor>, String> {
    let Some(text) = given(text) else {
        return Ok(None);
    };
    let wrong = || "after: not a position in this list (follow the Next link)".to_owned();
    let (micros, key) = text.split_once('.').ok_or_else(wrong)?;
    let micros: i64 = micros.parse().map_err(|_| wrong())?;
    let printable = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_CURSOR_KEY || !printable {
        return Err(wrong());
    }
    Ok(Some(Cursor {
        created_at: Timestamp::from_micros(micros),
        key: key.to_owned(),
    }))
}

/// The `after` value of a "Next" link.
pub(super) fn after_text(cursor: &Cursor) -> String {
    format!("{}.{}", cursor.created_at.micros(), cursor.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_links_write() {
        let cursor = Cursor {
            created_at: Timestamp::from_micros(1_765_000_000_123_456),
            key: "OR0000000000000000042".into(),
        };
        assert_eq!(after_field(&after_text(&cursor)), Ok(Some(cursor)));
        assert_eq!(after_field(""), Ok(None));
        for wrong in ["x", "12", "a.OR1", "12.", "12.a b", "12.\u{7}"] {
            assert!(after_field(wrong).is_err(), "{wrong:?}");
        }
        assert!(after_field(&format!("1.{}", "k".repeat(129))).is_err());
    }
}

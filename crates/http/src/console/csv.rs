//! CSV exports of the console's lists (RFC 4180), safe to open in a spreadsheet: a cell that a
//! spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
//! return) gets a leading `'`, so it stays text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::page::{no_store, typed};

/// One cell: made formula-safe, then quoted when it holds a comma, quote or line break (its
/// quotes doubled).
pub(super) fn cell(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A whole file: the header row, then the rows, each line ended by CRLF.
pub(super) fn table<'a>(header: &[&str], rows: impl Iterator<Item = Vec<&'a str>>) -> String {
    let line = |cells: &[&str]| {
        let mut line = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
        line.push_str("\r\n");
        line
    };
    let mut file = line(header);
    for row in rows {
        file.push_str(&line(&row));
    }
    file
}

/// The file as a download named `name`, saying in `X-Total-Count` how many rows matched (more
/// than the file holds when the export was cut at its limit).
pub(super) fn download(name: &str, body: String, total: u64) -> Response {
    let mut response = no_store(typed(StatusCode::OK, "text/csv; charset=utf-8", body));
    let disposition = format!("attachment; filename=\"{name}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-total-count", HeaderValue::from(total));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_when_needed() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("12.50"), "12.50");
    }

    #[test]
    fn formulas_stay_text() {
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+31"), "'+31");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(
            cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(cell("a=b"), "a=b");
    }

    #[test]
    fn a_table_ends_each_line_with_crlf() {
        let rows = vec![vec!["1", "x,y"], vec!["2", "=z"]];
        assert_eq!(
            table(&["n", "v"], rows.into_iter()),
            "n,v\r\n1,\"x,y\"\r\n2,'=z\r\n"
        );
    }
}

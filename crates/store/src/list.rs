//! Paged, filtered list queries, always scoped to one app and ordered newest first.

use sqlx::any::AnyRow;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{Page, PageRequest, StoreError};
use wcheckout_domain::time::Timestamp;

use crate::rows::int;
use crate::{AnyQuery, SqlStore, store_error};

/// A value bound into a dynamically built statement.
pub(crate) enum Arg {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
}

/// The `where` clause of a list query and the values it binds, in `$n` order.
pub(crate) struct Conditions {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    /// Rows of `app` only.
    pub(crate) fn for_app(app: &AppId) -> Conditions {
        let mut conditions = Conditions {
            clauses: Vec::new(),
            args: Vec::new(),
        };
        conditions.push("app_id", "=", Arg::Text(app.as_str().to_owned()));
        conditions
    }

    /// No condition yet (rows of every app).
    pub(crate) fn none() -> Conditions {
        Conditions {
            clauses: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Binds `arg` and answers its placeholder (`$n`).
    pub(crate) fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Adds a clause written with placeholders from [`Conditions::arg`].
    pub(crate) fn clause(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// The `where` clause (`1 = 1` when there is no condition).
    pub(crate) fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            self.clauses.join(" and ")
        }
    }

    fn push(&mut self, column: &str, op: &str, arg: Arg) {
        self.args.push(arg);
        self.clauses
            .push(format!("{column} {op} ${}", self.args.len()));
    }

    /// `column = value`, when a value is given.
    pub(crate) fn equals(&mut self, column: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.push(column, "=", Arg::Text(value.to_owned()));
        }
    }

    /// `created_at` within the given bounds.
    pub(crate) fn created_between(&mut self, from: Option<Timestamp>, to: Option<Timestamp>) {
        if let Some(from) = from {
            self.push("created_at", ">=", Arg::Int(from.micros()));
        }
        if let Some(to) = to {
            self.push("created_at", "<=", Arg::Int(to.micros()));
        }
    }

    pub(crate) fn bind<'q>(&'q self, mut query: AnyQuery<'q>) -> AnyQuery<'q> {
        for arg in &self.args {
            query = match arg {
                Arg::Text(text) => query.bind(text.as_str()),
                Arg::Int(value) => query.bind(*value),
            };
        }
        query
    }
}

impl SqlStore {
    /// One page of `table` rows matching `conditions`, newest first (`tie_breaker` orders rows
    /// created in the same microsecond), and how many match in all.
    pub(crate) async fn page<T>(
        &self,
        table: &str,
        columns: &str,
        tie_breaker: &str,
        conditions: &Conditions,
        page: PageRequest,
        read: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let where_clause = conditions.clauses.join(" and ");
        let count_sql = format!("select count(*) as total from {table} where {where_clause}");
        let total = conditions
            .bind(sqlx::query(&count_sql))
            .fetch_one(&self.reader)
            .await
            .map_err(store_error)?;
        let total = u64::try_from(int(&total, "total")?).unwrap_or(0);
        let page_sql = format!(
            "select {columns} from {table} where {where_clause} \
             order by created_at desc, {tie_breaker} desc limit {} offset {}",
            page.size,
            page.offset()
        );
        let rows = conditions
            .bind(sqlx::query(&page_sql))
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        let records = rows.iter().map(read).collect::<Result<_, _>>()?;
        Ok(Page { records, total })
    }
}

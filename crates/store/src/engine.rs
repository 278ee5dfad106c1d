//! The two SQL engines and the few places their SQL differs.

use std::borrow::Cow;

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL: production, shared by several gateway processes.
    Postgres,
    /// SQLite: the embedded default, one process.
    Sqlite,
}

impl Engine {
    /// The engine a `database.url` names, if supported.
    pub fn from_url(url: &str) -> Option<Engine> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else {
            None
        }
    }

    /// Adapts a statement written for PostgreSQL. Token amounts are `NUMERIC(78,0)` there and
    /// decimal text in SQLite, so the casts that move them across (`$1::numeric`, `col::text`)
    /// are dropped for SQLite; everything else is common SQL (`$n` parameters work in both).
    pub fn sql(self, postgres: &'static str) -> Cow<'static, str> {
        match self {
            Engine::Postgres => Cow::Borrowed(postgres),
            Engine::Sqlite => Cow::Owned(postgres.replace("::numeric", "").replace("::text", "")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_amount_casts_differ() {
        let sql = "update t set a = $1::numeric where b = $2 returning a::text";
        assert_eq!(Engine::Postgres.sql(sql), sql);
        assert_eq!(
            Engine::Sqlite.sql(sql),
            "update t set a = $1 where b = $2 returning a"
        );
        assert_eq!(Engine::from_url("postgres://x"), Some(Engine::Postgres));
        assert_eq!(Engine::from_url("sqlite://./x.db"), Some(Engine::Sqlite));
        assert_eq!(Engine::from_url("mysql://x"), None);
    }
}

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

    /// The cast a token amount parameter needs (`NUMERIC` on PostgreSQL, text in SQLite).
    pub fn numeric(self) -> &'static str {
        match self {
            Engine::Postgres => "::numeric",
            Engine::Sqlite => "",
        }
    }

    /// A statement with many parameters, as the engine binds it fastest. SQLite looks up the
    /// name of each numbered parameter (`$n`) by a linear scan when it is bound, so binding a
    /// statement of thousands of them costs time quadratic in their number; anonymous `?`
    /// parameters have no name to look up. They are numbered in the order they appear, so
    /// `$1, $2, …` become `?` only when they appear in exactly that order (as a statement built
    /// by `value_rows` has them); any other statement is left as it is.
    pub fn positional(self, sql: String) -> String {
        if self == Engine::Postgres {
            return sql;
        }
        let mut out = String::with_capacity(sql.len());
        let mut expected = 1usize;
        let mut rest = sql.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if rest[at + 1..at + 1 + digits].parse::<usize>() != Ok(expected) {
                return sql;
            }
            out.push('?');
            expected += 1;
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        out
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

    #[test]
    fn sequential_parameters_become_anonymous_in_sqlite() {
        let sql = "insert into t values ($1, $2::numeric), ($3, $4)";
        assert_eq!(
            Engine::Sqlite.positional(sql.into()),
            "insert into t values (?, ?::numeric), (?, ?)"
        );
        assert_eq!(Engine::Postgres.positional(sql.into()), sql);
        // Out of order, repeated or not numbered: left alone.
        for sql in [
            "select $2, $1",
            "select $1, $1",
            "select $1, $x",
            "select $10",
        ] {
            assert_eq!(Engine::Sqlite.positional(sql.into()), sql);
        }
    }
}

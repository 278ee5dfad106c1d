//! Schema migrations, embedded in the binary and applied at start. Never edit an applied
//! migration: add a new file and a line below.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::engine::Engine;

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "chain",
        include_str!("../migrations/postgres/0002_chain.sql"),
    ),
    (
        3,
        "webhooks",
        include_str!("../migrations/postgres/0003_webhooks.sql"),
    ),
    (
        4,
        "payouts",
        include_str!("../migrations/postgres/0004_payouts.sql"),
    ),
    (
        5,
        "webhook claims",
        include_str!("../migrations/postgres/0005_webhook_claims.sql"),
    ),
    (
        6,
        "order counts",
        include_str!("../migrations/postgres/0006_order_counts.sql"),
    ),
    (
        7,
        "operators",
        include_str!("../migrations/postgres/0007_operators.sql"),
    ),
    (
        8,
        "console sessions",
        include_str!("../migrations/postgres/0008_console_sessions.sql"),
    ),
    (
        9,
        "expiring payout transactions",
        include_str!("../migrations/postgres/0009_expiring_payout_txs.sql"),
    ),
    (
        10,
        "console overview",
        include_str!("../migrations/postgres/0010_console_overview.sql"),
    ),
    (
        11,
        "watched deposits",
        include_str!("../migrations/postgres/0011_watched_deposits.sql"),
    ),
    (
        12,
        "console lists",
        include_str!("../migrations/postgres/0012_console_lists.sql"),
    ),
    (
        13,
        "operator totp",
        include_str!("../migrations/postgres/0013_operator_totp.sql"),
    ),
    (
        14,
        "reconciliations",
        include_str!("../migrations/postgres/0014_reconciliations.sql"),
    ),
];

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "chain",
        include_str!("../migrations/sqlite/0002_chain.sql"),
    ),
    (
        3,
        "webhooks",
        include_str!("../migrations/sqlite/0003_webhooks.sql"),
    ),
    (
        4,
        "payouts",
        include_str!("../migrations/sqlite/0004_payouts.sql"),
    ),
    (
        5,
        "webhook claims",
        include_str!("../migrations/sqlite/0005_webhook_claims.sql"),
    ),
    (
        6,
        "order counts",
        include_str!("../migrations/sqlite/0006_order_counts.sql"),
    ),
    (
        7,
        "operators",
        include_str!("../migrations/sqlite/0007_operators.sql"),
    ),
    (
        8,
        "console sessions",
        include_str!("../migrations/sqlite/0008_console_sessions.sql"),
    ),
    (
        9,
        "expiring payout transactions",
        include_str!("../migrations/sqlite/0009_expiring_payout_txs.sql"),
    ),
    (
        10,
        "console overview",
        include_str!("../migrations/sqlite/0010_console_overview.sql"),
    ),
    (
        11,
        "watched deposits",
        include_str!("../migrations/sqlite/0011_watched_deposits.sql"),
    ),
    (
        12,
        "console lists",
        include_str!("../migrations/sqlite/0012_console_lists.sql"),
    ),
    (
        13,
        "operator totp",
        include_str!("../migrations/sqlite/0013_operator_totp.sql"),
    ),
    (
        14,
        "reconciliations",
        include_str!("../migrations/sqlite/0014_reconciliations.sql"),
    ),
];

fn files(engine: Engine) -> &'static [(i64, &'static str, &'static str)] {
    match engine {
        Engine::Postgres => POSTGRES,
        Engine::Sqlite => SQLITE,
    }
}

/// The newest migration this build knows for an engine.
pub(crate) fn latest_version(engine: Engine) -> i64 {
    files(engine).iter().map(|(v, _, _)| *v).max().unwrap_or(0)
}

/// The migrator for an engine. It takes a database lock while it runs, so several processes
/// starting at once against one PostgreSQL apply each migration once.
pub(crate) fn migrator(engine: Engine) -> Migrator {
    let migrations = files(engine)
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

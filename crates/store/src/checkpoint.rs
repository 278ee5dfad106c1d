//! SQLite log checkpoints off the commit path. In WAL mode SQLite copies the log back into the
//! database file (and syncs that file) at the first commit after the log passes
//! `wal_autocheckpoint` pages, so, by default, one commit in every thousand pages pays for
//! the copy: hundreds of milliseconds after a large commit, seen as spikes in catch-up and
//! order latency. A background task checkpoints instead, passively (never waiting for the
//! writer or blocking it, on a reader connection); the writer's automatic checkpoint stays as a
//! backstop, with a larger threshold (16,384 pages of 4 KiB: 64 MiB, set with the writer's other
//! settings), for when the task falls behind.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the background task checkpoints.
const EVERY: Duration = Duration::from_millis(500);

/// Checkpoints `pool`'s database every [`EVERY`] until the pool is closed.
pub(crate) fn spawn(pool: AnyPool) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            ticks.tick().await;
            if let Err(error) = sqlx::query("pragma wal_checkpoint(passive)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(%error, "background checkpoint failed; the writer's backstop remains");
            }
        }
    });
}

//! Group commit: small writes that arrive together share one transaction and one durable
//! commit.
//!
//! A durable commit costs a disk flush (hundreds of microseconds to milliseconds) whatever it
//! holds, so under concurrency a write path that commits once per request is bounded by the
//! flush rate, far below what the database can insert. Here each write is a job sent to a
//! committer task; the task takes every job waiting when it becomes free, runs them in one
//! transaction, commits once and only then answers every caller, so no caller hears "done"
//! before its write is durable. A lone write is committed at once: nothing waits for a batch
//! to fill.
//!
//! If a job fails, the batch is rolled back and each of its jobs is run again alone, in its own
//! transaction, so one failing write never takes the others down with it. (Savepoints around
//! every job would do the same at two more statements per job, on every batch.) Jobs are
//! therefore closures that can run twice; only the effects of a committed run remain.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};
use wcheckout_domain::ports::StoreError;

use crate::store_error;

/// A boxed future borrowing the connection for `'c`.
pub(crate) type ConnFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Runs a write on the connection; `true` if it succeeded (its result is kept for the answer).
type RunWrite = dyn for<'c> Fn(&'c mut AnyConnection) -> ConnFuture<'c, bool> + Send + Sync;

/// A write as the committer sees it.
struct Job {
    run: Box<RunWrite>,
    /// Tells the caller the outcome once the transaction has committed (or failed).
    answer: Box<dyn FnOnce(Result<(), StoreError>) + Send + Sync>,
}

/// Most jobs in one transaction, so one batch cannot hold the writer for long.
const MAX_BATCH: usize = 256;

/// Queue depth per committer before callers wait to enqueue.
const QUEUE: usize = 4096;

/// Handles to the committer tasks; cloning shares them.
#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    lanes: Arc<Vec<mpsc::Sender<Job>>>,
    next: Arc<AtomicUsize>,
}

impl GroupCommit {
    /// Starts `lanes` committer tasks writing through `pool` (each holds one connection while
    /// committing a batch). Must be called inside a Tokio runtime.
    pub(crate) fn start(pool: &AnyPool, lanes: usize) -> GroupCommit {
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(committer(pool.clone(), receiver));
                sender
            })
            .collect();
        GroupCommit {
            lanes: Arc::new(lanes),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `write` inside a shared transaction and returns its result once that transaction
    /// has committed. `write` may run a second time (alone) if another write of its batch
    /// failed; on error nothing of it remains.
    pub(crate) async fn run<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut AnyConnection) -> ConnFuture<'c, Result<T, StoreError>>
            + Send
            + Sync
            + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let result = Arc::new(Mutex::new(None));
        let kept = Arc::clone(&result);
        let write = Arc::new(write);
        let job = Job {
            run: Box::new(move |conn| {
                let (write, kept) = (Arc::clone(&write), Arc::clone(&kept));
                Box::pin(async move {
                    let outcome = write(conn).await;
                    let succeeded = outcome.is_ok();
                    *kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                    succeeded
                })
            }),
            answer: Box::new(move |committed| {
                let outcome = result.lock().unwrap_or_else(|e| e.into_inner()).take();
                let outcome = outcome.unwrap_or_else(|| Err(stopped()));
                let _ = reply.send(committed.and(outcome));
            }),
        };
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        self.lanes[lane].send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The caller's write never reached a commit: the committer stopped, or the batch it was in
/// failed before running it (the connection could not be had or the transaction not begun).
fn stopped() -> StoreError {
    StoreError::Unavailable(
        "the write was not committed: the database writer is unavailable".into(),
    )
}

/// One committer: takes whatever is queued, commits it as one transaction, repeats.
async fn committer(pool: AnyPool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        match commit(&pool, &jobs).await {
            Err(BatchError::JobFailed) if jobs.len() > 1 => {
                for job in jobs {
                    let alone = commit(&pool, std::slice::from_ref(&job)).await;
                    (job.answer)(verdict(alone));
                }
            }
            result => {
                let verdict = verdict(result);
                for job in jobs {
                    (job.answer)(verdict.clone());
                }
            }
        }
    }
}

/// Why a transaction did not commit.
enum BatchError {
    /// One of its writes failed; that write's own error is kept with its result.
    JobFailed,
    /// The database failed.
    Store(StoreError),
}

/// What a caller hears besides its write's own result: `Ok` when only the write itself
/// failed (its error then reaches the caller), the database's error otherwise.
fn verdict(result: Result<(), BatchError>) -> Result<(), StoreError> {
    match result {
        Ok(()) | Err(BatchError::JobFailed) => Ok(()),
        Err(BatchError::Store(error)) => Err(error),
    }
}

/// Runs the jobs in one transaction and commits it, or rolls it back at the first failure.
async fn commit(pool: &AnyPool, jobs: &[Job]) -> Result<(), BatchError> {
    let store = |e| BatchError::Store(store_error(e));
    let mut conn = pool.acquire().await.map_err(store)?;
    let mut tx = conn.begin().await.map_err(store)?;
    for job in jobs {
        if !(job.run)(&mut tx).await {
            tx.rollback().await.map_err(store)?;
            return Err(BatchError::JobFailed);
        }
    }
    tx.commit().await.map_err(store)
}

#[cfg(test)]
mod tests {
    use sqlx::any::{AnyPoolOptions, install_default_drivers};

    use super::*;

    async fn pool() -> AnyPool {
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("create table t (v bigint primary key)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    async fn insert(group: GroupCommit, v: i64) -> Result<u64, StoreError> {
        group
            .run(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("insert into t (v) values ($1)")
                        .bind(v)
                        .execute(conn)
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    #[tokio::test]
    async fn concurrent_writes_commit_together_and_a_failing_one_fails_alone() {
        let pool = pool().await;
        let group = GroupCommit::start(&pool, 1);
        // The only connection is held, so the writes queue up and (after at most one taken
        // alone) commit as one batch; 1 comes twice and breaks the primary key, which must
        // fail that write alone: every other write lands.
        let held = pool.acquire().await.unwrap();
        let writes = [1, 2, 3, 1, 4, 5].map(|v| tokio::spawn(insert(group.clone(), v)));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        drop(held);
        let mut failed = 0;
        for write in writes {
            match write.await.unwrap() {
                Ok(rows) => assert_eq!(rows, 1),
                Err(error) => {
                    assert!(error.to_string().contains("UNIQUE"), "{error}");
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 1);
        let values: Vec<i64> = sqlx::query_scalar("select v from t order by v")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(values, vec![1, 2, 3, 4, 5]);
    }
}

//! Group commit: small writes that arrive together share one transaction and one durable
//! commit.
//!
//! A durable commit costs a disk flush (hundreds of microseconds to milliseconds) whatever it
//! holds, so under concurrency a write path that commits once per request is bounded by the
//! flush rate, far below what the database can insert. Here each write is an item sent to a
//! committer task; the task takes every item waiting when it becomes free, writes them in one
//! transaction, commits once and only then answers every caller, so no caller hears "done"
//! before its write is durable. A lone write is committed at once: nothing waits for a batch
//! to fill.
//!
//! How a batch is written is the [`BatchWrite`]'s business: [`GroupCommit`] runs arbitrary
//! closures one after the other, while a writer of one kind of row (see `order_inserts`) can
//! write a whole batch with a few multi-row statements, which is what spares the database's CPU.
//!
//! If writing a batch fails, it is rolled back and each of its items is written again alone,
//! in its own transaction, so one failing write never takes the others down with it.
//! (Savepoints around every item would do the same at two more statements per item, on every
//! batch.) Items may therefore be written twice; only the effects of a committed run remain.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};
use wcheckout_domain::ports::StoreError;

use crate::store_error;

/// A boxed future borrowing the connection for `'c`.
pub(crate) type ConnFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Writes a batch of items inside the committer's open transaction.
pub(crate) trait BatchWrite: Send + Sync + 'static {
    /// One caller's write.
    type Item: Send + Sync + 'static;
    /// What that caller hears once the transaction has committed.
    type Output: Send + 'static;

    /// Writes `items` and returns one output per item, in their order. An error fails the
    /// whole batch: it is rolled back and every item is written again alone.
    fn write<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        items: &'c [Self::Item],
    ) -> ConnFuture<'c, Result<Vec<Self::Output>, StoreError>>;
}

/// Most items in one transaction, so one batch cannot hold the writer for long.
const MAX_BATCH: usize = 256;

/// Queue depth per committer before callers wait to enqueue.
const QUEUE: usize = 4096;

/// An item waiting for its committer, with the way back to its caller.
struct Queued<W: BatchWrite> {
    item: W::Item,
    reply: oneshot::Sender<Result<W::Output, StoreError>>,
}

/// Handles to the committer tasks of one [`BatchWrite`]; cloning shares them.
pub(crate) struct Batcher<W: BatchWrite> {
    lanes: Arc<Vec<mpsc::Sender<Queued<W>>>>,
    next: Arc<AtomicUsize>,
}

impl<W: BatchWrite> Clone for Batcher<W> {
    fn clone(&self) -> Self {
        Batcher {
            lanes: Arc::clone(&self.lanes),
            next: Arc::clone(&self.next),
        }
    }
}

impl<W: BatchWrite> std::fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("lanes", &self.lanes.len())
            .finish()
    }
}

impl<W: BatchWrite> Batcher<W> {
    /// Starts `lanes` committer tasks writing through `pool` (each holds one connection while
    /// committing a batch). Must be called inside a Tokio runtime.
    pub(crate) fn start(pool: &AnyPool, lanes: usize, writer: W) -> Batcher<W> {
        let writer = Arc::new(writer);
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(committer(pool.clone(), Arc::clone(&writer), receiver));
                sender
            })
            .collect();
        Batcher {
            lanes: Arc::new(lanes),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Writes `item` in a shared transaction and returns its output once that transaction has
    /// committed; on error nothing of it remains.
    pub(crate) async fn submit(&self, item: W::Item) -> Result<W::Output, StoreError> {
        let (reply, answer) = oneshot::channel();
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        self.lanes[lane]
            .send(Queued { item, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The caller's write never reached a commit: the committer stopped.
fn stopped() -> StoreError {
    StoreError::Unavailable(
        "the write was not committed: the database writer is unavailable".into(),
    )
}

/// One committer: takes whatever is queued, commits it as one transaction, repeats.
async fn committer<W: BatchWrite>(
    pool: AnyPool,
    writer: Arc<W>,
    mut queue: mpsc::Receiver<Queued<W>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (items, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|q| (q.item, q.reply)).unzip();
        match commit(&pool, writer.as_ref(), &items).await {
            Ok(outputs) => {
                for (reply, output) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(output));
                }
            }
            Err(BatchError::Write(_)) if items.len() > 1 => {
                for (item, reply) in items.iter().zip(replies) {
                    let alone = commit(&pool, writer.as_ref(), std::slice::from_ref(item)).await;
                    let output = alone
                        .map_err(BatchError::into_store)
                        .and_then(|mut outputs| outputs.pop().ok_or_else(missing_output));
                    let _ = reply.send(output);
                }
            }
            Err(error) => {
                let error = error.into_store();
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

fn missing_output() -> StoreError {
    StoreError::Internal("a batch write returned fewer outputs than items".into())
}

/// Why a transaction did not commit.
enum BatchError {
    /// Writing the batch failed (the items may be fine alone).
    Write(StoreError),
    /// The database failed around the write: connection, begin or commit.
    Store(StoreError),
}

impl BatchError {
    fn into_store(self) -> StoreError {
        match self {
            BatchError::Write(error) | BatchError::Store(error) => error,
        }
    }
}

/// Writes the items in one transaction and commits it; rolls back if the write fails.
async fn commit<W: BatchWrite>(
    pool: &AnyPool,
    writer: &W,
    items: &[W::Item],
) -> Result<Vec<W::Output>, BatchError> {
    let store = |e| BatchError::Store(store_error(e));
    let mut conn = pool.acquire().await.map_err(store)?;
    let mut tx = conn.begin().await.map_err(store)?;
    let written = writer.write(&mut tx, items).await.and_then(|outputs| {
        if outputs.len() == items.len() {
            Ok(outputs)
        } else {
            Err(missing_output())
        }
    });
    match written {
        Ok(outputs) => {
            tx.commit().await.map_err(store)?;
            Ok(outputs)
        }
        Err(error) => {
            tx.rollback().await.map_err(store)?;
            Err(BatchError::Write(error))
        }
    }
}

/// A write of any shape, run on the batch's connection; its result is type-erased.
type ClosureWrite = Box<
    dyn for<'c> Fn(&'c mut AnyConnection) -> ConnFuture<'c, Result<Box<dyn Any + Send>, StoreError>>
        + Send
        + Sync,
>;

/// Runs each closure of a batch in turn.
pub(crate) struct ClosureWrites;

impl BatchWrite for ClosureWrites {
    type Item = ClosureWrite;
    type Output = Box<dyn Any + Send>;

    fn write<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        items: &'c [ClosureWrite],
    ) -> ConnFuture<'c, Result<Vec<Self::Output>, StoreError>> {
        Box::pin(async move {
            let mut outputs = Vec::with_capacity(items.len());
            for write in items {
                outputs.push(write(&mut *conn).await?);
            }
            Ok(outputs)
        })
    }
}

/// Group commit of arbitrary small writes (replay marks, webhook claims and results).
pub(crate) type GroupCommit = Batcher<ClosureWrites>;

impl GroupCommit {
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
        let item: ClosureWrite = Box::new(move |conn| {
            let written = write(conn);
            Box::pin(async move { Ok(Box::new(written.await?) as Box<dyn Any + Send>) })
        });
        let output = self.submit(item).await?;
        output
            .downcast::<T>()
            .map(|output| *output)
            .map_err(|_| StoreError::Internal("group commit: unexpected output type".into()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sqlx::any::{AnyPoolOptions, install_default_drivers};

    use super::*;

    /// An in-memory SQLite database behind one connection (a second would open another
    /// database).
    pub(crate) async fn memory_pool() -> AnyPool {
        install_default_drivers();
        AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    async fn pool() -> AnyPool {
        let pool = memory_pool().await;
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
        let group = GroupCommit::start(&pool, 1, ClosureWrites);
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

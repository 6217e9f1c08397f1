//! Group commit on SQLite's one writer connection.
//!
//! Each write transaction (a unit of work) runs as a savepoint inside a group
//! transaction that the units queued behind one another share. A unit's
//! commit releases its savepoint and waits until a committer task commits the
//! group: one durable COMMIT (an fsync with `synchronous=FULL`) for all of
//! them, and each unit answers only after its data is on disk. A unit that
//! ends without committing is rolled back to its savepoint before anything
//! else runs on the connection, so its writes are never committed with the
//! others'.

use crate::db::lock;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::sync::{Arc, Mutex as SyncMutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

/// How long a unit waits for the connection before it gives up (as a pool acquire would).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The writer connection, shared by units one at a time.
pub(crate) struct GroupWriter {
    state: Arc<Mutex<WriterState>>,
    /// Wakes the committer: a unit joined the open group, or abandoned it.
    due: Arc<Notify>,
}

struct WriterState {
    /// Statements run on the task of the unit holding the writer; only the
    /// COMMIT, which waits for the disk, goes to a blocking thread.
    conn: Arc<SyncMutex<Connection>>,
    /// A group transaction is open on the connection.
    open: bool,
    /// An empty savepoint `unit` is open, ready for the next unit: a unit's
    /// commit sets the next one's savepoint at once.
    armed: bool,
    /// The last unit ended without committing; its savepoint is still to be rolled back.
    abandoned: bool,
    /// Units released into the open group, waiting for its COMMIT.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
}

/// One write transaction: the writer connection, held until commit or drop.
pub(crate) struct Unit {
    guard: OwnedMutexGuard<WriterState>,
    due: Arc<Notify>,
    committed: bool,
}

impl GroupWriter {
    /// Takes over `conn` and starts its committer task.
    pub(crate) fn start(conn: Connection) -> Self {
        let writer = Self {
            state: Arc::new(Mutex::new(WriterState {
                conn: Arc::new(SyncMutex::new(conn)),
                open: false,
                armed: false,
                abandoned: false,
                waiting: Vec::new(),
            })),
            due: Arc::new(Notify::new()),
        };
        tokio::spawn(commit_groups(
            Arc::downgrade(&writer.state),
            writer.due.clone(),
        ));
        writer
    }

    /// Starts a unit: waits for the connection, opens a group if none is, and sets the unit's savepoint.
    pub(crate) async fn begin(&self) -> Result<Unit> {
        let mut guard = tokio::time::timeout(ACQUIRE_TIMEOUT, self.state.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?;
        guard.roll_back_abandoned();
        // IMMEDIATE takes the write lock up front, so a group never fails
        // half-way because another process wrote first.
        let start = match (guard.open, guard.armed) {
            (true, true) => None,
            (true, false) => Some("SAVEPOINT unit"),
            (false, _) => Some("BEGIN IMMEDIATE; SAVEPOINT unit"),
        };
        if let Some(sql) = start {
            let conn = lock(&guard.conn);
            if let Err(e) = conn.execute_batch(sql) {
                if !guard.open {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                return Err(e.into());
            }
        }
        guard.open = true;
        guard.armed = false;
        Ok(Unit {
            guard,
            due: self.due.clone(),
            committed: false,
        })
    }

    /// Commits the open group, if any; later units start a new one.
    pub(crate) async fn flush(&self) {
        self.state.lock().await.finish_group().await;
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // The committer finds the state gone and stops.
        self.due.notify_one();
    }
}

impl Unit {
    pub(crate) fn conn(&self) -> &SyncMutex<Connection> {
        &self.guard.conn
    }

    /// Releases the unit into its group and waits until the group is durably
    /// committed. (Dropped while it waits, a unit is still committed with its
    /// group, like a commit whose answer was lost.)
    pub(crate) async fn commit(mut self) -> Result<()> {
        lock(&self.guard.conn).execute_batch("RELEASE SAVEPOINT unit; SAVEPOINT unit")?;
        self.guard.armed = true;
        let (done, committed) = oneshot::channel();
        self.guard.waiting.push(done);
        self.committed = true;
        let due = self.due.clone();
        drop(self);
        due.notify_one();
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cause)) => Err(StoreError::GroupCommit(cause)),
            Err(_) => Err(StoreError::GroupCommit("the writer stopped".into())),
        }
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        if !self.committed {
            self.guard.abandoned = true;
            // Ends the group even when no other unit comes to commit it.
            self.due.notify_one();
        }
    }
}

impl WriterState {
    /// Undoes an abandoned unit by rolling back to its savepoint, which stays,
    /// armed for the next unit. When that fails the group fails with it.
    fn roll_back_abandoned(&mut self) {
        if !self.abandoned {
            return;
        }
        let rolled_back = lock(&self.conn).execute_batch("ROLLBACK TO SAVEPOINT unit");
        match rolled_back {
            Ok(()) => {
                self.abandoned = false;
                self.armed = true;
            }
            // SQLite ends the whole transaction on some errors (I/O, a full
            // disk); the writes of the units waiting in it are gone with it.
            Err(e) => self.fail_group(e.to_string()),
        }
    }

    async fn finish_group(&mut self) {
        self.roll_back_abandoned();
        if !self.open {
            return;
        }
        let started = Instant::now();
        // The COMMIT waits for the disk: off the runtime's threads.
        let conn = self.conn.clone();
        let committed = tokio::task::spawn_blocking(move || lock(&conn).execute_batch("COMMIT"))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match committed {
            Ok(()) => {
                tracing::debug!(
                    units = self.waiting.len(),
                    commit_us = started.elapsed().as_micros() as u64,
                    "group committed"
                );
                self.open = false;
                self.armed = false;
                for unit in self.waiting.drain(..) {
                    let _ = unit.send(Ok(()));
                }
            }
            Err(cause) => self.fail_group(cause),
        }
    }

    fn fail_group(&mut self, cause: String) {
        tracing::error!(%cause, "a group of write transactions failed");
        let _ = lock(&self.conn).execute_batch("ROLLBACK");
        self.open = false;
        self.armed = false;
        self.abandoned = false;
        for unit in self.waiting.drain(..) {
            let _ = unit.send(Err(cause.clone()));
        }
    }
}

/// The committer: each time it is woken, it queues for the connection behind
/// the units already waiting, then commits the group they formed.
async fn commit_groups(state: Weak<Mutex<WriterState>>, due: Arc<Notify>) {
    loop {
        due.notified().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        state.lock().await.finish_group().await;
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    /// Units that commit are durable and visible to readers once their commit
    /// returns; units dropped uncommitted leave nothing, though they shared
    /// groups with the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_keeps_committed_units_and_drops_abandoned_ones() {
        let path = std::env::temp_dir().join(format!(
            "backflow-group-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("store");
        let units = (0..64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let name = format!("key-{i}");
                tx.ensure_platform_key(&name, "secret")
                    .await
                    .expect("write");
                if i % 3 == 0 {
                    drop(tx);
                    return;
                }
                tx.commit().await.expect("commit");
                // Committed means on disk: any reader sees it now.
                assert!(store.platform_key(&name).await.expect("read").is_some());
            })
        });
        for unit in units.collect::<Vec<_>>() {
            unit.await.expect("unit");
        }
        for i in 0..64 {
            let stored = store.platform_key(&format!("key-{i}")).await.expect("read");
            assert_eq!(stored.is_some(), i % 3 != 0, "key-{i}");
        }
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

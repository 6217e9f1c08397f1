//! Group commit on SQLite's one writer connection.
//!
//! Each write transaction (a unit of work, from [`GroupWriter::begin`]) runs
//! as a savepoint inside a group transaction that the units queued behind one
//! another share. A unit holds the writer from `begin` until it ends, across
//! whatever its caller awaits; the use cases await only their own statements,
//! each of which runs to its end in the poll that starts it (rusqlite, on the
//! calling task). A unit's commit releases its savepoint and waits until the
//! group is durable. A unit that ends without committing is rolled back to
//! its savepoint before anything else runs on the connection, so its writes
//! are never committed with the others'.
//!
//! At most [`WriterSettings::queue`] callers wait for the writer; one more is
//! refused at once with [`StoreError::Busy`], which the doors answer as "retry
//! later", instead of joining a queue whose wait would outlast its client.
//!
//! A group is committed when the syncer is free and nobody waits to join it
//! (or it is large, or old): the `COMMIT` writes the WAL without waiting for
//! the disk (`synchronous=NORMAL`), so the writer is free again at once. A
//! syncer thread then `fdatasync`s the WAL file before any unit of the group
//! answers. While it syncs, the next group stays open and takes every unit
//! that comes meanwhile: they could not be synced any sooner, and one group
//! writes a page they all change (a balance, the last leaf of an index) to
//! the WAL once instead of once a group. A unit therefore answers only once
//! its WAL frames are on disk, as with `synchronous=FULL`, but the next group
//! gathers while the disk works. Checkpoints run on a thread of their own,
//! off the writer's path; WAL with `NORMAL` syncs the WAL before each
//! checkpoint and the database after it, so what was synced stays
//! recoverable. SQLite starts the WAL over only at a group that opens when it
//! is copied to its end; under a load that never pauses the next group always
//! opens first, so once the WAL is long the writer copies the rest itself
//! between two groups (see [`WAL_RESTART_FRAMES`]).
//!
//! Readers see a group once it is committed, before it is synced. Reads
//! whose answers report what is stored (a refund's state) therefore wait for
//! the sync of every group committed before they finished ([`GroupWriter::seen`],
//! [`GroupWriter::durable`]), as a repeated request waits for the group of
//! its own empty unit.
//!
//! # Locks
//!
//! Taken in this order, never the other way round:
//!
//! 1. `writer`, the async lock: a unit, the committer or a flush holds it
//!    across awaits. Only its holder changes the group or uses the connection.
//! 2. `group`, the group's state.
//! 3. `conn`, the writer connection. Its holder is the writer's holder, so it
//!    is never contended; a statement never awaits while it holds it.
//! 4. the syncer's `state`, which the syncer and checkpointer threads take alone.
//!
//! No blocking lock is held across an await. Debug builds check that the
//! writer is held wherever the group changes, that the connection is never
//! contended (`db::lock_writer`), and that the group's state is consistent
//! each time its lock is let go (an armed, abandoned or waited-for group is
//! open; see [`Group::check`]).

use crate::db::lock;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex as SyncMutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch, Mutex, Notify, OwnedMutexGuard};

/// How long a unit waits for the connection before it gives up (as a pool acquire would).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// A group is committed at this size or age even while units keep coming.
const GROUP_MAX_UNITS: usize = 64;
#[cfg(not(test))]
const GROUP_MAX_AGE: Duration = Duration::from_millis(1);
/// Tests see groups end only when the queue empties.
#[cfg(test)]
const GROUP_MAX_AGE: Duration = Duration::from_secs(60);

/// The WAL length, in frames (64 MiB of SQLite's default 4 KiB pages), past
/// which the writer checkpoints the WAL to its end between two groups, so
/// that it starts over.
#[cfg(not(test))]
const WAL_RESTART_FRAMES: i64 = 16_384;
#[cfg(test)]
const WAL_RESTART_FRAMES: i64 = 64;

/// How SQLite's writer is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    /// How many write transactions may wait for the writer at once; the next
    /// one is refused with [`StoreError::Busy`].
    pub queue: usize,
}

impl Default for WriterSettings {
    /// 1,024 waiters: a quarter of a second of refunds at the measured rate
    /// (docs/performance.md), far inside a client's timeout, and many times
    /// the connections the load tool keeps in flight.
    fn default() -> Self {
        Self { queue: 1024 }
    }
}

/// A unit's wait for its group: `Ok` once the group is durable.
type Durable = oneshot::Sender<Result<(), String>>;
/// The other end of [`Durable`].
type Durability = oneshot::Receiver<Result<(), String>>;

/// The writer connection, shared by units one at a time.
pub(crate) struct GroupWriter {
    shared: Arc<Shared>,
}

struct Shared {
    /// Held by whoever uses the connection: a unit, the committer, or a flush.
    writer: Arc<Mutex<()>>,
    /// Statements, the COMMIT included, run on the task holding the writer;
    /// only the WAL's sync waits on another thread.
    conn: SyncMutex<Connection>,
    group: SyncMutex<Group>,
    /// Syncs the WAL for the groups committed, then lets their units answer.
    syncer: Arc<Syncer>,
    /// Wakes the committer: a group is due (the syncer is free again), or a unit abandoned it.
    due: Arc<Notify>,
    /// Callers of `begin` waiting for the writer: while there are some, the group stays open for them.
    queued: AtomicUsize,
    settings: WriterSettings,
}

/// The group transaction on the connection; changed only by the writer's holder.
#[derive(Default)]
struct Group {
    /// A group transaction is open on the connection, since then.
    open: Option<Instant>,
    /// An empty savepoint `unit` is open, ready for the next unit: a unit's
    /// commit sets the next one's savepoint at once.
    armed: bool,
    /// The last unit ended without committing; its savepoint is still to be rolled back.
    abandoned: bool,
    /// Units released into the open group, waiting for it to be durable.
    waiting: Vec<Durable>,
}

impl Group {
    /// Panics, in debug builds, when the state cannot be: a savepoint armed or
    /// abandoned, or a unit waiting, outside an open group; a savepoint both
    /// armed for the next unit and abandoned by the last.
    fn check(&self) {
        debug_assert!(
            self.open.is_some() || (!self.armed && !self.abandoned && self.waiting.is_empty()),
            "a savepoint or a waiting unit outside an open group"
        );
        debug_assert!(
            !(self.armed && self.abandoned),
            "a savepoint both armed and abandoned"
        );
    }
}

/// The group, locked; checked when let go (see [`Group::check`]).
struct GroupGuard<'g>(MutexGuard<'g, Group>);

impl Deref for GroupGuard<'_> {
    type Target = Group;
    fn deref(&self) -> &Group {
        &self.0
    }
}

impl DerefMut for GroupGuard<'_> {
    fn deref_mut(&mut self) -> &mut Group {
        &mut self.0
    }
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.0.check();
        }
    }
}

/// The writer, held; released (and the group looked at again) on drop.
struct Held {
    guard: Option<OwnedMutexGuard<()>>,
    shared: Arc<Shared>,
}

/// One write transaction on the writer connection, until commit or drop.
/// It holds the writer until it ends.
pub(crate) struct Unit {
    shared: Arc<Shared>,
    _writer: Held,
    committed: bool,
}

impl GroupWriter {
    /// Takes over `conn`, the writer of the WAL-mode database at `path`, and starts its committer task.
    pub(crate) fn start(conn: Connection, path: &Path, settings: WriterSettings) -> Result<Self> {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{} is in journal mode {mode}, not WAL",
                path.display()
            )));
        }
        // The WAL is synced after each group's COMMIT by the syncer (see above),
        // and copied into the database file by the checkpointer: SQLite's
        // automatic checkpoint would run inside a COMMIT and hold the writer
        // for a millisecond or more. The writer keeps 64 MiB of pages (SQLite's
        // default is 2 MiB): a refund looks up its payment and indexes that
        // outgrow that, and each page missed is a read from the file.
        // A WAL that grew long once is cut back to that length (a frame is a
        // page and its 24-byte header) when it starts over.
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-65536; \
             PRAGMA journal_size_limit={}",
            WAL_RESTART_FRAMES * (page + 24)
        ))?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&wal_path)
            .map_err(|e| {
                StoreError::Unavailable(format!("{}: {e}", Path::new(&wal_path).display()))
            })?;
        let due = Arc::new(Notify::new());
        let syncer = Syncer::start(wal, due.clone())?;
        start_checkpointer(crate::db::open_sqlite(path)?, Arc::downgrade(&syncer))?;
        let shared = Arc::new(Shared {
            writer: Arc::new(Mutex::new(())),
            conn: SyncMutex::new(conn),
            group: SyncMutex::new(Group::default()),
            syncer,
            due,
            queued: AtomicUsize::new(0),
            settings,
        });
        tokio::spawn(commit_groups(Arc::downgrade(&shared), shared.due.clone()));
        Ok(Self { shared })
    }

    /// Starts a unit that holds the writer: waits for it (unless the queue
    /// for it is full), opens a group if none is, and sets the unit's savepoint.
    pub(crate) async fn begin(&self) -> Result<Unit> {
        let guard = match self.shared.writer.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                let ticket = Queued::new(&self.shared)?;
                let guard =
                    tokio::time::timeout(ACQUIRE_TIMEOUT, self.shared.writer.clone().lock_owned())
                        .await
                        .map_err(|_| writer_busy())?;
                ticket.served();
                guard
            }
        };
        let held = Held::new(guard, &self.shared);
        self.shared.open_unit()?;
        Ok(Unit {
            shared: self.shared.clone(),
            _writer: held,
            committed: false,
        })
    }

    /// How many groups have been committed, or are being: a read that finished
    /// before this call saw none beyond them.
    pub(crate) fn seen(&self) -> u64 {
        self.shared.syncer.numbered.load(Ordering::SeqCst)
    }

    /// Waits until the groups up to `seen` are on disk.
    pub(crate) async fn durable(&self, seen: u64) -> Result<()> {
        let mut synced = self.shared.syncer.synced.subscribe();
        let on_disk = tokio::time::timeout(ACQUIRE_TIMEOUT, synced.wait_for(|s| *s >= seen))
            .await
            .is_ok_and(|r| r.is_ok());
        if on_disk {
            Ok(())
        } else {
            Err(StoreError::GroupCommit(
                "what was read is not on disk yet".into(),
            ))
        }
    }

    /// Commits the open group, if any, and waits until it is on disk.
    pub(crate) async fn flush(&self) {
        let held = Held::new(self.shared.writer.clone().lock_owned().await, &self.shared);
        let synced = self.shared.commit_group();
        drop(held);
        if let Some(synced) = synced {
            let _ = synced.await;
        }
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // The committer finds the state gone and stops; the syncer once it has nothing left to sync.
        self.shared.due.notify_one();
        self.shared.syncer.stop();
    }
}

/// A caller's place in the queue for the writer. A caller that leaves it
/// without the writer (timed out, or gone) may have been the one the open
/// group waited for, so the committer is woken.
struct Queued<'s> {
    shared: &'s Shared,
    served: bool,
}

impl<'s> Queued<'s> {
    /// Joins the queue, or is refused when [`WriterSettings::queue`] callers wait already.
    fn new(shared: &'s Shared) -> Result<Self> {
        let bound = shared.settings.queue;
        let joined = shared
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < bound).then_some(n + 1)
            });
        match joined {
            Ok(_) => Ok(Self {
                shared,
                served: false,
            }),
            Err(waiting) => Err(StoreError::Busy { waiting }),
        }
    }

    fn served(mut self) {
        self.served = true;
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        if !self.served {
            self.shared.due.notify_one();
        }
    }
}

impl Held {
    fn new(guard: OwnedMutexGuard<()>, shared: &Arc<Shared>) -> Self {
        Self {
            guard: Some(guard),
            shared: shared.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.guard.take());
        let shared = &self.shared;
        // A group left open with nobody queued to end it (its last unit was
        // abandoned) is ended by the committer; while the syncer is busy, it
        // wakes the committer itself once it is free.
        if shared.queued.load(Ordering::SeqCst) == 0 && shared.group_due() {
            shared.due.notify_one();
        }
    }
}

impl Unit {
    pub(crate) fn conn(&self) -> &SyncMutex<Connection> {
        &self.shared.conn
    }

    /// Releases the unit into its group and waits until the group is durably
    /// committed (dropped while it waits, it is still committed with its
    /// group, like a commit whose answer was lost).
    pub(crate) async fn commit(mut self) -> Result<()> {
        control(
            &crate::db::lock_writer(&self.shared.conn),
            &["RELEASE SAVEPOINT unit", "SAVEPOINT unit"],
        )?;
        let (done, durable) = oneshot::channel();
        {
            let mut group = self.shared.group();
            group.armed = true;
            group.waiting.push(done);
        }
        self.committed = true;
        if self.shared.group_due() {
            self.shared.commit_and_restart().await;
        }
        drop(self);
        wait(durable).await
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        if !self.committed {
            // Rolled back before anything else runs; releasing the writer
            // sees to it that the group is ended (see `Held`).
            self.shared.group().abandoned = true;
        }
    }
}

/// Runs transaction-control statements in turn, each prepared once per
/// connection: every refund runs some, and preparing them cost more than running them.
fn control(conn: &Connection, statements: &[&str]) -> rusqlite::Result<()> {
    for sql in statements {
        conn.prepare_cached(sql)?.execute([])?;
    }
    Ok(())
}

/// A unit waited [`ACQUIRE_TIMEOUT`] for the writer.
fn writer_busy() -> StoreError {
    StoreError::Unavailable(format!(
        "the writer stayed busy for {} s",
        ACQUIRE_TIMEOUT.as_secs()
    ))
}

/// Waits until a committed unit's group is on disk.
async fn wait(durable: Durability) -> Result<()> {
    match durable.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(cause)) => Err(StoreError::GroupCommit(cause)),
        Err(_) => Err(StoreError::GroupCommit("the writer stopped".into())),
    }
}

impl Shared {
    /// The group's state, to change: only the writer's holder may (checked in debug builds).
    fn group(&self) -> GroupGuard<'_> {
        debug_assert!(
            self.writer.try_lock().is_err(),
            "the group changed by a task that does not hold the writer"
        );
        GroupGuard(lock(&self.group))
    }

    /// Opens a group if none is, and the unit's savepoint. The caller holds the writer.
    fn open_unit(&self) -> Result<()> {
        self.roll_back_abandoned();
        let mut group = self.group();
        // IMMEDIATE takes the write lock up front, so a group never fails
        // half-way because another process wrote first.
        let start: &[&str] = match (group.open.is_some(), group.armed) {
            (true, true) => &[],
            (true, false) => &["SAVEPOINT unit"],
            (false, _) => &["BEGIN IMMEDIATE", "SAVEPOINT unit"],
        };
        if !start.is_empty() {
            let conn = crate::db::lock_writer(&self.conn);
            if let Err(e) = control(&conn, start) {
                if group.open.is_none() {
                    let _ = control(&conn, &["ROLLBACK"]);
                }
                // Units in the group that counted on this one to end it are
                // seen to when the writer is released (see `Held`).
                return Err(e.into());
            }
        }
        group.open.get_or_insert_with(Instant::now);
        group.armed = false;
        Ok(())
    }

    /// The open group should be committed now: it is full, or the syncer is
    /// free and nobody waits to join the group (or it is old).
    fn group_due(&self) -> bool {
        let group = lock(&self.group);
        let Some(opened) = group.open else {
            return false;
        };
        group.waiting.len() >= GROUP_MAX_UNITS
            || (self.syncer.is_idle()
                && (self.queued.load(Ordering::SeqCst) == 0 || opened.elapsed() >= GROUP_MAX_AGE))
    }

    /// Undoes an abandoned unit by rolling back to its savepoint, which stays,
    /// armed for the next unit. When that fails the group fails with it.
    fn roll_back_abandoned(&self) {
        let mut group = self.group();
        if !group.abandoned {
            return;
        }
        let rolled_back = control(
            &crate::db::lock_writer(&self.conn),
            &["ROLLBACK TO SAVEPOINT unit"],
        );
        match rolled_back {
            Ok(()) => {
                group.abandoned = false;
                group.armed = true;
            }
            // SQLite ends the whole transaction on some errors (I/O, a full
            // disk); the writes of the units waiting in it are gone with it.
            Err(e) => self.fail_group(&mut group, e.to_string()),
        }
    }

    /// Commits the open group; what it returns resolves once the group is on
    /// disk, when its units are told too. The caller holds the writer.
    fn commit_group(&self) -> Option<Durability> {
        self.roll_back_abandoned();
        let mut group = self.group();
        let opened = group.open?;
        // Numbered before readers can see it (see `seen`).
        let number = self.syncer.number_group();
        let committed = control(&crate::db::lock_writer(&self.conn), &["COMMIT"]);
        if let Err(e) = committed {
            self.fail_group(&mut group, e.to_string());
            return None;
        }
        tracing::debug!(
            units = group.waiting.len(),
            group_us = opened.elapsed().as_micros() as u64,
            "group committed"
        );
        group.open = None;
        group.armed = false;
        let (synced_tx, synced) = oneshot::channel();
        group.waiting.push(synced_tx);
        self.syncer.sync(number, std::mem::take(&mut group.waiting));
        // The flush's own wait resolves with the others.
        Some(synced)
    }

    /// Commits the open group; then, if the checkpointer found the WAL past
    /// [`WAL_RESTART_FRAMES`], copies the rest of it into the database before
    /// the next group opens, so that SQLite starts the WAL over at that group.
    /// The writer waits for the copy (a few milliseconds, two syncs) on the
    /// blocking pool, not on a runtime thread. The caller holds the writer.
    async fn commit_and_restart(self: &Arc<Self>) {
        self.commit_group();
        if !self.syncer.restart_due.swap(false, Ordering::SeqCst) {
            return;
        }
        let shared = self.clone();
        let copied = tokio::task::spawn_blocking(move || {
            crate::db::lock_writer(&shared.conn).query_row(
                "PRAGMA wal_checkpoint(PASSIVE)",
                [],
                |_| Ok(()),
            )
        })
        .await;
        if let Ok(Err(e)) = copied {
            tracing::warn!(error = %e, "the WAL could not be copied to its end; it is tried again");
        }
    }

    fn fail_group(&self, group: &mut Group, cause: String) {
        tracing::error!(%cause, "a group of write transactions failed");
        let _ = control(&crate::db::lock_writer(&self.conn), &["ROLLBACK"]);
        group.open = None;
        group.armed = false;
        group.abandoned = false;
        for unit in group.waiting.drain(..) {
            let _ = unit.send(Err(cause.clone()));
        }
    }
}

/// The thread that makes committed groups durable: one `fdatasync` of the
/// WAL for the groups committed while the previous one ran (one, unless a
/// group filled up meanwhile).
struct Syncer {
    wal: File,
    state: SyncMutex<SyncState>,
    wake: Condvar,
    /// Nothing is being synced nor waits to be: the next group may be committed.
    idle: AtomicBool,
    /// The committer, woken when the syncer becomes idle: the group kept open meanwhile is due.
    due: Arc<Notify>,
    /// The checkpointer found the WAL past [`WAL_RESTART_FRAMES`]: the writer
    /// is to copy the rest of it between two groups.
    restart_due: AtomicBool,
    /// Groups numbered so far, one per COMMIT (a failed one keeps its number).
    numbered: AtomicU64,
    /// The last group whose frames are on disk, with every one before it.
    synced: watch::Sender<u64>,
    /// Held by a test to keep syncs from happening.
    #[cfg(test)]
    paused: SyncMutex<()>,
}

#[derive(Default)]
struct SyncState {
    /// Units of committed groups: their frames are written, not yet synced.
    pending: Vec<Durable>,
    /// The last group among them.
    upto: u64,
    stopped: bool,
}

impl Syncer {
    fn start(wal: File, due: Arc<Notify>) -> Result<Arc<Self>> {
        let syncer = Arc::new(Self {
            wal,
            state: SyncMutex::new(SyncState::default()),
            wake: Condvar::new(),
            idle: AtomicBool::new(true),
            due,
            restart_due: AtomicBool::new(false),
            numbered: AtomicU64::new(0),
            synced: watch::Sender::new(0),
            #[cfg(test)]
            paused: SyncMutex::new(()),
        });
        let worker = syncer.clone();
        std::thread::Builder::new()
            .name("backflow-wal-sync".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::Unavailable(format!("cannot start the WAL syncer: {e}")))?;
        Ok(syncer)
    }

    fn number_group(&self) -> u64 {
        self.numbered.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The units of `group`, just committed: they answer after the next sync.
    fn sync(&self, group: u64, units: Vec<Durable>) {
        let mut state = lock(&self.state);
        if state.stopped {
            // The thread may be gone (the store is closing): sync here.
            drop(state);
            self.sync_now(group, units);
            return;
        }
        state.pending.extend(units);
        state.upto = state.upto.max(group);
        self.idle.store(false, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn is_idle(&self) -> bool {
        self.idle.load(Ordering::SeqCst)
    }

    fn sync_now(&self, upto: u64, units: Vec<Durable>) {
        #[cfg(test)]
        let _paused = self.paused.lock();
        let durable = self.wal.sync_data().map_err(|e| {
            tracing::error!(error = %e, "the WAL could not be synced; the units waiting for it fail");
            e.to_string()
        });
        if durable.is_ok() {
            self.synced.send_modify(|s| *s = (*s).max(upto));
        }
        for unit in units {
            let _ = unit.send(durable.clone());
        }
    }

    fn stop(&self) {
        lock(&self.state).stopped = true;
        self.wake.notify_one();
    }

    fn run(&self) {
        loop {
            let (upto, units) = {
                let mut state = lock(&self.state);
                if state.pending.is_empty() && !self.idle.swap(true, Ordering::SeqCst) {
                    // The group that stayed open while this sync ran is due.
                    self.due.notify_one();
                }
                while state.pending.is_empty() && !state.stopped {
                    state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                if state.pending.is_empty() {
                    return;
                }
                (state.upto, std::mem::take(&mut state.pending))
            };
            // Every unit taken was committed before this sync starts.
            self.sync_now(upto, units);
        }
    }
}

/// How often the checkpointer looks for synced groups to copy.
#[cfg(not(test))]
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Tests write for a fraction of a second.
#[cfg(test)]
const CHECKPOINT_EVERY: Duration = Duration::from_millis(5);

/// Copies the WAL into the database file, on a connection and a thread of
/// its own, once groups have been synced since its last copy. PASSIVE: it
/// waits for neither the writer nor the readers, and SQLite restarts the WAL
/// at the writer's next group once a checkpoint has copied all of it; when
/// the WAL is long, it asks the writer to copy the rest (see
/// [`Shared::commit_and_restart`]). Like every checkpoint it syncs the WAL
/// before it copies and the database file after, so what was on disk stays
/// so. It stops with the syncer.
fn start_checkpointer(conn: Connection, syncer: Weak<Syncer>) -> Result<()> {
    let mut copied = 0;
    let run = move || loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let synced = match syncer.upgrade() {
            Some(syncer) if !lock(&syncer.state).stopped => *syncer.synced.borrow(),
            _ => return,
        };
        if synced == copied {
            continue;
        }
        // The second column is the WAL's length in frames.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) => {
                copied = synced;
                if frames >= WAL_RESTART_FRAMES {
                    if let Some(syncer) = syncer.upgrade() {
                        syncer.restart_due.store(true, Ordering::SeqCst);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; it is tried again"),
        }
    };
    std::thread::Builder::new()
        .name("backflow-wal-checkpoint".into())
        .spawn(run)
        .map(drop)
        .map_err(|e| StoreError::Unavailable(format!("cannot start the WAL checkpointer: {e}")))
}

/// The committer: each time it is woken, it queues for the connection behind
/// the units already waiting and commits the group they formed if it is due:
/// a group whose last unit was abandoned, or left the queue, or that waited
/// for the syncer, has nobody else to.
async fn commit_groups(shared: Weak<Shared>, due: Arc<Notify>) {
    loop {
        due.notified().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let held = Held::new(shared.writer.clone().lock_owned().await, &shared);
        if shared.group_due() {
            shared.commit_and_restart().await;
        }
        drop(held);
    }
}

#[cfg(test)]
mod tests {
    use super::{Group, GroupGuard, GroupWriter, WriterSettings};
    use crate::testing::{remove, scratch, scratch_with};
    use crate::{Store, StoreError, Tx};
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A unit from `begin` that has written the platform key `name`.
    async fn begun_with(store: &Store, name: &str) -> Tx {
        let mut tx = store.begin().await.expect("begin");
        tx.ensure_platform_key(name, "secret").await.expect("write");
        tx
    }

    /// Writes the platform key `name`, `bytes` long, as one unit.
    async fn write_key(store: &Store, name: &str, bytes: usize) {
        let mut tx = store.begin().await.expect("begin");
        tx.ensure_platform_key(name, &"k".repeat(bytes))
            .await
            .expect("write");
        tx.commit().await.expect("commit");
    }

    fn writer(store: &Store) -> &GroupWriter {
        let crate::Connections::Sqlite { writer, .. } = &store.connections else {
            unreachable!("a SQLite store")
        };
        writer
    }

    /// Returns once `n` callers wait for the writer.
    async fn until_queued(store: &Store, n: usize) {
        while writer(store).shared.queued.load(Ordering::SeqCst) != n {
            tokio::task::yield_now().await;
        }
    }

    /// Awaits `answered`, which a group left open would keep waiting.
    async fn within_5s<T>(what: &str, answered: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), answered)
            .await
            .unwrap_or_else(|_| panic!("{what}: not answered within 5 s"))
    }

    /// Units that commit are durable and visible to readers once their commit
    /// returns; units dropped uncommitted (a refusal after a write, a repeat)
    /// leave nothing, though they shared groups with the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_keeps_committed_units_and_drops_abandoned_ones() {
        let (store, path) = scratch("group").await;
        let units = (0..64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("key-{i}");
                let tx = begun_with(&store, &name).await;
                // Some hold the writer across an await of their own.
                tokio::task::yield_now().await;
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
        remove(&path);
    }

    /// A unit that ends uncommitted, last in its group, leaves the group to
    /// the committer: the units released into it before are answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_whose_last_unit_is_abandoned_is_still_committed() {
        let (store, path) = scratch("abandoned").await;
        let first = begun_with(&store, "first").await;
        let last = {
            let store = store.clone();
            tokio::spawn(async move { store.begin().await.expect("begin") })
        };
        // The last waits for the writer, so the first's commit leaves the group open for it.
        until_queued(&store, 1).await;
        let first = tokio::spawn(first.commit());
        drop(last.await.expect("task"));
        within_5s("the first", first)
            .await
            .expect("task")
            .expect("commit");
        assert!(store.platform_key("first").await.expect("read").is_some());
        store.close().await;
        remove(&path);
    }

    /// A unit leaves its group open while others queue for the writer; callers
    /// that give up while queued (a client gone) must not keep later groups
    /// open for good.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_gone_from_the_queue_do_not_stall_the_group() {
        let (store, path) = scratch("queue").await;
        let holder = begun_with(&store, "held").await;
        let quitters: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { drop(store.begin().await) })
            })
            .collect();
        // They queue behind the holder, then go while it still holds the writer.
        until_queued(&store, 8).await;
        for quitter in quitters {
            quitter.abort();
            let _ = quitter.await;
        }
        let committed = tokio::spawn(holder.commit());
        within_5s("the holder", committed)
            .await
            .expect("task")
            .expect("commit");
        assert!(store.platform_key("held").await.expect("read").is_some());
        // Nobody waits now: the next unit's commit ends its group at once.
        let next = begun_with(&store, "next").await;
        within_5s("the next, with nobody waiting", next.commit())
            .await
            .expect("commit");
        store.close().await;
        remove(&path);
    }

    /// With the queue for the writer full, the next caller is refused at
    /// once and writes nothing; those queued are served, and once the queue
    /// has room callers are let in again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_the_next_caller_at_once() {
        let (store, path) = scratch_with("full", WriterSettings { queue: 2 }).await;
        let holder = begun_with(&store, "held").await;
        let queued: Vec<_> = (0..2)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    begun_with(&store, &format!("queued-{i}"))
                        .await
                        .commit()
                        .await
                })
            })
            .collect();
        until_queued(&store, 2).await;
        let refused = store.begin().await.map(drop);
        assert!(
            matches!(refused, Err(StoreError::Busy { waiting: 2 })),
            "{refused:?}"
        );
        holder.commit().await.expect("commit");
        for unit in queued {
            within_5s("a queued unit", unit)
                .await
                .expect("task")
                .expect("commit");
        }
        write_key(&store, "after", 10).await;
        for name in ["held", "queued-0", "queued-1", "after"] {
            assert!(
                store.platform_key(name).await.expect("read").is_some(),
                "{name}"
            );
        }
        store.close().await;
        remove(&path);
    }

    /// Under a load that never pauses, a new group opens as soon as one
    /// commits, so the WAL is never found copied to its end and SQLite never
    /// starts it over on its own: the writer copies the rest between two
    /// groups once the WAL is long, and it stays short.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_units_that_never_pause() {
        let (store, path) = scratch("restart").await;
        let wal = format!("{}-wal", path.display());
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..400 {
                        write_key(&store, &format!("key-{t}-{i}"), 2000).await;
                    }
                })
            })
            .collect();
        // The WAL's length, sampled while they write.
        let mut longest = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            longest = longest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for w in writers {
            w.await.expect("writer");
        }
        // 3,200 units of a 2 KB row each: several MiB of WAL unless it starts
        // over (at 64 frames, 260 KiB, in tests): 23 MiB when it never did.
        assert!(longest < 4 * 1024 * 1024, "the WAL grew to {longest} bytes");
        store.close().await;
        remove(&path);
    }

    /// The writer never checkpoints: the checkpointer copies synced groups
    /// into the database file, on its own thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn synced_groups_reach_the_database_file() {
        let (store, path) = scratch("checkpoint").await;
        let before = std::fs::metadata(&path).expect("database file").len();
        for i in 0..400 {
            write_key(&store, &format!("key-{i:04}"), 200).await;
        }
        // The checkpointer looks every 5 ms in tests; it is given a second.
        let mut grown = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            grown = std::fs::metadata(&path).expect("database file").len() > before;
            if grown {
                break;
            }
        }
        assert!(grown, "the database file stayed at {before} bytes");
        store.close().await;
        remove(&path);
    }

    /// Readers see a committed group before it is synced; a read that reports
    /// what is stored waits for the sync, as the unit that wrote it does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    // The pause is a blocking lock held on purpose while the test awaits.
    #[allow(clippy::await_holding_lock)]
    async fn reads_of_a_group_wait_until_it_is_on_disk() {
        let (store, path) = scratch("durable").await;
        let writer = writer(&store);
        let paused = writer.shared.syncer.paused.lock().expect("pause");
        let unit = {
            let store = store.clone();
            tokio::spawn(async move {
                let tx = begun_with(&store, "k").await;
                tx.commit().await.expect("commit");
            })
        };
        // Committed: plain readers see it; nothing is synced yet.
        while store.platform_key("k").await.expect("read").is_none() {
            tokio::task::yield_now().await;
        }
        let seen = writer.seen();
        // The sync cannot happen while paused: the wait is pending when
        // polled (a zero timeout polls its future once before it expires).
        let early = tokio::time::timeout(Duration::ZERO, writer.durable(seen)).await;
        assert!(
            early.is_err(),
            "a read must not report a group before its sync"
        );
        assert!(!unit.is_finished(), "nor may its unit answer");
        drop(paused);
        writer.durable(seen).await.expect("durable");
        unit.await.expect("unit");
        store.close().await;
        remove(&path);
    }

    /// The invariants are checked where they could break: these break them
    /// on purpose, and the checks must catch it. `change` is made to the
    /// group's state under its lock, checked as the lock is let go.
    #[cfg(debug_assertions)]
    fn change_group(change: impl FnOnce(&mut Group)) {
        let group = Mutex::new(Group::default());
        change(&mut GroupGuard(group.lock().expect("lock")));
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "outside an open group")]
    fn an_armed_savepoint_outside_an_open_group_is_caught() {
        change_group(|group| group.armed = true);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "outside an open group")]
    fn a_unit_waiting_outside_an_open_group_is_caught() {
        change_group(|group| group.waiting.push(tokio::sync::oneshot::channel().0));
    }

    #[cfg(debug_assertions)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "does not hold the writer")]
    async fn a_unit_opened_without_the_writer_is_caught() {
        let (store, _path) = scratch("unheld").await;
        let _ = writer(&store).shared.open_unit();
    }

    #[cfg(debug_assertions)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "in use by another task")]
    // Holding the connection across the statement is the breakage under test.
    #[allow(clippy::await_holding_lock)]
    async fn a_statement_beside_another_on_the_writer_is_caught() {
        let (store, _path) = scratch("contended").await;
        let mut tx = store.begin().await.expect("begin");
        let _beside = crate::db::lock(&writer(&store).shared.conn);
        let _ = tx.ensure_platform_key("k", "secret").await;
    }
}

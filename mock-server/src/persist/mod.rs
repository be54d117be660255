//! `--state-file`: the state in an embedded SQLite database, written as it changes.
//!
//! * **What is kept**: tasks (with their external ids, pending transitions and planned results),
//!   custom voices, elements, sessions of the selection helpers, generated media files and media
//!   ids, accounts, their packs, balances and limits, the id counter and the clock. Media bytes are not stored: a file is synthesised from
//!   its recorded parameters when fetched, so every result URL stays servable.
//! * **How it is written**: the parts of the state note what changes (`crate::dirty`); a writer
//!   thread takes those notes every `--state-interval` (the *window*) and writes, in one
//!   transaction, what they name now: a task row per changed task (so a task created and moved
//!   twice in one window is written once), a row per changed voice or account, and one row
//!   holding every media entry generated in the window (media never change, they only age out:
//!   a log, compacted when it holds twice the live entries). Nothing is ever rewritten whole.
//!   SQLite runs in WAL mode with `synchronous=NORMAL`: a committed window survives a crash of
//!   the process (`kill -9`), so a crash loses at most the last window; a graceful stop writes
//!   the last window before it exits.
//! * **How it is read**: at start, row by row into the live structures (never the whole file in
//!   memory). A task's result is read back by its kind's [`ResultType`](crate::kinds::ResultType); a kind this build does
//!   not serve, a corrupt, foreign or newer store stops the server with a message saying so,
//!   and the file is left as it is.
//! * **Older builds' JSON state files** (layouts 1 and 2) are read once ([`legacy`]) and migrated:
//!   the store is written beside them and then takes the file's place, the JSON file being kept
//!   as `<name>.json-v<N>.bak`.
//!
//! A new kind needs nothing here: its tasks are rows like any other, its result is stored as its
//! own type serialized, and its spec says how to read it back.

pub mod legacy;

use crate::engine::Status;
use crate::engine::store::TaskRecord;
use crate::ids::KindId;
use crate::kinds::Mode;
use crate::media::{ImageFile, MediaChange, MediaFile, MediaItem, Token, VideoFacts, VideoFile};
use crate::state::{AppState, Shared};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// `PRAGMA application_id` of a kling-mock store ("KLMK").
pub const APPLICATION_ID: i32 = 0x4B4C_4D4B;
/// The store's layout version (`PRAGMA user_version`). JSON state files were layouts 1 and 2.
pub const LAYOUT: i32 = 3;
/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// Media entries per row when the media log is rewritten.
const MEDIA_CHUNK: usize = 50_000;

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
CREATE TABLE accounts(pos INTEGER PRIMARY KEY, access_key TEXT NOT NULL UNIQUE);
CREATE TABLE billing(account INTEGER PRIMARY KEY, settings TEXT NOT NULL);
CREATE TABLE custom_voices(voice_id INTEGER PRIMARY KEY, account INTEGER NOT NULL,
                           task_id INTEGER NOT NULL);
CREATE TABLE media_log(seq INTEGER PRIMARY KEY, entries INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE callbacks(seq INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, url TEXT NOT NULL,
                       status TEXT NOT NULL, webhook_id TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE tasks(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, kind TEXT NOT NULL,
                   status TEXT NOT NULL, external_task_id TEXT, created_at INTEGER NOT NULL,
                   updated_at INTEGER NOT NULL, body BLOB NOT NULL, result BLOB NOT NULL);
";

/// The elements and sessions tables. Added after layout 3 was first written: a store without them
/// gets them when opened (`IF NOT EXISTS`), so layout 3 stores of older builds are still read as
/// they are. `body` is the element or session as JSON, its `account` being the store's account
/// position.
const LATER_TABLES: &str = "CREATE TABLE IF NOT EXISTS elements(element_id INTEGER PRIMARY KEY, \
                              account INTEGER NOT NULL, body TEXT NOT NULL); \
                              CREATE TABLE IF NOT EXISTS sessions(session_id INTEGER PRIMARY KEY, \
                              account INTEGER NOT NULL, body TEXT NOT NULL);";

/// A task row's fields besides its columns (postcard).
#[derive(serde::Serialize, serde::Deserialize)]
struct TaskBody {
    failure: Option<Box<str>>,
    callback_url: Option<Box<str>>,
    deleted: bool,
    due: Option<i64>,
    polls: u32,
    processing_ms: i64,
}

/// The reason `path` cannot be used, as the message that stops the server.
fn refusal(path: &Path, why: impl std::fmt::Display) -> String {
    format!(
        "state file {} cannot be used: {why}. Move it away (or delete it) to start with an empty \
         state; nothing was changed",
        path.display()
    )
}

/// Read a saved result of `kind`: postcard `bytes` (the store) or a JSON state file's value.
fn decode_result(
    kind: KindId,
    bytes: Option<&[u8]>,
    json: Option<serde_json::Value>,
) -> Result<crate::engine::TaskResult, String> {
    let result = match kind.known().map(|k| &k.mode) {
        Some(Mode::Task { result, .. }) => result,
        _ => {
            return Err(format!(
                "it holds tasks of kind '{kind}', which this build does not serve (known: {})",
                KindId::task_slugs()
            ));
        }
    };
    match (bytes, json) {
        (Some(b), _) => (result.decode)(b),
        (None, Some(serde_json::Value::Object(mut m))) if m.len() == 1 => {
            match m.remove(result.json_tag) {
                Some(v) => (result.decode_json)(v),
                None => Err(format!("a {kind} result is not tagged {}", result.json_tag)),
            }
        }
        _ => Err(format!("a {kind} result is not an object with one tag")),
    }
    .map_err(|e| format!("it is corrupt (a result of kind {kind}: {e})"))
}

/// The open store of a running server.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    ix: Index,
    /// The flush being written is the last one of a graceful stop.
    closing: bool,
}

/// What the writer keeps between flushes.
#[derive(Debug, Default)]
struct Index {
    /// Live account index → the store's account position.
    pos_of: HashMap<u32, i64>,
    next_pos: i64,
    /// Media entries in the log, and the log's next sequence number.
    logged: u64,
    next_seq: i64,
}

fn sql(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Store {
    /// Open the store at `path` for the freshly built `state`: read what it holds into the state
    /// (or migrate a JSON state file, or create an empty store), then note every change from now
    /// on. Returns the store and whether anything was restored.
    pub fn open(state: &AppState, path: &Path) -> Result<(Store, bool), String> {
        if path.is_dir() {
            return Err(refusal(path, "it is a directory; name a file in it"));
        }
        let head = match std::fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = [0u8; 16];
                let n = std::io::Read::read(&mut f, &mut buf).unwrap_or(0);
                Some(buf[..n].to_vec())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
        };
        match head {
            None => {
                let store = Store::create(state, path)?;
                Ok((store, false))
            }
            Some(h) if h.starts_with(SQLITE_MAGIC) => {
                let store = Store::load(state, path)?;
                Ok((store, true))
            }
            Some(h) if legacy::looks_like_json(&h) => {
                let store = Store::migrate(state, path)?;
                Ok((store, true))
            }
            Some(h) if h.is_empty() => Err(refusal(path, "it is empty")),
            Some(_) => Err(refusal(path, "it is not a kling-mock state file")),
        }
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, String> {
        // Each connection is used by one thread at a time: no SQLite mutex on every call.
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| format!("cannot open state file {}: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        Ok(conn)
    }

    fn writable(path: &Path) -> Result<Connection, String> {
        let conn = Store::connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(|e| format!("cannot use state file {}: {e}", path.display()))?;
        Ok(conn)
    }

    fn empty(conn: Connection, path: &Path) -> Store {
        Store {
            conn,
            path: path.to_path_buf(),
            ix: Index::default(),
            closing: false,
        }
    }

    /// A new, empty store at `path`.
    fn create(state: &AppState, path: &Path) -> Result<Store, String> {
        let conn = Store::writable(path)?;
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} {LATER_TABLES} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {LAYOUT}; COMMIT;"
        ))
        .map_err(|e| format!("cannot create state file {}: {e}", path.display()))?;
        state.track_changes();
        Ok(Store::empty(conn, path))
    }

    /// Migrate the JSON state file at `path`: read it, write a store beside it with everything
    /// it held, then put the store in its place and keep the JSON file as a backup.
    fn migrate(state: &AppState, path: &Path) -> Result<Store, String> {
        let bad = |why: String| refusal(path, why);
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read state file {}: {e}", path.display()))?;
        state.track_changes();
        let version = legacy::load(state, &bytes, &bad)?;
        drop(bytes);
        fork_after_restore(state);
        state.engine.mark_all_tasks();
        let tmp = sibling(path, ".migrating");
        remove_db(&tmp);
        let mut store = Store::create(state, &tmp)?;
        store.flush(state)?;
        drop(store);
        let backup = sibling(path, &format!(".json-v{version}.bak"));
        std::fs::rename(path, &backup)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot put the migrated state file in place: {e}"))?;
        let _ = std::fs::remove_file(sibling(&tmp, "-wal"));
        let _ = std::fs::remove_file(sibling(&tmp, "-shm"));
        tracing::info!(
            from = %path.display(),
            backup = %backup.display(),
            layout = version,
            "JSON state file migrated to the SQLite store; the JSON file is kept as the backup"
        );
        let conn = Store::writable(path)?;
        let mut store = Store::empty(conn, path);
        store.read_positions(state)?;
        Ok(store)
    }

    /// Check that `path` is a store this build reads (read-only: a refused file is untouched).
    fn check(path: &Path) -> Result<(), String> {
        let conn = Store::connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let pragma = |name: &str| -> Result<i32, String> {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .map_err(|e| refusal(path, format!("it is corrupt ({e})")))
        };
        if pragma("application_id")? != APPLICATION_ID {
            return Err(refusal(path, "it is not a kling-mock state file"));
        }
        let layout = pragma("user_version")?;
        if layout != LAYOUT {
            return Err(refusal(
                path,
                format!(
                    "it was written in layout version {layout}; this build reads layout {LAYOUT}"
                ),
            ));
        }
        // No `PRAGMA quick_check` (a tenth of a 1M-task restart): the restore reads every row,
        // and a damaged page fails that read (`it is corrupt`), before anything is served or
        // written.
        Ok(())
    }

    /// The store's accounts, made live in `s` (an account no longer configured is created
    /// without a secret key: its data stays, no token opens it); the media log's extent.
    /// Returns store position → live account index.
    fn read_positions(&mut self, s: &Shared) -> Result<HashMap<i64, u32>, String> {
        let accounts: Vec<(i64, String)> = {
            let mut st = self
                .conn
                .prepare("SELECT pos, access_key FROM accounts")
                .map_err(sql)?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?
        };
        self.ix.next_pos = accounts.iter().map(|a| a.0 + 1).max().unwrap_or(0);
        let mut live_of = HashMap::new();
        for (pos, ak) in accounts {
            let idx = s.accounts.ensure(&ak).idx;
            self.ix.pos_of.insert(idx, pos);
            live_of.insert(pos, idx);
        }
        let (entries, next): (i64, i64) = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(entries), 0), COALESCE(MAX(seq) + 1, 0) FROM media_log",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        self.ix.logged = entries as u64;
        self.ix.next_seq = next;
        Ok(live_of)
    }

    /// Read the store at `path` into the freshly built `s`. A failed read of the database is
    /// a damaged store.
    fn load(state: &AppState, path: &Path) -> Result<Store, String> {
        Store::load_rows(state, path).map_err(|e| {
            if e.contains("cannot be used:") || e.starts_with("cannot ") {
                e
            } else {
                refusal(path, format!("it is corrupt ({e})"))
            }
        })
    }

    fn load_rows(state: &AppState, path: &Path) -> Result<Store, String> {
        let t0 = std::time::Instant::now();
        Store::check(path)?;
        let t_check = t0.elapsed();
        let bad = |why: String| refusal(path, why);
        let conn = Store::writable(path)?;
        conn.execute_batch(LATER_TABLES).map_err(sql)?;
        let mut store = Store::empty(conn, path);
        let s: &Shared = state;
        let live_of = store.read_positions(s)?;
        let live_plain = |pos: i64| {
            live_of
                .get(&pos)
                .copied()
                .ok_or_else(|| format!("it names account #{pos}, which it does not list"))
        };
        let live = |pos: i64| live_plain(pos).map_err(&bad);
        let now = s.clock.now_ms();
        store.restore_clock(s).map_err(&bad)?;
        {
            let mut st = store
                .conn
                .prepare("SELECT account, settings FROM billing")
                .map_err(sql)?;
            let mut rows = st.query([]).map_err(sql)?;
            while let Some(r) = rows.next().map_err(sql)? {
                let settings: crate::engine::billing::AccountSettings =
                    serde_json::from_str(r.get_ref(1).map_err(sql)?.as_str().map_err(sql)?)
                        .map_err(|e| bad(format!("it is corrupt (account settings: {e})")))?;
                s.engine
                    .billing
                    .set(live(r.get(0).map_err(sql)?)?, settings, now)
                    .map_err(|e| bad(format!("its packs are invalid ({})", e.message)))?;
            }
            let mut st = store
                .conn
                .prepare("SELECT voice_id, account, task_id FROM custom_voices")
                .map_err(sql)?;
            let mut rows = st.query([]).map_err(sql)?;
            while let Some(r) = rows.next().map_err(sql)? {
                let voice: i64 = r.get(0).map_err(sql)?;
                let task: i64 = r.get(2).map_err(sql)?;
                s.custom_voices
                    .register(voice as u64, live(r.get(1).map_err(sql)?)?, task as u64);
            }
            let mut st = store
                .conn
                .prepare("SELECT element_id, account, body FROM elements")
                .map_err(sql)?;
            let mut rows = st.query([]).map_err(sql)?;
            while let Some(r) = rows.next().map_err(sql)? {
                let id: i64 = r.get(0).map_err(sql)?;
                let mut element: crate::elements::Element =
                    serde_json::from_str(r.get_ref(2).map_err(sql)?.as_str().map_err(sql)?)
                        .map_err(|e| bad(format!("it is corrupt (element {id}: {e})")))?;
                element.account = live(r.get(1).map_err(sql)?)?;
                s.elements.register(id as u64, element);
            }
            let mut st = store
                .conn
                .prepare("SELECT session_id, account, body FROM sessions")
                .map_err(sql)?;
            let mut rows = st.query([]).map_err(sql)?;
            while let Some(r) = rows.next().map_err(sql)? {
                let id: i64 = r.get(0).map_err(sql)?;
                let mut session: crate::sessions::Session =
                    serde_json::from_str(r.get_ref(2).map_err(sql)?.as_str().map_err(sql)?)
                        .map_err(|e| bad(format!("it is corrupt (session {id}: {e})")))?;
                session.account = live(r.get(1).map_err(sql)?)?;
                s.sessions.restore(id as u64, session);
            }
            let hint = |key: &str| -> usize {
                store
                    .conn
                    .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map_or(0, |v| v.max(0) as usize)
            };
            s.media.reserve(hint("media_files"), hint("media_items"));
            s.engine.reserve_tasks(hint("tasks"));
            // The media log and the tasks are independent: read them at once, on two
            // connections (WAL: readers do not wait for each other).
            let media_conn = Store::connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let conn = &store.conn;
            let (media, tasks) = std::thread::scope(|scope| {
                let media = scope.spawn(move || -> Result<std::time::Duration, String> {
                    let store = (&media_conn,);
                    let mut st = store
                        .0
                        .prepare("SELECT body FROM media_log ORDER BY seq")
                        .map_err(sql)?;
                    let mut rows = st.query([]).map_err(sql)?;
                    while let Some(r) = rows.next().map_err(sql)? {
                        let body = r.get_ref(0).map_err(sql)?.as_blob().map_err(sql)?;
                        let entries: Vec<MediaChange> = postcard::from_bytes(body)
                            .map_err(|e| bad(format!("it is corrupt (media log: {e})")))?;
                        for e in entries {
                            match e {
                                MediaChange::File(token, file) => {
                                    s.media.add_file(token, file);
                                }
                                MediaChange::Item(id, mut item) => {
                                    item.account = live(item.account as i64)?;
                                    s.media.add_item(id, item);
                                }
                                MediaChange::Video(token, file) => {
                                    s.media.restore_video(token, file);
                                }
                                MediaChange::VideoItem(id, mut item, facts) => {
                                    item.account = live(item.account as i64)?;
                                    s.media.add_video_item(id, item, facts);
                                }
                                MediaChange::Image(token, file) => {
                                    s.media.add_image(token, file);
                                }
                            }
                        }
                    }
                    s.media.restored();
                    Ok(t0.elapsed())
                });
                let tasks = (|| -> Result<(), String> {
                    let store = (conn,);
                    let mut st = store
                .0
                .prepare(
                    "SELECT id, account, kind, status, external_task_id, created_at, updated_at, \
                     body, result FROM tasks ORDER BY id",
                )
                .map_err(sql)?;
                    let mut rows = st.query([]).map_err(sql)?;
                    let mut kinds: HashMap<String, KindId> = HashMap::new();
                    while let Some(r) = rows.next().map_err(sql)? {
                        let rec = task_of_row(r, &mut kinds, &live_plain).map_err(|e| match e {
                            RowError::Sql(e) => bad(format!("it is corrupt ({e})")),
                            RowError::Refused(m) => bad(m),
                        })?;
                        s.engine.restore_task(rec);
                    }
                    Ok(())
                })();
                (media.join(), tasks)
            });
            let t_media = media.map_err(|_| "the media reader failed".to_string())??;
            tasks?;
            s.engine.restored();
            tracing::info!(
                tasks = s.engine.task_count(),
                media_files = s.media.file_count(),
                check_ms = t_check.as_millis() as u64,
                media_ms = (t_media - t_check).as_millis() as u64,
                total_ms = t0.elapsed().as_millis() as u64,
                "state restored"
            );
        }
        let last: Option<i64> = store
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'last_id'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        if let Some(last) = last {
            s.ids.observe(last as u64);
        }
        store.restore_stream(s).map_err(&bad)?;
        let pending = store.read_callbacks().map_err(&bad)?;
        state.track_changes();
        // Callbacks queued at the stop are sent again, in their order, with their webhook ids;
        // their rows are replaced by the new ones at the first flush.
        let next = pending.iter().map(|(seq, _)| seq + 1).max().unwrap_or(0);
        let old: Vec<u64> = pending.iter().map(|(seq, _)| *seq).collect();
        for (_, q) in pending {
            s.engine.requeue_callback(q, next);
        }
        s.engine.mark_callbacks(old);
        Ok(store)
    }

    /// The random stream: where it was if the store was closed by a graceful stop, else a
    /// stream of its own (see [`fork_after_restore`]).
    fn restore_stream(&self, s: &Shared) -> Result<(), String> {
        let get = |key: &str| -> Result<Option<rusqlite::types::Value>, String> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(sql)
        };
        use rusqlite::types::Value as V;
        let clean = matches!(get("clean_stop")?, Some(V::Integer(1)));
        match (clean, get("entropy_words")?, get("entropy_fork")?) {
            (true, Some(V::Integer(words)), fork) => {
                let forked = match fork {
                    Some(V::Blob(b)) => Some(
                        <[u8; 32]>::try_from(b.as_slice())
                            .map_err(|_| "it is corrupt (entropy_fork)".to_string())?,
                    ),
                    _ => None,
                };
                s.entropy.resume(crate::ids::Position {
                    forked,
                    words: words.max(0) as u64,
                });
            }
            _ => fork_after_restore(s),
        }
        Ok(())
    }

    /// The callbacks the store holds as still queued, in their order.
    fn read_callbacks(&self) -> Result<Vec<(u64, crate::engine::Queued)>, String> {
        let mut st = self
            .conn
            .prepare(
                "SELECT seq, task_id, url, status, webhook_id, body FROM callbacks ORDER BY seq",
            )
            .map_err(sql)?;
        let mut rows = st.query([]).map_err(sql)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql)? {
            let seq: i64 = r.get(0).map_err(sql)?;
            let task_id: i64 = r.get(1).map_err(sql)?;
            let url: String = r.get(2).map_err(sql)?;
            let status = status_of(r.get_ref(3).map_err(sql)?.as_str().map_err(sql)?)
                .ok_or_else(|| format!("it is corrupt (callback {seq}: its status)"))?;
            let webhook_id: String = r.get(4).map_err(sql)?;
            let body: Vec<u8> = r.get(5).map_err(sql)?;
            out.push((
                seq as u64,
                crate::engine::Queued {
                    d: crate::engine::Delivery {
                        task_id: task_id as u64,
                        url: url.into(),
                        status,
                        body: body.into(),
                    },
                    webhook_id,
                },
            ));
        }
        Ok(out)
    }

    /// The saved clock, if any: a frozen clock stays frozen at its time, a running one keeps its
    /// offset from wall time.
    fn restore_clock(&self, s: &Shared) -> Result<(), String> {
        let get = |key: &str| -> Result<Option<i64>, String> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(sql)
        };
        if let Some(at) = get("clock_frozen_at")? {
            s.clock.freeze();
            s.clock.set(at);
        } else if let Some(offset) = get("clock_offset")? {
            s.clock.resume();
            s.clock
                .set(crate::clock::Clock::wall_ms().saturating_add(offset));
        }
        Ok(())
    }

    /// Write every change noted since the last flush, in one transaction. On failure the notes
    /// are put back, to be written at the next flush.
    pub fn flush(&mut self, s: &Shared) -> Result<FlushStats, String> {
        let c = Changes {
            tasks: s.engine.changed_tasks(),
            voices: s.custom_voices.dirty.take(),
            elements: s.elements.dirty.take(),
            sessions: s.sessions.dirty.take(),
            billing: s.engine.billing.dirty.take(),
            media: s.media.added.take(),
            rewrite: s
                .media
                .rewritten
                .swap(false, std::sync::atomic::Ordering::Relaxed),
            callbacks: s.engine.changed_callbacks(),
        };
        match self.write(s, &c) {
            Ok(stats) => Ok(stats),
            Err(e) => {
                s.engine.billing.dirty.mark_all(c.billing);
                s.custom_voices.dirty.mark_all(c.voices);
                s.elements.dirty.mark_all(c.elements);
                s.sessions.dirty.mark_all(c.sessions);
                s.media.added.mark_all(c.media);
                if c.rewrite {
                    s.media
                        .rewritten
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                s.engine.mark_tasks(c.tasks);
                s.engine.mark_callbacks(c.callbacks);
                Err(format!("state not written to {}: {e}", self.path.display()))
            }
        }
    }

    /// The last flush of a graceful stop.
    pub fn close(&mut self, s: &Shared) -> Result<FlushStats, String> {
        self.closing = true;
        self.flush(s)
    }

    fn write(&mut self, s: &Shared, c: &Changes) -> Result<FlushStats, String> {
        let Changes {
            tasks,
            voices,
            elements,
            sessions,
            billing,
            media,
            rewrite,
            callbacks,
        } = c;
        let rewrite = *rewrite;
        let mut stats = FlushStats::default();
        let ix = &mut self.ix;
        let result = (|| -> Result<(), String> {
            let tx = self.conn.transaction().map_err(sql)?;
            for &a in sorted_unique(billing).iter() {
                let pos = ix.pos(&tx, s, a)?;
                match s.engine.billing.saved(a) {
                    Some(settings) => {
                        let text = serde_json::to_string(&settings).map_err(|e| e.to_string())?;
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO billing(account, settings) VALUES (?1, ?2)",
                        )
                        .map_err(sql)?
                        .execute(params![pos, text])
                        .map_err(sql)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM billing WHERE account = ?1")
                            .map_err(sql)?
                            .execute([pos])
                            .map_err(sql)?;
                    }
                }
            }
            for &v in sorted_unique(voices).iter() {
                match s.custom_voices.entry(v) {
                    Some((account, task)) => {
                        let pos = ix.pos(&tx, s, account)?;
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO custom_voices(voice_id, account, task_id) \
                             VALUES (?1, ?2, ?3)",
                        )
                        .map_err(sql)?
                        .execute(params![v as i64, pos, task as i64])
                        .map_err(sql)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM custom_voices WHERE voice_id = ?1")
                            .map_err(sql)?
                            .execute([v as i64])
                            .map_err(sql)?;
                    }
                }
            }
            for &id in sorted_unique(elements).iter() {
                match s.elements.entry(id) {
                    Some(mut e) => {
                        let pos = ix.pos(&tx, s, e.account)?;
                        e.account = pos as u32;
                        let body = serde_json::to_string(&e).map_err(|e| e.to_string())?;
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO elements(element_id, account, body) \
                             VALUES (?1, ?2, ?3)",
                        )
                        .map_err(sql)?
                        .execute(params![id as i64, pos, body])
                        .map_err(sql)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM elements WHERE element_id = ?1")
                            .map_err(sql)?
                            .execute([id as i64])
                            .map_err(sql)?;
                    }
                }
            }
            for &id in sorted_unique(sessions).iter() {
                match s.sessions.entry(id) {
                    Some(mut e) => {
                        let pos = ix.pos(&tx, s, e.account)?;
                        e.account = pos as u32;
                        let body = serde_json::to_string(&e).map_err(|e| e.to_string())?;
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO sessions(session_id, account, body) \
                             VALUES (?1, ?2, ?3)",
                        )
                        .map_err(sql)?
                        .execute(params![id as i64, pos, body])
                        .map_err(sql)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM sessions WHERE session_id = ?1")
                            .map_err(sql)?
                            .execute([id as i64])
                            .map_err(sql)?;
                    }
                }
            }
            let live_media = s.media.file_count()
                + s.media.video_count()
                + s.media.image_count()
                + s.media.item_count();
            if rewrite || ix.logged > 2 * live_media as u64 + 100_000 {
                ix.rewrite_media(&tx, s)?;
                stats.media_rewritten = true;
            } else if !media.is_empty() {
                let mut entries = Vec::with_capacity(media.len());
                for m in media {
                    entries.push(match *m {
                        MediaChange::Item(id, mut item) => {
                            item.account = ix.pos(&tx, s, item.account)? as u32;
                            MediaChange::Item(id, item)
                        }
                        MediaChange::VideoItem(id, mut item, facts) => {
                            item.account = ix.pos(&tx, s, item.account)? as u32;
                            MediaChange::VideoItem(id, item, facts)
                        }
                        f => f,
                    });
                }
                ix.append_media(&tx, &entries)?;
            }
            stats.media = media.len();
            let ids = sorted_unique(tasks);
            for &id in ids.iter() {
                match s.engine.task_record(id) {
                    Some(rec) => {
                        let pos = ix.pos(&tx, s, rec.account)?;
                        let body = postcard::to_stdvec(&TaskBody {
                            failure: rec.failure.clone(),
                            callback_url: rec.callback_url.clone(),
                            deleted: rec.deleted,
                            due: rec.due,
                            polls: rec.polls,
                            processing_ms: rec.processing_ms,
                        })
                        .map_err(|e| e.to_string())?;
                        let result =
                            postcard::to_stdvec(rec.result.saved()).map_err(|e| e.to_string())?;
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO tasks(id, account, kind, status, \
                             external_task_id, created_at, updated_at, body, result) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )
                        .map_err(sql)?
                        .execute(params![
                            rec.id as i64,
                            pos,
                            rec.kind.slug(),
                            rec.status.as_str(),
                            rec.external_id.as_deref(),
                            rec.created_at,
                            rec.updated_at,
                            body,
                            result
                        ])
                        .map_err(sql)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM tasks WHERE id = ?1")
                            .map_err(sql)?
                            .execute([id as i64])
                            .map_err(sql)?;
                    }
                }
            }
            stats.tasks = ids.len();
            for &seq in sorted_unique(callbacks).iter() {
                match s.engine.queued_callback(seq) {
                    Some(q) => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO callbacks(seq, task_id, url, status, \
                             webhook_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )
                        .map_err(sql)?
                        .execute(params![
                            seq as i64,
                            q.d.task_id as i64,
                            &*q.d.url,
                            q.d.status.as_str(),
                            q.webhook_id,
                            &q.d.body[..]
                        ])
                        .map_err(sql)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM callbacks WHERE seq = ?1")
                            .map_err(sql)?
                            .execute([seq as i64])
                            .map_err(sql)?;
                    }
                }
            }
            let meta = |k: &str, v: i64| -> Result<(), String> {
                tx.prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
                    .map_err(sql)?
                    .execute(params![k, v])
                    .map_err(sql)?;
                Ok(())
            };
            meta("last_id", s.ids.last() as i64)?;
            // The random stream's position, and whether this is a graceful stop's last write:
            // only then does a restart go on from that position (after a crash, draws made in
            // the lost window may already be in a client's hands).
            let at = s.entropy.position();
            meta("entropy_words", at.words as i64)?;
            match at.forked {
                Some(f) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
                        .map_err(sql)?
                        .execute(params!["entropy_fork", &f[..]])
                        .map_err(sql)?;
                }
                None => {
                    tx.execute("DELETE FROM meta WHERE key = 'entropy_fork'", [])
                        .map_err(sql)?;
                }
            }
            meta("clean_stop", i64::from(self.closing))?;
            // Sizes of the live tables: a restore reserves them at once.
            meta("tasks", s.engine.task_count() as i64)?;
            meta("media_files", s.media.file_count() as i64)?;
            meta("media_items", s.media.item_count() as i64)?;
            meta("saved_at_ms", s.clock.now_ms())?;
            match s.clock.mode() {
                crate::clock::Mode::Frozen { at_ms } => {
                    meta("clock_frozen_at", at_ms)?;
                    tx.execute("DELETE FROM meta WHERE key = 'clock_offset'", [])
                        .map_err(sql)?;
                }
                crate::clock::Mode::Real { offset_ms } => {
                    meta("clock_offset", offset_ms)?;
                    tx.execute("DELETE FROM meta WHERE key = 'clock_frozen_at'", [])
                        .map_err(sql)?;
                }
            }
            tx.commit().map_err(sql)?;
            Ok(())
        })();
        result.map(|()| stats)
    }
}

impl Index {
    /// The store's position of live account `idx` (a new account gets its row).
    fn pos(&mut self, tx: &rusqlite::Transaction<'_>, s: &Shared, idx: u32) -> Result<i64, String> {
        if let Some(p) = self.pos_of.get(&idx) {
            return Ok(*p);
        }
        let ak = s
            .accounts
            .list()
            .into_iter()
            .find(|a| a.idx == idx)
            .map(|a| a.access_key.to_string())
            .unwrap_or_else(|| format!("#account-{idx}"));
        let pos = match tx
            .query_row(
                "SELECT pos FROM accounts WHERE access_key = ?1",
                [&ak],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?
        {
            Some(p) => p,
            None => {
                let p = self.next_pos;
                self.next_pos += 1;
                tx.execute(
                    "INSERT INTO accounts(pos, access_key) VALUES (?1, ?2)",
                    params![p, ak],
                )
                .map_err(sql)?;
                p
            }
        };
        self.pos_of.insert(idx, pos);
        Ok(pos)
    }

    fn append_media(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        entries: &[MediaChange],
    ) -> Result<(), String> {
        let body = postcard::to_stdvec(entries).map_err(|e| e.to_string())?;
        tx.prepare_cached("INSERT INTO media_log(seq, entries, body) VALUES (?1, ?2, ?3)")
            .map_err(sql)?
            .execute(params![self.next_seq, entries.len() as i64, body])
            .map_err(sql)?;
        self.next_seq += 1;
        self.logged += entries.len() as u64;
        Ok(())
    }

    /// Replace the media log by the live media (after a reset, or when the log holds twice the
    /// live entries): the log never grows past a bound of the live set.
    fn rewrite_media(&mut self, tx: &rusqlite::Transaction<'_>, s: &Shared) -> Result<(), String> {
        tx.execute("DELETE FROM media_log", []).map_err(sql)?;
        self.logged = 0;
        let mut files: Vec<(Token, MediaFile)> = s
            .media
            .files()
            .into_iter()
            .filter(|(t, f)| f.born.is_some() && !s.voices.is_preset_file(t))
            .collect();
        files.sort_by_key(|(_, f)| f.born);
        for chunk in files.chunks(MEDIA_CHUNK) {
            let entries: Vec<MediaChange> = chunk
                .iter()
                .map(|(t, f)| MediaChange::File(*t, *f))
                .collect();
            self.append_media(tx, &entries)?;
        }
        drop(files);
        let mut videos: Vec<(Token, VideoFile)> = s
            .media
            .videos()
            .into_iter()
            .filter(|(_, f)| f.born.is_some())
            .collect();
        videos.sort_by_key(|(_, f)| f.born);
        for chunk in videos.chunks(MEDIA_CHUNK) {
            let entries: Vec<MediaChange> = chunk
                .iter()
                .map(|(t, f)| MediaChange::Video(*t, *f))
                .collect();
            self.append_media(tx, &entries)?;
        }
        drop(videos);
        let mut images: Vec<(Token, ImageFile)> = s
            .media
            .images()
            .into_iter()
            .filter(|(_, f)| f.born.is_some())
            .collect();
        images.sort_by_key(|(_, f)| f.born);
        for chunk in images.chunks(MEDIA_CHUNK) {
            let entries: Vec<MediaChange> = chunk
                .iter()
                .map(|(t, f)| MediaChange::Image(*t, *f))
                .collect();
            self.append_media(tx, &entries)?;
        }
        drop(images);
        let facts: HashMap<u64, VideoFacts> = s.media.video_facts().into_iter().collect();
        let mut items: Vec<(u64, MediaItem)> = s.media.items();
        items.sort_by_key(|(_, i)| i.created_at);
        for chunk in items.chunks(MEDIA_CHUNK) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (id, item) in chunk {
                let mut item = *item;
                item.account = self.pos(tx, s, item.account)? as u32;
                entries.push(match facts.get(id) {
                    Some(f) => MediaChange::VideoItem(*id, item, *f),
                    None => MediaChange::Item(*id, item),
                });
            }
            self.append_media(tx, &entries)?;
        }
        Ok(())
    }
}

/// What changed since the last flush, as the parts of the state noted it.
struct Changes {
    tasks: Vec<u64>,
    voices: Vec<u64>,
    elements: Vec<u64>,
    sessions: Vec<u64>,
    billing: Vec<u32>,
    media: Vec<MediaChange>,
    rewrite: bool,
    callbacks: Vec<u64>,
}

/// What one flush wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlushStats {
    /// Task rows written or deleted.
    pub tasks: usize,
    /// Media entries logged.
    pub media: usize,
    /// Whether the media log was rewritten.
    pub media_rewritten: bool,
}

fn status_of(s: &str) -> Option<Status> {
    [
        Status::Submitted,
        Status::Processing,
        Status::Succeed,
        Status::Failed,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
}

fn sorted_unique<T: Ord + Copy>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

enum RowError {
    Sql(String),
    Refused(String),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Sql(e.to_string())
    }
}

impl From<rusqlite::types::FromSqlError> for RowError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        RowError::Sql(e.to_string())
    }
}

/// A task row as the record it was.
fn task_of_row(
    r: &rusqlite::Row<'_>,
    kinds: &mut HashMap<String, KindId>,
    live: &dyn Fn(i64) -> Result<u32, String>,
) -> Result<TaskRecord, RowError> {
    let id: i64 = r.get(0)?;
    let kind_name = r.get_ref(2)?.as_str()?;
    let kind = match kinds.get(kind_name) {
        Some(k) => *k,
        None => {
            let k: KindId = serde_json::from_value(serde_json::Value::String(kind_name.into()))
                .map_err(|e| RowError::Refused(e.to_string()))?;
            kinds.insert(kind_name.to_string(), k);
            k
        }
    };
    let text = r.get_ref(3)?.as_str()?;
    let status =
        status_of(text).ok_or_else(|| RowError::Sql(format!("task {id}: status '{text}'")))?;
    let body: TaskBody = postcard::from_bytes(r.get_ref(7)?.as_blob()?)
        .map_err(|e| RowError::Sql(format!("task {id}: {e}")))?;
    let result =
        decode_result(kind, Some(r.get_ref(8)?.as_blob()?), None).map_err(RowError::Refused)?;
    Ok(TaskRecord {
        id: id as u64,
        account: live(r.get(1)?).map_err(RowError::Refused)?,
        kind,
        external_id: r.get_ref(4)?.as_str_or_null()?.map(Box::from),
        status,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        result,
        failure: body.failure,
        callback_url: body.callback_url,
        deleted: body.deleted,
        due: body.due,
        polls: body.polls,
        processing_ms: body.processing_ms,
    })
}

/// The writer thread of a running server: a flush every window, and a last one at a graceful
/// stop.
pub struct Saver {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Saver {
    /// Start writing `store` every `window`.
    pub fn start(state: &AppState, mut store: Store, window: Duration) -> Saver {
        let (stop, rx) = mpsc::channel::<()>();
        let st = state.clone();
        let window = window.max(Duration::from_millis(1));
        let thread = std::thread::Builder::new()
            .name("kling-mock-store".into())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        rx.recv_timeout(window),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    let t0 = std::time::Instant::now();
                    let done = if last {
                        store.close(&st)
                    } else {
                        store.flush(&st)
                    };
                    match done {
                        Err(e) => tracing::error!(error = %e, "state not saved"),
                        Ok(_) if last => tracing::info!("state saved"),
                        Ok(stats) if t0.elapsed() > window => tracing::warn!(
                            ms = t0.elapsed().as_millis() as u64,
                            tasks = stats.tasks,
                            media = stats.media,
                            "a state flush took longer than its window: a crash may lose more"
                        ),
                        Ok(_) => {}
                    }
                    if last {
                        return;
                    }
                }
            })
            .expect("spawn the state writer thread");
        Saver { stop, thread }
    }

    /// Write the last window and stop.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        if tokio::task::spawn_blocking(move || thread.join())
            .await
            .is_err()
        {
            tracing::error!("state writer failed at shutdown");
        }
    }
}
/// After a restore that cannot go on from the stream's saved position (a crash, or a JSON state
/// file): a stream of its own, still deterministic for one seed, state and start time. Going on
/// from the seeded start, or from a position older than the last draws, would hand out again the
/// media tokens of files from before the restart, so a new file of one tenant would take over
/// another tenant's URL.
fn fork_after_restore(s: &Shared) {
    let salt = [s.ids.last().to_le_bytes(), s.clock.now_ms().to_le_bytes()];
    s.entropy.fork(&salt.concat());
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Remove a database file and its WAL companions, if they exist.
fn remove_db(path: &Path) {
    for p in [
        path.to_path_buf(),
        sibling(path, "-wal"),
        sibling(path, "-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}

//! `--state-file`: tasks, voices, accounts, packs and media survive a restart.
//!
//! The whole state is one JSON document, written atomically (a temporary file beside it, synced,
//! then renamed over it), every `--state-interval` when something changed and once more at a
//! graceful shutdown (after in-flight requests finished), so nothing acknowledged is lost on
//! SIGTERM and at most one interval is lost on a crash. A file that does not parse, or was written
//! by an incompatible version, stops the server with a clear error: never a silent reset.
//!
//! Media files are synthesised on demand from their registry entries, so restoring the registry
//! keeps every result URL servable. The clock, the control-plane rules and the journal are not
//! saved: the configuration gives them.

use crate::engine::billing::AccountSettings;
use crate::engine::store::TaskRecord;
use crate::media::{MediaFile, MediaItem, Token};
use crate::state::Shared;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `format` field of every state file.
pub const FORMAT: &str = "kling-mock-state";
/// The layout version this build writes. It also reads version 1, whose tasks named their kind
/// by its Rust name (`V1_KIND_NAMES`) instead of its slug.
pub const VERSION: u32 = 2;

/// Version 1's kind names, and the slugs they stand for (a frozen table: kinds added since have
/// only ever been saved by slug).
const V1_KIND_NAMES: [(&str, &str); 2] = [
    ("CustomVoice", "custom-voice"),
    ("TextToAudio", "text-to-audio"),
];

/// The saved state. Account fields hold positions in `accounts`, not live indexes.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    saved_at_ms: i64,
    last_id: u64,
    accounts: Vec<String>,
    tasks: Vec<TaskRecord>,
    custom_voices: Vec<(u64, u32, u64)>,
    media_files: Vec<(Token, MediaFile)>,
    media_items: Vec<(u64, MediaItem)>,
    billing: Vec<(u32, AccountSettings)>,
}

/// The serialized state of `s` now.
pub fn snapshot(s: &Shared) -> Result<Vec<u8>, String> {
    let accounts = s.accounts.list();
    // Live indexes are dense and ordered, but map explicitly so the file never depends on it.
    let pos: HashMap<u32, u32> = accounts
        .iter()
        .enumerate()
        .map(|(p, a)| (a.idx, p as u32))
        .collect();
    let at = |idx: u32| pos.get(&idx).copied().unwrap_or(idx);
    let preset = |t: &Token| s.voices.is_preset_file(t);
    let snap = Snapshot {
        format: FORMAT.into(),
        version: VERSION,
        saved_at_ms: s.clock.now_ms(),
        last_id: s.ids.last(),
        accounts: accounts.iter().map(|a| a.access_key.to_string()).collect(),
        tasks: s
            .engine
            .saved_tasks()
            .into_iter()
            .map(|mut r| {
                r.account = at(r.account);
                r
            })
            .collect(),
        custom_voices: s
            .custom_voices
            .entries()
            .into_iter()
            .map(|(v, a, t)| (v, at(a), t))
            .collect(),
        media_files: s
            .media
            .files()
            .into_iter()
            .filter(|(t, _)| !preset(t))
            .collect(),
        media_items: s
            .media
            .items()
            .into_iter()
            .map(|(id, mut i)| {
                i.account = at(i.account);
                (id, i)
            })
            .collect(),
        billing: s
            .engine
            .billing
            .all_settings()
            .into_iter()
            .map(|(a, st)| (at(a), st))
            .collect(),
    };
    serde_json::to_vec(&snap).map_err(|e| format!("cannot serialize the state: {e}"))
}

/// Write `bytes` to `path` atomically.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp: PathBuf = {
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".tmp");
        path.with_file_name(name)
    };
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Save the state of `s` to `path`.
pub fn save(s: &Shared, path: &Path) -> Result<(), String> {
    let bytes = snapshot(s)?;
    write_atomically(path, &bytes)
        .map_err(|e| format!("cannot write state file {}: {e}", path.display()))
}

/// Load `path` into the freshly built `s`. `Ok(false)`: no file yet (a first start).
pub fn load(s: &Shared, path: &Path) -> Result<bool, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
    };
    let bad = |why: String| {
        format!(
            "state file {} cannot be used: {why}. Move it away (or delete it) to start with an empty state; nothing was changed",
            path.display()
        )
    };
    let head: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("it is not valid JSON ({e})")))?;
    if head.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad("it is not a kling-mock state file".into()));
    }
    let version = head.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != VERSION as u64 && version != 1 {
        return Err(bad(format!(
            "it was written in layout version {version}; this build reads versions 1 to {VERSION}"
        )));
    }
    let snap: Snapshot =
        serde_json::from_value(head).map_err(|e| bad(format!("it is corrupt ({e})")))?;
    let live: Vec<u32> = snap
        .accounts
        .iter()
        .map(|ak| s.accounts.ensure(ak).idx)
        .collect();
    let idx = |pos: u32| {
        live.get(pos as usize)
            .copied()
            .ok_or_else(|| bad(format!("it names account #{pos}, which it does not list")))
    };
    let mut tasks = Vec::with_capacity(snap.tasks.len());
    for mut r in snap.tasks {
        r.account = idx(r.account)?;
        if version == 1
            && let Some((_, slug)) = V1_KIND_NAMES.iter().find(|(n, _)| *n == r.kind.slug())
        {
            r.kind = crate::kinds::KindId::new(slug);
        }
        if !r.kind.known().is_some_and(|k| k.is_task()) {
            return Err(bad(format!(
                "it holds tasks of kind '{}', which this build does not serve (known: {})",
                r.kind,
                crate::kinds::KindId::task_slugs()
            )));
        }
        tasks.push(r);
    }
    for (pos, settings) in snap.billing {
        s.engine
            .billing
            .set(idx(pos)?, settings, s.clock.now_ms())
            .map_err(|e| bad(format!("its packs are invalid ({})", e.message)))?;
    }
    for (voice, pos, task) in snap.custom_voices {
        s.custom_voices.register(voice, idx(pos)?, task);
    }
    for (token, file) in snap.media_files {
        s.media.add_file(token, file);
    }
    for (id, mut item) in snap.media_items {
        item.account = idx(item.account)?;
        s.media.add_item(id, item);
    }
    s.media.restored();
    s.ids.observe(snap.last_id);
    s.engine.restore_tasks(tasks);
    Ok(true)
}

/// The periodic saver of a running server.
pub struct Saver {
    task: tokio::task::JoinHandle<()>,
    state: crate::state::AppState,
    path: PathBuf,
}

impl Saver {
    /// Start saving every `--state-interval` (when the state changed), if `--state-file` is set.
    pub fn start(state: &crate::state::AppState) -> Option<Saver> {
        let path = state.config.state_file.clone()?;
        let interval = state
            .config
            .state_interval
            .max(std::time::Duration::from_millis(10));
        let (st, p) = (state.clone(), path.clone());
        let task = tokio::spawn(async move {
            let mut last: Option<u64> = None;
            loop {
                tokio::time::sleep(interval).await;
                let (st2, p2) = (st.clone(), p.clone());
                // Serializing and writing are blocking work: off the async workers.
                let done =
                    tokio::task::spawn_blocking(move || save_if_changed(&st2, &p2, last)).await;
                match done {
                    Ok(Ok(h)) => last = Some(h),
                    Ok(Err(e)) => tracing::error!(error = %e, "state not saved"),
                    Err(e) => tracing::error!(error = %e, "state saver failed"),
                }
            }
        });
        Some(Saver {
            task,
            state: state.clone(),
            path,
        })
    }

    /// Stop the periodic saves and save once more.
    pub async fn finish(self) {
        self.task.abort();
        let (st, p) = (self.state, self.path);
        match tokio::task::spawn_blocking(move || save(&st, &p)).await {
            Ok(Ok(())) => tracing::info!("state saved"),
            Ok(Err(e)) => tracing::error!(error = %e, "state not saved at shutdown"),
            Err(e) => tracing::error!(error = %e, "state saver failed at shutdown"),
        }
    }
}

/// Save unless the serialized state hashes to `last`; returns the hash written (or kept).
fn save_if_changed(s: &Shared, path: &Path, last: Option<u64>) -> Result<u64, String> {
    use std::hash::{Hash, Hasher};
    let bytes = snapshot(s)?;
    // `saved_at_ms` changes with the clock; hash the rest so an idle mock does not rewrite.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let stamp = bytes.windows(14).position(|w| w == b"\"saved_at_ms\":");
    match stamp {
        Some(i) => {
            bytes[..i].hash(&mut h);
            let end = bytes[i..]
                .iter()
                .position(|b| *b == b',')
                .map_or(bytes.len(), |j| i + j);
            bytes[end..].hash(&mut h);
        }
        None => bytes.hash(&mut h),
    }
    let hash = h.finish();
    if last == Some(hash) {
        return Ok(hash);
    }
    write_atomically(path, &bytes)
        .map_err(|e| format!("cannot write state file {}: {e}", path.display()))?;
    Ok(hash)
}

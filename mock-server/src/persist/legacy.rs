//! The JSON state files of earlier builds (layouts 1 and 2: the whole state as one JSON
//! document), read once to migrate them into the store. Layout 1 named kinds by their Rust names
//! (`TextToAudio`); layout 2 by their slugs. A task's result is the value under its kind's tag
//! (`{"Audios": [...]}`), read back by the kind's [`ResultType`](crate::kinds::ResultType).

use crate::engine::billing::AccountSettings;
use crate::engine::store::TaskRecord;
use crate::engine::{KindId, Status};
use crate::media::{MediaFile, MediaItem, Token};
use crate::state::Shared;
use serde::Deserialize;
use serde_json::Value;

/// The `format` field of every JSON state file.
pub const FORMAT: &str = "kling-mock-state";

/// Layout 1's kind names, and the slugs they stand for (a frozen table: kinds added since have
/// only ever been saved by slug).
const V1_KIND_NAMES: [(&str, &str); 2] = [
    ("CustomVoice", "custom-voice"),
    ("TextToAudio", "text-to-audio"),
];

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    last_id: u64,
    accounts: Vec<String>,
    tasks: Vec<SavedTask>,
    custom_voices: Vec<(u64, u32, u64)>,
    media_files: Vec<(Token, MediaFile)>,
    media_items: Vec<(u64, MediaItem)>,
    billing: Vec<(u32, AccountSettings)>,
}

#[derive(Deserialize)]
struct SavedTask {
    id: u64,
    account: u32,
    kind: KindId,
    external_id: Option<Box<str>>,
    status: Status,
    created_at: i64,
    updated_at: i64,
    result: Value,
    failure: Option<Box<str>>,
    callback_url: Option<Box<str>>,
    deleted: bool,
    due: Option<i64>,
    polls: u32,
    processing_ms: i64,
}

/// Whether `bytes` look like a JSON state file (its first non-blank byte is `{`).
pub fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Read a JSON state file into the freshly built `s`. `bad` turns a reason into the error that
/// stops the server. Returns the layout version read.
pub fn load(s: &Shared, bytes: &[u8], bad: &dyn Fn(String) -> String) -> Result<u32, String> {
    let head: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("it is not valid JSON ({e})")))?;
    if head.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad("it is not a kling-mock state file".into()));
    }
    let version = head.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if !(1..=2).contains(&version) {
        return Err(bad(format!(
            "it was written in layout version {version}; this build reads JSON layouts 1 and 2 \
             and its own store (layout {})",
            super::LAYOUT
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
    for t in snap.tasks {
        let mut kind = t.kind;
        if snap.version == 1
            && let Some((_, slug)) = V1_KIND_NAMES.iter().find(|(n, _)| *n == kind.slug())
        {
            kind = KindId::new(slug);
        }
        let result = super::decode_result(kind, None, Some(t.result)).map_err(&bad)?;
        tasks.push(TaskRecord {
            id: t.id,
            account: idx(t.account)?,
            kind,
            external_id: t.external_id,
            status: t.status,
            created_at: t.created_at,
            updated_at: t.updated_at,
            result,
            failure: t.failure,
            callback_url: t.callback_url,
            deleted: t.deleted,
            due: t.due,
            polls: t.polls,
            processing_ms: t.processing_ms,
        });
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
    for t in tasks {
        s.engine.restore_task(t);
    }
    s.engine.restored();
    Ok(snap.version)
}

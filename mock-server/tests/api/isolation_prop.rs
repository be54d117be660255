//! Tenant isolation as a property (issue 7.3): no sequence of calls by one account reveals
//! anything of another account, or changes anything the other account sees.
//!
//! The task families come from the contract oracle (`fixtures/contract/endpoints.json`, which
//! the hostile-input suite reads too), in its order: each family's create, single and list
//! queries and its example create body ([`FAMILIES`]), so a new family is probed with no table
//! here. The custom-voice family (the one whose voices are deleted by `voice_id`) also has its
//! own create ([`Op::CreateVoice`]) for the other kinds of sample.
//!
//! A case is a fixed prelude (each account creates one task of every family from its example
//! body, then a settle: clock +10 s and each account lists every family, so it knows its
//! finished voices, audios and files), then two random interleaved sequences of calls by
//! accounts A and B ([`Op`]), each followed by a settle, and at the end each account reads every
//! one of its tasks by id. The case runs in
//! lockstep on three servers with the same seed, configuration and frozen clock: `both` runs
//! every call, `alone[A]` only A's, `alone[B]` only B's; clock moves run on all three. The
//! oracles:
//!
//! * **differential**: every answer an account gets on `both` equals the answer it gets to the
//!   same call on its `alone` server, once the values that legitimately depend on the other
//!   account's activity are renamed by order of first appearance: 18-digit ids (one increasing
//!   counter serves every account) and UUIDs (request ids and media tokens, drawn from one seeded
//!   stream). Timestamps, statuses, messages, paging and audio lengths are compared as they are.
//!   So nothing the other account does can be told apart from it doing nothing, and the other
//!   account's probes (its ids, their neighbours, its voices and videos, shared external ids) are
//!   answered exactly as ids that name nothing.
//! * **secrets**: no answer to one account holds an id or token the other account was given,
//!   unless the asking account's own requests carried it (an error message echoing a probe).
//! * **guessed media**: a file URL an account was never given (the other's token with one byte
//!   changed, or a draw of the seeded stream, which a tenant who knows `--seed` can replay) is 404.
//! * **model**: a list page holds exactly as many tasks as the account's own successful creates
//!   and deletes predict, all of them its own; deleting the other account's voice is refused and
//!   the voice stays listed for its owner.
//!
//! Each account has a small pack and a concurrency limit of 3, so 1102 and 1303 refusals happen
//! and must not cross accounts either; half the cases use `polls:2` lifecycles, where only the
//! owner's single queries may move a task (the final reads show whether the other's probes
//! counted). 32 cases of 0-15 + 0-15 calls by default (`KLING_MOCK_ISOLATION_CASES=N` for more);
//! a failure shrinks to the shortest sequences that still fail, printed as `Op` lists.

use crate::helpers::*;
use kling_mock::Config;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use regex::Regex;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

/// The seed of every server (a tenant may know it: it sits in the team's config file).
const SEED: u64 = 42;
/// The frozen clock's start, the same on every server, so timestamps compare as they are.
const START_MS: i64 = 1_790_000_000_000;
/// Base of media URLs in answers (the same on every server; fetches go to the real address).
const PUBLIC_URL: &str = "http://mock.test";
/// An 18-digit id no one has: ids start at 8 × 10^17.
const UNKNOWN_ID: &str = "799999999999999999";
/// How many draws of the seeded stream the media guesses try.
const DRAWS: usize = 64;

/// The first draws of the servers' seeded random stream, as a tenant who knows the seed
/// computes them.
static SEEDED_DRAWS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let stream = kling_mock::ids::Entropy::new(SEED);
    (0..DRAWS).map(|_| stream.uuid().to_string()).collect()
});

/// 18-digit ids and lowercase UUIDs: what differs between servers for reasons other than
/// isolation (one id counter and one random stream serve every account).
static RENAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9]{18}\b")
        .unwrap()
});

/// An account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    A,
    B,
}

impl Who {
    fn i(self) -> usize {
        self as usize
    }
    fn other(self) -> Who {
        match self {
            Who::A => Who::B,
            Who::B => Who::A,
        }
    }
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Who::A => (AK, SK),
            Who::B => (AK2, SK2),
        }
    }
}

/// Whose data a key points at, seen from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Whose {
    Own,
    Other,
}

/// The contract oracle: the task families the property covers come from it.
const ORACLE: &str = include_str!("../../../fixtures/contract/endpoints.json");

/// A task family of the oracle: a create, single and list queries.
pub(crate) struct Fam {
    /// Its name in the oracle.
    pub(crate) name: String,
    /// `POST` creates a task.
    pub(crate) create: String,
    /// `GET` lists the caller's tasks (and finds one by `?external_task_id=`).
    pub(crate) list: String,
    /// `GET` reads one task: the single-query path, with `{id}`.
    pub(crate) query: String,
    /// A valid create body.
    pub(crate) example: Value,
    /// Its kind's slug in the registry (for `/__mock/lifecycle/{slug}`).
    pub(crate) lifecycle: &'static str,
    /// The path that deletes what its tasks make, and the body field naming it.
    delete: Option<(String, String)>,
}

/// The oracle's families, in its order (also read by the restart property).
pub(crate) static FAMILIES: LazyLock<Vec<Fam>> = LazyLock::new(|| {
    let oracle: Value = serde_json::from_str(ORACLE).expect("endpoints.json");
    let endpoint = |family: &str, name: &Value, method: &str| {
        let name = name
            .as_str()
            .unwrap_or_else(|| panic!("family {family}: an endpoint name, not {name}"));
        let e = &oracle["endpoints"][name];
        assert_eq!(e["method"], method, "endpoint {name} of family {family}");
        e["path"]
            .as_str()
            .unwrap_or_else(|| panic!("endpoint {name}: no path"))
            .to_string()
    };
    let families: Vec<Fam> = family_names()
        .into_iter()
        .map(|name| {
            let f = &oracle["families"][&name];
            let create = endpoint(&name, &f["create"], "POST");
            let query = endpoint(&name, &f["get"], "GET");
            assert!(
                query.contains("{id}"),
                "family {name}: single query {query}"
            );
            let lifecycle = kling_mock::kinds::ALL
                .iter()
                .find(|k| k.is_task() && k.path == create)
                .unwrap_or_else(|| panic!("family {name}: no task kind creates at {create}"))
                .slug();
            let delete = f.get("delete").map(|d| {
                (
                    endpoint(&name, &d["endpoint"], "POST"),
                    d["field"].as_str().expect("delete field").to_string(),
                )
            });
            Fam {
                list: endpoint(&name, &f["list"], "GET"),
                example: f["example"].clone(),
                name,
                create,
                query,
                lifecycle,
                delete,
            }
        })
        .collect();
    assert!(!families.is_empty(), "the oracle names no family");
    families
});

/// The oracle's family names in the file's order (`serde_json`'s own map sorts its keys).
fn family_names() -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    /// The keys of a JSON object, in order.
    struct Keys(Vec<String>);

    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct InOrder;
            impl<'de> Visitor<'de> for InOrder {
                type Value = Keys;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(InOrder)
        }
    }

    #[derive(serde::Deserialize)]
    struct Oracle {
        families: Keys,
    }
    let oracle: Oracle = serde_json::from_str(ORACLE).expect("endpoints.json");
    oracle.families.0
}

/// The custom-voice family: the one whose voices are deleted by `voice_id`.
static VOICE: LazyLock<Family> = LazyLock::new(|| {
    let i = FAMILIES
        .iter()
        .position(|f| {
            f.delete
                .as_ref()
                .is_some_and(|(_, field)| field == "voice_id")
        })
        .expect("a family whose voices are deleted by voice_id");
    Family(i)
});

/// A task family: an index into [`FAMILIES`] (shown by its name).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Family(usize);

impl Family {
    fn all() -> impl Iterator<Item = Family> {
        (0..FAMILIES.len()).map(Family)
    }
    fn voice() -> Family {
        *VOICE
    }
    fn fam(self) -> &'static Fam {
        &FAMILIES[self.0]
    }
    /// The path that deletes a custom voice.
    fn delete_voice() -> &'static str {
        let (path, _) = Family::voice().fam().delete.as_ref().expect("voice delete");
        path
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fam().name)
    }
}

/// What a single query asks for. Indices are taken modulo what exists, so shrinking keeps them
/// meaningful; with nothing to point at, the key is [`UNKNOWN_ID`].
#[derive(Clone, Debug)]
enum TaskKey {
    /// The n-th task of the family created by the owner.
    Id(Whose, usize),
    /// That task's id plus a small delta: what someone guessing ids tries.
    Near(Whose, usize, i8),
    /// `job-N`: external ids come from a pool both accounts draw from.
    Ext(u8),
    /// An id no one has.
    Unknown,
}

/// A voice id for TTS or deletion.
#[derive(Clone, Debug)]
enum VoiceKey {
    /// The n-th custom voice id the owner has seen.
    Id(Whose, usize),
    /// An official TTS voice.
    Official,
    /// An id no one has.
    Unknown,
}

/// The sample of a new custom voice.
#[derive(Clone, Debug)]
enum Sample {
    /// A sample URL outside the mock.
    Url,
    /// The owner's n-th registered video, as `video_id`.
    Video(Whose, usize),
    /// The owner's n-th generated audio id, as `video_id` (not a video).
    Audio(Whose, usize),
    /// The caller's own n-th media URL, as `voice_url`.
    OwnMedia(usize),
}

/// A file to fetch.
#[derive(Clone, Debug)]
enum FileKey {
    /// The caller's n-th media URL.
    Own(usize),
    /// The other account's n-th media URL with byte `i` of its token changed.
    NearOther(usize, usize),
    /// The n-th draw of the seeded stream as a file name, `.wav` if true, else `.mp3`.
    Seeded(usize, bool),
}

/// One step of a case.
#[derive(Clone, Debug)]
enum Op {
    /// `POST` the family's example body, with `external_task_id: job-N` when `ext` is set.
    Create {
        who: Who,
        family: Family,
        ext: Option<u8>,
    },
    /// A custom voice from any kind of sample (the oracle's example is one sample URL).
    CreateVoice {
        who: Who,
        ext: Option<u8>,
        sample: Sample,
    },
    Tts {
        who: Who,
        voice: VoiceKey,
    },
    /// `GET {family}/{key}`, or `GET {family}?external_task_id={key}` when `by_query`.
    Get {
        who: Who,
        family: Family,
        key: TaskKey,
        by_query: bool,
    },
    List {
        who: Who,
        family: Family,
        page: u8,
        size: u8,
    },
    DeleteVoice {
        who: Who,
        voice: VoiceKey,
    },
    Fetch {
        who: Who,
        file: FileKey,
    },
    Costs {
        who: Who,
    },
    /// A page of the official voices (the same for everyone).
    Presets {
        who: Who,
        page: u8,
        size: u8,
    },
    /// The operator registers a qualifying video for `who` (control plane).
    Video {
        who: Who,
    },
    /// Move every server's clock.
    Advance {
        ms: u32,
    },
}

impl Op {
    fn who(&self) -> Option<Who> {
        match *self {
            Op::Create { who, .. }
            | Op::CreateVoice { who, .. }
            | Op::Tts { who, .. }
            | Op::Get { who, .. }
            | Op::List { who, .. }
            | Op::DeleteVoice { who, .. }
            | Op::Fetch { who, .. }
            | Op::Costs { who }
            | Op::Presets { who, .. }
            | Op::Video { who } => Some(who),
            Op::Advance { .. } => None,
        }
    }
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![Just(Who::A), Just(Who::B)]
}

/// Biased towards the other account's data: probing it is the point.
fn whose() -> impl Strategy<Value = Whose> {
    prop_oneof![2 => Just(Whose::Other), 1 => Just(Whose::Own)]
}

fn family() -> impl Strategy<Value = Family> {
    (0..FAMILIES.len()).prop_map(Family)
}

fn ext() -> impl Strategy<Value = Option<u8>> {
    prop::option::of(0u8..3)
}

fn task_key() -> impl Strategy<Value = TaskKey> {
    prop_oneof![
        3 => (whose(), 0usize..8).prop_map(|(w, n)| TaskKey::Id(w, n)),
        2 => (whose(), 0usize..8, prop::sample::select(vec![-2i8, -1, 1, 2]))
            .prop_map(|(w, n, d)| TaskKey::Near(w, n, d)),
        2 => (0u8..3).prop_map(TaskKey::Ext),
        1 => Just(TaskKey::Unknown),
    ]
}

fn voice_key() -> impl Strategy<Value = VoiceKey> {
    prop_oneof![
        6 => (whose(), 0usize..8).prop_map(|(w, n)| VoiceKey::Id(w, n)),
        1 => Just(VoiceKey::Official),
        1 => Just(VoiceKey::Unknown),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    prop_oneof![
        3 => Just(Sample::Url),
        2 => (whose(), 0usize..4).prop_map(|(w, n)| Sample::Video(w, n)),
        1 => (whose(), 0usize..4).prop_map(|(w, n)| Sample::Audio(w, n)),
        1 => (0usize..8).prop_map(Sample::OwnMedia),
    ]
}

fn file_key() -> impl Strategy<Value = FileKey> {
    prop_oneof![
        1 => (0usize..8).prop_map(FileKey::Own),
        1 => (0usize..8, 0usize..16).prop_map(|(n, i)| FileKey::NearOther(n, i)),
        2 => (0..DRAWS, any::<bool>()).prop_map(|(n, wav)| FileKey::Seeded(n, wav)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (who(), family(), ext()).prop_map(|(who, family, ext)| Op::Create { who, family, ext }),
        4 => (who(), ext(), sample())
            .prop_map(|(who, ext, sample)| Op::CreateVoice { who, ext, sample }),
        1 => (who(), voice_key()).prop_map(|(who, voice)| Op::Tts { who, voice }),
        5 => (who(), family(), task_key(), any::<bool>()).prop_map(|(who, family, key, by_query)| {
            Op::Get { who, family, key, by_query }
        }),
        2 => (who(), family(), 1u8..=3, 1u8..=4)
            .prop_map(|(who, family, page, size)| Op::List { who, family, page, size }),
        3 => (who(), voice_key()).prop_map(|(who, voice)| Op::DeleteVoice { who, voice }),
        3 => (who(), file_key()).prop_map(|(who, file)| Op::Fetch { who, file }),
        1 => who().prop_map(|who| Op::Costs { who }),
        1 => (who(), 1u8..=3, 1u8..=4)
            .prop_map(|(who, page, size)| Op::Presets { who, page, size }),
        1 => who().prop_map(|who| Op::Video { who }),
        4 => prop::sample::select(vec![500u32, 1000, 4000, 10_000])
            .prop_map(|ms| Op::Advance { ms }),
    ]
}

/// What an account has been given on one server, in order of first appearance.
struct Known {
    /// Task ids of its successful creates, per family (indexed as [`FAMILIES`]).
    tasks: Vec<Vec<String>>,
    /// Custom voice ids seen in its answers.
    voices: Vec<String>,
    /// Voice ids it deleted.
    deleted: HashSet<String>,
    /// Generated audio ids (text-to-audio and TTS).
    audios: Vec<String>,
    /// Registered video ids.
    videos: Vec<String>,
    /// Media URLs in its answers.
    urls: Vec<String>,
    /// Tasks its lists should hold, per family: successful creates minus deletions.
    live: Vec<usize>,
}

impl Default for Known {
    fn default() -> Known {
        Known {
            tasks: vec![Vec::new(); FAMILIES.len()],
            voices: Vec::new(),
            deleted: HashSet::new(),
            audios: Vec::new(),
            videos: Vec::new(),
            urls: Vec::new(),
            live: vec![0; FAMILIES.len()],
        }
    }
}

fn push_new(list: &mut Vec<String>, s: &str) {
    if !list.iter().any(|x| x == s) {
        list.push(s.to_string());
    }
}

impl Known {
    /// Record the voices, audios and media URLs anywhere in an answer.
    fn learn(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(id)), Some(owner)) =
                    (m.get("voice_id"), m.get("owned_by"))
                    && owner != "kling"
                {
                    push_new(&mut self.voices, id);
                }
                if let Some(Value::String(id)) = m.get("id")
                    && (m.contains_key("url") || m.contains_key("url_mp3"))
                {
                    push_new(&mut self.audios, id);
                }
                for key in ["url", "url_mp3", "url_wav", "trial_url"] {
                    if let Some(Value::String(url)) = m.get(key) {
                        push_new(&mut self.urls, url);
                    }
                }
                m.values().for_each(|x| self.learn(x));
            }
            Value::Array(a) => a.iter().for_each(|x| self.learn(x)),
            _ => {}
        }
    }
}

/// Renames 18-digit ids and UUIDs by order of first appearance, per account and server.
#[derive(Default)]
struct Renamer {
    ids: HashMap<String, usize>,
    id_order: Vec<String>,
    uuids: HashMap<String, usize>,
}

impl Renamer {
    fn rename(&mut self, text: &str) -> String {
        RENAMED
            .replace_all(text, |c: &regex::Captures<'_>| {
                let s = &c[0];
                if s.len() == 18 {
                    let n = self.ids.len();
                    let k = *self.ids.entry(s.to_string()).or_insert_with(|| {
                        self.id_order.push(s.to_string());
                        n
                    });
                    format!("#id{k}")
                } else {
                    let n = self.uuids.len();
                    format!("#uuid{}", self.uuids.entry(s.to_string()).or_insert(n))
                }
            })
            .into_owned()
    }
}

/// One server of a case, and what each account knows of it.
struct Server {
    app: TestApp,
    known: [Known; 2],
    names: [Renamer; 2],
    /// `alone` servers: the never-issued id standing for each id of the other account on `both`.
    stand_ins: HashMap<String, String>,
    /// `both` only: per account, the ids and UUIDs its requests carried so far, and every id or
    /// UUID it was answered with (with whether its requests had carried it before).
    sent: [HashSet<String>; 2],
    received: [Vec<(usize, String, bool)>; 2],
}

impl Server {
    async fn start(polls: bool) -> Server {
        let cfg = Config {
            public_url: Some(PUBLIC_URL.into()),
            seed: Some(SEED),
            ..config()
        };
        // spawn_at's client loads the system's root certificates (~50 ms in a debug build);
        // plain HTTP to 127.0.0.1 needs none, and a case starts three servers.
        let server = kling_mock::Server::bind_with_clock(cfg, kling_mock::Clock::frozen(START_MS))
            .await
            .expect("bind");
        let app = TestApp {
            base: server.base_url(),
            state: server.state().clone(),
            client: reqwest::Client::builder()
                .tls_certs_only([])
                .no_proxy()
                .build()
                .expect("client"),
        };
        tokio::spawn(server.run(std::future::pending()));
        for ak in [AK, AK2] {
            // A pack of 10 tasks' worth and 3 tasks in flight: refusals happen, per account.
            let settings =
                json!({"concurrency": {"video": 3}, "packs": [{"name": "trial", "total": 0.5}]});
            app.ctl_put(&format!("/__mock/accounts/{ak}"), settings)
                .await
                .ok();
        }
        if polls {
            for fam in FAMILIES.iter() {
                let spans = json!({"submitted": {"min_ms": 0, "max_ms": 0}, "processing": {"min_ms": 0, "max_ms": 0}, "progress": {"mode": "polls", "polls": 2}});
                app.ctl_put(&format!("/__mock/lifecycle/{}", fam.lifecycle), spans)
                    .await
                    .ok();
            }
        }
        Server {
            app,
            known: Default::default(),
            names: Default::default(),
            stand_ins: HashMap::new(),
            sent: Default::default(),
            received: Default::default(),
        }
    }
}

/// A concrete request.
#[derive(Clone, Debug)]
enum Call {
    Get(String),
    Post(&'static str, Value),
    /// A media URL as answers give it (rooted at [`PUBLIC_URL`]).
    File(String),
    /// `POST /__mock/videos` for the caller.
    Video,
}

impl Call {
    fn text(&self) -> String {
        match self {
            Call::Get(p) | Call::File(p) => p.clone(),
            Call::Post(p, body) => format!("{p} {body}"),
            Call::Video => String::new(),
        }
    }
}

/// One answer: status, and the body (JSON text, or a description of the audio).
#[derive(Debug)]
struct Answer {
    status: u16,
    text: String,
    json: Option<Value>,
}

impl Answer {
    fn code(&self) -> i64 {
        self.json
            .as_ref()
            .and_then(|v| v["code"].as_i64())
            .unwrap_or(-1)
    }
}

async fn send(app: &TestApp, who: Who, call: &Call) -> Answer {
    let (ak, sk) = who.keys();
    let req = match call {
        Call::Get(path) => app.client.get(app.url(path)).bearer_auth(token(ak, sk)),
        Call::Post(path, body) => app
            .client
            .post(app.url(path))
            .bearer_auth(token(ak, sk))
            .json(body),
        Call::File(url) => app.client.get(
            app.url(
                url.strip_prefix(PUBLIC_URL)
                    .unwrap_or_else(|| panic!("not a mock URL: {url}")),
            ),
        ),
        Call::Video => app
            .client
            .post(app.url("/__mock/videos"))
            .json(&json!({"account": ak, "source": "v26_with_sound", "duration_ms": 8000})),
    };
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.bytes().await.expect("body");
    if ct == "application/json" {
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 JSON");
        let json = serde_json::from_str(&text).expect("JSON");
        Answer {
            status,
            text,
            json: Some(json),
        }
    } else {
        Answer {
            status,
            text: format!("<{} bytes of {ct}>", bytes.len()),
            json: None,
        }
    }
}

fn nth(list: &[String], n: usize) -> Option<&String> {
    (!list.is_empty()).then(|| &list[n % list.len()])
}

/// The pair of requests an op makes: on `both`, and on the caller's `alone` server. Ids of the
/// other account are replaced on `alone` by ids that name nothing there, ids the caller was
/// given by the caller's corresponding ids; `mask` is the probed id of each, blanked from the
/// answer (error messages echo it).
struct Pair {
    both: Call,
    alone: Call,
    mask: Option<(String, String)>,
    /// The voice of the other account this call tries to delete.
    foreign_voice: Option<String>,
}

struct Case {
    both: Server,
    alone: [Server; 2],
    /// Ids and UUIDs everyone may see: the official voices' task ids and trial files.
    public: HashSet<String>,
}

impl Case {
    /// The id the `alone` server of `who` should see for `id` of `both`.
    fn translate(&mut self, who: Who, id: &str) -> Result<String, String> {
        if id == UNKNOWN_ID {
            return Ok(id.to_string());
        }
        let alone = &mut self.alone[who.i()];
        match self.both.names[who.i()].ids.get(id) {
            Some(&k) => alone.names[who.i()]
                .id_order
                .get(k)
                .cloned()
                .ok_or_else(|| format!("{who:?} was given id #{k} on one server only")),
            None => {
                let n = alone.stand_ins.len() + 1;
                let stand_in = alone.stand_ins.entry(id.to_string());
                Ok(stand_in.or_insert_with(|| format!("7{n:017}")).clone())
            }
        }
    }

    /// An id of `whose` list on `both` (the caller's or the other's).
    fn pick(&self, who: Who, whose: Whose, list: impl Fn(&Known) -> &Vec<String>) -> &[String] {
        let owner = match whose {
            Whose::Own => who,
            Whose::Other => who.other(),
        };
        list(&self.both.known[owner.i()])
    }

    fn pair(&mut self, op: &Op) -> Result<Option<Pair>, String> {
        let Some(who) = op.who() else {
            return Ok(None);
        };
        let simple = |call: Call| Pair {
            both: call.clone(),
            alone: call,
            mask: None,
            foreign_voice: None,
        };
        Ok(Some(match op {
            Op::Create { family, ext, .. } => {
                let mut body = family.fam().example.clone();
                if let Some(e) = ext {
                    body["external_task_id"] = json!(format!("job-{e}"));
                }
                simple(Call::Post(&family.fam().create, body))
            }
            Op::CreateVoice { ext, sample, .. } => {
                let base = |e: &Option<u8>| {
                    let mut body = json!({"voice_name": "narrator"});
                    if let Some(e) = e {
                        body["external_task_id"] = json!(format!("job-{e}"));
                    }
                    body
                };
                let (mut b1, mut b2) = (base(ext), base(ext));
                match sample {
                    Sample::Url => {
                        b1["voice_url"] = json!("https://example.com/sample.mp3");
                        b2["voice_url"] = b1["voice_url"].clone();
                    }
                    Sample::OwnMedia(n) => {
                        let (Some(u1), Some(u2)) = (
                            nth(&self.both.known[who.i()].urls, *n),
                            nth(&self.alone[who.i()].known[who.i()].urls, *n),
                        ) else {
                            return Ok(None);
                        };
                        b1["voice_url"] = json!(u1);
                        b2["voice_url"] = json!(u2);
                    }
                    Sample::Video(whose, n) | Sample::Audio(whose, n) => {
                        let list = self.pick(who, *whose, |k| {
                            if matches!(sample, Sample::Video(..)) {
                                &k.videos
                            } else {
                                &k.audios
                            }
                        });
                        let id = nth(list, *n).cloned().unwrap_or_else(|| UNKNOWN_ID.into());
                        b2["video_id"] = json!(self.translate(who, &id)?);
                        b1["video_id"] = json!(id);
                    }
                }
                let create = &Family::voice().fam().create;
                Pair {
                    both: Call::Post(create, b1),
                    alone: Call::Post(create, b2),
                    mask: None,
                    foreign_voice: None,
                }
            }
            Op::Tts { voice, .. } | Op::DeleteVoice { voice, .. } => {
                let (id, foreign) = match voice {
                    VoiceKey::Official => ("oversea_male1".to_string(), None),
                    VoiceKey::Unknown => (UNKNOWN_ID.to_string(), None),
                    VoiceKey::Id(whose, n) => {
                        let id = nth(self.pick(who, *whose, |k| &k.voices), *n)
                            .cloned()
                            .unwrap_or_else(|| UNKNOWN_ID.into());
                        let foreign =
                            (*whose == Whose::Other && id != UNKNOWN_ID).then(|| id.clone());
                        (id, foreign)
                    }
                };
                let alone_id = if voice_is_id(voice) {
                    self.translate(who, &id)?
                } else {
                    id.clone()
                };
                let body = |v: &str| match op {
                    Op::Tts { .. } => (
                        "/v1/audio/tts",
                        json!({"text": "good evening", "voice_id": v, "voice_language": "en"}),
                    ),
                    _ => (Family::delete_voice(), json!({"voice_id": v})),
                };
                let ((p1, b1), (p2, b2)) = (body(&id), body(&alone_id));
                Pair {
                    both: Call::Post(p1, b1),
                    alone: Call::Post(p2, b2),
                    mask: None,
                    foreign_voice: foreign.filter(|_| matches!(op, Op::DeleteVoice { .. })),
                }
            }
            Op::Get {
                family,
                key,
                by_query,
                ..
            } => {
                let fam = family.fam();
                let task = |whose: Whose, n: usize| {
                    nth(self.pick(who, whose, |k| &k.tasks[family.0]), n).cloned()
                };
                let (k1, k2) = match key {
                    TaskKey::Ext(e) => (format!("job-{e}"), format!("job-{e}")),
                    TaskKey::Unknown => (UNKNOWN_ID.into(), UNKNOWN_ID.into()),
                    TaskKey::Id(whose, n) => {
                        let id = task(*whose, *n).unwrap_or_else(|| UNKNOWN_ID.into());
                        let alone = self.translate(who, &id)?;
                        (id, alone)
                    }
                    TaskKey::Near(whose, n, d) => {
                        let id = task(*whose, *n)
                            .and_then(|id| id.parse::<i64>().ok())
                            .map(|id| (id + i64::from(*d)).to_string())
                            .unwrap_or_else(|| UNKNOWN_ID.into());
                        let alone = self.translate(who, &id)?;
                        (id, alone)
                    }
                };
                let path = |k: &str| {
                    if *by_query {
                        format!("{}?external_task_id={k}", fam.list)
                    } else {
                        fam.query.replace("{id}", k)
                    }
                };
                Pair {
                    both: Call::Get(path(&k1)),
                    alone: Call::Get(path(&k2)),
                    // External ids are the same literal on both servers: nothing to blank.
                    mask: (!matches!(key, TaskKey::Ext(_))).then_some((k1, k2)),
                    foreign_voice: None,
                }
            }
            Op::List {
                family, page, size, ..
            } => simple(Call::Get(format!(
                "{}?pageNum={page}&pageSize={size}",
                family.fam().list
            ))),
            Op::Fetch { file, .. } => match file {
                FileKey::Own(n) => {
                    let (Some(u1), Some(u2)) = (
                        nth(&self.both.known[who.i()].urls, *n),
                        nth(&self.alone[who.i()].known[who.i()].urls, *n),
                    ) else {
                        return Ok(None);
                    };
                    Pair {
                        both: Call::File(u1.clone()),
                        alone: Call::File(u2.clone()),
                        mask: None,
                        foreign_voice: None,
                    }
                }
                FileKey::NearOther(n, i) => {
                    let Some(url) = nth(&self.both.known[who.other().i()].urls, *n) else {
                        return Ok(None);
                    };
                    simple(Call::File(change_token_byte(url, *i)))
                }
                FileKey::Seeded(n, wav) => {
                    let ext = if *wav { "wav" } else { "mp3" };
                    simple(Call::File(format!(
                        "{PUBLIC_URL}/files/kling_{}.{ext}",
                        SEEDED_DRAWS[*n]
                    )))
                }
            },
            Op::Costs { .. } => simple(Call::Get(
                "/account/costs?start_time=0&end_time=4102444800000".into(),
            )),
            Op::Presets { page, size, .. } => simple(Call::Get(format!(
                "/v1/general/presets-voices?pageNum={page}&pageSize={size}"
            ))),
            Op::Video { .. } => simple(Call::Video),
            Op::Advance { .. } => return Ok(None),
        }))
    }

    /// Run one op on `both` and on its caller's `alone` server, and check what the caller sees.
    async fn step(&mut self, i: usize, op: &Op) -> Result<(), String> {
        if let Op::Advance { ms } = op {
            for s in [&self.both, &self.alone[0], &self.alone[1]] {
                s.app.advance(Duration::from_millis(u64::from(*ms)));
            }
            return Ok(());
        }
        let Some(pair) = self.pair(op)? else {
            return Ok(());
        };
        let who = op.who().expect("an account's op");
        let x = who.i();
        let on_both = send(&self.both.app, who, &pair.both).await;
        let on_alone = send(&self.alone[x].app, who, &pair.alone).await;

        // Secrets: every id and UUID of the answer, and whether the caller's requests carried it.
        for m in RENAMED.find_iter(&pair.both.text()) {
            self.both.sent[x].insert(m.as_str().to_string());
        }
        for m in RENAMED.find_iter(&on_both.text) {
            let carried = self.both.sent[x].contains(m.as_str());
            self.both.received[x].push((i, m.as_str().to_string(), carried));
        }

        let mut seen = Vec::new();
        for (server, call, answer, masked) in [
            (
                &mut self.both,
                &pair.both,
                &on_both,
                pair.mask.as_ref().map(|m| &m.0),
            ),
            (
                &mut self.alone[x],
                &pair.alone,
                &on_alone,
                pair.mask.as_ref().map(|m| &m.1),
            ),
        ] {
            check_model(server, who, op, call, answer).map_err(|e| format!("call #{i} {e}"))?;
            let text = match masked {
                Some(m) => answer.text.replace(m.as_str(), "<probe>"),
                None => answer.text.clone(),
            };
            seen.push((answer.status, server.names[x].rename(&text)));
        }
        if seen[0] != seen[1] {
            return Err(format!(
                "call #{i} {op:?}: {who:?}'s answer depends on the other account\n  \
                 beside the other account: {} {}\n  alone:                    {} {}",
                seen[0].0, seen[0].1, seen[1].0, seen[1].1
            ));
        }

        if let Some(voice) = pair.foreign_voice {
            let owner = who.other();
            if on_both.status != 400 || on_both.code() != 1201 {
                return Err(format!(
                    "call #{i} {op:?}: deleting {owner:?}'s voice was not refused: {on_both:?}"
                ));
            }
            if !self.both.known[owner.i()].deleted.contains(&voice) {
                let (ak, sk) = owner.keys();
                let list = self
                    .both
                    .app
                    .get_as(
                        ak,
                        sk,
                        &format!("{}?pageSize=1000", Family::voice().fam().list),
                    )
                    .await;
                if !list.body.to_string().contains(&format!("\"{voice}\"")) {
                    return Err(format!(
                        "call #{i} {op:?}: {owner:?}'s voice {voice} is gone after {who:?} tried to delete it"
                    ));
                }
            }
        }
        Ok(())
    }

    /// No answer to one account held an id or UUID the other was given, unless its own requests
    /// had carried it first.
    fn check_secrets(&self) -> Result<(), String> {
        for who in [Who::A, Who::B] {
            let other = who.other().i();
            let secrets: HashSet<&str> = self.both.received[other]
                .iter()
                .filter(|(_, s, _)| !self.both.sent[other].contains(s) && !self.public.contains(s))
                .map(|(_, s, _)| s.as_str())
                .collect();
            if let Some((i, s, _)) = self.both.received[who.i()]
                .iter()
                .find(|(_, s, carried)| !carried && secrets.contains(s.as_str()))
            {
                return Err(format!(
                    "call #{i}: {who:?} was answered with {s}, which belongs to {:?}",
                    who.other()
                ));
            }
        }
        Ok(())
    }
}

fn voice_is_id(v: &VoiceKey) -> bool {
    !matches!(v, VoiceKey::Official)
}

/// `url` with byte `i` of its token changed: a neighbour of a real file name.
fn change_token_byte(url: &str, i: usize) -> String {
    let (token, _) = kling_mock::media::parse_file_name(url).expect("a media URL");
    let mut near = token;
    near[i % 16] ^= 0x01;
    url.replace(
        &uuid::Uuid::from_bytes(token).hyphenated().to_string(),
        &uuid::Uuid::from_bytes(near).hyphenated().to_string(),
    )
}

/// What one answer must be, from the caller's own history on this server alone; then learn it.
fn check_model(
    server: &mut Server,
    who: Who,
    op: &Op,
    call: &Call,
    answer: &Answer,
) -> Result<(), String> {
    let known = &mut server.known[who.i()];
    let ok = answer.status == 200;
    if let Call::File(url) = call
        && ok
        && !known.urls.contains(url)
    {
        return Err(format!(
            "{op:?}: {who:?} downloaded {url}, a file it was never given"
        ));
    }
    let Some(v) = &answer.json else {
        return Ok(());
    };
    match op {
        Op::Create { .. } | Op::CreateVoice { .. } if ok => {
            let f = match *op {
                Op::Create { family, .. } => family,
                _ => Family::voice(),
            };
            let id = v["data"]["task_id"].as_str().expect("task_id");
            known.tasks[f.0].push(id.to_string());
            known.live[f.0] += 1;
        }
        Op::DeleteVoice { .. } if ok => {
            let voice = match call {
                Call::Post(_, body) => body["voice_id"].as_str().unwrap_or(""),
                _ => "",
            };
            if !known.voices.iter().any(|v| v == voice) || known.deleted.contains(voice) {
                return Err(format!(
                    "{op:?}: {who:?} deleted {voice}, not one of its own voices: {v}"
                ));
            }
            known.live[Family::voice().0] -= 1;
            known.deleted.insert(voice.to_string());
        }
        Op::Video { .. } if ok => {
            known.videos.push(
                v["data"]["video_id"]
                    .as_str()
                    .expect("video_id")
                    .to_string(),
            );
        }
        Op::List {
            family, page, size, ..
        } => {
            let items = v["data"].as_array().ok_or(format!("{op:?}: {v}"))?;
            let (live, page, size) = (known.live[family.0], usize::from(*page), usize::from(*size));
            let expected = live.saturating_sub((page - 1) * size).min(size);
            if items.len() != expected {
                return Err(format!(
                    "{op:?}: {who:?} has {live} tasks, so this page holds {expected}, not {}: {v}",
                    items.len()
                ));
            }
            let mine = &known.tasks[family.0];
            if let Some(t) = items
                .iter()
                .find(|t| !mine.iter().any(|m| t["task_id"] == m.as_str()))
            {
                return Err(format!(
                    "{op:?}: {who:?} lists a task it did not create: {t}"
                ));
            }
        }
        _ => {}
    }
    known.learn(v);
    Ok(())
}

/// Every task finished, then each account lists every family: recorded calls like the others,
/// after which each account knows its finished voices, audios and files (and the other's probes
/// of them become likely).
fn settle() -> Vec<Op> {
    let mut ops = vec![Op::Advance { ms: 10_000 }];
    for who in [Who::A, Who::B] {
        for family in Family::all() {
            ops.push(Op::List {
                who,
                family,
                page: 1,
                size: 50,
            });
        }
    }
    ops
}

/// Each account's first finished task of every family (its example body), so every case has
/// data to probe from its first call.
fn prelude() -> Vec<Op> {
    let mut ops = Vec::new();
    for who in [Who::A, Who::B] {
        ops.extend(Family::all().map(|family| Op::Create {
            who,
            family,
            ext: None,
        }));
    }
    ops.extend(settle());
    ops
}

/// Run the prelude, `first`, settle, run `then`, settle, then have each account read every one of its tasks
/// by id (the whole of its data, compared with its `alone` server's; with `polls`, whether the
/// other account's probes counted as polls shows here), then check secrets.
async fn run_case(polls: bool, first: &[Op], then: &[Op]) -> Result<(), String> {
    let both = Server::start(polls).await;
    let presets = both
        .app
        .get_as(AK, SK, "/v1/general/presets-voices?pageSize=1000")
        .await;
    let public = RENAMED
        .find_iter(&presets.body["data"].to_string())
        .map(|m| m.as_str().to_string())
        .collect();
    let mut case = Case {
        both,
        alone: [Server::start(polls).await, Server::start(polls).await],
        public,
    };
    let ops: Vec<Op> = prelude()
        .into_iter()
        .chain(first.iter().cloned())
        .chain(settle())
        .chain(then.iter().cloned())
        .chain(settle())
        .collect();
    for (i, op) in ops.iter().enumerate() {
        case.step(i, op).await?;
    }
    let mut reads = Vec::new();
    for who in [Who::A, Who::B] {
        for family in Family::all() {
            let count = case.both.known[who.i()].tasks[family.0].len();
            reads.extend((0..count).map(|n| Op::Get {
                who,
                family,
                key: TaskKey::Id(Whose::Own, n),
                by_query: false,
            }));
        }
    }
    for (i, op) in reads.iter().enumerate() {
        case.step(ops.len() + i, op).await?;
    }
    case.check_secrets()
}

fn cases() -> u32 {
    std::env::var("KLING_MOCK_ISOLATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_sequence_of_calls_by_one_account_reveals_or_changes_anything_of_the_other(
        polls in any::<bool>(),
        first in prop::collection::vec(op(), 0..=15),
        then in prop::collection::vec(op(), 0..=15),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_case(polls, &first, &then)).map_err(TestCaseError::fail)?;
    }
}

/// Every asynchronous kind the mock serves has its family in the oracle, so this property (and
/// every other that reads the oracle's families) covers it: a kind added without its oracle
/// entry fails here instead of going unchecked.
#[test]
fn every_task_kind_of_the_registry_has_a_family_in_the_oracle() {
    let covered: HashSet<&str> = FAMILIES.iter().map(|f| f.create.as_str()).collect();
    let missing: Vec<&str> = kling_mock::kinds::ALL
        .iter()
        .filter(|k| k.is_task() && !covered.contains(k.path))
        .map(|k| k.slug())
        .collect();
    assert!(
        missing.is_empty(),
        "task kinds without a `families` entry in fixtures/contract/endpoints.json: {missing:?}"
    );
}

//! The ways the proxy breaks the mock's answers, one per test. Each is a small function over the
//! call the harness made ([`Call`]) and the mock's answer ([`Answer`]); the few that need to
//! remember earlier answers (a counter, tasks seen) get the proxy's [`Memory`].

use kling_contract::model::{Contract, Layers, Verdict};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Official voices list.
pub const PRESETS: &str = "/v1/general/presets-voices";
/// Text to speech.
pub const TTS: &str = "/v1/audio/tts";
/// Delete a custom voice.
pub const DELETE_VOICES: &str = "/v1/general/delete-voices";

/// The oracle: the families' paths (and, for one mutation, a judge that skips the capability map).
static CONTRACT: LazyLock<Contract> = LazyLock::new(|| Contract::load().expect("the oracle loads"));

/// The list paths of the oracle's families (single queries are under them).
fn family_paths() -> Vec<&'static str> {
    CONTRACT
        .families
        .iter()
        .map(|f| CONTRACT.endpoint(&f.list).path.as_str())
        .collect()
}

/// The create paths of the oracle's families, and TTS.
fn create_paths() -> Vec<&'static str> {
    CONTRACT
        .families
        .iter()
        .map(|f| CONTRACT.endpoint(&f.create).path.as_str())
        .chain([TTS])
        .collect()
}

/// Whether a path belongs to a video family.
fn is_video(path: &str) -> bool {
    path.starts_with("/v1/videos/")
}

/// A task id no mock ever hands out in these tests (used in invented answers).
pub const FAKE_TASK_ID: &str = "800000000000000001";

/// One way of breaking the answers (`None`: an honest proxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Forward everything unchanged.
    None,
    /// Drop `request_id` from every envelope.
    DropRequestId,
    /// HTTP 400 errors come back as HTTP 200 (body unchanged).
    BadRequestsAs200,
    /// A create the mock refused (400 / 1200 or 1201) is answered as created.
    AcceptInvalidCreates,
    /// An expired token gets 1002 (invalid) instead of 1004.
    ExpiredTokenAsInvalid,
    /// Auth errors come back as HTTP 403 instead of 401 (code unchanged).
    AuthErrorsAs403,
    /// A succeeded task says `processing` again every second time it is seen.
    RegressSucceededTasks,
    /// A single query by external id answers a `created_at` one millisecond later.
    ExternalIdShiftsCreatedAt,
    /// A create refused for a duplicate `external_task_id` is answered as created.
    AcceptDuplicateExternalId,
    /// List pages with two items or more come back in reverse order.
    ReversePages,
    /// The first item of every non-empty list page is dropped.
    DropFirstItemOfPages,
    /// A single query another account's task answers "not found" for gets that task.
    LeakTaskByIdAcrossAccounts,
    /// Another account's tasks (seen in its single queries) are added to list pages.
    LeakTaskIntoOtherAccountsList,
    /// Deleting a voice always succeeds, whatever the mock said.
    DeleteVoiceAlwaysSucceeds,
    /// Callbacks are relayed through the proxy, which drops the `processing` one.
    CallbacksLoseProcessing,
    /// The final single query differs from the final callback (`updated_at` + 1 ms).
    FinalQueryDiffersFromCallback,
    /// Every declared audio duration is one second longer than the file.
    StretchDurations,
    /// A video create the mock refused only for the capability map is answered as created (a
    /// mock that does not enforce the capability map).
    CapabilityMapNotEnforced,
    /// Every MP4 served is scaled to 64×64 (a wrong frame size).
    WrongFrameSize,
    /// Every MP4 served is cut to its first second (a wrong duration).
    ShortVideos,
    /// Video results lose their `watermark_url`.
    DropWatermarkUrl,
    /// Video tasks say `running` instead of `processing`.
    VideoStatusRunning,
    /// A refused video create's message names no field ("invalid request").
    VideoRefusalsNameNothing,
    /// Every PNG / JPEG served is a 64x64 PNG (a wrong size).
    WrongImageSize,
    /// An image task's result loses its last image when it has two or more (fewer than `n`).
    FewerImages,
    /// Every image's `watermark_url` is its `url`.
    WatermarkIsUrl,
    /// A create refused because its `element_list` names an element deleted earlier (through
    /// the proxy) is answered as created.
    AcceptDeletedElements,
    /// A video-to-audio or lip-sync result's video is its silent source
    /// (`task_info.parent_video.url`): a result without its sound track.
    SilentVideoToAudio,
    /// An effects create with a dual-image scene and one picture in `input.images`, refused by
    /// the mock, is answered as created.
    EffectsAcceptOneImage,
    /// A create refused while its body names a `video_id` is answered as created (a target that
    /// does not check whose video it is, or whether it exists).
    AcceptAnyVideoId,
    /// Every PNG served (image recognition's masks among them) is not a picture.
    MasksNotImages,
    /// The `png_mask` of every selection mask (add- and delete-selection) says half the video's
    /// height and width.
    PngMaskOtherSize,
    /// A multi-elements result's videos lose their `session_id`.
    DropSessionIdFromResults,
    /// A multi-elements create with `edit_mode: swap` and two images or more, refused by the
    /// mock, is answered as created.
    AcceptSwapWithTwoImages,
    /// A create refused while its body names a `session_id` is answered as created (a target
    /// that does not check whose session it is, or whether it exists).
    AcceptAnySession,
}

/// Multi-elements video editing (its create, queries and lists).
pub const MULTI_ELEMENTS: &str = "/v1/videos/multi-elements";

/// Video to audio.
pub const VIDEO_TO_AUDIO: &str = "/v1/audio/video-to-audio";
/// Lip-sync (legacy).
pub const LIP_SYNC: &str = "/v1/videos/lip-sync";
/// Video effects.
pub const EFFECTS: &str = "/v1/videos/effects";

/// The request the harness sent, as the mutations see it.
#[derive(Clone, Debug)]
pub struct Call {
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The account (JWT `iss`) of the `Authorization` header, if it decodes.
    pub account: Option<String>,
    /// The JSON body (`Null` without one).
    pub body: Value,
}

impl Call {
    /// The `{id}` of a single query (`GET /v1/audio/text-to-audio/{id}` or
    /// `GET /v1/general/custom-voices/{id}`).
    pub fn single_query(&self) -> Option<&str> {
        if self.method != "GET" {
            return None;
        }
        family_paths().into_iter().find_map(|base| {
            let id = self.path.strip_prefix(base)?.strip_prefix('/')?;
            (!id.is_empty() && !id.contains('/')).then_some(id)
        })
    }

    /// The family (list path) of a single query or list.
    pub fn family(&self) -> Option<&'static str> {
        family_paths()
            .into_iter()
            .chain([PRESETS])
            .find(|base| self.path == *base || self.path.starts_with(&format!("{base}/")))
    }

    /// Whether this is a list query (`GET` of a list path).
    pub fn is_list(&self) -> bool {
        self.method == "GET"
            && family_paths()
                .into_iter()
                .chain([PRESETS])
                .any(|p| p == self.path)
    }

    /// Whether this is a create (`POST` of a create path, TTS included).
    pub fn is_create(&self) -> bool {
        self.method == "POST" && create_paths().contains(&self.path.as_str())
    }

    /// Whether this fetches a PNG or JPEG file.
    pub fn is_image_file(&self) -> bool {
        self.method == "GET"
            && self.path.starts_with("/files/")
            && [".png", ".jpg", ".jpeg"]
                .iter()
                .any(|e| self.path.ends_with(e))
    }

    /// Whether this fetches an MP4 file.
    pub fn is_mp4(&self) -> bool {
        self.method == "GET" && self.path.starts_with("/files/") && self.path.ends_with(".mp4")
    }
}

/// The mock's answer, as the mutations change it.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Answer {
    /// The envelope's `code`.
    pub fn code(&self) -> Option<i64> {
        self.body["code"].as_i64()
    }

    /// The envelope's `message`.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// Whether it is a success envelope.
    pub fn is_success(&self) -> bool {
        self.status == 200 && self.code() == Some(0)
    }

    /// A success envelope around `data`.
    pub fn success(data: Value) -> Answer {
        Answer {
            status: 200,
            body: json!({
                "code": 0,
                "message": "SUCCEED",
                "request_id": uuid::Uuid::new_v4().to_string(),
                "data": data,
            }),
        }
    }

    /// The task status in `data`.
    fn status_of_data(&self) -> &str {
        self.body["data"]["task_status"].as_str().unwrap_or("")
    }
}

/// What the proxy remembers between answers.
#[derive(Debug, Default)]
pub struct Memory {
    /// How many answers showed a task `succeed`, per task id.
    succeed_answers: HashMap<String, u32>,
    /// Tasks seen in successful single queries, by task id and by external id.
    tasks: HashMap<String, Seen>,
    /// Element ids deleted successfully through the proxy.
    deleted_elements: Vec<Value>,
}

/// A task seen in a single query.
#[derive(Clone, Debug)]
struct Seen {
    owner: Option<String>,
    family: &'static str,
    task: Value,
}

impl Memory {
    fn remember(&mut self, call: &Call, answer: &Answer) {
        let (Some(_), Some(family), true) =
            (call.single_query(), call.family(), answer.is_success())
        else {
            return;
        };
        let task = answer.body["data"].clone();
        let seen = Seen {
            owner: call.account.clone(),
            family,
            task: task.clone(),
        };
        for key in [&task["task_id"], &task["task_info"]["external_task_id"]] {
            if let Some(k) = key.as_str() {
                self.tasks.insert(k.to_string(), seen.clone());
            }
        }
    }
}

impl Mutation {
    /// Change the create body before it goes to the mock (`relay`: the proxy's callback relay).
    pub fn on_request(self, call: &Call, body: &mut Value, relay: &str) {
        if self == Mutation::CallbacksLoseProcessing && call.is_create() {
            relay_callbacks(body, relay);
        }
    }

    /// Whether it changes served files (media URLs are then pointed at the proxy).
    pub fn changes_files(self) -> bool {
        matches!(
            self,
            Mutation::WrongFrameSize
                | Mutation::ShortVideos
                | Mutation::WrongImageSize
                | Mutation::MasksNotImages
        )
    }

    /// Change a served file (`None`: unchanged).
    pub fn on_file(self, call: &Call, bytes: &[u8]) -> Option<Vec<u8>> {
        if self == Mutation::WrongImageSize && call.is_image_file() {
            return Some(kling_contract::png::gradient(64, 64));
        }
        if self == Mutation::MasksNotImages && call.path.ends_with(".png") {
            return Some(b"not a picture".to_vec());
        }
        if !call.is_mp4() {
            return None;
        }
        match self {
            Mutation::WrongFrameSize => kling_contract::video::rescale(bytes, 64, 64).ok(),
            Mutation::ShortVideos => kling_contract::video::trim(bytes, 1.0).ok(),
            _ => None,
        }
    }

    /// Whether the relay drops this callback instead of passing it on.
    pub fn drops_callback(self, callback: &Value) -> bool {
        self == Mutation::CallbacksLoseProcessing && callback["task_status"] == "processing"
    }

    /// Change the mock's answer to `call`.
    pub fn on_answer(self, call: &Call, answer: &mut Answer, memory: &mut Memory) {
        match self {
            Mutation::None | Mutation::CallbacksLoseProcessing => {}
            Mutation::DropRequestId => drop_request_id(answer),
            Mutation::BadRequestsAs200 => bad_requests_as_200(answer),
            Mutation::AcceptInvalidCreates => accept_invalid_creates(call, answer),
            Mutation::ExpiredTokenAsInvalid => expired_token_as_invalid(answer),
            Mutation::AuthErrorsAs403 => auth_errors_as_403(answer),
            Mutation::RegressSucceededTasks => regress_succeeded_tasks(call, answer, memory),
            Mutation::ExternalIdShiftsCreatedAt => external_id_shifts_created_at(call, answer),
            Mutation::AcceptDuplicateExternalId => accept_duplicate_external_id(call, answer),
            Mutation::ReversePages => reverse_pages(call, answer),
            Mutation::DropFirstItemOfPages => drop_first_item_of_pages(call, answer),
            Mutation::LeakTaskByIdAcrossAccounts => leak_task_by_id(call, answer, memory),
            Mutation::LeakTaskIntoOtherAccountsList => leak_task_into_list(call, answer, memory),
            Mutation::DeleteVoiceAlwaysSucceeds => delete_voice_always_succeeds(call, answer),
            Mutation::FinalQueryDiffersFromCallback => final_query_differs(call, answer),
            Mutation::StretchDurations => stretch_durations(answer),
            Mutation::CapabilityMapNotEnforced => capability_map_not_enforced(call, answer),
            Mutation::DropWatermarkUrl => drop_watermark_url(answer),
            Mutation::VideoStatusRunning => video_status_running(call, answer),
            Mutation::VideoRefusalsNameNothing => {
                if call.is_create() && is_video(&call.path) && answer.status == 400 {
                    answer.body["message"] = json!("invalid request");
                }
            }
            Mutation::WrongFrameSize
            | Mutation::ShortVideos
            | Mutation::WrongImageSize
            | Mutation::MasksNotImages => {}
            Mutation::SilentVideoToAudio => silent_video_to_audio(call, answer),
            Mutation::EffectsAcceptOneImage => {
                let one = call.body["input"]["images"]
                    .as_array()
                    .is_some_and(|a| a.len() == 1);
                if call.method == "POST" && call.path == EFFECTS && one && answer.status == 400 {
                    *answer = Answer::success(created_data(call));
                }
            }
            Mutation::AcceptAnyVideoId => {
                if call.is_create() && call.body.get("video_id").is_some() && answer.status == 400 {
                    *answer = Answer::success(created_data(call));
                }
            }
            Mutation::FewerImages => for_images(answer, |images| {
                if images.len() >= 2 {
                    images.pop();
                }
            }),
            Mutation::WatermarkIsUrl => for_images(answer, |images| {
                for i in images.iter_mut() {
                    if i["watermark_url"].is_string() {
                        i["watermark_url"] = i["url"].clone();
                    }
                }
            }),
            Mutation::AcceptDeletedElements => accept_deleted_elements(call, answer, memory),
            Mutation::PngMaskOtherSize => png_mask_other_size(call, answer),
            Mutation::DropSessionIdFromResults => drop_session_id_from_results(call, answer),
            Mutation::AcceptAnySession => {
                if call.is_create() && call.body.get("session_id").is_some() && answer.status == 400
                {
                    *answer = Answer::success(created_data(call));
                }
            }
            Mutation::AcceptSwapWithTwoImages => {
                let swap_of_many = call.body["edit_mode"] == "swap"
                    && call.body["image_list"]
                        .as_array()
                        .is_some_and(|a| a.len() >= 2);
                if call.method == "POST"
                    && call.path == MULTI_ELEMENTS
                    && swap_of_many
                    && answer.status == 400
                {
                    *answer = Answer::success(created_data(call));
                }
            }
        }
    }
}

// ---- the image families and elements ------------------------------------------------------

/// Apply `f` to the image lists (`images`, `series_images`) of every task in the answer.
fn for_images(answer: &mut Answer, f: impl Fn(&mut Vec<Value>)) {
    for task in tasks_of(answer) {
        for key in ["images", "series_images"] {
            if let Some(list) = task
                .pointer_mut(&format!("/task_result/{key}"))
                .and_then(Value::as_array_mut)
            {
                f(list);
            }
        }
    }
}

/// Remember deleted elements; a refused create naming one of them is answered as created.
fn accept_deleted_elements(call: &Call, answer: &mut Answer, memory: &mut Memory) {
    if call.method == "POST"
        && call.path == "/v1/general/delete-advanced-elements"
        && answer.is_success()
    {
        memory
            .deleted_elements
            .push(call.body["element_id"].clone());
        return;
    }
    let names_deleted = call.body["element_list"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| memory.deleted_elements.contains(&e["element_id"]));
    if call.is_create() && names_deleted && answer.status == 400 {
        *answer = Answer::success(created_data(call));
    }
}

// ---- envelope ------------------------------------------------------------------------------

/// Every envelope loses its `request_id`.
fn drop_request_id(answer: &mut Answer) {
    if let Some(o) = answer.body.as_object_mut() {
        o.remove("request_id");
    }
}

/// HTTP 400 becomes HTTP 200; the error body stays.
fn bad_requests_as_200(answer: &mut Answer) {
    if answer.status == 400 {
        answer.status = 200;
    }
}

// ---- validation ----------------------------------------------------------------------------

/// The `data` a create would plausibly answer: a submitted task, or for TTS a finished one.
fn created_data(call: &Call) -> Value {
    let now = 1_700_000_000_000_i64;
    if call.path == TTS {
        json!({
            "task_id": FAKE_TASK_ID, "task_status": "succeed", "task_status_msg": "",
            "task_result": {"audios": []}, "final_unit_deduction": "0.05",
            "created_at": now, "updated_at": now,
        })
    } else {
        json!({
            "task_id": FAKE_TASK_ID, "task_status": "submitted", "task_info": {},
            "created_at": now, "updated_at": now,
        })
    }
}

/// A refused create (400 / 1200 or 1201) is answered as created.
fn accept_invalid_creates(call: &Call, answer: &mut Answer) {
    if call.is_create() && answer.status == 400 && matches!(answer.code(), Some(1200 | 1201)) {
        *answer = Answer::success(created_data(call));
    }
}

// ---- auth ----------------------------------------------------------------------------------

/// 1004 (expired) becomes 1002 (invalid): still HTTP 401, the wrong code.
fn expired_token_as_invalid(answer: &mut Answer) {
    if answer.code() == Some(1004) {
        answer.body["code"] = json!(1002);
    }
}

/// HTTP 401 becomes 403; the code stays.
fn auth_errors_as_403(answer: &mut Answer) {
    if answer.status == 401 {
        answer.status = 403;
    }
}

// ---- lifecycle -----------------------------------------------------------------------------

/// A succeeded task is reported `processing` again every second time it is seen (in single
/// queries and list pages alike), without results, so each answer is consistent in itself: only
/// the history goes backwards.
fn regress_succeeded_tasks(call: &Call, answer: &mut Answer, memory: &mut Memory) {
    if !answer.is_success() || (call.single_query().is_none() && !call.is_list()) {
        return;
    }
    let tasks = tasks_of(answer);
    for task in tasks.into_iter().filter(|t| t["task_status"] == "succeed") {
        let id = task["task_id"].as_str().unwrap_or_default().to_string();
        let n = memory.succeed_answers.entry(id).or_insert(0);
        *n += 1;
        if n.is_multiple_of(2) {
            task["task_status"] = json!("processing");
            task["task_result"] = json!({});
            task["final_unit_deduction"] = json!("0");
        }
    }
}

// ---- identity ------------------------------------------------------------------------------

/// A single query by external id (a path id that is not all digits) answers a `created_at`
/// one millisecond later than the task's.
fn external_id_shifts_created_at(call: &Call, answer: &mut Answer) {
    let by_external = call
        .single_query()
        .is_some_and(|id| !id.bytes().all(|b| b.is_ascii_digit()));
    if by_external
        && answer.is_success()
        && let Some(t) = answer.body["data"]["created_at"].as_i64()
    {
        answer.body["data"]["created_at"] = json!(t + 1);
    }
}

/// A create refused because its `external_task_id` already exists is answered as created.
fn accept_duplicate_external_id(call: &Call, answer: &mut Answer) {
    if call.is_create()
        && answer.code() == Some(1201)
        && answer.message().contains("already exists")
    {
        *answer = Answer::success(created_data(call));
    }
}

// ---- paging --------------------------------------------------------------------------------

/// A list page of two items or more comes back oldest first.
fn reverse_pages(call: &Call, answer: &mut Answer) {
    if call.is_list()
        && let Some(items) = answer
            .body
            .pointer_mut("/data")
            .and_then(Value::as_array_mut)
        && items.len() >= 2
    {
        items.reverse();
    }
}

/// The first (newest) item of every non-empty list page is lost.
fn drop_first_item_of_pages(call: &Call, answer: &mut Answer) {
    if call.is_list()
        && let Some(items) = answer
            .body
            .pointer_mut("/data")
            .and_then(Value::as_array_mut)
        && !items.is_empty()
    {
        items.remove(0);
    }
}

// ---- isolation -----------------------------------------------------------------------------

/// Tasks seen in single queries are remembered; a "Task not found" answer to another account's
/// single query of one of them answers the task instead.
fn leak_task_by_id(call: &Call, answer: &mut Answer, memory: &mut Memory) {
    memory.remember(call, answer);
    let Some(id) = call.single_query() else {
        return;
    };
    if answer.code() == Some(1201)
        && answer.message().starts_with("Task not found")
        && let Some(seen) = memory.tasks.get(id)
        && seen.owner != call.account
        && Some(seen.family) == call.family()
    {
        *answer = Answer::success(seen.task.clone());
    }
}

/// Tasks seen in single queries are remembered; every list page of another account gets them
/// (of the same family) in front.
fn leak_task_into_list(call: &Call, answer: &mut Answer, memory: &mut Memory) {
    memory.remember(call, answer);
    if !call.is_list() || !answer.is_success() {
        return;
    }
    let mut foreign: Vec<Value> = memory
        .tasks
        .iter()
        .filter(|(key, s)| {
            s.owner != call.account
                && Some(s.family) == call.family()
                && s.task["task_id"].as_str() == Some(key.as_str())
        })
        .map(|(_, s)| s.task.clone())
        .collect();
    foreign.sort_by_key(|t| t["task_id"].as_str().map(str::to_string));
    if let Some(items) = answer
        .body
        .pointer_mut("/data")
        .and_then(Value::as_array_mut)
    {
        for t in foreign {
            if !items.iter().any(|i| i["task_id"] == t["task_id"]) {
                items.insert(0, t);
            }
        }
    }
}

// ---- voices --------------------------------------------------------------------------------

/// A refused delete (another account's voice, a preset, ...) is answered as done.
fn delete_voice_always_succeeds(call: &Call, answer: &mut Answer) {
    if call.method == "POST" && call.path == DELETE_VOICES && !answer.is_success() {
        *answer = Answer::success(json!({"task_id": FAKE_TASK_ID, "task_status": "succeed"}));
    }
}

// ---- callbacks -----------------------------------------------------------------------------

/// The create's `callback_url` is replaced by the proxy's relay, which passes the original on.
fn relay_callbacks(body: &mut Value, relay: &str) {
    if let Some(to) = body["callback_url"].as_str().filter(|u| !u.is_empty()) {
        let to: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
        body["callback_url"] = json!(format!("{relay}?to={to}"));
    }
}

/// A terminal single query answers an `updated_at` one millisecond later than the task's (and
/// so than the final callback's).
fn final_query_differs(call: &Call, answer: &mut Answer) {
    if call.single_query().is_some()
        && answer.is_success()
        && matches!(answer.status_of_data(), "succeed" | "failed")
        && let Some(t) = answer.body["data"]["updated_at"].as_i64()
    {
        answer.body["data"]["updated_at"] = json!(t + 1);
    }
}

// ---- media ---------------------------------------------------------------------------------

/// A video-to-audio or lip-sync task's videos are its source video (no sound track), in single
/// queries.
fn silent_video_to_audio(call: &Call, answer: &mut Answer) {
    if call.method != "GET"
        || ![VIDEO_TO_AUDIO, LIP_SYNC]
            .iter()
            .any(|p| call.path.starts_with(&format!("{p}/")))
    {
        return;
    }
    let source = answer.body["data"]["task_info"]["parent_video"]["url"].clone();
    if source.is_null() {
        return;
    }
    for v in answer.body["data"]
        .pointer_mut("/task_result/videos")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        v["url"] = source.clone();
    }
}

/// Every `duration`, `duration_mp3` and `duration_wav` of a result says one second more.
fn stretch_durations(answer: &mut Answer) {
    if !answer.is_success() {
        return;
    }
    for task in tasks_of(answer) {
        let Some(audios) = task
            .pointer_mut("/task_result/audios")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for audio in audios {
            for key in ["duration", "duration_mp3", "duration_wav"] {
                if let Some(d) = audio[key].as_str().and_then(|s| s.parse::<f64>().ok()) {
                    let longer = ((d + 1.0) * 1000.0).round() / 1000.0;
                    audio[key] = json!(longer.to_string());
                }
            }
        }
    }
}

// ---- video ---------------------------------------------------------------------------------

/// A video create the mock refused is answered as created when the oracle, without its
/// capability map, would have accepted it: the refusal was the capability map's.
fn capability_map_not_enforced(call: &Call, answer: &mut Answer) {
    if !(call.is_create() && is_video(&call.path) && answer.status == 400) {
        return;
    }
    let Some((name, _)) = CONTRACT
        .endpoints
        .iter()
        .find(|(_, e)| e.method == "POST" && e.path == call.path)
    else {
        return;
    };
    let skip = Layers {
        rules: true,
        capabilities: false,
    };
    if CONTRACT.judge_with(name, &call.body, skip) == Verdict::Accept {
        *answer = Answer::success(created_data(call));
    }
}

/// Every video of a result loses its `watermark_url`.
fn drop_watermark_url(answer: &mut Answer) {
    drop_from_result_videos(answer, "watermark_url");
}

/// The tasks of an answer: its `data` (a single query), or each item of it (a list).
fn tasks_of(answer: &mut Answer) -> Vec<&mut Value> {
    match &mut answer.body["data"] {
        Value::Array(items) => items.iter_mut().collect(),
        other => vec![other],
    }
}

/// Every video of every task's result in the answer loses its `key`.
fn drop_from_result_videos(answer: &mut Answer, key: &str) {
    for task in tasks_of(answer) {
        for v in task
            .pointer_mut("/task_result/videos")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(o) = v.as_object_mut() {
                o.remove(key);
            }
        }
    }
}

/// A video task in `processing` says `running` (in single queries and lists).
fn video_status_running(call: &Call, answer: &mut Answer) {
    if !is_video(&call.path) || call.method != "GET" {
        return;
    }
    let tasks = tasks_of(answer);
    for task in tasks
        .into_iter()
        .filter(|t| t["task_status"] == "processing")
    {
        task["task_status"] = json!("running");
    }
}

// ---- multi-elements ------------------------------------------------------------------------

/// Every `png_mask.size` of a selection answer is halved (`[h / 2, w / 2]`).
fn png_mask_other_size(call: &Call, answer: &mut Answer) {
    let selection = ["add-selection", "delete-selection"]
        .iter()
        .any(|s| call.path == format!("{MULTI_ELEMENTS}/{s}"));
    if call.method != "POST" || !selection || !answer.is_success() {
        return;
    }
    for m in answer.body["data"]
        .pointer_mut("/res/rle_mask_list")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let half: Vec<Value> = m["png_mask"]["size"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| json!(x.as_u64().unwrap_or(2) / 2))
            .collect();
        m["png_mask"]["size"] = Value::Array(half);
    }
}

/// The videos of multi-elements tasks (single queries and lists) lose their `session_id`.
fn drop_session_id_from_results(call: &Call, answer: &mut Answer) {
    if call.method != "GET" || !call.path.starts_with(MULTI_ELEMENTS) {
        return;
    }
    drop_from_result_videos(answer, "session_id");
}

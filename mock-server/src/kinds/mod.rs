//! One file per task kind: its request type, validation, result, timings and costs.
//!
//! The engine (`crate::engine`) is the same for every kind; a kind says how to read its create
//! request ([`fields`] helps with the Kling field rules), what its result looks like, and how long
//! it takes. Each kind file has one [`KindSpec`] (`SPEC`): its slug, paths, page-size limit,
//! default timings, pool and cost, and its create; [`ALL`] is the registry. Routes, the kind
//! names of the command line, config file and control plane, and the lists of asynchronous kinds
//! are derived from it, so a kind is added in its own file and one entry of [`ALL`]. Its
//! [`KindId`] (its slug) is the key of stored tasks and saved states; its result is a type of its
//! own implementing [`crate::engine::KindResult`], named in its spec ([`ResultType`]) so that a
//! saved state reads it back.

pub mod advanced_element;
pub mod advanced_lip_sync;
pub mod ai_multi_shot;
pub mod avatar;
pub mod custom_element;
pub mod custom_voice;
pub mod doc;
pub mod effects;
pub mod elements;
pub mod faces;
pub mod fields;
pub mod identify_face;
pub mod image;
pub mod image2video;
pub mod image_expand;
pub mod image_recognize;
pub mod images_generations;
pub mod lip_sync;
pub mod motion_control;
pub mod multi_elements;
pub mod multi_image2image;
pub mod multi_image2video;
pub mod omni_image;
pub mod omni_video;
pub mod text2video;
pub mod text_to_audio;
pub mod tts;
pub mod video;
pub mod video_extend;
pub mod video_to_audio;
pub mod virtual_try_on;

use crate::auth::Account;
use crate::engine::billing::Pool;
use crate::engine::downloads::Downloader;
use crate::engine::{Lifecycle, Plan, Progress, Span};
use crate::error::KlingError;
use axum::response::Response;
use serde_json::{Map, Value};

pub use crate::engine::{KindResult, TaskResult};
pub use crate::ids::KindId;

/// The registry: every kind the mock serves, in the order they are listed and routed.
pub static ALL: [&KindSpec; 25] = [
    &custom_voice::SPEC,
    &text_to_audio::SPEC,
    &video_to_audio::SPEC,
    &tts::SPEC,
    &text2video::SPEC,
    &image2video::SPEC,
    &multi_image2video::SPEC,
    &video_extend::SPEC,
    &multi_elements::SPEC,
    &motion_control::SPEC,
    &omni_video::SPEC,
    &effects::SPEC,
    &image_recognize::SPEC,
    &images_generations::SPEC,
    &omni_image::SPEC,
    &multi_image2image::SPEC,
    &image_expand::SPEC,
    &virtual_try_on::SPEC,
    &ai_multi_shot::SPEC,
    &advanced_element::SPEC,
    &custom_element::SPEC,
    &lip_sync::SPEC,
    &identify_face::SPEC,
    &advanced_lip_sync::SPEC,
    &avatar::SPEC,
];

/// Everything the rest of the mock needs to know about a kind.
pub struct KindSpec {
    /// Its key and name (the slug used in `--timing`, `[lifecycle.KIND]`, outcome rules, the
    /// control plane and saved states).
    pub id: KindId,
    /// The create path (`POST`); for an asynchronous kind also its list path (`GET`).
    pub path: &'static str,
    /// Asynchronous (a task to create, query and list) or synchronous (one call, one answer).
    pub mode: Mode,
    /// Largest `pageSize` of its list query.
    pub max_page_size: u32,
    /// Default time in `submitted` and in `processing`.
    pub lifecycle: Lifecycle,
    /// Time in `submitted` and in `processing` under `--timing-profile realistic`: what the
    /// live service takes (its source in the kind's file).
    pub realistic: Lifecycle,
    /// The resource pool it draws on (concurrency and packs).
    pub pool: Pool,
    /// `final_unit_deduction` of a succeeded task.
    pub unit_deduction: &'static str,
    /// Its part of the OpenAPI document (operations' names, its schemas).
    pub doc: fn() -> doc::KindDoc,
    /// Endpoints of its own beside create / query / list (a preset list, a delete, ...).
    pub extras: &'static [Extra],
}

/// An endpoint of a kind's own (a preset catalogue, a delete, a synchronous helper): routed,
/// listed and documented from the registry like the kind's create, query and list.
pub struct Extra {
    /// `GET` (the handler reads the query string) or `POST` (a JSON object body).
    pub method: ExtraMethod,
    /// Its path.
    pub path: &'static str,
    /// What it answers.
    pub handler: ExtraFn,
    /// Its part of the OpenAPI document.
    pub doc: fn() -> doc::ExtraDoc,
}

/// The method of an [`Extra`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraMethod {
    /// Reads the query string.
    Get,
    /// Reads a JSON object body.
    Post,
}

impl ExtraMethod {
    /// `GET` or `POST`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExtraMethod::Get => "GET",
            ExtraMethod::Post => "POST",
        }
    }
}

/// What an [`Extra`] is given besides the caller.
pub enum Input<'a> {
    /// A `GET`'s raw query string.
    Query(Option<&'a str>),
    /// A `POST`'s body.
    Body(&'a Map<String, Value>),
}

/// An [`Extra`]'s handler: the data of the answer (the envelope is added around it), or an error.
pub type ExtraFn = fn(&Ctx<'_>, &Account, Input<'_>) -> Result<Response, KlingError>;

/// Validates a create body of an asynchronous kind.
pub type ParseJob = fn(&Map<String, Value>) -> Result<Box<dyn Job>, KlingError>;
/// Validates a body of a synchronous kind.
pub type ParseCall = fn(&Map<String, Value>) -> Result<Box<dyn Call>, KlingError>;

/// How a kind is called.
pub enum Mode {
    /// A task: `POST path` creates it, `GET query` (with `{id}`) and `GET path` read it.
    Task {
        /// The single-query path, with `{id}` for a task id or external id.
        query: &'static str,
        /// Validate a create body.
        parse: ParseJob,
        /// Its result's type ([`result_type`]).
        result: ResultType,
    },
    /// A synchronous call: `POST path` answers with the finished result.
    Call {
        /// Validate a body.
        parse: ParseCall,
    },
}

/// What a kind may use while it plans a task or answers a call: the parts of the server below
/// the kinds (ids, clock, media, voices, the engine), never the whole shared state.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The mock's clock.
    pub clock: &'a crate::clock::Clock,
    /// The id generator.
    pub ids: &'a crate::ids::IdGen,
    /// The seeded random source (media tokens).
    pub entropy: &'a crate::ids::Entropy,
    /// Served files and generated media ids.
    pub media: &'a crate::media::MediaLibrary,
    /// Official voice catalogues.
    pub voices: &'a crate::voices::VoiceCatalog,
    /// Custom voice id → task.
    pub custom_voices: &'a crate::voices::CustomVoices,
    /// Created elements (advanced and legacy).
    pub elements: &'a crate::elements::Elements,
    /// Sessions of synchronous helpers (multi-elements' selection).
    pub sessions: &'a crate::sessions::Sessions,
    /// The task engine (result URLs' base, billing, other tasks of the caller).
    pub engine: &'a crate::engine::Engine,
}

/// How a saved result of a kind is read back: its type, known to the kind's spec.
#[derive(Clone, Copy)]
pub struct ResultType {
    /// Read a result saved by the store (postcard bytes of the kind's type).
    pub decode: fn(&[u8]) -> Result<TaskResult, String>,
    /// Read a result of a JSON state file (layouts 1 and 2), given the value under its tag.
    pub decode_json: fn(Value) -> Result<TaskResult, String>,
    /// The tag JSON state files wrote it under (`Audios`).
    pub json_tag: &'static str,
}

/// The [`ResultType`] of `T`, written under `json_tag` by the JSON state files of old builds.
pub const fn result_type<T>(json_tag: &'static str) -> ResultType
where
    T: KindResult + serde::de::DeserializeOwned + 'static,
{
    ResultType {
        decode: |b| {
            postcard::from_bytes::<T>(b)
                .map(TaskResult::new)
                .map_err(|e| e.to_string())
        },
        decode_json: |v| {
            serde_json::from_value::<T>(v)
                .map(TaskResult::new)
                .map_err(|e| e.to_string())
        },
        json_tag,
    }
}

/// A validated create request of an asynchronous kind.
pub trait Job: Send {
    /// Its `external_task_id` and `callback_url`.
    fn common(&self) -> &fields::Common;
    /// Check what the request refers to (the caller's own videos, voices, files of the mock)
    /// before anything is created: 400 / 1201 for a reference that does not resolve. Runs after
    /// the body's own rules, and after [`Job::measured`] when foreign images are fetched.
    fn resolve(&mut self, _s: &Ctx<'_>, _account: &Account) -> Result<(), KlingError> {
        Ok(())
    }
    /// The images this request gives by URL and has not measured yet, as (field, URL): `image`,
    /// `image_list[1].image`. With `--fetch-inputs`, those that are not the mock's own media are
    /// downloaded and measured before [`Job::resolve`] ([`fetch_images`]), and each result is
    /// handed to [`Job::measured`]. Default: none.
    fn remote_images(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// What downloading the image of `field` (one of [`Job::remote_images`]) came to: its width
    /// and height, or why the task must fail (the download failed, or the bytes are not a
    /// usable image). The kind takes the size as it takes a Base64 image's: the video's shape,
    /// the size rules that make the task fail. Default: nothing.
    fn measured(&mut self, _field: &str, _result: Result<(u32, u32), String>) {}
    /// The units this task costs when it succeeds, when the request decides it (a video's
    /// model, mode and duration); `None`: the kind's `unit_deduction`. The planned result's
    /// [`KindResult::deduction`] must say the same.
    fn cost(&self) -> Option<f64> {
        None
    }
    /// Concurrency slots the task holds while in flight (1; `n` for an image task of `n`
    /// images). The planned result's [`KindResult::slots`] must say the same.
    fn slots(&self) -> u32 {
        1
    }
    /// What the task will produce, decided when it is created.
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan;
}

/// Download a create's foreign images (`--fetch-inputs`): every [`Job::remote_images`] URL that
/// is not the mock's own (`base`: its base URL; those are left to [`Job::resolve`], never
/// fetched over HTTP), all at once and within one deadline ([`Downloader::get_all`]), each
/// measured as Base64 input is ([`video::inputs::downloaded`]) and handed to [`Job::measured`]
/// in the order the job listed them. A job with none returns at once, without waiting.
pub async fn fetch_images(job: &mut dyn Job, base: &str, downloader: &Downloader) {
    let foreign: Vec<(String, String)> = job
        .remote_images()
        .into_iter()
        .filter(|(_, url)| !video::inputs::is_own(base, url))
        .collect();
    if foreign.is_empty() {
        return;
    }
    let urls: Vec<&str> = foreign.iter().map(|(_, url)| url.as_str()).collect();
    let got = downloader
        .get_all(&urls, video::inputs::MAX_IMAGE_BYTES)
        .await;
    for ((field, url), got) in foreign.iter().zip(got) {
        job.measured(field, video::inputs::downloaded(field, url, got));
    }
}

/// A validated request of a synchronous kind.
pub trait Call: Send {
    /// Answer it. `fail`: an outcome rule made it fail with this message.
    fn answer(
        &self,
        s: &Ctx<'_>,
        account: &Account,
        fail: Option<String>,
    ) -> Result<Response, KlingError>;
}

/// The default lifecycle of every asynchronous kind: short enough for local development (the
/// live custom-voice task takes about 9 s, SOURCES.md: observed voice objects).
pub const DEFAULT_TASK_LIFECYCLE: Lifecycle = Lifecycle {
    submitted: Span::fixed(1000),
    processing: Span::fixed(3000),
    progress: Progress::Time,
};

/// Every kind's lifecycle under `--timing-profile instant`.
pub const INSTANT_LIFECYCLE: Lifecycle = Lifecycle {
    submitted: Span::fixed(0),
    processing: Span::fixed(200),
    progress: Progress::Time,
};

/// A realistic lifecycle: `queued` ms in `submitted` (seeded random from half to all of it),
/// then `work` ms in `processing` (from 80 % to 120 % of it).
pub const fn realistic(queued: u64, work: u64) -> Lifecycle {
    Lifecycle {
        submitted: Span {
            min_ms: queued / 2,
            max_ms: queued,
        },
        processing: Span {
            min_ms: work * 4 / 5,
            max_ms: work * 6 / 5,
        },
        progress: Progress::Time,
    }
}

/// The lifecycle of a synchronous kind (finished when answered).
pub const CALL_LIFECYCLE: Lifecycle = Lifecycle {
    submitted: Span::fixed(0),
    processing: Span::fixed(0),
    progress: Progress::Time,
};

impl KindSpec {
    /// Whether it is an asynchronous kind.
    pub const fn is_task(&self) -> bool {
        matches!(self.mode, Mode::Task { .. })
    }

    /// Its name.
    pub const fn slug(&self) -> &'static str {
        self.id.slug()
    }

    /// What the engine needs to know of it, with the lifecycle `lifecycle`.
    pub fn terms(&self, lifecycle: Lifecycle) -> crate::engine::KindTerms {
        crate::engine::KindTerms {
            lifecycle,
            pool: self.pool,
            cost: self.id.unit_cost(),
        }
    }
}

impl KindId {
    /// This kind's entry of [`ALL`] (`None`: a name this build does not serve, read from a saved
    /// state).
    pub fn known(self) -> Option<&'static KindSpec> {
        ALL.iter().copied().find(|s| s.id == self)
    }

    /// This kind's entry of [`ALL`]. Every `KindId` the mock makes comes from the registry; one
    /// read from a saved state is checked with [`KindId::known`] first.
    pub fn spec(self) -> &'static KindSpec {
        self.known()
            .expect("every KindId in use has its KindSpec in kinds::ALL")
    }

    /// The kinds that run through the asynchronous lifecycle, in registry order.
    pub fn tasks() -> impl Iterator<Item = KindId> {
        ALL.iter().filter(|s| s.is_task()).map(|s| s.id)
    }

    /// The asynchronous kinds' slugs, for messages ("known: custom-voice, text-to-audio").
    pub fn task_slugs() -> String {
        KindId::tasks()
            .map(|k| k.slug())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The asynchronous kind named `slug`, or a message naming the known ones.
    pub fn task_from_slug(slug: &str) -> Result<KindId, String> {
        KindId::from_slug(slug)
            .filter(|k| k.spec().is_task())
            .ok_or_else(|| {
                format!(
                    "unknown task kind '{slug}'; known: {}",
                    KindId::task_slugs()
                )
            })
    }

    /// The kind named `slug`.
    pub fn from_slug(slug: &str) -> Option<KindId> {
        ALL.iter().find(|s| s.slug() == slug).map(|s| s.id)
    }

    /// Default time in `submitted` and in `processing`.
    pub fn default_lifecycle(self) -> Lifecycle {
        self.spec().lifecycle
    }

    /// Largest `pageSize` of this kind's list query.
    pub fn max_page_size(self) -> u32 {
        self.spec().max_page_size
    }

    /// The units a succeeded task costs (its `final_unit_deduction` as a number).
    pub fn unit_cost(self) -> f64 {
        self.unit_deduction().parse().unwrap_or(0.0)
    }

    /// `final_unit_deduction` of a succeeded task.
    pub fn unit_deduction(self) -> &'static str {
        self.spec().unit_deduction
    }

    /// The pool a kind draws on.
    pub fn pool(self) -> Pool {
        self.spec().pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A kind added to the registry must not collide with another: its id, slug and paths are
    /// its own, and its id finds its own entry (a `KindId` left out of `ALL` panics in `spec`).
    #[test]
    fn every_kind_of_the_registry_is_distinct_and_found_by_its_id() {
        let (mut ids, mut slugs, mut paths) = (HashSet::new(), HashSet::new(), HashSet::new());
        for spec in ALL {
            assert!(ids.insert(spec.id), "{:?} registered twice", spec.id);
            assert!(
                slugs.insert(spec.slug()),
                "slug {} taken twice",
                spec.slug()
            );
            assert!(std::ptr::eq(spec.id.spec(), spec), "{:?}", spec.id);
            assert_eq!(KindId::from_slug(spec.slug()), Some(spec.id));
            let mut own = vec![("POST", spec.path)];
            if let Mode::Task { query, .. } = spec.mode {
                own.push(("GET", spec.path));
                own.push(("GET", query));
                assert!(
                    query.starts_with(spec.path) && query.ends_with("/{id}"),
                    "{query}"
                );
            }
            own.extend(spec.extras.iter().map(|e| (e.method.as_str(), e.path)));
            for p in own {
                assert!(paths.insert(p), "{p:?} served twice");
            }
            let doc = (spec.doc)();
            assert!(
                doc.schemas.iter().any(|(n, _)| *n == doc.request),
                "{}",
                spec.slug()
            );
        }
        assert_eq!(
            KindId::task_slugs(),
            "custom-voice, text-to-audio, video-to-audio, text2video, image2video, multi-image2video, video-extend, multi-elements, motion-control, omni-video, effects, image-generation, omni-image, multi-image2image, image-expand, virtual-try-on, ai-multi-shot, advanced-element, lip-sync, advanced-lip-sync, avatar",
            "the asynchronous kinds, in registry order"
        );
    }
}

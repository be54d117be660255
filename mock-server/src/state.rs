//! `AppState`: the handle every handler gets. One `Arc` around everything the server owns.

use crate::auth::Accounts;
use crate::auth::{AccountSpec, AuthMode};
use crate::clock::Clock;
use crate::control::outcomes::Outcomes;
use crate::control::rules::{FaultSpec, Latency};
use crate::elements::Elements;
use crate::engine::billing::AccountPatch;
use crate::engine::downloads::Downloader;
use crate::engine::{CallbackConfig, CallbackFaults, Engine, Lifecycle};
use crate::ids::{Entropy, IdGen};
use crate::kinds::KindId;
use crate::media::MediaLibrary;
use crate::voices::{CustomVoices, VoiceCatalog};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the state is built from, and what the running server keeps of its configuration: the
/// startup rules a reset restores and the switches handlers consult. `crate::config::Config`
/// composes it (`Config::settings`); the state never reads the configuration itself.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seed of every random choice (`None`: drawn from the OS).
    pub seed: Option<u64>,
    /// Accounts at start (never empty: the configuration adds the development account).
    pub accounts: Vec<AccountSpec>,
    /// How tokens are checked.
    pub auth: AuthMode,
    /// Tolerance on `exp` and `nbf`, seconds.
    pub jwt_leeway_secs: u64,
    /// The lifecycle each asynchronous kind starts with (a reset with rules restores it).
    pub lifecycles: Vec<(KindId, Lifecycle)>,
    /// Callback delivery.
    pub callbacks: CallbackConfig,
    /// Download foreign input images at create (`--fetch-inputs`), under the callback rules.
    pub fetch_inputs: bool,
    /// Most tasks stored (0: no cap).
    pub max_tasks: usize,
    /// How long generated media live on the mock's clock (zero: forever).
    pub media_retention: Duration,
    /// Most generated media files, and media ids, kept (0: no cap).
    pub max_media: usize,
    /// Byte budget of the media cache (0: nothing kept).
    pub media_cache_bytes: usize,
    /// Requests kept in the journal (0: off).
    pub journal_size: usize,
    /// HTTP fault rules in force from the start.
    pub faults: Vec<FaultSpec>,
    /// Latency rules in force from the start.
    pub latency: Latency,
    /// Outcome rules in force from the start.
    pub outcomes: Outcomes,
    /// Callback faults in force from the start.
    pub callback_faults: CallbackFaults,
    /// Per-account standing, limits and packs from the start (access key, settings).
    pub account_settings: Vec<(String, AccountPatch)>,
    /// Whether the control plane is served.
    pub control: bool,
    /// When set, the control plane needs `Authorization: Bearer <token>`.
    pub control_token: Option<String>,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// Where the state is saved (`None`: in memory only).
    pub state_file: Option<PathBuf>,
    /// How often the state is saved when it changed.
    pub state_interval: Duration,
}

/// Everything the server owns. Each part guards its own data (dashmaps or short std mutexes), so
/// there is no global lock.
#[derive(Debug)]
pub struct Shared {
    /// What the server keeps of its configuration.
    pub config: Settings,
    /// The mock's clock.
    pub clock: Clock,
    /// The seeded random source.
    pub entropy: Entropy,
    /// The id generator (tasks, audios, voices, videos).
    pub ids: Arc<IdGen>,
    /// Accounts and token checks.
    pub accounts: Accounts,
    /// The task engine.
    pub engine: Arc<Engine>,
    /// Served files and generated media ids.
    pub media: MediaLibrary,
    /// Official voice catalogues.
    pub voices: VoiceCatalog,
    /// Custom voice id → task.
    pub custom_voices: CustomVoices,
    /// Created elements (advanced and legacy).
    pub elements: Elements,
    /// Sessions of synchronous helpers (multi-elements' selection).
    pub sessions: crate::sessions::Sessions,
    /// Control-plane rules (faults, latency, outcomes) and the request journal.
    pub control: crate::control::Control,
    /// Downloads of foreign input images, when `--fetch-inputs` is on (`None`: never fetched).
    pub downloads: Option<Downloader>,
}

impl Shared {
    /// Note every change of what a saved state holds from now on (a store is attached).
    pub fn track_changes(&self) {
        self.engine.track_changes();
        self.custom_voices.dirty.enable();
        self.elements.dirty.enable();
        self.sessions.dirty.enable();
        self.media.added.enable();
    }

    /// The narrow context a kind plans or answers with.
    pub fn kind_ctx(&self) -> crate::kinds::Ctx<'_> {
        crate::kinds::Ctx {
            clock: &self.clock,
            ids: &self.ids,
            entropy: &self.entropy,
            media: &self.media,
            voices: &self.voices,
            custom_voices: &self.custom_voices,
            elements: &self.elements,
            sessions: &self.sessions,
            engine: &self.engine,
        }
    }

    /// Apply the startup `--account-settings` (of one account, or all).
    fn apply_account_settings(&self, only: Option<u32>) {
        let now = self.clock.now_ms();
        for (ak, patch) in &self.config.account_settings {
            match self.accounts.get(ak) {
                Some(a) if only.is_none_or(|o| o == a.idx) => {
                    if let Err(e) = self.engine.billing.patch(a.idx, patch.clone(), now) {
                        tracing::error!(account = %ak, error = %e, "account settings ignored");
                    }
                }
                Some(_) => {}
                None => {
                    tracing::error!(account = %ak, "account settings for an unknown access key ignored")
                }
            }
        }
    }

    /// Forget tasks, voices, elements, sessions, media ids and journal entries of account `idx` (`access_key`), or of
    /// every account; with `rules`, also restore the startup faults, latency, outcomes and
    /// lifecycles.
    pub fn reset(&self, idx: Option<u32>, access_key: Option<&str>, rules: bool) {
        self.engine.reset(idx);
        self.apply_account_settings(idx);
        self.custom_voices.clear(idx);
        self.elements.clear(idx);
        self.sessions.clear(idx);
        self.media.clear_items(idx);
        match access_key {
            Some(ak) => self.control.journal.clear_account(ak),
            None => {
                self.control.journal.clear();
                self.media.retain_files(|t| {
                    self.voices.is_preset_file(t) || crate::kinds::elements::is_preset_file(t)
                });
            }
        }
        if rules {
            self.control.remove_faults(None);
            for f in &self.config.faults {
                let _ = self.control.add_fault(f.clone());
            }
            let _ = self.control.set_latency(self.config.latency.clone());
            let _ = self.control.set_outcomes(self.config.outcomes.clone());
            self.engine.set_callback_faults(self.config.callback_faults);
            for (k, l) in &self.config.lifecycles {
                self.engine.set_lifecycle(*k, *l);
            }
        }
    }
}

impl crate::wire::RequestIds for AppState {
    fn request_id(&self) -> String {
        self.entropy.uuid().to_string()
    }
}

/// Cheap-to-clone handle on [`Shared`].
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Build the state from `config`, with result URLs rooted at `base_url`.
    pub fn new(config: Settings, clock: Clock, base_url: String) -> Self {
        let seed = config.seed.unwrap_or_else(rand::random);
        let ids = Arc::new(IdGen::new(seed));
        let kinds = KindId::tasks().map(|k| {
            let l = config
                .lifecycles
                .iter()
                .find(|(c, _)| *c == k)
                .map_or(k.spec().lifecycle, |(_, l)| *l);
            (k, k.spec().terms(l))
        });
        let engine = Arc::new(Engine::new(
            clock.clone(),
            ids.clone(),
            kinds,
            config.callbacks.clone(),
            seed,
        ));
        engine.set_base_url(base_url);
        engine.set_max_tasks(config.max_tasks);
        let media = MediaLibrary::default();
        let voices = VoiceCatalog::load(&media);
        crate::kinds::elements::register_preset_files(&media);
        media.set_limits(Some(config.media_retention), config.max_media);
        media.set_cache_budget(config.media_cache_bytes);
        let control = crate::control::Control::new(seed, config.journal_size);
        // The startup rules were validated when the configuration was read; a rule refused here
        // is logged, never a panic.
        for f in &config.faults {
            if let Err(e) = control.add_fault(f.clone()) {
                tracing::error!(error = %e, "fault rule ignored");
            }
        }
        if let Err(e) = control.set_latency(config.latency.clone()) {
            tracing::error!(error = %e, "latency rules ignored");
        }
        if let Err(e) = control.set_outcomes(config.outcomes.clone()) {
            tracing::error!(error = %e, "outcome rules ignored");
        }
        engine.set_callback_faults(config.callback_faults);
        let downloads = config
            .fetch_inputs
            .then(|| Downloader::new(&config.callbacks));
        let state = AppState(Arc::new(Shared {
            accounts: Accounts::new(&config.accounts, config.auth, config.jwt_leeway_secs),
            // Request ids and media tokens keyed by every secret key: the seed is not enough.
            entropy: Entropy::keyed(seed, config.accounts.iter().map(|a| a.secret_key.as_str())),
            config,
            clock,
            ids,
            engine,
            media,
            voices,
            custom_voices: CustomVoices::default(),
            elements: Elements::default(),
            sessions: Default::default(),
            control,
            downloads,
        }));
        state.apply_account_settings(None);
        state
    }
}

//! `AppState`: the handle every handler gets. One `Arc` around everything the server owns.

use crate::auth::Accounts;
use crate::clock::Clock;
use crate::config::Config;
use crate::engine::Engine;
use crate::ids::{Entropy, IdGen};
use crate::kinds::KindId;
use crate::media::MediaLibrary;
use crate::voices::{CustomVoices, VoiceCatalog};
use std::ops::Deref;
use std::sync::Arc;

/// Everything the server owns. Each part guards its own data (dashmaps or short std mutexes), so
/// there is no global lock.
#[derive(Debug)]
pub struct Shared {
    /// The configuration the server started with.
    pub config: Config,
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
    /// Build the state for `config`, with result URLs rooted at `base_url`.
    pub fn new(config: Config, clock: Clock, base_url: String) -> Self {
        let seed = config.seed.unwrap_or_else(rand::random);
        let ids = Arc::new(IdGen::new(seed));
        let timings = KindId::ASYNC
            .into_iter()
            .map(|k| (k, config.timing(k)))
            .collect();
        let engine = Arc::new(Engine::new(
            clock.clone(),
            ids.clone(),
            timings,
            config.callbacks,
        ));
        engine.set_base_url(base_url);
        let media = MediaLibrary::default();
        let voices = VoiceCatalog::load(&media);
        AppState(Arc::new(Shared {
            accounts: Accounts::new(
                &config.effective_accounts(),
                config.auth,
                config.jwt_leeway_secs,
            ),
            entropy: Entropy::new(seed),
            config,
            clock,
            ids,
            engine,
            media,
            voices,
            custom_voices: CustomVoices::default(),
        }))
    }
}

//! # kling-mock
//!
//! A stateful mock of the Kling AI API (api-singapore.klingai.com): the same paths, JWT auth,
//! `{code, message, request_id, data}` envelope and error codes, field validation, tasks that move
//! `submitted` → `processing` → `succeed` | `failed`, callbacks, paging, and real, playable media
//! behind every result URL.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let config = kling_mock::Config { bind: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
//! let server = kling_mock::Server::bind(config).await?;
//! println!("listening on {}", server.base_url());
//! server.run(std::future::pending()).await
//! # }
//! ```
//!
//! # Layout
//!
//! Data flows one way: request → auth → kind validation → engine → wire → response. The modules
//! are layered, bottom first, and a module uses only its own layer and those below:
//!
//! 1. `error`, `clock`, `ids`, `churn`, `dirty`;
//! 2. `wire` (the envelope);
//! 3. `auth`, `media`, `voices`, `elements`, `sessions`;
//! 4. `engine` (generic over kinds);
//! 5. `kinds` (one file per kind, and the registry);
//! 6. `control`;
//! 7. `state`, `persist`;
//! 8. `api`, `openapi`, `tls`;
//! 9. `config`, `config_file`, `app`, `embed` (only these compose the configuration).
//!
//! `tests/api/layers.rs` reads the imports from the sources and fails on an import pointing up.
//! The engine knows kinds only by their [`KindId`](ids::KindId) (a slug), the terms the registry
//! hands it (`engine::KindTerms`) and their results as `engine::KindResult` trait objects; kinds
//! plan with a narrow `kinds::Ctx`, not the shared state; the state is built from
//! `state::Settings`, which `Config::settings` composes. The settings' types live with their owners (`auth::AuthMode`, `auth::AccountSpec`,
//! `tls::TlsConfig`, `engine::CallbackConfig`); `config` re-exports them. The control plane's
//! HTTP side (its handlers, the gate, its part of the document) lives with the other handlers
//! in `api::control`.
//!
//! * [`app`]: [`Server`]: bind, router, serve until shutdown.
//! * [`embed`]: [`MockServer`]: the mock inside your own Rust tests (start, token, clock,
//!   faults, journal; stops on drop).
//! * [`config`]: the typed [`Config`] and the command line that fills it; [`config_file`]: the
//!   TOML file and the precedence command line > environment > file > defaults.
//! * [`api`]: thin handlers: the registry's create / query / list for every kind (`api::tasks`),
//!   the few endpoints of their own; extractors that reject in Kling's envelope; the control
//!   plane's JSON API under `/__mock/`, the gate every public request passes and the control
//!   plane's part of the OpenAPI document (`api::control`).
//! * [`auth`]: accounts; `Authorization` header → account or error 1000–1004.
//! * [`kinds`]: one file per task kind (request, validation, result, timings, cost) and the
//!   registry of them all (`kinds::ALL`).
//! * [`engine`]: the generic task engine: store, lifecycle timers, callbacks; the downloads of
//!   foreign inputs (`--fetch-inputs`) under the callback rules.
//! * [`voices`]: official voice catalogues and the custom voice registry.
//! * [`elements`]: the registry of the elements callers create (advanced and legacy).
//! * [`sessions`]: the state synchronous helpers keep between calls (multi-elements' selection).
//! * [`media`]: synthesised WAV/MP3 files, MP4 videos and PNG/JPEG images behind result URLs,
//!   the cache of made files; generated media ids.
//! * [`clock`]: the only source of "now" (real, or frozen and advanced by hand).
//! * [`ids`]: 18-digit ids, kinds' ids, and the one seeded random source.
//! * [`error`], [`wire`]: every error as (HTTP status, code, message); the envelope.
//! * [`control`]: the control plane's rules: HTTP faults, latency, outcome rules and their
//!   decisions, the request journal, transport faults (its HTTP API under `api::control`).
//! * [`openapi`]: the OpenAPI 3.1 document of every endpoint and error (`GET /__mock/openapi.json`).
//! * [`persist`]: `--state-file`: the state in SQLite, written as it changes, read at start.
//! * [`state`]: the shared handle the handlers get, built from `state::Settings`.
//! * [`tls`]: HTTPS: the generated or given certificate and the rustls acceptor.

pub mod api;
pub mod app;
pub mod auth;
mod churn;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod control;
pub mod dirty;
pub mod elements;
pub mod embed;
pub mod engine;
pub mod error;
pub mod ids;
pub mod kinds;
pub mod media;
pub mod openapi;
pub mod persist;
pub mod sessions;
pub mod state;
pub mod tls;
pub mod voices;
pub mod wire;

pub use app::Server;
pub use clock::Clock;
pub use config::{Cli, Config};
pub use control::rules::{FaultSpec, Transport};
pub use embed::MockServer;
pub use error::{Code, KlingError};

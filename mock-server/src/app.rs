//! [`Server`]: bind, build the router, serve until shutdown. The binary, the tests and the
//! contract harness all start the server through this.

use crate::clock::Clock;
use crate::config::Config;
use crate::control::transport::{ConnInfo, FaultyListener};
use crate::engine::lifecycle;
use crate::state::AppState;
use crate::tls::Tls;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

/// A bound, not yet serving, mock server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
    tls: Option<Tls>,
    /// The open state store (`--state-file`).
    store: Option<crate::persist::Store>,
}

impl Server {
    /// Bind `config.bind` (port 0 picks a free port) with the clock the configuration asks
    /// for (`--clock`, `--start-time`).
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let clock = config.make_clock();
        Server::bind_with_clock(config, clock).await
    }

    /// Bind with a given clock (e.g. [`Clock::frozen`] for tests that move time by hand).
    ///
    /// With [`Config::tls`], the certificate is generated (and written out) or loaded here, so
    /// a bad certificate or key fails the bind.
    pub async fn bind_with_clock(config: Config, clock: Clock) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let tls = match &config.tls {
            Some(t) => Some(Tls::prepare(t, config.public_url.as_deref(), addr)?),
            None => None,
        };
        if let Some(t) = &tls {
            log_tls(t, config.public_url.as_deref());
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = match &config.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("{scheme}://{}", display_addr(addr)),
        };
        let state = AppState::new(config.settings(), clock, base);
        // The store restores the state, the clock and the random stream (see `persist`).
        let store = match &state.config.state_file {
            Some(path) => Some(
                crate::persist::Store::open(&state, path)
                    .map_err(std::io::Error::other)?
                    .0,
            ),
            None => None,
        };
        Ok(Server {
            listener,
            state,
            tls,
            store,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// `http://HOST:PORT` of the bound address (an unspecified address shows as 127.0.0.1);
    /// `https://` when serving TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", display_addr(self.local_addr()))
    }

    /// The TLS setup when serving HTTPS: the certificate (PEM) clients should trust and where it
    /// was written ([`Tls::certificate_pem`], [`Tls::certificate_path`]).
    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    /// The server's state (engine, clock, accounts, ...), for in-process control.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves; in-flight requests finish first (a request held by a
    /// `hang` transport fault ends at once, a dribbled body is sent without further pauses).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let driver = tokio::spawn(lifecycle::drive(Arc::downgrade(&self.state.engine)));
        let window = self.state.config.state_interval;
        let saver = self
            .store
            .map(|store| crate::persist::Saver::start(&self.state, store, window));
        let app = crate::api::router(self.state.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let listener = match self.tls {
            Some(tls) => FaultyListener::with_tls(self.listener, tls.acceptor, stop_rx),
            None => FaultyListener::new(self.listener, stop_rx),
        };
        let shutdown = async move {
            shutdown.await;
            stop_tx.send_replace(true);
        };
        let res = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ConnInfo>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        driver.abort();
        // In-flight requests have finished: save what they acknowledged.
        if let Some(saver) = saver {
            saver.finish().await;
        }
        res
    }
}

/// The log line that says where the certificate to trust is (before the ready line).
fn log_tls(t: &Tls, public_url: Option<&str>) {
    let path = t.certificate_path().display();
    if t.is_generated() {
        tracing::info!(
            cert = %path,
            names = %t.names().join(", "),
            "TLS: serving HTTPS with a self-signed certificate generated at start; trust the certificate written to {path} (curl --cacert {path})"
        );
    } else {
        tracing::info!(cert = %path, "TLS: serving HTTPS with the given certificate");
    }
    if let Some(u) = public_url.filter(|u| u.starts_with("http://")) {
        tracing::warn!(
            public_url = u,
            "TLS is on but --public-url starts with http://: media URLs in results will too"
        );
    }
}

fn display_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

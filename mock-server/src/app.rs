//! [`Server`]: bind, build the router, serve until shutdown. The binary, the tests and the
//! contract harness all start the server through this.

use crate::clock::Clock;
use crate::config::Config;
use crate::control::transport::{ConnInfo, FaultyListener};
use crate::engine::lifecycle;
use crate::state::AppState;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

/// A bound, not yet serving, mock server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Bind `config.bind` (port 0 picks a free port) with the clock the configuration asks
    /// for (`--clock`, `--start-time`).
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let clock = config.make_clock();
        Server::bind_with_clock(config, clock).await
    }

    /// Bind with a given clock (e.g. [`Clock::frozen`] for tests that move time by hand).
    pub async fn bind_with_clock(config: Config, clock: Clock) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let base = match &config.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", display_addr(addr)),
        };
        let state = AppState::new(config, clock, base);
        Ok(Server { listener, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// `http://HOST:PORT` of the bound address (an unspecified address shows as 127.0.0.1).
    pub fn base_url(&self) -> String {
        format!("http://{}", display_addr(self.local_addr()))
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
        let app = crate::api::router(self.state.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let listener = FaultyListener::new(self.listener, stop_rx);
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
        res
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

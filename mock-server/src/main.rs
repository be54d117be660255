//! `kling-mock`: parse the configuration, bind, print the ready line, serve until SIGTERM/ctrl-c.

use kling_mock::Server;
use kling_mock::config::{Command, Config, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use std::io::{IsTerminal, Write};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = match kling_mock::config_file::load() {
        Ok(l) if l.print => {
            print!("{}", kling_mock::config_file::to_toml(&l.config));
            return std::process::ExitCode::SUCCESS;
        }
        Ok(l) if l.healthcheck => return healthcheck(&l.config).await,
        Ok(kling_mock::config_file::Loaded {
            command: Some(Command::Token(t)),
            config,
            ..
        }) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            return match t.token(&config, now) {
                Ok(token) => {
                    println!("{token}");
                    std::process::ExitCode::SUCCESS
                }
                Err(msg) => {
                    eprintln!("kling-mock token: {msg}");
                    std::process::ExitCode::from(2)
                }
            };
        }
        Ok(l) => l.config,
        Err(kling_mock::config_file::LoadError::Cli(e)) => e.exit(),
        Err(kling_mock::config_file::LoadError::File(msg)) => {
            eprintln!("kling-mock: {msg}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter())
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter(filter())
            .init();
    }
    if config.control && config.control_token.is_none() && !config.bind.ip().is_loopback() {
        tracing::warn!(
            bind = %config.bind,
            "the control plane (/__mock/) is reachable from other hosts without a token: anyone who can reach the mock can reconfigure it; set --control-token or --no-control"
        );
    }
    let dev_account = config.accounts.is_empty();
    let server = match Server::bind(config).await {
        Ok(s) => s,
        Err(err) => {
            // A bind error, or (with TLS) a certificate that cannot be made, read or written.
            eprintln!("kling-mock: cannot start: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if dev_account {
        tracing::info!(
            access_key = DEV_ACCESS_KEY,
            secret_key = DEV_SECRET_KEY,
            "no --account given: using the development account"
        );
    }
    tracing::info!(seed = server.state().entropy.seed(), "random seed");
    // The ready line: other programs wait for it (also with --bind ...:0, it shows the real port).
    let shutdown = shutdown_signal();
    println!("kling-mock listening on {}", server.base_url());
    let _ = std::io::stdout().flush();
    let engine = server.state().engine.clone();
    let served = server.run(shutdown).await;
    // In-flight requests have finished; give queued callbacks a moment to go out.
    if tokio::time::timeout(std::time::Duration::from_secs(5), engine.callbacks_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            pending = engine.callbacks_pending(),
            "callbacks still pending at exit were dropped"
        );
    }
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kling-mock: server error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--healthcheck`: `GET /__mock/health` on the configured port (over HTTPS with TLS on).
async fn healthcheck(config: &Config) -> std::process::ExitCode {
    let mut addr = config.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    // With TLS, this loopback self-probe accepts any certificate: a generated one may sit at a
    // random path, and a given one need not name 127.0.0.1.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .tls_danger_accept_invalid_certs(config.tls.is_some())
        .build();
    let ok = match client {
        Ok(c) => c
            .get(format!("{scheme}://{addr}/__mock/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    };
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// The shutdown signal (SIGTERM or ctrl-c). The handlers are installed when this is called, not
/// when the future is first polled, so a signal sent right after the ready line is never missed
/// (the default action would kill the process without saving).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = term => {}, _ = int => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}

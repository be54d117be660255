//! `kling-mock`: parse the configuration, bind, print the ready line, serve until SIGTERM/ctrl-c.

use kling_mock::Server;
use kling_mock::config::{Config, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use std::io::{IsTerminal, Write};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = match kling_mock::config_file::load() {
        Ok(l) if l.print => {
            print!("{}", kling_mock::config_file::to_toml(&l.config));
            return std::process::ExitCode::SUCCESS;
        }
        Ok(l) if l.healthcheck => return healthcheck(&l.config).await,
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
            eprintln!("kling-mock: cannot listen: {err}");
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
    println!("kling-mock listening on {}", server.base_url());
    let _ = std::io::stdout().flush();
    let engine = server.state().engine.clone();
    let served = server.run(shutdown_signal()).await;
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

/// `--healthcheck`: `GET /__mock/health` on the configured port.
async fn healthcheck(config: &Config) -> std::process::ExitCode {
    let mut addr = config.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let ok = match client {
        Ok(c) => c
            .get(format!("http://{addr}/__mock/health"))
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

//! Downloads of foreign inputs (`--fetch-inputs`, off by default): the image URLs a create names
//! that are not the mock's own media, fetched before the task is created so that it can take
//! their size and shape (`crate::kinds::fetch_images` says which and measures them).
//!
//! A caller chooses these URLs, as it chooses a `callback_url`, so a download obeys exactly the
//! callback rules (`super::callbacks`, [`super::webhook`]): the same client
//! (`callbacks::guarded_client`: `--callback-connect-timeout`, no redirects, and with `--callback-allow`
//! the resolver that enforces the allow-list and no proxy), the same check of an IP host before
//! connecting, and `--callback-timeout` as the deadline of all of one create's downloads
//! together. A download reads at most `limit` bytes and stops as soon as the body is longer;
//! at most [`DOWNLOAD_SLOTS`] run at once across all creates (each may hold `limit` bytes), the
//! wait for a slot counting against the deadline. Everything is async on the request's task: no
//! worker thread blocks, and a create with nothing to download never gets here.

use super::callbacks::{
    CallbackConfig, error_text, guarded_client, refusal, refused_before_connect,
};
use super::webhook::CallbackAllow;
use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Most downloads in flight at once, across all creates. Each may hold up to its limit (10 MB
/// for an image) until it is measured, so this bounds the memory a burst of creates can take.
pub const DOWNLOAD_SLOTS: usize = 16;

/// Why a download gave no usable body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The allow-list (`--callback-allow`) refused the host, before connecting or when it was
    /// resolved.
    #[error("blocked: {0}")]
    Blocked(String),
    /// The server answered with this status (neither 2xx nor 3xx).
    #[error("HTTP {0}")]
    Status(u16),
    /// The server answered with a redirect, which is never followed.
    #[error("HTTP {0}, a redirect (redirects are not followed)")]
    Redirect(u16),
    /// The body is longer than the limit (this many bytes).
    #[error("larger than {}", size_text(*.0))]
    TooBig(usize),
    /// No whole answer before the deadline (`--callback-timeout`).
    #[error("no complete answer within {} (callback timeout)", humantime::format_duration(*.0))]
    TimedOut(Duration),
    /// No answer: a refused connection, a connect timeout, a bad URL, TLS...
    #[error("{0}")]
    Transport(String),
}

/// `limit` bytes as the image rules write sizes (`10MB`).
fn size_text(limit: usize) -> String {
    const MB: usize = 1024 * 1024;
    if limit >= MB && limit.is_multiple_of(MB) {
        format!("{}MB", limit / MB)
    } else {
        format!("{limit} bytes")
    }
}

/// The downloader: built once at start when `--fetch-inputs` is on, from the callback settings.
#[derive(Debug)]
pub struct Downloader {
    /// The guarded client (`Err`: why it could not be built; every download then fails so).
    client: Result<reqwest::Client, String>,
    /// Checked against an IP host before connecting (the client's resolver checks names).
    allow: CallbackAllow,
    /// Connect timeout (named in its error's text).
    connect_timeout: Duration,
    /// Deadline of one create's downloads, from when they start.
    timeout: Duration,
    /// Downloads in flight ([`DOWNLOAD_SLOTS`]).
    slots: Semaphore,
}

impl Downloader {
    /// A downloader bound by the callback rules of `cfg`.
    pub fn new(cfg: &CallbackConfig) -> Downloader {
        let client = guarded_client(cfg)
            .map_err(|e| format!("the download HTTP client could not be built: {e}"));
        if let Err(err) = &client {
            tracing::error!(%err, "no foreign input will be downloaded");
        }
        Downloader {
            client,
            allow: cfg.allow.clone(),
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            slots: Semaphore::new(DOWNLOAD_SLOTS),
        }
    }

    /// Download every URL of `urls` at once, each body at most `limit` bytes, all within one
    /// deadline; the results in the order of `urls`.
    pub async fn get_all(&self, urls: &[&str], limit: usize) -> Vec<Result<Bytes, DownloadError>> {
        let deadline = Instant::now() + self.timeout;
        futures_util::future::join_all(urls.iter().map(|url| self.get(url, limit, deadline))).await
    }

    /// One download, given up at `deadline`.
    async fn get(
        &self,
        url: &str,
        limit: usize,
        deadline: Instant,
    ) -> Result<Bytes, DownloadError> {
        let got = tokio::time::timeout_at(deadline, async {
            // The semaphore is never closed: a permit always comes.
            let _slot = self.slots.acquire().await.ok();
            self.fetch(url, limit).await
        })
        .await
        .unwrap_or(Err(DownloadError::TimedOut(self.timeout)));
        if let Err(err) = &got {
            tracing::info!(url, %err, "input download failed");
        }
        got
    }

    /// Send the request and read the body, stopping as soon as it is longer than `limit`.
    async fn fetch(&self, url: &str, limit: usize) -> Result<Bytes, DownloadError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| DownloadError::Transport(e.clone()))?;
        let url = reqwest::Url::parse(url)
            .map_err(|e| DownloadError::Transport(format!("not a valid URL: {e}")))?;
        if let Some(why) = refused_before_connect(&self.allow, &url) {
            return Err(DownloadError::Blocked(why));
        }
        let mut res = client
            .get(url)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = res.status();
        if status.is_redirection() {
            return Err(DownloadError::Redirect(status.as_u16()));
        }
        if !status.is_success() {
            return Err(DownloadError::Status(status.as_u16()));
        }
        if res.content_length().is_some_and(|n| n > limit as u64) {
            return Err(DownloadError::TooBig(limit));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| self.transport_error(e))? {
            if body.len() + chunk.len() > limit {
                // Dropping the response closes the connection: nothing more is read.
                return Err(DownloadError::TooBig(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// What a transport error means: the allow-list's refusal (when the host was resolved), a
    /// connect timeout, or the error's own text (without the URL, which the caller names).
    fn transport_error(&self, err: reqwest::Error) -> DownloadError {
        if let Some(why) = refusal(&err) {
            return DownloadError::Blocked(why);
        }
        let connect_timeout = err.is_connect() && err.is_timeout();
        let text = error_text(&err.without_url());
        DownloadError::Transport(if connect_timeout {
            format!(
                "connect timed out: no connection within {} (callback connect timeout): {text}",
                humantime::format_duration(self.connect_timeout)
            )
        } else {
            text
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_the_reason_of_a_failed_task() {
        assert_eq!(DownloadError::Status(404).to_string(), "HTTP 404");
        assert_eq!(
            DownloadError::TooBig(10 * 1024 * 1024).to_string(),
            "larger than 10MB"
        );
        assert_eq!(
            DownloadError::TooBig(1000).to_string(),
            "larger than 1000 bytes"
        );
        assert_eq!(
            DownloadError::TimedOut(Duration::from_secs(10)).to_string(),
            "no complete answer within 10s (callback timeout)"
        );
    }

    #[tokio::test]
    async fn an_ip_host_outside_the_allow_list_is_refused_before_connecting() {
        let cfg = CallbackConfig {
            allow: "10.9.9.9".parse().unwrap(),
            ..CallbackConfig::default()
        };
        let d = Downloader::new(&cfg);
        // Port 9 of a TEST-NET address: nothing would answer, and nothing is sent.
        let got = d.get_all(&["http://192.0.2.1:9/a.png"], 100).await;
        match &got[..] {
            [Err(DownloadError::Blocked(why))] => {
                assert!(
                    why.contains("192.0.2.1") && why.contains("10.9.9.9"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}

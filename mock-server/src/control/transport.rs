//! Transport faults on the wire: what a fault rule with a [`Transport`] does to the connection.
//!
//! * [`FaultyListener`] is the TCP listener [`Server::run`](crate::Server::run) serves on. Each
//!   connection's stream ([`FaultyStream`]) shares a [`Conn`] handle with the requests it carries
//!   (through [`ConnInfo`], the connect info of the router), so a request can cut its own
//!   connection: `no_answer` (reset, close, hang) makes the next write fail, and hyper then drops
//!   the connection: with `SO_LINGER` 0 (RST) for a reset, after an orderly `shutdown` (FIN) for a
//!   close. Not a byte of the response leaves.
//! * [`shape`] is the outermost middleware: for a response the `gate` marked with `Shape`
//!   (truncate, dribble) it takes the final bytes (envelope written) and sends them short or
//!   slowly.
//!
//! Served some other way (no [`ConnInfo`], e.g. `tower::ServiceExt::oneshot`), a reset, close or
//! hang answers with a body that fails at once: hyper then drops the connection before the
//! response head is flushed, so the client sees a close without a response.
//!
//! Over TLS ([`FaultyListener::with_tls`]) the cut acts on the TCP connection under the TLS
//! session: the session's next record write fails, and the socket is reset or closed as above
//! (no `close_notify`). Handshakes run in their own tasks, each bounded by
//! [`TLS_HANDSHAKE_TIMEOUT`], so a slow or silent client never holds up the accept loop, and a
//! failed handshake only ends its own connection.

use super::rules::Transport;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a truncated body waits for its prefix to leave before it cuts the connection.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// How long a client has to complete the TLS handshake before its connection is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken TLS connections waiting for the server to take them.
const TLS_READY_QUEUE: usize = 64;

/// The mock's listener: every accepted stream carries a [`Conn`] handle.
#[derive(Debug)]
pub struct FaultyListener {
    source: Source,
    shutdown: watch::Receiver<bool>,
}

#[derive(Debug)]
enum Source {
    /// Plain TCP: connections are taken as accepted.
    Plain(TcpListener),
    /// TLS: a task accepts TCP connections and hands each to a handshake task; finished
    /// handshakes arrive here.
    Tls {
        local: Option<SocketAddr>,
        ready: mpsc::Receiver<(FaultyStream, SocketAddr)>,
        _acceptor: AbortOnDrop,
    },
}

/// Stops the TLS accept task when the listener goes (the server stopped accepting).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl FaultyListener {
    /// Wrap a bound listener. `shutdown` turns `true` when the server shuts down (a dropped
    /// sender counts too): hangs end then, and dribbles send the rest at once.
    pub fn new(inner: TcpListener, shutdown: watch::Receiver<bool>) -> FaultyListener {
        FaultyListener {
            source: Source::Plain(inner),
            shutdown,
        }
    }

    /// Wrap a bound listener and serve TLS on it with `acceptor`. Each connection's handshake
    /// runs in its own task (at most [`TLS_HANDSHAKE_TIMEOUT`]); a failed one is logged and
    /// dropped. Must be called inside a Tokio runtime.
    pub fn with_tls(
        inner: TcpListener,
        acceptor: TlsAcceptor,
        shutdown: watch::Receiver<bool>,
    ) -> FaultyListener {
        let local = inner.local_addr().ok();
        let (tx, ready) = mpsc::channel(TLS_READY_QUEUE);
        let task = tokio::spawn(accept_tls(inner, acceptor, shutdown.clone(), tx));
        FaultyListener {
            source: Source::Tls {
                local,
                ready,
                _acceptor: AbortOnDrop(task),
            },
            shutdown,
        }
    }
}

/// The TLS accept loop: take TCP connections, handshake each in its own task.
async fn accept_tls(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    shutdown: watch::Receiver<bool>,
    tx: mpsc::Sender<(FaultyStream, SocketAddr)>,
) {
    loop {
        // TcpListener's own `Listener::accept` logs and retries accept errors.
        let (stream, addr) = tokio::select! {
            accepted = Listener::accept(&mut tcp) => accepted,
            () = tx.closed() => return,
        };
        let conn = Conn::new(shutdown.clone());
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let tcp = CutStream {
                inner: stream,
                conn: conn.clone(),
            };
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let done = tokio::select! {
                done = handshake => done,
                () = tx.closed() => return,
            };
            match done {
                Ok(Ok(tls)) => {
                    let io = Io::Tls(Box::new(tls));
                    // An error: the server stopped accepting; the connection just goes.
                    let _ = tx.send((FaultyStream { io, conn }, addr)).await;
                }
                Ok(Err(err)) => tracing::info!(peer = %addr, %err, "TLS handshake failed"),
                Err(_) => tracing::info!(
                    peer = %addr,
                    timeout = ?TLS_HANDSHAKE_TIMEOUT,
                    "TLS handshake timed out"
                ),
            }
        });
    }
}

impl Listener for FaultyListener {
    type Io = FaultyStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FaultyStream, SocketAddr) {
        match &mut self.source {
            Source::Plain(tcp) => {
                // TcpListener's own `Listener::accept` logs and retries accept errors.
                let (inner, addr) = Listener::accept(tcp).await;
                let conn = Conn::new(self.shutdown.clone());
                let tcp = CutStream {
                    inner,
                    conn: conn.clone(),
                };
                (
                    FaultyStream {
                        io: Io::Plain(tcp),
                        conn,
                    },
                    addr,
                )
            }
            Source::Tls { ready, .. } => match ready.recv().await {
                Some(next) => next,
                // The accept task only ends when this listener is dropped.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.source {
            Source::Plain(tcp) => tcp.local_addr(),
            Source::Tls { local, .. } => {
                local.ok_or_else(|| io::Error::other("the listener's address is unknown"))
            }
        }
    }
}

const INTACT: u8 = 0;
const CLOSE: u8 = 1;
const RESET: u8 = 2;
const DEAD: u8 = 3;

/// What the requests of one connection can do to it.
#[derive(Debug)]
pub struct Conn {
    cut: AtomicU8,
    /// Woken whenever the stream was flushed (hyper flushes after writing all it buffered).
    flushed: Notify,
    shutdown: watch::Receiver<bool>,
}

impl Conn {
    fn new(shutdown: watch::Receiver<bool>) -> Arc<Conn> {
        Arc::new(Conn {
            cut: AtomicU8::new(INTACT),
            flushed: Notify::new(),
            shutdown,
        })
    }

    /// From now on every write fails, so hyper drops the connection; `reset`: with an RST.
    fn cut(&self, reset: bool) {
        self.cut
            .store(if reset { RESET } else { CLOSE }, Ordering::SeqCst);
    }

    /// Resolves when the server shuts down.
    async fn shutdown(&self) {
        let mut rx = self.shutdown.clone();
        // An error means the sender is gone: the server is gone too.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleep `d`, or less if the server shuts down meanwhile.
    async fn sleep(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.shutdown() => {}
        }
    }
}

/// The connect info of the mock's router: the peer and the connection handle.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    conn: Arc<Conn>,
}

impl Connected<IncomingStream<'_, FaultyListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, FaultyListener>) -> Self {
        ConnInfo {
            remote: *stream.remote_addr(),
            conn: stream.io().conn.clone(),
        }
    }
}

/// A connection the mock serves (plain TCP or TLS over TCP) whose writes fail once a request
/// cut it.
#[derive(Debug)]
pub struct FaultyStream {
    io: Io,
    conn: Arc<Conn>,
}

#[derive(Debug)]
enum Io {
    Plain(CutStream),
    Tls(Box<TlsStream<CutStream>>),
}

impl AsyncRead for FaultyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TCP stream under a [`FaultyStream`] (under the TLS session, if any): its writes fail
/// once a request cut the connection.
#[derive(Debug)]
struct CutStream {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl CutStream {
    /// `Some(error)` once the connection is cut. The first call prepares the socket: `SO_LINGER`
    /// 0 for a reset (the drop then sends RST), for a close the unread input drained (closing
    /// with unread input would send RST too) and the write side shut down (FIN).
    fn check_cut(&mut self) -> Option<io::Error> {
        let (kind, msg) = match self.conn.cut.load(Ordering::SeqCst) {
            INTACT => return None,
            RESET => {
                let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
                (io::ErrorKind::ConnectionReset, "transport fault: reset")
            }
            CLOSE => {
                let mut buf = [0u8; 4096];
                for _ in 0..256 {
                    match self.inner.try_read(&mut buf) {
                        Ok(n) if n > 0 => continue,
                        _ => break,
                    }
                }
                let _ = socket2::SockRef::from(&self.inner).shutdown(Shutdown::Write);
                (io::ErrorKind::ConnectionAborted, "transport fault: close")
            }
            _ => (
                io::ErrorKind::NotConnected,
                "transport fault: connection cut",
            ),
        };
        // The socket is prepared; later calls only fail.
        self.conn.cut.store(DEAD, Ordering::SeqCst);
        Some(io::Error::new(kind, msg))
    }
}

impl AsyncRead for CutStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.check_cut() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.check_cut() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.check_cut() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            this.conn.flushed.notify_waiters();
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // After a reset an orderly shutdown would send FIN first; after a close it is done.
        if let Some(e) = this.check_cut() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The connection handle of a request, if it came through a [`FaultyListener`].
fn conn_of(req: &Request) -> Option<Arc<Conn>> {
    req.extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|c| c.0.conn.clone())
}

/// The request's connection, taken before the request moves on (for `no_answer`).
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle(Option<Arc<Conn>>);

impl ConnHandle {
    pub(crate) fn of(req: &Request) -> ConnHandle {
        ConnHandle(conn_of(req))
    }
}

/// A reset, close or hang: hold the request for a hang, then cut the connection. The returned
/// response never reaches the client.
pub(crate) async fn no_answer(t: Transport, conn: ConnHandle) -> Response {
    if let Transport::Hang { ms } = t {
        let d = Duration::from_millis(ms);
        match &conn.0 {
            Some(c) => c.sleep(d).await,
            None => tokio::time::sleep(d).await,
        }
    }
    match conn.0 {
        Some(c) => {
            c.cut(matches!(t, Transport::Reset));
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        None => {
            let fail = futures_util::stream::once(async move {
                Err::<Bytes, _>(io::Error::other(format!(
                    "transport fault: {} (no connection handle: closing)",
                    t.kind()
                )))
            });
            (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(fail)).into_response()
        }
    }
}

/// Response marker: send this answer's final bytes truncated or dribbled (see [`shape`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape(pub(crate) Transport);

/// Middleware, outermost: gives a response marked with `Shape` its truncated or dribbled
/// body, with the `Content-Length` of the whole body.
pub async fn shape(req: Request, next: Next) -> Response {
    let conn = conn_of(&req);
    let mut resp = next.run(req).await;
    let Some(Shape(t)) = resp.extensions_mut().remove::<Shape>() else {
        return resp;
    };
    let (mut parts, body) = resp.into_parts();
    let full = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(err) => {
            tracing::error!(%err, "could not read a body to shape");
            let fail = futures_util::stream::once(async move { Err::<Bytes, _>(err) });
            return Response::from_parts(parts, Body::from_stream(fail));
        }
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    let body = match t {
        Transport::Truncate { keep } => truncated(full, keep, conn),
        Transport::Dribble { bytes, every_ms } => {
            dribbled(full, bytes, Duration::from_millis(every_ms), conn)
        }
        Transport::Reset | Transport::Close | Transport::Hang { .. } => Body::from(full),
    };
    Response::from_parts(parts, body)
}

/// The first `keep` bytes (default half, always fewer than all), then the connection is dropped.
fn truncated(full: Bytes, keep: Option<usize>, conn: Option<Arc<Conn>>) -> Body {
    let keep = keep
        .unwrap_or(full.len() / 2)
        .min(full.len().saturating_sub(1));
    let head = full.slice(..keep);
    enum Step {
        Prefix(Bytes),
        Cut,
        Done,
    }
    let first = if head.is_empty() {
        Step::Cut
    } else {
        Step::Prefix(head)
    };
    let stream = futures_util::stream::unfold(first, move |step| {
        let conn = conn.clone();
        async move {
            match step {
                Step::Prefix(head) => Some((Ok(head), Step::Cut)),
                Step::Cut => {
                    // A body error drops the connection at once, with whatever hyper still
                    // buffers: first let the head and the prefix leave.
                    match conn {
                        Some(c) => {
                            let _ = tokio::time::timeout(FLUSH_WAIT, c.flushed.notified()).await;
                        }
                        None => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                    let cut = io::Error::other("transport fault: truncated body");
                    Some((Err(cut), Step::Done))
                }
                Step::Done => None,
            }
        }
    });
    Body::from_stream(stream)
}

/// The whole body, `bytes` at a time, `every` between chunks (no pauses after a shutdown).
fn dribbled(full: Bytes, bytes: usize, every: Duration, conn: Option<Arc<Conn>>) -> Body {
    let bytes = bytes.max(1);
    let stream = futures_util::stream::unfold((full, true), move |(mut rest, first)| {
        let conn = conn.clone();
        async move {
            if rest.is_empty() {
                return None;
            }
            if !first {
                match conn {
                    Some(c) => c.sleep(every).await,
                    None => tokio::time::sleep(every).await,
                }
            }
            let chunk = rest.split_to(bytes.min(rest.len()));
            Some((Ok::<_, io::Error>(chunk), (rest, false)))
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn frames(body: Body) -> (Vec<Bytes>, bool) {
        let mut body = body;
        let mut out = Vec::new();
        while let Some(f) = body.frame().await {
            match f {
                Ok(f) => out.extend(f.into_data().ok()),
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    #[tokio::test]
    async fn truncation_keeps_a_strict_prefix_then_fails() {
        let full = Bytes::from_static(b"0123456789");
        let (got, failed) = frames(truncated(full.clone(), None, None)).await;
        assert_eq!((got, failed), (vec![Bytes::from_static(b"01234")], true));
        let (got, failed) = frames(truncated(full.clone(), Some(3), None)).await;
        assert_eq!((got, failed), (vec![Bytes::from_static(b"012")], true));
        let (got, failed) = frames(truncated(full.clone(), Some(99), None)).await;
        assert_eq!(
            (got, failed),
            (vec![Bytes::from_static(b"012345678")], true)
        );
        let (got, failed) = frames(truncated(full, Some(0), None)).await;
        assert_eq!((got.len(), failed), (0, true));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_connection_handle_no_answer_is_a_failing_body() {
        for t in [
            Transport::Reset,
            Transport::Close,
            Transport::Hang { ms: 1000 },
        ] {
            let resp = no_answer(t, ConnHandle(None)).await;
            let (got, failed) = frames(resp.into_body()).await;
            assert!(got.is_empty() && failed, "{t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn dribbling_sends_everything_in_chunks() {
        let full = Bytes::from_static(b"0123456789");
        let (got, failed) = frames(dribbled(full, 4, Duration::from_millis(10), None)).await;
        assert!(!failed);
        assert_eq!(got, [&b"0123"[..], b"4567", b"89"]);
    }
}

//! Hostile input: on the wire (see `mod.rs`).

use super::*;

/// One answer read back from the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    /// The Kling envelope (checked: documented code, its HTTP status, request id, no data on
    /// errors): HTTP status and code.
    Envelope(u16, u32),
    /// hyper's own answer to bytes it could not parse: a status, no body, no Content-Type. Our
    /// code never ran.
    Bare(u16),
    /// An answer to `HEAD`: a status and a `Content-Length`, no body.
    Head(u16),
    /// A success of a raw route: media bytes (`/files`) or the OpenAPI document.
    Raw,
    /// An answer whose body the connection's end cut short: hyper closes at once on a malformed
    /// pipelined request, and the unread bytes left in the socket make the kernel reset the
    /// connection, which can drop the tail of the answer before (no lingering close).
    Cut(u16),
}

/// Parse every HTTP/1.1 response in `raw` (interim 1xx answers skipped).
pub(super) fn parse_wire(raw: &[u8]) -> Result<Vec<Wire>, String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                format!(
                    "a response head without its end: {:?}",
                    String::from_utf8_lossy(rest)
                )
            })?;
        let head = std::str::from_utf8(&rest[..end]).map_err(|e| format!("head not UTF-8: {e}"))?;
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if (100..200).contains(&status) {
            continue;
        }
        let body: Vec<u8> = if let Some(n) = header("content-length") {
            let n: usize = n.parse().map_err(|_| format!("bad content-length {n:?}"))?;
            if n > 0 && (rest.is_empty() || rest.starts_with(b"HTTP/1.")) {
                // The body-less answer to a HEAD request.
                out.push(Wire::Head(status));
                continue;
            }
            if rest.len() < n {
                // The connection ended inside this body: nothing can follow.
                out.push(Wire::Cut(status));
                break;
            }
            let (b, r) = rest.split_at(n);
            rest = r;
            b.to_vec()
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let eol = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .ok_or("a chunk size without its line end")?;
                let size = std::str::from_utf8(&rest[..eol])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                    .ok_or("a bad chunk size")?;
                rest = &rest[eol + 2..];
                if size == 0 {
                    rest = rest.get(2..).unwrap_or_default();
                    break;
                }
                body.extend_from_slice(rest.get(..size).ok_or("a short chunk")?);
                rest = rest.get(size + 2..).unwrap_or_default();
            }
            body
        } else {
            std::mem::take(&mut rest).to_vec()
        };
        let ct = header("content-type");
        let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        if body.is_empty() && ct.is_none() {
            out.push(Wire::Bare(status));
            continue;
        }
        if status == 200 && ct.is_some_and(|c| c.starts_with("audio/")) {
            out.push(Wire::Raw);
            continue;
        }
        if ct != Some("application/json") {
            return Err(format!("{status} with Content-Type {ct:?}: {:?}", shown()));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{status}: body not JSON ({e}): {:?}", shown()))?;
        if status == 200 && v.get("openapi").is_some() {
            out.push(Wire::Raw);
            continue;
        }
        let code = v["code"].as_u64().ok_or_else(|| format!("no code: {v}"))? as u32;
        let rid = v["request_id"].as_str().unwrap_or("");
        if uuid::Uuid::parse_str(rid).map(|u| u.get_version_num()) != Ok(4) {
            return Err(format!("request_id is not a UUID v4: {v}"));
        }
        if v["message"].as_str().is_none_or(str::is_empty) {
            return Err(format!("no message: {v}"));
        }
        let table = if code == 0 {
            Some(200)
        } else {
            Code::from_number(code).map(|c| c.status().as_u16())
        };
        if table != Some(status) || (code == 0) != v.get("data").is_some() {
            return Err(format!("{status} does not fit the envelope {v}"));
        }
        out.push(Wire::Envelope(status, code));
    }
    Ok(out)
}

/// Write `bytes` on a new connection, close our writing side, and read until the server closes.
/// `Err` when the server neither answers nor closes in 10 s (a guard, not a sleep).
pub(super) async fn exchange(addr: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    // The server may answer and close before it read everything: write errors are expected.
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| "the server neither answered nor closed the connection in 10 s".to_string())?;
    Ok(out)
}

/// A mock with the control token on 127.0.0.1:0, its address and its state.
pub(super) async fn wire_server() -> (String, AppState) {
    let mut c = crate::helpers::config();
    c.control_token = Some(CONTROL_TOKEN.into());
    let app = crate::helpers::spawn_with(c).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    (addr, app.state)
}

#[tokio::test]
pub(super) async fn malformed_http_gets_hypers_bare_answer_and_everything_else_the_envelope() {
    use Wire::{Bare, Envelope};
    let (addr, state) = wire_server().await;
    let token = crate::helpers::token(AK, SK);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let json = "Content-Type: application/json\r\n";
    let close = "Host: mock\r\nConnection: close\r\n";
    let head = |line: &str, headers: &str| format!("{line}\r\n{headers}{close}\r\n").into_bytes();
    let with_body =
        |line: &str, headers: &str, body: &[u8]| [head(line, headers), body.to_vec()].concat();
    let big = vec![b' '; 2 * 1024 * 1024 + 1];
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "b".repeat(512 * 1024));
    let t2a = "/v1/audio/text-to-audio";
    let cases: Vec<(&str, Vec<u8>, Vec<Wire>)> = vec![
        // Not HTTP at all.
        ("garbage", b"HELLO THERE\r\n\r\n".to_vec(), vec![Bare(400)]),
        (
            "binary",
            vec![0, 1, 2, 255, 254, b'\r', b'\n', b'\r', b'\n'],
            vec![Bare(400)],
        ),
        (
            "a TLS ClientHello",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
            vec![Bare(400)],
        ),
        // hyper (HTTP/1 only) recognises the HTTP/2 preface and closes without a word.
        (
            "the HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            vec![],
        ),
        (
            "HTTP/9.9",
            head(&format!("GET {t2a} HTTP/9.9"), &auth),
            vec![Bare(400)],
        ),
        (
            "a request line with 4 parts",
            head(&format!("GET {t2a} HTTP/1.1 x"), &auth),
            vec![Bare(400)],
        ),
        (
            "a doubled space",
            head(&format!("GET  {t2a} HTTP/1.1"), &auth),
            vec![Bare(400)],
        ),
        (
            "a method with a bad character",
            head(&format!("GE(T {t2a} HTTP/1.1"), &auth),
            vec![Bare(400)],
        ),
        (
            "raw invalid UTF-8 in the path",
            [
                b"GET /v1/audio/text-to-audio/\xff\xfe HTTP/1.1\r\n".to_vec(),
                auth.as_bytes().to_vec(),
                close.as_bytes().to_vec(),
                b"\r\n".to_vec(),
            ]
            .concat(),
            vec![Bare(400)],
        ),
        (
            "a raw space in the path",
            head("GET /v1/audio/text to audio HTTP/1.1", &auth),
            vec![Bare(400)],
        ),
        (
            "a header name with a space",
            head(&format!("GET {t2a} HTTP/1.1"), "Bad Header: x\r\n"),
            vec![Bare(400)],
        ),
        (
            "a header line without a colon",
            head(&format!("GET {t2a} HTTP/1.1"), "NoColon\r\n"),
            vec![Bare(400)],
        ),
        (
            "a NUL in a header value",
            head(&format!("GET {t2a} HTTP/1.1"), "X-A: a\0b\r\n"),
            vec![Bare(400)],
        ),
        (
            "an obsolete folded header",
            head(&format!("GET {t2a} HTTP/1.1"), "X-A: a\r\n b\r\n"),
            vec![Bare(400)],
        ),
        (
            "two different Content-Lengths",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 2\r\nContent-Length: 3\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "a Content-Length that is not a number",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: abc\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "a negative Content-Length",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: -1\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "Transfer-Encoding gzip only",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: gzip\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "a header line over the limit",
            head(&format!("GET {t2a} HTTP/1.1"), &huge_header),
            vec![Bare(431)],
        ),
        (
            "150 headers",
            head(&format!("GET {t2a} HTTP/1.1"), &many_headers),
            vec![Bare(431)],
        ),
        (
            "a 70 KB path",
            head(&format!("GET /{} HTTP/1.1", "a".repeat(70_000)), &auth),
            vec![Bare(414)],
        ),
        // Parsed by hyper: our router answers, in the envelope.
        (
            "an odd method",
            head("PROPFIND /v1/audio/tts HTTP/1.1", &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "a lowercase method",
            head(&format!("get {t2a} HTTP/1.1"), &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "a long custom method",
            head(&format!("{} {t2a} HTTP/1.1", "X".repeat(200)), &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "TRACE",
            head(&format!("TRACE {t2a} HTTP/1.1"), &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "OPTIONS *",
            head("OPTIONS * HTTP/1.1", &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "CONNECT host:port",
            head("CONNECT example.com:443 HTTP/1.1", &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "an absolute URI",
            head(&format!("GET http://example.com{t2a} HTTP/1.1"), &auth),
            vec![Envelope(200, 0)],
        ),
        (
            "a 8 KB path",
            head(&format!("GET /{} HTTP/1.1", "a".repeat(8_000)), &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "percent-encoded invalid UTF-8 in an id",
            head(&format!("GET {t2a}/%FF%FE HTTP/1.1"), &auth),
            vec![Envelope(400, 1201)],
        ),
        (
            "a percent-encoded NUL id",
            head(&format!("GET {t2a}/%00 HTTP/1.1"), &auth),
            vec![Envelope(400, 1201)],
        ),
        (
            // Routed as the single-slash path (KwaiVGI's try-on queries need it).
            "a doubled slash",
            head(&format!("GET /{t2a} HTTP/1.1"), &auth),
            vec![Envelope(200, 0)],
        ),
        (
            "a dot segment",
            head("GET /v1/audio/../audio/text-to-audio HTTP/1.1", &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "invalid UTF-8 in Authorization",
            [
                b"GET /v1/audio/text-to-audio HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n"
                    .to_vec(),
                close.as_bytes().to_vec(),
                b"\r\n".to_vec(),
            ]
            .concat(),
            vec![Envelope(401, 1002)],
        ),
        (
            "two Authorization headers, a bad one first",
            head(
                &format!("GET {t2a} HTTP/1.1"),
                &format!("Authorization: Bearer x\r\n{auth}"),
            ),
            vec![Envelope(401, 1002)],
        ),
        (
            "invalid UTF-8 in Content-Type",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}Content-Type: application/json\u{ff}\r\nContent-Length: 2\r\n"),
                b"{}",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "HTTP/1.0 without Host",
            b"GET /__mock/health HTTP/1.0\r\n\r\n".to_vec(),
            vec![Envelope(200, 0)],
        ),
        (
            "bare LF line ends",
            b"GET /__mock/health HTTP/1.1\nHost: mock\nConnection: close\n\n".to_vec(),
            vec![Envelope(200, 0)],
        ),
        (
            "two equal Content-Lengths",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 2\r\nContent-Length: 2\r\n"),
                b"[]",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a body shorter than its Content-Length",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 100\r\n"),
                b"{\"text\"",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a body longer than its Content-Length",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 2\r\n"),
                b"{}GARBAGE\r\n\r\n",
            ),
            vec![Envelope(400, 1201)],
        ),
        (
            "a bad chunk size",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"zz\r\n{}\r\n0\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a chunk size that overflows",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"fffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a chunk shorter than its size",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"10\r\n{}\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; the chunked body is read.
        (
            "chunked and Content-Length together",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n"),
                b"2\r\n[]\r\n0\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a valid chunked body with a trailer",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"2;ext=1\r\n[]\r\n0\r\nX-Trailer: 1\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a body over the limit",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: {}\r\n", big.len()),
                &big,
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a chunked body over the limit",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                &[
                    format!("{:x}\r\n", big.len()).into_bytes(),
                    big.clone(),
                    b"\r\n0\r\n\r\n".to_vec(),
                ]
                .concat(),
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "100-continue over the limit",
            head(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Expect: 100-continue\r\nContent-Length: 99999999\r\n"),
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a control request without the token",
            head("DELETE /__mock/faults HTTP/1.1", ""),
            vec![Envelope(401, 1000)],
        ),
        (
            "a control request with a public token",
            head("POST /__mock/reset HTTP/1.1", &auth),
            vec![Envelope(401, 1000)],
        ),
        (
            "a kept-alive request, then the end of input",
            b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n".to_vec(),
            vec![Envelope(200, 0)],
        ),
        (
            "pipelined requests, the second garbage",
            [
                b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n".to_vec(),
                b"GARBAGE\r\n\r\n".to_vec(),
            ]
            .concat(),
            vec![Envelope(200, 0), Bare(400)],
        ),
        (
            "pipelined requests, both valid",
            [
                b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n".to_vec(),
                head(&format!("GET {t2a} HTTP/1.1"), &auth),
            ]
            .concat(),
            vec![Envelope(200, 0), Envelope(200, 0)],
        ),
        // Nothing to answer.
        ("an empty connection", Vec::new(), vec![]),
        ("only line ends", b"\r\n\r\n".to_vec(), vec![]),
        (
            "a request head cut short",
            b"GET /v1/audio/tts HTTP/1.1\r\nHost: mo".to_vec(),
            vec![],
        ),
    ];
    let before = snapshot(&state);
    let mut wrong = Vec::new();
    for (name, bytes, want) in &cases {
        let got = exchange(&addr, bytes)
            .await
            .and_then(|raw| parse_wire(&raw));
        if got.as_ref() != Ok(want) {
            wrong.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    assert_eq!(
        snapshot(&state),
        before,
        "refused requests changed the state"
    );
}

/// The bytes written on one connection (`Debug`: as an escaped string).
#[derive(Clone)]
pub(super) struct Stream(pub(super) Vec<u8>);

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.escape_ascii().to_string())
    }
}

/// Byte streams that are mostly HTTP/1.1: request lines, headers and bodies with odd bytes in
/// every place, bad framing, pipelining, and now and then pure garbage. No valid Kling token, and
/// the bodies the control token may carry change nothing on a fresh server (a reset, `{}` to the
/// clock), so the state must not move.
pub(super) fn wire_strategy() -> BoxedStrategy<Stream> {
    let bytes = |n: usize| proptest::collection::vec(any::<u8>(), 0..n);
    let pick =
        |v: Vec<&'static str>| proptest::sample::select(v).prop_map(|s| s.as_bytes().to_vec());
    let method = prop_oneof![
        12 => pick(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "PROPFIND", "get", "X-Y"]),
        1 => bytes(10),
    ];
    let target = prop_oneof![
        12 => pick(vec![
            "/v1/audio/tts", "/v1/audio/text-to-audio", "/v1/audio/text-to-audio/123",
            "/v1/general/custom-voices?pageNum=0&pageSize=99999999999999999999",
            "/v1/general/presets-voices?pageSize=%FF", "/v1/general/delete-voices",
            "/account/costs?start_time=-1&end_time=1e9", "/files/kling_x.mp3", "/files/%FF",
            "/__mock/health", "/__mock/reset", "/__mock/clock", "/__mock/faults",
            "/__mock/openapi.json", "/__mock/state", "*", "http://h/v1/audio/tts", "//", "/%00",
        ]),
        2 => bytes(40),
        1 => (1usize..20_000).prop_map(|n| {
            let mut v = b"/v1/".to_vec();
            v.resize(n, b'a');
            v
        }),
    ];
    // Each part is well-formed most of the time, so that about half the streams reach the router.
    let version = prop_oneof![
        12 => Just(b"HTTP/1.1".to_vec()),
        1 => pick(vec!["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.1x", ""]),
    ];
    let sp = prop_oneof![
        20 => Just(b" ".to_vec()),
        1 => pick(vec!["  ", "\t", ""]),
    ];
    let eol = prop_oneof![
        20 => Just(b"\r\n".to_vec()),
        1 => pick(vec!["\n", "\r"]),
    ];
    let header = prop_oneof![
        20 => pick(vec![
            "Host: mock", "Authorization: Bearer not.a.token", "Authorization: Bearer hostile-control-token",
            "Authorization: Basic eDp5", "Content-Type: application/json", "Content-Type: text/plain",
            "Content-Length: 2", "Content-Length: 0", "Transfer-Encoding: chunked",
            "Expect: 100-continue", "Connection: close", "Connection: keep-alive", "Upgrade: h2c",
            "Upgrade: websocket", "Connection: upgrade", "X-Empty:", "Host: \u{ff}",
        ]),
        2 => pick(vec![
            ": no-name", "Content-Length: 99999999999999999999", "Content-Length: -5",
            "Content-Length: 2, 3", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, chunked",
        ]),
        1 => (bytes(12), pick(vec![": ", ":", " : "]), bytes(40))
            .prop_map(|(n, s, v)| [n, s, v].concat()),
        1 => (1usize..100_000).prop_map(|n| [b"X-Long: ".to_vec(), vec![b'l'; n]].concat()),
    ];
    let body = prop_oneof![
        4 => Just(Vec::new()),
        3 => pick(vec!["{}", "[]", "{\"text\":\"hi\",\"voice_id\":\"oversea_male1\"}", "null", "{\"a\":"]),
        2 => pick(vec!["2\r\n{}\r\n0\r\n\r\n", "zz\r\n", "0\r\n\r\n", "5\r\nab\r\n", "ffffffffffffffffffff\r\n"]),
        2 => bytes(300),
    ];
    let request = (
        method,
        sp.clone(),
        target,
        sp,
        version,
        eol.clone(),
        proptest::collection::vec(header, 0..8),
        eol,
        body,
    )
        .prop_map(|(m, s1, t, s2, v, eol, headers, end, body)| {
            let mut out = [m, s1, t, s2, v, eol.clone()].concat();
            for h in headers {
                out.extend(h);
                out.extend(&eol);
            }
            out.extend(end);
            out.extend(body);
            out
        });
    prop_oneof![
        12 => proptest::collection::vec(request, 1..=3).prop_map(|r| r.concat()),
        1 => bytes(600),
    ]
    .prop_map(Stream)
    .boxed()
}

#[test]
pub(super) fn random_bytes_on_the_wire_get_a_bare_4xx_or_the_envelope_and_change_nothing() {
    let cases = env_count("KLING_HOSTILE_WIRE_CASES", 400);
    let seed = std::env::var("KLING_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(rand::random);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (addr, state) = rt.block_on(wire_server());
    let before = snapshot(&state);
    let answers = RefCell::new(BTreeMap::<String, u64>::new());
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        max_shrink_iters: 1_000,
        ..RunnerConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(&wire_strategy(), |Stream(bytes)| {
        let raw = rt
            .block_on(exchange(&addr, &bytes))
            .map_err(TestCaseError::fail)?;
        let got = parse_wire(&raw).map_err(TestCaseError::fail)?;
        for w in &got {
            let ok = match *w {
                Wire::Bare(s) => (400..500).contains(&s),
                Wire::Envelope(s, _) | Wire::Head(s) | Wire::Cut(s) => s < 500,
                Wire::Raw => true,
            };
            prop_assert!(ok, "{w:?} in {got:?}");
            *answers.borrow_mut().entry(format!("{w:?}")).or_default() += 1;
        }
        // The server lives on, and nothing a refused request sent changed its state.
        let health = rt
            .block_on(exchange(
                &addr,
                b"GET /__mock/health HTTP/1.1\r\nHost: m\r\n\r\n",
            ))
            .and_then(|raw| parse_wire(&raw));
        prop_assert_eq!(health, Ok(vec![Wire::Envelope(200, 0)]));
        let after = snapshot(&state);
        prop_assert!(
            after == before,
            "the state changed:\n{}",
            diff(&before, &after)
        );
        Ok(())
    });
    let took = started.elapsed();
    println!(
        "hostile (wire): {cases} byte streams in {:.1} s ({:.0}/s), seed {seed}; answers {:?}",
        took.as_secs_f64(),
        cases as f64 / took.as_secs_f64(),
        answers.borrow(),
    );
    if let Err(e) = result {
        panic!("{e}\nreplay: KLING_HOSTILE_SEED={seed} KLING_HOSTILE_WIRE_CASES={cases}");
    }
}

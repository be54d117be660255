//! Rule formats of the control plane: HTTP fault rules (Kling errors and transport faults) and
//! latency. Pure data and matching; the middleware that applies them is `api::control::gate`
//! (and `control::transport` for what happens on the wire).

use crate::error::{Code, KlingError};
use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `*` matches any run of characters (including `/`); everything else matches itself.
/// `/v1/audio/*` matches every audio path; `*/custom-voices*` every custom voice path.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// A fault of the connection rather than of the API: what a client meets on a bad network.
///
/// JSON: `{"kind": "reset"}`, `{"kind": "close"}`, `{"kind": "hang", "ms": 30000}`,
/// `{"kind": "truncate", "keep": 20}`, `{"kind": "dribble", "bytes": 16, "every_ms": 50}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// Abort the connection (TCP RST) without a byte of response; the handler does not run.
    Reset,
    /// Close the connection in order (FIN) without a byte of response; the handler does not run.
    Close,
    /// Never answer: hold the connection `ms` (default 10 minutes), then close it without a
    /// response; the handler does not run. A server shutdown ends the hang at once.
    Hang {
        /// How long to hold the connection, ms.
        #[serde(default = "default_hang_ms")]
        ms: u64,
    },
    /// Send the status and headers (with the full `Content-Length`) and only the first `keep`
    /// bytes of the body (default: half; always fewer than all), then close the connection.
    Truncate {
        /// Body bytes sent.
        #[serde(default)]
        keep: Option<usize>,
    },
    /// Send the complete, correct body `bytes` at a time, pausing `every_ms` between chunks.
    Dribble {
        /// Bytes per chunk (at least 1).
        bytes: usize,
        /// Pause between chunks, ms (at most 10 minutes).
        every_ms: u64,
    },
}

fn default_hang_ms() -> u64 {
    600_000
}

impl Transport {
    /// The `kind` as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Reset => "reset",
            Transport::Close => "close",
            Transport::Hang { .. } => "hang",
            Transport::Truncate { .. } => "truncate",
            Transport::Dribble { .. } => "dribble",
        }
    }

    /// Whether the request gets no response at all (so the handler does not run either).
    pub fn answers_nothing(&self) -> bool {
        matches!(
            self,
            Transport::Reset | Transport::Close | Transport::Hang { .. }
        )
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<(), KlingError> {
        match *self {
            Transport::Dribble { bytes: 0, .. } => Err(KlingError::param(
                "transport dribble needs bytes of at least 1",
            )),
            Transport::Dribble { every_ms, .. } if every_ms > 600_000 => Err(KlingError::param(
                "transport dribble needs every_ms of at most 600000 (10 minutes)",
            )),
            _ => Ok(()),
        }
    }
}

/// An HTTP fault rule: which requests it matches, what they get (a Kling error, a transport
/// fault, or a Kling error shaped by a transport fault), and when it fires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Name of the rule (given, or assigned as `fault-N`).
    pub id: String,
    /// HTTP method to match (any when absent).
    pub method: Option<String>,
    /// Path glob to match (any when absent), e.g. `/v1/audio/*`.
    pub path: Option<String>,
    /// Access key to match (any when absent).
    pub account: Option<String>,
    /// The Kling error code answered; its HTTP status comes from the error table. 0 or absent:
    /// no error (then `transport` is required).
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u32,
    /// The message (default: the table's explanation).
    pub message: Option<String>,
    /// `Retry-After` seconds on the answer.
    pub retry_after: Option<u64>,
    /// Fire with this probability (seeded dice).
    pub probability: Option<f64>,
    /// Fire on the first N matching requests only.
    pub first: Option<u64>,
    /// Fire on every Nth matching request (the Nth, 2Nth, ...).
    pub every: Option<u64>,
    /// Fire only from this mock-clock time (Unix ms) ...
    pub from_ms: Option<i64>,
    /// ... and before this one.
    pub until_ms: Option<i64>,
    /// Fire at most this many times in all.
    pub limit: Option<u64>,
    /// A transport fault instead of (reset, close, hang) or on top of (truncate, dribble) the
    /// answer. With truncate and dribble the body is the Kling error of `code` if given, else the
    /// normal answer of the request.
    pub transport: Option<Transport>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A typed builder, for tests that embed the mock:
/// `FaultSpec::error(1303).path("/v1/audio/*").first(2)` answers the first two matching requests
/// with 429 / 1303; `FaultSpec::transport(Transport::Reset).every(3)` resets every third
/// connection. [`MockServer::add_fault`](crate::MockServer::add_fault) checks the rule.
impl FaultSpec {
    /// Answer matching requests with the Kling error `code` (its HTTP status from the table).
    pub fn error(code: u32) -> FaultSpec {
        FaultSpec {
            code,
            ..FaultSpec::default()
        }
    }

    /// A transport fault instead of the answer (or shaping it: truncate, dribble).
    pub fn transport(transport: Transport) -> FaultSpec {
        FaultSpec {
            transport: Some(transport),
            ..FaultSpec::default()
        }
    }

    /// Name the rule (default `fault-N`), to remove it by name later.
    pub fn id(mut self, id: impl Into<String>) -> FaultSpec {
        self.id = id.into();
        self
    }

    /// Match this HTTP method only.
    pub fn method(mut self, method: impl Into<String>) -> FaultSpec {
        self.method = Some(method.into());
        self
    }

    /// Match paths by this glob, e.g. `/v1/audio/*`.
    pub fn path(mut self, glob: impl Into<String>) -> FaultSpec {
        self.path = Some(glob.into());
        self
    }

    /// Match this account's requests only.
    pub fn account(mut self, access_key: impl Into<String>) -> FaultSpec {
        self.account = Some(access_key.into());
        self
    }

    /// The error's message instead of the table's explanation.
    pub fn message(mut self, message: impl Into<String>) -> FaultSpec {
        self.message = Some(message.into());
        self
    }

    /// A `Retry-After` header, seconds.
    pub fn retry_after(mut self, secs: u64) -> FaultSpec {
        self.retry_after = Some(secs);
        self
    }

    /// Fire with this probability (the seeded dice).
    pub fn probability(mut self, p: f64) -> FaultSpec {
        self.probability = Some(p);
        self
    }

    /// Fire on the first `n` matching requests only.
    pub fn first(mut self, n: u64) -> FaultSpec {
        self.first = Some(n);
        self
    }

    /// Fire on every `n`th matching request.
    pub fn every(mut self, n: u64) -> FaultSpec {
        self.every = Some(n);
        self
    }

    /// Fire at most `n` times in all.
    pub fn limit(mut self, n: u64) -> FaultSpec {
        self.limit = Some(n);
        self
    }

    /// Fire only in `[from_ms, until_ms)` on the mock's clock (Unix ms).
    pub fn between(mut self, from_ms: i64, until_ms: i64) -> FaultSpec {
        self.from_ms = Some(from_ms);
        self.until_ms = Some(until_ms);
        self
    }
}

impl FaultSpec {
    /// Check the rule: a documented error code or a transport fault, sane triggers. Returns the
    /// error code, if any.
    pub fn validate(&self) -> Result<Option<Code>, KlingError> {
        let code = match self.code {
            0 if self.transport.is_none() => {
                return Err(KlingError::param(
                    "a fault rule needs a code (a documented Kling error code) or a transport \
                     (kind reset, close, hang, truncate or dribble)",
                ));
            }
            0 => None,
            n => Some(Code::from_number(n).ok_or_else(|| {
                KlingError::param(format!("code {n} is not a documented Kling error code"))
            })?),
        };
        if let Some(t) = &self.transport {
            t.validate()?;
            if t.answers_nothing() {
                let useless = [
                    (code.is_some(), "code"),
                    (self.message.is_some(), "message"),
                    (self.retry_after.is_some(), "retry_after"),
                ];
                if let Some((_, field)) = useless.iter().find(|(set, _)| *set) {
                    return Err(KlingError::param(format!(
                        "{field} has no effect with transport {}: no response is sent \
                         (truncate and dribble can shape an error answer)",
                        t.kind()
                    )));
                }
            }
        }
        if code.is_none() && (self.message.is_some() || self.retry_after.is_some()) {
            return Err(KlingError::param(
                "message and retry_after need a code: without one the request gets its normal answer",
            ));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(KlingError::param(format!(
                "probability must be between 0 and 1, got {p}"
            )));
        }
        if self.every == Some(0) {
            return Err(KlingError::param("every must be at least 1"));
        }
        Ok(code)
    }
}

/// A fault rule in force, with its counters.
#[derive(Debug)]
pub struct Fault {
    /// The rule.
    pub spec: FaultSpec,
    code: Option<Code>,
    /// Requests it matched.
    pub matched: AtomicU64,
    /// Times it fired.
    pub fired: AtomicU64,
}

/// A fault rule as listed: the rule and how often it matched and fired.
#[derive(Clone, Debug, Serialize)]
pub struct FaultReport {
    /// The rule.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests it matched.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
}

/// The fault a request met.
#[derive(Clone, Debug)]
pub struct Fired {
    /// The rule's id.
    pub rule: String,
    /// The error answered (none: the normal answer, or no answer at all with `transport`).
    pub error: Option<KlingError>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// The transport fault.
    pub transport: Option<Transport>,
}

impl Fault {
    /// A rule in force.
    pub fn new(spec: FaultSpec) -> Result<Fault, KlingError> {
        let code = spec.validate()?;
        Ok(Fault {
            spec,
            code,
            matched: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        })
    }

    /// Whether the rule applies to this request (method, path, account).
    pub fn matches(&self, method: &str, path: &str, account: Option<&str>) -> bool {
        let s = &self.spec;
        s.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && s.path.as_deref().is_none_or(|p| glob(p, path))
            && s.account.as_deref().is_none_or(|a| Some(a) == account)
    }

    /// Count a matching request and decide whether the rule fires for it.
    pub fn trigger(&self, now_ms: i64, rng: &mut StdRng) -> Option<Fired> {
        let s = &self.spec;
        let n = self.matched.fetch_add(1, Ordering::Relaxed); // 0-based index of this match
        if s.limit
            .is_some_and(|l| self.fired.load(Ordering::Relaxed) >= l)
            || s.first.is_some_and(|f| n >= f)
            || s.every.is_some_and(|e| !(n + 1).is_multiple_of(e))
            || s.from_ms.is_some_and(|f| now_ms < f)
            || s.until_ms.is_some_and(|u| now_ms >= u)
        {
            return None;
        }
        if let Some(p) = s.probability
            && rng.random::<f64>() >= p
        {
            return None;
        }
        self.fired.fetch_add(1, Ordering::Relaxed);
        let error = self.code.map(|code| {
            let message = s
                .message
                .clone()
                .unwrap_or_else(|| code.explanation().to_string());
            KlingError::new(code, message)
        });
        Some(Fired {
            rule: s.id.clone(),
            error,
            retry_after: s.retry_after,
            transport: s.transport,
        })
    }

    /// The rule with its counters.
    pub fn report(&self) -> FaultReport {
        FaultReport {
            spec: self.spec.clone(),
            matched: self.matched.load(Ordering::Relaxed),
            fired: self.fired.load(Ordering::Relaxed),
        }
    }
}

/// A delay distribution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Delay {
    /// Always `ms`.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform in [`min_ms`, `max_ms`].
    Uniform {
        /// Shortest.
        min_ms: u64,
        /// Longest.
        max_ms: u64,
    },
    /// Log-normal with this median and shape (`sigma` of the underlying normal): a long tail,
    /// like real networks.
    LogNormal {
        /// Median, ms.
        median_ms: f64,
        /// Shape; 0.5 is a moderate tail, 1.0 a heavy one.
        sigma: f64,
    },
}

impl Delay {
    /// Check the parameters.
    pub fn validate(&self) -> Result<(), KlingError> {
        match *self {
            Delay::Uniform { min_ms, max_ms } if min_ms > max_ms => {
                Err(KlingError::param("uniform delay needs min_ms <= max_ms"))
            }
            Delay::LogNormal { median_ms, sigma }
                if !(median_ms > 0.0 && sigma >= 0.0 && sigma.is_finite()) =>
            {
                Err(KlingError::param(
                    "lognormal delay needs median_ms > 0 and sigma >= 0",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Draw one delay (capped at 10 minutes).
    pub fn sample(&self, rng: &mut StdRng) -> Duration {
        let ms = match *self {
            Delay::Fixed { ms } => ms as f64,
            Delay::Uniform { min_ms, max_ms } => rng.random_range(min_ms..=max_ms) as f64,
            Delay::LogNormal { median_ms, sigma } => match LogNormal::new(median_ms.ln(), sigma) {
                Ok(d) => d.sample(rng),
                Err(_) => median_ms,
            },
        };
        Duration::from_millis(ms.clamp(0.0, 600_000.0) as u64)
    }
}

/// A per-route delay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDelay {
    /// Path glob.
    pub path: String,
    /// HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// The delay.
    pub delay: Delay,
}

/// Latency of the public API: per route (first match wins), else global.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Delay of every request no route rule matches.
    pub global: Option<Delay>,
    /// Per-route delays.
    pub routes: Vec<RouteDelay>,
}

impl Latency {
    /// Check every delay.
    pub fn validate(&self) -> Result<(), KlingError> {
        self.global
            .iter()
            .chain(self.routes.iter().map(|r| &r.delay))
            .try_for_each(Delay::validate)
    }

    /// The delay for a request.
    pub fn pick(&self, method: &str, path: &str) -> Option<Delay> {
        self.routes
            .iter()
            .find(|r| {
                glob(&r.path, path)
                    && r.method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(method))
            })
            .map(|r| r.delay)
            .or(self.global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_builder_writes_the_rules_the_json_form_writes() {
        let json: FaultSpec = serde_json::from_str(
            r#"{"id":"busy","method":"POST","path":"/v1/audio/*","account":"team-b","code":1303,
                "message":"busy","every":3,"retry_after":2,"limit":5,"probability":0.5,
                "first":9,"from_ms":10,"until_ms":20}"#,
        )
        .unwrap();
        let built = FaultSpec::error(1303)
            .id("busy")
            .method("POST")
            .path("/v1/audio/*")
            .account("team-b")
            .message("busy")
            .every(3)
            .retry_after(2)
            .limit(5)
            .probability(0.5)
            .first(9)
            .between(10, 20);
        assert_eq!(built, json);
        let reset: FaultSpec = serde_json::from_str(r#"{"transport":{"kind":"reset"}}"#).unwrap();
        assert_eq!(FaultSpec::transport(Transport::Reset), reset);
        assert!(FaultSpec::error(4242).validate().is_err());
    }

    #[test]
    fn globs_match_any_run_of_characters() {
        assert!(glob("/v1/audio/*", "/v1/audio/tts"));
        assert!(glob("/v1/audio/*", "/v1/audio/text-to-audio/123"));
        assert!(!glob("/v1/audio/*", "/v1/general/custom-voices"));
        assert!(glob("*custom-voices*", "/v1/general/custom-voices/9"));
        assert!(glob("/v1/audio/tts", "/v1/audio/tts"));
        assert!(!glob("/v1/audio/tts", "/v1/audio/tts2"));
        assert!(glob("*", ""));
        assert!(!glob("/a*a", "/a"));
    }

    fn fault(spec: FaultSpec) -> Fault {
        Fault::new(FaultSpec { code: 1303, ..spec }).unwrap()
    }

    #[test]
    fn triggers_first_every_window_and_limit() {
        let mut rng = StdRng::seed_from_u64(1);
        let f = fault(FaultSpec {
            first: Some(2),
            ..Default::default()
        });
        let fired: Vec<bool> = (0..4).map(|_| f.trigger(0, &mut rng).is_some()).collect();
        assert_eq!(fired, [true, true, false, false]);
        let f = fault(FaultSpec {
            every: Some(3),
            ..Default::default()
        });
        let fired: Vec<bool> = (0..6).map(|_| f.trigger(0, &mut rng).is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
        let f = fault(FaultSpec {
            from_ms: Some(100),
            until_ms: Some(200),
            ..Default::default()
        });
        assert!(
            f.trigger(99, &mut rng).is_none()
                && f.trigger(100, &mut rng).is_some()
                && f.trigger(200, &mut rng).is_none()
        );
        let f = fault(FaultSpec {
            limit: Some(2),
            ..Default::default()
        });
        assert_eq!(
            (0..5).filter(|_| f.trigger(0, &mut rng).is_some()).count(),
            2
        );
        assert_eq!(f.report().matched, 5);
        assert_eq!(f.report().fired, 2);
    }

    #[test]
    fn probability_is_seeded() {
        let f = fault(FaultSpec {
            probability: Some(0.3),
            ..Default::default()
        });
        let g = fault(FaultSpec {
            probability: Some(0.3),
            ..Default::default()
        });
        let (mut a, mut b) = (StdRng::seed_from_u64(5), StdRng::seed_from_u64(5));
        let x: Vec<bool> = (0..200).map(|_| f.trigger(0, &mut a).is_some()).collect();
        let y: Vec<bool> = (0..200).map(|_| g.trigger(0, &mut b).is_some()).collect();
        assert_eq!(x, y);
        let n = x.iter().filter(|v| **v).count();
        assert!((30..90).contains(&n), "{n} of 200 at p=0.3");
    }

    #[test]
    fn undocumented_codes_are_refused() {
        assert!(
            Fault::new(FaultSpec {
                code: 1234,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Fault::new(FaultSpec {
                code: 5001,
                ..Default::default()
            })
            .is_ok()
        );
    }

    fn spec(v: serde_json::Value) -> Result<FaultSpec, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn transport_faults_read_and_write_their_json() {
        use serde_json::json;
        let cases = [
            (json!({"kind": "reset"}), Transport::Reset),
            (json!({"kind": "close"}), Transport::Close),
            (json!({"kind": "hang"}), Transport::Hang { ms: 600_000 }),
            (
                json!({"kind": "hang", "ms": 200}),
                Transport::Hang { ms: 200 },
            ),
            (
                json!({"kind": "truncate"}),
                Transport::Truncate { keep: None },
            ),
            (
                json!({"kind": "truncate", "keep": 20}),
                Transport::Truncate { keep: Some(20) },
            ),
            (
                json!({"kind": "dribble", "bytes": 16, "every_ms": 50}),
                Transport::Dribble {
                    bytes: 16,
                    every_ms: 50,
                },
            ),
        ];
        for (v, t) in cases {
            assert_eq!(serde_json::from_value::<Transport>(v.clone()).unwrap(), t);
            let back = serde_json::to_value(t).unwrap();
            assert_eq!(serde_json::from_value::<Transport>(back).unwrap(), t);
            assert_eq!(
                serde_json::to_value(t).unwrap()["kind"],
                json!(t.kind()),
                "{v}"
            );
        }
        assert_eq!(
            serde_json::to_value(Transport::Hang { ms: 5 }).unwrap(),
            json!({"kind": "hang", "ms": 5})
        );
        for bad in [
            json!({"kind": "warp"}),
            json!({"kind": "Reset"}),
            // (serde ignores extra keys of the unit variants reset and close.)
            json!({"kind": "dribble", "bytes": 16}),
            json!({"kind": "truncate", "keep": -1}),
            json!({}),
        ] {
            assert!(
                serde_json::from_value::<Transport>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_rule_needs_a_code_or_a_transport() {
        use serde_json::json;
        // Existing rules keep their format.
        let old = spec(json!({"code": 1303, "first": 2})).unwrap();
        assert_eq!(
            old.validate().unwrap(),
            Some(Code::from_number(1303).unwrap())
        );
        assert_eq!(serde_json::to_value(&old).unwrap()["code"], 1303);
        let t = spec(json!({"transport": {"kind": "reset"}, "first": 1})).unwrap();
        assert_eq!(t.validate().unwrap(), None);
        let listed = serde_json::to_value(&t).unwrap();
        assert!(listed.get("code").is_none(), "{listed}");
        assert_eq!(spec(listed).unwrap(), t);
        let shaped = spec(json!({"code": 5000, "transport": {"kind": "truncate"}})).unwrap();
        assert!(shaped.validate().unwrap().is_some());
        let refused = [
            json!({}),
            json!({"path": "/v1/*"}),
            json!({"code": 0}),
            json!({"code": 5000, "transport": {"kind": "reset"}}),
            json!({"retry_after": 3, "transport": {"kind": "close"}}),
            json!({"message": "x", "transport": {"kind": "hang"}}),
            json!({"message": "x", "transport": {"kind": "dribble", "bytes": 1, "every_ms": 1}}),
            json!({"transport": {"kind": "dribble", "bytes": 0, "every_ms": 1}}),
            json!({"transport": {"kind": "dribble", "bytes": 1, "every_ms": 600_001}}),
        ];
        for v in refused {
            let e = spec(v.clone()).unwrap().validate().unwrap_err();
            assert_eq!(e.code, Code::InvalidParameter, "{v}");
        }
        let e = spec(json!({"first": 1})).unwrap().validate().unwrap_err();
        assert!(e.message.contains("needs a code"), "{}", e.message);
    }

    #[test]
    fn transport_rules_fire_without_an_error() {
        let mut rng = StdRng::seed_from_u64(1);
        let f = Fault::new(FaultSpec {
            id: "t".into(),
            first: Some(1),
            transport: Some(Transport::Close),
            ..Default::default()
        })
        .unwrap();
        let fired = f.trigger(0, &mut rng).unwrap();
        assert_eq!(fired.rule, "t");
        assert!(fired.error.is_none());
        assert_eq!(fired.transport, Some(Transport::Close));
        assert!(f.trigger(0, &mut rng).is_none());
    }

    #[test]
    fn delays_stay_in_their_ranges() {
        let mut rng = StdRng::seed_from_u64(2);
        assert_eq!(
            Delay::Fixed { ms: 40 }.sample(&mut rng),
            Duration::from_millis(40)
        );
        for _ in 0..100 {
            let d = Delay::Uniform {
                min_ms: 10,
                max_ms: 20,
            }
            .sample(&mut rng)
            .as_millis();
            assert!((10..=20).contains(&d));
        }
        let mut v: Vec<u128> = (0..1001)
            .map(|_| {
                Delay::LogNormal {
                    median_ms: 100.0,
                    sigma: 0.5,
                }
                .sample(&mut rng)
                .as_millis()
            })
            .collect();
        v.sort();
        assert!((80..125).contains(&v[500]), "median {}", v[500]);
        assert!(
            Delay::Uniform {
                min_ms: 5,
                max_ms: 1
            }
            .validate()
            .is_err()
        );
        let lat = Latency {
            global: Some(Delay::Fixed { ms: 1 }),
            routes: vec![RouteDelay {
                path: "/v1/audio/tts".into(),
                method: None,
                delay: Delay::Fixed { ms: 9 },
            }],
        };
        assert_eq!(
            lat.pick("POST", "/v1/audio/tts"),
            Some(Delay::Fixed { ms: 9 })
        );
        assert_eq!(
            lat.pick("GET", "/v1/audio/text-to-audio"),
            Some(Delay::Fixed { ms: 1 })
        );
    }
}

//! Rule formats of the control plane: HTTP fault rules and latency. Pure data and matching; the
//! middleware that applies them is in `control::gate`.

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

/// An HTTP fault rule: which requests it matches, the Kling error it answers, and when it fires.
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
    /// The Kling error code answered; its HTTP status comes from the error table.
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
}

impl FaultSpec {
    /// Check the rule: a documented error code, sane triggers.
    pub fn validate(&self) -> Result<Code, KlingError> {
        let code = Code::from_number(self.code).ok_or_else(|| {
            KlingError::param(format!(
                "code {} is not a documented Kling error code",
                self.code
            ))
        })?;
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
    code: Code,
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
    /// The error answered.
    pub error: KlingError,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
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
        let message = s
            .message
            .clone()
            .unwrap_or_else(|| self.code.explanation().to_string());
        Some(Fired {
            rule: s.id.clone(),
            error: KlingError::new(self.code, message),
            retry_after: s.retry_after,
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

//! Outcome rules: per task kind, a failure probability, and rules that match request content and
//! make the task fail with a given message, or the create call itself answer a given Kling error.
//! They let a client that cannot send special headers reach every path.

use crate::error::{Code, KlingError};
use crate::kinds::KindId;
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How a rule matches a field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Test {
    /// The field's text equals this.
    Equals(String),
    /// The field's text contains this.
    Contains(String),
    /// The field's text matches this regular expression.
    Regex(String),
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The task is created and later fails with this `task_status_msg`.
    FailTask(String),
    /// The create call answers this Kling error; nothing is created.
    Reject {
        /// A documented error code (e.g. 1301).
        code: u32,
        /// The message (default: the table's explanation).
        #[serde(default)]
        message: Option<String>,
    },
}

/// A content rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The kind it applies to (`custom-voice`, `text-to-audio`, `tts`; all when absent).
    #[serde(default)]
    pub kind: Option<String>,
    /// The request field tested (its JSON value as text: strings as they are, others as JSON).
    pub field: String,
    /// The test.
    #[serde(flatten)]
    pub test: Test,
    /// What happens.
    #[serde(flatten)]
    pub effect: Effect,
}

/// A kind's random failures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRate {
    /// Probability that a task of the kind fails (seeded dice).
    pub probability: f64,
    /// Its `task_status_msg`.
    #[serde(default = "default_failure")]
    pub message: String,
}

fn default_failure() -> String {
    "Task failed".to_string()
}

/// All outcome configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outcomes {
    /// Per kind slug (`text-to-audio`, ...): random failures.
    pub failure_rates: std::collections::BTreeMap<String, FailureRate>,
    /// Content rules, first match wins.
    pub rules: Vec<Rule>,
}

/// The verdict for one create request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing special.
    Normal,
    /// Create the task, then fail it with this message.
    Fail(String),
    /// Refuse the create with this error.
    Reject(KlingError),
}

impl Outcomes {
    /// Check every rule (kinds exist, codes are documented, regexes compile, probabilities in range).
    pub fn validate(&self) -> Result<(), KlingError> {
        for (kind, r) in &self.failure_rates {
            KindId::from_slug(kind)
                .ok_or_else(|| KlingError::param(format!("unknown task kind '{kind}'")))?;
            if !(0.0..=1.0).contains(&r.probability) {
                return Err(KlingError::param(format!(
                    "probability must be between 0 and 1, got {}",
                    r.probability
                )));
            }
        }
        for r in &self.rules {
            if let Some(k) = &r.kind {
                KindId::from_slug(k)
                    .ok_or_else(|| KlingError::param(format!("unknown task kind '{k}'")))?;
            }
            if let Test::Regex(re) = &r.test {
                regex::Regex::new(re)
                    .map_err(|e| KlingError::param(format!("regex '{re}': {e}")))?;
            }
            if let Effect::Reject { code, .. } = &r.effect {
                Code::from_number(*code).ok_or_else(|| {
                    KlingError::param(format!("code {code} is not a documented Kling error code"))
                })?;
            }
        }
        Ok(())
    }

    /// Decide the outcome of a create of `kind` with `body`.
    pub fn decide(&self, kind: KindId, body: &Map<String, Value>, rng: &mut StdRng) -> Decision {
        self.decide_labeled(kind, body, rng).0
    }

    /// [`Outcomes::decide`], with the name of what decided (`outcome rule 2`, `failure rate
    /// text-to-audio`) for the journal.
    pub fn decide_labeled(
        &self,
        kind: KindId,
        body: &Map<String, Value>,
        rng: &mut StdRng,
    ) -> (Decision, Option<String>) {
        for (i, r) in self.rules.iter().enumerate() {
            if r.kind.as_deref().is_some_and(|k| k != kind.slug()) {
                continue;
            }
            let Some(v) = body.get(&r.field) else {
                continue;
            };
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let hit = match &r.test {
                Test::Equals(x) => &text == x,
                Test::Contains(x) => text.contains(x.as_str()),
                Test::Regex(re) => regex::Regex::new(re).is_ok_and(|re| re.is_match(&text)),
            };
            if hit {
                let decision = match &r.effect {
                    Effect::FailTask(m) => Decision::Fail(m.clone()),
                    Effect::Reject { code, message } => {
                        let code = Code::from_number(*code).unwrap_or(Code::InvalidParameter);
                        Decision::Reject(KlingError::new(
                            code,
                            message
                                .clone()
                                .unwrap_or_else(|| code.explanation().to_string()),
                        ))
                    }
                };
                return (decision, Some(format!("outcome rule {}", i + 1)));
            }
        }
        if let Some(rate) = self.failure_rates.get(kind.slug())
            && rate.probability > 0.0
            && rng.random::<f64>() < rate.probability
        {
            return (
                Decision::Fail(rate.message.clone()),
                Some(format!("failure rate {}", kind.slug())),
            );
        }
        (Decision::Normal, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn rules_parse_from_json_and_match_content() {
        let o: Outcomes = serde_json::from_value(json!({
            "rules": [
                {"kind": "text-to-audio", "field": "prompt", "contains": "explosion", "fail_task": "Failure to pass the risk control system"},
                {"field": "prompt", "regex": "^forbidden", "reject": {"code": 1301}},
                {"field": "duration", "equals": "7", "reject": {"code": 1303, "message": "busy"}}
            ],
            "failure_rates": {"custom-voice": {"probability": 1.0}}
        }))
        .unwrap();
        o.validate().unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let body = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            o.decide(
                crate::kinds::text_to_audio::SPEC.id,
                &body(json!({"prompt": "an explosion"})),
                &mut rng
            ),
            Decision::Fail("Failure to pass the risk control system".into())
        );
        assert_eq!(
            o.decide(
                crate::kinds::tts::SPEC.id,
                &body(json!({"prompt": "an explosion"})),
                &mut rng
            ),
            Decision::Normal
        );
        let Decision::Reject(e) = o.decide(
            crate::kinds::tts::SPEC.id,
            &body(json!({"prompt": "forbidden words"})),
            &mut rng,
        ) else {
            panic!()
        };
        assert_eq!(e.code, Code::ContentSecurity);
        let Decision::Reject(e) = o.decide(
            crate::kinds::text_to_audio::SPEC.id,
            &body(json!({"prompt": "x", "duration": 7})),
            &mut rng,
        ) else {
            panic!()
        };
        assert_eq!(
            (e.code, e.message.as_ref()),
            (Code::ConcurrencyLimited, "busy")
        );
        assert_eq!(
            o.decide(
                crate::kinds::custom_voice::SPEC.id,
                &body(json!({})),
                &mut rng
            ),
            Decision::Fail("Task failed".into())
        );
    }

    #[test]
    fn invalid_rules_are_refused() {
        let bad_re: Outcomes = serde_json::from_value(
            json!({"rules": [{"field": "p", "regex": "(", "fail_task": "x"}]}),
        )
        .unwrap();
        assert!(bad_re.validate().is_err());
        let bad_code: Outcomes = serde_json::from_value(
            json!({"rules": [{"field": "p", "equals": "x", "reject": {"code": 4242}}]}),
        )
        .unwrap();
        assert!(bad_code.validate().is_err());
        let bad_kind: Outcomes =
            serde_json::from_value(json!({"failure_rates": {"video": {"probability": 0.5}}}))
                .unwrap();
        assert!(bad_kind.validate().is_err());
    }
}

//! Accounts, and `Authorization` header → [`Account`], or the Kling auth error (1000–1004).
//!
//! Kling's legacy auth (kling-api.md §1.2): `Authorization: Bearer <JWT>`, header
//! `{"alg":"HS256","typ":"JWT"}`, claims `iss` = access key, `exp`, `nbf`, signed with the secret
//! key. The checks run in the order of the auth0 java-jwt verifier the live API's messages come
//! from (kling-audio-samples.md §8: "The token was expected to have 3 parts, but got 0"):
//! structure → algorithm → issuer → signature → `exp` → `nbf`.
//!
//! | situation | code |
//! |---|---|
//! | no header, empty header, `Bearer` with no token | 1001 |
//! | no `Bearer` scheme, not 3 parts, bad base64/JSON, `alg` not HS256 (incl. `none`), no `iss`, unknown access key, bad signature, non-numeric `exp`/`nbf` | 1002 |
//! | `nbf` later than now + leeway | 1003 |
//! | `exp` earlier than now − leeway | 1004 |
//!
//! Validity is checked against the wall clock, not the mock's virtual clock (clients sign with
//! their real clocks). A token without `exp` or `nbf` is accepted, as java-jwt does.

use crate::config::{AccountSpec, AuthMode};
use crate::error::{Code, KlingError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// An authenticated account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Small dense index used as the partition key of every store (isolation: all lookups are by
    /// (account, ...), so one account never sees another's data).
    pub idx: u32,
    /// The access key (JWT `iss`).
    pub access_key: Arc<str>,
    /// The numeric creator id written as `owned_by` of custom voices. Stable for an access key.
    pub owner_id: u64,
}

#[derive(Clone, Debug)]
struct Entry {
    account: Account,
    /// `None` in `--auth any` mode for accounts created from a token.
    secret: Option<Arc<str>>,
}

/// The account registry and token checker.
#[derive(Debug)]
pub struct Accounts {
    by_key: DashMap<Arc<str>, Entry>,
    next_idx: AtomicU32,
    mode: AuthMode,
    leeway_secs: i64,
}

impl Accounts {
    /// A registry holding `specs`.
    pub fn new(specs: &[AccountSpec], mode: AuthMode, leeway_secs: u64) -> Self {
        let a = Accounts {
            by_key: DashMap::new(),
            next_idx: AtomicU32::new(0),
            mode,
            leeway_secs: leeway_secs.min(i64::MAX as u64) as i64,
        };
        for s in specs {
            a.insert(&s.access_key, Some(Arc::from(s.secret_key.as_str())));
        }
        a
    }

    fn insert(&self, access_key: &str, secret: Option<Arc<str>>) -> Account {
        let key: Arc<str> = Arc::from(access_key);
        self.by_key
            .entry(key.clone())
            .or_insert_with(|| Entry {
                account: Account {
                    idx: self.next_idx.fetch_add(1, Ordering::Relaxed),
                    owner_id: owner_id(access_key),
                    access_key: key,
                },
                secret,
            })
            .account
            .clone()
    }

    /// The account with this access key, created (with no secret key, so no token verifies for
    /// it in strict mode) if unknown: data restored from a saved state stays addressable.
    pub fn ensure(&self, access_key: &str) -> Account {
        self.get(access_key)
            .unwrap_or_else(|| self.insert(access_key, None))
    }

    /// Every account, in the order they were added.
    pub fn list(&self) -> Vec<Account> {
        let mut v: Vec<Account> = self.by_key.iter().map(|e| e.account.clone()).collect();
        v.sort_by_key(|a| a.idx);
        v
    }

    /// The account with this access key, if known.
    pub fn get(&self, access_key: &str) -> Option<Account> {
        self.by_key.get(access_key).map(|e| e.account.clone())
    }

    /// Check an `Authorization` header value at wall time `now_secs`.
    pub fn authenticate(
        &self,
        header: Option<&[u8]>,
        now_secs: i64,
    ) -> Result<Account, KlingError> {
        let header = header.unwrap_or_default();
        let header = std::str::from_utf8(header).map_err(|_| {
            KlingError::new(
                Code::AuthInvalid,
                "Authorization is invalid: not valid UTF-8",
            )
        })?;
        let header = header.trim();
        if header.is_empty() {
            return Err(KlingError::plain(Code::AuthEmpty));
        }
        let token = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if header.eq_ignore_ascii_case("bearer") => "",
            _ => {
                return Err(KlingError::new(
                    Code::AuthInvalid,
                    "Authorization is invalid: expected 'Bearer <token>'",
                ));
            }
        };
        if token.is_empty() {
            return Err(KlingError::plain(Code::AuthEmpty));
        }
        let claims = self.verify(token)?;
        self.check_times(&claims, now_secs)?;
        Ok(claims.account)
    }

    fn verify(&self, token: &str) -> Result<Verified, KlingError> {
        let invalid = |m: &str| KlingError::new(Code::AuthInvalid, m.to_string());
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            // java-jwt counts 0 parts when there is no dot, 2 for one dot, "> 3" beyond.
            let got = match parts.len() {
                1 => "0".to_string(),
                n if n > 3 => "> 3".to_string(),
                n => n.to_string(),
            };
            return Err(invalid(&format!(
                "The token was expected to have 3 parts, but got {got}"
            )));
        }
        let header = decode_json(parts[0])
            .ok_or_else(|| invalid("The token header is not valid base64url JSON"))?;
        match header.get("alg").and_then(Value::as_str) {
            Some("HS256") => {}
            Some(other) => {
                return Err(invalid(&format!(
                    "The token algorithm '{other}' is not supported: only HS256 is accepted"
                )));
            }
            None => return Err(invalid("The token header has no 'alg'")),
        }
        let payload = decode_json(parts[1])
            .ok_or_else(|| invalid("The token payload is not valid base64url JSON"))?;
        let iss = match payload.get("iss") {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            _ => return Err(invalid("The token has no 'iss' claim (the access key)")),
        };
        let account = match self.mode {
            AuthMode::Any => self.get(iss).unwrap_or_else(|| self.insert(iss, None)),
            AuthMode::Strict => {
                let entry = self.by_key.get(iss).map(|e| e.clone());
                let Some(entry) = entry else {
                    return Err(invalid("Authorization is invalid: unknown access key"));
                };
                let Some(secret) = entry.secret else {
                    return Err(invalid("Authorization is invalid: unknown access key"));
                };
                let mut v = Validation::new(Algorithm::HS256);
                v.required_spec_claims.clear();
                v.validate_exp = false;
                v.validate_nbf = false;
                v.validate_aud = false;
                jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &v).map_err(
                    |_| invalid("The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA256"),
                )?;
                entry.account
            }
        };
        Ok(Verified {
            account,
            exp: date_claim(&payload, "exp")?,
            nbf: date_claim(&payload, "nbf")?,
        })
    }

    fn check_times(&self, v: &Verified, now: i64) -> Result<(), KlingError> {
        if let Some(exp) = v.exp
            && exp + (self.leeway_secs as f64) < now as f64
        {
            return Err(KlingError::plain(Code::AuthExpired));
        }
        if let Some(nbf) = v.nbf
            && nbf - (self.leeway_secs as f64) > now as f64
        {
            return Err(KlingError::plain(Code::AuthNotYetValid));
        }
        Ok(())
    }
}

struct Verified {
    account: Account,
    exp: Option<f64>,
    nbf: Option<f64>,
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.is_object().then_some(v)
}

/// A NumericDate claim (RFC 7519 §2): absent/null is fine, a number is read, anything else is 1002.
fn date_claim(payload: &Value, name: &str) -> Result<Option<f64>, KlingError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| {
                KlingError::new(
                    Code::AuthInvalid,
                    format!("The '{name}' claim is not a valid date"),
                )
            }),
        Some(_) => Err(KlingError::new(
            Code::AuthInvalid,
            format!("The '{name}' claim must be a number"),
        )),
    }
}

/// A stable 10-digit creator id for an access key (FNV-1a; the same key gives the same id on
/// every start, so `owned_by` survives restarts).
fn owner_id(access_key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in access_key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    1_000_000_000 + h % 9_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const NOW: i64 = 1_790_000_000;

    fn accounts() -> Accounts {
        Accounts::new(
            &[AccountSpec {
                access_key: "ak".into(),
                secret_key: "sk".into(),
            }],
            AuthMode::Strict,
            5,
        )
    }

    fn token(claims: Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn auth(a: &Accounts, h: &str) -> Result<Account, KlingError> {
        a.authenticate(Some(h.as_bytes()), NOW)
    }

    fn code(r: Result<Account, KlingError>) -> u32 {
        r.map(|_| 0).unwrap_or_else(|e| e.code.number())
    }

    #[test]
    fn a_token_signed_with_the_secret_key_names_its_account() {
        let a = accounts();
        let t = token(
            json!({"iss": "ak", "exp": NOW + 1800, "nbf": NOW - 5, "iat": NOW}),
            "sk",
        );
        let acc = auth(&a, &format!("Bearer {t}")).unwrap();
        assert_eq!(&*acc.access_key, "ak");
        assert_eq!(acc.owner_id.to_string().len(), 10);
    }

    #[test]
    fn each_failure_gets_its_documented_code() {
        let a = accounts();
        assert_eq!(code(a.authenticate(None, NOW)), 1001);
        assert_eq!(code(auth(&a, "   ")), 1001);
        assert_eq!(code(auth(&a, "Bearer ")), 1001);
        assert_eq!(code(auth(&a, "Bearer abc")), 1002);
        assert_eq!(
            auth(&a, "Bearer abc").unwrap_err().message,
            "The token was expected to have 3 parts, but got 0"
        );
        assert_eq!(code(auth(&a, "Basic dXNlcjpwYXNz")), 1002);
        let wrong = token(json!({"iss": "ak", "exp": NOW + 60}), "other");
        assert_eq!(code(auth(&a, &format!("Bearer {wrong}"))), 1002);
        let unknown = token(json!({"iss": "nobody", "exp": NOW + 60}), "sk");
        assert_eq!(code(auth(&a, &format!("Bearer {unknown}"))), 1002);
        let no_iss = token(json!({"exp": NOW + 60}), "sk");
        assert_eq!(code(auth(&a, &format!("Bearer {no_iss}"))), 1002);
        let expired = token(json!({"iss": "ak", "exp": NOW - 6}), "sk");
        assert_eq!(code(auth(&a, &format!("Bearer {expired}"))), 1004);
        let early = token(json!({"iss": "ak", "exp": NOW + 60, "nbf": NOW + 6}), "sk");
        assert_eq!(code(auth(&a, &format!("Bearer {early}"))), 1003);
        let bad_exp = token(json!({"iss": "ak", "exp": "tomorrow"}), "sk");
        assert_eq!(code(auth(&a, &format!("Bearer {bad_exp}"))), 1002);
    }

    #[test]
    fn leeway_tolerates_a_few_seconds_of_skew() {
        let a = accounts();
        let just_expired = token(json!({"iss": "ak", "exp": NOW - 4}), "sk");
        assert!(auth(&a, &format!("Bearer {just_expired}")).is_ok());
        let nearly_valid = token(json!({"iss": "ak", "nbf": NOW + 4}), "sk");
        assert!(auth(&a, &format!("Bearer {nearly_valid}")).is_ok());
    }

    #[test]
    fn other_algorithms_and_none_are_refused() {
        let a = accounts();
        let claims = json!({"iss": "ak", "exp": NOW + 60});
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"sk"),
        )
        .unwrap();
        assert_eq!(code(auth(&a, &format!("Bearer {hs512}"))), 1002);
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(
            code(auth(&a, &format!("Bearer {none_header}.{body}."))),
            1002
        );
    }

    #[test]
    fn any_mode_accepts_unverified_tokens_and_keeps_accounts_apart() {
        let a = Accounts::new(&[], AuthMode::Any, 5);
        let t1 = token(json!({"iss": "team-a", "exp": NOW + 60}), "whatever");
        let t2 = token(json!({"iss": "team-b", "exp": NOW + 60}), "something else");
        let a1 = auth(&a, &format!("Bearer {t1}")).unwrap();
        let a2 = auth(&a, &format!("Bearer {t2}")).unwrap();
        assert_ne!(a1.idx, a2.idx);
        assert_eq!(auth(&a, &format!("Bearer {t1}")).unwrap(), a1);
        let expired = token(json!({"iss": "team-a", "exp": NOW - 600}), "x");
        assert_eq!(code(auth(&a, &format!("Bearer {expired}"))), 1004);
    }
}

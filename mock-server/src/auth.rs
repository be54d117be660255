//! Accounts, and `Authorization` header → [`Account`], or the Kling auth error (1000–1004).
//!
//! Kling's legacy auth (SOURCES.md: General Info): `Authorization: Bearer <JWT>`, header
//! `{"alg":"HS256","typ":"JWT"}`, claims `iss` = access key, `exp`, `nbf`, signed with the secret
//! key. The checks run in the order of the auth0 java-jwt verifier the live API's messages come
//! from (SOURCES.md: observed error bodies: "The token was expected to have 3 parts, but got 0"):
//! scheme → structure → algorithm → issuer → claim types → signature → `exp` → `nbf`.
//!
//! | situation | code |
//! |---|---|
//! | no header, empty or blank header, `Bearer` with no token | 1001 |
//! | not UTF-8; no `Bearer` scheme (raw JWT, `Token`, `Basic`); a tab after `Bearer`; white space inside the token; not 3 parts; a part that is not unpadded base64url or not a JSON object | 1002 |
//! | `alg` missing, not a string or not exactly `HS256` (`none`, `HS384`, `HS512`, `RS256`, `hs256`, ...) | 1002 |
//! | `iss` missing, empty or not a string; unknown access key; signature that is not the HMAC-SHA256 of the secret key (also a token signed with any other secret, e.g. a public key or the access key: no algorithm confusion) | 1002 |
//! | `exp` / `nbf` present but not a number (`"1700000000"`, `true`, `{}`) | 1002 |
//! | `nbf` later than now + leeway | 1003 |
//! | `exp` earlier than now − leeway | 1004 |
//!
//! Accepted: the scheme in any case (`bearer`, `BEARER`), several spaces after it, white space
//! around the whole value; extra claims and header fields (`iat`, `kid`, `jku`, `crit`, any
//! `typ`), which are ignored: nothing is ever fetched. `exp` / `nbf` are RFC 7519 NumericDates:
//! fractions are fine, and a far-future `exp` (`1e300`, `u64::MAX`) simply never expires.
//!
//! Validity is checked against the wall clock, not the mock's virtual clock (clients sign with
//! their real clocks), with `--jwt-leeway` seconds (default 5) of tolerance either way, bounds
//! included. A token without `exp` or `nbf` is accepted, as java-jwt does.

use crate::error::json_kind;
use crate::error::{Code, KlingError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::ValueEnum;
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// How bearer tokens are checked.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The token must be an HS256 JWT whose `iss` is a configured access key, signed with its
    /// secret key.
    #[default]
    Strict,
    /// Any well-formed HS256 JWT is accepted without checking its signature; its `iss` names the
    /// account (created on first use). For clients whose keys cannot be changed.
    Any,
}

/// An account: the access key (the JWT `iss`) and the secret key that signs its tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    /// Access key.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

impl std::str::FromStr for AccountSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().split_once(':') {
            Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => Ok(AccountSpec {
                access_key: ak.to_string(),
                secret_key: sk.to_string(),
            }),
            _ => Err(format!("expected ACCESS_KEY:SECRET_KEY, got '{s}'")),
        }
    }
}

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
    /// Added through the control plane while running (`POST /__mock/accounts`), so it may be
    /// removed again; configured accounts may not.
    runtime: bool,
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
            a.insert(&s.access_key, Some(Arc::from(s.secret_key.as_str())), false);
        }
        a
    }

    fn insert(&self, access_key: &str, secret: Option<Arc<str>>, runtime: bool) -> Account {
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
                runtime,
            })
            .account
            .clone()
    }

    /// Add an account while running (`POST /__mock/accounts`): a sandbox of its own for a test
    /// run on a shared mock. Refused if the access key is taken.
    pub fn add(&self, access_key: &str, secret_key: &str) -> Result<Account, KlingError> {
        if access_key.trim().is_empty() || secret_key.is_empty() {
            return Err(KlingError::param(
                "access_key and secret_key must not be empty",
            ));
        }
        match self.by_key.entry(Arc::from(access_key)) {
            dashmap::Entry::Occupied(_) => Err(KlingError::param(format!(
                "access_key '{access_key}' is taken: an account with it exists"
            ))),
            dashmap::Entry::Vacant(v) => {
                let account = Account {
                    idx: self.next_idx.fetch_add(1, Ordering::Relaxed),
                    owner_id: owner_id(access_key),
                    access_key: v.key().clone(),
                };
                v.insert(Entry {
                    account: account.clone(),
                    secret: Some(Arc::from(secret_key)),
                    runtime: true,
                });
                Ok(account)
            }
        }
    }

    /// Remove an account added with [`Accounts::add`]: its tokens no longer authenticate (1002).
    /// The caller forgets its data. Configured accounts (and unknown keys) are refused.
    pub fn remove(&self, access_key: &str) -> Result<Account, KlingError> {
        match self.by_key.get(access_key).map(|e| e.runtime) {
            None => Err(KlingError::param(format!("unknown account '{access_key}'"))),
            Some(false) => Err(KlingError::param(format!(
                "account '{access_key}' is configured (--account, KLING_MOCK_ACCOUNTS or the \
                 config file) and cannot be removed; POST /__mock/reset {{\"account\": \
                 \"{access_key}\"}} forgets its data"
            ))),
            Some(true) => self
                .by_key
                .remove(access_key)
                .map(|(_, e)| e.account)
                .ok_or_else(|| KlingError::param(format!("unknown account '{access_key}'"))),
        }
    }

    /// The account with this access key, created (with no secret key, so no token verifies for
    /// it in strict mode) if unknown: data restored from a saved state stays addressable.
    pub fn ensure(&self, access_key: &str) -> Account {
        self.get(access_key)
            .unwrap_or_else(|| self.insert(access_key, None, false))
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

    /// Check an `Authorization` header value at wall time `now_secs`: the caller's account, or
    /// the 1001–1004 error whose message names what is wrong (see the module table).
    pub fn authenticate(
        &self,
        header: Option<&[u8]>,
        now_secs: i64,
    ) -> Result<Account, KlingError> {
        let token = bearer_token(header)?;
        self.verify(token, now_secs)
    }

    /// Structure → algorithm → issuer → claim types → signature → `exp` → `nbf`, as java-jwt
    /// decodes then verifies. Only `alg` of the header is read: `kid`, `jku`, `jwk`, `x5u`,
    /// `crit`, `typ`, ... are ignored (nothing is ever fetched, as java-jwt with a fixed HMAC
    /// secret). In `--auth any` mode the account is made only once the token passed every check.
    fn verify(&self, token: &str, now: i64) -> Result<Account, KlingError> {
        let [header_b64, payload_b64, signature_b64] = split_token(token)?;
        let header = decode_part(header_b64, "header")?;
        // RFC 7515 §4.1.1: `alg` is a case-sensitive string; Kling signs with HS256 only.
        match header.get("alg") {
            Some(Value::String(alg)) if alg == "HS256" => {}
            Some(Value::String(other)) => {
                return Err(invalid(format!(
                    "The token's algorithm {} is not supported: only HS256 is accepted",
                    quoted(other)
                )));
            }
            None | Some(Value::Null) => return Err(invalid("The token's header has no 'alg'")),
            Some(v) => {
                return Err(invalid(format!(
                    "The token's 'alg' must be a string, got {}",
                    json_kind(v)
                )));
            }
        }
        let payload = decode_part(payload_b64, "payload")?;
        let iss = match payload.get("iss") {
            None | Some(Value::Null) => {
                return Err(invalid("The token has no 'iss' claim (the access key)"));
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(invalid(
                    "The token's 'iss' claim is empty: it must be the access key",
                ));
            }
            Some(Value::String(s)) => s.as_str(),
            Some(v) => {
                return Err(invalid(format!(
                    "The token's 'iss' claim must be a string (the access key), got {}",
                    json_kind(v)
                )));
            }
        };
        let exp = date_claim(&payload, "exp")?;
        let nbf = date_claim(&payload, "nbf")?;
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| {
            invalid(format!(
                "The token's signature is not valid base64url{}",
                base64_hint(signature_b64)
            ))
        })?;
        match self.mode {
            AuthMode::Any => {
                // Unverified, but still shaped like an HMAC-SHA256 signature ("well-formed").
                if signature.len() != HS256_LEN {
                    return Err(invalid(format!(
                        "The token's signature is {} bytes long, not the {HS256_LEN} of HMAC-SHA256",
                        signature.len()
                    )));
                }
                self.check_times(exp, nbf, now)?;
                Ok(self
                    .get(iss)
                    .unwrap_or_else(|| self.insert(iss, None, false)))
            }
            AuthMode::Strict => {
                let entry = self.by_key.get(iss).map(|e| e.clone());
                let Some((account, secret)) = entry.and_then(|e| Some((e.account, e.secret?)))
                else {
                    return Err(invalid("Authorization is invalid: unknown access key"));
                };
                // RFC 7515 §5.2: the signing input is the header and payload as sent.
                let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts keys of any length");
                mac.update(signing_input.as_bytes());
                // Constant-time comparison; a wrong length fails too.
                mac.verify_slice(&signature)
                    .map_err(|_| invalid(BAD_SIGNATURE))?;
                self.check_times(exp, nbf, now)?;
                Ok(account)
            }
        }
    }

    /// `exp` / `nbf` against the wall clock, `leeway_secs` either way (inclusive: a token whose
    /// `exp` is exactly `now - leeway` still passes). Compared as f64, so a fractional date
    /// (RFC 7519 §2 allows them) or a far-future one (`1e300`, `u64::MAX`) needs no special case.
    fn check_times(&self, exp: Option<f64>, nbf: Option<f64>, now: i64) -> Result<(), KlingError> {
        let (now_s, leeway) = (now as f64, self.leeway_secs as f64);
        if let Some(exp) = exp
            && exp + leeway < now_s
        {
            return Err(self.time_error(Code::AuthExpired, "exp", exp, now));
        }
        if let Some(nbf) = nbf
            && nbf - leeway > now_s
        {
            return Err(self.time_error(Code::AuthNotYetValid, "nbf", nbf, now));
        }
        Ok(())
    }

    /// The table's message, then what a developer needs to see why: the claim, the server's
    /// time and the leeway (a clock skew between client and server is the usual cause), e.g.
    /// `Authorization has expired (exp 1790000000 = 2026-09-21T12:26:40Z; server time
    /// 1790000100 = 2026-09-21T12:28:20Z; leeway 5 s)`.
    fn time_error(&self, code: Code, claim: &str, value: f64, now: i64) -> KlingError {
        let date = |secs: f64| {
            // Up to 9999-12-31, what RFC 3339 can write.
            if (0.0..=253_402_300_799.0).contains(&secs) {
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
                format!(" = {}", humantime::format_rfc3339_seconds(t))
            } else {
                String::new()
            }
        };
        // A whole number of seconds as one; a fractional or huge date as Rust writes it (`1e300`).
        let shown = if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{}", value as i64)
        } else {
            format!("{value:?}")
        };
        KlingError::new(
            code,
            format!(
                "{} ({claim} {shown}{}; server time {now}{}; leeway {} s)",
                code.explanation(),
                date(value),
                date(now as f64),
                self.leeway_secs
            ),
        )
    }
}

/// java-jwt's message for a wrong signature.
const BAD_SIGNATURE: &str =
    "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA256";

/// Bytes of an HMAC-SHA256 signature.
const HS256_LEN: usize = 32;

/// HTTP optional white space (RFC 9110 §5.6.3).
const OWS: [char; 2] = [' ', '\t'];

fn invalid(message: impl Into<Cow<'static, str>>) -> KlingError {
    KlingError::new(Code::AuthInvalid, message)
}

/// The token of `Authorization: Bearer <token>`. The scheme is case-insensitive (RFC 9110
/// §11.1) and followed by one or more spaces (RFC 6750 §2.1: `"Bearer" 1*SP b64token`; a tab is
/// refused). White space around the whole value is ignored, as HTTP parsers drop it; inside the
/// token it is refused. Only the first `Authorization` header reaches here (`HeaderMap::get`).
fn bearer_token(header: Option<&[u8]>) -> Result<&str, KlingError> {
    let header = header.unwrap_or_default();
    let header = std::str::from_utf8(header)
        .map_err(|_| invalid("Authorization is invalid: the header is not valid UTF-8"))?;
    let header = header.trim_matches(OWS);
    if header.is_empty() {
        return Err(KlingError::plain(Code::AuthEmpty));
    }
    let (scheme, rest) = match header.find(OWS) {
        Some(i) => header.split_at(i),
        None => (header, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        let glued = scheme
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("bearer"));
        return Err(invalid(if glued {
            "Authorization is invalid: 'Bearer' must be followed by a space and the token".into()
        } else if rest.is_empty() {
            "Authorization is invalid: expected 'Bearer <token>', got no scheme".into()
        } else {
            format!(
                "Authorization is invalid: expected 'Bearer <token>', got the scheme {}",
                quoted(scheme)
            )
        }));
    }
    let token = rest.trim_start_matches(OWS);
    if rest[..rest.len() - token.len()].contains('\t') {
        return Err(invalid(
            "Authorization is invalid: 'Bearer' must be followed by spaces, not a tab",
        ));
    }
    if token.is_empty() {
        return Err(KlingError::plain(Code::AuthEmpty));
    }
    if token.contains(OWS) {
        return Err(invalid("The token contains white space"));
    }
    Ok(token)
}

/// The three dot-separated parts, or java-jwt's message: it counts 0 parts when there is no
/// dot, 2 for one dot and "> 3" beyond (the live message, SOURCES.md: observed error bodies).
fn split_token(token: &str) -> Result<[&str; 3], KlingError> {
    let mut parts = token.splitn(4, '.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok([h, p, s]),
        (_, None, _, _) => Err(wrong_parts("0")),
        (_, _, None, _) => Err(wrong_parts("2")),
        _ => Err(wrong_parts("> 3")),
    }
}

fn wrong_parts(got: &str) -> KlingError {
    invalid(format!(
        "The token was expected to have 3 parts, but got {got}"
    ))
}

/// A header or payload: unpadded base64url (RFC 7515 §2) of a JSON object.
fn decode_part(part: &str, name: &str) -> Result<Map<String, Value>, KlingError> {
    if part.is_empty() {
        return Err(invalid(format!("The token's {name} is empty")));
    }
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        invalid(format!(
            "The token's {name} is not valid base64url{}",
            base64_hint(part)
        ))
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(v) => Err(invalid(format!(
            "The token's {name} must be a JSON object, got {}",
            json_kind(&v)
        ))),
        Err(e) => Err(invalid(format!(
            "The token's {name} is not valid JSON: {e}"
        ))),
    }
}

/// Why a part that looks like base64 is not base64url, when the reason is a common one.
fn base64_hint(part: &str) -> &'static str {
    if part.contains('=') {
        " ('=' padding is not allowed, RFC 7515 §2)"
    } else if part.contains(['+', '/']) {
        " ('+' and '/' are plain base64: use '-' and '_')"
    } else {
        ""
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds, fractions allowed): absent or `null` means
/// unchecked, a number is read, anything else is 1002 (java-jwt: "non-numeric date value").
fn date_claim(payload: &Map<String, Value>, name: &str) -> Result<Option<f64>, KlingError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        // serde_json numbers are always finite (`1e400` is already a JSON error).
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(v) => Err(invalid(format!(
            "The token's '{name}' claim must be a NumericDate (seconds since 1970), got {}",
            json_kind(v)
        ))),
    }
}

/// `'value'`, cut to 32 characters: echoed values come from the caller and may be huge.
fn quoted(s: &str) -> String {
    const MAX: usize = 32;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("'{}…'", &s[..i]),
        None => format!("'{s}'"),
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
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
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

    #[test]
    fn messages_name_what_is_wrong() {
        let a = accounts();
        let msg = |h: &str| auth(&a, h).unwrap_err().message.into_owned();
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let hs256 = part(r#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = part(r#"{"iss":"ak"}"#);
        assert_eq!(
            msg("Bearer a.b"),
            "The token was expected to have 3 parts, but got 2"
        );
        assert_eq!(
            msg("Bearer a.b.c.d"),
            "The token was expected to have 3 parts, but got > 3"
        );
        assert_eq!(
            msg("Bearer ..."),
            "The token was expected to have 3 parts, but got > 3"
        );
        assert_eq!(msg("Bearer .."), "The token's header is empty");
        assert_eq!(
            msg(&format!("Bearer {hs256}=.{claims}.x")),
            "The token's header is not valid base64url ('=' padding is not allowed, RFC 7515 §2)"
        );
        assert_eq!(
            msg(&format!("Bearer {}.{claims}.x", part("[1]"))),
            "The token's header must be a JSON object, got an array"
        );
        assert!(
            msg(&format!("Bearer {hs256}.{}.x", part("{")))
                .starts_with("The token's payload is not valid JSON: EOF while parsing an object")
        );
        assert_eq!(
            msg(&format!("Bearer {}.{claims}.x", part(r#"{"alg":256}"#))),
            "The token's 'alg' must be a string, got a number"
        );
        assert_eq!(
            msg(&format!("Bearer {}.{claims}.x", part(r#"{"typ":"JWT"}"#))),
            "The token's header has no 'alg'"
        );
        let long_alg = format!(r#"{{"alg":"{}"}}"#, "X".repeat(1000));
        assert_eq!(
            msg(&format!("Bearer {}.{claims}.x", part(&long_alg))),
            format!(
                "The token's algorithm '{}…' is not supported: only HS256 is accepted",
                "X".repeat(32)
            )
        );
        assert_eq!(
            msg(&format!("Bearer {hs256}.{}.x", part(r#"{"iss":7}"#))),
            "The token's 'iss' claim must be a string (the access key), got a number"
        );
        assert_eq!(
            msg(&format!("Bearer {hs256}.{claims}.a+b/")),
            "The token's signature is not valid base64url ('+' and '/' are plain base64: use '-' and '_')"
        );
        let t = token(json!({"iss": "ak", "exp": true}), "sk");
        assert_eq!(
            msg(&format!("Bearer {t}")),
            "The token's 'exp' claim must be a NumericDate (seconds since 1970), got a boolean"
        );
        let t = token(json!({"iss": "ak"}), "sk");
        assert_eq!(
            msg(&format!("Bearer\t{t}")),
            "Authorization is invalid: 'Bearer' must be followed by spaces, not a tab"
        );
        assert_eq!(
            msg(&format!("Bearer{t}")),
            "Authorization is invalid: 'Bearer' must be followed by a space and the token"
        );
        assert_eq!(
            msg(&t),
            "Authorization is invalid: expected 'Bearer <token>', got no scheme"
        );
        assert_eq!(
            msg(&format!("JWT {t}")),
            "Authorization is invalid: expected 'Bearer <token>', got the scheme 'JWT'"
        );
        assert_eq!(
            msg(&format!("Bearer {t} {t}")),
            "The token contains white space"
        );
        let bytes = [b"Bearer ".as_slice(), &[0xff, 0xfe]].concat();
        assert_eq!(
            a.authenticate(Some(&bytes), NOW).unwrap_err().message,
            "Authorization is invalid: the header is not valid UTF-8"
        );
    }

    #[test]
    fn leeway_bounds_are_inclusive_and_configurable() {
        for leeway in [0, 5, 300] {
            let a = Accounts::new(
                &[AccountSpec {
                    access_key: "ak".into(),
                    secret_key: "sk".into(),
                }],
                AuthMode::Strict,
                leeway,
            );
            let l = leeway as i64;
            let at = |claims: Value| code(auth(&a, &format!("Bearer {}", token(claims, "sk"))));
            assert_eq!(at(json!({"iss": "ak", "exp": NOW - l})), 0, "leeway {l}");
            assert_eq!(at(json!({"iss": "ak", "exp": NOW - l - 1})), 1004);
            assert_eq!(
                at(json!({"iss": "ak", "exp": NOW as f64 - l as f64 - 0.5})),
                1004
            );
            assert_eq!(at(json!({"iss": "ak", "nbf": NOW + l})), 0);
            assert_eq!(at(json!({"iss": "ak", "nbf": NOW + l + 1})), 1003);
        }
    }

    #[test]
    fn any_mode_still_wants_a_well_formed_hs256_token() {
        let a = Accounts::new(&[], AuthMode::Any, 5);
        let t = token(json!({"iss": "team-a", "exp": NOW + 60}), "x");
        let (signing_input, _) = t.rsplit_once('.').unwrap();
        assert_eq!(code(auth(&a, &format!("Bearer {signing_input}."))), 1002);
        assert_eq!(
            auth(&a, &format!("Bearer {signing_input}.c2ln"))
                .unwrap_err()
                .message,
            "The token's signature is 3 bytes long, not the 32 of HMAC-SHA256"
        );
        let empty_iss = token(json!({"iss": "", "exp": NOW + 60}), "x");
        assert_eq!(code(auth(&a, &format!("Bearer {empty_iss}"))), 1002);
        let expired = token(json!({"iss": "team-b", "exp": NOW - 60}), "x");
        assert_eq!(code(auth(&a, &format!("Bearer {expired}"))), 1004);
        let bad_nbf = token(json!({"iss": "team-c", "nbf": "soon"}), "x");
        assert_eq!(code(auth(&a, &format!("Bearer {bad_nbf}"))), 1002);
        assert!(a.list().is_empty(), "no account made from a refused token");
    }

    /// Property tests: whatever the header, `authenticate` answers (never panics) with the
    /// account or a 1001–1004 error, and only a byte-identical valid token gets the account.
    mod props {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Kling's recipe at [`NOW`]; every edit of it is judged against this.
        fn valid_token() -> String {
            token(
                json!({"iss": "ak", "exp": NOW + 1800, "nbf": NOW - 5}),
                "sk",
            )
        }

        /// One edit of the header's bytes; positions are taken modulo the length.
        #[derive(Clone, Debug)]
        enum Edit {
            /// XOR the byte at this position with a non-zero mask (0x20 flips ASCII case).
            Flip(usize, u8),
            /// Keep only this many bytes.
            Truncate(usize),
            /// Insert a character's UTF-8 bytes before this position.
            Insert(usize, char),
            /// Remove the byte at this position.
            Remove(usize),
        }

        fn edit() -> impl Strategy<Value = Edit> {
            let ch = prop_oneof![
                any::<char>(),
                prop::sample::select(vec![' ', '\t', '.', '=', '-', '_', 'A', '+', '/', 'é']),
            ];
            prop_oneof![
                (any::<usize>(), prop_oneof![Just(0x20u8), 1u8..=255])
                    .prop_map(|(i, m)| Edit::Flip(i, m)),
                any::<usize>().prop_map(Edit::Truncate),
                (any::<usize>(), ch).prop_map(|(i, c)| Edit::Insert(i, c)),
                any::<usize>().prop_map(Edit::Remove),
            ]
        }

        fn apply(bytes: &mut Vec<u8>, e: &Edit) {
            let n = bytes.len();
            match *e {
                Edit::Flip(i, m) if n > 0 => bytes[i % n] ^= m,
                Edit::Truncate(i) => bytes.truncate(i % (n + 1)),
                Edit::Insert(i, c) => {
                    let at = i % (n + 1);
                    let mut buf = [0; 4];
                    bytes.splice(at..at, c.encode_utf8(&mut buf).bytes());
                }
                Edit::Remove(i) if n > 0 => {
                    bytes.remove(i % n);
                }
                _ => {}
            }
        }

        /// The oracle: `header` is `Bearer <valid>` up to what the checker may ignore (white
        /// space around the value, the scheme's case, extra spaces after it).
        fn is_the_valid_token(header: &[u8], valid: &str) -> bool {
            let Ok(s) = std::str::from_utf8(header) else {
                return false;
            };
            let s = s.trim_matches([' ', '\t']);
            s.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("bearer"))
                && s[6..].starts_with(' ')
                && s[6..].trim_start_matches(' ') == valid
        }

        #[track_caller]
        fn assert_auth_code(r: &Result<Account, KlingError>) {
            if let Err(e) = r {
                assert!(
                    (1001..=1004).contains(&e.code.number()),
                    "code {} for {:?}",
                    e.code.number(),
                    e.message
                );
                assert!(!e.message.is_empty());
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 2000,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn arbitrary_bytes_get_an_auth_error(bytes in vec(any::<u8>(), 0..200)) {
                let r = accounts().authenticate(Some(&bytes), NOW);
                assert_auth_code(&r);
                prop_assert!(r.is_err());
            }

            #[test]
            fn arbitrary_bearer_strings_get_an_auth_error(
                scheme in prop::sample::select(vec!["", "Bearer ", "bearer  ", "BEARER\t", "Basic "]),
                rest in "[A-Za-z0-9_=+/. \t-]{0,120}|\\PC{0,60}",
            ) {
                let h = format!("{scheme}{rest}");
                for a in [accounts(), Accounts::new(&[], AuthMode::Any, 5)] {
                    let r = a.authenticate(Some(h.as_bytes()), NOW);
                    assert_auth_code(&r);
                }
            }

            #[test]
            fn an_edited_token_is_accepted_only_if_it_is_still_the_valid_token(
                edits in vec(edit(), 1..4),
            ) {
                let valid = valid_token();
                let mut h = format!("Bearer {valid}").into_bytes();
                for e in &edits {
                    apply(&mut h, e);
                }
                let r = accounts().authenticate(Some(&h), NOW);
                assert_auth_code(&r);
                prop_assert_eq!(
                    r.is_ok(),
                    is_the_valid_token(&h, &valid),
                    "{:?} -> {:?}",
                    String::from_utf8_lossy(&h),
                    r.map_err(|e| e.message)
                );
                // `--auth any` skips the signature only: never panics, same codes.
                assert_auth_code(&Accounts::new(&[], AuthMode::Any, 5).authenticate(Some(&h), NOW));
            }
        }
    }
}

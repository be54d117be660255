//! Bearer tokens as the Kling documents build them (SOURCES.md: General Info): header
//! `{"alg":"HS256","typ":"JWT"}`, claims `iss` = access key, `exp` = now + lifetime,
//! `nbf` = now − 5 s, signed with the secret key.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Serialize;

/// The claims of a Kling token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The access key.
    pub iss: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Not valid before, Unix seconds.
    pub nbf: i64,
}

impl Claims {
    /// Claims valid from 5 s before `now_secs` for `lifetime_secs` (the documents' example uses
    /// 1800).
    pub fn new(access_key: &str, now_secs: i64, lifetime_secs: i64) -> Self {
        Claims {
            iss: access_key.to_string(),
            exp: now_secs + lifetime_secs,
            nbf: now_secs - 5,
        }
    }
}

/// Sign `claims` with `secret_key` (HS256).
pub fn sign(claims: &Claims, secret_key: &str) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret_key.as_bytes()),
    )
}

/// The `Authorization` header value for `access_key`/`secret_key` at `now_secs`.
pub fn authorization(
    access_key: &str,
    secret_key: &str,
    now_secs: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    Ok(format!(
        "Bearer {}",
        sign(&Claims::new(access_key, now_secs, 1800), secret_key)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    #[test]
    fn tokens_follow_the_documented_recipe() {
        let t = sign(&Claims::new("ak", 1_790_000_000, 1800), "sk").unwrap();
        let h = decode_header(&t).unwrap();
        assert_eq!(h.alg, Algorithm::HS256);
        assert_eq!(h.typ.as_deref(), Some("JWT"));
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        let c = decode::<serde_json::Value>(&t, &DecodingKey::from_secret(b"sk"), &v)
            .unwrap()
            .claims;
        assert_eq!(
            c,
            serde_json::json!({"iss": "ak", "exp": 1_790_001_800, "nbf": 1_789_999_995})
        );
        assert!(decode::<serde_json::Value>(&t, &DecodingKey::from_secret(b"other"), &v).is_err());
    }

    #[test]
    fn the_header_value_is_a_bearer_token() {
        let h = authorization("ak", "sk", 1_790_000_000).unwrap();
        assert!(h.starts_with("Bearer ey"));
        assert_eq!(h.matches('.').count(), 2);
    }
}

/// Tokens broken in one documented way each (for the auth property).
pub mod broken {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// Signed with HS384 (`hs512 = false`) or HS512 instead of HS256.
    pub fn other_alg(access_key: &str, secret_key: &str, now: i64, hs512: bool) -> String {
        let alg = if hs512 {
            Algorithm::HS512
        } else {
            Algorithm::HS384
        };
        encode(
            &Header::new(alg),
            &Claims::new(access_key, now, 1800),
            &EncodingKey::from_secret(secret_key.as_bytes()),
        )
        .unwrap_or_default()
    }

    /// `{"alg":"none"}` with an empty signature.
    pub fn alg_none(access_key: &str, now: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = serde_json::to_vec(&Claims::new(access_key, now, 1800)).unwrap_or_default();
        format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims))
    }

    /// A correctly signed token with the given `exp` and `nbf`.
    pub fn with_times(access_key: &str, secret_key: &str, exp: i64, nbf: i64) -> String {
        sign(
            &Claims {
                iss: access_key.to_string(),
                exp,
                nbf,
            },
            secret_key,
        )
        .unwrap_or_default()
    }
}

//! Signed callbacks, as Kling sends them when a Webhook Secret is set (kling-audio-samples.md §9):
//! the [Standard Webhooks](https://www.standardwebhooks.com/) scheme.
//!
//! Each delivery carries three headers:
//! * `webhook-id`: one id per status change, the same on every retry (and on a duplicate);
//! * `webhook-timestamp`: Unix **seconds** of the attempt, from the mock clock;
//! * `webhook-signature`: `v1,` + Base64(HMAC-SHA256(key, `"{id}.{timestamp}.{raw body}"`)), where
//!   the key is the Base64-decoded part of the secret after `whsec_`.
//!
//! A secret is parsed once, at startup ([`WebhookSecret`]'s `FromStr` is the command line's value
//! parser), so a malformed one stops the server from starting and signing itself cannot fail.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Header carrying the id of the status change.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the Unix time (seconds) of the attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the `v1,<base64>` signature.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// HMAC-SHA256 block size: the key is kept as one block (RFC 2104).
const BLOCK: usize = 64;

/// Base64 that accepts the secret with or without its `=` padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a webhook secret was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    /// The secret does not start with `whsec_`.
    #[error("a webhook secret must look like whsec_<base64>: the whsec_ prefix is missing")]
    MissingPrefix,
    /// What follows `whsec_` is not Base64.
    #[error(
        "a webhook secret must look like whsec_<base64>: the part after whsec_ is not base64 ({0})"
    )]
    NotBase64(String),
    /// What follows `whsec_` decodes to no bytes.
    #[error("a webhook secret must look like whsec_<base64>: the key after whsec_ is empty")]
    Empty,
}

/// A parsed `whsec_<base64>` secret: the HMAC-SHA256 key, ready to sign.
///
/// Kept as one 64-byte HMAC block, exactly as RFC 2104 prepares a key (a shorter key is padded
/// with zeros, a longer one replaced by its SHA-256), so the type is `Copy` and signing never
/// fails. `Debug` never shows the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WebhookSecret {
    block: [u8; BLOCK],
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl std::str::FromStr for WebhookSecret {
    type Err = WebhookSecretError;

    fn from_str(s: &str) -> Result<Self, WebhookSecretError> {
        let encoded = s
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookSecretError::MissingPrefix)?;
        let key = LENIENT_BASE64
            .decode(encoded)
            .map_err(|e| WebhookSecretError::NotBase64(e.to_string()))?;
        if key.is_empty() {
            return Err(WebhookSecretError::Empty);
        }
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(&key));
        } else {
            block[..key.len()].copy_from_slice(&key);
        }
        Ok(WebhookSecret { block })
    }
}

impl WebhookSecret {
    /// The `webhook-signature` value for one delivery: `v1,` + Base64(HMAC-SHA256(key,
    /// `"{id}.{timestamp}.{body}"`)).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&self.block.into());
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Sign one delivery with a `whsec_<base64>` secret: the `webhook-signature` header value,
/// `v1,` + Base64(HMAC-SHA256(base64-decode(secret minus `whsec_`), `"{id}.{timestamp}.{body}"`)).
pub fn sign_webhook(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, WebhookSecretError> {
    Ok(secret.parse::<WebhookSecret>()?.sign(id, timestamp, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VENDOR_SECRET: &str = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=";
    const VENDOR_BODY: &str = r#"{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}"#;

    #[test]
    fn the_vendor_test_vector_is_reproduced_exactly() {
        let sig = sign_webhook(
            VENDOR_SECRET,
            "9876543210",
            1781080794,
            VENDOR_BODY.as_bytes(),
        );
        assert_eq!(
            sig.as_deref(),
            Ok("v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4=")
        );
    }

    #[test]
    fn unpadded_base64_is_the_same_secret() {
        let unpadded = VENDOR_SECRET.trim_end_matches('=');
        assert_eq!(
            unpadded.parse::<WebhookSecret>(),
            VENDOR_SECRET.parse::<WebhookSecret>()
        );
    }

    #[test]
    fn long_keys_sign_like_plain_hmac() {
        // A 100-byte key is longer than the HMAC block: it must sign as HMAC itself does.
        let key = [7u8; 100];
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(b"1.2.body");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(sign_webhook(&secret, "1", 2, b"body").unwrap(), expected);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(
            "dGVzdA==".parse::<WebhookSecret>(),
            Err(WebhookSecretError::MissingPrefix)
        );
        assert!(matches!(
            "whsec_not base64!".parse::<WebhookSecret>(),
            Err(WebhookSecretError::NotBase64(_))
        ));
        assert_eq!(
            "whsec_".parse::<WebhookSecret>(),
            Err(WebhookSecretError::Empty)
        );
        assert!(sign_webhook("secret", "1", 1, b"{}").is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s: WebhookSecret = VENDOR_SECRET.parse().unwrap();
        assert!(!format!("{s:?}").contains("dGVz"));
    }
}

//! What protects a callback, for its receiver and for the network it crosses: the signature
//! Kling puts on it, and the allow-list of places it may go.
//!
//! **Signing**, as Kling signs when a Webhook Secret is set (SOURCES.md: webhook signing): the
//! [Standard Webhooks](https://www.standardwebhooks.com/) scheme. Each delivery carries three
//! headers:
//! * `webhook-id`: one id per status change, the same on every retry (and on a duplicate);
//! * `webhook-timestamp`: Unix **seconds** of the attempt, from the mock clock;
//! * `webhook-signature`: `v1,` + Base64(HMAC-SHA256(key, `"{id}.{timestamp}.{raw body}"`)), where
//!   the key is the Base64-decoded part of the secret after `whsec_`.
//!
//! A secret is parsed once, at startup ([`WebhookSecret`]'s `FromStr` is the command line's value
//! parser), so a malformed one stops the server from starting and signing itself cannot fail.
//!
//! **The allow-list** ([`CallbackAllow`], `--callback-allow`): a mock reachable by others must not
//! become a way to make requests into the network it runs in, since any caller chooses its
//! `callback_url`. Empty, every host is allowed. Otherwise a host name is allowed by a name entry
//! (`hooks.example.com`, `*.example.com`), an IP address by a network entry (`10.0.0.0/8`,
//! `::1`), and a host name no name entry allows is resolved and allowed only towards the
//! addresses a network entry holds. The check is made where the connection is made (the
//! `AllowResolver` the callback client resolves with), so a name cannot resolve to an allowed
//! address for the check and to another one for the connection (DNS rebinding). Downloads of
//! foreign input images (`--fetch-inputs`, `super::downloads`) obey the same list, with the same
//! client rules.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

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

/// One entry of the callback allow-list: a host name, every name under a domain, or an IP
/// network. Parsed from `hooks.example.com`, `*.example.com`, `127.0.0.1`, `[::1]`, `10.0.0.0/8`,
/// `fd00::/8`; a malformed entry is refused with a message naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    /// Exactly this host name (lowercase, without a trailing dot).
    Host(String),
    /// Every name under this domain (`*.example.com`: `a.example.com`, `a.b.example.com`, not
    /// `example.com` itself).
    Subdomains(String),
    /// Every address in this network (a single address is a /32 or a /128).
    Net(IpNet),
}

impl std::str::FromStr for AllowEntry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err(
                "an empty entry: give a host name, *.domain, an IP address or a network".into(),
            );
        }
        if t.contains('/') {
            let net: IpNet = t.parse().map_err(|_| {
                format!(
                    "'{t}' is not an IP network: use ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8 \
                     (prefix at most 32 for IPv4, 128 for IPv6)"
                )
            })?;
            return Ok(AllowEntry::Net(net.trunc()));
        }
        let bare = t
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(t);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(AllowEntry::Net(IpNet::from(ip.to_canonical())));
        }
        let name = t.strip_suffix('.').unwrap_or(t).to_ascii_lowercase();
        let (wildcard, domain) = match name.strip_prefix("*.") {
            Some(d) => (true, d.to_string()),
            None => (false, name),
        };
        if !is_host_name(&domain) {
            return Err(format!(
                "'{t}' is not a host name, *.domain, IP address or network (e.g. \
                 hooks.example.com, *.example.com, 127.0.0.1, 10.0.0.0/8)"
            ));
        }
        Ok(if wildcard {
            AllowEntry::Subdomains(domain)
        } else {
            AllowEntry::Host(domain)
        })
    }
}

impl std::fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowEntry::Host(h) => f.write_str(h),
            AllowEntry::Subdomains(d) => write!(f, "*.{d}"),
            AllowEntry::Net(n) if n.prefix_len() == n.max_prefix_len() => write!(f, "{}", n.addr()),
            AllowEntry::Net(n) => write!(f, "{n}"),
        }
    }
}

/// Whether `s` (lowercase) is a DNS host name: dot-separated labels of 1-63 letters, digits,
/// `-` (not at either end) or `_`, 253 characters at most, and a last label that is not all
/// digits (a URL parser reads `10.0.0` as an IPv4 address, so such an entry would never match).
fn is_host_name(s: &str) -> bool {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(label_ok)
        && !s
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
}

/// Where callbacks may go (`--callback-allow`): host names, `*.domain` wildcards and IP networks.
/// Empty (the default): anywhere.
///
/// Ports and schemes are not restricted. An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is
/// checked as the IPv4 address it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackAllow {
    entries: Vec<AllowEntry>,
}

impl CallbackAllow {
    /// An allow-list of these entries (none: everything is allowed).
    pub fn new(entries: impl IntoIterator<Item = AllowEntry>) -> Self {
        CallbackAllow {
            entries: entries.into_iter().collect(),
        }
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Whether no entry is set (every host is allowed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a name entry allows the host name `host` (case and a trailing dot ignored). A
    /// name no entry allows may still be reached through an address a network entry allows.
    pub fn allows_name(&self, host: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        self.entries.iter().any(|e| match e {
            AllowEntry::Host(h) => *h == host,
            AllowEntry::Subdomains(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            AllowEntry::Net(_) => false,
        })
    }

    /// Whether a network entry holds `ip`.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        if self.is_empty() {
            return true;
        }
        let ip = ip.to_canonical();
        self.entries.iter().any(|e| match e {
            AllowEntry::Net(n) => n.contains(&ip),
            _ => false,
        })
    }

    /// Why a connection to the IP address `ip` may not be made (`None`: it may): "host … is not
    /// in the callback allow-list (…)"; the caller says what was not sent.
    pub(crate) fn refuse_ip(&self, ip: IpAddr) -> Option<String> {
        (!self.allows_ip(ip))
            .then(|| format!("host {ip} is not in the callback allow-list ({self})"))
    }

    /// The addresses `host` resolved to that may be connected to: all of them when a name entry
    /// allows `host`, else those a network entry holds; an error saying why when none is left.
    fn filter_resolved(
        &self,
        host: &str,
        addrs: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, String> {
        if self.allows_name(host) {
            return Ok(addrs);
        }
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addrs.into_iter().partition(|a| self.allows_ip(a.ip()));
        if allowed.is_empty() {
            let ips: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
            return Err(format!(
                "host {host} (resolved to {}) is not in the callback allow-list ({self})",
                ips.join(", ")
            ));
        }
        Ok(allowed)
    }
}

impl std::fmt::Display for CallbackAllow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for CallbackAllow {
    type Err = String;

    /// A comma-separated list; blank items are skipped, so `""` is the empty (allow-all) list.
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .filter(|e| !e.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<AllowEntry>, String>>()
            .map(CallbackAllow::new)
    }
}

/// A connection refused by the allow-list (the error the [`AllowResolver`] gives, found again in
/// the transport error's causes).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotAllowed(pub String);

/// The DNS resolver of the callback client (and of `--fetch-inputs` downloads) when an
/// allow-list is set: resolves with the system resolver, then keeps only the addresses the list
/// allows ([`CallbackAllow::filter_resolved`]).
/// The connection goes to one of the addresses checked here, never to a second lookup's answer.
#[derive(Debug)]
pub(crate) struct AllowResolver(pub Arc<CallbackAllow>);

impl reqwest::dns::Resolve for AllowResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                // Not the allow-list's doing: an ordinary (retried) resolution failure.
                return Err(format!("{host} resolved to no address").into());
            }
            let allowed = allow
                .filter_resolved(&host, addrs)
                .map_err(|m| Box::new(NotAllowed(m)) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(s: &str) -> CallbackAllow {
        s.parse().unwrap()
    }

    #[test]
    fn allow_entries_parse_names_wildcards_addresses_and_networks() {
        let a =
            allow(" Hooks.Example.com. ,*.example.org, 127.0.0.1, [::1], 10.1.2.3/8, fd00::/8,");
        assert_eq!(
            a.entries(),
            [
                AllowEntry::Host("hooks.example.com".into()),
                AllowEntry::Subdomains("example.org".into()),
                AllowEntry::Net("127.0.0.1/32".parse().unwrap()),
                AllowEntry::Net("::1/128".parse().unwrap()),
                AllowEntry::Net("10.0.0.0/8".parse().unwrap()),
                AllowEntry::Net("fd00::/8".parse().unwrap()),
            ]
        );
        assert_eq!(
            a.to_string(),
            "hooks.example.com,*.example.org,127.0.0.1,::1,10.0.0.0/8,fd00::/8"
        );
        assert!(allow("").is_empty());
    }

    #[test]
    fn bad_allow_entries_are_refused_with_their_text() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/x",
            "exa mple.com",
            "*",
            "*.",
            "-bad.example.com",
            "10.0.0",
            "http://example.com",
            "a..b",
        ] {
            let err = bad.parse::<AllowEntry>().expect_err(bad);
            assert!(err.contains(bad), "{bad}: {err}");
        }
        assert!("127.0.0.1,,nope!".parse::<CallbackAllow>().is_err());
    }

    #[test]
    fn names_match_exactly_or_under_a_wildcard_domain() {
        let a = allow("hooks.example.com,*.example.org");
        assert!(a.allows_name("hooks.example.com"));
        assert!(a.allows_name("HOOKS.example.com."));
        assert!(!a.allows_name("evil.hooks.example.com"));
        assert!(!a.allows_name("example.com"));
        assert!(a.allows_name("a.example.org"));
        assert!(a.allows_name("a.b.example.org"));
        assert!(!a.allows_name("example.org"));
        assert!(!a.allows_name("badexample.org"));
        assert!(
            !a.allows_ip("93.184.216.34".parse().unwrap()),
            "names do not allow IPs"
        );
    }

    #[test]
    fn addresses_match_networks_and_mapped_ipv4_counts_as_ipv4() {
        let a = allow("127.0.0.0/8,fd00::/8");
        assert!(a.allows_ip("127.1.2.3".parse().unwrap()));
        assert!(a.allows_ip("::ffff:127.0.0.1".parse().unwrap()));
        assert!(a.allows_ip("fd12::1".parse().unwrap()));
        assert!(!a.allows_ip("::1".parse().unwrap()));
        assert!(!a.allows_ip("10.0.0.1".parse().unwrap()));
        assert!(!a.allows_ip("::ffff:10.0.0.1".parse().unwrap()));
        let why = a.refuse_ip("10.0.0.1".parse().unwrap()).unwrap();
        assert!(
            why.contains("10.0.0.1") && why.contains("127.0.0.0/8"),
            "{why}"
        );
        assert!(CallbackAllow::default().allows_ip("10.0.0.1".parse().unwrap()));
        assert!(CallbackAllow::default().allows_name("anything"));
    }

    #[test]
    fn resolved_addresses_are_filtered_unless_the_name_is_allowed() {
        let addrs: Vec<SocketAddr> =
            vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        let a = allow("127.0.0.0/8");
        assert_eq!(
            a.filter_resolved("localhost", addrs.clone()).unwrap(),
            [addrs[0]]
        );
        assert_eq!(
            allow("localhost")
                .filter_resolved("localhost", addrs.clone())
                .unwrap(),
            addrs
        );
        let why = allow("10.0.0.0/8")
            .filter_resolved("localhost", addrs)
            .unwrap_err();
        assert!(
            why.contains("localhost") && why.contains("127.0.0.1, ::1"),
            "{why}"
        );
    }

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

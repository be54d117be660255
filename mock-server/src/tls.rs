//! HTTPS (`--tls`, `--tls-cert`/`--tls-key`): the certificate the mock serves and the rustls
//! acceptor [`Server::run`](crate::Server::run) hands to the
//! [`FaultyListener`](crate::control::transport::FaultyListener).
//!
//! * [`TlsConfig::SelfSigned`]: a fresh key pair (ECDSA P-256) and a self-signed certificate for
//!   `localhost`, `127.0.0.1`, `::1`, the bound address and the host of the public URL. Only the
//!   certificate is written to disk (to be trusted by clients); the key stays in memory.
//! * [`TlsConfig::Files`]: a PEM certificate chain and its private key.
//!
//! rustls runs on aws-lc-rs, the provider reqwest already builds; TLS 1.2 and 1.3, ALPN
//! `http/1.1` (the mock speaks HTTP/1.1 only).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Where the HTTPS certificate comes from (`--tls`, `--tls-cert`/`--tls-key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsConfig {
    /// A self-signed certificate generated at start, for `localhost`, `127.0.0.1`, `::1`, the
    /// bound address and the host of the public URL; its PEM is written to `cert_out`
    /// (`None`: `kling-mock-PORT.pem` in the system temp directory) so clients can trust it.
    SelfSigned {
        /// Where the certificate (not the key) is written.
        cert_out: Option<std::path::PathBuf>,
    },
    /// A certificate chain and its private key from PEM files.
    Files {
        /// The certificate chain, leaf first.
        cert: std::path::PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: std::path::PathBuf,
    },
}

impl TlsConfig {
    /// The TLS options as the command line and the file give them: a certificate and key
    /// (both, or neither) win; `tls` or `cert_out` alone ask for a generated certificate.
    pub(crate) fn from_options(
        tls: bool,
        cert: Option<std::path::PathBuf>,
        key: Option<std::path::PathBuf>,
        cert_out: Option<std::path::PathBuf>,
    ) -> Option<TlsConfig> {
        match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsConfig::Files { cert, key }),
            _ if tls || cert_out.is_some() => Some(TlsConfig::SelfSigned { cert_out }),
            _ => None,
        }
    }
}

/// The certificate being served and the acceptor that serves it.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    cert_pem: String,
    cert_path: PathBuf,
    generated: bool,
    names: Vec<String>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert_path", &self.cert_path)
            .field("generated", &self.generated)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Generate or load the certificate (writing a generated one out) and build the acceptor.
    /// `local` is the bound address, `public_url` the configured public URL.
    pub fn prepare(
        config: &TlsConfig,
        public_url: Option<&str>,
        local: SocketAddr,
    ) -> io::Result<Tls> {
        let (chain, key, cert_pem, cert_path, generated, names) = match config {
            TlsConfig::SelfSigned { cert_out } => {
                let names = self_signed_names(public_url, local);
                let (cert, key) = generate(&names)?;
                let pem = cert.pem();
                let path = match cert_out {
                    Some(p) => {
                        write_atomically(p, &pem).map_err(|e| {
                            tls_error(format!(
                                "cannot write the certificate to {}: {e}",
                                p.display()
                            ))
                        })?;
                        p.clone()
                    }
                    None => write_default(local.port(), &pem)?,
                };
                let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
                (vec![cert.der().clone()], key, pem, path, true, names)
            }
            TlsConfig::Files { cert, key } => {
                let (chain, pem) = load_chain(cert)?;
                let key = load_key(key)?;
                (chain, key, pem, cert.clone(), false, Vec::new())
            }
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                tls_error(format!(
                    "the certificate and key do not make a usable pair: {e}"
                ))
            })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            cert_pem,
            cert_path,
            generated,
            names,
        })
    }

    /// The served certificate chain as PEM (for a generated certificate: the one certificate
    /// clients should trust).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Where the certificate is: the file a generated one was written to, or the given file.
    pub fn certificate_path(&self) -> &Path {
        &self.cert_path
    }

    /// Whether the certificate was generated at start (self-signed).
    pub fn is_generated(&self) -> bool {
        self.generated
    }

    /// The names (DNS names and IP addresses) a generated certificate is valid for.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

fn tls_error(msg: String) -> io::Error {
    io::Error::other(format!("TLS: {msg}"))
}

/// `localhost`, `127.0.0.1`, `::1`, the bound IP (unless unspecified) and the public URL's host.
fn self_signed_names(public_url: Option<&str>, local: SocketAddr) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !local.ip().is_unspecified() {
        names.push(local.ip().to_string());
    }
    if let Some(host) = public_url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| match u.host()? {
            url::Host::Domain(d) => Some(d.to_ascii_lowercase()),
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip).to_string()),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip).to_string()),
        })
    {
        names.push(host);
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn generate(names: &[String]) -> io::Result<(rcgen::Certificate, rcgen::KeyPair)> {
    let fail = |e: rcgen::Error| tls_error(format!("cannot generate a certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(fail)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kling-mock self-signed");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "kling-mock");
    // Valid from yesterday for a year (some platforms refuse server certificates valid for
    // longer than 825 days, even from a root the user added), for server authentication.
    let today = days_since_epoch();
    let (y, m, d) = civil_from_days(today - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = civil_from_days(today + 365);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok((cert, key))
}

fn days_since_epoch() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

/// (year, month, day) of a day counted from 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// Write `pem` to `path` through a fresh sibling file and a rename: never through a link that
/// already sits at `path`, and a reader never sees half a file.
fn write_atomically(path: &Path, pem: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(pem.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `kling-mock-PORT.pem` in the temp directory; if that cannot be replaced (say another user
/// owns it), a fresh random name next to it.
fn write_default(port: u16, pem: &str) -> io::Result<PathBuf> {
    let dir = std::env::temp_dir();
    let by_port = dir.join(format!("kling-mock-{port}.pem"));
    match write_atomically(&by_port, pem) {
        Ok(()) => Ok(by_port),
        Err(first) => {
            let random = dir.join(format!(
                "kling-mock-{port}-{}.pem",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&random)
                .and_then(|mut f| f.write_all(pem.as_bytes()))
                .map_err(|e| {
                    tls_error(format!(
                        "cannot write the certificate to {} ({first}) nor to {} ({e}); choose a path with --tls-cert-out",
                        by_port.display(),
                        random.display()
                    ))
                })?;
            Ok(random)
        }
    }
}

fn load_chain(path: &Path) -> io::Result<(Vec<CertificateDer<'static>>, String)> {
    let fail = |e: String| tls_error(format!("certificate file {}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if chain.is_empty() {
        return Err(fail("no PEM CERTIFICATE in it".into()));
    }
    let pem = String::from_utf8_lossy(&bytes).into_owned();
    Ok((chain, pem))
}

fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let fail = |e: String| tls_error(format!("key file {}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            fail("no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".into())
        }
        e => fail(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_names_cover_loopback_the_bound_ip_and_the_public_host() {
        let local: SocketAddr = "10.1.2.3:8443".parse().unwrap();
        let names = self_signed_names(Some("https://Mock.example:9443/base"), local);
        assert_eq!(
            names,
            ["localhost", "127.0.0.1", "::1", "10.1.2.3", "mock.example"]
        );
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert_eq!(
            self_signed_names(Some("https://[::1]:1/"), any),
            ["localhost", "127.0.0.1", "::1"]
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn a_generated_certificate_is_written_and_served() {
        let dir = std::env::temp_dir().join(format!("kling-mock-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("cert.pem");
        let cfg = TlsConfig::SelfSigned {
            cert_out: Some(out.clone()),
        };
        let tls = Tls::prepare(&cfg, None, "127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(tls.is_generated());
        assert_eq!(tls.certificate_path(), out);
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(written, tls.certificate_pem());
        assert!(written.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!written.contains("PRIVATE KEY"));
        // Only the certificate is left in the directory (no temporary file).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_or_mismatched_files_are_clear_errors() {
        let missing = TlsConfig::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let err = Tls::prepare(&missing, None, "127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("certificate file /nonexistent/cert.pem"),
            "{err}"
        );
        // A certificate with another certificate's key.
        let dir = std::env::temp_dir().join(format!("kling-mock-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let names = ["localhost".to_string()];
        let (cert, _) = generate(&names).unwrap();
        let (_, other_key) = generate(&names).unwrap();
        let (cert_path, key_path) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, other_key.serialize_pem()).unwrap();
        let mismatched = TlsConfig::Files {
            cert: cert_path.clone(),
            key: key_path.clone(),
        };
        let err = Tls::prepare(&mismatched, None, "127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("do not make a usable pair"),
            "{err}"
        );
        // A key file that holds no key.
        std::fs::write(&key_path, cert.pem()).unwrap();
        let err = Tls::prepare(&mismatched, None, "127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no PEM private key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

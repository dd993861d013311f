//! The mutual-TLS listener's certificates: the server certificate chain and key, and the CA
//! bundle client certificates must chain to. A client certificate is required; TLS 1.2 and
//! 1.3 only (rustls offers nothing older), ALPN `h2`. [`TlsState::reload`] reads the files
//! again (on SIGHUP): new connections get the new certificates, established ones keep
//! theirs, and a set that does not load leaves the old one in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

use crate::access::CertIdentity;

/// The files of `[tls]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain of the server, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to.
    pub client_ca: PathBuf,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("read {what} {path}")]
    Pem {
        /// "certificate", "private key", "client CA".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file held no certificate.
    #[error("{what} {path} holds no certificate")]
    Empty {
        /// "certificate" or "client CA".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A client CA certificate was refused.
    #[error("client CA {path}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier from {path}")]
    Verifier {
        /// The client CA file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// The certificate and key do not make a server configuration (a key that does not
    /// match the certificate, an unsupported key type).
    #[error("server certificate {cert} with key {key}")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Builds the server configuration from the files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs("certificate", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::Pem {
        what: "private key",
        path: files.key.clone(),
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs("client CA", &files.client_ca)? {
        roots.add(ca).map_err(|source| TlsError::ClientCa {
            path: files.client_ca.clone(),
            source,
        })?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|source| TlsError::Verifier {
        path: files.client_ca.clone(),
        source,
    })?;
    let config_error = |source| TlsError::Config {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(config_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(config_error)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The current server configuration, replaced by [`TlsState::reload`].
pub struct TlsState {
    files: TlsFiles,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl TlsState {
    /// Loads the files; fails when they do not make a configuration.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            files,
            current: RwLock::new(config),
        })
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again. On error the previous configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }
}

/// Why a client certificate's names could not be read.
#[derive(Debug, thiserror::Error)]
#[error("parse client certificate: {0}")]
pub struct CertNameError(String);

/// The names a (verified) client certificate carries: subject CN, subjectAltName DNS names
/// and URIs (RFC 5280 §4.2.1.6).
pub fn cert_identity(der: &[u8]) -> Result<CertIdentity, CertNameError> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertNameError(e.to_string()))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let mut identity = CertIdentity {
        cn,
        ..CertIdentity::default()
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => identity.dns.push(d.to_ascii_lowercase()),
                GeneralName::URI(u) => identity.uris.push(u.to_string()),
                _ => {}
            }
        }
    }
    identity.dns.sort();
    identity.dns.dedup();
    identity.uris.sort();
    identity.uris.dedup();
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_a_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["Robot-7.fleet".to_string()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fleet-controller");
        params.subject_alt_names.push(rcgen::SanType::URI(
            rcgen::string::Ia5String::try_from("spiffe://fleet/ctl").expect("uri"),
        ));
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let id = cert_identity(cert.der()).expect("names");
        assert_eq!(id.cn.as_deref(), Some("fleet-controller"));
        assert_eq!(id.dns, vec!["robot-7.fleet".to_string()]);
        assert_eq!(id.uris, vec!["spiffe://fleet/ctl".to_string()]);
        assert!(cert_identity(b"not a certificate").is_err());
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("empty.pem"), "").expect("write");
        let files = TlsFiles {
            cert: p("empty.pem"),
            key: p("missing.key"),
            client_ca: p("empty.pem"),
        };
        let err = server_config(&files).expect_err("empty").to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no certificate"),
            "{err}"
        );
    }
}

//! Certificates for a fleet (`netpilot certs`): a CA, a server certificate per robot and
//! client certificates per controller, on rcgen. Keys are ECDSA P-256; files are PEM, keys
//! written with mode 0600.
//!
//! The daemon's `[tls] client_ca` is the CA that signs client certificates, and clients
//! trust the CA that signed the daemon's certificate; one fleet CA can do both. A client's
//! identity is its certificate's subject CN and subjectAltName DNS names and URIs, which
//! `[access]` maps to roles (`cn:…`, `dns:…`, `uri:…`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Why a certificate could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused (an invalid name, a key it cannot use).
    #[error("{what}")]
    Generate {
        /// What was being made.
        what: String,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A file could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What a certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// A daemon's TLS server certificate (extended key usage serverAuth).
    Server,
    /// A controller's client certificate (clientAuth).
    Client,
}

/// A certificate to issue.
#[derive(Debug, Clone)]
pub struct Request {
    /// Subject common name.
    pub cn: String,
    /// subjectAltName DNS names.
    pub dns: Vec<String>,
    /// subjectAltName IP addresses (servers reached by address).
    pub ips: Vec<IpAddr>,
    /// subjectAltName URIs (SPIFFE IDs).
    pub uris: Vec<String>,
    /// Server or client.
    pub usage: Usage,
    /// Valid from.
    pub not_before: SystemTime,
    /// Valid until.
    pub not_after: SystemTime,
}

impl Request {
    /// A request valid from an hour ago for `days` days.
    pub fn new(cn: &str, usage: Usage, days: u32) -> Self {
        let now = SystemTime::now();
        Self {
            cn: cn.to_string(),
            dns: vec![],
            ips: vec![],
            uris: vec![],
            usage,
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(u64::from(days) * 86_400),
        }
    }
}

/// A certificate and its key, both PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The private key (PKCS#8).
    pub key: String,
}

fn generate<T>(what: &str, r: Result<T, rcgen::Error>) -> Result<T, CertError> {
    r.map_err(|source| CertError::Generate {
        what: what.to_string(),
        source,
    })
}

/// A new self-signed CA named `name`, valid for `days` days.
pub fn new_ca(name: &str, days: u32) -> Result<Pem, CertError> {
    let what = format!("make CA {name:?}");
    let mut params = generate(&what, CertificateParams::new(Vec::<String>::new()))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(3600)).into();
    params.not_after = (now + Duration::from_secs(u64::from(days) * 86_400)).into();
    let key = generate(&what, KeyPair::generate())?;
    let cert = generate(&what, params.self_signed(&key))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Issues a certificate for `req`, signed by `ca`.
pub fn issue(ca: &Pem, req: &Request) -> Result<Pem, CertError> {
    let what = format!("issue a certificate for {:?}", req.cn);
    let ca_key = generate(&what, KeyPair::from_pem(&ca.key))?;
    let issuer = generate(&what, Issuer::from_ca_cert_pem(&ca.cert, ca_key))?;
    let mut params = generate(&what, CertificateParams::new(req.dns.clone()))?;
    params
        .distinguished_name
        .push(DnType::CommonName, req.cn.as_str());
    for ip in &req.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    for uri in &req.uris {
        let uri = generate(&what, rcgen::string::Ia5String::try_from(uri.as_str()))?;
        params.subject_alt_names.push(SanType::URI(uri));
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match req.usage {
        Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.not_before = req.not_before.into();
    params.not_after = req.not_after.into();
    let key = generate(&what, KeyPair::generate())?;
    let cert = generate(&what, params.signed_by(&key, &issuer))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Reads `NAME.pem` and `NAME.key` from `dir`.
pub fn read(dir: &Path, name: &str) -> Result<Pem, CertError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|source| CertError::Io {
            action: "read",
            path,
            source,
        })
    };
    Ok(Pem {
        cert: read(dir.join(format!("{name}.pem")))?,
        key: read(dir.join(format!("{name}.key")))?,
    })
}

/// Writes `NAME.pem` (0644) and `NAME.key` (0600) into `dir`, creating it; returns the two
/// paths.
pub fn write(dir: &Path, name: &str, pem: &Pem) -> Result<(PathBuf, PathBuf), CertError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CertError::Io {
            action: "write",
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    for (path, text, mode) in [(&cert, &pem.cert, 0o644), (&key, &pem.key, 0o600)] {
        let _ = std::fs::remove_file(path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(io(path))?;
        f.write_all(text.as_bytes()).map_err(io(path))?;
    }
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_carries_its_names() {
        let ca = new_ca("test CA", 1).expect("ca");
        let mut req = Request::new("fleet-controller", Usage::Client, 1);
        req.uris.push("spiffe://fleet/ctl".into());
        req.dns.push("ctl.fleet".into());
        let pem = issue(&ca, &req).expect("issue");
        let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.cert.as_bytes());
        use rustls_pki_types::pem::PemObject;
        let der = der.expect("pem");
        let id = crate::api::tls::cert_identity(&der).expect("names");
        assert_eq!(id.cn.as_deref(), Some("fleet-controller"));
        assert_eq!(id.dns, vec!["ctl.fleet".to_string()]);
        assert_eq!(id.uris, vec!["spiffe://fleet/ctl".to_string()]);
        let dir = tempfile::tempdir().expect("dir");
        let (_, key) = write(dir.path(), "ctl", &pem).expect("write");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(dir.path(), "ctl").expect("read").cert, pem.cert);
    }
}

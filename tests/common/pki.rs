//! A throw-away test PKI made with openssl at test time, so no key is ever committed: a CA,
//! a server certificate for hostapd's EAP server (CN `radius.np.test`) and a client
//! certificate for EAP-TLS (CN `np-tls-client`).

use std::path::Path;

use super::run;

/// Test PKI made with openssl: a CA, a server certificate, a client certificate.
pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

/// Makes the PKI in `dir` (ECDSA P-256, valid two days).
pub fn make_pki(dir: &Path) -> Pki {
    let p = |n: &str| dir.join(n).display().to_string();
    let key = |name: &str| {
        run(
            "openssl",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &p(name),
            ],
        );
    };
    key("ca.key");
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &p("ca.key"),
            "-subj",
            "/CN=netpilot test CA",
            "-days",
            "2",
            "-out",
            &p("ca.pem"),
        ],
    );
    for (who, cn) in [("server", "radius.np.test"), ("client", "np-tls-client")] {
        key(&format!("{who}.key"));
        run(
            "openssl",
            &[
                "req",
                "-new",
                "-key",
                &p(&format!("{who}.key")),
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &p(&format!("{who}.csr")),
            ],
        );
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &p(&format!("{who}.csr")),
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &p(&format!("{who}.pem")),
            ],
        );
    }
    Pki {
        ca: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        client_cert: p("client.pem"),
        client_key: p("client.key"),
    }
}

//! IEEE 802.1X peers for wired tests: a real `hostapd -Dwired` authenticator with its
//! internal EAP server (`eap_server=1`) on the peer end of a veth, with the server
//! certificate of a [`super::pki::Pki`].

use std::path::Path;
use std::time::Instant;

use super::pki::Pki;
use super::{Netns, Peer, DEADLINE};

/// Lower-case hex of `b`, as hostapd's eap_user file takes odd passwords.
pub fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `hostapd -Dwired -d` (debug log in `hostapd.log`) on `iface` in a namespace,
/// authenticating against an `eap_user` file with the test PKI's server certificate. Killed
/// by its PID on drop.
pub struct Authenticator {
    _process: Peer,
    log: std::path::PathBuf,
}

impl Authenticator {
    /// Starts hostapd on `iface` in `ns` with `users` as its eap_user file (hostapd's
    /// hostapd.eap_user format), its files and log (`hostapd.log`) in `dir`. Returns once it
    /// has opened the port, so that no EAPOL-Start is lost.
    pub fn start(ns: &Netns, iface: &str, dir: &Path, pki: &Pki, users: &str) -> Self {
        let users_path = dir.join("eap_user");
        std::fs::write(&users_path, users).expect("eap_user");
        let conf = format!(
            "interface={iface}\ndriver=wired\nieee8021x=1\neap_server=1\nuse_pae_group_addr=1\n\
             eap_user_file={}\nca_cert={}\nserver_cert={}\nprivate_key={}\n\
             logger_stdout=-1\nlogger_stdout_level=1\n",
            users_path.display(),
            pki.ca,
            pki.server_cert,
            pki.server_key
        );
        let conf_path = dir.join("hostapd.conf");
        std::fs::write(&conf_path, conf).expect("hostapd.conf");
        // hostapd's debug output goes to stdout, or with -f to a file.
        let log = dir.join("hostapd.log");
        let process = Peer::start(
            ns,
            "hostapd",
            "hostapd",
            &[
                "-d",
                "-f",
                &log.display().to_string(),
                &conf_path.display().to_string(),
            ],
            &dir.join("hostapd.stderr"),
        );
        let me = Authenticator {
            _process: process,
            log,
        };
        let start = Instant::now();
        while !me.log().contains("AP-ENABLED") {
            assert!(
                start.elapsed() < DEADLINE,
                "hostapd did not start:\n{}",
                me.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        me
    }

    /// Everything hostapd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of its log containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }
}

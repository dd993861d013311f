//! A connect request as a wpa_supplicant network block: which key management, PMF and
//! credentials the network's security asks for.

use super::supplicant::{self, EapMethod, EapSettings, NetworkSettings, Phase2, Psk, SaePwe};
use super::ConnectRequest;
use crate::model::{self, Security, SecurityClass};

/// Why a request cannot become a network block.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A credential the security needs is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// wpa_supplicant's rules refuse the values (the message names the field).
    #[error(transparent)]
    Config(#[from] supplicant::ConfigError),
}

/// The network block for `req`. `frequencies` are the channels the network was seen on:
/// wpa_supplicant then scans only those for it (a quick scan, as iwd does). `wired` makes a
/// wired 802.1X block (wpa_supplicant's `wired` driver ignores the SSID).
pub fn network_settings(
    req: &ConnectRequest,
    frequencies: &[u32],
    wired: bool,
) -> Result<NetworkSettings, SettingsError> {
    let c = &req.credentials;
    let security = match req.class {
        SecurityClass::None => supplicant::Security::Open,
        SecurityClass::Wep => supplicant::Security::Wep,
        SecurityClass::Psk => {
            let key = c
                .passphrase
                .as_ref()
                .ok_or(SettingsError::Missing("passphrase"))?;
            let psk = Psk::new(key.clone())?;
            let (has_psk, has_sae) = (
                req.security.contains(&Security::Psk),
                req.security.contains(&Security::Sae),
            );
            match (has_psk, has_sae) {
                (true, true) => supplicant::Security::PskSae {
                    psk,
                    pwe: SaePwe::Both,
                },
                (false, true) => supplicant::Security::Sae {
                    psk,
                    pwe: SaePwe::Both,
                },
                _ => supplicant::Security::Psk(psk),
            }
        }
        SecurityClass::Ieee8021x => {
            let eap = req.eap.clone().unwrap_or_default();
            let identity = c
                .identity
                .as_ref()
                .ok_or(SettingsError::Missing("identity"))?;
            let phase2 = match eap.phase2 {
                model::EapPhase2::Mschapv2 => Phase2::MsChapV2,
                model::EapPhase2::Pap => Phase2::Pap,
                model::EapPhase2::Gtc => Phase2::Gtc,
            };
            let method = match eap.method {
                model::EapMethod::Peap => EapMethod::Peap(phase2),
                model::EapMethod::Ttls => EapMethod::Ttls(phase2),
                model::EapMethod::Tls => EapMethod::Tls,
            };
            if eap.ca_cert.is_none() {
                tracing::warn!(service = %req.id, "no CA certificate configured: the 802.1X server is not verified");
            }
            let mut s = EapSettings::new(method, identity.expose().as_bytes());
            s.anonymous_identity = eap.anonymous_identity.map(String::into_bytes);
            s.password = c.password.clone();
            s.ca_cert = eap.ca_cert;
            s.client_cert = eap.client_cert;
            s.private_key = eap.private_key;
            s.private_key_password = c.private_key_passphrase.clone();
            s.domain_suffix_match = eap.domain_match;
            if wired {
                supplicant::Security::WiredEap(Box::new(s))
            } else {
                supplicant::Security::Eap(Box::new(s))
            }
        }
    };
    let ssid = if wired {
        b"wired".to_vec()
    } else {
        req.ssid.clone()
    };
    let mut settings = NetworkSettings::new(ssid, security)?;
    settings.hidden = req.hidden;
    if !req.hidden {
        settings.scan_freqs = frequencies.to_vec();
    }
    settings.variables()?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Credentials, EapConfig, Secret as ModelSecret, ServiceId};

    fn request(class: SecurityClass, security: Vec<Security>, c: Credentials) -> ConnectRequest {
        ConnectRequest {
            id: ServiceId("wifi_x".into()),
            netdev: Some(3),
            ssid: b"home".to_vec(),
            class,
            security,
            hidden: false,
            credentials: c,
            eap: None,
        }
    }

    fn key_mgmt(s: &NetworkSettings) -> String {
        s.variables()
            .expect("variables")
            .into_iter()
            .find(|(k, _)| *k == "key_mgmt")
            .map(|(_, v)| format!("{v:?}"))
            .unwrap_or_default()
    }

    #[test]
    fn security_picks_key_management() {
        let pass = Credentials {
            passphrase: Some(ModelSecret::new("correct horse")),
            ..Credentials::default()
        };
        let cases = [
            (SecurityClass::None, vec![Security::None], "NONE"),
            (
                SecurityClass::Psk,
                vec![Security::Psk],
                "WPA-PSK WPA-PSK-SHA256",
            ),
            (SecurityClass::Psk, vec![Security::Sae], "SAE"),
            (
                SecurityClass::Psk,
                vec![Security::Psk, Security::Sae],
                "WPA-PSK WPA-PSK-SHA256 SAE",
            ),
        ];
        for (class, security, want) in cases {
            let s = network_settings(
                &request(class, security.clone(), pass.clone()),
                &[2412],
                false,
            )
            .expect("settings");
            assert!(
                key_mgmt(&s).contains(want),
                "{security:?}: {}",
                key_mgmt(&s)
            );
            assert_eq!(s.scan_freqs, vec![2412], "quick scan of the known channel");
        }
    }

    #[test]
    fn missing_and_refused_values_are_errors() {
        let none = Credentials::default();
        assert!(matches!(
            network_settings(
                &request(SecurityClass::Psk, vec![Security::Psk], none.clone()),
                &[],
                false
            ),
            Err(SettingsError::Missing("passphrase"))
        ));
        assert!(network_settings(
            &request(SecurityClass::Wep, vec![Security::Wep], none.clone()),
            &[],
            false
        )
        .is_err());
        let user = Credentials {
            identity: Some(ModelSecret::new("alice")),
            password: Some(ModelSecret::new("pw")),
            ..Credentials::default()
        };
        let mut eap = request(SecurityClass::Ieee8021x, vec![Security::Ieee8021x], user);
        eap.eap = Some(EapConfig::default());
        let wired = network_settings(&eap, &[], true).expect("wired PEAP");
        assert!(key_mgmt(&wired).contains("IEEE8021X"));
        let wifi = network_settings(&eap, &[], false).expect("PEAP");
        assert!(key_mgmt(&wifi).contains("WPA-EAP"));
    }

    #[test]
    fn a_hidden_network_is_probed_for_on_every_channel() {
        let mut req = request(
            SecurityClass::None,
            vec![Security::None],
            Credentials::default(),
        );
        req.hidden = true;
        let s = network_settings(&req, &[2412], false).expect("settings");
        assert!(s.hidden && s.scan_freqs.is_empty());
    }
}

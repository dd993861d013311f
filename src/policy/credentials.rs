//! What a connect still needs from the user: a passphrase, a hidden network's name, an
//! 802.1X identity and password (ConnMan agent-api.txt RequestInput fields).

use crate::model::{Credentials, EapConfig, EapMethod, InputField, SecurityClass};

/// What is known about the network and what the user gave or stored.
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    /// The network's security class.
    pub class: SecurityClass,
    /// A hidden network whose name is not known yet.
    pub nameless: bool,
    /// Its 802.1X settings (PEAP with MSCHAPv2 when none).
    pub eap: Option<&'a EapConfig>,
    /// Stored credentials merged with the ones the connect brought.
    pub have: &'a Credentials,
}

/// The fields still missing, in the order an agent should show them.
pub fn missing(need: &Need<'_>) -> Vec<InputField> {
    let mut fields = Vec::new();
    if need.nameless {
        fields.push(InputField::Name);
    }
    match need.class {
        SecurityClass::Psk if need.have.passphrase.is_none() => fields.push(InputField::Passphrase),
        SecurityClass::Ieee8021x => {
            if need.have.identity.is_none() {
                fields.push(InputField::Identity);
            }
            let tls = need.eap.is_some_and(|e| e.method == EapMethod::Tls);
            if !tls && need.have.password.is_none() {
                fields.push(InputField::Password);
            }
        }
        _ => {}
    }
    fields
}

/// The error word when `fields` are missing and nobody can be asked.
pub fn reason(fields: &[InputField]) -> &'static str {
    match fields.iter().find(|f| **f != InputField::Name) {
        Some(InputField::Identity) => "identity-required",
        Some(_) => "passphrase-required",
        None => "name-required",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secret;
    use InputField::*;

    #[test]
    fn missing_table() {
        let none = Credentials::default();
        let pass = Credentials {
            passphrase: Some(Secret::new("12345678")),
            ..Credentials::default()
        };
        let user = Credentials {
            identity: Some(Secret::new("alice")),
            ..Credentials::default()
        };
        let tls = EapConfig {
            method: EapMethod::Tls,
            ..EapConfig::default()
        };
        let need = |class, nameless, eap, have| Need {
            class,
            nameless,
            eap,
            have,
        };
        type Case<'a> = (&'a str, Need<'a>, Vec<InputField>, &'a str);
        let cases: Vec<Case> = vec![
            (
                "open",
                need(SecurityClass::None, false, None, &none),
                vec![],
                "",
            ),
            (
                "psk without a passphrase",
                need(SecurityClass::Psk, false, None, &none),
                vec![Passphrase],
                "passphrase-required",
            ),
            (
                "psk, stored",
                need(SecurityClass::Psk, false, None, &pass),
                vec![],
                "",
            ),
            (
                "hidden psk",
                need(SecurityClass::Psk, true, None, &none),
                vec![Name, Passphrase],
                "passphrase-required",
            ),
            (
                "hidden open",
                need(SecurityClass::None, true, None, &none),
                vec![Name],
                "name-required",
            ),
            (
                "enterprise",
                need(SecurityClass::Ieee8021x, false, None, &none),
                vec![Identity, Password],
                "identity-required",
            ),
            (
                "enterprise, identity known",
                need(SecurityClass::Ieee8021x, false, None, &user),
                vec![Password],
                "passphrase-required",
            ),
            (
                "EAP-TLS needs no password",
                need(SecurityClass::Ieee8021x, false, Some(&tls), &user),
                vec![],
                "",
            ),
        ];
        for (name, need, want, want_reason) in cases {
            let got = missing(&need);
            assert_eq!(got, want, "{name}");
            if !got.is_empty() {
                assert_eq!(reason(&got), want_reason, "{name}");
            }
        }
    }
}

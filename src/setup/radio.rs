//! What a radio can do beside its station, and the access point's own interface, through
//! `iw` (nl80211): the wiphy's "valid interface combinations" (`iw phy PHY info`, from
//! NL80211_ATTR_INTERFACE_COMBINATIONS, cfg80211.h `struct ieee80211_iface_combination`)
//! say whether an AP interface may run beside a managed (station) one and on how many
//! channels at once; `iw phy PHY interface add NAME type __ap addr MAC` adds it.

use std::path::Path;

/// Why the radio could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum RadioError {
    /// The netdev has no wiphy (not a cfg80211 device, or gone).
    #[error("read the wiphy of {ifname} (/sys/class/net/{ifname}/phy80211/name)")]
    Phy {
        /// The netdev.
        ifname: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `iw` could not run or failed.
    #[error("{command}: {message}")]
    Iw {
        /// The command line.
        command: String,
        /// Its error output, or why it did not run.
        message: String,
    },
}

/// One line of "valid interface combinations".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combination {
    /// `#{ types } <= max` groups.
    pub limits: Vec<(Vec<String>, u32)>,
    /// `total <= N`.
    pub total: u32,
    /// `#channels <= N`: how many different channels the interfaces may use at once.
    pub channels: u32,
}

impl Combination {
    /// An AP and a station at once: both types are allowed (in one group with room for two,
    /// or in two groups) and the total allows two interfaces.
    fn ap_beside_station(&self) -> bool {
        let room = |t: &str| {
            self.limits
                .iter()
                .find(|(types, _)| types.iter().any(|x| x == t))
                .map(|(types, max)| (types.clone(), *max))
        };
        let (Some((sta_group, sta_max)), Some((ap_group, _))) = (room("managed"), room("AP"))
        else {
            return false;
        };
        let both = if sta_group == ap_group {
            sta_max >= 2
        } else {
            true
        };
        both && self.total >= 2
    }
}

/// The interface combinations in `iw phy PHY info` output; empty when the radio lists none
/// (it runs one interface at a time).
pub fn parse_combinations(info: &str) -> Vec<Combination> {
    let mut lines = info
        .lines()
        .skip_while(|l| !l.contains("valid interface combinations"));
    if lines.next().is_none() {
        return Vec::new();
    }
    let mut texts: Vec<String> = Vec::new();
    for line in lines {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("* ") {
            texts.push(rest.to_string());
        } else if !t.is_empty() && line.starts_with("\t\t ") && !texts.is_empty() {
            if let Some(last) = texts.last_mut() {
                last.push(' ');
                last.push_str(t);
            }
        } else {
            break;
        }
    }
    texts.iter().filter_map(|t| parse_combination(t)).collect()
}

fn number_after(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn parse_combination(text: &str) -> Option<Combination> {
    let mut limits = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let types = after[..end]
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        let tail = &after[end + 1..];
        let max = number_after(tail, "<=")?;
        limits.push((types, max));
        rest = tail;
    }
    Some(Combination {
        limits,
        total: number_after(text, "total <=")?,
        channels: number_after(text, "#channels <=").unwrap_or(1),
    })
}

/// What a radio can do, as the setup access point needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Its wiphy, e.g. `phy0`.
    pub phy: String,
    /// An AP interface may run beside the station.
    pub concurrent: bool,
    /// Channels its interfaces may use at once (of the best combination with AP+STA; 1
    /// without).
    pub channels: u32,
}

/// The capabilities in `info` (`iw phy PHY info`).
pub fn capabilities(phy: &str, info: &str) -> Capabilities {
    let best = parse_combinations(info)
        .into_iter()
        .filter(Combination::ap_beside_station)
        .map(|c| c.channels)
        .max();
    Capabilities {
        phy: phy.to_string(),
        concurrent: best.is_some(),
        channels: best.unwrap_or(1).max(1),
    }
}

/// The wiphy of a netdev.
pub fn phy_of(ifname: &str) -> Result<String, RadioError> {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/phy80211/name"))
        .map(|s| s.trim().to_string())
        .map_err(|source| RadioError::Phy {
            ifname: ifname.to_string(),
            source,
        })
}

async fn iw(program: &Path, args: &[&str]) -> Result<String, RadioError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| RadioError::Iw {
        command: command.clone(),
        message: "no answer in 10 s".into(),
    })?
    .map_err(|e| RadioError::Iw {
        command: command.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(RadioError::Iw {
            command,
            message: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads what the radio behind netdev `ifname` can do.
pub async fn probe(program: &Path, ifname: &str) -> Result<Capabilities, RadioError> {
    let phy = phy_of(ifname)?;
    let info = iw(program, &["phy", &phy, "info"]).await?;
    Ok(capabilities(&phy, &info))
}

/// The name of the access point interface netpilot adds beside radio `ifindex`.
pub fn ap_interface_name(ifindex: u32) -> String {
    format!("np-ap{ifindex}")
}

/// Whether `name` is an interface netpilot adds for an access point.
pub fn is_ap_interface(name: &str) -> bool {
    name.strip_prefix("np-ap")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The access point interface's MAC: the radio's, locally administered, last bit flipped, so
/// that both interfaces can be up at once (mac80211 refuses two up with one address).
pub fn ap_mac(radio: [u8; 6]) -> [u8; 6] {
    let mut mac = radio;
    mac[0] = (mac[0] | 0x02) & !0x01;
    mac[5] ^= 0x01;
    mac
}

/// Adds AP interface `name` to `phy` with `mac` (a leftover of that name goes first).
pub async fn add_ap_interface(
    program: &Path,
    phy: &str,
    name: &str,
    mac: [u8; 6],
) -> Result<(), RadioError> {
    if Path::new("/sys/class/net").join(name).exists() {
        delete_interface(program, name).await?;
    }
    let mac = mac.map(|b| format!("{b:02x}")).join(":");
    iw(
        program,
        &[
            "phy",
            phy,
            "interface",
            "add",
            name,
            "type",
            "__ap",
            "addr",
            &mac,
        ],
    )
    .await
    .map(|_| ())
}

/// Deletes interface `name`.
pub async fn delete_interface(program: &Path, name: &str) -> Result<(), RadioError> {
    iw(program, &["dev", name, "del"]).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `iw phy phy0 info` in the hwsim guest (Debian 6.1, mac80211_hwsim channels=1), the
    /// lines around the combinations.
    const HWSIM: &str = include_str!("testdata/iw-phy-hwsim.txt");

    #[test]
    fn hwsim_runs_ap_beside_station_on_one_channel() {
        let combos = parse_combinations(HWSIM);
        assert_eq!(combos.len(), 1, "{combos:?}");
        assert_eq!((combos[0].total, combos[0].channels), (2050, 1));
        assert_eq!(combos[0].limits.len(), 3);
        assert_eq!(
            capabilities("phy0", HWSIM),
            Capabilities {
                phy: "phy0".into(),
                concurrent: true,
                channels: 1
            }
        );
    }

    #[test]
    fn other_shapes() {
        let text = |combos: &str| {
            format!("Wiphy phy1\n\tvalid interface combinations:\n{combos}\n\tHT Capability overrides:\n")
        };
        type Case = (&'static str, &'static str, bool, u32);
        let cases: &[Case] = &[
            (
                "one of each, two channels",
                "\t\t * #{ managed } <= 1, #{ AP, P2P-client, P2P-GO } <= 1, #{ P2P-device } <= 1,\n\t\t   total <= 3, #channels <= 2",
                true,
                2,
            ),
            (
                "AP only in the second combination",
                "\t\t * #{ managed } <= 1, #{ P2P-device } <= 1, #{ P2P-client, P2P-GO } <= 1,\n\t\t   total <= 3, #channels <= 2\n\t\t * #{ managed } <= 1, #{ AP } <= 1, #{ P2P-client } <= 1, #{ P2P-device } <= 1,\n\t\t   total <= 4, #channels <= 1",
                true,
                1,
            ),
            (
                "AP and station share a group of one",
                "\t\t * #{ managed, AP } <= 1, total <= 1, #channels <= 1",
                false,
                1,
            ),
            ("no AP at all", "\t\t * #{ managed } <= 2, total <= 2, #channels <= 1", false, 1),
        ];
        for (what, combos, concurrent, channels) in cases {
            let c = capabilities("phy1", &text(combos));
            assert_eq!(
                (c.concurrent, c.channels),
                (*concurrent, *channels),
                "{what}"
            );
        }
        let none = capabilities(
            "phy2",
            "Wiphy phy2\n\tSupported interface modes:\n\t\t * managed\n",
        );
        assert!(!none.concurrent, "no combinations: one interface at a time");
    }

    #[test]
    fn ap_interface_names_and_macs() {
        assert_eq!(ap_interface_name(3), "np-ap3");
        assert!(
            is_ap_interface("np-ap3") && !is_ap_interface("np-ap") && !is_ap_interface("wlan0")
        );
        assert_eq!(ap_mac([0x02, 0, 0, 0, 0, 0]), [0x02, 0, 0, 0, 0, 1]);
        assert_eq!(
            ap_mac([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]),
            [0x02, 0x11, 0x22, 0x33, 0x44, 0x54]
        );
    }
}

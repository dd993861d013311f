//! Wi-Fi on real 802.11 radios: mac80211_hwsim in a QEMU guest, with real hostapd and
//! wpa_supplicant (tests/hwsim/README.md). A custom-harness test binary (`harness = false`):
//! on the host its `main` boots one VM that runs this same binary in guest mode, which runs
//! the scenarios below one after another, each in its own process on fresh radios.
//!
//! `cargo test --test wifi -- psk` runs the scenarios whose name contains `psk`;
//! `cargo test --test wifi -- --list` lists them. Needs root and `tests/hwsim/setup.sh`
//! (`make test` runs both).
//!
//! To add a scenario: write a `fn()` that panics on failure (in a module under
//! `tests/wifi/`), and add a line to [`SCENARIOS`].

mod common;

#[path = "wifi/bench.rs"]
mod bench;
#[path = "wifi/cli.rs"]
mod cli;
#[path = "wifi/harness.rs"]
mod harness;
#[path = "wifi/netpilot.rs"]
mod netpilot;
#[path = "wifi/record.rs"]
mod record;
#[path = "wifi/scans.rs"]
mod scans;
#[path = "wifi/setup.rs"]
mod setup;

use std::process::ExitCode;
use std::time::Duration;

use common::hwsim::{self, Scenario};

/// Every scenario, in the order they run.
const SCENARIOS: &[Scenario] = &[
    Scenario::new("harness::scan_psk_and_sae", harness::scan_psk_and_sae),
    Scenario::new("harness::psk_dhcp_http", harness::psk_dhcp_http),
    Scenario::new("harness::sae_connect", harness::sae_connect),
    Scenario::new(
        "harness::out_of_range_and_back",
        harness::out_of_range_and_back,
    ),
    Scenario::new(
        "netpilot::scan_lists_networks",
        netpilot::scan_lists_networks,
    ),
    Scenario::new(
        "netpilot::psk_connect_ready_online",
        netpilot::psk_connect_ready_online,
    ),
    Scenario::new("netpilot::sae_connect_ready", netpilot::sae_connect_ready),
    Scenario::new(
        "netpilot::wrong_passphrase_is_invalid_key",
        netpilot::wrong_passphrase_is_invalid_key,
    ),
    Scenario::new(
        "netpilot::hidden_network_named_by_the_agent",
        netpilot::hidden_network_named_by_the_agent,
    ),
    Scenario::new(
        "netpilot::agent_answers_cancels_or_is_missing",
        netpilot::agent_answers_cancels_or_is_missing,
    ),
    Scenario::new(
        "netpilot::ap_gone_fails_over_and_is_rejoined",
        netpilot::ap_gone_fails_over_and_is_rejoined,
    ),
    Scenario::new(
        "netpilot::preferred_known_network_wins",
        netpilot::preferred_known_network_wins,
    ),
    Scenario::new(
        "netpilot::forget_removes_secret_and_network",
        netpilot::forget_removes_secret_and_network,
    ),
    Scenario::new(
        "netpilot::supplicant_killed_and_back",
        netpilot::supplicant_killed_and_back,
    ),
    Scenario::new(
        "netpilot::enterprise_peap_and_tls",
        netpilot::enterprise_peap_and_tls,
    ),
    Scenario::new("cli::scan_lists_networks", cli::scan_lists_networks),
    Scenario::new(
        "cli::connect_with_passphrase_file_and_stdin",
        cli::connect_with_passphrase_file_and_stdin,
    ),
    Scenario::new(
        "cli::wrong_passphrase_names_invalid_key",
        cli::wrong_passphrase_names_invalid_key,
    ),
    Scenario::new(
        "cli::agent_answers_passphrase_request",
        cli::agent_answers_passphrase_request,
    ),
    Scenario::new(
        "cli::agent_at_a_terminal_reads_without_echo",
        cli::agent_at_a_terminal_reads_without_echo,
    ),
    Scenario::new(
        "scans::rejoins_after_the_ap_restarts",
        scans::rejoins_after_the_ap_restarts,
    ),
    Scenario::new(
        "scans::enabling_wifi_joins_a_known_network",
        scans::enabling_wifi_joins_a_known_network,
    ),
    Scenario::new(
        "setup::phone_connects_the_robot",
        setup::phone_connects_the_robot,
    )
    .with_timeout(Duration::from_secs(150)),
    Scenario::new(
        "setup::ethernet_keeps_it_closed",
        setup::ethernet_keeps_it_closed,
    ),
    Scenario::new(
        "setup::known_network_back_closes_it",
        setup::known_network_back_closes_it,
    )
    .with_timeout(Duration::from_secs(120)),
    Scenario::new(
        "setup::tethering_shares_the_uplink",
        setup::tethering_shares_the_uplink,
    )
    .with_timeout(Duration::from_secs(120)),
    Scenario::new(
        "setup::without_ap_sta_the_radio_switches",
        setup::without_ap_sta_the_radio_switches,
    )
    .with_timeout(Duration::from_secs(120)),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // tests/hwsim/record-wpa-output.sh: not a test, run by hand.
        Some(record::HOST_FLAG) => record::host(&args[1..]),
        Some(record::GUEST_FLAG) => record::guest(&args[1..]),
        // bench/wifi.sh (`make bench`): not a test either.
        Some(bench::HOST_FLAG) => bench::host(&args[1..]),
        Some(bench::GUEST_FLAG) => bench::guest(&args[1..]),
        _ => hwsim::suite_main(SCENARIOS),
    }
}

//! A server's packet through everything it controls in netpilot's DHCP client: the IP/UDP
//! checks, the reply parser (dhcproto per option), the lease checks and the state machine
//! in every state that takes replies (`netpilot::net::dhcp::fuzz_one`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = netpilot::net::dhcp::fuzz_one(data);
});

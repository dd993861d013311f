//! netpilot::api::fuzz::policy: a session policy file's text through parsing and applying.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    netpilot::api::fuzz::policy(data);
});

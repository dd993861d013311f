//! netpilot::api::fuzz::config: a configuration file's text through parsing and validation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    netpilot::api::fuzz::config(data);
});

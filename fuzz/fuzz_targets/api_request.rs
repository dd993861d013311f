//! netpilot::api::fuzz::request: an API request (first byte: which message) through the handlers' validation and the model conversions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    netpilot::api::fuzz::request(data);
});

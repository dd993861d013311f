//! Records real wpa_supplicant control-interface output into tests/fixtures/wpa/ (run by
//! tests/hwsim/record-wpa-output.sh, not in CI).

use std::process::ExitCode;

pub const HOST_FLAG: &str = "--record-wpa-fixtures";
pub const GUEST_FLAG: &str = "--hwsim-record";

pub fn host(_args: &[String]) -> ExitCode {
    ExitCode::FAILURE
}

pub fn guest(_args: &[String]) -> ExitCode {
    ExitCode::FAILURE
}

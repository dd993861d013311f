//! A wpa_supplicant netpilotd starts and supervises (`[wifi] spawn_supplicant`): restarted
//! with backoff when it exits, stopped (by its PID, through the child handle) when the
//! device goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

const RESTART_MIN: Duration = Duration::from_millis(500);
const RESTART_MAX: Duration = Duration::from_secs(30);

/// A supervised wpa_supplicant; dropping it stops it.
pub struct Supervised(tokio::task::JoinHandle<()>);

impl Drop for Supervised {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Supervised {
    /// Starts `program -i ifname -D driver -C ctrl_dir -c <conf>`, writing a minimal
    /// configuration (`ctrl_interface` only: every network comes from netpilot) to
    /// `conf_dir`.
    pub fn start(
        program: &Path,
        ifname: &str,
        driver: &str,
        ctrl_dir: &Path,
        conf_dir: &Path,
    ) -> Self {
        let conf = conf_dir.join(format!("wpa_supplicant-{ifname}.conf"));
        let args = (
            program.to_path_buf(),
            ifname.to_string(),
            driver.to_string(),
            ctrl_dir.to_path_buf(),
            conf,
        );
        Supervised(tokio::spawn(supervise(args)))
    }
}

async fn supervise(
    (program, ifname, driver, ctrl_dir, conf): (PathBuf, String, String, PathBuf, PathBuf),
) {
    let text = format!("ctrl_interface={}\nupdate_config=0\n", ctrl_dir.display());
    if let Err(e) = std::fs::write(&conf, text) {
        tracing::error!(file = %conf.display(), error = %e, "write the wpa_supplicant configuration");
        return;
    }
    let mut delay = RESTART_MIN;
    loop {
        let mut command = Command::new(&program);
        command
            .args(["-i", &ifname, "-D", &driver, "-C"])
            .arg(&ctrl_dir)
            .arg("-c")
            .arg(&conf)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to send SIGTERM to the
        // child when netpilotd dies, so a crashed daemon leaves no wpa_supplicant behind
        // that its successor would collide with.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn();
        match child {
            Ok(mut child) => {
                tracing::info!(interface = %ifname, pid = ?child.id(), "wpa_supplicant started");
                let started = tokio::time::Instant::now();
                match child.wait().await {
                    Ok(status) => {
                        tracing::warn!(interface = %ifname, %status, "wpa_supplicant exited")
                    }
                    Err(e) => {
                        tracing::warn!(interface = %ifname, error = %e, "wait for wpa_supplicant")
                    }
                }
                if started.elapsed() > RESTART_MAX {
                    delay = RESTART_MIN;
                }
            }
            Err(e) => {
                tracing::error!(program = %program.display(), error = %e, "start wpa_supplicant ([wifi] supplicant)")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RESTART_MAX);
    }
}

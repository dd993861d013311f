//! A program the setup access point runs (its wpa_supplicant, dnsmasq): started with
//! PR_SET_PDEATHSIG so that it ends with netpilotd even after a crash, its stderr logged
//! line by line and kept (the last lines) for error messages, and stopped by its PID: SIGTERM,
//! then SIGKILL if it has not exited within [`STOP_GRACE`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

/// How long a program has to exit after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Lines of its output kept for error messages.
const KEPT_LINES: usize = 20;

/// Why a program could not be started.
#[derive(Debug, thiserror::Error)]
#[error("start {program}")]
pub struct SpawnError {
    /// The program.
    pub program: String,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// A running program. Dropping it kills it (by PID, through the child handle).
pub struct Program {
    name: &'static str,
    pid: Option<u32>,
    child: Option<tokio::process::Child>,
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Every line it printed so far, counted; the watch wakes on each.
    printed: watch::Receiver<u64>,
}

impl Program {
    /// Starts `program args…` with stdin closed and stderr (and stdout) read line by line.
    pub fn start(
        name: &'static str,
        program: &Path,
        args: &[OsString],
    ) -> Result<Program, SpawnError> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it asks the kernel to send SIGTERM to the child
        // when netpilotd dies, so no access point outlives the daemon that manages it.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|source| SpawnError {
            program: program.display().to_string(),
            source,
        })?;
        let pid = child.id();
        tracing::info!(program = name, pid, "started");
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let (printed_tx, printed) = watch::channel(0u64);
        let printed_tx = Arc::new(printed_tx);
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            let printed_tx = printed_tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    tracing::debug!(program = name, "{line}");
                    if let Ok(mut kept) = lines.lock() {
                        if kept.len() == KEPT_LINES {
                            kept.pop_front();
                        }
                        kept.push_back(line);
                    }
                    printed_tx.send_modify(|n| *n += 1);
                }
            });
        }
        Ok(Program {
            name,
            pid,
            child: Some(child),
            lines,
            printed,
        })
    }

    /// Its PID.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The last lines it printed, oldest first.
    pub fn output(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Resolves when it exits.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        match self.child.as_mut() {
            Some(c) => c.wait().await.ok(),
            None => std::future::pending().await,
        }
    }

    /// Waits until it prints a line containing one of `needles` (returns that line), exits
    /// (`Err` with its last lines), or `timeout` passes (`Err`).
    pub async fn wait_for_line(
        &mut self,
        needles: &[&str],
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .output()
                .into_iter()
                .find(|l| needles.iter().any(|n| l.contains(n)))
            {
                return Ok(line);
            }
            if let Some(status) = self.exited() {
                // Its last lines may still be on their way through the pipe.
                let _ =
                    tokio::time::timeout(Duration::from_millis(200), self.printed.changed()).await;
                return Err(format!(
                    "{} exited ({status}): {}",
                    self.name,
                    self.output().join(" | ")
                ));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{} did not start within {timeout:?}: {}",
                    self.name,
                    self.output().join(" | ")
                ));
            }
            let step = left.min(Duration::from_millis(100));
            let _ = tokio::time::timeout(step, self.printed.changed()).await;
        }
    }

    /// Stops it: SIGTERM to its PID, SIGKILL after [`STOP_GRACE`].
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let (Some(pid), Ok(None)) = (self.pid, child.try_wait()) {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill with the PID of a child we spawned and have not reaped.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    program = self.name,
                    pid,
                    "did not exit on SIGTERM; killing it"
                );
                let _ = child.kill().await;
            }
        }
        tracing::info!(program = self.name, pid = self.pid, "stopped");
    }
}

//! Session benchmark client for `bench/sessions.sh` (not a test: it asserts nothing).
//!
//! Opens N session streams on a running netpilotd, over several HTTP/2 connections, and
//! prints one JSON line of figures:
//! - `open_us`: mean time to open one session (until its first update), for the first and
//!   the last tenth of the N, so that a cost growing with the number open shows;
//! - `rss_kb_per_session`: the daemon's RSS growth per idle session (`/proc/PID/status`);
//! - `fanout_ms`: for each of `--rounds` carrier changes (`--toggle CMD` run with `down` and
//!   `up` appended alternately), the time from just before the command until the last of
//!   the N clients has its update; p50 and p99 over the rounds, and p99 over every client's
//!   delivery. These include the kernel's part (linkwatch may hold a veth carrier event up
//!   to a second when other links changed just before); `spread_ms` has no kernel part:
//!   from the first client's update to the last one's (the fan-out itself), p50 and p99 over
//!   the rounds;
//! - `close_us`: mean time per session to close all of them (until the daemon lists none).
//!
//! Usage: session_bench --socket PATH --pid PID --sessions N --rounds R --toggle "ip -n NS link set peer0"

use std::time::{Duration, Instant};

use netpilot::pb;
use pb::session_service_client::SessionServiceClient;
use tonic::transport::{Channel, Endpoint};

/// Session streams per HTTP/2 connection (under any per-connection stream limit).
const PER_CONNECTION: usize = 50;

struct Args {
    socket: String,
    pid: u32,
    sessions: usize,
    rounds: usize,
    toggle: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        socket: String::new(),
        pid: 0,
        sessions: 1,
        rounds: 10,
        toggle: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--socket" => a.socket = value,
            "--pid" => a.pid = value.parse().map_err(|e| format!("--pid: {e}"))?,
            "--sessions" => a.sessions = value.parse().map_err(|e| format!("--sessions: {e}"))?,
            "--rounds" => a.rounds = value.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--toggle" => a.toggle = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.socket.is_empty() || a.toggle.is_empty() || a.pid == 0 {
        return Err("--socket, --pid and --toggle are required".into());
    }
    Ok(a)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn channel(socket: &str) -> Result<Channel, Box<dyn std::error::Error>> {
    Ok(Endpoint::from_shared(format!("unix://{socket}"))?
        .connect()
        .await?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args().map_err(|e| format!("session_bench: {e}"))?;
    let connections = a.sessions.div_ceil(PER_CONNECTION).max(1);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(SessionServiceClient::new(channel(&a.socket).await?));
    }
    let rss_before = rss_kb(a.pid);
    let mut streams = Vec::with_capacity(a.sessions);
    let mut open_times = Vec::with_capacity(a.sessions);
    for i in 0..a.sessions {
        let client = &mut clients[i / PER_CONNECTION];
        let started = Instant::now();
        let mut s = client
            .open_session(pb::OpenSessionRequest::default())
            .await?
            .into_inner();
        s.message().await?.ok_or("no first update")?;
        open_times.push(started.elapsed().as_secs_f64() * 1e6);
        streams.push(s);
    }
    // Idle for a moment so that the daemon's allocator settles before RSS is read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kb(a.pid);
    let tenth = (a.sessions / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    // Every stream on its own task, reporting when its next message arrives.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let mut readers = Vec::with_capacity(a.sessions);
    for mut s in streams {
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            while let Ok(Some(_)) = s.message().await {
                if tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut round_last = Vec::new();
    let mut round_spread = Vec::new();
    let mut every = Vec::new();
    for round in 0..a.rounds * 2 {
        let state = if round % 2 == 0 { "down" } else { "up" };
        let started = Instant::now();
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("{} {state}", a.toggle)])
            .status()?;
        if !status.success() {
            return Err(format!("{} {state}: {status}", a.toggle).into());
        }
        let mut last = 0.0f64;
        let mut first = f64::MAX;
        for _ in 0..a.sessions {
            let at = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .map_err(|_| "a session got no update within 30 s")?
                .ok_or("streams ended")?;
            let ms = at.duration_since(started).as_secs_f64() * 1e3;
            every.push(ms);
            last = last.max(ms);
            first = first.min(ms);
        }
        round_last.push(last);
        round_spread.push(last - first);
        // Let the link settle (DHCP after carrier up) before the next change; updates
        // that the settling causes are drained, not measured.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        while rx.try_recv().is_ok() {}
    }
    let round_last = sorted(round_last);
    let round_spread = sorted(round_spread);
    let every = sorted(every);

    let started = Instant::now();
    for r in &readers {
        r.abort();
    }
    for r in readers {
        let _ = r.await;
    }
    drop(clients);
    let mut check = SessionServiceClient::new(channel(&a.socket).await?);
    loop {
        let open = check
            .list_sessions(pb::ListSessionsRequest {})
            .await?
            .into_inner()
            .sessions
            .len();
        if open == 0 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let close_us = started.elapsed().as_secs_f64() * 1e6 / a.sessions as f64;
    println!(
        "{{\"sessions\":{},\"open_us_first\":{:.1},\"open_us_last\":{:.1},\"rss_kb_per_session\":{:.2},\"fanout_ms_p50\":{:.2},\"fanout_ms_p99\":{:.2},\"delivery_ms_p99\":{:.2},\"spread_ms_p50\":{:.2},\"spread_ms_p99\":{:.2},\"close_us\":{:.1}}}",
        a.sessions,
        mean(&open_times[..tenth]),
        mean(&open_times[open_times.len() - tenth..]),
        (rss_after as f64 - rss_before as f64) / a.sessions as f64,
        percentile(&round_last, 0.5),
        percentile(&round_last, 0.99),
        percentile(&every, 0.99),
        percentile(&round_spread, 0.5),
        percentile(&round_spread, 0.99),
        close_us,
    );
    Ok(())
}

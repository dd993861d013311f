//! `netpilot certs`: a development or fleet PKI on rcgen (netpilot::certs).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Subcommand;
use netpilot::certs::{self, Request, Usage};

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Make a CA: DIR/ca.pem and DIR/ca.key. Keep ca.key off the robots.
    Ca {
        /// Directory for the files.
        #[arg(long)]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "netpilot fleet CA")]
        name: String,
        /// Days it is valid.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Make a daemon's server certificate, signed by DIR/ca.pem: DIR/NAME.pem, DIR/NAME.key.
    Server {
        /// Directory with the CA, and for the files.
        #[arg(long)]
        dir: PathBuf,
        /// Common name, also the file name, e.g. robot-17.
        #[arg(long)]
        name: String,
        /// DNS names clients reach it by (repeat).
        #[arg(long)]
        dns: Vec<String>,
        /// IP addresses clients reach it by (repeat).
        #[arg(long)]
        ip: Vec<IpAddr>,
        /// Days it is valid.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Make a controller's client certificate, signed by DIR/ca.pem: DIR/NAME.pem,
    /// DIR/NAME.key. Map it to a role in [access] by cn:NAME, dns:… or uri:….
    Client {
        /// Directory with the CA, and for the files.
        #[arg(long)]
        dir: PathBuf,
        /// Common name, also the file name, e.g. fleet-controller.
        #[arg(long)]
        name: String,
        /// URIs such as SPIFFE IDs (repeat).
        #[arg(long)]
        uri: Vec<String>,
        /// DNS names (repeat).
        #[arg(long)]
        dns: Vec<String>,
        /// Days it is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Carries out a `certs` command; prints the files written.
pub fn run(command: &CertsCommand) -> Result<(), String> {
    let (dir, name, pem) = match command {
        CertsCommand::Ca { dir, name, days } => {
            let pem = certs::new_ca(name, *days).map_err(|e| chain(&e))?;
            (dir, "ca".to_string(), pem)
        }
        CertsCommand::Server {
            dir,
            name,
            dns,
            ip,
            days,
        } => {
            let ca = certs::read(dir, "ca").map_err(|e| chain(&e))?;
            let mut req = Request::new(name, Usage::Server, *days);
            req.dns = dns.clone();
            req.ips = ip.clone();
            (
                dir,
                name.clone(),
                certs::issue(&ca, &req).map_err(|e| chain(&e))?,
            )
        }
        CertsCommand::Client {
            dir,
            name,
            uri,
            dns,
            days,
        } => {
            let ca = certs::read(dir, "ca").map_err(|e| chain(&e))?;
            let mut req = Request::new(name, Usage::Client, *days);
            req.dns = dns.clone();
            req.uris = uri.clone();
            (
                dir,
                name.clone(),
                certs::issue(&ca, &req).map_err(|e| chain(&e))?,
            )
        }
    };
    if name.contains('/') || name.starts_with('.') {
        return Err(format!("--name {name:?}: must be a plain file name"));
    }
    let (cert, key) = certs::write(dir, &name, &pem).map_err(|e| chain(&e))?;
    outln!("{}\n{}", cert.display(), key.display());
    Ok(())
}

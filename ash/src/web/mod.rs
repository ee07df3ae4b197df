//! `ash web`: the queue as a small web app for a phone. An operator client like the terminal
//! queue (agentd gains no HTTP listener): it follows every host, shows what waits, and sends
//! decisions to agentd as `OPERATOR via web (DEVICE)`. Nothing of the queue is shown or decided
//! without a paired device; see docs/PHONE.md for reaching it and the security model.
//!
//! In rooms: `hub` (following agentd), `devices` (pairing and credentials), `guard` (host,
//! cookie, CSRF and header checks), `pages` (the HTML), `routes` (the handlers).

pub mod devices;
pub mod guard;
pub mod hub;
pub mod pages;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde::Serialize;

use crate::outcome::{UsageError, SUCCESS};
use crate::Globals;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Where to listen: ADDR:PORT, or unix:PATH for a reverse proxy in front
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8478")]
    listen: String,
    /// The address the phone opens (https://box.tailnet.ts.net through `tailscale serve`, a
    /// proxy's, an ssh tunnel's); the pairing link uses it and its host is accepted
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Also answer to this host name (repeatable); any other Host header is refused
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Allow listening on an address other than loopback without TLS: the traffic, the
    /// device's credential included, then crosses the network in the clear
    #[arg(long)]
    insecure_listen: bool,
    /// How long the pairing link stays usable (it is usable once)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::when::parse_duration)]
    pair_for: u64,
    /// agentd's state dir, where paired devices are kept [env: AGENTD_STATE_DIR] [default:
    /// the platform's state folder for agentd]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// The paired devices, with when each was last used
    Devices,
    /// End a paired device's access at once (its ID or a unique prefix)
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// A one-time pairing link's secret.
struct Pairing {
    token: String,
    until: Instant,
    used: bool,
}

/// What every handler shares.
pub struct Web {
    hub: Arc<hub::Hub>,
    devices: devices::Devices,
    hosts: guard::Hosts,
    pairing: Mutex<Pairing>,
    pair_for: Duration,
    limit: guard::PairLimit,
    /// The base URL the phone uses, for the pairing link.
    base: String,
    secure_cookie: bool,
    names_hosts: bool,
}

fn state_dir(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    arg.or_else(|| {
        std::env::var_os(agentd_proto::paths::STATE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .or_else(agentd_proto::paths::default_state_dir)
    .ok_or_else(|| anyhow!("no home folder to find agentd's state dir in; pass --state-dir"))
}

#[derive(Serialize)]
struct DeviceJson {
    id: String,
    name: String,
    paired_at: String,
    last_used: Option<String>,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let devices = devices::Devices::in_dir(&state_dir(args.state_dir.clone())?);
    match args.action {
        Some(Action::Devices) => return list(globals, &devices),
        Some(Action::Revoke { id }) => {
            let gone = devices.revoke(&id)?;
            if globals.json {
                crate::json::print(&serde_json::json!({ "revoked": gone.id }))?;
            } else {
                println!(
                    "revoked {} ({}): it can no longer see or decide anything",
                    gone.id, gone.name
                );
            }
            return Ok(SUCCESS);
        }
        None => {}
    }
    if globals.json {
        return Err(UsageError(
            "--json: `ash web` serves pages; `ash web devices --json` lists devices".into(),
        )
        .into());
    }
    serve(globals, args, devices).await
}

fn list(globals: &Globals, devices: &devices::Devices) -> anyhow::Result<u8> {
    let all = devices.load()?;
    let time = |t: chrono::DateTime<chrono::Utc>| crate::display::rfc3339(t);
    if globals.json {
        let rows: Vec<DeviceJson> = all
            .iter()
            .map(|d| DeviceJson {
                id: d.id.clone(),
                name: d.name.clone(),
                paired_at: time(d.paired_at),
                last_used: d.last_used.map(time),
            })
            .collect();
        crate::json::print(&rows)?;
    } else if all.is_empty() {
        println!("no paired devices (`ash web` prints a pairing link)");
    } else {
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|d| {
                vec![
                    d.id.clone(),
                    d.name.clone(),
                    time(d.paired_at),
                    d.last_used.map_or("never".into(), time),
                ]
            })
            .collect();
        print!(
            "{}",
            crate::table::render(
                &["DEVICE-ID", "NAME", "PAIRED", "LAST-USED"],
                &rows,
                crate::table::terminal_width()
            )
        );
    }
    Ok(SUCCESS)
}

enum Listener {
    Tcp(tokio::net::TcpListener, SocketAddr),
    Unix(tokio::net::UnixListener, PathBuf),
}

async fn bind(args: &Args) -> anyhow::Result<Listener> {
    if let Some(path) = args.listen.strip_prefix("unix:") {
        let path = PathBuf::from(path);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        return Ok(Listener::Unix(listener, path));
    }
    let addr: SocketAddr = args.listen.parse().map_err(|_| {
        UsageError(format!(
            "--listen {}: not ADDR:PORT (127.0.0.1:8478) or unix:PATH",
            args.listen
        ))
    })?;
    if !addr.ip().is_loopback() && !args.insecure_listen {
        return Err(UsageError(format!(
            "--listen {addr} would put the queue on the network in the clear; keep it on 127.0.0.1 and reach it through tailscale serve, an ssh tunnel or a TLS proxy (docs/PHONE.md), or pass --insecure-listen"
        ))
        .into());
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    Ok(Listener::Tcp(listener, addr))
}

async fn serve(globals: &Globals, args: Args, devices: devices::Devices) -> anyhow::Result<u8> {
    let listener = bind(&args).await?;
    let mut extra = args.allow_host.clone();
    let url_host = match &args.url {
        Some(url) => {
            let host = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .ok_or_else(|| {
                    UsageError(format!("--url {url}: not an http:// or https:// address"))
                })?
                .trim_end_matches('/')
                .to_string();
            extra.push(host.clone());
            Some(host)
        }
        None => None,
    };
    let (hosts, local) = match &listener {
        Listener::Tcp(_, addr) => (
            guard::Hosts::new(Some(&addr.ip().to_string()), Some(addr.port()), &extra),
            format!("http://{addr}"),
        ),
        Listener::Unix(_, path) => (
            guard::Hosts::new(None, None, &extra),
            format!("unix:{}", path.display()),
        ),
    };
    let base = match (&args.url, &listener) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Listener::Tcp(_, addr)) => format!("http://{addr}"),
        (None, Listener::Unix(..)) => {
            return Err(UsageError(
                "--listen unix:PATH needs --url, the address the phone opens through the proxy"
                    .into(),
            )
            .into())
        }
    };
    let _ = url_host;
    let pair_for = Duration::from_secs(args.pair_for.max(1));
    let web = Arc::new(Web {
        hub: hub::Hub::new(
            crate::cmd::followed_hosts(globals, false),
            crate::cmd::login_name(),
        ),
        devices,
        hosts,
        pairing: Mutex::new(Pairing {
            token: devices::secret(16)?,
            until: Instant::now() + pair_for,
            used: false,
        }),
        pair_for,
        limit: guard::PairLimit::default(),
        secure_cookie: base.starts_with("https://"),
        base,
        names_hosts: globals.names_hosts(),
    });
    println!(
        "ash web: the queue of {} at {local}; devices are kept in {}",
        web.hub
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        web.devices.path().display()
    );
    announce_pairing(&web);
    tokio::spawn(renew_expired(Arc::clone(&web)));
    let app = routes::router(Arc::clone(&web));
    // Ctrl-C ends it at once: open pages hold event streams that never end by themselves.
    let stopped = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match listener {
        Listener::Tcp(l, _) => tokio::select! {
            served = std::future::IntoFuture::into_future(axum::serve(l, app)) => served?,
            () = stopped => {}
        },
        Listener::Unix(l, path) => {
            tokio::select! {
                served = std::future::IntoFuture::into_future(axum::serve(l, app)) => served?,
                () = stopped => {}
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(SUCCESS)
}

/// Replaces the pairing link with a fresh one and prints it.
fn renew_pairing(web: &Web) {
    match devices::secret(16) {
        Ok(token) => {
            {
                let mut p = web
                    .pairing
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                p.token = token;
                p.until = Instant::now() + web.pair_for;
                p.used = false;
            }
            announce_pairing(web);
        }
        Err(e) => eprintln!("ash web: no new pairing link: {e:#}"),
    }
}

/// Prints a new pairing link whenever the current one runs out unused.
async fn renew_expired(web: Arc<Web>) {
    loop {
        let until = web
            .pairing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .until;
        tokio::time::sleep_until(until.into()).await;
        let expired = web
            .pairing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .until
            <= Instant::now();
        if expired {
            println!("the pairing link expired; a new one:");
            renew_pairing(&web);
        }
    }
}

/// Prints the current pairing link, with its QR code for a phone's camera.
fn announce_pairing(web: &Web) {
    let token = web
        .pairing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .token
        .clone();
    let link = format!("{}/pair/{token}", web.base);
    if let Ok(code) = qrcode::QrCode::new(link.as_bytes()) {
        let art = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        println!("{art}");
    }
    println!(
        "pair: {link}  (opens once, for {}; then a new link is printed here)",
        humantime::format_duration(web.pair_for)
    );
}

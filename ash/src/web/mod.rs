//! `ash web`: the queue as a small web app for a phone. An operator client like the terminal
//! queue (agentd gains no HTTP listener): it follows every host, shows what waits, and sends
//! decisions to agentd as `OPERATOR via web (DEVICE)`. Nothing of the queue is shown or decided
//! without a paired device; see docs/PHONE.md for reaching it and the security model.
//!
//! In rooms: `hub` (following agentd), `devices` (pairing and credentials), `guard` (host,
//! cookie, CSRF and header checks), `pages` (the HTML), `routes` (the handlers), `listen`
//! (addresses and TLS), `push` (notifications through ntfy).

pub mod devices;
pub mod guard;
pub mod hub;
mod listen;
pub mod pages;
pub mod push;
mod routes;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentd_proto::Risk;
use anyhow::anyhow;
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
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Send a notification through ntfy for each request that waits:
    /// ntfy://[USER:PASSWORD@|TOKEN@]SERVER/TOPIC (HTTPS), or the topic's address,
    /// https://ntfy.sh/TOPIC. With credentials, give it in ASH_WEB_PUSH rather than on the
    /// command line, which every process on the machine can read
    #[arg(long, value_name = "URL", env = "ASH_WEB_PUSH", hide_env_values = true)]
    push: Option<String>,
    /// Trust this certificate authority (PEM) for the ntfy server, as for a self-hosted one
    /// with a CA of its own (by default the Mozilla roots ash carries)
    #[arg(long, value_name = "FILE", requires = "push")]
    push_ca: Option<PathBuf>,
    /// Push only requests at or above this risk: low, medium, high or critical
    #[arg(long, value_name = "RISK", default_value = "low", requires = "push")]
    push_risk: Risk,
    /// Put the request's arguments (masked) in the notification; they then pass through the
    /// ntfy server
    #[arg(long, requires = "push")]
    push_args: bool,
    /// Approve and deny buttons on the notifications of requests below high risk; each carries
    /// a one-time secret good until the request's deadline (anyone who can read the topic can
    /// use it), and those notifications show the (masked) arguments, through the ntfy server
    /// too
    #[arg(long, requires = "push")]
    push_buttons: bool,
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

/// Where `--push` may come from instead of the command line.
const PUSH_ENV: &str = "ASH_WEB_PUSH";

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
    /// The live secrets of notification buttons, with `--push-buttons`.
    buttons: Option<Arc<push::buttons::Tokens>>,
    /// Wrong button secrets, limited as pairing guesses are.
    button_limit: guard::PairLimit,
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

async fn serve(globals: &Globals, args: Args, devices: devices::Devices) -> anyhow::Result<u8> {
    let target = match &args.push {
        Some(url) => Some(push::target::parse(url).map_err(UsageError)?),
        None => None,
    };
    if let Some(target) = &target {
        // Whoever reads the topic can press the buttons: they need a topic behind a login.
        if args.push_buttons && target.auth.is_none() {
            return Err(UsageError(format!(
                "--push-buttons: anyone who can read {} could press the buttons, and it needs no login; give its credentials (ntfy://TOKEN@SERVER/TOPIC)",
                target.shown()
            ))
            .into());
        }
    }
    // Checked before binding: a refusal leaves no socket behind.
    let ca = match &args.push_ca {
        Some(path) => Some(push::authorities(path).map_err(UsageError)?),
        None => None,
    };
    let bound = listen::bind(&listen::Wanted {
        listen: &args.listen,
        tls: args.tls_cert.as_deref().zip(args.tls_key.as_deref()),
        insecure: args.insecure_listen,
    })
    .await?;
    let mut extra = args.allow_host.clone();
    if let Some(url) = &args.url {
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| UsageError(format!("--url {url}: not an http:// or https:// address")))?
            .trim_end_matches('/')
            .to_string();
        extra.push(host);
    }
    let hosts = match bound.tcp_addr() {
        Some(addr) => guard::Hosts::new(Some(&addr.ip().to_string()), Some(addr.port()), &extra),
        None => guard::Hosts::new(None, None, &extra),
    };
    let base = match (&args.url, &bound) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, listen::Bound::Unix(..)) => {
            return Err(UsageError(
                "--listen unix:PATH needs --url, the address the phone opens through the proxy"
                    .into(),
            )
            .into())
        }
        (None, bound) => bound.shown(),
    };
    let followed = crate::cmd::followed_hosts(globals, false);
    let names_hosts = globals.names_hosts();
    let buttons = (args.push_buttons).then(|| Arc::new(push::buttons::Tokens::default()));
    let notes = target.as_ref().map(|target| {
        push::start(push::Push {
            target: target.clone(),
            opts: push::message::Options {
                min_risk: args.push_risk,
                args: args.push_args,
                buttons: args.push_buttons,
            },
            base: base.clone(),
            ca: ca.clone(),
            tokens: buttons.clone().unwrap_or_default(),
            names: followed
                .iter()
                .map(|h| names_hosts.then(|| h.to_string()))
                .collect(),
        })
    });
    let pair_for = Duration::from_secs(args.pair_for.max(1));
    let web = Arc::new(Web {
        hub: hub::Hub::new(followed, crate::cmd::login_name(), notes),
        devices,
        hosts,
        pairing: Mutex::new(Pairing {
            token: devices::secret(16)?,
            until: Instant::now() + pair_for,
            used: false,
        }),
        pair_for,
        limit: guard::PairLimit::default(),
        buttons,
        button_limit: guard::PairLimit::default(),
        secure_cookie: base.starts_with("https://"),
        base,
        names_hosts,
    });
    println!(
        "ash web: the queue of {} at {}; devices are kept in {}",
        web.hub
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        bound.shown(),
        web.devices.path().display()
    );
    if let Some(target) = &target {
        println!(
            "push: a notification to {} for each request at or above {} risk{}",
            target.shown(),
            args.push_risk,
            if args.push_buttons {
                "; approve and deny buttons below high risk"
            } else {
                ""
            }
        );
        let from_env = std::env::var(PUSH_ENV).ok() == args.push;
        if target.auth.is_some() && !from_env {
            eprintln!(
                "ash web: --push carries credentials on the command line, where every process on this machine can read them; set {PUSH_ENV} instead"
            );
        }
        let local = [
            "://127.0.0.1",
            "://localhost",
            "://[::1]",
            "://0.0.0.0",
            "://[::]",
        ]
        .iter()
        .any(|h| web.base.contains(h));
        if local {
            eprintln!(
                "ash web: notifications open {}, which only this machine reaches; give --url with the address the phone opens",
                web.base
            );
        }
    }
    announce_pairing(&web);
    tokio::spawn(renew_expired(Arc::clone(&web)));
    listen::serve(bound, routes::router(Arc::clone(&web))).await?;
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

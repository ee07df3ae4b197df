//! `ash web --push`: a notification through ntfy for each request that waits at or above a
//! chosen risk, with a click that opens its page; once it is answered (anywhere) the
//! notification is replaced by who answered and dismissed. Optional approve and deny buttons
//! carry one-time secrets (`buttons`). The contract is ntfy's HTTP API as its docs/publish.md
//! gives it for server v2.16 and later (JSON publish with `sequence_id`, `PUT
//! /TOPIC/SEQUENCE/clear`); an older server shows the replacement as a second, quiet
//! notification and cannot dismiss.
//!
//! In rooms: `target` (the address), `message` (what each notification says), `buttons` (the
//! secrets), and here the sender, which hears about requests from the hub in order.

pub mod buttons;
pub mod message;
pub mod target;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use agentd_proto::{RequestView, Risk};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use buttons::Tokens;
use message::Options;
use target::Target;

/// What the hub tells the sender, in the order it happened on each host.
#[derive(Debug)]
pub enum Note {
    /// A host's pending requests after (re)connecting; `first` on its first connection.
    Listed {
        host: usize,
        pending: Vec<RequestView>,
        first: bool,
    },
    Queued {
        host: usize,
        view: RequestView,
    },
    Finished {
        host: usize,
        view: RequestView,
    },
}

/// How many requests found waiting at start get a notification each; more get one for all.
const BACKLOG_EACH: usize = 3;

/// Tries per message: a notification lost to a dropped connection is a request nobody sees.
const TRIES: u32 = 3;

pub struct Push {
    pub target: Target,
    pub opts: Options,
    /// The address the phone opens, for clicks and buttons.
    pub base: String,
    /// Certificate authorities to trust instead of the Mozilla roots (`--push-ca`).
    pub ca: Option<Vec<ureq::tls::Certificate<'static>>>,
    pub tokens: Arc<Tokens>,
    /// Each host's name, when the pages show it.
    pub names: Vec<Option<String>>,
}

/// The certificates in a PEM file, for `--push-ca`; the error says what is wrong with it.
pub fn authorities(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let bad = |why: String| format!("--push-ca {}: {why}", path.display());
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    // ureq skips a certificate rustls cannot use; here it is said instead.
    let mut check = tokio_rustls::rustls::RootCertStore::empty();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(e.to_string()))? {
            ureq::tls::PemItem::Certificate(c) => {
                check.add(c.der().to_vec().into()).map_err(|e| {
                    bad(format!(
                        "certificate {} cannot be used: {e}",
                        certs.len() + 1
                    ))
                })?;
                certs.push(c);
            }
            _ => {
                return Err(bad(
                    "holds a private key; give the authority's certificate only".into(),
                ))
            }
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "no certificate in it (PEM, -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

/// Starts the sender; the hub sends it `Note`s.
pub fn start(push: Push) -> mpsc::UnboundedSender<Note> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(push, rx));
    tx
}

struct Sender {
    push: Push,
    http: ureq::Agent,
    /// Requests with a notification out, and its sequence ID.
    notified: HashMap<(usize, Uuid), String>,
    /// Requests already considered (pushed, summed up in a backlog, or below the risk).
    seen: HashSet<(usize, Uuid)>,
    /// Said once: the server does not dismiss (ntfy before 2.16).
    said_old: bool,
}

async fn run(push: Push, mut notes: mpsc::UnboundedReceiver<Note>) {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        // A redirect would turn a publish into a GET that "succeeds" and loses it.
        .max_redirects(0)
        .max_redirects_will_error(false);
    // A server on this machine is never reached through a proxy from the environment: over
    // `http://` (allowed only here) the token would cross it in the clear.
    if push.target.local {
        config = config.proxy(None);
    }
    if let Some(ca) = &push.ca {
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(ca.clone())))
                .build(),
        );
    }
    let http = config.build().into();
    let mut s = Sender {
        push,
        http,
        notified: HashMap::new(),
        seen: HashSet::new(),
        said_old: false,
    };
    while let Some(note) = notes.recv().await {
        match note {
            Note::Queued { host, view } => {
                if s.seen.insert((host, view.id)) {
                    s.waiting(host, &view).await;
                }
            }
            Note::Listed {
                host,
                pending,
                first,
            } => s.listed(host, pending, first).await,
            Note::Finished { host, view } => s.finished(host, &view).await,
        }
    }
}

impl Sender {
    fn name(&self, host: usize) -> Option<&str> {
        self.push.names.get(host).and_then(|n| n.as_deref())
    }

    async fn waiting(&mut self, host: usize, v: &RequestView) {
        if v.risk < self.push.opts.min_risk {
            return;
        }
        // High and critical always open the page: a tap on a notification is too easy.
        let buttons = if self.push.opts.buttons && v.risk < Risk::High {
            match self.push.tokens.issue(host, v.id, v.expires_at) {
                Ok((approve, deny)) => Some(message::Buttons {
                    approve: format!("{}/push/{approve}", self.push.base),
                    deny: format!("{}/push/{deny}", self.push.base),
                }),
                Err(e) => {
                    eprintln!("ash web: push: no buttons: {e:#}");
                    None
                }
            }
        } else {
            None
        };
        let body = message::waiting(
            &self.push.target.topic,
            &self.push.base,
            self.name(host),
            v,
            self.push.opts,
            buttons,
        );
        if self.publish(&body).await {
            self.notified.insert((host, v.id), message::sequence_id(v));
        }
    }

    async fn listed(&mut self, host: usize, pending: Vec<RequestView>, first: bool) {
        let ids: HashSet<Uuid> = pending.iter().map(|v| v.id).collect();
        // Answered while the connection was down: replaced without knowing by whom.
        let gone: Vec<(usize, Uuid)> = self
            .notified
            .keys()
            .filter(|(h, id)| *h == host && !ids.contains(id))
            .copied()
            .collect();
        for key in gone {
            self.push.tokens.forget(key.0, key.1);
            if let Some(seq) = self.notified.remove(&key) {
                let body = message::gone(&self.push.target.topic, &self.push.base, &seq);
                self.replace(&body, &seq).await;
            }
        }
        self.seen.retain(|(h, id)| *h != host || ids.contains(id));
        let new: Vec<RequestView> = pending
            .into_iter()
            .filter(|v| self.seen.insert((host, v.id)))
            .filter(|v| v.risk >= self.push.opts.min_risk)
            .collect();
        if first && new.len() > BACKLOG_EACH {
            let top = new.iter().map(|v| v.risk).max().unwrap_or_default();
            let body = message::backlog(
                &self.push.target.topic,
                &self.push.base,
                self.name(host),
                new.len(),
                top,
            );
            self.publish(&body).await;
        } else {
            for v in &new {
                self.waiting(host, v).await;
            }
        }
    }

    async fn finished(&mut self, host: usize, v: &RequestView) {
        self.seen.remove(&(host, v.id));
        self.push.tokens.forget(host, v.id);
        if let Some(seq) = self.notified.remove(&(host, v.id)) {
            let body =
                message::finished(&self.push.target.topic, &self.push.base, self.name(host), v);
            self.replace(&body, &seq).await;
        }
    }

    /// Replaces a notification with `body` (same sequence ID), then dismisses it.
    async fn replace(&mut self, body: &Value, seq: &str) {
        if !self.publish(body).await {
            return;
        }
        let url = format!(
            "{}/{}/{seq}/clear",
            self.push.target.server, self.push.target.topic
        );
        match self.send("PUT", url, None).await {
            Ok(()) => {}
            Err(Failure::Status(404, _)) if !self.said_old => {
                self.said_old = true;
                eprintln!(
                    "ash web: push: {} cannot dismiss notifications (ntfy before 2.16): answered ones stay on the phone, marked with who answered",
                    self.push.target.server
                );
            }
            Err(Failure::Status(404, _)) => {}
            Err(e) => eprintln!("ash web: push: dismissing a notification: {e}"),
        }
    }

    /// Publishes one message; says in the terminal when it could not.
    async fn publish(&self, body: &Value) -> bool {
        let url = format!("{}/", self.push.target.server);
        match self.send("POST", url, Some(body.to_string())).await {
            Ok(()) => true,
            Err(e) => {
                eprintln!("ash web: push to {} failed: {e}", self.push.target.shown());
                false
            }
        }
    }

    /// One HTTP request to the ntfy server, tried again after a dropped connection, a 429 or
    /// a 5xx.
    async fn send(
        &self,
        method: &'static str,
        url: String,
        body: Option<String>,
    ) -> Result<(), Failure> {
        let mut wait = Duration::from_secs(1);
        let mut tried = 0;
        loop {
            tried += 1;
            let http = self.http.clone();
            let auth = self.push.target.auth.clone();
            let (url2, body2) = (url.clone(), body.clone());
            let outcome = tokio::task::spawn_blocking(move || {
                request(&http, method, &url2, auth.as_deref(), body2)
            })
            .await
            .unwrap_or_else(|e| Err(Failure::Transport(e.to_string())));
            match outcome {
                Err(e) if tried < TRIES && e.worth_again() => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                done => return done,
            }
        }
    }
}

#[derive(Debug)]
enum Failure {
    Transport(String),
    Status(u16, String),
}

impl Failure {
    fn worth_again(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Status(code, _) => *code == 429 || *code >= 500,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(e) => write!(f, "{e}"),
            Failure::Status(code, body) => write!(f, "the server answered {code}: {body}"),
        }
    }
}

fn request(
    http: &ureq::Agent,
    method: &str,
    url: &str,
    auth: Option<&str>,
    body: Option<String>,
) -> Result<(), Failure> {
    let transport = |e: ureq::Error| Failure::Transport(e.to_string());
    let answer = match (method, body) {
        ("POST", Some(body)) => {
            let mut req = http.post(url).header("Content-Type", "application/json");
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            req.send(body.as_bytes())
        }
        _ => {
            let mut req = http.put(url);
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            req.send_empty()
        }
    };
    let mut answer = answer.map_err(transport)?;
    let status = answer.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = answer
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    Err(Failure::Status(
        status,
        crate::display::ellipsize(&crate::display::one_line(text.trim()), 200),
    ))
}

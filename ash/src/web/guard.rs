//! What every request to `ash web` passes before a handler sees it: the Host header (no DNS
//! rebinding), the paired device's cookie (401 without one, 403 for one that is unknown or
//! revoked), for state changes the device's CSRF token and a same-origin check, and on every
//! answer a strict Content-Security-Policy and its companions.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};

use super::devices::Device;

/// The cookie that carries a paired device's credential.
pub const COOKIE: &str = "ash_device";

/// Failed pairing attempts allowed a minute, all clients together.
const PAIR_FAILURES_A_MINUTE: usize = 10;

/// Scripts and styles only from `ash web` itself, no inline code, no frames, forms only back
/// to itself.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers every answer carries.
pub fn secure(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // `same-origin`, not `no-referrer`: with no referrer at all, browsers send `Origin: null` on
    // the page's own form posts, and the origin check could not tell them from a foreign page.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
}

/// The names this server answers to: its own address, and names it was told to accept.
#[derive(Debug, Clone)]
pub struct Hosts {
    allowed: Vec<String>,
}

impl Hosts {
    /// For a server on `port` (None for a Unix socket behind a proxy), with `extra` names
    /// (`phone.tailnet.ts.net`, with or without a port).
    pub fn new(listen_host: Option<&str>, port: Option<u16>, extra: &[String]) -> Hosts {
        let extra: Vec<&String> = extra.iter().filter(|e| !e.trim().is_empty()).collect();
        let mut allowed: Vec<String> = Vec::new();
        if let Some(port) = port {
            for name in ["127.0.0.1", "localhost", "[::1]"] {
                allowed.push(format!("{name}:{port}"));
            }
            if let Some(host) = listen_host {
                allowed.push(format!("{host}:{port}"));
            }
        }
        for name in extra {
            let name = name.trim().to_ascii_lowercase();
            allowed.push(name.clone());
            if !name.contains(':') {
                if let Some(port) = port {
                    allowed.push(format!("{name}:{port}"));
                }
            }
        }
        Hosts { allowed }
    }

    /// Whether the Host header names this server.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.allowed.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// Whether a state change came from this server's own pages: an `Origin` that is not one
    /// of its names, or a browser saying the request is cross-site, is refused.
    pub fn same_origin(&self, headers: &HeaderMap) -> bool {
        if headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site" || v == "same-site")
        {
            return false;
        }
        match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            None => true,
            // An opaque origin (`null`) is no origin of ours.
            Some("null") => false,
            Some(origin) => {
                let host = origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"))
                    .unwrap_or("");
                self.allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
            }
        }
    }
}

/// The device credential a request carries, if any.
/// Two of them (one planted by another service on the same host name, since cookies ignore
/// ports) is none: the request is refused rather than one of them picked.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string());
    let first = found.next();
    match found.next() {
        Some(_) => None,
        None => first,
    }
}

/// The cookie that pairs a device: not readable by scripts, never sent cross-site.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The CSRF token of a device: derived from what only the server holds (the credential's
/// hash), so a page of another site cannot know it.
pub fn csrf(device: &Device) -> String {
    super::devices::hash(&format!("csrf:{}", device.token_sha256))
}

/// Why a request was refused, as a status and one line.
pub type Refusal = (StatusCode, &'static str);

pub const NO_DEVICE: Refusal = (
    StatusCode::UNAUTHORIZED,
    "this device is not paired: open the pairing link `ash web` printed",
);
pub const UNKNOWN_DEVICE: Refusal = (
    StatusCode::FORBIDDEN,
    "this device is not paired, or was revoked: open a new pairing link from `ash web`",
);
pub const BAD_HOST: Refusal = (
    StatusCode::MISDIRECTED_REQUEST,
    "this server does not answer to that host name (ash web --allow-host NAME adds one)",
);
pub const CROSS_SITE: Refusal = (
    StatusCode::FORBIDDEN,
    "refused: the request did not come from this server's own page",
);

/// Counts failed pairing attempts in the last minute.
#[derive(Default)]
pub struct PairLimit {
    failures: Mutex<Vec<Instant>>,
}

impl PairLimit {
    /// Whether another attempt may be tried now.
    pub fn open(&self) -> bool {
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.retain(|t| t.elapsed() < Duration::from_secs(60));
        f.len() < PAIR_FAILURES_A_MINUTE
    }

    pub fn failed(&self) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Instant::now());
    }
}

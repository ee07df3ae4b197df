//! The handlers: pairing, the queue, one request, deciding, history, and the event stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use agentd_proto::{DecideRequest, Risk, Scope, Verdict};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::devices::Device;
use super::guard::{self, Refusal};
use super::{pages, Web};

pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(queue))
        .route("/fragment/queue", get(queue_fragment))
        .route("/r/{id}", get(request))
        .route("/r/{id}/decide", post(decide))
        .route("/history", get(history))
        .route("/events", get(events))
        .route("/pair/{token}", get(pair_page))
        .route("/pair", post(pair))
        .route("/push/{secret}", post(button))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .fallback(|| async { refuse((StatusCode::NOT_FOUND, "no such page")) })
        // Forms here are a few fields: nothing larger is read.
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .layer(middleware::from_fn_with_state(Arc::clone(&web), gate))
        .with_state(web)
}

fn refuse((status, why): Refusal) -> Response {
    (status, Html(pages::problem(why))).into_response()
}

/// Every request: the Host header first (no DNS rebinding), the security headers on the way
/// out.
async fn gate(State(web): State<Arc<Web>>, req: Request, next: Next) -> Response {
    let mut res = if web.hosts.allows(req.headers()) {
        next.run(req).await
    } else {
        refuse(guard::BAD_HOST)
    };
    guard::secure(res.headers_mut());
    res
}

/// The paired device making this request, or the refusal.
fn device(web: &Web, headers: &HeaderMap) -> Result<Device, Response> {
    let Some(token) = guard::cookie(headers) else {
        return Err(refuse(guard::NO_DEVICE));
    };
    match web.devices.check(&token, Utc::now()) {
        Ok(Some(device)) => Ok(device),
        Ok(None) => Err(refuse(guard::UNKNOWN_DEVICE)),
        // The why (paths, OS errors) goes to the terminal, not to whoever asked.
        Err(e) => {
            eprintln!("ash web: {e:#}");
            Err(refuse((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the device list cannot be read; ash web's terminal says why",
            )))
        }
    }
}

fn host_name(web: &Web, host: usize) -> Option<String> {
    web.names_hosts
        .then(|| web.hub.hosts.get(host).map(ToString::to_string))
        .flatten()
}

fn queue_html(web: &Web) -> String {
    let items: Vec<_> = web
        .hub
        .pending()
        .into_iter()
        .map(|(h, v)| (host_name(web, h), v))
        .collect();
    pages::queue(&items, &web.hub.status(), Utc::now())
}

async fn queue(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(refused) = device(&web, &headers) {
        return refused;
    }
    Html(pages::page("ash: queue", &queue_html(&web))).into_response()
}

async fn queue_fragment(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(refused) = device(&web, &headers) {
        return refused;
    }
    Html(queue_html(&web)).into_response()
}

async fn request(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let device = match device(&web, &headers) {
        Ok(d) => d,
        Err(refused) => return refused,
    };
    match web.hub.find(&id) {
        Some((host, v)) => Html(pages::page(
            &format!("ash: {}", &v.id.to_string()[..8]),
            &pages::request(
                host_name(&web, host).as_deref(),
                &v,
                &guard::csrf(&device),
                Utc::now(),
            ),
        ))
        .into_response(),
        None => refuse((
            StatusCode::NOT_FOUND,
            "no such request here (decided long ago, or never asked)",
        )),
    }
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: String,
    verdict: String,
    grant: Option<String>,
    reason: Option<String>,
    confirm: Option<String>,
}

async fn decide(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Response {
    let device = match device(&web, &headers) {
        Ok(d) => d,
        Err(refused) => return refused,
    };
    if !web.hosts.same_origin(&headers) || form.csrf != guard::csrf(&device) {
        return refuse(guard::CROSS_SITE);
    }
    let Some((host, v)) = web.hub.find(&id) else {
        return refuse((StatusCode::NOT_FOUND, "no such request here"));
    };
    let verdict = match form.verdict.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        _ => return refuse((StatusCode::BAD_REQUEST, "verdict must be approve or deny")),
    };
    // A high or critical approval is deliberate: the page asks for a tick as well as a tap.
    if verdict == Verdict::Approve && v.risk >= Risk::High && form.confirm.as_deref() != Some("yes")
    {
        return refuse((
            StatusCode::BAD_REQUEST,
            "a high or critical request needs the confirmation ticked before it is approved",
        ));
    }
    let grant = form.grant.filter(|g| !g.is_empty());
    let scope = match (&grant, &v.session) {
        (None, _) => Scope::Once,
        (Some(_), Some(_)) => Scope::Session,
        // No session to cover: the grant lasts 15 minutes, as the terminal queue's does.
        (Some(_), None) => Scope::Timeboxed { ttl_secs: 900 },
    };
    let req = DecideRequest {
        id: v.id.to_string(),
        verdict,
        operator: format!("{} via web ({})", web.hub.operator, device.name),
        reason: form.reason.filter(|r| !r.trim().is_empty()),
        scope,
        grant,
        args_json: None,
    };
    let (view, note) = match web.hub.decide(host, &req).await {
        Ok(view) => (view, None),
        // Someone else answered first (or agentd refused): say so, with the request as it is
        // now.
        Err(e) => (
            web.hub.find(&id).map_or(v, |(_, now)| now),
            Some(e.to_string()),
        ),
    };
    let mut body = String::new();
    if let Some(note) = note {
        body.push_str(&format!(r#"<p class="warn">{}</p>"#, pages::text(&note)));
    }
    body.push_str(&pages::request(
        host_name(&web, host).as_deref(),
        &view,
        &guard::csrf(&device),
        Utc::now(),
    ));
    Html(pages::page("ash: decided", &body)).into_response()
}

async fn history(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(refused) = device(&web, &headers) {
        return refused;
    }
    let items: Vec<_> = web
        .hub
        .recent()
        .into_iter()
        .map(|(h, v)| (host_name(&web, h), v))
        .collect();
    Html(pages::page("ash: history", &pages::history(&items))).into_response()
}

async fn events(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(refused) = device(&web, &headers) {
        return refused;
    }
    let Some(token) = guard::cookie(&headers) else {
        return refuse(guard::NO_DEVICE);
    };
    let rx = web.hub.subscribe();
    // The device is checked again before every event: a revoked one hears nothing more.
    let stream =
        futures_util::stream::unfold((rx, web, token), |(mut rx, web, token)| async move {
            let data = match rx.recv().await {
                Ok(change) => serde_json::to_string(&change).unwrap_or_default(),
                // Fell behind: the page lists again.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    r#"{"kind":"reload","id":null,"outcome":null}"#.to_string()
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            };
            if !matches!(web.devices.check(&token, Utc::now()), Ok(Some(_))) {
                return None;
            }
            Some((
                Ok::<Event, Infallible>(Event::default().data(data)),
                (rx, web, token),
            ))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Whether `token` is the current pairing link's, unused and in time.
fn pairing_open(web: &Web, token: &str) -> bool {
    let p = web
        .pairing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    !p.used && p.until > Instant::now() && p.token == token
}

async fn pair_page(State(web): State<Arc<Web>>, Path(token): Path<String>) -> Response {
    // The right link always opens; wrong ones are counted, and past the limit refused at once.
    if pairing_open(&web, &token) {
        return Html(pages::page("ash: pair", &pages::pair(&token))).into_response();
    }
    if !web.limit.open() {
        return refuse((
            StatusCode::TOO_MANY_REQUESTS,
            "too many pairing attempts; wait a minute",
        ));
    }
    web.limit.failed();
    refuse((
        StatusCode::FORBIDDEN,
        "this pairing link is used, expired or wrong: use the newest one `ash web` printed",
    ))
}

#[derive(Deserialize)]
struct PairForm {
    token: String,
    name: String,
}

async fn pair(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<PairForm>,
) -> Response {
    if !web.hosts.same_origin(&headers) {
        return refuse(guard::CROSS_SITE);
    }
    {
        let mut p = web
            .pairing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if p.used || p.until <= Instant::now() || p.token != form.token {
            drop(p);
            if !web.limit.open() {
                return refuse((
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many pairing attempts; wait a minute",
                ));
            }
            web.limit.failed();
            return refuse((
                StatusCode::FORBIDDEN,
                "this pairing link is used, expired or wrong: use the newest one `ash web` printed",
            ));
        }
        p.used = true;
    }
    let paired = web.devices.pair(&form.name, Utc::now());
    match &paired {
        Ok((device, _)) => println!(
            "paired {} ({}); for another device:",
            device.id, device.name
        ),
        Err(e) => eprintln!("ash web: pairing failed: {e:#}; a new link:"),
    }
    // The next device gets a link of its own.
    super::renew_pairing(&web);
    match paired {
        Ok((_, token)) => {
            let mut res = Redirect::to("/").into_response();
            if let Ok(value) = guard::set_cookie(&token, web.secure_cookie).parse() {
                res.headers_mut().insert(header::SET_COOKIE, value);
            }
            res
        }
        Err(_) => refuse((
            StatusCode::INTERNAL_SERVER_ERROR,
            "pairing failed; ash web's terminal says why",
        )),
    }
}

/// A notification's approve or deny button: ntfy's app posts here with the button's one-time
/// secret, which is the credential (no cookie: it is not a browser).
async fn button(State(web): State<Arc<Web>>, Path(secret): Path<String>) -> Response {
    let plain = |status: StatusCode, text: &str| (status, text.to_string()).into_response();
    let Some(tokens) = &web.buttons else {
        return refuse((StatusCode::NOT_FOUND, "no such page"));
    };
    // A live secret always works; only wrong ones are counted, and past the limit refused.
    let Some(b) = tokens.take(&secret, Utc::now()) else {
        // 403 either way, as for any request without a credential; only the words differ.
        if !web.button_limit.open() {
            return plain(
                StatusCode::FORBIDDEN,
                "too many wrong buttons in the last minute; open the queue",
            );
        }
        web.button_limit.failed();
        return plain(
            StatusCode::FORBIDDEN,
            "this button was used already, or its request was answered or ran out of time: open the queue",
        );
    };
    // Issued only below high risk; checked again against the request as it waits now.
    match web.hub.waiting(b.host, b.id) {
        None => {
            return plain(
                StatusCode::CONFLICT,
                "this request is no longer waiting: open the queue",
            )
        }
        Some(v) if v.risk >= Risk::High => {
            return plain(
                StatusCode::FORBIDDEN,
                "a high or critical request is answered on its page",
            )
        }
        Some(_) => {}
    }
    let req = DecideRequest {
        id: b.id.to_string(),
        verdict: b.verdict,
        operator: format!("{} via web (ntfy)", web.hub.operator),
        reason: (b.verdict == Verdict::Deny).then(|| "denied from the notification".to_string()),
        scope: Scope::Once,
        grant: None,
        args_json: None,
    };
    match web.hub.decide(b.host, &req).await {
        Ok(view) => plain(StatusCode::OK, &crate::web::hub::outcome_words(&view)),
        // Answered elsewhere first, or agentd out of reach: the why (paths, hosts) goes to the
        // terminal, not to whoever holds the button.
        Err(e) => {
            eprintln!("ash web: a notification's button for {}: {e}", b.id);
            plain(
                StatusCode::CONFLICT,
                "not decided (answered elsewhere first, or agentd out of reach): open the queue",
            )
        }
    }
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
        .into_response()
}

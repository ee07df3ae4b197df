//! Every attack of docs/PHONE.md's security model, performed: no device, a forged or revoked
//! credential, another Host (DNS rebinding), a cross-site form post, a missing CSRF token,
//! guessing pairing links, agent-written markup; and the decisions that do go through.

use super::http::{call, form};
use super::*;

use agentd::Settings;
use agentd_proto::{ApprovalRequest, Submitted, Verdict};

/// Queues a request from agent `bot` and returns its ID and the waiting agent's task.
async fn ask(
    d: &TempDaemon,
    tool: &str,
    summary: &str,
    args: &str,
) -> (String, tokio::task::JoinHandle<agentd_proto::Outcome>) {
    super::ask_registered(d, tool, None, summary, args).await
}

/// The page's CSRF token for the request `id`.
async fn csrf(web: &Web, cookie: &str, id: &str) -> String {
    let page = call(
        web.addr,
        "GET",
        &format!("/r/{id}"),
        &[("Cookie", cookie)],
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page.body.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    page.body[at..at + 64].to_string()
}

/// Polls the queue page until it shows `what`.
async fn page_shows(web: &Web, cookie: &str, path: &str, what: &str) -> String {
    let mut poller = Poller::new(LIMIT, format!("{path} to show {what}"));
    loop {
        let page = call(web.addr, "GET", path, &[("Cookie", cookie)], None).await;
        if page.body.contains(what) {
            return page.body;
        }
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_paired_device_nothing_is_shown_or_decided() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    let (id, _waiting) = ask(&d, "publish", "ship it", r#"{"v":1}"#).await;
    for path in [
        "/",
        "/fragment/queue",
        "/history",
        "/events",
        &format!("/r/{id}"),
    ] {
        let none = call(web.addr, "GET", path, &[], None).await;
        assert_eq!(none.status, 401, "{path}: {}", none.body);
        assert!(!none.body.contains(&id[..8]), "{path} shows the queue");
        let forged = call(
            web.addr,
            "GET",
            path,
            &[("Cookie", "ash_device=00ff")],
            None,
        )
        .await;
        assert_eq!(forged.status, 403, "{path}");
    }
    let post = call(
        web.addr,
        "POST",
        &format!("/r/{id}/decide"),
        &[],
        Some("csrf=x&verdict=approve"),
    )
    .await;
    assert_eq!(post.status, 401);
    // Every answer, refusals too, carries the policy.
    let csp = post.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(post.header("x-frame-options"), Some("DENY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_header_is_refused_before_anything_else() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    // DNS rebinding: evil.example resolves to 127.0.0.1, and the browser sends its own name.
    let port = web.addr.port();
    for host in ["evil.example".to_string(), format!("evil.example:{port}")] {
        let reply = call(web.addr, "GET", &web.pair_path(), &[("Host", &host)], None).await;
        assert_eq!(reply.status, 421, "{host}: {}", reply.body);
    }
    // The link itself still works for the right name.
    let ok = call(
        web.addr,
        "GET",
        &web.pair_path(),
        &[("Host", &format!("localhost:{port}"))],
        None,
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_link_works_once_and_guessing_is_rate_limited() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut web = Web::start(&d, state.path()).await;
    let token = web.pair.rsplit('/').next().unwrap().to_string();
    let _cookie = web.pair_device("pixel").await;
    // Used: the same link pairs nothing more, and a new one is printed.
    let again = call(
        web.addr,
        "POST",
        "/pair",
        &[],
        Some(&format!("token={token}&name=thief")),
    )
    .await;
    assert_eq!(again.status, 403);
    let mut poller = Poller::new(LIMIT, "a new pairing link");
    let next = loop {
        match web.lines.try_recv() {
            Ok(line) if line.starts_with("pair: ") => {
                break line.split_whitespace().nth(1).unwrap().to_string();
            }
            Ok(_) => {}
            Err(_) => poller.tick().await,
        }
    };
    let next_path = next
        .split_once(&web.addr.to_string())
        .unwrap()
        .1
        .to_string();
    // A cross-site form cannot pair a device of the attacker's choosing.
    let cross = call(
        web.addr,
        "POST",
        "/pair",
        &[("Origin", "http://evil.example")],
        Some("token=whatever&name=x"),
    )
    .await;
    assert_eq!(cross.status, 403);
    // Guessing: after ten wrong links in a minute, every attempt waits.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let guess = call(web.addr, "GET", &format!("/pair/{i:032x}"), &[], None).await;
        statuses.push(guess.status);
    }
    assert!(statuses[..9].iter().all(|s| *s == 403), "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
    // Guessers cannot lock the owner out: the right link still opens.
    let right = call(web.addr, "GET", &next_path, &[], None).await;
    assert_eq!(right.status, 200, "{}", right.body);
    let devices = web.ash(&["devices", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&devices.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "pixel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_go_through_agentd_with_the_device_named_and_cross_site_posts_fail() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    // A name cannot hide characters that make it read as another device's.
    let cookie = web.pair_device("pix\u{202e}el").await;
    let cookie = cookie.as_str();
    // Two credentials (one planted by another service on the same host name) are none.
    let doubled = format!("{cookie}; {cookie}");
    let reply = call(web.addr, "GET", "/", &[("Cookie", &doubled)], None).await;
    assert_eq!(reply.status, 401);

    // What an agent wrote is shown escaped: no markup, no hidden characters obeyed.
    let (id, waiting) = ask(
        &d,
        "publish",
        "<script>alert(1)</script>",
        "{\"note\":\"<img src=x onerror=alert(2)>\",\"flip\":\"a\u{202e}b\"}",
    )
    .await;
    let page = page_shows(&web, cookie, "/", &id[..8]).await;
    assert!(
        !page.contains("<script>alert") && !page.contains("<img src=x"),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("\\u{202e}"), "{page}");

    let token = csrf(&web, cookie, &id).await;
    let path = format!("/r/{id}/decide");
    let body = format!("csrf={token}&verdict=approve");
    // A form on another site: its Origin, or the browser saying it is cross-site.
    for header in [
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let reply = call(
            web.addr,
            "POST",
            &path,
            &[("Cookie", cookie), header],
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, 403, "{header:?}");
    }
    // Without the page's token.
    let reply = call(
        web.addr,
        "POST",
        &path,
        &[("Cookie", cookie)],
        Some("csrf=0&verdict=approve"),
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(!waiting.is_finished(), "nothing was decided by the attacks");

    let reply = call(web.addr, "POST", &path, &[("Cookie", cookie)], Some(&body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let outcome = waiting.await.unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.decision.by, "alice via web (pixel)");

    // High risk: a deliberate confirmation, then a denial with a reason reaches the agent.
    let (high, waiting) = ask(&d, "sensitive-op", "rotate keys", r#"{"k":1}"#).await;
    let token = csrf(&web, cookie, &high).await;
    let path = format!("/r/{high}/decide");
    let unconfirmed = call(
        web.addr,
        "POST",
        &path,
        &[("Cookie", cookie)],
        Some(&format!("csrf={token}&verdict=approve")),
    )
    .await;
    assert_eq!(unconfirmed.status, 400);
    let denied = call(
        web.addr,
        "POST",
        &path,
        &[("Cookie", cookie)],
        Some(&format!(
            "csrf={token}&verdict=deny&reason={}",
            form("not from my phone")
        )),
    )
    .await;
    assert_eq!(denied.status, 200);
    let outcome = waiting.await.unwrap();
    assert_eq!(outcome.decision.state, agentd_proto::State::Denied);
    assert_eq!(
        outcome.decision.reason.as_deref(),
        Some("not from my phone")
    );

    // A revoked device is locked out at once, its open event stream included.
    let mut events = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    let open = format!(
        "GET /events HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n",
        web.addr
    );
    tokio::io::AsyncWriteExt::write_all(&mut events, open.as_bytes())
        .await
        .unwrap();
    let (seen, _waiting) = ask(&d, "publish", "seen while paired", r#"{"v":3}"#).await;
    let mut heard = String::new();
    let mut buf = [0u8; 4096];
    while !heard.contains(&seen) {
        let n = tokio::time::timeout(LIMIT, tokio::io::AsyncReadExt::read(&mut events, &mut buf))
            .await
            .expect("the stream tells of the new request")
            .unwrap();
        assert!(n > 0, "the stream ended early: {heard}");
        heard.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let devices = web.ash(&["devices"]).await;
    let text = String::from_utf8_lossy(&devices.stdout).into_owned();
    assert!(
        text.contains("pixel") && !text.contains('\u{202e}'),
        "{text}"
    );
    let list: serde_json::Value =
        serde_json::from_slice(&web.ash(&["devices", "--json"]).await.stdout).unwrap();
    let device = list[0]["id"].as_str().unwrap().to_string();
    assert!(list[0]["last_used"].is_string(), "{list}");
    let revoked = web.ash(&["revoke", &device]).await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let locked = call(web.addr, "GET", "/", &[("Cookie", cookie)], None).await;
    assert_eq!(locked.status, 403);
    let (unseen, _waiting) = ask(&d, "publish", "after the revoke", r#"{"v":4}"#).await;
    // The response ends (its last chunk) without telling of the new request.
    let mut rest = String::new();
    while !rest.starts_with("0\r\n\r\n") && !rest.contains("\r\n0\r\n\r\n") {
        let n = tokio::time::timeout(LIMIT, tokio::io::AsyncReadExt::read(&mut events, &mut buf))
            .await
            .expect("the revoked device's stream ends")
            .unwrap();
        if n == 0 {
            break;
        }
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        !rest.contains(&unseen),
        "a revoked device heard of {unseen}: {rest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_decided_in_the_terminal_shows_who_and_the_web_answer_loses() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    let cookie = web.pair_device("pixel").await;
    let cookie = cookie.as_str();
    let (id, waiting) = ask(&d, "publish", "race", r#"{"v":2}"#).await;
    page_shows(&web, cookie, "/", &id[..8]).await;
    let token = csrf(&web, cookie, &id).await;
    // The terminal answers first.
    let mut op = d.operator("bob").await.unwrap();
    op.decide(&agentd_proto::DecideRequest {
        id: id.clone(),
        verdict: Verdict::Deny,
        operator: "bob".into(),
        reason: Some("from the terminal".into()),
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    })
    .await
    .unwrap();
    assert_eq!(waiting.await.unwrap().decision.by, "bob");
    let page = page_shows(&web, cookie, &format!("/r/{id}"), "denied by bob").await;
    assert!(!page.contains("Approve once"), "{page}");
    let late = call(
        web.addr,
        "POST",
        &format!("/r/{id}/decide"),
        &[("Cookie", cookie)],
        Some(&format!("csrf={token}&verdict=approve")),
    )
    .await;
    assert!(
        late.body.contains("already denied by operator bob"),
        "{}",
        late.body
    );
    assert!(!late.body.contains("Approve once"), "{}", late.body);
    let queue = call(web.addr, "GET", "/", &[("Cookie", cookie)], None).await;
    assert!(!queue.body.contains(&id[..8]), "it left the queue");
    let history = call(web.addr, "GET", "/history", &[("Cookie", cookie)], None).await;
    assert!(history.body.contains(&id[..8]) && history.body.contains("denied by bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_waiting_requests_all_show() {
    let d = TempDaemon::start(Settings {
        limits: agentd_testkit::unlimited(),
        ..Settings::default()
    })
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    let cookie = web.pair_device("pixel").await;
    let mut agents = Vec::new();
    let mut ids = Vec::new();
    for i in 0..1000 {
        let mut agent = d.agent(&format!("bot-{}", i % 10)).await.unwrap();
        let Submitted::Queued(t) = agent
            .submit(&ApprovalRequest {
                tool: "publish".into(),
                args_json: format!(r#"{{"n":{i}}}"#),
                ..ApprovalRequest::default()
            })
            .await
            .unwrap()
        else {
            panic!("expected the request to wait");
        };
        ids.push(t.id.to_string());
        agents.push(agent);
    }
    let page = page_shows(&web, &cookie, "/", "<span id=\"count\">1000</span> pending").await;
    for id in &ids {
        assert!(page.contains(&id[..8]), "{id} is missing");
    }
    println!("the queue page with 1,000 waiting: {} bytes", page.len());
}

//! `ash web --push` against a local stand-in for ntfy (`sink`): the shape of each request
//! (method, path, headers, JSON body), the replacement and dismissal once a request is answered
//! in the terminal, the risk threshold, one notification for a backlog, an older server named,
//! and the buttons' one-time secrets (bound to a request and verdict, spent on use, dead after
//! the deadline, never on a high-risk request).

use super::ask_registered as ask;
use super::http::call;
use super::sink::{Seen, Sink};
use super::*;

use agentd::Settings;
use agentd_proto::Risk;

fn ok(_: &Seen) -> u16 {
    200
}

fn push_url(sink: &Sink) -> String {
    format!("http://tk_pushsecret@{}/agent-queue", sink.addr)
}

fn sequence(id: &str) -> String {
    format!("agentd-{}", id.replace('-', ""))
}

/// `ash ARGS` against `d`, as the terminal would.
async fn terminal(d: &TempDaemon, args: &[&str]) -> std::process::Output {
    Command::new(common::ash_bin())
        .args(args)
        .env("AGENTD_SOCKET", d.socket())
        .env_remove("AGENTD_HOST")
        .output()
        .await
        .unwrap()
}

/// A publish as ntfy's JSON API takes it: POST to the server's root, JSON, with the token.
fn assert_publish(seen: &Seen) -> serde_json::Value {
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("authorization"), Some("Bearer tk_pushsecret"));
    let body = seen.json();
    assert_eq!(body["topic"], "agent-queue");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_is_pushed_then_replaced_and_dismissed_when_the_terminal_answers() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut sink = Sink::start(ok).await;
    let url = push_url(&sink);
    let mut web = Web::start_with(&d, state.path(), &["--push", &url]).await;
    // Credentials on the command line are visible to every process: ash web says where else.
    web.error_line("set ASH_WEB_PUSH instead").await;
    // No --url: the click opens an address only this machine reaches, and ash web says so.
    web.error_line("only this machine reaches").await;

    let (id, waiting) = ask(
        &d,
        "publish",
        None,
        "ship the release",
        r#"{"channel":"stable"}"#,
    )
    .await;
    let body = assert_publish(&sink.next().await);
    assert_eq!(body["title"], "bot wants publish");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("medium risk · {} · answer by ", &id[..8])),
        "{message}"
    );
    assert!(
        message.ends_with("\nbot says: ship the release"),
        "{message}"
    );
    assert!(
        !message.contains("stable"),
        "no arguments unless asked: {message}"
    );
    assert_eq!(body["click"], format!("http://{}/r/{id}", web.addr));
    assert_eq!(body["sequence_id"], sequence(&id));
    assert_eq!(body["priority"], 3);
    assert!(body.get("actions").is_none(), "no buttons unless asked");

    let approved = terminal(&d, &["approve", &id[..8], "--operator", "bob"]).await;
    assert!(approved.status.success(), "{approved:?}");
    assert!(waiting.await.unwrap().approved());
    // Replaced, quietly, by who answered...
    let body = assert_publish(&sink.next().await);
    assert_eq!(body["sequence_id"], sequence(&id));
    assert_eq!(body["message"], "approved by bob");
    assert_eq!(body["priority"], 1);
    assert!(body.get("actions").is_none());
    // ...then dismissed.
    let clear = sink.next().await;
    assert_eq!(clear.method, "PUT");
    assert_eq!(clear.path, format!("/agent-queue/{}/clear", sequence(&id)));
    assert_eq!(clear.header("authorization"), Some("Bearer tk_pushsecret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_at_or_above_the_chosen_risk_are_pushed_and_arguments_only_when_asked() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut sink = Sink::start(ok).await;
    let url = push_url(&sink);
    let _web = Web::start_with(
        &d,
        state.path(),
        &[
            "--push",
            &url,
            "--push-risk",
            "high",
            "--push-args",
            "--url",
            "https://box.tailnet.ts.net",
        ],
    )
    .await;
    let (_medium, _w1) = ask(&d, "publish", None, "ship", r#"{"n":1}"#).await;
    let (high, _w2) = ask(
        &d,
        "sensitive-op",
        None,
        "rotate keys",
        r#"{"region":"prod","api_key":"sk-abcdefghijklmnopqrstuvwxyz123456"}"#,
    )
    .await;
    // The medium one came first and was not pushed: the first thing sent is the high one.
    let body = assert_publish(&sink.next().await);
    assert_eq!(body["sequence_id"], sequence(&high));
    assert_eq!(body["priority"], 4);
    assert_eq!(body["tags"], serde_json::json!(["warning", "high"]));
    assert_eq!(
        body["click"],
        format!("https://box.tailnet.ts.net/r/{high}")
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(r#""region":"prod""#),
        "arguments asked for: {message}"
    );
    assert!(!message.contains("abcdefghijklmnop"), "masked: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_decide_once_with_a_secret_bound_to_their_request_and_verdict() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut sink = Sink::start(ok).await;
    let url = push_url(&sink);
    let web = Web::start_with(&d, state.path(), &["--push", &url, "--push-buttons"]).await;
    let buttons = |body: &serde_json::Value| -> (String, String) {
        let actions = body["actions"].as_array().expect("buttons");
        assert_eq!(actions.len(), 2);
        for a in actions {
            assert_eq!(
                (a["action"].as_str(), a["method"].as_str()),
                (Some("http"), Some("POST"))
            );
            assert_eq!(a["clear"], true);
        }
        assert_eq!(actions[0]["label"], "Approve");
        assert_eq!(actions[1]["label"], "Deny");
        let path = |a: &serde_json::Value| {
            let u = a["url"].as_str().unwrap();
            let prefix = format!("http://{}/push/", web.addr);
            assert!(u.starts_with(&prefix), "{u}");
            assert_eq!(u.len(), prefix.len() + 32, "a 128-bit secret: {u}");
            u[prefix.len() - "/push/".len()..].to_string()
        };
        (path(&actions[0]), path(&actions[1]))
    };

    // Approve from the notification: the agent gets it, recorded as the operator via ntfy.
    let (id, waiting) = ask(
        &d,
        "lint",
        Some((Risk::Low, 300)),
        "lint the tree",
        r#"{"path":"src","token":"hunter2hunter2hunter2"}"#,
    )
    .await;
    let body = assert_publish(&sink.next().await);
    // A button decides on what the notification shows: the arguments are in it, masked.
    let message = body["message"].as_str().unwrap();
    assert!(
        message.ends_with(r#"{"path":"src","token":"••••••"}"#),
        "{message}"
    );
    let (approve, deny) = buttons(&body);
    // Guessing: every wrong secret is refused, past ten a minute with other words, and the
    // live one still works after.
    for n in 0..12 {
        let guess = call(web.addr, "POST", &format!("/push/{n:032x}"), &[], None).await;
        assert_eq!(guess.status, 403, "{}", guess.body);
        if n >= 10 {
            assert!(
                guess.body.contains("too many wrong buttons"),
                "{}",
                guess.body
            );
        }
    }
    // A link preview or a prefetch (GET) decides nothing.
    let get = call(web.addr, "GET", &approve, &[], None).await;
    assert_eq!(get.status, 405);
    let pressed = call(web.addr, "POST", &approve, &[], None).await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    assert_eq!(pressed.body, "approved by alice via web (ntfy)");
    let outcome = waiting.await.unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.decision.by, "alice via web (ntfy)");
    // Spent: neither button works again.
    for again in [&approve, &deny] {
        let reply = call(web.addr, "POST", again, &[], None).await;
        assert_eq!(reply.status, 403, "{again}: {}", reply.body);
    }
    let body = assert_publish(&sink.next().await);
    assert_eq!(body["sequence_id"], sequence(&id));
    assert_eq!(body["message"], "approved by alice via web (ntfy)");
    assert_eq!(sink.next().await.method, "PUT");

    // Deny from the notification: the agent hears why.
    let (_, waiting) = ask(&d, "lint", None, "lint again", "{}").await;
    let (_, deny) = buttons(&assert_publish(&sink.next().await));
    let pressed = call(web.addr, "POST", &deny, &[], None).await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    let outcome = waiting.await.unwrap();
    assert!(!outcome.approved());
    assert_eq!(
        outcome.decision.reason.as_deref(),
        Some("denied from the notification")
    );
    sink.next().await;
    sink.next().await;

    // A high-risk request never gets buttons.
    let (_, _high) = ask(&d, "sensitive-op", None, "rotate keys", "{}").await;
    let body = assert_publish(&sink.next().await);
    assert!(body.get("actions").is_none(), "{body}");

    // Past the deadline a button is dead, even though it was never used.
    let (_, waiting) = ask(&d, "quick", Some((Risk::Low, 1)), "quick one", "{}").await;
    let (approve, _) = buttons(&assert_publish(&sink.next().await));
    let outcome = waiting.await.unwrap();
    assert_eq!(outcome.decision.state, agentd_proto::State::Expired);
    let late = call(web.addr, "POST", &approve, &[], None).await;
    assert_eq!(late.status, 403, "{}", late.body);
}

fn old_server(seen: &Seen) -> u16 {
    if seen.method == "PUT" {
        404
    } else {
        200
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_at_start_is_one_notification_and_a_server_that_cannot_dismiss_is_named() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut backlog = Vec::new();
    for n in 0..5 {
        backlog.push(
            ask(
                &d,
                "publish",
                None,
                "queued before",
                &format!(r#"{{"n":{n}}}"#),
            )
            .await,
        );
    }
    let state = tempfile::tempdir().unwrap();
    let mut sink = Sink::start(old_server).await;
    let url = push_url(&sink);
    // The address from the environment, where other users cannot read it.
    let mut web = Web::start_with_env(&d, state.path(), &[], &[("ASH_WEB_PUSH", &url)]).await;
    let body = assert_publish(&sink.next().await);
    assert_eq!(body["title"], "5 requests wait");
    assert_eq!(body["click"], format!("http://{}/", web.addr));
    assert!(body.get("sequence_id").is_none());

    // News after the start is pushed one by one; its answer cannot be dismissed on this server.
    let (id, waiting) = ask(&d, "publish", None, "after the start", "{}").await;
    let body = assert_publish(&sink.next().await);
    assert_eq!(body["sequence_id"], sequence(&id));
    let denied = terminal(
        &d,
        &["deny", &id[..8], "--operator", "bob", "--reason", "not now"],
    )
    .await;
    assert!(denied.status.success(), "{denied:?}");
    assert!(!waiting.await.unwrap().approved());
    assert_eq!(
        assert_publish(&sink.next().await)["message"],
        "denied by bob"
    );
    assert_eq!(sink.next().await.method, "PUT");
    let said = web
        .error_line("cannot dismiss notifications (ntfy before 2.16)")
        .await;
    assert!(!said.contains("tk_pushsecret"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_address_in_the_clear_or_malformed_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = super::tls::certificate(dir.path());
    let key = key.to_str().unwrap();
    let broken = dir.path().join("broken-ca.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let broken = broken.to_str().unwrap();
    for (bad, extra, says) in [
        ("http://tk@ntfy.example.net/q", &[][..], "in the clear"),
        ("https://ntfy.sh/", &[], "one topic name"),
        ("gopher://x/y", &[], "is not ntfy://"),
        ("ntfy:tk@ntfy.example.net/q", &[], "no server"),
        // Buttons on a topic anyone can read would let anyone approve.
        (
            "https://ntfy.sh/open-topic",
            &["--push-buttons"],
            "needs no login",
        ),
        (
            "ntfy://tk@ntfy.example.net/q",
            &["--push-ca", "/nonexistent/ca.pem"],
            "--push-ca /nonexistent/ca.pem: No such file",
        ),
        (
            "ntfy://tk@ntfy.example.net/q",
            &["--push-ca", key],
            "holds a private key",
        ),
        (
            "ntfy://tk@ntfy.example.net/q",
            &["--push-ca", broken],
            "certificate 1 cannot be used",
        ),
    ] {
        let out = Command::new(common::ash_bin())
            .args(["web", "--listen", "127.0.0.1:0", "--push", bad])
            .args(extra)
            .env("AGENTD_SOCKET", "/nonexistent/agentd.sock")
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{bad}: {err}");
        assert!(!err.contains("tk@"), "credentials hidden: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ntfy_form_goes_over_https_checked_against_the_authority_given() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (ca, cert, key) = super::tls::authority_and_server(state.path());
    let mut sink = Sink::start_tls(ok, &cert, &key).await;
    let url = format!("ntfy://tk_pushsecret@{}/agent-queue", sink.addr);

    // The Mozilla roots do not know a certificate made here: nothing is sent, and the terminal
    // says why.
    let unknown = tempfile::tempdir().unwrap();
    let mut web = Web::start_with_env(&d, unknown.path(), &[], &[("ASH_WEB_PUSH", &url)]).await;
    let (_, _first) = ask(&d, "publish", None, "first", "{}").await;
    let said = web
        .error_line(&format!("push to https://{}/agent-queue failed", sink.addr))
        .await;
    assert!(!said.contains("tk_pushsecret"), "{said}");
    drop(web);

    // With its authority given, the same address works, over HTTPS.
    let _web = Web::start_with_env(
        &d,
        state.path(),
        &["--push-ca", ca.to_str().unwrap()],
        &[("ASH_WEB_PUSH", &url)],
    )
    .await;
    let (second, _waits) = ask(&d, "publish", None, "second", "{}").await;
    let mut body = assert_publish(&sink.next().await);
    // What waited at the start (the first request) is pushed too: one of two, in any order.
    if body["sequence_id"] != sequence(&second) {
        body = assert_publish(&sink.next().await);
    }
    assert_eq!(body["sequence_id"], sequence(&second));
}

fn moved(_: &Seen) -> u16 {
    301
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_redirects_is_not_followed_and_the_failure_is_said() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut sink = Sink::start(moved).await;
    let url = push_url(&sink);
    let mut web = Web::start_with_env(&d, state.path(), &[], &[("ASH_WEB_PUSH", &url)]).await;
    let (_, _waits) = ask(&d, "publish", None, "ship", "{}").await;
    // One POST, never turned into a GET elsewhere; not counted as sent.
    let seen = sink.next().await;
    assert_eq!(seen.method, "POST");
    let said = web
        .error_line(&format!("push to http://{}/agent-queue failed", sink.addr))
        .await;
    assert!(said.contains("301"), "{said}");
}

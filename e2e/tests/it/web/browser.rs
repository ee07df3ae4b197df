//! Headless Chromium (Debian's `chromium` and `chromium-driver`, which scripts/test installs),
//! driven through WebDriver at a phone's size: pair, see a request arrive live, approve it and
//! deny one with a reason (the waiting agents get both), approve one with a grant (the same
//! call is then answered at once), watch a request decided first in the terminal queue (`ash
//! tui` in tmux) and one whose countdown runs out, and find the page locked once the device is
//! revoked. `AGENTD_WRITE_SCREENSHOTS=1` writes the phone screenshots in docs/images/.

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

use agentd::Settings;
use agentd_proto::{ApprovalRequest, Submitted};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: SocketAddr,
    session: String,
    _process: Child,
    _profile: tempfile::TempDir,
}

async fn webdriver(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // chromedriver may keep the connection open: read the head, then exactly the body.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "webdriver {path}: the connection closed inside the head"
        );
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("webdriver {path}: no content-length in {head}"));
    while raw.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "webdriver {path}: the connection closed inside the body"
        );
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw[head_end..head_end + length]).into_owned();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("webdriver {path}: {e}: {text}"))
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver is installed (scripts/test installs chromium-driver)");
        let driver: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut poller = Poller::new(LIMIT, "chromedriver to answer");
        while TcpStream::connect(driver).await.is_err() {
            poller.tick().await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage",
                         format!("--user-data-dir={}", profile.path().display())],
                "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0, "touch": true}}
            }
        }}});
        let created = webdriver(driver, "POST", "/session", Some(caps)).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        Browser {
            driver,
            session,
            _process: process,
            _profile: profile,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        webdriver(self.driver, method, &path, body).await["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn source(&self) -> String {
        self.call("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The element matching `css`, waiting for it to appear.
    async fn find(&self, css: &str) -> String {
        let mut poller = Poller::new(LIMIT, format!("an element {css}"));
        loop {
            let found = self
                .call(
                    "POST",
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_string();
            }
            poller.tick().await;
        }
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn text_of(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call("GET", &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits until the page's source contains `what`.
    async fn shows(&self, what: &str) -> String {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let source = self.source().await;
            if source.contains(what) {
                return source;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gave up waiting for the page to show {what}; it shows:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot for docs/PHONE.md when asked to.
    async fn screenshot(&self, name: &str) {
        if std::env::var_os("AGENTD_WRITE_SCREENSHOTS").is_none() {
            return;
        }
        let png = self.call("GET", "/screenshot", None).await;
        let bytes = base64_decode(png.as_str().unwrap());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("phone-{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the browser with its session (chromedriver itself is killed with the child);
        // the answer is not waited for.
        if let Ok(mut s) = std::net::TcpStream::connect(self.driver) {
            use std::io::Write;
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.session, self.driver
            );
            let _ = s.write_all(req.as_bytes());
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 512];
            let _ = std::io::Read::read(&mut s, &mut buf);
        }
    }
}

/// Standard base64, as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

use std::path::Path;

async fn ask(
    d: &TempDaemon,
    tool: &str,
    summary: &str,
    timeout_ms: Option<u64>,
) -> (String, tokio::task::JoinHandle<agentd_proto::Outcome>) {
    let mut agent = d.agent("claude-code").await.unwrap();
    let Submitted::Queued(t) = agent
        .submit(&ApprovalRequest {
            tool: tool.into(),
            args_json: format!(r#"{{"command":"{summary}"}}"#),
            summary: Some(summary.into()),
            session: Some("s-1".into()),
            timeout_ms,
            ..ApprovalRequest::default()
        })
        .await
        .unwrap()
    else {
        panic!("expected the request to wait");
    };
    (
        t.id.to_string(),
        tokio::spawn(async move { agent.wait().await.unwrap() }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_sized_browser_pairs_sees_requests_live_and_decides() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    let browser = Browser::start().await;
    let base = format!("http://{}", web.addr);

    // Pairing: the link, a name, and the queue.
    browser.open(&web.pair).await;
    browser.find("input[name=name]").await;
    browser.screenshot("pairing").await;
    browser.type_into("input[name=name]", "pixel").await;
    browser.click("form button[type=submit]").await;
    browser.shows("pending</h1>").await;
    let paint = browser
        .run("return performance.getEntriesByType('paint').map(e => e.name + ' ' + Math.round(e.startTime)).join(', ')")
        .await;
    println!("first paint of the queue: {paint}");

    // A request arrives while the page is open: it shows without a reload.
    let (deploy, deploy_waits) = ask(&d, "deploy-docs", "publish the docs site", None).await;
    let (high, high_waits) = ask(&d, "sensitive-op", "rotate the signing keys", None).await;
    browser.shows(&deploy[..8]).await;
    browser.shows(&high[..8]).await;
    browser.screenshot("queue").await;

    // Approve from its page: the agent gets the approval, with the device named.
    browser
        .click(&format!("li.card[data-id='{deploy}'] a"))
        .await;
    browser.shows("Approve once").await;
    browser.screenshot("request").await;
    browser.click("form.decide button.approve").await;
    let outcome = deploy_waits.await.unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.decision.by, "alice via web (pixel)");

    // Deny with a reason: the agent gets the reason.
    browser.open(&format!("{base}/r/{high}")).await;
    browser
        .type_into("input[name=reason]", "not this week")
        .await;
    browser.click("form.decide button.deny").await;
    let outcome = high_waits.await.unwrap();
    assert_eq!(outcome.decision.state, agentd_proto::State::Denied);
    assert_eq!(outcome.decision.reason.as_deref(), Some("not this week"));

    // Approve with a grant: the same call again in the session is answered at once.
    let (granted, granted_waits) = ask(&d, "deploy-docs", "publish the docs again", None).await;
    browser.open(&format!("{base}/r/{granted}")).await;
    browser.shows("for this session").await;
    browser.click("form.decide button.grant").await;
    let outcome = granted_waits.await.unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.decision.by, "alice via web (pixel)");
    let mut agent = d.agent("claude-code").await.unwrap();
    let again = agent
        .submit(&ApprovalRequest {
            tool: "deploy-docs".into(),
            args_json: r#"{"command":"publish the docs again"}"#.into(),
            summary: Some("publish the docs again".into()),
            session: Some("s-1".into()),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap();
    let Submitted::Decided(again) = again else {
        panic!("the grant made from the page should answer the same call at once");
    };
    assert!(
        again.approved() && again.decision.grant.is_some(),
        "{again:?}"
    );

    // Racing the terminal queue (the real `ash tui`, in tmux): it answers first, and the open
    // page says so, and by whom.
    let (other, other_waits) = ask(&d, "deploy-docs", "race the terminal", None).await;
    browser.open(&format!("{base}/r/{other}")).await;
    browser.shows("Approve once").await;
    let tmux = crate::tui::Tmux::new("web-race");
    tmux.start_queue(100, 30, d.socket(), "bob");
    tmux.wait_for("1 pending").await;
    tmux.keys(&["a"]);
    let outcome = other_waits.await.unwrap();
    assert_eq!(outcome.decision.by, "bob");
    let mut poller = Poller::new(LIMIT, "the page to say it was decided elsewhere");
    loop {
        let text = browser.text_of("#elsewhere").await;
        if text.contains("decided elsewhere: approved by bob") {
            break;
        }
        poller.tick().await;
    }
    // Its buttons are off, and opened again the page says who answered; the terminal's queue
    // is empty.
    assert_eq!(
        browser
            .run("return document.querySelector('form.decide button.deny').disabled")
            .await,
        json!(true)
    );
    browser.open(&format!("{base}/r/{other}")).await;
    browser.shows("approved by bob").await;
    tmux.wait_for("0 pending").await;

    // A countdown that reaches zero: the request shows as expired.
    let (short, short_waits) = ask(&d, "deploy-docs", "too slow", Some(3_000)).await;
    browser.open(&format!("{base}/r/{short}")).await;
    browser.shows("Approve once").await;
    let mut poller = Poller::new(LIMIT, "the countdown to reach zero");
    loop {
        if browser.text_of(".deadline .countdown").await == "expired" {
            break;
        }
        poller.tick().await;
    }
    assert_eq!(
        short_waits.await.unwrap().decision.state,
        agentd_proto::State::Expired
    );
    let mut poller = Poller::new(LIMIT, "the page to say it expired");
    while !browser.text_of("#elsewhere").await.contains("expired") {
        poller.tick().await;
    }

    // The page weight: the queue page, its script and its style.
    let cookie = browser.call("GET", "/cookie/ash_device", None).await;
    let cookie = format!("ash_device={}", cookie["value"].as_str().unwrap());
    let mut weight = 0;
    for path in ["/", "/app.js", "/app.css"] {
        let reply = http::call(web.addr, "GET", path, &[("Cookie", &cookie)], None).await;
        assert_eq!(reply.status, 200);
        weight += reply.body.len();
    }
    println!("page weight (queue, script, style): {weight} bytes");
    assert!(weight < 40_000, "{weight} bytes");

    // Revoked: the same browser sees nothing more.
    let list: serde_json::Value =
        serde_json::from_slice(&web.ash(&["devices", "--json"]).await.stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert!(web.ash(&["revoke", &id]).await.status.success());
    browser.open(&base).await;
    let page = browser.shows("was revoked").await;
    assert!(!page.contains(&short[..8]));
}

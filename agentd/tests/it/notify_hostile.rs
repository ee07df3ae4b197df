//! The documented notification commands, run for real with hostile text in every field an
//! agent controls: tmux must not run an agent's `#(...)`, curl must not upload a file an
//! agent's `@` names, and nothing may reach a shell. Each test fails without the cleaning of
//! the fields agentd hands to the command.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use agentd::notify::NotifySettings;
use agentd::Settings;
use agentd_proto::{ApprovalRequest, Client, Risk, Submitted};
use agentd_testkit::{Poller, TempDaemon};

const LIMIT: Duration = Duration::from_secs(20);

/// The `command = '...'` of the documented example that contains `needle`.
fn documented(needle: &str) -> String {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/USER-GUIDE.md"
    ))
    .unwrap();
    guide
        .lines()
        .filter_map(|l| l.strip_prefix("command = '")?.strip_suffix('\''))
        .find(|c| c.contains(needle))
        .unwrap_or_else(|| panic!("no documented notification command with {needle}"))
        .to_string()
}

fn settings(command: String) -> Settings {
    Settings {
        notify: Some(NotifySettings {
            command,
            min_risk: Risk::Low,
            timeout: Duration::from_secs(10),
            max_running: 4,
        }),
        ..Settings::default()
    }
}

async fn ask(d: &TempDaemon, agent: &str, tool: &str, summary: Option<String>) -> Client {
    let mut client = d.agent(agent).await.unwrap();
    let req = ApprovalRequest {
        tool: tool.into(),
        summary,
        ..ApprovalRequest::default()
    };
    assert!(matches!(
        client.submit(&req).await.unwrap(),
        Submitted::Queued(_)
    ));
    client
}

async fn wait_for(path: &Path) {
    let mut poller = Poller::new(LIMIT, format!("{} to appear", path.display()));
    while !path.exists() {
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tmux_example_never_runs_an_agents_text() {
    let dir = tempfile::tempdir().unwrap();
    let d_path = dir.path().display().to_string();
    let tmux_dir = dir.path().join("tmux");
    std::fs::create_dir(&tmux_dir).unwrap();
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(args)
            .env("TMUX_TMPDIR", &tmux_dir)
            .env_remove("TMUX")
            .status()
            .unwrap()
    };
    assert!(tmux(&["new-session", "-d", "-s", "notify", "-x", "120", "-y", "30"]).success());
    // The documented command, pointed at this test's tmux server; then the same message
    // printed with -p, which shows what tmux made of it (a `#(...)` it ran would vanish
    // from the text): that is the check that cannot race tmux's background jobs.
    let shown = dir.path().join("shown");
    let command = format!(
        "export TMUX_TMPDIR='{}'; unset TMUX; {}; tmux display-message -p \"agentd: $AGENTD_MESSAGE\" > '{p}.tmp' && mv '{p}.tmp' '{p}'",
        tmux_dir.display(),
        documented("tmux display-message"),
        p = shown.display()
    );
    let d = TempDaemon::start(settings(command)).unwrap();
    let _a = ask(
        &d,
        &format!("evil#(touch {d_path}/by-agent)"),
        &format!("x#(touch${{IFS}}{d_path}/by-tool)"),
        Some(format!(
            "#(touch {d_path}/by-summary) $(touch {d_path}/by-dollar) `touch {d_path}/by-tick` #{{E:#(touch {d_path}/by-format)}}\u{1b}[2J"
        )),
    )
    .await;
    wait_for(&shown).await;
    let text = std::fs::read_to_string(&shown).unwrap();
    for part in [
        "by-agent",
        "by-tool",
        "by-summary",
        "by-dollar",
        "by-tick",
        "by-format",
    ] {
        assert!(
            text.contains(part),
            "tmux interpreted the text around {part}: {text}"
        );
    }
    assert!(
        !text.contains('\u{1b}'),
        "a control character reached tmux: {text:?}"
    );
    let planted: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("by-"))
        .collect();
    assert!(planted.is_empty(), "an agent's text ran: {planted:?}");
    d.stop().await.unwrap();
    tmux(&["kill-server"]);
}

/// A one-request HTTP server on loopback: returns the address and a receiver for the body.
fn http_sink() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}/topic", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let mut stream = stream;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
    });
    (addr, rx)
}

/// Sets up the trap the attack needs: a file whose name is the message a tool called
/// `@DIR/t` produces, linked to a secret, so `curl -d @...` would upload the secret.
fn plant_secret(dir: &Path) -> String {
    std::fs::write(dir.join("secret"), "TOPSECRET").unwrap();
    std::os::unix::fs::symlink(dir.join("secret"), dir.join("t (medium risk) from evil")).unwrap();
    format!("@{}/t", dir.display())
}

async fn curl_posts(command_template: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let tool = plant_secret(dir.path());
    let (url, body) = http_sink();
    let command = command_template.replace("https://ntfy.sh/my-topic", &url);
    assert_ne!(command, command_template, "the example names its URL");
    let d = TempDaemon::start(settings(command)).unwrap();
    let _a = ask(&d, "evil", &tool, None).await;
    let body = tokio::task::spawn_blocking(move || body.recv_timeout(LIMIT))
        .await
        .unwrap()
        .expect("curl posted the notification");
    d.stop().await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_example_never_uploads_a_file_an_agent_names() {
    let body = curl_posts(&documented("curl")).await;
    assert!(!body.contains("TOPSECRET"), "{body}");
    assert!(body.contains("(medium risk) from evil"), "{body}");
    // The same with `-d`, which reads a file for a leading `@`, as the guide once showed.
    let old_form = documented("curl").replace("--data-raw", "-d");
    let body = curl_posts(&old_form).await;
    assert!(
        !body.contains("TOPSECRET"),
        "an agent's @ made curl upload a file: {body}"
    );
}

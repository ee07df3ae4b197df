//! `ash doctor` against real setups: a healthy one, no daemon, a stale socket, a file where the
//! socket should be, a socket open to everyone, a user who is not an operator, a broken config
//! file and a missing agentd binary. Each problem is named with how to fix it.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::Value;
use tokio::process::Command;

struct Run {
    code: Option<i32>,
    text: String,
    checks: Vec<Value>,
}

impl Run {
    fn status(&self, name: &str) -> &str {
        self.checks
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["status"].as_str())
            .unwrap_or_else(|| panic!("no {name} check in {:?}", self.checks))
    }
    fn check(&self, name: &str) -> &Value {
        self.checks.iter().find(|c| c["name"] == name).unwrap()
    }
}

/// Runs `ash doctor` twice, for people and with --json, with `path` as PATH and a home folder
/// of its own.
async fn doctor(socket: &Path, path: &Path, extra: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let run = |json: bool| {
        let mut cmd = Command::new(common::ash_bin());
        cmd.arg("doctor")
            .args(extra)
            .env("AGENTD_SOCKET", socket)
            .env("PATH", path)
            .env("HOME", home.path())
            .env_remove("AGENTD_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .current_dir(home.path());
        if json {
            cmd.arg("--json");
        }
        cmd.output()
    };
    let text = run(false).await.unwrap();
    let json = run(true).await.unwrap();
    assert_eq!(text.status.code(), json.status.code());
    Run {
        code: text.status.code(),
        text: String::from_utf8_lossy(&text.stdout).into_owned(),
        checks: serde_json::from_slice(&json.stdout).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agentd.toml");
    std::fs::write(&config, "[[tool]]\nname = \"deploy\"\nrisk = \"high\"\n").unwrap();
    // As agentd started with --config FILE: the file it loaded is the one doctor checks.
    let d = TempDaemon::start(Settings {
        config_path: Some(std::fs::canonicalize(&config).unwrap()),
        ..agentd::Settings::load(&config).unwrap()
    })
    .unwrap();
    let run = doctor(
        d.socket(),
        &common::agentd_dir(),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.text);
    for name in ["socket", "agentd", "operator", "binary", "config", "store"] {
        assert_eq!(run.status(name), "ok", "{name}: {}", run.text);
    }
    assert_eq!(run.status("hooks"), "info");
    assert!(run.check("agentd")["detail"]
        .as_str()
        .unwrap()
        .contains(concat!("agentd ", env!("CARGO_PKG_VERSION"))));
    assert!(run.check("config")["detail"]
        .as_str()
        .unwrap()
        .contains("valid: 1 tools"));
    assert!(run.text.contains("ok    socket"), "{}", run.text);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_daemon_a_stale_socket_and_a_plain_file_are_failures_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("agentd.sock");
    let run = doctor(&missing, &common::agentd_dir(), &[]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.status("socket"), "fail");
    assert!(run.text.contains("no socket at"), "{}", run.text);
    assert!(run.text.contains("fix: start agentd"), "{}", run.text);

    // A socket nobody listens on any more, as a crashed agentd leaves it.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let run = doctor(&stale, &common::agentd_dir(), &[]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.status("agentd"), "fail");
    assert!(run.text.contains("nothing answers"), "{}", run.text);

    let file = dir.path().join("plain");
    std::fs::write(&file, "").unwrap();
    let run = doctor(&file, &common::agentd_dir(), &[]).await;
    assert_eq!(run.status("socket"), "fail");
    assert!(run.text.contains("is not a socket"), "{}", run.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_socket_and_a_user_who_may_not_decide_are_warned_of() {
    let d = TempDaemon::start_exact(Settings {
        socket_mode: 0o666,
        operator_users: vec!["nobody".into()],
        ..Settings::default()
    })
    .unwrap();
    let run = doctor(d.socket(), &common::agentd_dir(), &[]).await;
    assert_eq!(run.code, Some(0), "warnings are not failures: {}", run.text);
    assert_eq!(run.status("socket"), "warn");
    assert!(
        run.text
            .contains("mode 0666: anyone on the machine can connect"),
        "{}",
        run.text
    );
    assert_eq!(run.status("operator"), "warn");
    assert!(run.check("operator")["fix"]
        .as_str()
        .unwrap()
        .contains("[operators]"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_config_the_running_agentd_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("elsewhere.toml");
    std::fs::write(
        &config,
        "[[tool]]\nname = \"deploy\"\nrisk = \"high\"\n\n[[rule]]\nname = \"prod\"\ntool = \"deploy\"\npointer = \"/env\"\nregex = \"prod\"\nrisk = \"critical\"\nreason = \"production\"\n",
    )
    .unwrap();
    let mut agentd = tokio::process::Command::new(common::agentd_binary());
    agentd
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--config")
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let _agentd = agentd.spawn().unwrap();
    let mut poller = agentd_testkit::Poller::new(std::time::Duration::from_secs(30), "agentd");
    while !socket.exists() {
        poller.tick().await;
    }
    // No --config, no AGENTD_CONFIG, and nothing at the default path: doctor still checks the
    // file the running agentd loaded.
    let run = doctor(&socket, &common::agentd_dir(), &[]).await;
    assert_eq!(run.status("config"), "ok", "{}", run.text);
    let shown = std::fs::canonicalize(&config).unwrap();
    let detail = run.check("config")["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "loaded by the running agentd: {} (1 tools and 1 rules of its own, presets claude-code, codex, gemini)",
            shown.display()
        )),
        "{detail}"
    );
    assert!(detail.contains("valid"), "{detail}");
    let store = run.check("store")["detail"].as_str().unwrap();
    assert!(
        store.contains("keeps calls answered at once 30 days, other decisions 365 days"),
        "{store}"
    );

    // Naming another file than the one in force is a warning with the fix.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "").unwrap();
    let run = doctor(
        &socket,
        &common::agentd_dir(),
        &["--config", other.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.status("config"), "warn", "{}", run.text);
    assert!(
        run.text.contains(&format!(
            "the running agentd loaded {}, not {}",
            shown.display(),
            other.display()
        )),
        "{}",
        run.text
    );
    assert!(
        run.text.contains("(fix: restart agentd with --config"),
        "{}",
        run.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_fails_and_a_missing_binary_is_warned_of() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let config = d.dir().join("agentd.toml");
    std::fs::write(&config, "[[tool]]\nname = \"x\"\nrisk = \"severe\"\n").unwrap();
    let arg = config.to_str().unwrap();
    let run = doctor(d.socket(), &common::agentd_dir(), &["--config", arg]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.status("config"), "fail");
    let detail = run.check("config")["detail"].as_str().unwrap();
    assert!(detail.starts_with(&format!("{arg}:3:")), "{detail}");

    let empty = tempfile::tempdir().unwrap();
    let run = doctor(d.socket(), empty.path(), &["--config", arg]).await;
    assert_eq!(run.status("binary"), "warn");
    assert_eq!(
        run.status("config"),
        "warn",
        "cannot be checked without agentd"
    );
    assert_eq!(run.code, Some(0), "{}", run.text);

    let run = doctor(
        d.socket(),
        &common::agentd_dir(),
        &["--config", "/nonexistent/agentd.toml"],
    )
    .await;
    assert_eq!(run.status("config"), "fail");
    d.stop().await.unwrap();
}

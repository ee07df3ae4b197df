//! What an agent sends is what the operator sees: masking never hides a command, and every
//! invisible, format, separator or tag character is shown escaped by `ash pending` and
//! `ash show` alike, through the real binary.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use agentd::Settings;
use agentd_proto::{ApprovalRequest, Client, Submitted};
use agentd_testkit::TempDaemon;

async fn ask(d: &TempDaemon, args: serde_json::Value) -> (Client, String) {
    let mut agent = d.agent("agent").await.unwrap();
    let Submitted::Queued(t) = agent
        .submit(&ApprovalRequest {
            tool: "Bash".into(),
            args_json: args.to_string(),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap()
    else {
        panic!("expected a queued request");
    };
    (agent, t.id.to_string())
}

async fn shown(d: &TempDaemon, id: &str) -> (String, String) {
    let pending = common::ash_ok(d.socket(), &["pending"]).await;
    let show = common::ash_ok(d.socket(), &["show", id]).await;
    (
        String::from_utf8(pending.stdout).unwrap(),
        String::from_utf8(show.stdout).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_never_hides_the_command() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    for (command, must_show) in [
        ("rm -rf ~/ # -----BEGIN PRIVATE KEY-----", "rm -rf ~/"),
        (
            "echo sk-$(rm${IFS}-rf${IFS}~/project)",
            "rm${IFS}-rf${IFS}~/project",
        ),
    ] {
        let (_agent, id) = ask(&d, serde_json::json!({ "command": command })).await;
        let (pending, show) = shown(&d, &id).await;
        // The table may cut a long cell; the part that matters comes first here.
        let head = &must_show[..must_show.len().min(8)];
        assert!(
            pending.contains(head),
            "ash pending hid {command:?}: {pending}"
        );
        assert!(show.contains(must_show), "ash show hid {command:?}: {show}");
        common::ash_ok(d.socket(), &["deny", &id]).await;
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_are_escaped_the_same_way_everywhere() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    for c in [
        '\u{200B}',
        '\u{AD}',
        '\u{34F}',
        '\u{115F}',
        '\u{180E}',
        '\u{2028}',
        '\u{2029}',
        '\u{206A}',
        '\u{206F}',
        '\u{3164}',
        '\u{FFA0}',
        '\u{FE0F}',
        '\u{E0041}',
    ] {
        let (_agent, id) = ask(
            &d,
            serde_json::json!({ "command": format!("git{c}status") }),
        )
        .await;
        let (pending, show) = shown(&d, &id).await;
        let escaped = format!("git\\u{{{:x}}}status", c as u32);
        for (view, text) in [("pending", &pending), ("show", &show)] {
            assert!(
                !text.contains(c),
                "ash {view} printed U+{:04X} raw",
                c as u32
            );
            assert!(
                text.contains(&escaped),
                "ash {view} did not show {escaped}: {text}"
            );
        }
        assert!(show.contains("invisible or control character"), "{show}");
        common::ash_ok(d.socket(), &["deny", &id]).await;
    }
    d.stop().await.unwrap();
}

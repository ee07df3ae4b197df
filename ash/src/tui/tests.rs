//! The queue's screens as snapshots on a plain `App` (no terminal, no agentd), and the
//! helpers `behaviour_tests.rs` shares.

use agentd_proto::{AgentIdentity, Decision, DecisionSource, RequestView, Risk, State};
use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;
use uuid::Uuid;

use super::app::{App, Mode, Update, View};
use super::draw::draw;

pub(super) fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T13:48:58Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The queue as alice sees it before anything arrives, with times shown in UTC so snapshots
/// read the same on every machine.
pub(super) fn empty_app() -> App {
    let mut app = App::new("alice".into(), now());
    app.zone = crate::display::Zone::Utc;
    app
}

pub(super) fn id(n: u8) -> Uuid {
    Uuid::parse_str(&format!("{n:02x}3a2c1e-1111-4222-8333-4444555566{n:02x}")).unwrap()
}

pub(super) fn req(
    n: u8,
    agent: &str,
    tool: &str,
    risk: Risk,
    args: &str,
    left: i64,
) -> RequestView {
    RequestView {
        id: id(n),
        tool: tool.into(),
        args_json: args.into(),
        agent: AgentIdentity {
            name: agent.into(),
            pid: Some(4000 + u32::from(n)),
            uid: Some(1000),
        },
        session: Some(format!("s-{n}")),
        summary: None,
        risk,
        risk_reasons: vec![format!(
            "tool {tool} is rated {risk} (from the config file)"
        )],
        created_at: now() - Duration::seconds(60),
        expires_at: now() + Duration::seconds(left),
        state: State::Pending,
        attached: true,
        decision: None,
        subject: agentd_proto::SubjectType::Tool,
        path: Vec::new(),
        reviewer: None,
        cwd: None,
        grant_options: Vec::new(),
    }
}

pub(super) fn pending() -> Vec<RequestView> {
    vec![
        req(
            0x7f,
            "claude",
            "sensitive-op",
            Risk::High,
            r#"{"command":"terraform apply -auto-approve","cwd":"/srv/infra","env":{"TF_VAR_region":"eu-west-1"},"retries":3,"dry_run":false}"#,
            252,
        ),
        req(
            0x2b,
            "codex",
            "rm",
            Risk::Medium,
            r#"{"path":"/tmp/build","recursive":true}"#,
            21,
        ),
        req(
            0xc4,
            "ci-bot",
            "deploy",
            Risk::Critical,
            r#"{"env":"prod","version":"2.4.1"}"#,
            95,
        ),
        req(
            0x05,
            "claude",
            "read-file",
            Risk::Low,
            r#"{"path":"/etc/hosts"}"#,
            290,
        ),
    ]
}

pub(super) fn finished(
    n: u8,
    tool: &str,
    state: State,
    by: &str,
    reason: Option<&str>,
) -> RequestView {
    let mut v = req(n, "claude", tool, Risk::Medium, "{}", 100);
    v.state = state;
    v.decision = Some(Decision {
        state,
        source: if by == "agentd" {
            DecisionSource::Timeout
        } else {
            DecisionSource::Operator
        },
        by: by.into(),
        reason: reason.map(String::from),
        at: now() - Duration::seconds(30),
        by_uid: Some(1000),
        by_pid: Some(77),
        grant: None,
        approved_args: None,
    });
    v
}

pub(super) fn app() -> App {
    let mut app = empty_app();
    app.on_update(Update::Snapshot {
        pending: pending(),
        history: vec![
            finished(0x11, "deploy", State::Approved, "bob", None),
            finished(0x12, "rm", State::Denied, "alice", Some("not on a Friday")),
            finished(0x13, "sensitive-op", State::Expired, "agentd", None),
        ],
    });
    app
}

pub(super) fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

pub(super) fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

pub(super) fn screen(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(app, frame)).unwrap();
    terminal
}

pub(super) fn text(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}

// ---- screens ----

#[test]
pub(super) fn queue_in_80_by_24() {
    insta::assert_snapshot!(screen(&app(), 80, 24).backend());
}

#[test]
pub(super) fn queue_with_details_beside_it_in_a_wide_pane() {
    insta::assert_snapshot!(screen(&app(), 120, 30).backend());
}

#[test]
pub(super) fn details_full_screen() {
    let mut app = app();
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Detail);
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn history_view() {
    let mut app = app();
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.view, View::History);
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn help_overlay() {
    let mut app = app();
    app.on_key(key('?'));
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn filter_typed() {
    let mut app = app();
    app.on_key(key('/'));
    for c in "claude".chars() {
        app.on_key(key(c));
    }
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn narrow_pane_drops_columns_instead_of_garbling() {
    let t = screen(&app(), 60, 15);
    let screen_text = text(&t);
    assert!(!screen_text.contains("ARGS"), "{screen_text}");
    assert!(screen_text.contains("EXPIRES"), "{screen_text}");
    insta::assert_snapshot!(t.backend());
}

#[test]
pub(super) fn empty_queue() {
    let mut app = empty_app();
    app.on_update(Update::Snapshot {
        pending: vec![],
        history: vec![],
    });
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn confirm_prompt_for_a_high_risk_approval() {
    let mut app = app();
    assert_eq!(
        app.selected().unwrap().risk,
        Risk::Medium,
        "the most urgent first"
    );
    app.on_key(key('j'));
    app.on_key(key('j'));
    assert_eq!(app.selected().unwrap().risk, Risk::High);
    assert_eq!(app.on_key(key('a')), None);
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn typing_a_reason() {
    let mut app = app();
    app.on_key(key('r'));
    for c in "not now".chars() {
        app.on_key(key(c));
    }
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
pub(super) fn disconnected_status() {
    let mut app = app();
    app.on_update(Update::Lost(
        "cannot reach agentd at /run/agentd.sock".into(),
    ));
    let t = text(&screen(&app, 80, 24));
    assert!(t.contains("disconnected: cannot reach agentd"), "{t}");
    // The queue stays on screen while reconnecting.
    assert!(t.contains("sensitive-op"), "{t}");
}

// ---- colours ----

pub(super) fn cell_style(t: &Terminal<TestBackend>, word: &str) -> ratatui::style::Style {
    let buffer = t.backend().buffer();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(at) = line.find(word) {
            let x = line[..at].chars().count() as u16;
            return buffer[(x, y)].style();
        }
    }
    panic!("{word} is not on screen");
}

#[test]
pub(super) fn risk_levels_have_their_colours() {
    let t = screen(&app(), 80, 24);
    assert_eq!(cell_style(&t, "LOW ").fg, Some(Color::Green));
    assert_eq!(cell_style(&t, "MEDIUM").fg, Some(Color::Yellow));
    assert_eq!(cell_style(&t, "HIGH").fg, Some(Color::LightRed));
    assert_eq!(cell_style(&t, "CRITICAL").bg, Some(Color::Red));
}

#[test]
pub(super) fn the_last_thirty_seconds_are_urgent() {
    let mut app = app();
    let t = screen(&app, 80, 24);
    assert_eq!(cell_style(&t, "21s").fg, Some(Color::Red));
    assert_ne!(cell_style(&t, "4m12s").fg, Some(Color::Red));
    app.on_tick(now() + Duration::seconds(230));
    let t = screen(&app, 80, 24);
    assert_eq!(cell_style(&t, "22s").fg, Some(Color::Red), "{}", text(&t));
}

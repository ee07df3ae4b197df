//! The queue's screens as snapshots, and its behaviour driven by injected keys and daemon
//! updates on a plain `App` (no terminal, no agentd).

use agentd_proto::{
    AgentIdentity, Decision, DecisionSource, Event, RequestView, Risk, Scope, State, Verdict,
};
use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;
use uuid::Uuid;

use super::app::{Action, App, Conn, Mode, Update, View};
use super::draw::draw;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T13:48:58Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The queue as alice sees it before anything arrives, with times shown in UTC so snapshots
/// read the same on every machine.
fn empty_app() -> App {
    let mut app = App::new("alice".into(), now());
    app.zone = crate::display::Zone::Utc;
    app
}

fn id(n: u8) -> Uuid {
    Uuid::parse_str(&format!("{n:02x}3a2c1e-1111-4222-8333-4444555566{n:02x}")).unwrap()
}

fn req(n: u8, agent: &str, tool: &str, risk: Risk, args: &str, left: i64) -> RequestView {
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

fn pending() -> Vec<RequestView> {
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

fn finished(n: u8, tool: &str, state: State, by: &str, reason: Option<&str>) -> RequestView {
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

fn app() -> App {
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

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn screen(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(app, frame)).unwrap();
    terminal
}

fn text(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}

// ---- screens ----

#[test]
fn queue_in_80_by_24() {
    insta::assert_snapshot!(screen(&app(), 80, 24).backend());
}

#[test]
fn queue_with_details_beside_it_in_a_wide_pane() {
    insta::assert_snapshot!(screen(&app(), 120, 30).backend());
}

#[test]
fn details_full_screen() {
    let mut app = app();
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Detail);
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
fn history_view() {
    let mut app = app();
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.view, View::History);
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
fn help_overlay() {
    let mut app = app();
    app.on_key(key('?'));
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
fn filter_typed() {
    let mut app = app();
    app.on_key(key('/'));
    for c in "claude".chars() {
        app.on_key(key(c));
    }
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
fn narrow_pane_drops_columns_instead_of_garbling() {
    let t = screen(&app(), 60, 15);
    let screen_text = text(&t);
    assert!(!screen_text.contains("ARGS"), "{screen_text}");
    assert!(screen_text.contains("EXPIRES"), "{screen_text}");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn empty_queue() {
    let mut app = empty_app();
    app.on_update(Update::Snapshot {
        pending: vec![],
        history: vec![],
    });
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
fn confirm_prompt_for_a_high_risk_approval() {
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
fn typing_a_reason() {
    let mut app = app();
    app.on_key(key('r'));
    for c in "not now".chars() {
        app.on_key(key(c));
    }
    insta::assert_snapshot!(screen(&app, 80, 24).backend());
}

#[test]
fn disconnected_status() {
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

fn cell_style(t: &Terminal<TestBackend>, word: &str) -> ratatui::style::Style {
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
fn risk_levels_have_their_colours() {
    let t = screen(&app(), 80, 24);
    assert_eq!(cell_style(&t, "LOW ").fg, Some(Color::Green));
    assert_eq!(cell_style(&t, "MEDIUM").fg, Some(Color::Yellow));
    assert_eq!(cell_style(&t, "HIGH").fg, Some(Color::LightRed));
    assert_eq!(cell_style(&t, "CRITICAL").bg, Some(Color::Red));
}

#[test]
fn the_last_thirty_seconds_are_urgent() {
    let mut app = app();
    let t = screen(&app, 80, 24);
    assert_eq!(cell_style(&t, "21s").fg, Some(Color::Red));
    assert_ne!(cell_style(&t, "4m12s").fg, Some(Color::Red));
    app.on_tick(now() + Duration::seconds(230));
    let t = screen(&app, 80, 24);
    assert_eq!(cell_style(&t, "22s").fg, Some(Color::Red), "{}", text(&t));
}

// ---- behaviour ----

#[test]
fn a_high_risk_approval_needs_a_second_press_and_a_stray_key_cancels_it() {
    let mut app = app();
    app.on_key(key('j'));
    app.on_key(key('j'));
    let high = app.selected().unwrap().id;
    assert_eq!(app.on_key(key('a')), None);
    assert_eq!(
        app.mode,
        Mode::Confirm {
            id: high,
            scope: Scope::Once
        }
    );
    assert_eq!(app.on_key(key('x')), None);
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(key('a'));
    assert_eq!(
        app.on_key(key('a')),
        Some(Action::Decide {
            id: high,
            verdict: Verdict::Approve,
            reason: None,
            scope: Scope::Once,
            grant: None,
        })
    );
}

#[test]
fn a_medium_risk_approval_takes_one_press() {
    let mut app = app();
    let medium = app.selected().unwrap().id;
    assert_eq!(
        app.on_key(key('a')),
        Some(Action::Decide {
            id: medium,
            verdict: Verdict::Approve,
            reason: None,
            scope: Scope::Once,
            grant: None,
        })
    );
}

#[test]
fn deny_with_a_typed_reason_and_approve_with_a_note() {
    let mut app = app();
    let first = app.selected().unwrap().id;
    app.on_key(key('r'));
    for c in "use staging ".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Backspace));
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Some(Action::Decide {
            id: first,
            verdict: Verdict::Deny,
            reason: Some("use staging".into()),
            scope: Scope::Once,
            grant: None,
        })
    );
    app.on_key(key('n'));
    app.on_key(key('o'));
    app.on_key(key('k'));
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Some(Action::Decide {
            id: first,
            verdict: Verdict::Approve,
            reason: Some("ok".into()),
            scope: Scope::Once,
            grant: None,
        })
    );
    app.on_key(key('r'));
    app.on_key(key('x'));
    assert_eq!(app.on_key(code(KeyCode::Esc)), None);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn nothing_is_decided_while_disconnected() {
    let mut app = app();
    app.on_update(Update::Lost("gone".into()));
    assert_eq!(app.on_key(key('d')), None);
    assert!(app.notices().any(|n| n.text.contains("not connected")));
}

#[test]
fn a_typed_reason_and_the_selection_survive_a_reconnect() {
    let mut app = app();
    app.on_key(key('j'));
    let selected = app.selected().unwrap().id;
    app.on_key(key('r'));
    for c in "half typed".chars() {
        app.on_key(key(c));
    }
    app.on_update(Update::Lost("agentd went away".into()));
    app.on_update(Update::Connecting);
    app.on_update(Update::Snapshot {
        pending: pending(),
        history: vec![],
    });
    assert_eq!(app.conn, Conn::Connected);
    assert_eq!(app.selected().unwrap().id, selected);
    assert_eq!(
        app.mode,
        Mode::Reason {
            id: selected,
            verdict: Verdict::Deny,
            text: "half typed".into()
        }
    );
}

#[test]
fn a_request_decided_elsewhere_leaves_at_once_with_a_notice() {
    let mut app = app();
    let first = app.selected().unwrap().id;
    let mut done = pending().into_iter().find(|v| v.id == first).unwrap();
    done.state = State::Denied;
    done.decision = Some(Decision {
        state: State::Denied,
        source: DecisionSource::Operator,
        by: "bob".into(),
        reason: Some("dup".into()),
        at: now(),
        by_uid: Some(1001),
        by_pid: Some(78),
        grant: None,
        approved_args: None,
    });
    app.on_update(Update::Event(Event::Finished(done.clone())));
    assert_eq!(app.pending_count(), 3);
    assert_ne!(app.selected().unwrap().id, first, "the selection moved on");
    assert!(app
        .notices()
        .any(|n| n.text == "2b3a2c1e denied by operator bob: dup"));
    assert_eq!(app.history().next().unwrap().id, first);
    // A late Queued event for it does not bring the card back.
    let mut late = done;
    late.state = State::Pending;
    late.decision = None;
    app.on_update(Update::Event(Event::Queued(late)));
    assert_eq!(app.pending_count(), 3);
    // Notices go after a few seconds.
    app.on_tick(now() + Duration::seconds(10));
    assert_eq!(app.notices().count(), 0);
}

#[test]
fn a_new_request_rings_the_bell_and_a_snapshot_does_not() {
    let mut app = app();
    assert!(!app.take_bell());
    app.on_update(Update::Event(Event::Queued(req(
        0x99,
        "new",
        "exec",
        Risk::Medium,
        "{}",
        200,
    ))));
    assert!(app.take_bell());
    assert!(!app.take_bell(), "once per arrival");
    assert_eq!(app.pending_count(), 5);
}

#[test]
fn ordering_by_risk_puts_critical_first() {
    let mut app = app();
    app.on_key(key('o'));
    let order: Vec<Risk> = (0..app.shown_len())
        .map(|n| app.shown_at(n).unwrap().risk)
        .collect();
    assert_eq!(
        order,
        vec![Risk::Critical, Risk::High, Risk::Medium, Risk::Low]
    );
}

#[test]
fn the_filter_matches_agent_tool_and_arguments() {
    let mut app = app();
    app.on_key(key('/'));
    for c in "tmp/build".chars() {
        app.on_key(key(c));
    }
    assert_eq!(app.shown_len(), 1);
    assert_eq!(app.selected().unwrap().tool, "rm");
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.shown_len(), 4);
}

#[test]
fn hostile_text_is_shown_escaped_never_obeyed() {
    let mut app = empty_app();
    let mut evil = req(
        0x66,
        "evil\u{1b}[2J\u{1b}]0;pwned\u{7}",
        "t\u{1b}[31m",
        Risk::High,
        "{\"k\":\"\\u001b[H\"}",
        100,
    );
    evil.risk_reasons = vec!["fake\rline".into()];
    app.on_update(Update::Snapshot {
        pending: vec![evil],
        history: vec![],
    });
    let t = text(&screen(&app, 120, 30));
    assert!(
        !t.contains('\u{1b}') && !t.contains('\u{7}') && !t.contains('\r'),
        "{t:?}"
    );
    assert!(t.contains("evil\\u{1b}[2J"), "{t}");
}

/// Characters a terminal would drop or obey, by Unicode category: each must show as an escape
/// in the list and in the detail pane, and never shift the borders.
const INVISIBLE: [char; 12] = [
    '\u{200B}',
    '\u{AD}',
    '\u{34F}',
    '\u{115F}',
    '\u{180E}',
    '\u{2028}',
    '\u{2029}',
    '\u{206A}',
    '\u{3164}',
    '\u{FFA0}',
    '\u{FE0F}',
    '\u{E0041}',
];

#[test]
fn invisible_characters_are_shown_escaped_in_the_list_and_the_details() {
    // One per line of the pretty-printed arguments, so each fits the pane.
    let commands: Vec<String> = INVISIBLE.iter().map(|c| format!("git{c}status")).collect();
    let mut app = empty_app();
    let v = req(
        0x66,
        "agent\u{200B}x",
        "Bash",
        Risk::High,
        &serde_json::json!({ "commands": commands }).to_string(),
        100,
    );
    app.on_update(Update::Snapshot {
        pending: vec![v],
        history: vec![],
    });
    app.on_key(code(KeyCode::Enter));
    let t = text(&screen(&app, 160, 50));
    for c in INVISIBLE {
        assert!(!t.contains(c), "U+{:04X} reached the screen raw", c as u32);
        assert!(
            t.contains(&format!("git\\u{{{:x}}}status", c as u32)),
            "U+{:04X} is not shown escaped: {t}",
            c as u32
        );
    }
    assert!(t.contains("agent\\u{200b}x"), "{t}");
    assert!(
        t.contains("invisible character"),
        "the pane says what the escapes are: {t}"
    );
    // Every line is as wide as the screen: nothing shifted a border.
    for line in t.lines() {
        assert!(unicode_width(line) <= 162, "{line}");
    }
}

fn unicode_width(line: &str) -> usize {
    line.chars().count()
}

#[test]
fn masking_leaves_the_command_visible() {
    let mut app = empty_app();
    let v = req(
        0x66,
        "evil",
        "Bash",
        Risk::High,
        r#"{"command":"echo sk-$(rm${IFS}-rf${IFS}~/project) # -----BEGIN PRIVATE KEY-----"}"#,
        100,
    );
    app.on_update(Update::Snapshot {
        pending: vec![v],
        history: vec![],
    });
    app.on_key(code(KeyCode::Enter));
    let t = text(&screen(&app, 160, 40));
    assert!(t.contains("rm${IFS}-rf${IFS}~/project"), "{t}");
}

#[test]
fn ten_thousand_requests_draw_only_what_fits() {
    let mut app = empty_app();
    let many: Vec<RequestView> = (0..10_000u32)
        .map(|i| {
            let mut v = req(1, "agent", "exec", Risk::Medium, "{}", 60 + i64::from(i));
            v.id = Uuid::from_u128(u128::from(i) + 1);
            v
        })
        .collect();
    app.on_update(Update::Snapshot {
        pending: many,
        history: vec![],
    });
    app.on_key(key('G'));
    let t = text(&screen(&app, 80, 24));
    assert!(
        t.contains("00000000") && t.contains("2h47m"),
        "the last rows: {t}"
    );
    assert!(t.contains(" 10000 pending"), "{t}");
}

#[test]
fn s_approves_for_the_session_and_t_for_a_typed_time() {
    let mut app = app();
    let first = app.selected().unwrap().id;
    assert_eq!(
        app.on_key(key('s')),
        Some(Action::Decide {
            id: first,
            verdict: Verdict::Approve,
            reason: None,
            scope: Scope::Session,
            grant: None,
        })
    );
    assert_eq!(app.on_key(key('t')), None);
    assert!(matches!(app.mode, Mode::Ttl { .. }));
    for _ in 0..3 {
        app.on_key(code(KeyCode::Backspace));
    }
    for c in "2h".chars() {
        app.on_key(key(c));
    }
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Some(Action::Decide {
            id: first,
            verdict: Verdict::Approve,
            reason: None,
            scope: Scope::Timeboxed { ttl_secs: 7200 },
            grant: None,
        })
    );
    // A mistyped time says so and keeps the prompt.
    app.on_key(key('t'));
    app.on_key(key('x'));
    assert_eq!(app.on_key(code(KeyCode::Enter)), None);
    assert!(matches!(app.mode, Mode::Ttl { .. }));
    assert!(app
        .notices()
        .any(|n| n.text.contains("not a length of time")));
}

#[test]
fn a_high_risk_session_approval_asks_for_a_second_s() {
    let mut app = app();
    app.on_key(key('j'));
    app.on_key(key('j'));
    let high = app.selected().unwrap().id;
    assert_eq!(app.on_key(key('s')), None);
    assert_eq!(
        app.mode,
        Mode::Confirm {
            id: high,
            scope: Scope::Session
        }
    );
    assert!(matches!(
        app.on_key(key('s')),
        Some(Action::Decide {
            scope: Scope::Session,
            grant: None,
            ..
        })
    ));
}

#[test]
fn w_picks_a_grant_option_and_approves_with_it_for_the_session() {
    let mut app = empty_app();
    let mut view = req(
        0x7f,
        "codex",
        "shell",
        Risk::Medium,
        r#"{"command":"make test"}"#,
        120,
    );
    view.grant_options = vec![
        agentd_proto::GrantOption::exact(),
        agentd_proto::GrantOption::new(
            agentd_proto::GrantCover::Commands {
                prefixes: vec![vec!["make".into(), "test".into()]],
            },
            "`make test` with any arguments".into(),
        ),
    ];
    let plain = req(0x80, "claude", "deploy", Risk::Low, "{}", 600);
    app.on_update(Update::Snapshot {
        pending: vec![view, plain],
        history: vec![],
    });
    let chosen = app.selected().unwrap().id;
    assert_eq!(chosen, id(0x7f));
    let id = chosen;
    assert_eq!(app.on_key(key('w')), None);
    assert_eq!(
        app.mode,
        Mode::Grant { id, choice: 1 },
        "the first wider option"
    );
    let shown = text(&screen(&app, 120, 24));
    assert!(
        shown.contains("grant [2/2] `make test` with any arguments"),
        "{shown}"
    );
    app.on_key(code(KeyCode::Left));
    assert_eq!(app.mode, Mode::Grant { id, choice: 0 });
    app.on_key(key('2'));
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Some(Action::Decide {
            id,
            verdict: Verdict::Approve,
            reason: None,
            scope: Scope::Session,
            grant: Some("commands".into()),
        })
    );
    assert_eq!(app.mode, Mode::Normal);
    // Esc leaves without deciding; a request with no options says so.
    app.on_key(key('w'));
    assert_eq!(app.on_key(code(KeyCode::Esc)), None);
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(key('j'));
    assert_eq!(app.on_key(key('w')), None);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.notices().any(|n| n.text.contains("offers no grant")));
}

#[test]
fn several_requests_are_marked_and_decided_each_on_its_own() {
    let mut app = app();
    let first = app.selected().unwrap().id;
    app.on_key(key(' '));
    let second = app.selected().unwrap().id;
    app.on_key(key(' '));
    assert!(app.is_marked(first) && app.is_marked(second));
    assert_eq!(app.marked_count(), 2);
    let shown = text(&screen(&app, 120, 24));
    assert!(shown.contains("2 marked"), "{shown}");
    assert_eq!(app.on_key(key('A')), None);
    let Mode::Batch { ref ids, verdict } = app.mode else {
        panic!("expected the batch prompt, got {:?}", app.mode);
    };
    assert_eq!(verdict, Verdict::Approve);
    assert_eq!(ids.len(), 2);
    let shown = text(&screen(&app, 120, 24));
    assert!(
        shown.contains("approve 2 requests, each on its own (no grant)?"),
        "{shown}"
    );
    // Any other key cancels, and the marks stay.
    assert_eq!(app.on_key(key('x')), None);
    assert_eq!(app.marked_count(), 2);
    app.on_key(key('A'));
    match app.on_key(key('A')) {
        Some(Action::DecideMany { ids, verdict }) => {
            assert_eq!(verdict, Verdict::Approve);
            assert!(ids.contains(&first) && ids.contains(&second) && ids.len() == 2);
        }
        other => panic!("expected a batch decision, got {other:?}"),
    }
    assert_eq!(app.marked_count(), 0, "marks are spent");
}

#[test]
fn with_nothing_marked_a_batch_takes_what_the_filter_shows_and_never_everything() {
    let mut app = app();
    assert_eq!(app.on_key(key('D')), None);
    assert_eq!(
        app.mode,
        Mode::Normal,
        "no marks, no filter: nothing to take"
    );
    assert!(app
        .notices()
        .any(|n| n.text.contains("mark requests with space")));
    app.on_key(key('/'));
    for c in "codex".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    let codex: Vec<Uuid> = (0..app.shown_len())
        .filter_map(|n| app.shown_at(n))
        .map(|v| v.id)
        .collect();
    assert!(!codex.is_empty() && codex.len() < app.pending_count());
    app.on_key(key('D'));
    match app.on_key(key('y')) {
        Some(Action::DecideMany { ids, verdict }) => {
            assert_eq!(verdict, Verdict::Deny);
            assert_eq!(ids, codex);
        }
        other => panic!("expected a batch decision, got {other:?}"),
    }
}

#[test]
fn e_asks_to_edit_the_selected_requests_arguments() {
    let mut app = app();
    let id = app.selected().unwrap().id;
    assert_eq!(app.on_key(key('e')), Some(Action::Edit { id }));
    app.on_update(Update::Lost("gone".into()));
    assert_eq!(
        app.on_key(key('e')),
        None,
        "not connected: nothing to decide"
    );
}

// ---- several hosts ----

fn two_hosts() -> App {
    empty_app().with_hosts(vec!["ssh://dev@build-01".into(), "ssh://vm-2".into()])
}

#[test]
fn several_hosts_merge_into_one_queue_with_a_host_column() {
    let mut app = two_hosts();
    app.on_host_update(
        0,
        Update::Snapshot {
            pending: vec![req(0x01, "claude", "deploy", Risk::High, "{}", 100)],
            history: vec![],
        },
    );
    app.on_host_update(
        1,
        Update::Snapshot {
            pending: vec![req(0x02, "codex", "rm", Risk::Medium, "{}", 50)],
            history: vec![],
        },
    );
    assert_eq!(app.pending_count(), 2);
    assert_eq!(app.host(id(0x01)), Some(0));
    assert_eq!(app.host(id(0x02)), Some(1));
    assert_eq!(app.conn, Conn::Connected);
    let shown = text(&screen(&app, 120, 20));
    assert!(shown.contains("HOST"), "{shown}");
    assert!(shown.contains("ssh://dev@build-01"), "{shown}");
    assert!(shown.contains("ssh://vm-2"), "{shown}");

    // A new snapshot from one host replaces only that host's requests.
    app.on_host_update(
        1,
        Update::Snapshot {
            pending: vec![],
            history: vec![],
        },
    );
    assert_eq!(app.pending_count(), 1);
    assert!(app.request(id(0x01)).is_some());
    assert!(app.request(id(0x02)).is_none());

    // An event names its host, so a decision on it goes there.
    app.on_host_update(
        1,
        Update::Event(Event::Queued(req(0x03, "codex", "ls", Risk::Low, "{}", 30))),
    );
    assert_eq!(app.host(id(0x03)), Some(1));
}

#[test]
fn a_host_dropping_out_is_shown_while_the_others_keep_working() {
    let mut app = two_hosts();
    for host in 0..2 {
        app.on_host_update(
            host,
            Update::Snapshot {
                pending: vec![req(
                    0x10 + host as u8,
                    "claude",
                    "deploy",
                    Risk::Low,
                    "{}",
                    100,
                )],
                history: vec![],
            },
        );
    }
    app.on_host_update(1, Update::Lost("agentd closed the connection".into()));
    // Its requests stay listed (they may still be decided when it is back); the status says
    // which host is gone.
    assert_eq!(app.pending_count(), 2);
    match &app.conn {
        Conn::Lost(why) => {
            assert!(why.contains("ssh://vm-2"), "{why}");
            assert!(why.contains("1 of 2 hosts connected"), "{why}");
        }
        other => panic!("expected the lost host to show, got {other:?}"),
    }
    let shown = text(&screen(&app, 120, 20));
    assert!(shown.contains("1 of 2 hosts connected"), "{shown}");
    app.on_host_update(1, Update::Connecting);
    app.on_host_update(
        1,
        Update::Snapshot {
            pending: vec![],
            history: vec![],
        },
    );
    assert_eq!(app.conn, Conn::Connected);
    assert_eq!(app.pending_count(), 1);
}

//! The queue's behaviour, driven by injected keys and daemon updates on a plain `App`, and
//! the queue over several hosts; the screens' snapshots are in `tests.rs`, whose helpers
//! these use.

use agentd_proto::{Decision, DecisionSource, Event, RequestView, Risk, Scope, State, Verdict};
use chrono::Duration;
use crossterm::event::KeyCode;
use uuid::Uuid;

use super::app::{Action, Conn, Mode, Update};
use super::tests::*;

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

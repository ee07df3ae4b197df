//! Hostile and malformed input over the socket: each gets a clear error on its own connection,
//! and the daemon keeps serving everyone else without losing the request already queued.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common;

use agentd::Settings;
use agentd_proto::{
    codec, ApprovalRequest, Client, ClientMsg, DecideRequest, ErrorCode, Hello, Role, ServerMsg,
    State, Submitted, Verdict, PROTOCOL_VERSION,
};
use agentd_testkit::TempDaemon;
use common::{expect_error_then_close, frame, read_msg};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

/// A daemon with one request pending, whose agent is still waiting; the bad input must not
/// disturb it.
struct Scene {
    daemon: TempDaemon,
    agent: Client,
    id: uuid::Uuid,
}

async fn scene() -> Scene {
    let daemon = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = daemon.agent("bystander").await.unwrap();
    let req = ApprovalRequest {
        tool: "sensitive-op".into(),
        args_json: "{}".into(),
        ..ApprovalRequest::default()
    };
    let Submitted::Queued(ticket) = agent.submit(&req).await.unwrap() else {
        panic!("expected a queued request");
    };
    Scene {
        daemon,
        agent,
        id: ticket.id,
    }
}

impl Scene {
    /// The daemon still answers, the queued request is still pending, and approving it
    /// reaches its waiting agent.
    async fn still_serving(mut self) {
        let mut op = self.daemon.operator("alice").await.unwrap();
        op.ping().await.unwrap();
        let view = op.get(&self.id.to_string()).await.unwrap();
        assert_eq!(view.state, State::Pending);
        op.decide(&DecideRequest {
            id: self.id.to_string(),
            verdict: Verdict::Approve,
            operator: "alice".into(),
            reason: None,
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap();
        assert!(self.agent.wait().await.unwrap().approved());
        self.daemon.stop().await.unwrap();
    }

    async fn raw(&self) -> UnixStream {
        UnixStream::connect(self.daemon.socket()).await.unwrap()
    }

    /// A raw connection past a good hello.
    async fn greeted(&self) -> UnixStream {
        let mut raw = self.raw().await;
        raw.write_all(&hello(PROTOCOL_VERSION)).await.unwrap();
        assert!(matches!(
            read_msg(&mut raw).await,
            ServerMsg::Welcome { .. }
        ));
        raw
    }
}

fn hello(version: u32) -> Vec<u8> {
    frame(
        &codec::encode(&Hello {
            version,
            role: Role::Operator,
            name: "mallory".into(),
            parent: None,
        })
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_get_an_error_frame() {
    let s = scene().await;
    let mut raw = s.raw().await;
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let err = expect_error_then_close(&mut raw).await;
    // "GET " read as a length is about 1.2 GB: refused before reading further.
    assert_eq!(err.code, ErrorCode::FrameTooLarge);
    assert!(
        err.message.contains("exceeds the 1048576 byte limit"),
        "{}",
        err.message
    );
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_claiming_four_gib_is_refused_before_allocating() {
    let s = scene().await;
    let mut raw = s.raw().await;
    raw.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::FrameTooLarge);
    assert!(err.message.contains("4294967295"), "{}", err.message);
    // The same after a good hello.
    let mut raw = s.raw().await;
    raw.write_all(&hello(PROTOCOL_VERSION)).await.unwrap();
    assert!(matches!(
        read_msg(&mut raw).await,
        ServerMsg::Welcome { .. }
    ));
    raw.write_all(&[0xff, 0xff, 0xff, 0xfe]).await.unwrap();
    assert_eq!(
        expect_error_then_close(&mut raw).await.code,
        ErrorCode::FrameTooLarge
    );
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_costs_nothing_else() {
    let s = scene().await;
    let mut raw = s.raw().await;
    raw.write_all(&hello(PROTOCOL_VERSION)).await.unwrap();
    assert!(matches!(
        read_msg(&mut raw).await,
        ServerMsg::Welcome { .. }
    ));
    // Claims 100 bytes, sends 10, then stops writing.
    raw.write_all(&[0, 0, 0, 100]).await.unwrap();
    raw.write_all(&[1; 10]).await.unwrap();
    raw.shutdown().await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::BadFrame);
    assert!(err.message.contains("14 of 104 bytes"), "{}", err.message);
    // A truncated hello, too.
    let mut raw = s.raw().await;
    raw.write_all(&[0, 0, 0, 50, 1, 2]).await.unwrap();
    raw.shutdown().await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::BadFrame);
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_names_both_versions() {
    let s = scene().await;
    let mut raw = s.raw().await;
    raw.write_all(&hello(PROTOCOL_VERSION + 1)).await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::VersionMismatch);
    assert_eq!(
        err.message,
        format!(
            "protocol version mismatch: the client speaks version {}, this agentd speaks version {PROTOCOL_VERSION}",
            PROTOCOL_VERSION + 1
        )
    );
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_frame_that_is_no_hello_is_refused() {
    let s = scene().await;
    let mut raw = s.raw().await;
    raw.write_all(&frame(&[0xfe, 0xfe, 0xfe])).await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::BadHello);
    // A hello whose name hides an escape sequence.
    let mut raw = s.raw().await;
    let sneaky = codec::encode(&Hello {
        version: PROTOCOL_VERSION,
        role: Role::Agent,
        name: "ok\u{1b}[2J".into(),
        parent: None,
    })
    .unwrap();
    raw.write_all(&frame(&sneaky)).await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::BadHello);
    assert!(
        err.message.contains("control characters"),
        "{}",
        err.message
    );
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_after_the_hello_is_refused() {
    let s = scene().await;
    let mut raw = s.raw().await;
    raw.write_all(&hello(PROTOCOL_VERSION)).await.unwrap();
    assert!(matches!(
        read_msg(&mut raw).await,
        ServerMsg::Welcome { .. }
    ));
    raw.write_all(&frame(&[200, 1, 2, 3])).await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::BadFrame);
    assert!(
        err.message.starts_with("cannot decode message"),
        "{}",
        err.message
    );
    // Trailing bytes after a valid message are refused too.
    let mut raw = s.greeted().await;
    let mut ping = codec::encode(&ClientMsg::Ping).unwrap();
    ping.extend_from_slice(b"junk");
    raw.write_all(&frame(&ping)).await.unwrap();
    assert_eq!(
        expect_error_then_close(&mut raw).await.code,
        ErrorCode::BadFrame
    );
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_arguments_are_refused_and_the_connection_stays_usable() {
    let s = scene().await;
    let mut agent = s.daemon.agent("sloppy").await.unwrap();
    let err = agent
        .submit(&ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: "{\"target\": prod}".into(),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidArgs));
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    let err = agent
        .submit(&ApprovalRequest {
            tool: "bad tool name".into(),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));
    agent.ping().await.unwrap();
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_folder_that_is_not_an_absolute_clean_path_is_refused() {
    let s = scene().await;
    let mut agent = s.daemon.agent("sloppy").await.unwrap();
    for cwd in ["relative/dir", "/home/dev/app\n/etc", "/ok\u{1b}[2J"] {
        let err = agent
            .submit(&ApprovalRequest {
                tool: "sensitive-op".into(),
                cwd: Some(cwd.into()),
                ..ApprovalRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidRequest), "{cwd:?}");
        assert!(
            err.to_string()
                .contains("cwd must be an absolute path with no control characters"),
            "{err}"
        );
    }
    let err = agent
        .submit(&ApprovalRequest {
            tool: "sensitive-op".into(),
            cwd: Some(format!("/{}", "d".repeat(5000))),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cwd is 5001 bytes long; the limit is 4096"),
        "{err}"
    );
    agent.ping().await.unwrap();
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_malformed_and_ambiguous_ids_are_explained() {
    let s = scene().await;
    let mut op = s.daemon.operator("alice").await.unwrap();
    let approve = |id: &str| DecideRequest {
        id: id.into(),
        verdict: Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    };
    // An ID that matches nothing.
    let other_first = if s.id.to_string().starts_with('0') {
        "1"
    } else {
        "0"
    };
    let unknown = format!("{other_first}0000000");
    let err = op.decide(&approve(&unknown)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert_eq!(
        err.to_string(),
        format!("no pending request matches '{unknown}'")
    );
    let err = op.get(&unknown).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    // Not an ID at all.
    let err = op.decide(&approve("zz-top")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));
    // 17 requests: two must share a first hex digit, so that digit is ambiguous.
    let mut agents = Vec::new();
    for _ in 0..16 {
        let mut a = s.daemon.agent("many").await.unwrap();
        let req = ApprovalRequest {
            tool: "sensitive-op".into(),
            ..ApprovalRequest::default()
        };
        assert!(matches!(
            a.submit(&req).await.unwrap(),
            Submitted::Queued(_)
        ));
        agents.push(a);
    }
    let all = op.list(Some(State::Pending)).await.unwrap();
    assert_eq!(all.len(), 17);
    let digit = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|d| {
            all.iter()
                .filter(|v| v.id.to_string().starts_with(d.as_str()))
                .count()
                > 1
        })
        .unwrap();
    let err = op.decide(&approve(&digit)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Ambiguous));
    let text = err.to_string();
    assert!(text.starts_with(&format!("'{digit}' matches ")), "{text}");
    for v in all
        .iter()
        .filter(|v| v.id.to_string().starts_with(digit.as_str()))
    {
        assert!(text.contains(&v.id.to_string()), "{text} lacks {}", v.id);
    }
    // Nothing was decided by the failed attempts.
    assert_eq!(op.list(Some(State::Pending)).await.unwrap().len(), 17);
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deciding_twice_names_the_final_state_and_who_decided() {
    let s = scene().await;
    let mut op = s.daemon.operator("alice").await.unwrap();
    let mut agent = s.daemon.agent("second").await.unwrap();
    let Submitted::Queued(t) = agent
        .submit(&ApprovalRequest {
            tool: "sensitive-op".into(),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap()
    else {
        panic!("expected a queued request");
    };
    let id = t.id.to_string();
    op.decide(&DecideRequest {
        id: id.clone(),
        verdict: Verdict::Deny,
        operator: "bob".into(),
        reason: None,
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    })
    .await
    .unwrap();
    let err = op
        .decide(&DecideRequest {
            id: id.clone(),
            verdict: Verdict::Approve,
            operator: "carol".into(),
            reason: None,
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AlreadyFinished));
    assert_eq!(
        err.to_string(),
        format!("request {} was already denied by operator bob", &id[..8])
    );
    // The agent got the first decision, not the second.
    assert_eq!(agent.wait().await.unwrap().decision.by, "bob");
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connection_may_not_decide_or_list() {
    let s = scene().await;
    let mut agent = Client::connect(s.daemon.socket(), Role::Agent, "sneaky")
        .await
        .unwrap();
    let err = agent
        .decide(&DecideRequest {
            id: s.id.to_string(),
            verdict: Verdict::Approve,
            operator: "sneaky".into(),
            reason: None,
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    assert_eq!(
        agent.list(None).await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_connection_refuses_a_second_request() {
    let s = scene().await;
    let mut raw = s.greeted().await;
    let submit = ClientMsg::Submit(ApprovalRequest {
        tool: "sensitive-op".into(),
        ..ApprovalRequest::default()
    });
    raw.write_all(&frame(&codec::encode(&submit).unwrap()))
        .await
        .unwrap();
    assert!(matches!(read_msg(&mut raw).await, ServerMsg::Queued(_)));
    raw.write_all(&frame(&codec::encode(&submit).unwrap()))
        .await
        .unwrap();
    match read_msg(&mut raw).await {
        ServerMsg::Error(e) => assert_eq!(e.code, ErrorCode::Busy),
        other => panic!("expected busy, got {other:?}"),
    }
    s.still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_says_hello_is_dropped() {
    let daemon = TempDaemon::start(Settings {
        hello_timeout: Duration::from_millis(100),
        ..Settings::default()
    })
    .unwrap();
    let mut raw = UnixStream::connect(daemon.socket()).await.unwrap();
    let err = expect_error_then_close(&mut raw).await;
    assert_eq!(err.code, ErrorCode::BadHello);
    assert_eq!(err.message, "no hello within 0.1s");
    daemon
        .operator("alice")
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_arguments_and_bad_operator_names_are_refused() {
    let s = scene().await;
    let mut agent = s.daemon.agent("bulky").await.unwrap();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(300 * 1024));
    let err = agent
        .submit(&ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: big,
            ..ApprovalRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidArgs));
    assert!(err.to_string().contains("the limit is 262144"), "{err}");
    let mut op = s.daemon.operator("alice").await.unwrap();
    let err = op
        .decide(&DecideRequest {
            id: s.id.to_string(),
            verdict: Verdict::Approve,
            operator: "eve\u{1b}[2K".into(),
            reason: None,
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));
    s.still_serving().await;
}

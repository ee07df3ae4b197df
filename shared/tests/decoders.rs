//! Property tests of the decoders a hostile peer talks to: any bytes, cut anywhere, never
//! panic, never yield a frame over the limit, and never make the decoder reserve more than a
//! frame; every message survives encoding and decoding.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use agentd_proto::frame::{FrameCodec, FrameError};
use agentd_proto::{codec, ClientMsg, DecideRequest, Hello, Risk, Role, ServerMsg, State, Verdict};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const SMALL_LIMIT: usize = 64;

proptest! {

    #[test]
    fn any_bytes_in_any_chunks_never_panic_or_overreach(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(1usize..64, 1..32),
    ) {
        let mut codec = FrameCodec::new(SMALL_LIMIT);
        let mut buf = BytesMut::new();
        let mut rest = &bytes[..];
        let mut cuts = cuts.iter().cycle();
        'feed: while !rest.is_empty() {
            let n = (*cuts.next().unwrap()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => prop_assert!(frame.len() <= SMALL_LIMIT),
                    Ok(None) => break,
                    Err(FrameError::TooLarge { len, .. }) => {
                        prop_assert!(len > SMALL_LIMIT);
                        break 'feed;
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
                // Never more room than the input plus one bounded frame.
                prop_assert!(buf.capacity() <= bytes.len() + SMALL_LIMIT + 4 + 64);
            }
        }
        // At the end, whatever is left is either nothing or reported as truncated.
        match codec.decode_eof(&mut buf) {
            Ok(_) | Err(FrameError::Truncated { .. }) | Err(FrameError::TooLarge { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn frames_survive_any_chunking(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..SMALL_LIMIT), 0..16),
        chunk in 1usize..17,
    ) {
        let mut codec = FrameCodec::new(SMALL_LIMIT);
        let mut wire = BytesMut::new();
        for p in &payloads {
            codec.encode(Bytes::copy_from_slice(p), &mut wire).unwrap();
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn any_payload_decodes_to_a_message_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode::<ClientMsg>(&bytes);
        let _ = codec::decode::<ServerMsg>(&bytes);
        let _ = codec::decode::<Hello>(&bytes);
        let _ = codec::decode_version(&bytes);
    }

    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        let bytes = codec::encode(&msg).unwrap();
        prop_assert_eq!(codec::decode::<ClientMsg>(&bytes).unwrap(), msg);
    }
}

fn risk() -> impl Strategy<Value = Risk> {
    prop_oneof![
        Just(Risk::Low),
        Just(Risk::Medium),
        Just(Risk::High),
        Just(Risk::Critical)
    ]
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let text = ".{0,40}";
    prop_oneof![
        (
            text,
            text,
            proptest::option::of(text),
            proptest::option::of(any::<u64>()),
            proptest::option::of(risk())
        )
            .prop_map(|(tool, args_json, session, timeout_ms, risk_hint)| {
                ClientMsg::Submit(agentd_proto::ApprovalRequest {
                    tool,
                    args_json,
                    session: session.clone(),
                    summary: None,
                    timeout_ms,
                    risk_hint,
                    subject: agentd_proto::SubjectType::Tool,
                    cwd: session.clone(),
                })
            }),
        any::<u128>().prop_map(|n| ClientMsg::Attach {
            id: uuid::Uuid::from_u128(n)
        }),
        any::<u128>().prop_map(|n| ClientMsg::Cancel {
            id: uuid::Uuid::from_u128(n)
        }),
        (text, any::<bool>(), text, proptest::option::of(text)).prop_map(
            |(id, approve, operator, reason)| {
                ClientMsg::Decide(DecideRequest {
                    id,
                    verdict: if approve {
                        Verdict::Approve
                    } else {
                        Verdict::Deny
                    },
                    operator,
                    reason: reason.clone(),
                    scope: agentd_proto::Scope::Once,
                    grant: reason,
                    args_json: None,
                })
            }
        ),
        proptest::option::of(prop_oneof![Just(State::Pending), Just(State::Denied)])
            .prop_map(|state| ClientMsg::List { state }),
        Just(ClientMsg::Subscribe),
        Just(ClientMsg::Ping),
        Just(ClientMsg::VerifyAudit),
    ]
}

#[test]
fn hello_with_any_role_round_trips() {
    for role in [Role::Agent, Role::Operator] {
        let hello = Hello {
            version: 7,
            role,
            name: "n".into(),
            parent: None,
        };
        assert_eq!(
            codec::decode::<Hello>(&codec::encode(&hello).unwrap()).unwrap(),
            hello
        );
    }
}

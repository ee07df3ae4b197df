//! Greeting a connection: the kernel's word on who it is, its hello (version, role, name,
//! parent) read within the hello timeout, and the welcome that starts its session.

use std::sync::Arc;

use agentd_proto::client::LocalStream;
use agentd_proto::conn::{Connection, FrameLimits};
use agentd_proto::{codec, ErrorCode, Hello, Role, ServerMsg, WireError, PROTOCOL_VERSION};
use interprocess::local_socket::traits::StreamCommon;

use super::session::Session;
use super::{frame_error, send_error, Context, Peer};
use crate::admission::Slot;

/// The longest agent or operator name accepted in a hello.
const MAX_NAME: usize = 128;

/// Reads the caller's credentials and hello and answers it; `None` if the connection ends
/// there.
pub(super) async fn greet(
    stream: LocalStream,
    ctx: Arc<Context>,
    slot: Option<Slot>,
) -> Option<Session> {
    let creds = stream.peer_creds();
    let mut conn = Connection::new(stream);
    // Never treat a caller we cannot identify as anyone: no credentials, no uid in them, or
    // no slot (admission could not read them either) is one refusal.
    let identified = match &creds {
        Ok(c) => c.euid().zip(slot).map(|(uid, slot)| (c.pid(), uid, slot)),
        Err(_) => None,
    };
    let Some((pid, known_uid, mut slot)) = identified else {
        match creds {
            Err(e) => tracing::warn!("refusing a connection whose credentials cannot be read: {e}"),
            Ok(_) => tracing::warn!("refusing a connection without a uid"),
        }
        let _ = send_error(
            &mut conn,
            ErrorCode::Forbidden,
            "cannot read your credentials".into(),
        )
        .await;
        return None;
    };
    let pid = pid.and_then(|p| u32::try_from(p).ok());
    let uid = Some(known_uid);
    // Every frame, the hello's too, must finish in time and fit the uid's share of memory.
    conn.limit_frames(FrameLimits {
        deadline: ctx.frame_timeout,
        budget: ctx.frames.for_uid(known_uid),
    });
    let hello_timeout = ctx.hello_timeout;
    let hello = match tokio::time::timeout(hello_timeout, read_hello(&mut conn)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(HelloError::Closed)) => {
            // A liveness probe (a second agentd, a health check) connects and leaves.
            tracing::debug!(?pid, ?uid, "connection closed before the hello");
            return None;
        }
        Ok(Err(HelloError::Bad(e))) => {
            tracing::warn!(?pid, ?uid, "bad hello: {}", e.message);
            let _ = conn.send(&ServerMsg::Error(e)).await;
            return None;
        }
        Err(_) => {
            tracing::warn!(?pid, ?uid, "no hello within {hello_timeout:?}; closing");
            let msg = format!("no hello within {}s", hello_timeout.as_secs_f64());
            let _ = send_error(&mut conn, ErrorCode::BadHello, msg).await;
            return None;
        }
    };
    if hello.role == Role::Agent {
        if let Err(why) = ctx.connections.as_agent(&mut slot) {
            tracing::warn!(?pid, ?uid, "refusing an agent connection: {why}");
            let _ = send_error(&mut conn, ErrorCode::LimitReached, why).await;
            return None;
        }
    }
    let welcome = ServerMsg::Welcome {
        version: PROTOCOL_VERSION,
        server: format!("agentd {}", env!("CARGO_PKG_VERSION")),
    };
    if conn.send(&welcome).await.is_err() {
        return None;
    }
    let peer = Peer {
        pid,
        uid,
        role: hello.role,
        name: hello.name,
        // Looked up once, when the connection was admitted.
        is_operator: slot.operator(),
        parent: hello.parent.filter(|p| !p.trim().is_empty()),
    };
    tracing::debug!(?peer, "connection ready");
    Some(Session::new(conn, ctx, peer, slot))
}

enum HelloError {
    /// The peer left without sending anything.
    Closed,
    Bad(WireError),
}

impl From<WireError> for HelloError {
    fn from(e: WireError) -> Self {
        HelloError::Bad(e)
    }
}

async fn read_hello(conn: &mut Connection<LocalStream>) -> Result<Hello, HelloError> {
    let bad = |message: String| WireError {
        code: ErrorCode::BadHello,
        message,
    };
    let frame = match conn.recv_frame().await {
        Ok(Some(frame)) => frame,
        Ok(None) => return Err(HelloError::Closed),
        Err(e) => return Err(frame_error(&e).into()),
    };
    // A hello that is a JSON object makes this a JSON connection (clients in any language).
    // No bincode hello starts with `{` (that would be protocol version 123).
    if frame.first() == Some(&b'{') {
        // Set first, so that even a refusal is written in JSON.
        conn.set_encoding(codec::Encoding::Json);
        let hello = serde_json::from_slice::<Hello>(&frame)
            .map_err(|e| bad(format!("the first frame is not an agentd JSON hello: {e}")))?;
        if hello.version != PROTOCOL_VERSION {
            return Err(HelloError::Bad(WireError {
                code: ErrorCode::VersionMismatch,
                message: format!(
                    "protocol version mismatch: the client speaks version {}, this agentd speaks version {PROTOCOL_VERSION}",
                    hello.version
                ),
            }));
        }
        return check_name(hello).map_err(HelloError::Bad);
    }
    let version = codec::decode_version(&frame)
        .map_err(|_| bad("the first frame is not an agentd hello".into()))?;
    if version != PROTOCOL_VERSION {
        return Err(HelloError::Bad(WireError {
            code: ErrorCode::VersionMismatch,
            message: format!(
                "protocol version mismatch: the client speaks version {version}, this agentd speaks version {PROTOCOL_VERSION}"
            ),
        }));
    }
    let hello: Hello = codec::decode(&frame)
        .map_err(|e| bad(format!("the first frame is not an agentd hello: {e}")))?;
    check_name(hello).map_err(HelloError::Bad)
}

/// The name in a hello must be short and printable.
fn check_name(hello: Hello) -> Result<Hello, WireError> {
    let bad = |message: String| WireError {
        code: ErrorCode::BadHello,
        message,
    };
    if hello.name.is_empty() || hello.name.len() > MAX_NAME {
        return Err(bad(format!(
            "the name in the hello must be 1 to {MAX_NAME} bytes long"
        )));
    }
    if hello.name.chars().any(char::is_control) {
        return Err(bad(
            "the name in the hello contains control characters".into()
        ));
    }
    if let Some(parent) = &hello.parent {
        if parent.len() > MAX_NAME {
            return Err(bad(format!(
                "the parent in the hello is {} bytes long; the limit is {MAX_NAME}",
                parent.len()
            )));
        }
        if parent.chars().any(char::is_control) {
            return Err(bad(
                "the parent in the hello contains control characters".into()
            ));
        }
    }
    Ok(hello)
}

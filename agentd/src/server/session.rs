//! One connection's life after its hello: read a message, answer it (`dispatch.rs`), and
//! while its agent waits on a queued request, wait for the outcome and the next message at
//! once. Also who the peer is, as the queue and the audit trail need it.

use std::sync::Arc;

use agentd_proto::client::LocalStream;
use agentd_proto::conn::{ConnError, Connection};
use agentd_proto::{AgentIdentity, ClientMsg, ErrorCode, Outcome, ServerMsg, WireError};
use tokio::time::Instant;

use super::{frame_error, Context, Peer};
use crate::admission::Slot;
use crate::lineage::ancestry;
use crate::queue::{AgentKey, Caller, Submission, Waiter};
use crate::store;
use agentd_proto::frame::FrameError;

pub(super) struct Session {
    pub(super) conn: Connection<LocalStream>,
    pub(super) ctx: Arc<Context>,
    pub(super) peer: Peer,
    /// The queued request this connection's agent is blocked on, if any. Kept here rather
    /// than in a handler's future, so that a waiting agent's task is only this session and
    /// two small futures: with 10,000 agents waiting, the task's size is most of agentd's
    /// memory.
    waiting: Option<Waiter>,
    /// Held while the connection is open.
    _slot: Slot,
}

/// What to do with the connection after handling a message.
pub(super) enum Next {
    Continue,
    Close,
}

/// What woke a waiting agent's connection.
enum Woken {
    Outcome(Option<Outcome>),
    Message(Result<Option<ClientMsg>, ConnError>),
}

impl Session {
    pub(super) fn new(
        conn: Connection<LocalStream>,
        ctx: Arc<Context>,
        peer: Peer,
        slot: Slot,
    ) -> Session {
        Session {
            conn,
            ctx,
            peer,
            waiting: None,
            _slot: slot,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            let next = match self.waiting.as_mut() {
                None => match self.recv().await {
                    // Handling a message can take a large future (a submit awaiting its
                    // commit, an export); boxed, it is allocated only while it runs.
                    Some(msg) => Box::pin(self.handle(msg)).await,
                    None => Next::Close,
                },
                Some(waiter) => {
                    let woken = tokio::select! {
                        outcome = waiter.outcome() => Woken::Outcome(outcome),
                        incoming = self.conn.recv::<ClientMsg>() => Woken::Message(incoming),
                    };
                    Box::pin(self.woken(woken)).await
                }
            };
            if let Next::Close = next {
                break;
            }
        }
    }

    /// While the agent waits, the outcome ends the wait; a cancel of the awaited request or a
    /// ping is answered, anything else is refused as busy.
    async fn woken(&mut self, woken: Woken) -> Next {
        let Some(waiting) = self.waiting.as_ref().map(Waiter::id) else {
            return Next::Continue;
        };
        let msg = match woken {
            Woken::Outcome(outcome) => {
                self.waiting = None;
                return match outcome {
                    Some(outcome) => self.reply(ServerMsg::Outcome(outcome)).await,
                    None => Next::Close,
                };
            }
            Woken::Message(incoming) => match self.incoming(incoming).await {
                Some(msg) => msg,
                None => return Next::Close,
            },
        };
        match msg {
            // The outcome itself answers a cancel of the awaited request.
            ClientMsg::Cancel { id } if id == waiting => {
                match self.ctx.queue.cancel(id, self.caller()).await {
                    Ok(_) => Next::Continue,
                    Err(e) => self.reply(ServerMsg::Error(e.into())).await,
                }
            }
            other => {
                let answer = busy(&other, &format!("waiting on request {waiting}"));
                self.reply(answer).await
            }
        }
    }

    /// The agent's key: its uid as the kernel tells it and the name it gave.
    pub(super) fn key(&self) -> AgentKey {
        AgentKey::new(self.peer.uid, self.peer.name.as_str())
    }

    pub(super) fn identity(&self) -> AgentIdentity {
        AgentIdentity {
            name: self.peer.name.clone(),
            pid: self.peer.pid,
            uid: self.peer.uid,
        }
    }

    /// Who is asking, for withdrawals: the kernel's uid and pid.
    pub(super) fn caller(&self) -> Caller {
        Caller {
            uid: self.peer.uid,
            pid: self.peer.pid,
            chain: Vec::new(),
        }
    }

    /// Who is deciding or reviewing: also the process's ancestry, read now (it costs a few
    /// /proc reads), so that nobody decides from inside the tree that asked.
    pub(super) fn decider(&self) -> Caller {
        Caller {
            chain: self.peer.pid.map(ancestry).unwrap_or_default(),
            ..self.caller()
        }
    }

    /// Records a refusal in the audit trail, at most once a second per agent and kind.
    pub(super) fn audit_refusal(&self, kind: &'static str, why: &str) {
        let key = self.key();
        let Some(skipped) = self.ctx.refusals.note(&key, kind, Instant::now()) else {
            return;
        };
        tracing::warn!(peer = %self.peer.name, uid = ?self.peer.uid, pid = ?self.peer.pid, "{kind}: {why}");
        let event = store::daemon_event(
            kind,
            &self.peer.name,
            serde_json::json!({
                "uid": self.peer.uid,
                "pid": self.peer.pid,
                "why": why,
                "refused_unaudited_since_last": skipped,
            }),
        );
        self.ctx
            .queue
            .store()
            .write(crate::store::Write::audit(event));
    }

    /// Receives the next message; on bad input answers with an error and returns `None`, since
    /// a peer that sent undecodable bytes cannot be trusted to be in step any more.
    async fn recv(&mut self) -> Option<ClientMsg> {
        match self.conn.recv::<ClientMsg>().await {
            Ok(msg) => msg,
            Err(e) => {
                // Rare; boxed so it does not add to every connection's task.
                Box::pin(self.refuse_bad_input(e)).await;
                None
            }
        }
    }

    /// The next message from a connection busy with one thing (waiting, reviewing, watching);
    /// `None` if it closed or sent bad input (which is refused first).
    pub(super) async fn incoming(
        &mut self,
        incoming: Result<Option<ClientMsg>, ConnError>,
    ) -> Option<ClientMsg> {
        match incoming {
            Ok(msg) => msg,
            Err(e) => {
                self.refuse_bad_input(e).await;
                None
            }
        }
    }

    async fn refuse_bad_input(&mut self, e: ConnError) {
        let err = match &e {
            ConnError::Frame(FrameError::Io(_)) => return,
            ConnError::Frame(f) => frame_error(f),
            ConnError::Codec(c) => WireError {
                code: ErrorCode::BadFrame,
                message: c.to_string(),
            },
        };
        tracing::warn!(peer = %self.peer.name, pid = ?self.peer.pid, "bad input, closing the connection: {}", err.message);
        let _ = self.conn.send(&ServerMsg::Error(err)).await;
    }

    pub(super) async fn reply(&mut self, msg: ServerMsg) -> Next {
        match self.conn.send(&msg).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Close,
        }
    }

    /// Sends the answer to a submit or attach; for a queued request, the connection then
    /// waits for it to end (see [`Session::run`]), still accepting a cancel or a ping.
    pub(super) async fn answer(&mut self, submission: Submission) -> Next {
        match submission {
            Submission::Decided(outcome) => self.reply(ServerMsg::Outcome(outcome)).await,
            Submission::Queued { ticket, waiter } => {
                let next = self.reply(ServerMsg::Queued(ticket)).await;
                self.waiting = Some(waiter);
                next
            }
        }
    }
}

/// What a connection busy with one thing (waiting on its request, reviewing, watching
/// events) answers to any other message: a ping is answered, the rest refused as busy.
pub(super) fn busy(msg: &ClientMsg, doing: &str) -> ServerMsg {
    match msg {
        ClientMsg::Ping => ServerMsg::Pong,
        _ => ServerMsg::Error(WireError {
            code: ErrorCode::Busy,
            message: format!("this connection is {doing}; use another connection"),
        }),
    }
}

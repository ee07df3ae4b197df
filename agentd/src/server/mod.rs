//! The socket server: accepts connections, checks each hello, and serves each connection's
//! messages until it closes.
//!
//! Every bad input (a frame over the limit, bytes that do not decode, a wrong version, a
//! request that breaks a rule) is answered with an error frame on that connection alone; no
//! other connection and no queued request is affected.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentd_proto::client::LocalStream;
use agentd_proto::conn::{ConnError, Connection, FrameLimits};
use agentd_proto::frame::FrameError;
use agentd_proto::{
    codec, AgentIdentity, ClientMsg, ErrorCode, Event, Hello, Outcome, RequestView, Role,
    ServerMsg, WireError, PROTOCOL_VERSION,
};
use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::traits::StreamCommon;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::admission::{Connections, FrameBytes, Slot};
use crate::intake::{admit as admit_request, check_decision};
use crate::limits::{RateLimiter, RefusalLog};
use crate::lineage::ancestry;
use crate::operators::{user_name, Operators};
use crate::queue::{Caller, Queue, QueueError, Submission, Waiter};
use crate::registry::Registry;
use crate::{history, store};

mod admit;
mod agent;

use admit::{admit, refuse_connection};

/// The longest agent or operator name accepted in a hello.
const MAX_NAME: usize = 128;

/// What every connection shares.
pub struct Context {
    pub queue: Arc<Queue>,
    pub registry: Registry,
    /// A connection that has not said hello by then is dropped.
    pub hello_timeout: Duration,
    /// Who may decide.
    pub operators: Operators,
    /// Per agent (uid and name).
    pub rate: RateLimiter,
    /// Per uid, however many names its agents give.
    pub uid_rate: RateLimiter,
    pub refusals: RefusalLog,
    /// The largest tool arguments accepted, in bytes.
    pub max_args: usize,
    /// Open connections per uid and overall, with operators' reserve.
    pub connections: Arc<Connections>,
    /// Bytes of unfinished large frames, per uid and overall.
    pub frames: Arc<FrameBytes>,
    /// A frame that has started must finish within this.
    pub frame_timeout: Duration,
}

/// Accepts connections until `shutdown` resolves or `failure` does (the store could not
/// commit), then stops every connection task. Returns the failure, if that was the reason.
pub async fn serve(
    listener: LocalSocketListener,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()>,
    failure: impl Future<Output = String>,
) -> Option<String> {
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    tokio::pin!(failure);
    let mut failed = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            message = &mut failure => {
                failed = Some(message);
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok(stream) => match admit(&stream, &ctx) {
                    Ok(slot) => {
                        tasks.spawn(handle(stream, Arc::clone(&ctx), slot));
                    }
                    Err(why) => {
                        tasks.spawn(refuse_connection(stream, why));
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: say so, and give the system a
                    // moment instead of spinning on the same error.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    if failed.is_some() {
        // Let connections whose writes just failed send that error before they are cut; the
        // ones still waiting on an agent or operator are cut when this runs out.
        let drain = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(FAILURE_DRAIN, drain).await;
    }
    tasks.shutdown().await;
    failed
}

/// How long a failing agentd lets its connections send their last errors.
const FAILURE_DRAIN: Duration = Duration::from_secs(1);

type LocalSocketListener = interprocess::local_socket::tokio::Listener;

/// Who is on the other end, as the kernel and the hello tell it.
#[derive(Debug, Clone)]
struct Peer {
    pid: Option<u32>,
    uid: Option<u32>,
    role: Role,
    name: String,
    /// Whether the kernel's uid/gid for this connection are allowed to decide.
    is_operator: bool,
    /// The parent agent this agent named in its hello.
    parent: Option<String>,
}

async fn handle(stream: LocalStream, ctx: Arc<Context>, slot: Option<Slot>) {
    // The greeting's futures (the hello's timer, the credential checks) are boxed so they do
    // not add to the size of a task that then waits for hours.
    if let Some(session) = Box::pin(greet(stream, ctx, slot)).await {
        session.run().await;
    }
}

/// Reads the caller's credentials and hello and answers it; `None` if the connection ends
/// there.
async fn greet(stream: LocalStream, ctx: Arc<Context>, slot: Option<Slot>) -> Option<Session> {
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
    Some(Session {
        conn,
        ctx,
        peer,
        waiting: None,
        _slot: slot,
    })
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

impl Context {
    /// The rate limit: requests a second and burst.
    fn rate_description(&self) -> (f64, f64) {
        self.rate.limits()
    }
}

fn internal(message: String) -> ServerMsg {
    ServerMsg::Error(WireError {
        code: ErrorCode::Internal,
        message,
    })
}

fn frame_error(e: &FrameError) -> WireError {
    let code = match e {
        FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
        FrameError::OverBudget(_) => ErrorCode::LimitReached,
        _ => ErrorCode::BadFrame,
    };
    WireError {
        code,
        message: e.to_string(),
    }
}

async fn send_error(
    conn: &mut Connection<LocalStream>,
    code: ErrorCode,
    message: String,
) -> Result<(), ConnError> {
    conn.send(&ServerMsg::Error(WireError { code, message }))
        .await
}

struct Session {
    conn: Connection<LocalStream>,
    ctx: Arc<Context>,
    peer: Peer,
    /// The queued request this connection's agent is blocked on, if any. Kept here rather
    /// than in a handler's future, so that a waiting agent's task is only this session and
    /// two small futures: with 10,000 agents waiting, the task's size is most of agentd's
    /// memory.
    waiting: Option<Waiter>,
    /// Held while the connection is open.
    _slot: Slot,
}

/// What to do with the connection after handling a message.
enum Next {
    Continue,
    Close,
}

/// What woke a waiting agent's connection.
enum Woken {
    Outcome(Option<Outcome>),
    Message(Result<Option<ClientMsg>, ConnError>),
}

impl Session {
    async fn run(mut self) {
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
            Woken::Message(Ok(Some(msg))) => msg,
            Woken::Message(Ok(None)) => return Next::Close,
            Woken::Message(Err(e)) => {
                self.refuse_bad_input(e).await;
                return Next::Close;
            }
        };
        match msg {
            // The outcome itself answers a cancel of the awaited request.
            ClientMsg::Cancel { id } if id == waiting => {
                match self.ctx.queue.cancel(id, self.caller()).await {
                    Ok(_) => Next::Continue,
                    Err(e) => self.reply(ServerMsg::Error(e.into())).await,
                }
            }
            ClientMsg::Ping => self.reply(ServerMsg::Pong).await,
            _ => {
                let busy = ServerMsg::Error(WireError {
                    code: ErrorCode::Busy,
                    message: format!(
                        "this connection is waiting on request {waiting}; use another connection"
                    ),
                });
                self.reply(busy).await
            }
        }
    }

    async fn handle(&mut self, msg: ClientMsg) -> Next {
        let ctx = Arc::clone(&self.ctx);
        let queue = &ctx.queue;
        match msg {
            ClientMsg::Submit(req) => {
                let key = (self.peer.uid, self.peer.name.clone());
                if let Err(refusal) = self.take_rate(&key) {
                    return self.reply(ServerMsg::Error(refusal)).await;
                }
                match admit_request(&req, &ctx.registry, &key, ctx.max_args) {
                    Ok(admitted) => match queue
                        .submit(self.identity(), admitted, self.peer.parent.clone())
                        .await
                    {
                        Ok(submission) => self.answer(submission).await,
                        Err(e) => {
                            if let QueueError::Limit(message) = &e {
                                self.audit_refusal("pending_limit", message);
                            }
                            self.reply(ServerMsg::Error(e.into())).await
                        }
                    },
                    Err(e) => self.reply(ServerMsg::Error(e)).await,
                }
            }
            ClientMsg::Attach { id } => {
                if let Err(e) = self.own(id).await {
                    return self.reply(ServerMsg::Error(e)).await;
                }
                match queue.attach(id).await {
                    Ok(submission) => self.answer(submission).await,
                    Err(e) => self.reply(ServerMsg::Error(e.into())).await,
                }
            }
            ClientMsg::Cancel { id } => {
                if let Err(e) = self.own(id).await {
                    return self.reply(ServerMsg::Error(e)).await;
                }
                let reply = match queue.cancel(id, self.caller()).await {
                    Ok(outcome) => ServerMsg::Outcome(outcome),
                    Err(e) => ServerMsg::Error(e.into()),
                };
                self.reply(reply).await
            }
            ClientMsg::RegisterTool(spec) => {
                let reply = self.register_tool(spec).await;
                self.reply(reply).await
            }
            ClientMsg::List { state } => {
                if let Some(refusal) = self.operator_only("list requests") {
                    return self.reply(refusal).await;
                }
                match queue.list(state).await {
                    Ok(views) => self.send_list(views).await,
                    Err(e) => self.reply(ServerMsg::Error(e.into())).await,
                }
            }
            ClientMsg::Get { id } => {
                if let Some(refusal) = self.operator_only("look at requests") {
                    return self.reply(refusal).await;
                }
                let reply = match queue.get(&id).await {
                    Ok(view) => ServerMsg::Request(view),
                    Err(e) => ServerMsg::Error(e.into()),
                };
                self.reply(reply).await
            }
            ClientMsg::Decide(decision) => {
                if let Some(refusal) = self.operator_only("decide requests") {
                    return self.reply(refusal).await;
                }
                let decided = match check_decision(&decision) {
                    Ok(()) => match queue.decide(&decision, self.decider()).await {
                        Ok(view) => Ok(view),
                        Err(e) => {
                            if let QueueError::Forbidden(message) = &e {
                                self.audit_refusal("decision_refused", message);
                            }
                            Err(WireError::from(e))
                        }
                    },
                    Err(e) => Err(e),
                };
                let reply = match decided {
                    Ok(view) => ServerMsg::Request(view),
                    Err(e) => ServerMsg::Error(e),
                };
                self.reply(reply).await
            }
            ClientMsg::History(query) => {
                if let Some(refusal) = self.operator_only("read the history") {
                    return self.reply(refusal).await;
                }
                match history::history(queue.store(), query).await {
                    Ok(views) => self.send_list(views).await,
                    Err(e) => self.reply(ServerMsg::Error(e)).await,
                }
            }
            ClientMsg::Export(query) => {
                if let Some(refusal) = self.operator_only("export the history") {
                    return self.reply(refusal).await;
                }
                self.export(query).await
            }
            ClientMsg::VerifyAudit => {
                if let Some(refusal) = self.operator_only("verify the audit trail") {
                    return self.reply(refusal).await;
                }
                let reply = match history::reader(queue.store()) {
                    Err(e) => ServerMsg::Error(e),
                    Ok(_) => match queue.store().verify_audit().await {
                        Ok(report) => ServerMsg::AuditReport(report),
                        Err(e) => internal(e.to_string()),
                    },
                };
                self.reply(reply).await
            }
            ClientMsg::Subscribe => match self.operator_only("watch the queue") {
                Some(refusal) => self.reply(refusal).await,
                None => {
                    self.stream_events().await;
                    Next::Close
                }
            },
            ClientMsg::Ping => self.reply(ServerMsg::Pong).await,
            ClientMsg::Review => {
                self.review_requests().await;
                Next::Close
            }
            ClientMsg::ReviewDecide(decision) => {
                let reply = self.review_decide(&decision).await;
                self.reply(reply).await
            }
            ClientMsg::ListGrants => {
                if let Some(refusal) = self.operator_only("look at grants") {
                    return self.reply(refusal).await;
                }
                self.reply(ServerMsg::Grants(queue.grants())).await
            }
            ClientMsg::Revoke { id, all } => {
                if let Some(refusal) = self.operator_only("revoke grants") {
                    return self.reply(refusal).await;
                }
                let target = match (id, all) {
                    (Some(id), false) => Some(id),
                    (None, true) => None,
                    _ => {
                        return self
                            .reply(ServerMsg::Error(WireError {
                                code: ErrorCode::InvalidRequest,
                                message: "name one grant, or all of them, to revoke".into(),
                            }))
                            .await
                    }
                };
                let reply = match queue.revoke(target.as_deref(), &self.peer.name).await {
                    Ok(count) => ServerMsg::Revoked { count },
                    Err(e) => ServerMsg::Error(e.into()),
                };
                self.reply(reply).await
            }
        }
    }

    /// Streams an export page by page, so memory stays bounded however much matches.
    async fn export(&mut self, query: agentd_proto::HistoryQuery) -> Next {
        let reader = match history::reader(self.ctx.queue.store()) {
            Ok(reader) => reader,
            Err(e) => return self.reply(ServerMsg::Error(e)).await,
        };
        if let Err(e) = history::caught_up(self.ctx.queue.store()).await {
            return self.reply(ServerMsg::Error(e)).await;
        }
        let mut remaining = query.limit.map(u64::from);
        let mut cursor = None;
        loop {
            let page = remaining.map_or(history::EXPORT_PAGE, |r| {
                r.min(history::EXPORT_PAGE.into()) as u32
            });
            let (items, next) = match history::export_page(&reader, &query, cursor, page).await {
                Ok(result) => result,
                Err(e) => return self.reply(ServerMsg::Error(e)).await,
            };
            if let Some(r) = remaining.as_mut() {
                *r -= items.len() as u64;
            }
            let more = items.len() == page as usize && remaining != Some(0);
            if let Next::Close = self.reply(ServerMsg::Exported { items, more }).await {
                return Next::Close;
            }
            if !more {
                return Next::Continue;
            }
            cursor = next;
        }
    }

    /// Sends a list in frames of about `LIST_CHUNK` bytes each, so any number of requests can
    /// be listed within the frame limit. The last frame (possibly empty) has `more: false`.
    async fn send_list(&mut self, views: Vec<RequestView>) -> Next {
        let mut chunk = Vec::new();
        let mut size = 0;
        for view in views {
            let view_size = approx_size(&view);
            if !chunk.is_empty() && size + view_size > LIST_CHUNK {
                let msg = ServerMsg::Requests {
                    items: std::mem::take(&mut chunk),
                    more: true,
                };
                if let Next::Close = self.reply(msg).await {
                    return Next::Close;
                }
                size = 0;
            }
            size += view_size;
            chunk.push(view);
        }
        self.reply(ServerMsg::Requests {
            items: chunk,
            more: false,
        })
        .await
    }

    fn identity(&self) -> AgentIdentity {
        AgentIdentity {
            name: self.peer.name.clone(),
            pid: self.peer.pid,
            uid: self.peer.uid,
        }
    }

    /// A refusal unless this connection is an operator's: it said hello as one, and the
    /// kernel's uid/gid for it are allowed by the config. Refused decisions are audited.
    fn operator_only(&self, what: &str) -> Option<ServerMsg> {
        let message = if self.peer.role != Role::Operator {
            format!("only operators may {what}; this connection said hello as an agent")
        } else if !self.peer.is_operator {
            let who = self.peer.uid.map_or("a caller of unknown uid".into(), |u| {
                format!("{} (uid {u})", user_name(u))
            });
            format!(
                "{who} may not {what}: operators here are {}",
                self.ctx.operators.describe()
            )
        } else {
            return None;
        };
        if what == "decide requests" {
            self.audit_refusal("decision_refused", &message);
        }
        Some(ServerMsg::Error(WireError {
            code: ErrorCode::Forbidden,
            message,
        }))
    }

    /// Who is asking, for withdrawals: the kernel's uid and pid.
    fn caller(&self) -> Caller {
        Caller {
            uid: self.peer.uid,
            pid: self.peer.pid,
            chain: Vec::new(),
        }
    }

    /// Who is deciding or reviewing: also the process's ancestry, read now (it costs a few
    /// /proc reads), so that nobody decides from inside the tree that asked.
    fn decider(&self) -> Caller {
        Caller {
            chain: self.peer.pid.map(ancestry).unwrap_or_default(),
            ..self.caller()
        }
    }

    /// Records a refusal in the audit trail, at most once a second per agent and kind.
    fn audit_refusal(&self, kind: &'static str, why: &str) {
        let key = (self.peer.uid, self.peer.name.clone());
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
            .enqueue(None, Some(event), Vec::new());
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

    async fn reply(&mut self, msg: ServerMsg) -> Next {
        match self.conn.send(&msg).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Close,
        }
    }

    /// Sends the answer to a submit or attach; for a queued request, the connection then
    /// waits for it to end (see [`Session::run`]), still accepting a cancel or a ping.
    async fn answer(&mut self, submission: Submission) -> Next {
        match submission {
            Submission::Decided(outcome) => self.reply(ServerMsg::Outcome(outcome)).await,
            Submission::Queued { ticket, waiter } => {
                let next = self.reply(ServerMsg::Queued(ticket)).await;
                self.waiting = Some(waiter);
                next
            }
        }
    }

    /// Review mode: this agent reviews its children's requests before the operators see them,
    /// until the connection closes (what it still holds then goes up a level).
    async fn review_requests(&mut self) {
        let key = (self.peer.uid, self.peer.name.clone());
        let queue = Arc::clone(&self.ctx.queue);
        let chain = self.peer.pid.map(ancestry).unwrap_or_default();
        let (handle, mut requests) = queue.add_reviewer(key, self.peer.parent.clone(), chain);
        if let Next::Continue = self.reply(ServerMsg::Pong).await {
            loop {
                tokio::select! {
                    request = requests.recv() => {
                        let Some(view) = request else { break };
                        if let Next::Close = self.reply(ServerMsg::ToReview(view)).await {
                            break;
                        }
                    }
                    incoming = self.conn.recv::<ClientMsg>() => {
                        let reply = match incoming {
                            Ok(Some(ClientMsg::ReviewDecide(d))) => self.review_decide(&d).await,
                            Ok(Some(ClientMsg::Ping)) => ServerMsg::Pong,
                            Ok(Some(_)) => ServerMsg::Error(WireError {
                                code: ErrorCode::Busy,
                                message: "this connection is reviewing; use another connection".into(),
                            }),
                            Ok(None) => break,
                            Err(e) => {
                                self.refuse_bad_input(e).await;
                                break;
                            }
                        };
                        if let Next::Close = self.reply(reply).await {
                            break;
                        }
                    }
                }
            }
        }
        queue.remove_reviewer(handle);
    }

    async fn review_decide(&self, decision: &agentd_proto::ReviewDecision) -> ServerMsg {
        let key = (self.peer.uid, self.peer.name.clone());
        match self.ctx.queue.review(&key, decision, self.decider()).await {
            Ok(view) => ServerMsg::Request(view),
            Err(e) => ServerMsg::Error(e.into()),
        }
    }

    /// Forwards queue events until the subscriber goes away.
    async fn stream_events(&mut self) {
        let mut events = self.ctx.queue.subscribe();
        if let Next::Close = self.reply(ServerMsg::Pong).await {
            return;
        }
        loop {
            tokio::select! {
                event = events.recv() => {
                    let msg = match event {
                        Ok(event) => ServerMsg::Event(event),
                        Err(broadcast::error::RecvError::Lagged(n)) => ServerMsg::Event(Event::Lagged(n)),
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    if let Next::Close = self.reply(msg).await {
                        return;
                    }
                }
                incoming = self.conn.recv::<ClientMsg>() => match incoming {
                    Ok(Some(ClientMsg::Ping)) => {
                        if let Next::Close = self.reply(ServerMsg::Pong).await {
                            return;
                        }
                    }
                    Ok(Some(_)) => {
                        let busy = ServerMsg::Error(WireError {
                            code: ErrorCode::Busy,
                            message: "this connection is subscribed to events; use another connection".into(),
                        });
                        if let Next::Close = self.reply(busy).await {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        self.refuse_bad_input(e).await;
                        return;
                    }
                },
            }
        }
    }
}

/// The size a list frame is filled up to. A request holds at most `MAX_ARGS_LEN` of arguments
/// plus bounded fields, so a frame stays well under `MAX_FRAME_LEN`.
const LIST_CHUNK: usize = 256 * 1024;

/// An upper estimate of a request's encoded size, without encoding it.
fn approx_size(v: &RequestView) -> usize {
    const FIXED: usize = 256; // IDs, times, enums and length prefixes
    v.args_json.len()
        + v.tool.len()
        + v.agent.name.len()
        + v.session.as_ref().map_or(0, String::len)
        + v.summary.as_ref().map_or(0, String::len)
        + v.risk_reasons.iter().map(|r| r.len() + 8).sum::<usize>()
        + v.decision.as_ref().map_or(0, |d| {
            d.by.len() + d.reason.as_ref().map_or(0, String::len) + 64
        })
        + FIXED
}

#[cfg(test)]
mod tests {
    use super::*;
    use interprocess::local_socket::{GenericFilePath, ToFsName};

    /// The largest a connection's task may be. A tokio task is as large as its future's
    /// largest state, whichever state it is in, and 10,000 waiting agents are 10,000 tasks:
    /// this is what keeps them under 100 MiB (it was 6,376 bytes with the wait inside the
    /// message handler).
    const TASK_BUDGET: usize = 2048;

    #[tokio::test]
    async fn a_connection_task_stays_small() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("agentd.sock");
        let listener = crate::bind(&path, &crate::SocketOptions::default())?;
        let prepared = crate::prepare(&crate::Settings::default())?;
        let ctx = prepared.ctx;
        let _client = LocalStream::connect(path.as_path().to_fs_name::<GenericFilePath>()?).await?;
        let stream = listener.accept().await?;
        let slot = admit(&stream, &ctx)?;
        let task = handle(stream, ctx, slot);
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= TASK_BUDGET,
            "a connection task is {size} bytes, over its budget of {TASK_BUDGET}"
        );
        Ok(())
    }
}

//! The async client that ash, the tests, the benchmarks and any Rust agent share.
//!
//! `Client` speaks one connection; `request_approval` is the agent's whole round trip: submit,
//! block until decided, and re-attach by ID if the connection to agentd is lost meanwhile.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::time::{self, Instant};
use uuid::Uuid;

use crate::conn::{ConnError, Connection};
use crate::frame::FrameError;
use crate::protocol::*;
use crate::remote::{Endpoint, Transport};

/// The stream type of a local socket connection.
pub type LocalStream = interprocess::local_socket::tokio::Stream;

/// How long past a request's deadline a waiting agent keeps trying to re-attach: long enough
/// for agentd, back, to say how the request ended; short enough that the agent keeps to its
/// own deadline.
const REATTACH_SLACK: Duration = Duration::from_secs(2);

/// What happens to a request while its agent waits, for the agent to say so.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Queued, with its ID and deadline.
    Queued(&'a Ticket),
    /// The connection to agentd was lost; the agent waits for agentd to come back, up to the
    /// deadline.
    Lost,
    /// Re-attached to the request after agentd came back.
    Reattached,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    // `error`, not `source`: the message already says it, and a source would be said twice.
    #[error("cannot reach agentd at {}: {error}", path.display())]
    Unreachable { path: PathBuf, error: io::Error },
    /// ssh could not be run, or the connection through it ended before agentd answered; the
    /// message is ssh's own (or the far side's) where it said one.
    #[error("cannot reach agentd on {host}: {message}")]
    Remote { host: String, message: String },
    #[error("agentd closed the connection")]
    Disconnected,
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error("{0}")]
    Server(WireError),
    #[error("unexpected reply from agentd: {0}")]
    Unexpected(String),
    /// A waiting call whose agentd went away and was not back by the request's deadline.
    #[error("agentd went away and did not come back before the request's deadline")]
    GaveUp,
}

impl ClientError {
    /// The server's error code, when agentd answered with an error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether the connection went away (as opposed to agentd refusing something).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Remote { .. }
                | ClientError::Disconnected
                | ClientError::Conn(ConnError::Frame(
                    FrameError::Io(_) | FrameError::Truncated { .. }
                ))
        )
    }
}

type Result<T> = std::result::Result<T, ClientError>;

/// What a submit or attach returned: still pending, or already decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Queued(Ticket),
    Decided(Outcome),
}

/// One connection to agentd, after a successful hello.
pub struct Client {
    conn: Connection<Transport>,
    server: String,
    /// Requests to review that arrived while waiting for another reply.
    to_review: std::collections::VecDeque<RequestView>,
}

impl Client {
    /// Connects to agentd at `to` (a socket path, or an `Endpoint` such as an ssh host) and
    /// says hello as `role` named `name`.
    pub async fn connect(to: impl Into<Endpoint>, role: Role, name: &str) -> Result<Client> {
        Client::connect_hello(
            &to.into(),
            Hello {
                version: PROTOCOL_VERSION,
                role,
                name: name.to_string(),
                parent: None,
            },
        )
        .await
    }

    /// Connects as agent `name` whose requests its `parent` agent reviews first, when that
    /// parent is connected as a reviewer.
    pub async fn connect_child(
        to: impl Into<Endpoint>,
        name: &str,
        parent: &str,
    ) -> Result<Client> {
        Client::connect_hello(
            &to.into(),
            Hello {
                version: PROTOCOL_VERSION,
                role: Role::Agent,
                name: name.to_string(),
                parent: Some(parent.to_string()),
            },
        )
        .await
    }

    async fn connect_hello(to: &Endpoint, hello: Hello) -> Result<Client> {
        match Client::open_and_greet(to, &hello, to.open().await).await {
            // The master's forward of the far socket failed (the far sshd refuses socket
            // forwarding, or agentd is not running there): take it down and go the ordinary
            // way, which also says in the far side's words what is wrong.
            Err((e, Some(Transport::Forward(forwarded)))) if e.is_connection_lost() => {
                forwarded.failed().await;
                let retried = Client::open_and_greet(to, &hello, to.open_unforwarded().await)
                    .await
                    .map_err(|(e, _)| e)?;
                forwarded.pause();
                Ok(retried)
            }
            Err((e, _)) => Err(e),
            Ok(client) => Ok(client),
        }
    }

    /// Says hello over a freshly opened stream; on failure, hands the stream back with the
    /// error, so a caller can tell how it was reached.
    async fn open_and_greet(
        to: &Endpoint,
        hello: &Hello,
        opened: std::io::Result<Transport>,
    ) -> std::result::Result<Client, (ClientError, Option<Transport>)> {
        let stream = opened.map_err(|error| {
            let e = match to {
                Endpoint::Socket(path) => ClientError::Unreachable {
                    path: path.clone(),
                    error,
                },
                Endpoint::Ssh(host) => ClientError::Remote {
                    host: host.to_string(),
                    message: error.to_string(),
                },
            };
            (e, None)
        })?;
        let mut client = Client {
            conn: Connection::new(stream),
            server: String::new(),
            to_review: std::collections::VecDeque::new(),
        };
        match client.hello(hello).await {
            Ok(()) => Ok(client),
            // Over ssh, a connection that ends before the welcome is ssh's failure (or the far
            // side's): say it in their words, naming the host.
            Err(e) if e.is_connection_lost() => match client.conn.into_inner() {
                Transport::Ssh(mut ssh) => Err((
                    ClientError::Remote {
                        host: to.to_string(),
                        message: ssh.failure().await,
                    },
                    None,
                )),
                other => Err((e, Some(other))),
            },
            Err(e) => Err((e, None)),
        }
    }

    async fn hello(&mut self, hello: &Hello) -> Result<()> {
        self.conn.send(hello).await?;
        match self.next().await? {
            ServerMsg::Welcome { server, .. } => {
                self.server = server;
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    /// The server's self-description from its welcome (name and version).
    pub fn server(&self) -> &str {
        &self.server
    }

    async fn next(&mut self) -> Result<ServerMsg> {
        match self.conn.recv::<ServerMsg>().await? {
            None => Err(ClientError::Disconnected),
            Some(ServerMsg::Error(e)) => Err(ClientError::Server(e)),
            Some(msg) => Ok(msg),
        }
    }

    async fn call(&mut self, msg: &ClientMsg) -> Result<ServerMsg> {
        self.conn.send(msg).await?;
        self.next().await
    }

    /// Submits a request for approval. A queued request is then awaited with `wait`.
    pub async fn submit(&mut self, req: &ApprovalRequest) -> Result<Submitted> {
        let reply = self.call(&ClientMsg::Submit(req.clone())).await?;
        submitted(reply)
    }

    /// Waits on an existing request by ID, e.g. after a reconnect.
    pub async fn attach(&mut self, id: Uuid) -> Result<Submitted> {
        let reply = self.call(&ClientMsg::Attach { id }).await?;
        submitted(reply)
    }

    /// Blocks until the request this connection submitted or attached to is decided.
    pub async fn wait(&mut self) -> Result<Outcome> {
        match self.next().await? {
            ServerMsg::Outcome(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// Withdraws a pending request. Use a connection that is not blocked in `wait`.
    pub async fn cancel(&mut self, id: Uuid) -> Result<Outcome> {
        match self.call(&ClientMsg::Cancel { id }).await? {
            ServerMsg::Outcome(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// Registers a tool, or tightens an existing one; returns the policy now in force.
    pub async fn register_tool(&mut self, spec: &ToolSpec) -> Result<ToolSpec> {
        match self.call(&ClientMsg::RegisterTool(spec.clone())).await? {
            ServerMsg::ToolRegistered(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Lists the requests agentd holds in memory (every pending one and the most recently
    /// finished), optionally only those in one state, oldest first.
    pub async fn list(&mut self, state: Option<State>) -> Result<Vec<RequestView>> {
        self.gather(ClientMsg::List { state }).await
    }

    /// Requests from the store matching `query`, newest first.
    pub async fn history(&mut self, query: &HistoryQuery) -> Result<Vec<RequestView>> {
        self.gather(ClientMsg::History(query.clone())).await
    }

    /// Streams every request matching `query`, oldest first, with its audit entries, to
    /// `each`; only one frame's worth is held at a time. Returns how many there were.
    pub async fn export<E>(
        &mut self,
        query: &HistoryQuery,
        mut each: impl FnMut(ExportRecord) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<u64, E>> {
        let mut count = 0;
        let mut reply = self.call(&ClientMsg::Export(query.clone())).await?;
        loop {
            match reply {
                ServerMsg::Exported { items, more } => {
                    for item in items {
                        count += 1;
                        if let Err(e) = each(item) {
                            return Ok(Err(e));
                        }
                    }
                    if !more {
                        return Ok(Ok(count));
                    }
                }
                other => return Err(unexpected(&other)),
            }
            reply = self.next().await?;
        }
    }

    /// The grants in force, oldest first.
    pub async fn grants(&mut self) -> Result<Vec<GrantView>> {
        match self.call(&ClientMsg::ListGrants).await? {
            ServerMsg::Grants(g) => Ok(g),
            other => Err(unexpected(&other)),
        }
    }

    /// Revokes one grant (ID or unique prefix), or every grant with `None`; returns how many.
    pub async fn revoke(&mut self, id: Option<&str>) -> Result<u64> {
        let msg = ClientMsg::Revoke {
            id: id.map(String::from),
            all: id.is_none(),
        };
        match self.call(&msg).await? {
            ServerMsg::Revoked { count } => Ok(count),
            other => Err(unexpected(&other)),
        }
    }

    /// Becomes the reviewer of this agent's children; their requests then come from
    /// `next_review`.
    pub async fn review(&mut self) -> Result<()> {
        match self.call(&ClientMsg::Review).await? {
            ServerMsg::Pong => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The next child request to review.
    pub async fn next_review(&mut self) -> Result<RequestView> {
        if let Some(view) = self.to_review.pop_front() {
            return Ok(view);
        }
        match self.next().await? {
            ServerMsg::ToReview(view) => Ok(view),
            other => Err(unexpected(&other)),
        }
    }

    /// Approves, denies or escalates a request this reviewer was sent.
    pub async fn review_decide(&mut self, decision: &ReviewDecision) -> Result<RequestView> {
        self.conn
            .send(&ClientMsg::ReviewDecide(decision.clone()))
            .await?;
        loop {
            match self.next().await? {
                ServerMsg::ToReview(view) => self.to_review.push_back(view),
                ServerMsg::Request(view) => return Ok(view),
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// Asks agentd to recompute its audit chain.
    pub async fn verify_audit(&mut self) -> Result<AuditReport> {
        match self.call(&ClientMsg::VerifyAudit).await? {
            ServerMsg::AuditReport(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// What agentd runs with: the configuration it loaded and its store (operators only).
    pub async fn info(&mut self) -> Result<DaemonInfo> {
        match self.call(&ClientMsg::Info).await? {
            ServerMsg::Info(info) => Ok(info),
            other => Err(unexpected(&other)),
        }
    }

    /// Applies retention now, or with `dry_run` counts what it would remove (operators only).
    pub async fn prune(&mut self, req: PruneRequest) -> Result<PruneReport> {
        match self.call(&ClientMsg::Prune(req)).await? {
            ServerMsg::Pruned(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `msg` and collects a list answer that may span several frames.
    async fn gather(&mut self, msg: ClientMsg) -> Result<Vec<RequestView>> {
        let mut all = Vec::new();
        let mut reply = self.call(&msg).await?;
        loop {
            match reply {
                ServerMsg::Requests { items, more } => {
                    all.extend(items);
                    if !more {
                        return Ok(all);
                    }
                }
                other => return Err(unexpected(&other)),
            }
            reply = self.next().await?;
        }
    }

    /// One request by full ID or unique prefix.
    pub async fn get(&mut self, id: &str) -> Result<RequestView> {
        match self.call(&ClientMsg::Get { id: id.to_string() }).await? {
            ServerMsg::Request(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Approves or denies a request; returns it as decided.
    pub async fn decide(&mut self, decision: &DecideRequest) -> Result<RequestView> {
        match self.call(&ClientMsg::Decide(decision.clone())).await? {
            ServerMsg::Request(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Turns this connection into an event stream; read it with `next_event`.
    pub async fn subscribe(&mut self) -> Result<()> {
        match self.call(&ClientMsg::Subscribe).await? {
            ServerMsg::Pong => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The next queue event on a subscribed connection.
    pub async fn next_event(&mut self) -> Result<Event> {
        match self.next().await? {
            ServerMsg::Event(e) => Ok(e),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn ping(&mut self) -> Result<()> {
        match self.call(&ClientMsg::Ping).await? {
            ServerMsg::Pong => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

fn submitted(reply: ServerMsg) -> Result<Submitted> {
    match reply {
        ServerMsg::Queued(t) => Ok(Submitted::Queued(t)),
        ServerMsg::Outcome(o) => Ok(Submitted::Decided(o)),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(msg: &ServerMsg) -> ClientError {
    let mut text = format!("{msg:?}");
    text.truncate(200);
    ClientError::Unexpected(text)
}

/// An agent's whole round trip: submit `req` as agent `agent`, call `on_queued` once the request
/// is queued (with its ID and deadline), and block until it is decided.
///
/// If the connection to agentd is lost while waiting, this reconnects with backoff and
/// re-attaches by ID until shortly after the deadline, so a brief daemon outage does not lose
/// the answer.
pub async fn request_approval(
    to: impl Into<Endpoint>,
    agent: &str,
    req: &ApprovalRequest,
    on_queued: impl FnOnce(&Ticket),
) -> Result<Outcome> {
    request_approval_as_child(to, agent, None, req, on_queued).await
}

/// `request_approval` for an agent with a parent agent, which reviews the request first when
/// it is connected as a reviewer.
pub async fn request_approval_as_child(
    to: impl Into<Endpoint>,
    agent: &str,
    parent: Option<&str>,
    req: &ApprovalRequest,
    on_queued: impl FnOnce(&Ticket),
) -> Result<Outcome> {
    let mut on_queued = Some(on_queued);
    request_approval_watched(to, agent, parent, req, |progress| {
        if let (Progress::Queued(ticket), Some(f)) = (progress, on_queued.take()) {
            f(ticket);
        }
    })
    .await
}

/// `request_approval_as_child`, telling `on` of every step of the wait: queued, agentd lost,
/// re-attached.
pub async fn request_approval_watched(
    to: impl Into<Endpoint>,
    agent: &str,
    parent: Option<&str>,
    req: &ApprovalRequest,
    mut on: impl FnMut(Progress<'_>),
) -> Result<Outcome> {
    let to: Endpoint = to.into();
    let mut client = match parent {
        Some(parent) => Client::connect_child(&to, agent, parent).await?,
        None => Client::connect(&to, Role::Agent, agent).await?,
    };
    // A rate limit that clears within the request's own time is waited out, not failed.
    let patience = req
        .timeout_ms
        .map_or(MAX_RATE_WAIT, Duration::from_millis)
        .min(MAX_RATE_WAIT);
    let give_up = Instant::now() + patience;
    let submitted = loop {
        match client.submit(req).await {
            Err(ClientError::Server(e)) => match e.retry_after() {
                Some(wait) if Instant::now() + wait <= give_up => {
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(ClientError::Server(e)),
            },
            other => break other?,
        }
    };
    let ticket = match submitted {
        Submitted::Decided(outcome) => return Ok(outcome),
        Submitted::Queued(ticket) => ticket,
    };
    on(Progress::Queued(&ticket));
    match client.wait().await {
        Err(e) if e.is_connection_lost() => {
            on(Progress::Lost);
            let left = (ticket.expires_at - Utc::now())
                .to_std()
                .unwrap_or_default();
            reattach(
                &to,
                agent,
                ticket.id,
                Instant::now() + left + REATTACH_SLACK,
                &mut on,
            )
            .await
        }
        result => result,
    }
}

/// The longest [`request_approval`] waits out rate limits before giving up.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(30);

/// Reconnects with exponential backoff, attaches to `id` and waits for its outcome, starting
/// over whenever the connection is lost again, until `give_up`.
async fn reattach(
    to: &Endpoint,
    agent: &str,
    id: Uuid,
    give_up: Instant,
    on: &mut impl FnMut(Progress<'_>),
) -> Result<Outcome> {
    let mut backoff = Duration::from_millis(25);
    loop {
        let mut attached = false;
        let attempt = async {
            let mut client = Client::connect(to, Role::Agent, agent).await?;
            match client.attach(id).await? {
                Submitted::Queued(_) => {
                    attached = true;
                    on(Progress::Reattached);
                    client.wait().await
                }
                Submitted::Decided(outcome) => Ok(outcome),
            }
        };
        let gone = || ClientError::GaveUp;
        // The deadline holds while agentd is away, however the attempt blocks.
        let result = match time::timeout_at(give_up, attempt).await {
            Ok(result) => result,
            Err(_) => return Err(gone()),
        };
        match result {
            Ok(result) => return Ok(result),
            Err(e) if e.is_connection_lost() && Instant::now() + backoff < give_up => {
                if attached {
                    on(Progress::Lost);
                }
                time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) if e.is_connection_lost() => return Err(gone()),
            Err(e) => return Err(e),
        }
    }
}

//! One message, one answer: who may ask what (`require_operator`), and which queue,
//! registry or store call answers it. Answers that take many frames or last (lists,
//! exports, events, review) are named here and sent by `streams.rs`.

use std::sync::Arc;

use agentd_proto::{ClientMsg, ErrorCode, HistoryQuery, RequestView, Role, ServerMsg, WireError};

use super::internal;
use super::records;
use super::session::{Next, Session};
use crate::operators::user_name;
use crate::policy::intake::{admit as admit_request, check_decision};
use crate::queue::{QueueError, Submission};

/// How a message is answered.
// Lives only while one message is answered, inside the handler's boxed future: boxing the
// large variant would cost an allocation per reply and save nothing that stays.
#[allow(clippy::large_enum_variant)]
enum Answer {
    One(ServerMsg),
    List(Vec<RequestView>),
    /// A submit's or attach's: the outcome, or the ticket and then the wait.
    Submission(Submission),
    Export(HistoryQuery),
    /// Queue events until the subscriber leaves.
    Events,
    /// Children's requests to review until the reviewer leaves.
    Review,
}

/// What only an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OperatorAction {
    List,
    Look,
    Decide,
    History,
    Export,
    Verify,
    Watch,
    Grants,
    Revoke,
    Info,
    Prune,
}

impl OperatorAction {
    /// The words that finish "only operators may ...".
    fn words(self) -> &'static str {
        match self {
            OperatorAction::List => "list requests",
            OperatorAction::Look => "look at requests",
            OperatorAction::Decide => "decide requests",
            OperatorAction::History => "read the history",
            OperatorAction::Export => "export the history",
            OperatorAction::Verify => "verify the audit trail",
            OperatorAction::Watch => "watch the queue",
            OperatorAction::Grants => "look at grants",
            OperatorAction::Revoke => "revoke grants",
            OperatorAction::Info => "read agentd's configuration",
            OperatorAction::Prune => "prune the store",
        }
    }
}

impl Session {
    /// Answers one message; what the connection does next.
    pub(super) async fn handle(&mut self, msg: ClientMsg) -> Next {
        match self.dispatch(msg).await {
            Ok(Answer::One(reply)) => self.reply(reply).await,
            Ok(Answer::List(views)) => self.send_list(views).await,
            Ok(Answer::Submission(submission)) => self.answer(submission).await,
            Ok(Answer::Export(query)) => self.export(query).await,
            Ok(Answer::Events) => {
                self.stream_events().await;
                Next::Close
            }
            Ok(Answer::Review) => {
                self.review_requests().await;
                Next::Close
            }
            Err(e) => self.reply(ServerMsg::Error(e)).await,
        }
    }

    async fn dispatch(&mut self, msg: ClientMsg) -> Result<Answer, WireError> {
        let ctx = Arc::clone(&self.ctx);
        let queue = &ctx.queue;
        Ok(match msg {
            ClientMsg::Submit(req) => {
                let key = self.key();
                self.take_rate(&key)?;
                let admitted = admit_request(&req, &ctx.registry, &key, ctx.max_args)?;
                let parent = self.peer.parent.clone();
                match queue.submit(self.identity(), admitted, parent).await {
                    Ok(submission) => Answer::Submission(submission),
                    Err(e) => {
                        if let QueueError::Limit(message) = &e {
                            self.audit_refusal("pending_limit", message);
                        }
                        return Err(e.into());
                    }
                }
            }
            ClientMsg::Attach { id } => {
                self.own(id).await?;
                Answer::Submission(queue.attach(id).await?)
            }
            ClientMsg::Cancel { id } => {
                self.own(id).await?;
                Answer::One(ServerMsg::Outcome(queue.cancel(id, self.caller()).await?))
            }
            ClientMsg::RegisterTool(spec) => Answer::One(self.register_tool(spec).await),
            ClientMsg::List { state } => {
                self.require_operator(OperatorAction::List)?;
                Answer::List(queue.list(state).await?)
            }
            ClientMsg::Get { id } => {
                self.require_operator(OperatorAction::Look)?;
                Answer::One(ServerMsg::Request(queue.get(&id).await?))
            }
            ClientMsg::Decide(decision) => {
                self.require_operator(OperatorAction::Decide)?;
                check_decision(&decision)?;
                match queue.decide(&decision, self.decider()).await {
                    Ok(view) => Answer::One(ServerMsg::Request(view)),
                    Err(e) => {
                        if let QueueError::Forbidden(message) = &e {
                            self.audit_refusal("decision_refused", message);
                        }
                        return Err(e.into());
                    }
                }
            }
            ClientMsg::History(query) => {
                self.require_operator(OperatorAction::History)?;
                Answer::List(records::history(queue.store(), query).await?)
            }
            ClientMsg::Export(query) => {
                self.require_operator(OperatorAction::Export)?;
                Answer::Export(query)
            }
            ClientMsg::VerifyAudit => {
                self.require_operator(OperatorAction::Verify)?;
                records::require_store(queue.store())?;
                let report = queue.store().verify_audit().await;
                Answer::One(ServerMsg::AuditReport(
                    report.map_err(|e| internal(e.to_string()))?,
                ))
            }
            ClientMsg::Subscribe => {
                self.require_operator(OperatorAction::Watch)?;
                Answer::Events
            }
            ClientMsg::Ping => Answer::One(ServerMsg::Pong),
            ClientMsg::Review => Answer::Review,
            ClientMsg::ReviewDecide(decision) => Answer::One(self.review_decide(&decision).await),
            ClientMsg::ListGrants => {
                self.require_operator(OperatorAction::Grants)?;
                Answer::One(ServerMsg::Grants(queue.grants()))
            }
            ClientMsg::Info => {
                self.require_operator(OperatorAction::Info)?;
                Answer::One(ServerMsg::Info(records::info(&ctx).await?))
            }
            ClientMsg::Prune(req) => {
                self.require_operator(OperatorAction::Prune)?;
                records::require_store(queue.store())?;
                Answer::One(ServerMsg::Pruned(
                    records::prune(&ctx, &req, &self.peer.name).await?,
                ))
            }
            ClientMsg::Revoke { id, all } => {
                self.require_operator(OperatorAction::Revoke)?;
                let target = match (id, all) {
                    (Some(id), false) => Some(id),
                    (None, true) => None,
                    _ => {
                        return Err(WireError {
                            code: ErrorCode::InvalidRequest,
                            message: "name one grant, or all of them, to revoke".into(),
                        })
                    }
                };
                let count = queue.revoke(target.as_deref(), &self.peer.name).await?;
                Answer::One(ServerMsg::Revoked { count })
            }
        })
    }

    /// Refused unless this connection is an operator's: it said hello as one, and the
    /// kernel's uid/gid for it are allowed by the config. Refused decisions are audited.
    fn require_operator(&self, action: OperatorAction) -> Result<(), WireError> {
        let what = action.words();
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
            return Ok(());
        };
        if action == OperatorAction::Decide {
            self.audit_refusal("decision_refused", &message);
        }
        Err(WireError {
            code: ErrorCode::Forbidden,
            message,
        })
    }
}

//! The answers that take more than one frame or last: lists in chunks, exports page by
//! page, the event stream of a subscriber, and review mode for a parent agent.

use std::sync::Arc;

use agentd_proto::{ClientMsg, Event, RequestView, ServerMsg};
use tokio::sync::broadcast;

use super::records;
use super::session::{busy, Next, Session};
use crate::lineage::ancestry;

impl Session {
    /// Streams an export page by page, so memory stays bounded however much matches.
    pub(super) async fn export(&mut self, query: agentd_proto::HistoryQuery) -> Next {
        if let Err(e) = records::require_store(self.ctx.queue.store()) {
            return self.reply(ServerMsg::Error(e)).await;
        }
        let mut remaining = query.limit.map(u64::from);
        let mut cursor = None;
        loop {
            let page = remaining.map_or(records::EXPORT_PAGE, |r| {
                r.min(records::EXPORT_PAGE.into()) as u32
            });
            let (items, next) =
                match records::export_page(self.ctx.queue.store(), &query, cursor, page).await {
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
    pub(super) async fn send_list(&mut self, views: Vec<RequestView>) -> Next {
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

    /// Review mode: this agent reviews its children's requests before the operators see them,
    /// until the connection closes (what it still holds then goes up a level).
    pub(super) async fn review_requests(&mut self) {
        let key = self.key();
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
                        let reply = match self.incoming(incoming).await {
                            Some(ClientMsg::ReviewDecide(d)) => self.review_decide(&d).await,
                            Some(other) => busy(&other, "reviewing"),
                            None => break,
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

    pub(super) async fn review_decide(&self, decision: &agentd_proto::ReviewDecision) -> ServerMsg {
        let key = self.key();
        match self.ctx.queue.review(&key, decision, self.decider()).await {
            Ok(view) => ServerMsg::Request(view),
            Err(e) => ServerMsg::Error(e.into()),
        }
    }

    /// Forwards queue events until the subscriber goes away.
    pub(super) async fn stream_events(&mut self) {
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
                incoming = self.conn.recv::<ClientMsg>() => {
                    let Some(msg) = self.incoming(incoming).await else { return };
                    if let Next::Close = self.reply(busy(&msg, "subscribed to events")).await {
                        return;
                    }
                }
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

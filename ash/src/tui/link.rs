//! The queue's connection to agentd, on a task of its own: subscribe, take a snapshot, forward
//! every event, send decisions, and reconnect with backoff whenever agentd goes away.

use std::time::Duration;

use agentd_proto::{
    Client, ClientError, DecideRequest, ErrorCode, Event, HistoryQuery, Role, State,
};
use tokio::sync::mpsc;

use super::app::Update;

/// How many recent decisions the history view starts with.
const HISTORY_LOAD: u32 = 200;

/// Starts the connection task; returns its updates and a sender for decisions.
pub fn spawn(
    socket: agentd_proto::Endpoint,
    operator: String,
) -> (
    mpsc::UnboundedReceiver<Update>,
    mpsc::UnboundedSender<DecideRequest>,
) {
    let (updates, updates_rx) = mpsc::unbounded_channel();
    let (decisions, mut decisions_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            if updates.send(Update::Connecting).is_err() {
                return;
            }
            match session(&socket, &operator, &updates, &mut decisions_rx).await {
                // The screen closed.
                Ok(()) => return,
                Err(e) => {
                    if updates.send(Update::Lost(e.to_string())).is_err() {
                        return;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
    (updates_rx, decisions)
}

/// One connected stretch; returns `Ok` only when the screen has gone away.
async fn session(
    socket: &agentd_proto::Endpoint,
    operator: &str,
    updates: &mpsc::UnboundedSender<Update>,
    decisions: &mut mpsc::UnboundedReceiver<DecideRequest>,
) -> Result<(), ClientError> {
    let mut events = Client::connect(socket, Role::Operator, operator).await?;
    let mut ops = Client::connect(socket, Role::Operator, operator).await?;
    // Subscribe before the snapshot, so nothing falls between the two.
    events.subscribe().await?;
    let first = snapshot(&mut ops).await?;
    if updates.send(first).is_err() {
        return Ok(());
    }
    loop {
        tokio::select! {
            event = events.next_event() => {
                let update = match event? {
                    Event::Lagged(_) => snapshot(&mut ops).await?,
                    event => Update::Event(event),
                };
                if updates.send(update).is_err() {
                    return Ok(());
                }
            }
            decision = decisions.recv() => {
                let Some(decision) = decision else { return Ok(()) };
                let result = ops.decide(&decision).await;
                if let Err(e) = &result {
                    if e.is_connection_lost() {
                        let _ = updates.send(Update::Decided(Err(format!(
                            "lost agentd while deciding {}: check it with ash show",
                            decision.id
                        ))));
                        return Err(ClientError::Disconnected);
                    }
                }
                if updates.send(Update::Decided(result.map_err(|e| e.to_string()))).is_err() {
                    return Ok(());
                }
            }
        }
    }
}

async fn snapshot(ops: &mut Client) -> Result<Update, ClientError> {
    let pending = ops.list(Some(State::Pending)).await?;
    let query = HistoryQuery {
        limit: Some(HISTORY_LOAD),
        ..HistoryQuery::default()
    };
    let history = match ops.history(&query).await {
        Ok(list) => list
            .into_iter()
            .filter(|v| v.state != State::Pending)
            .collect(),
        // An agentd without a store has no history; the view fills as decisions happen.
        Err(e) if e.code() == Some(ErrorCode::Unavailable) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(Update::Snapshot { pending, history })
}

//! The full-screen queue: one loop over the keyboard, agentd's pushed events and a one-second
//! tick, redrawing only when something changed.

pub mod app;
#[cfg(test)]
mod behaviour_tests;
pub mod draw;
mod edit;
#[cfg(test)]
mod hosts_tests;
mod json_style;
mod link;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::time::Duration;

use agentd_proto::DecideRequest;
use anyhow::Context;
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;

use app::{Action, App};

/// How the queue is opened.
pub struct Options {
    /// Where agentd is: the local socket, or hosts over ssh (their requests merged).
    pub hosts: Vec<agentd_proto::Endpoint>,
    /// Whether the queue names each request's host (a HOST column).
    pub names_hosts: bool,
    pub operator: String,
    pub bell: bool,
}

/// Runs the queue until the operator quits. The terminal is restored on every exit, panics
/// included (`ratatui::init` installs the hook).
pub async fn run(options: Options) -> anyhow::Result<()> {
    // One link per host; their updates come in on one channel, tagged with the host.
    let (tagged, updates) = tokio::sync::mpsc::unbounded_channel();
    let mut decisions = Vec::new();
    for (host, endpoint) in options.hosts.iter().enumerate() {
        let (mut from_host, to_host) = link::spawn(endpoint.clone(), options.operator.clone());
        decisions.push(to_host);
        let tagged = tagged.clone();
        tokio::spawn(async move {
            while let Some(update) = from_host.recv().await {
                if tagged.send((host, update)).is_err() {
                    return;
                }
            }
        });
    }
    drop(tagged);
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, options, updates, decisions).await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    options: Options,
    mut updates: tokio::sync::mpsc::UnboundedReceiver<(usize, app::Update)>,
    links: Vec<tokio::sync::mpsc::UnboundedSender<DecideRequest>>,
) -> anyhow::Result<()> {
    let mut app = App::new(options.operator.clone(), chrono::Utc::now());
    if options.names_hosts {
        app = app.with_hosts(options.hosts.iter().map(crate::host_label).collect());
    }
    // A decision goes to the link of the request's own host.
    let send = |app: &App, decision: DecideRequest| {
        let host = uuid::Uuid::parse_str(&decision.id)
            .ok()
            .and_then(|id| app.host(id))
            .unwrap_or(0);
        if let Some(link) = links.get(host) {
            let _ = link.send(decision);
        }
    };
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    loop {
        if dirty {
            terminal
                .draw(|frame| draw::draw(&app, frame))
                .context("cannot draw the queue")?;
            if app.take_bell() && options.bell {
                // tmux marks the window; the terminal beeps or flashes as configured.
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07").and_then(|()| out.flush());
            }
            dirty = false;
        }
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(key))) => {
                    dirty = true;
                    match app.on_key(key) {
                        Some(Action::Quit) => return Ok(()),
                        Some(Action::Decide { id, verdict, reason, scope, grant }) => {
                            send(&app, DecideRequest {
                                id: id.to_string(),
                                verdict,
                                operator: options.operator.clone(),
                                reason,
                                scope,
                                grant,
                                args_json: None,
                            });
                        }
                        Some(Action::Edit { id }) => {
                            let Some(args) = app.request(id).map(|v| v.args_json.clone()) else {
                                continue;
                            };
                            // The editor gets the terminal: the queue steps aside, and the
                            // keyboard is read again only once it is back.
                            drop(keys);
                            ratatui::restore();
                            let editor = edit::editor();
                            let edited = tokio::task::spawn_blocking(move || edit::edit(&args, &editor))
                                .await
                                .unwrap_or_else(|e| Err(e.to_string()));
                            *terminal = ratatui::init();
                            keys = EventStream::new();
                            match edited {
                                Ok(Some(args_json)) => {
                                    send(&app, DecideRequest {
                                        id: id.to_string(),
                                        verdict: agentd_proto::Verdict::Approve,
                                        operator: options.operator.clone(),
                                        reason: None,
                                        scope: agentd_proto::Scope::Once,
                                        grant: None,
                                        args_json: Some(args_json),
                                    });
                                }
                                Ok(None) => app.notice("arguments unchanged: nothing was decided".into()),
                                Err(why) => app.notice(why),
                            }
                        }
                        Some(Action::DecideMany { ids, verdict }) => {
                            // One decision each: each is audited on its own, and none makes a
                            // grant.
                            for id in ids {
                                send(&app, DecideRequest {
                                    id: id.to_string(),
                                    verdict,
                                    operator: options.operator.clone(),
                                    reason: None,
                                    scope: agentd_proto::Scope::Once,
                                    grant: None,
                                    args_json: None,
                                });
                            }
                        }
                        None => {}
                    }
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("cannot read the keyboard"),
                None => return Ok(()),
            },
            update = updates.recv() => {
                let Some((host, update)) = update else { return Ok(()) };
                match app.hosts.is_empty() {
                    true => app.on_update(update),
                    false => app.on_host_update(host, update),
                }
                dirty = true;
            }
            _ = tick.tick() => {
                app.on_tick(chrono::Utc::now());
                dirty = true;
            }
        }
    }
}

//! Notifications: runs the configured command for each request that reaches the operators, with
//! the request's fields in its environment, so people away from the terminal hear of it.
//!
//! The command runs on its own task fed by the event stream (which only carries what is already
//! committed), so a slow, hanging or failing command never holds up the queue: it is killed at
//! its timeout, at most `max_running` run at once, and a request arriving while all are busy is
//! logged and not notified rather than waited for.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use agentd_proto::{Event, RequestView, Risk};
use tokio::process::Command;
use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinHandle;

/// The `[notify]` section, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// Run by `/bin/sh -c`; the request's fields come only through the environment, never
    /// spliced into the command text, so no argument of an agent's can inject shell.
    pub command: String,
    /// Requests below this risk are not notified.
    pub min_risk: Risk,
    /// A command still running after this is killed.
    pub timeout: Duration,
    /// At most this many commands run at once.
    pub max_running: usize,
}

/// Makes a field an agent wrote safe to hand to the programs notification commands use:
/// hidden and control characters become `\u{..}` escapes (one line, no escape sequences),
/// `#(`, `#{` and `#[` (tmux formats), `$(` and `${` (shell, should a command ever evaluate
/// it) get a space after their first character, backticks become `'`, and a leading `@`, `<`,
/// `-`, `+` or `=` (curl's "read this file", option-looking text) is preceded by a space. The
/// text stays readable; only what a program would interpret changes.
pub fn clean_field(text: &str) -> String {
    let (escaped, _) = agentd_proto::text::escape_hidden(text, false);
    let mut out = String::with_capacity(escaped.len() + 2);
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => out.push('\''),
            '#' | '$' if matches!(chars.peek(), Some('(' | '{' | '[')) => {
                out.push(c);
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    if out.starts_with(['@', '<', '-', '+', '=']) {
        out.insert(0, ' ');
    }
    out
}

/// The environment a notification command gets for `view`. The arguments are left out on
/// purpose: a notification may leave the machine (ntfy, mail), and they can hold secrets.
/// Every field an agent wrote is cleaned (see [`clean_field`]).
pub fn environment(view: &RequestView) -> Vec<(&'static str, String)> {
    let remaining = (view.expires_at - chrono::Utc::now()).num_seconds().max(0);
    let mut message = format!(
        "{} ({} risk) from {}",
        view.tool, view.risk, view.agent.name
    );
    if let Some(summary) = &view.summary {
        message.push_str(": ");
        message.push_str(summary);
    }
    vec![
        ("AGENTD_ID", view.id.to_string()),
        ("AGENTD_TOOL", clean_field(&view.tool)),
        ("AGENTD_RISK", view.risk.to_string()),
        ("AGENTD_AGENT", clean_field(&view.agent.name)),
        (
            "AGENTD_AGENT_PID",
            view.agent.pid.map(|p| p.to_string()).unwrap_or_default(),
        ),
        (
            "AGENTD_SESSION",
            clean_field(view.session.as_deref().unwrap_or_default()),
        ),
        (
            "AGENTD_SUMMARY",
            clean_field(view.summary.as_deref().unwrap_or_default()),
        ),
        // As the config and `ash request --subject` spell it: `secret_access`.
        ("AGENTD_SUBJECT", view.subject.as_str().to_string()),
        ("AGENTD_CREATED_AT", view.created_at.to_rfc3339()),
        ("AGENTD_EXPIRES_AT", view.expires_at.to_rfc3339()),
        ("AGENTD_TIMEOUT_SECS", remaining.to_string()),
        ("AGENTD_MESSAGE", clean_field(&message)),
    ]
}

/// Starts notifying for every `Queued` event on `events` until the stream closes.
pub fn spawn(settings: NotifySettings, mut events: broadcast::Receiver<Event>) -> JoinHandle<()> {
    let running = Arc::new(Semaphore::new(settings.max_running.max(1)));
    tokio::spawn(async move {
        loop {
            let view = match events.recv().await {
                Ok(Event::Queued(view)) => view,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "notifications fell behind; some were skipped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if view.risk < settings.min_risk {
                continue;
            }
            let Ok(permit) = Arc::clone(&running).try_acquire_owned() else {
                tracing::warn!(
                    id = %view.id,
                    running = settings.max_running,
                    "not notifying: every notification command slot is busy"
                );
                continue;
            };
            let settings = settings.clone();
            tokio::spawn(async move {
                run(&settings, &view).await;
                drop(permit);
            });
        }
    })
}

async fn run(settings: &NotifySettings, view: &RequestView) {
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&settings.command)
        .envs(environment(view))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(id = %view.id, error = %e, "cannot start the notification command");
            return;
        }
    };
    match tokio::time::timeout(settings.timeout, child.wait_with_output()).await {
        Err(_) => tracing::warn!(
            id = %view.id,
            timeout_secs = settings.timeout.as_secs_f64(),
            "the notification command ran past its timeout and was killed"
        ),
        Ok(Err(e)) => tracing::warn!(id = %view.id, error = %e, "the notification command failed"),
        Ok(Ok(out)) if !out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            tracing::warn!(
                id = %view.id,
                status = %out.status,
                stderr = %stderr.trim(),
                "the notification command failed"
            );
        }
        Ok(Ok(_)) => tracing::debug!(id = %view.id, "notified"),
    }
}

#[cfg(test)]
mod tests {
    use super::{clean_field, environment};

    #[test]
    fn the_subject_is_spelled_as_the_config_spells_it() {
        let now = chrono::Utc::now();
        let view = agentd_proto::RequestView {
            id: uuid::Uuid::new_v4(),
            tool: "vault-read".into(),
            args_json: "{}".into(),
            agent: agentd_proto::AgentIdentity {
                name: "a".into(),
                pid: None,
                uid: None,
            },
            session: None,
            summary: None,
            risk: agentd_proto::Risk::High,
            risk_reasons: Vec::new(),
            created_at: now,
            expires_at: now,
            state: agentd_proto::State::Pending,
            attached: true,
            decision: None,
            subject: agentd_proto::SubjectType::SecretAccess,
            path: Vec::new(),
            reviewer: None,
            cwd: None,
            grant_options: Vec::new(),
        };
        let env = environment(&view);
        let subject = env.iter().find(|(k, _)| *k == "AGENTD_SUBJECT").unwrap();
        assert_eq!(subject.1, "secret_access");
    }

    #[test]
    fn fields_are_cleaned_of_what_programs_interpret() {
        assert_eq!(clean_field("@/etc/shadow"), " @/etc/shadow");
        assert_eq!(clean_field("-o x"), " -o x");
        assert_eq!(
            clean_field("a #(touch x) #{E:y} #[fg=red]"),
            "a # (touch x) # {E:y} # [fg=red]"
        );
        assert_eq!(
            clean_field("$(rm -rf ~) ${HOME} `id`"),
            "$ (rm -rf ~) $ {HOME} 'id'"
        );
        assert_eq!(
            clean_field("a\nb\u{1b}[2J\u{200b}"),
            "a\\u{a}b\\u{1b}[2J\\u{200b}"
        );
        assert_eq!(clean_field("issue #42 costs $5"), "issue #42 costs $5");
        assert_eq!(clean_field(""), "");
    }
}

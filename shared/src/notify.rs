//! Notification commands: the environment a command gets for a request (its fields, cleaned of
//! what programs interpret), and a runner that starts at most so many at once and kills one at
//! its timeout. agentd runs them for its own `[notify]`; `ash notify` runs them on the
//! operator's machine for the requests of every host it follows.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::{RequestView, Risk};

/// What to run for each request that reaches the operators, checked.
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

/// How a notification command went wrong.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot start the notification command: {0}")]
    Start(#[source] std::io::Error),
    #[error("the notification command ran past its timeout ({0:?}) and was killed")]
    Timeout(Duration),
    #[error("the notification command failed: {0}")]
    Wait(#[source] std::io::Error),
    #[error("the notification command failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
}

/// Why a request was not notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Below the settings' `min_risk`.
    BelowRisk,
    /// Every command slot is busy: the request is dropped rather than waited for, so a slow
    /// command never piles up work.
    Busy,
}

/// What the caller hears when a command it started has finished.
pub type Report = Arc<dyn Fn(Uuid, Result<(), NotifyError>) + Send + Sync>;

/// Starts notification commands, at most `max_running` at once.
#[derive(Clone)]
pub struct Notifier {
    settings: NotifySettings,
    running: Arc<Semaphore>,
    report: Report,
}

impl Notifier {
    /// A notifier running `settings.command`; `report` hears how each run ended.
    pub fn new(settings: NotifySettings, report: Report) -> Notifier {
        let running = Arc::new(Semaphore::new(settings.max_running.max(1)));
        Notifier {
            settings,
            running,
            report,
        }
    }

    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// Starts the command for `view`, with `extra` added to its environment, on a task of its
    /// own; says why not when it does not.
    pub fn notify(
        &self,
        view: &RequestView,
        extra: Vec<(&'static str, String)>,
    ) -> Result<(), Skipped> {
        if view.risk < self.settings.min_risk {
            return Err(Skipped::BelowRisk);
        }
        let permit = Arc::clone(&self.running)
            .try_acquire_owned()
            .map_err(|_| Skipped::Busy)?;
        let mut env = environment(view);
        env.extend(extra);
        let (settings, report, id) = (self.settings.clone(), Arc::clone(&self.report), view.id);
        tokio::spawn(async move {
            let result = run(&settings, env).await;
            drop(permit);
            report(id, result);
        });
        Ok(())
    }
}

/// Makes a field an agent wrote safe to hand to the programs notification commands use:
/// hidden and control characters become `\u{..}` escapes (one line, no escape sequences),
/// `#(`, `#{` and `#[` (tmux formats), `$(` and `${` (shell, should a command ever evaluate
/// it) get a space after their first character, backticks become `'`, and a leading `@`, `<`,
/// `-`, `+` or `=` (curl's "read this file", option-looking text) is preceded by a space. The
/// text stays readable; only what a program would interpret changes.
pub fn clean_field(text: &str) -> String {
    let (escaped, _) = crate::text::escape_hidden(text, false);
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

async fn run(
    settings: &NotifySettings,
    env: Vec<(&'static str, String)>,
) -> Result<(), NotifyError> {
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&settings.command)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(NotifyError::Start)?;
    let out = tokio::time::timeout(settings.timeout, child.wait_with_output())
        .await
        .map_err(|_| NotifyError::Timeout(settings.timeout))?
        .map_err(NotifyError::Wait)?;
    if out.status.success() {
        return Ok(());
    }
    Err(NotifyError::Failed {
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(risk: Risk) -> RequestView {
        let now = chrono::Utc::now();
        crate::RequestView {
            id: uuid::Uuid::new_v4(),
            tool: "vault-read".into(),
            args_json: "{}".into(),
            agent: crate::AgentIdentity {
                name: "a".into(),
                pid: None,
                uid: None,
            },
            session: None,
            summary: None,
            risk,
            risk_reasons: Vec::new(),
            created_at: now,
            expires_at: now,
            state: crate::State::Pending,
            attached: true,
            decision: None,
            subject: crate::SubjectType::SecretAccess,
            path: Vec::new(),
            reviewer: None,
            cwd: None,
            grant_options: Vec::new(),
        }
    }

    #[test]
    fn the_subject_is_spelled_as_the_config_spells_it() {
        let env = environment(&view(Risk::High));
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

    type Heard = tokio::sync::mpsc::UnboundedReceiver<Result<(), String>>;

    fn notifier(command: &str, min_risk: Risk, timeout_ms: u64) -> (Notifier, Heard) {
        let (tell, heard) = tokio::sync::mpsc::unbounded_channel();
        let n = Notifier::new(
            NotifySettings {
                command: command.into(),
                min_risk,
                timeout: Duration::from_millis(timeout_ms),
                max_running: 1,
            },
            Arc::new(move |_, r| {
                let _ = tell.send(r.map_err(|e| e.to_string()));
            }),
        );
        (n, heard)
    }

    async fn first_report(heard: &mut Heard) -> Result<(), String> {
        tokio::time::timeout(Duration::from_secs(30), heard.recv())
            .await
            .expect("a report within 30 s")
            .expect("the notifier is alive")
    }

    #[tokio::test]
    async fn below_the_risk_nothing_runs_and_a_busy_slot_drops_the_request() {
        let (n, mut heard) = notifier("sleep 30", Risk::High, 60_000);
        assert_eq!(
            n.notify(&view(Risk::Medium), Vec::new()),
            Err(Skipped::BelowRisk)
        );
        assert_eq!(n.notify(&view(Risk::High), Vec::new()), Ok(()));
        // One slot, taken by the sleeping command: the next request is dropped, not queued.
        assert_eq!(
            n.notify(&view(Risk::Critical), Vec::new()),
            Err(Skipped::Busy)
        );
        assert!(heard.try_recv().is_err(), "nothing has finished");
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_and_reported() {
        let (n, mut heard) = notifier("sleep 30", Risk::Low, 100);
        n.notify(&view(Risk::Low), Vec::new()).unwrap();
        let report = first_report(&mut heard).await;
        assert!(report.unwrap_err().contains("past its timeout"));
    }

    #[tokio::test]
    async fn a_failing_command_is_reported_with_its_stderr_and_extra_fields_reach_it() {
        let (n, mut heard) = notifier("echo \"on $AGENTD_HOST\" >&2; exit 3", Risk::Low, 10_000);
        n.notify(&view(Risk::Low), vec![("AGENTD_HOST", "ssh://vm".into())])
            .unwrap();
        let report = first_report(&mut heard).await.unwrap_err();
        assert!(report.contains("exit status: 3"), "{report}");
        assert!(report.contains("on ssh://vm"), "{report}");
    }
}

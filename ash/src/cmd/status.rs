//! `ash status`: one line for a status bar (tmux `status-right`), e.g.
//! `3 pending · 1 high · next 0:42`; nothing at all when nothing is pending.

use agentd_proto::{RequestView, Risk};
use chrono::Utc;

use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A template instead of the default line: {pending}, {high} (high or critical),
    /// {critical}, {next} (time to the nearest deadline, m:ss)
    #[arg(long, value_name = "TEMPLATE")]
    format: Option<String>,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    // One line for every host: a host that cannot be reached is said on stderr.
    let (pending, _) = super::pending::across_hosts(globals).await?;
    let pending: Vec<RequestView> = pending.into_iter().map(|(_, v)| v).collect();
    if globals.json {
        let mut summary = summary(&pending, Utc::now());
        summary.store = store(globals).await;
        crate::json::print(&summary)?;
        return Ok(SUCCESS);
    }
    let line = render(&pending, args.format.as_deref(), Utc::now());
    if !line.is_empty() {
        println!("{line}");
    }
    Ok(SUCCESS)
}

/// `ash status --json`: the counts the line shows, as one object, also when nothing waits.
#[derive(serde::Serialize, Debug, PartialEq, Eq)]
pub struct Summary {
    pub pending: usize,
    /// High or critical.
    pub high: usize,
    pub critical: usize,
    /// Seconds to the nearest deadline; null when nothing waits.
    pub next_expires_in_secs: Option<i64>,
    /// The store of the one agentd asked (null across several hosts, or without a store).
    pub store: Option<StoreSummary>,
}

/// How large the store is and how far back it goes.
#[derive(serde::Serialize, Debug, PartialEq, Eq)]
pub struct StoreSummary {
    pub bytes: u64,
    pub requests: u64,
    /// RFC 3339; null when it keeps no request.
    pub oldest: Option<String>,
    pub answered_days: u32,
    pub decided_days: u32,
}

/// The store of the one host asked, if it says.
async fn store(globals: &Globals) -> Option<StoreSummary> {
    let [only] = globals.endpoints().try_into().ok()?;
    let mut client = super::connect_operator_to(globals, &only).await.ok()?;
    let s = client.info().await.ok()?.store?;
    Some(StoreSummary {
        bytes: s.bytes,
        requests: s.requests,
        oldest: s.oldest.map(|t| t.to_rfc3339()),
        answered_days: s.answered_days,
        decided_days: s.decided_days,
    })
}

/// The counts of `pending` at `now`.
pub fn summary(pending: &[RequestView], now: chrono::DateTime<Utc>) -> Summary {
    Summary {
        pending: pending.len(),
        high: pending.iter().filter(|v| v.risk >= Risk::High).count(),
        critical: pending.iter().filter(|v| v.risk == Risk::Critical).count(),
        next_expires_in_secs: pending
            .iter()
            .map(|v| (v.expires_at - now).num_seconds().max(0))
            .min(),
        store: None,
    }
}

/// The status line for `pending`; empty when there is nothing pending.
pub fn render(pending: &[RequestView], format: Option<&str>, now: chrono::DateTime<Utc>) -> String {
    if pending.is_empty() {
        return String::new();
    }
    let high = pending.iter().filter(|v| v.risk >= Risk::High).count();
    let critical = pending.iter().filter(|v| v.risk == Risk::Critical).count();
    let next = pending
        .iter()
        .map(|v| (v.expires_at - now).num_seconds().max(0))
        .min()
        .unwrap_or(0);
    let next = format!("{}:{:02}", next / 60, next % 60);
    match format {
        Some(template) => template
            .replace("{pending}", &pending.len().to_string())
            .replace("{high}", &high.to_string())
            .replace("{critical}", &critical.to_string())
            .replace("{next}", &next),
        None => {
            let mut parts = vec![format!("{} pending", pending.len())];
            if high > 0 {
                parts.push(format!("{high} high"));
            }
            parts.push(format!("next {next}"));
            parts.join(" · ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_proto::AgentIdentity;
    use agentd_proto::State;
    use chrono::Duration;
    use uuid::Uuid;

    fn req(risk: Risk, left: i64, now: chrono::DateTime<Utc>) -> RequestView {
        RequestView {
            id: Uuid::new_v4(),
            tool: "t".into(),
            args_json: "{}".into(),
            agent: AgentIdentity {
                name: "a".into(),
                pid: None,
                uid: None,
            },
            session: None,
            summary: None,
            risk,
            risk_reasons: vec![],
            created_at: now,
            expires_at: now + Duration::seconds(left),
            state: State::Pending,
            attached: true,
            decision: None,
            subject: agentd_proto::SubjectType::Tool,
            path: vec![],
            reviewer: None,
            cwd: None,
            grant_options: Vec::new(),
        }
    }

    #[test]
    fn summarises_count_risk_and_the_nearest_deadline() {
        let now = Utc::now();
        let list = [
            req(Risk::Medium, 300, now),
            req(Risk::High, 42, now),
            req(Risk::Low, 100, now),
        ];
        assert_eq!(render(&list, None, now), "3 pending · 1 high · next 0:42");
        assert_eq!(render(&list[..1], None, now), "1 pending · next 5:00");
        assert_eq!(render(&[], None, now), "");
        assert_eq!(
            render(
                &list,
                Some("#[fg=red]{pending}/{high}/{critical} {next}"),
                now
            ),
            "#[fg=red]3/1/0 0:42"
        );
    }
}

//! The pages, rendered on the server: every request shows in the HTML as served (its 8-character
//! ID, agent, tool, risk, summary, countdown), so the page is whole before any script runs.
//! Everything an agent wrote goes through `text`: hidden characters escaped as the terminal
//! shows them (`\u{202e}`), then HTML-escaped.

use agentd_proto::{RequestView, Risk};
use chrono::{DateTime, Utc};

use super::hub::outcome_words;

/// HTML-escapes text an agent (or anyone) wrote, after making hidden characters visible.
pub fn text(s: &str) -> String {
    esc(&crate::display::clean(s))
}

/// HTML-escapes text of our own.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(v: &RequestView) -> String {
    v.id.to_string()[..8].to_string()
}

fn risk_badge(risk: Risk) -> String {
    let word = risk.as_str();
    format!(
        r#"<span class="risk risk-{word}">{}</span>"#,
        word.to_uppercase()
    )
}

/// The frame every page shares.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title><link rel="stylesheet" href="/app.css"><script src="/app.js" defer></script>
</head><body>
<header><a href="/">queue</a> · <a href="/history">history</a></header>
<main>{body}</main>
</body></html>"#,
        esc(title)
    )
}

fn countdown(expires: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        r#"<span class="countdown" data-expires="{}">{}</span>"#,
        expires.timestamp_millis(),
        esc(&crate::display::remaining(expires, now))
    )
}

/// The queue: one card per waiting request, most urgent first.
pub fn queue(
    items: &[(Option<String>, RequestView)],
    status: &[(String, Result<(), String>)],
    now: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    for (host, result) in status {
        if let Err(why) = result {
            out.push_str(&format!(
                r#"<p class="warn">{}: {}</p>"#,
                text(host),
                text(why)
            ));
        }
    }
    out.push_str(&format!(
        r#"<h1><span id="count">{}</span> pending</h1><ul id="queue" class="queue">"#,
        items.len()
    ));
    if items.is_empty() {
        out.push_str(r#"<li class="empty">nothing waits</li>"#);
    }
    for (host, v) in items {
        let host = host
            .as_ref()
            .map(|h| format!(r#"<span class="host">{}</span> "#, text(h)))
            .unwrap_or_default();
        let summary = v
            .summary
            .as_deref()
            .map(|s| format!(r#"<div class="summary">{}</div>"#, text(s)))
            .unwrap_or_default();
        out.push_str(&format!(
            r#"<li class="card" data-id="{id}"><a href="/r/{id}"><div class="line"><code class="id">{short}</code> {risk} {host}<span class="agent">{agent}</span> <span class="tool">{tool}</span> {countdown}</div>{summary}<div class="args">{args}</div></a></li>"#,
            id = v.id,
            short = short(v),
            risk = risk_badge(v.risk),
            agent = text(&v.agent.name),
            tool = text(&crate::display::tool_cell(v)),
            countdown = countdown(v.expires_at, now),
            args = text(&crate::display::ellipsize(
                &crate::display::one_line(&crate::mask::mask_args(&v.args_json).0),
                120
            )),
        ));
    }
    out.push_str("</ul>");
    out
}

/// One request: everything the terminal's detail pane shows, and the ways to answer it.
pub fn request(host: Option<&str>, v: &RequestView, csrf: &str, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        r#"<h1 id="request" data-id="{}"><code>{}</code> {} <span class="tool">{}</span></h1>"#,
        v.id,
        short(v),
        risk_badge(v.risk),
        text(&crate::display::tool_cell(v))
    ));
    out.push_str(r#"<p id="elsewhere" class="elsewhere" hidden></p>"#);
    let mut rows = vec![("agent", {
        let mut a = text(&v.agent.name);
        if let Some(pid) = v.agent.pid {
            a.push_str(&format!(" (pid {pid}"));
            if let Some(uid) = v.agent.uid {
                a.push_str(&format!(", uid {uid}"));
            }
            a.push(')');
        }
        a
    })];
    if let Some(h) = host {
        rows.push(("host", text(h)));
    }
    if let Some(s) = &v.session {
        rows.push(("session", text(s)));
    }
    if let Some(s) = &v.summary {
        rows.push(("summary", text(s)));
    }
    if let Some(c) = &v.cwd {
        rows.push(("folder", text(c)));
    }
    rows.push(("created", esc(&crate::display::rfc3339(v.created_at))));
    out.push_str("<dl>");
    for (k, val) in rows {
        out.push_str(&format!("<dt>{k}</dt><dd>{val}</dd>"));
    }
    out.push_str("</dl>");
    if !v.risk_reasons.is_empty() {
        out.push_str(r#"<ul class="reasons">"#);
        for r in &v.risk_reasons {
            out.push_str(&format!("<li>{}</li>", text(r)));
        }
        out.push_str("</ul>");
    }
    let (masked, hidden) = crate::mask::mask_args(&v.args_json);
    let pretty = serde_json::from_str::<serde_json::Value>(&masked)
        .and_then(|j| serde_json::to_string_pretty(&j))
        .unwrap_or(masked);
    if hidden {
        out.push_str(r#"<p class="note">secrets hidden (ash show --reveal in a terminal)</p>"#);
    }
    out.push_str(&format!(r#"<pre class="args">{}</pre>"#, text(&pretty)));
    if v.state != agentd_proto::State::Pending {
        out.push_str(&format!(
            r#"<p class="decided">{}</p>"#,
            text(&outcome_words(v))
        ));
        return out;
    }
    out.push_str(&format!(
        r#"<p class="deadline">decide within {}</p>"#,
        countdown(v.expires_at, now)
    ));
    let deliberate = v.risk >= Risk::High;
    let confirm = if deliberate {
        format!(
            r#"<label class="confirm"><input type="checkbox" name="confirm" value="yes" required> I have read this {} request and mean to approve it</label>"#,
            v.risk.as_str().to_uppercase()
        )
    } else {
        String::new()
    };
    let form = |verdict: &str, body: &str, button: &str, class: &str| {
        format!(
            r#"<form method="post" action="/r/{id}/decide" class="decide"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="verdict" value="{verdict}">{body}<button type="submit" class="{class}">{button}</button></form>"#,
            id = v.id,
            csrf = esc(csrf)
        )
    };
    out.push_str(&form("approve", &confirm, "Approve once", "approve"));
    // Without a session to cover, a grant lasts 15 minutes (as the terminal queue's does).
    let span = if v.session.is_some() {
        "for this session"
    } else {
        "for 15 minutes"
    };
    for option in &v.grant_options {
        let body = format!(
            r#"<input type="hidden" name="grant" value="{}">{}"#,
            esc(&option.key),
            confirm
        );
        out.push_str(&form(
            "approve",
            &body,
            &format!("Approve, and {span}: {}", text(&option.label)),
            "grant",
        ));
    }
    out.push_str(&form(
        "deny",
        r#"<input type="text" name="reason" maxlength="500" placeholder="reason (the agent reads it)">"#,
        "Deny",
        "deny",
    ));
    out
}

/// The last decisions, newest first.
pub fn history(items: &[(Option<String>, RequestView)]) -> String {
    let mut out = String::from(r#"<h1>recent decisions</h1><ul class="history">"#);
    for (host, v) in items {
        let host = host
            .as_ref()
            .map(|h| format!(r#"<span class="host">{}</span> "#, text(h)))
            .unwrap_or_default();
        let reason = v
            .decision
            .as_ref()
            .and_then(|d| d.reason.as_deref())
            .map(|r| format!(": {}", text(r)))
            .unwrap_or_default();
        out.push_str(&format!(
            r#"<li><code>{}</code> {host}<span class="agent">{}</span> <span class="tool">{}</span> <span class="state state-{}">{}</span>{reason}</li>"#,
            short(v),
            text(&v.agent.name),
            text(&crate::display::tool_cell(v)),
            v.state.as_str(),
            text(&outcome_words(v)),
        ));
    }
    out.push_str("</ul>");
    out
}

/// Naming the device, from the pairing link.
pub fn pair(token: &str) -> String {
    format!(
        r#"<h1>pair this device</h1><p>Give it a name; decisions made from it are recorded with it.</p>
<form method="post" action="/pair"><input type="hidden" name="token" value="{}">
<input type="text" name="name" maxlength="40" required placeholder="e.g. pixel" autofocus>
<button type="submit" class="approve">Pair</button></form>"#,
        esc(token)
    )
}

/// One line saying what is wrong, as a page.
pub fn problem(what: &str) -> String {
    page("ash", &format!(r#"<p class="warn">{}</p>"#, esc(what)))
}

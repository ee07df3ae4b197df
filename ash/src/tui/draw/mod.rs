//! Drawing the queue: `draw(&App, &mut Frame)` reads the state and never changes it.
//!
//! Only the rows that fit are built, so a queue of 10,000 costs what a screenful costs. Columns
//! are dropped, never squeezed, when the pane is narrow; the detail pane sits beside the queue
//! in a wide pane, below it in a tall one, and is a key away (Enter) in a small one.

use agentd_proto::request_id::short;
use agentd_proto::{RequestView, Risk, State, Verdict};
use chrono::{DateTime, Utc};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Gauge, Paragraph, Row, Table};
use ratatui::Frame;

use super::app::{App, Conn, Mode, Sort, View};
use super::json_style;
use crate::display::{compact_secs, ellipsize, one_line, remaining};

mod detail;
use detail::{draw_detail, draw_history};

/// The fewest columns of arguments worth showing in the queue; below that the column goes.
const MIN_ARGS: usize = 16;

/// The last seconds before a deadline, shown in the urgent colour.
const URGENT_SECS: i64 = 30;

pub fn risk_style(risk: Risk) -> Style {
    match risk {
        Risk::Low => Style::new().fg(Color::Green),
        Risk::Medium => Style::new().fg(Color::Yellow),
        Risk::High => Style::new()
            .fg(Color::LightRed)
            .add_modifier(Modifier::BOLD),
        Risk::Critical => Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD),
    }
}

fn risk_word(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "LOW",
        Risk::Medium => "MEDIUM",
        Risk::High => "HIGH",
        Risk::Critical => "CRITICAL",
    }
}

/// The countdown text and its style: urgent in the last 30 seconds.
pub fn countdown(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> (String, Style) {
    let left = (expires_at - now).num_seconds();
    let style = if left < URGENT_SECS {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    (remaining(expires_at, now), style)
}

pub fn draw(app: &App, frame: &mut Frame) {
    let [main, message, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    match (app.view, &app.mode) {
        (View::Queue, Mode::Detail) => draw_detail(app, frame, main),
        (View::Queue, _) => draw_queue_view(app, frame, main),
        (View::History, _) => draw_history(app, frame, main),
    }
    draw_message(app, frame, message);
    draw_status(app, frame, status);
    if app.mode == Mode::Help {
        draw_help(frame, main);
    }
}

fn draw_queue_view(app: &App, frame: &mut Frame, area: Rect) {
    if area.width >= 110 {
        let [queue, detail] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(area);
        draw_queue(app, frame, queue);
        draw_detail(app, frame, detail);
    } else if area.height >= 20 {
        let [queue, detail] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
        draw_queue(app, frame, queue);
        draw_detail(app, frame, detail);
    } else {
        draw_queue(app, frame, area);
    }
}

fn draw_queue(app: &App, frame: &mut Frame, area: Rect) {
    let sort = match app.sort {
        Sort::Deadline => "by deadline",
        Sort::Risk => "by risk",
    };
    let filtered = if app.filter.is_empty() {
        String::new()
    } else {
        format!(" · {} of {} match", app.shown_len(), app.pending_count())
    };
    let marked = match app.marked_count() {
        0 => String::new(),
        n => format!(" · {n} marked"),
    };
    let block = Block::bordered().title(format!(" queue · {sort}{filtered}{marked} "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.shown_len() == 0 {
        let text = if app.pending_count() > 0 {
            "Nothing matches the filter.".to_string()
        } else {
            match &app.conn {
                Conn::Connected => "No pending requests. Waiting for agents…".to_string(),
                Conn::Connecting => "Connecting to agentd…".to_string(),
                Conn::Lost(why) => format!("Not connected: {}", one_line(why)),
            }
        };
        let y = inner.y + inner.height / 2;
        let line = Rect::new(
            inner.x,
            y.min(inner.bottom().saturating_sub(1)),
            inner.width,
            1,
        );
        frame.render_widget(Paragraph::new(text).alignment(Alignment::Center), line);
        return;
    }

    let show_agent = inner.width >= 56;
    let rows_fit = inner.height.saturating_sub(1) as usize;
    let selected = app.selected_index().unwrap_or(0);
    let offset = if selected < rows_fit {
        0
    } else {
        selected + 1 - rows_fit
    };
    let end = (offset + rows_fit).min(app.shown_len());
    let window: Vec<&RequestView> = (offset..end).filter_map(|n| app.shown_at(n)).collect();

    let agent_w = window
        .iter()
        .map(|v| v.agent.name.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 16) as u16;
    let tool_w = window
        .iter()
        .map(|v| crate::display::tool_cell(v).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 30) as u16;
    // ID, RISK, TOOL, EXPIRES (and AGENT) with a space between each; ARGS gets what is left,
    // and is left out when that is too little to read.
    // With several hosts, a HOST column first.
    let host_name = |v: &RequestView| {
        app.host(v.id)
            .and_then(|h| app.hosts.get(h))
            .map_or("-", String::as_str)
    };
    let host_w = match app.hosts.is_empty() {
        true => 0,
        false => window
            .iter()
            .map(|v| crate::display::width(host_name(v)))
            .max()
            .unwrap_or(4)
            .clamp(4, 24) as u16,
    };
    let fixed: u16 = 8
        + 8
        + 7
        + tool_w
        + 3
        + if show_agent { agent_w + 1 } else { 0 }
        + if host_w > 0 { host_w + 1 } else { 0 };
    let args_w = inner.width.saturating_sub(fixed + 1) as usize;
    let show_args = args_w >= MIN_ARGS;
    let mut widths = Vec::new();
    let mut header = Vec::new();
    if host_w > 0 {
        widths.push(Constraint::Length(host_w));
        header.push("HOST");
    }
    widths.extend([Constraint::Length(8), Constraint::Length(8)]);
    header.extend(["ID", "RISK"]);
    if show_agent {
        widths.push(Constraint::Length(agent_w));
        header.push("AGENT");
    }
    widths.push(Constraint::Length(tool_w));
    header.push("TOOL");
    widths.push(Constraint::Length(7));
    header.push("EXPIRES");
    if show_args {
        widths.push(Constraint::Fill(1));
        header.push("ARGS");
    }

    let rows = window.iter().enumerate().map(|(i, v)| {
        let (left, left_style) = countdown(v.expires_at, app.now);
        // A marked request's ID is starred and underlined.
        let id = match app.is_marked(v.id) {
            true => Span::styled(
                format!("*{}", &short(&v.id)[..7]),
                Style::new()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::UNDERLINED),
            ),
            false => Span::raw(short(&v.id)),
        };
        let mut cells = Vec::new();
        if host_w > 0 {
            cells.push(Cell::from(ellipsize(host_name(v), host_w as usize)));
        }
        cells.extend([
            Cell::from(id),
            Cell::from(Span::styled(risk_word(v.risk), risk_style(v.risk))),
        ]);
        if show_agent {
            cells.push(Cell::from(ellipsize(
                &one_line(&v.agent.name),
                agent_w as usize,
            )));
        }
        // The subject type beside the tool, as `ash pending` shows it: `vault-read (secret_access)`.
        cells.push(Cell::from(ellipsize(
            &crate::display::tool_cell(v),
            tool_w as usize,
        )));
        cells.push(Cell::from(Span::styled(format!("{left:>7}"), left_style)));
        if show_args {
            let (masked, _) = crate::mask::mask_args(&v.args_json);
            cells.push(Cell::from(ellipsize(&one_line(&masked), args_w)));
        }
        let row = Row::new(cells);
        if offset + i == selected {
            row.style(Style::new().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, inner);
}

fn draw_message(app: &App, frame: &mut Frame, area: Rect) {
    let cursor = Span::styled("▏", Style::new().add_modifier(Modifier::SLOW_BLINK));
    let line = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("filter: ", Style::new().fg(Color::Cyan)),
            Span::raw(one_line(&app.filter)),
            cursor,
            Span::styled("  ⏎ keep · esc clear", Style::new().fg(Color::DarkGray)),
        ]),
        Mode::Reason { id, verdict, text } => {
            let what = match verdict {
                Verdict::Deny => "deny",
                Verdict::Approve => "approve",
            };
            let label = match verdict {
                Verdict::Deny => "reason",
                Verdict::Approve => "note",
            };
            Line::from(vec![
                Span::styled(
                    format!("{what} {} · {label}: ", short(id)),
                    Style::new().fg(Color::Cyan),
                ),
                Span::raw(one_line(text)),
                cursor,
                Span::styled("  ⏎ send · esc cancel", Style::new().fg(Color::DarkGray)),
            ])
        }
        Mode::Confirm { id, scope } => {
            let risk = app
                .selected()
                .filter(|v| v.id == *id)
                .map_or("HIGH", |v| risk_word(v.risk));
            let (what, key) = match scope {
                agentd_proto::Scope::Session => (" for the session", 's'),
                _ => ("", 'a'),
            };
            Line::from(Span::styled(
                format!(
                    "approve {risk} request {}{what}? press {key} again; any other key cancels",
                    short(id)
                ),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ))
        }
        Mode::Batch { verdict, ids } => {
            let (word, again) = match verdict {
                Verdict::Approve => ("approve", 'A'),
                Verdict::Deny => ("deny", 'D'),
            };
            Line::from(vec![
                Span::styled(
                    format!(
                        "{word} {} requests, each on its own (no grant)? ",
                        ids.len()
                    ),
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("press {again} or y; any other key cancels"),
                    Style::new().fg(Color::DarkGray),
                ),
            ])
        }
        Mode::Grant { id, choice } => {
            let options = app
                .request(*id)
                .map(|v| v.grant_options.as_slice())
                .unwrap_or(&[]);
            let label = options
                .get(*choice)
                .map_or(String::new(), |o| one_line(&o.label));
            Line::from(vec![
                Span::styled(
                    format!(
                        "approve {} and grant [{}/{}] ",
                        short(id),
                        choice + 1,
                        options.len()
                    ),
                    Style::new().fg(Color::Cyan),
                ),
                Span::styled(label, Style::new().add_modifier(Modifier::BOLD)),
                Span::styled(
                    "  ←/→ or 1-9 choose · ⏎ send · esc cancel",
                    Style::new().fg(Color::DarkGray),
                ),
            ])
        }
        Mode::Ttl { id, text } => Line::from(vec![
            Span::styled(
                format!("approve {} and identical requests for: ", short(id)),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(one_line(text)),
            cursor,
            Span::styled(
                "  (90s, 15m, 2h) ⏎ send · esc cancel",
                Style::new().fg(Color::DarkGray),
            ),
        ]),
        _ => match app.notices().last() {
            Some(n) => Line::from(Span::styled(
                one_line(&n.text),
                Style::new().fg(Color::Yellow),
            )),
            None if !app.filter.is_empty() => Line::from(Span::styled(
                format!("filter: {} (/ to change)", one_line(&app.filter)),
                Style::new().fg(Color::DarkGray),
            )),
            None => Line::default(),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_status(app: &App, frame: &mut Frame, area: Rect) {
    let (conn, conn_style) = match &app.conn {
        Conn::Connected => ("connected".to_string(), Style::new().fg(Color::Green)),
        Conn::Connecting => ("connecting…".to_string(), Style::new().fg(Color::Yellow)),
        Conn::Lost(why) => (
            format!("disconnected: {}", one_line(why)),
            Style::new().fg(Color::Red),
        ),
    };
    let narrow = area.width < 120;
    let hints = match (app.view, &app.mode) {
        (_, Mode::Help) => "any key closes help",
        (View::History, _) => "j/k scroll · tab queue · ? help · q quit",
        (View::Queue, Mode::Detail) => "j/k scroll · a approve · d deny · r reason · esc back",
        _ if narrow => "a/s/t approve · d deny · ? help · q quit",
        _ => "a approve · s session · t time · w wider · d deny · r reason · ⏎ details · / filter · o sort · tab history · ? help · q quit",
    };
    let line = Line::from(vec![
        Span::styled(
            format!(" {} pending ", app.pending_count()),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw("· "),
        Span::styled(conn, conn_style),
        Span::raw(format!(" · {} │ ", one_line(&app.operator))),
        Span::styled(hints, Style::new().fg(Color::DarkGray)),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let keys = [
        ("j k ↓ ↑", "move (g/G first/last, PgUp/PgDn)"),
        ("a", "approve (high and critical: press a again)"),
        ("s", "approve it and identical ones this session"),
        ("t", "approve it and identical ones for a time"),
        ("w", "approve with a wider grant (choose which)"),
        ("space", "mark; A / D decide the marked (or filtered)"),
        ("n", "approve with a note"),
        ("e", "edit the arguments in $EDITOR, approve them"),
        ("d", "deny"),
        ("r", "deny with a reason (the agent reads it)"),
        ("⏎", "details full screen (esc back)"),
        ("J K", "scroll the arguments"),
        ("/", "filter by agent, tool or arguments"),
        ("o", "order by deadline or risk"),
        ("tab", "queue / history"),
        ("q", "quit"),
    ];
    let lines: Vec<Line> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<8}"), Style::new().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    let w = 56.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys ")),
        rect,
    );
}

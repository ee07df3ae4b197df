//! The detail pane (everything about the selected request: who, what, risk, arguments,
//! grant options) and the history pane of recent decisions.

use super::*;

fn field(name: &str, value: impl Into<Span<'static>>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<9}"), Style::new().fg(Color::DarkGray)),
        value.into(),
    ])
}

pub(super) fn draw_detail(app: &App, frame: &mut Frame, area: Rect) {
    let Some(v) = app.selected() else {
        frame.render_widget(Block::bordered().title(" details "), area);
        return;
    };
    let block = Block::bordered().title(format!(" request {} ", short(&v.id)));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let mut info = vec![
        field("tool", crate::display::tool_cell(v)),
        field("risk", Span::styled(risk_word(v.risk), risk_style(v.risk))),
    ];
    for reason in &v.risk_reasons {
        info.push(field("", format!("· {}", one_line(reason))));
    }
    let pid = v.agent.pid.map_or("?".into(), |p| p.to_string());
    let uid = v.agent.uid.map_or("?".into(), |u| u.to_string());
    info.push(field(
        "agent",
        format!("{} (pid {pid}, uid {uid})", one_line(&v.agent.name)),
    ));
    info.push(field(
        "session",
        v.session.as_deref().map_or("-".to_string(), one_line),
    ));
    if let Some(summary) = &v.summary {
        info.push(field("summary", one_line(summary)));
    }
    let age = (app.now - v.created_at).num_seconds().max(0);
    info.push(field(
        "created",
        format!("{} ({} ago)", app.zone.hms(v.created_at), compact_secs(age)),
    ));
    for step in &v.path {
        info.push(field("path", format!("· {}", one_line(step))));
    }
    // What `w` offers, narrowest first.
    for (n, option) in v.grant_options.iter().enumerate().skip(1) {
        info.push(field(
            "grant",
            format!("{} {}", n + 1, one_line(&option.label)),
        ));
    }
    if !v.attached && v.state == State::Pending {
        info.push(field(
            "",
            Span::styled("the agent is disconnected", Style::new().fg(Color::Yellow)),
        ));
    }

    let info_h = (info.len() as u16).min(inner.height.saturating_sub(3));
    let [info_area, gauge_area, label_area, args_area] = Layout::vertical([
        Constraint::Length(info_h),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(info), info_area);

    let total = (v.expires_at - v.created_at).num_milliseconds().max(1) as f64;
    let left_ms = (v.expires_at - app.now).num_milliseconds().max(0) as f64;
    let (left, left_style) = countdown(v.expires_at, app.now);
    let gauge = Gauge::default()
        .ratio((left_ms / total).clamp(0.0, 1.0))
        .label(format!("{left} left"))
        .gauge_style(if left_style == Style::new() {
            Style::new().fg(Color::Blue)
        } else {
            Style::new().fg(Color::Red)
        });
    let [gauge_name, gauge_bar] =
        Layout::horizontal([Constraint::Length(9), Constraint::Min(1)]).areas(gauge_area);
    frame.render_widget(
        Paragraph::new(Span::styled("deadline", Style::new().fg(Color::DarkGray))),
        gauge_name,
    );
    frame.render_widget(gauge, gauge_bar);
    frame.render_widget(
        Paragraph::new(Span::styled(
            "arguments (J/K scroll)",
            Style::new().fg(Color::DarkGray),
        )),
        label_area,
    );
    let (masked, hidden) = crate::mask::mask_args(&v.args_json);
    let escaped = crate::display::has_hidden(&v.args_json);
    if hidden || escaped {
        let label = match (hidden, escaped) {
            (true, true) => "arguments (secrets hidden: ash show --reveal; \\u{..} = invisible character) (J/K scroll)",
            (true, false) => "arguments (secrets hidden: ash show --reveal) (J/K scroll)",
            _ => "arguments (\\u{..} = an invisible character, shown escaped) (J/K scroll)",
        };
        frame.render_widget(
            Paragraph::new(Span::styled(label, Style::new().fg(Color::Yellow))),
            label_area,
        );
    }
    frame.render_widget(
        Paragraph::new(json_style::lines(&masked)).scroll((app.detail_scroll, 0)),
        args_area,
    );
}

fn verdict_style(state: State) -> Style {
    match state {
        State::Approved => Style::new().fg(Color::Green),
        State::Denied => Style::new().fg(Color::Red),
        State::Expired => Style::new().fg(Color::Yellow),
        State::Withdrawn | State::Pending => Style::new().fg(Color::DarkGray),
    }
}

pub(super) fn draw_history(app: &App, frame: &mut Frame, area: Rect) {
    let block = Block::bordered().title(format!(" history · {} recent ", app.history().len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.history().len() == 0 {
        frame.render_widget(
            Paragraph::new("No decisions yet.").alignment(Alignment::Center),
            inner,
        );
        return;
    }
    let rows_fit = inner.height.saturating_sub(1) as usize;
    let wide = inner.width >= 96;
    let rows = app
        .history()
        .skip(app.history_offset)
        .take(rows_fit)
        .map(|v| {
            let (by, reason, at) = match &v.decision {
                Some(d) => (one_line(&d.by), d.reason.as_deref().map(one_line), d.at),
                None => ("-".into(), None, v.created_at),
            };
            let mut cells = vec![
                Cell::from(app.zone.hms(at)),
                Cell::from(short(&v.id)),
                Cell::from(ellipsize(&one_line(&v.tool), 14)),
                Cell::from(Span::styled(v.state.to_string(), verdict_style(v.state))),
                Cell::from(ellipsize(&by, 10)),
            ];
            if wide {
                cells.insert(2, Cell::from(ellipsize(&one_line(&v.agent.name), 12)));
            }
            cells.push(Cell::from(reason.unwrap_or_default()));
            Row::new(cells)
        });
    let mut widths = vec![Constraint::Length(8), Constraint::Length(8)];
    let mut header = vec!["WHEN", "ID"];
    if wide {
        widths.push(Constraint::Length(12));
        header.push("AGENT");
    }
    widths.extend([
        Constraint::Length(14),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Fill(1),
    ]);
    header.extend(["TOOL", "VERDICT", "BY", "REASON"]);
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, inner);
}

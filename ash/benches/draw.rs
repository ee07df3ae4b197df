//! `cargo bench -p ash --bench draw`: how long the queue takes to draw a frame with 10,000
//! pending requests, and to take them in as a snapshot, on this machine.
//!
//! Frames are drawn into ratatui's `TestBackend`, so the figure is the queue's own work
//! (layout, the visible rows, the detail pane) without the terminal's output.

use std::time::{Duration, Instant};

use agentd_proto::{AgentIdentity, RequestView, Risk, State};
use ash::tui::app::{App, Update};
use ash::tui::draw::draw;
use chrono::Utc;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use uuid::Uuid;

const PENDING: usize = 10_000;
const FRAMES: usize = 300;

fn request(i: usize) -> RequestView {
    let now = Utc::now();
    RequestView {
        id: Uuid::new_v4(),
        tool: ["shell", "write-file", "deploy", "http-get"][i % 4].into(),
        args_json: format!(
            r#"{{"command":"make test TARGET={i}","cwd":"/home/dev/project-{}","env":{{"CI":"1"}}}}"#,
            i % 17
        ),
        agent: AgentIdentity {
            name: format!("agent-{}", i % 50),
            pid: Some(1000 + i as u32),
            uid: Some(1000),
        },
        session: Some(format!("session-{}", i % 200)),
        summary: None,
        risk: Risk::ALL[i % 4],
        risk_reasons: vec!["tool is rated by the config file".into()],
        created_at: now,
        expires_at: now + chrono::Duration::seconds(30 + (i % 600) as i64),
        state: State::Pending,
        attached: true,
        decision: None,
        subject: agentd_proto::SubjectType::Tool,
        path: Vec::new(),
        reviewer: None,
        cwd: None,
        grant_options: Vec::new(),
    }
}

fn median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pending: Vec<RequestView> = (0..PENDING).map(request).collect();
    let mut app = App::new("bench".into(), Utc::now());
    let start = Instant::now();
    app.on_update(Update::Snapshot {
        pending,
        history: Vec::new(),
    });
    println!(
        "taking in {PENDING} pending requests: {:?}",
        start.elapsed()
    );

    for (width, height) in [(80u16, 24u16), (120, 40), (200, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height))?;
        let mut times = Vec::with_capacity(FRAMES);
        for i in 0..FRAMES {
            // Move through the queue so each frame shows other rows.
            app.on_key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(if i % 2 == 0 { 'j' } else { 'J' }),
            ));
            let t = Instant::now();
            terminal.draw(|frame| draw(&app, frame))?;
            times.push(t.elapsed());
        }
        let (med, p99) = median(times);
        println!("frame {width}x{height} with {PENDING} pending: median {med:?}, p99 {p99:?}");
    }
    Ok(())
}

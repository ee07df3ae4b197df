//! `ash logs [-f]`: agentd's log, as it writes it to `agentd.log` in its state dir (besides
//! stderr, which goes to the terminal or, under systemd, the journal).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};

use crate::outcome::SUCCESS;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep printing what agentd writes, as `tail -f` does
    #[arg(short, long)]
    follow: bool,
    /// agentd's state dir [env: AGENTD_STATE_DIR] [default: the platform's state folder for
    /// agentd, e.g. ~/.local/state/agentd]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let dir = args
        .state_dir
        .or_else(|| {
            std::env::var_os(agentd_proto::paths::STATE_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(agentd_proto::paths::default_state_dir)
        .ok_or_else(|| anyhow!("no home folder to find agentd's state dir in; pass --state-dir"))?;
    let path = agentd_proto::paths::log_file(&dir);
    let mut file = std::fs::File::open(&path).map_err(|e| {
        anyhow!(
            "no log at {} ({e}): agentd writes it in its state dir once started with it (under systemd, also `journalctl --user -u agentd`)",
            path.display()
        )
    })?;
    let mut stdout = std::io::stdout().lock();
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !write_all(&mut stdout, &buf)? || !args.follow {
        return Ok(SUCCESS);
    }
    let mut at = buf.len() as u64;
    // The file is looked at five times a second, as `tail -f` does without inotify.
    let mut look = tokio::time::interval(Duration::from_millis(200));
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        look.tick().await;
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < at {
            // Moved aside at agentd's start: the new file is read from its beginning.
            file = std::fs::File::open(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            at = 0;
        }
        if len > at {
            file.seek(SeekFrom::Start(at))?;
            let mut more = Vec::new();
            file.read_to_end(&mut more)?;
            at += more.len() as u64;
            if !write_all(&mut stdout, &more)? {
                return Ok(SUCCESS);
            }
        }
    }
}

/// Writes and flushes; false when the reader went away (`| head`), which ends ash quietly.
fn write_all(out: &mut impl Write, bytes: &[u8]) -> anyhow::Result<bool> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        other => other.map(|()| true).map_err(Into::into),
    }
}

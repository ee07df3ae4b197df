//! `ash --host ssh://... pending` against the same `ash pending` run locally: what reaching
//! agentd through ssh costs, with an open ControlMaster (the set-up REMOTE.md recommends) and
//! with a new ssh connection each time. It runs a private sshd on a loopback port (Debian's
//! openssh-server, which .ci/run installs) with a host key and a login key made here, and the
//! release agentd and ash of this build.
//!
//! `cargo bench -p ash --bench remote`; `RUNS=N` changes the number of runs (default 31).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Agentd, Error};

const SSHD: &str = "/usr/sbin/sshd";

fn main() -> Result<(), Error> {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(31);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(runs))
}

/// Runs `ash ARGS` with `env`; its wall time, failing on a non-zero exit.
async fn timed(args: &[&str], env: &[(&str, String)]) -> Result<Duration, Error> {
    let start = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ash"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("AGENTD_HOST")
        .stdin(Stdio::null())
        .output()
        .await?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "ash {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(took)
}

fn keygen(path: &Path) -> Result<(), Error> {
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()?;
    if !made.success() {
        return Err("ssh-keygen failed".into());
    }
    Ok(())
}

async fn run(runs: usize) -> Result<(), Error> {
    if !Path::new(SSHD).exists() {
        return Err(format!("{SSHD} is missing: install openssh-server (.ci/run does)").into());
    }
    std::fs::create_dir_all("/run/sshd")?;
    let dir = tempfile::tempdir()?;
    let d_path = dir.path();
    let mut d = Agentd::new(d_path, "")?;
    d.start().await?;

    keygen(&d_path.join("host_key"))?;
    keygen(&d_path.join("id"))?;
    std::fs::copy(d_path.join("id.pub"), d_path.join("authorized_keys"))?;
    std::fs::create_dir(d_path.join("home"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    std::fs::write(
        d_path.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {p}/host_key\n\
             AuthorizedKeysFile {p}/authorized_keys\nPidFile {p}/sshd.pid\nStrictModes no\n\
             PasswordAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             SetEnv HOME={p}/home\n",
            p = d_path.display()
        ),
    )?;
    let _sshd = tokio::process::Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(d_path.join("sshd_config"))
        .arg("-E")
        .arg(d_path.join("sshd.log"))
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("sshd did not listen within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let host = format!("ssh://{user}@127.0.0.1:{port}{}", d.socket.display());
    let base = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        d_path.join("id").display()
    );
    let master = format!(
        "{base} -o ControlMaster=auto -o ControlPath={}/cm-%p -o ControlPersist=120",
        d_path.display()
    );
    let remote_ash = Path::new(env!("CARGO_BIN_EXE_ash")).display().to_string();
    let local_env = [("AGENTD_SOCKET", d.socket.display().to_string())];
    let fresh_env = [
        ("AGENTD_SSH_COMMAND", base),
        ("AGENTD_REMOTE_ASH", remote_ash.clone()),
    ];
    let master_env = [
        ("AGENTD_SSH_COMMAND", master),
        ("AGENTD_REMOTE_ASH", remote_ash),
    ];
    // Opens the master connection, which then stays.
    timed(&["--host", &host, "pending"], &master_env).await?;

    let (mut local, mut through_master, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        local.push(timed(&["pending"], &local_env).await?);
        through_master.push(timed(&["--host", &host, "pending"], &master_env).await?);
        fresh.push(timed(&["--host", &host, "pending"], &fresh_env).await?);
    }
    d.stop().await?;

    let (l, m, f) = (
        common::median(&mut local),
        common::median(&mut through_master),
        common::median(&mut fresh),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("ash pending, median of {runs}:");
    println!("  local socket                     {:7.2} ms", ms(l));
    println!(
        "  --host ssh://, ControlMaster     {:7.2} ms  (+{:.2} ms)",
        ms(m),
        ms(m.saturating_sub(l))
    );
    println!(
        "  --host ssh://, new connection    {:7.2} ms  (+{:.2} ms)",
        ms(f),
        ms(f.saturating_sub(l))
    );
    Ok(())
}

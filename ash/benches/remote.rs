//! `ash --host ssh://... pending` against the same `ash pending` run locally: what reaching
//! agentd through ssh costs with an open ControlMaster (the set-up REMOTE.md recommends), both
//! through the socket the master forwards and, where the far sshd refuses socket forwarding,
//! through a session on the master running the far `ash dial-stdio`; and with a new ssh
//! connection each time. It runs two private sshds on loopback ports (Debian's
//! openssh-server, which .ci/run installs; the second with `AllowStreamLocalForwarding no`)
//! with a host key and a login key made here, and the release agentd and ash of this build.
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

/// Starts sshd on a free loopback port with `extra` config; returns it and its port.
async fn sshd(dir: &Path, name: &str, extra: &str) -> Result<(tokio::process::Child, u16), Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join(format!("{name}_config"));
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {p}/host_key\n\
             AuthorizedKeysFile {p}/authorized_keys\nPidFile {p}/{name}.pid\nStrictModes no\n\
             PasswordAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             SetEnv HOME={p}/home\n{extra}",
            p = dir.display()
        ),
    )?;
    let child = tokio::process::Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(&config)
        .arg("-E")
        .arg(dir.join(format!("{name}.log")))
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
    Ok((child, port))
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
    let (_forwarding, port) = sshd(d_path, "sshd", "").await?;
    let (_no_forwarding, port_nf) =
        sshd(d_path, "sshd_nf", "AllowStreamLocalForwarding no\n").await?;
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let host = format!("ssh://{user}@127.0.0.1:{port}{}", d.socket.display());
    let host_nf = format!("ssh://{user}@127.0.0.1:{port_nf}{}", d.socket.display());
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
    // ash's cache and forwarded sockets in this run's folder, not the user's.
    let runtime = d_path.join("runtime");
    std::fs::create_dir(&runtime)?;
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let own = |ssh: String| {
        [
            ("AGENTD_SSH_COMMAND", ssh),
            ("AGENTD_REMOTE_ASH", remote_ash.clone()),
            ("XDG_CACHE_HOME", d_path.join("cache").display().to_string()),
            ("XDG_RUNTIME_DIR", runtime.display().to_string()),
        ]
    };
    let local_env = [("AGENTD_SOCKET", d.socket.display().to_string())];
    let fresh_env = own(base);
    let master_env = own(master);
    // Open the masters, which then stay; the second command sets up the forward (or, where
    // the far sshd refuses it, goes to sessions).
    for _ in 0..2 {
        timed(&["--host", &host, "pending"], &master_env).await?;
        timed(&["--host", &host_nf, "pending"], &master_env).await?;
    }

    let (mut local, mut forwarded, mut session, mut fresh) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        local.push(timed(&["pending"], &local_env).await?);
        forwarded.push(timed(&["--host", &host, "pending"], &master_env).await?);
        session.push(timed(&["--host", &host_nf, "pending"], &master_env).await?);
        fresh.push(timed(&["--host", &host, "pending"], &fresh_env).await?);
    }
    // The masters outlive this run otherwise.
    for p in [port, port_nf] {
        let _ = std::process::Command::new("ssh")
            .arg("-o")
            .arg(format!("ControlPath={}/cm-{p}", d_path.display()))
            .args([
                "-O",
                "exit",
                "-p",
                &p.to_string(),
                &format!("{user}@127.0.0.1"),
            ])
            .output();
    }
    d.stop().await?;

    let l = common::median(&mut local);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("ash pending, median of {runs}:");
    println!(
        "  local socket                                {:7.2} ms",
        ms(l)
    );
    for (what, times) in [
        ("--host ssh://, ControlMaster, forwarded", &mut forwarded),
        ("--host ssh://, ControlMaster, session  ", &mut session),
        ("--host ssh://, new connection          ", &mut fresh),
    ] {
        let m = common::median(times);
        println!(
            "  {what}     {:7.2} ms  (+{:.2} ms)",
            ms(m),
            ms(m.saturating_sub(l))
        );
    }
    Ok(())
}

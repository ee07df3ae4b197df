//! A real sshd for the remote tests (Debian's openssh-server, which .ci/run installs) on a
//! loopback port, with a host key and an authorized key made for the test, and `ash` run
//! against it with everything it keeps (its cache, forwarded sockets) in the test's folder.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use agentd_proto::{request_approval, ApprovalRequest, State};
use agentd_testkit::{Poller, TempDaemon};
use tokio::process::{Child, Command};

pub const LIMIT: Duration = Duration::from_secs(30);
const SSHD: &str = "/usr/sbin/sshd";

/// An sshd of the test's own on 127.0.0.1, and the key that logs in to it.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    _child: Child,
}

impl Sshd {
    pub async fn start() -> Sshd {
        Sshd::start_with("", "").await
    }

    /// An sshd whose sessions also get `env` (`NAME=value` words; sshd reads only its first
    /// `SetEnv` line, so they go on the one that sets HOME), with `extra` lines of config.
    pub async fn start_with(env: &str, extra: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: .ci/run installs openssh-server"
        );
        // sshd refuses to start without its privilege-separation folder.
        std::fs::create_dir_all("/run/sshd").expect("can make /run/sshd");
        let dir = tempfile::tempdir().unwrap();
        for key in ["host_key", "id"] {
            let made = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .unwrap();
            assert!(made.success());
        }
        std::fs::copy(
            dir.path().join("id.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into());
        // Sessions get a HOME of their own, so this machine's shell start-up files (which
        // may print or wait) cannot get between ash and the far ash; REMOTE.md says why.
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nAllowUsers {user}\nSetEnv HOME={d}/home {env}\n{extra}",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-f"])
            .arg(dir.path().join("sshd_config"))
            .arg("-E")
            .arg(dir.path().join("sshd.log"))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut poller = Poller::new(LIMIT, "sshd to listen");
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            poller.tick().await;
        }
        Sshd {
            dir,
            port,
            user,
            _child: child,
        }
    }

    /// The `--host` URL of the agentd listening on `socket`.
    pub fn host(&self, socket: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            socket.display()
        )
    }

    pub fn ssh_command(&self) -> String {
        format!("ssh {}", self.ssh_options())
    }

    fn ssh_options(&self) -> String {
        format!(
            "-i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.dir.path().join("id").display()
        )
    }

    /// `ash ARGS` as the operator alice, reaching hosts through this sshd.
    pub async fn ash(&self, args: &[&str]) -> Output {
        self.ash_with(&self.ssh_command(), args).await
    }

    /// `ash ARGS` as alice with `AGENTD_SSH_COMMAND` set to `ssh`.
    pub async fn ash_with(&self, ssh: &str, args: &[&str]) -> Output {
        let run = Command::new(super::ash_bin())
            .args(args)
            .env("AGENTD_SSH_COMMAND", ssh)
            .env("AGENTD_REMOTE_ASH", super::ash_bin())
            .envs(self.ash_env())
            .env("USER", "alice")
            .env_remove("AGENTD_HOST")
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(LIMIT, run)
            .await
            .unwrap_or_else(|_| panic!("ash {args:?} did not finish within {LIMIT:?}"))
            .unwrap()
    }

    /// An ssh command that keeps a ControlMaster (as REMOTE.md sets one up) and notes each
    /// time ssh itself is started, so a test can tell when ash went around it.
    pub fn master_command(&self) -> String {
        let logged = self.dir.path().join("ssh-logged");
        std::fs::write(
            &logged,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nexec ssh \"$@\"\n",
                self.dir.path().join("ssh-runs").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&logged, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!(
            "{} {} -o ControlMaster=auto -o ControlPath={} -o ControlPersist=120",
            logged.display(),
            self.ssh_options(),
            self.control_path().display()
        )
    }

    /// Where the master listens.
    pub fn control_path(&self) -> PathBuf {
        self.dir.path().join(format!("cm-{}", self.port))
    }

    /// How many times ssh was started through [`Sshd::master_command`].
    pub fn ssh_runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("ssh-runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// Asks the master to exit, and waits until it has gone.
    pub async fn stop_master(&self) {
        self.exit_master();
        let mut poller = Poller::new(LIMIT, "the ControlMaster to exit");
        while self.control_path().exists() {
            poller.tick().await;
        }
    }

    fn exit_master(&self) {
        let _ = std::process::Command::new("ssh")
            .arg("-o")
            .arg(format!("ControlPath={}", self.control_path().display()))
            .args(["-O", "exit", "-p", &self.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user))
            .output();
    }

    /// Where ash keeps its cache and its forwarded sockets, in the test's folder, so tests
    /// never share them (or touch the user's own).
    pub fn ash_env(&self) -> [(&'static str, String); 2] {
        let runtime = self.dir.path().join("runtime");
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&runtime);
        [
            (
                "XDG_CACHE_HOME",
                self.dir.path().join("cache").display().to_string(),
            ),
            ("XDG_RUNTIME_DIR", runtime.display().to_string()),
        ]
    }
}

pub fn sensitive(what: &str) -> ApprovalRequest {
    ApprovalRequest {
        tool: "sensitive-op".into(),
        args_json: format!(r#"{{"target":"{what}"}}"#),
        ..ApprovalRequest::default()
    }
}

/// An agent on `d` waiting for a decision on `what`.
pub fn agent(d: &TempDaemon, what: &str) -> tokio::task::JoinHandle<agentd_proto::Outcome> {
    let socket: PathBuf = d.socket().to_path_buf();
    let req = sensitive(what);
    tokio::spawn(async move {
        request_approval(&socket, "claude", &req, |_| {})
            .await
            .unwrap()
    })
}

/// Waits until `d` has `n` pending requests.
pub async fn pending_on(d: &TempDaemon, n: usize) {
    let mut op = d.operator("check").await.unwrap();
    let mut poller = Poller::new(LIMIT, format!("{n} pending requests"));
    while op.list(Some(State::Pending)).await.unwrap().len() != n {
        poller.tick().await;
    }
}

impl Drop for Sshd {
    /// A master outlives the ssh that started it: end it with the test.
    fn drop(&mut self) {
        if self.control_path().exists() {
            self.exit_master();
        }
    }
}

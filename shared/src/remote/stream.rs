//! A connection to a far `ash dial-stdio`: its stdin and stdout as one stream, the last of its
//! stderr kept to say why it failed, and how it ended. The far side is either an `ssh` child of
//! ours or a session opened straight on the user's ControlMaster (see `mux`).

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::command::ssh_command_line;
use super::SshHost;

/// How much of the far side's error output is kept to explain a failure.
const STDERR_KEPT: usize = 4096;

/// How long to wait for the far side to finish and its last words to be read.
const PATIENCE: Duration = Duration::from_secs(2);

type Writer = Pin<Box<dyn AsyncWrite + Send>>;
type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// What runs the far command, to learn its exit status.
enum Far {
    /// Our own ssh child, killed when the stream is dropped.
    Child(Child),
    /// A session on a ControlMaster; the task ends with the far command's exit status. Aborting
    /// it closes our mux connection, and the master then closes the session.
    Mux(JoinHandle<Option<u32>>),
}

/// The far `ash dial-stdio` as a byte stream.
pub struct SshStream {
    to_far: Writer,
    from_far: Reader,
    far: Far,
    stderr: Arc<Mutex<String>>,
    /// The task reading stderr; it ends when the far side's stderr closes.
    reader: Option<JoinHandle<()>>,
    host: SshHost,
}

impl SshStream {
    /// Runs `ssh ... ash dial-stdio` as a child.
    pub(super) fn spawn(host: &SshHost) -> Result<SshStream, io::Error> {
        let line = ssh_command_line(host)?;
        let mut child = Command::new(&line[0])
            .args(&line[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", line[0])))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("ssh started without its pipes"));
        };
        Ok(SshStream::new(
            host,
            Box::pin(stdin),
            Box::pin(stdout),
            stderr,
            Far::Child(child),
        ))
    }

    /// A session opened on a ControlMaster, with the ends of the pipes handed to it.
    pub(super) fn mux(
        host: &SshHost,
        to_far: tokio::net::unix::pipe::Sender,
        from_far: tokio::net::unix::pipe::Receiver,
        stderr: tokio::net::unix::pipe::Receiver,
        exit: JoinHandle<Option<u32>>,
    ) -> SshStream {
        SshStream::new(
            host,
            Box::pin(to_far),
            Box::pin(from_far),
            stderr,
            Far::Mux(exit),
        )
    }

    fn new(
        host: &SshHost,
        to_far: Writer,
        from_far: Reader,
        stderr: impl AsyncRead + Send + Unpin + 'static,
        far: Far,
    ) -> SshStream {
        // Drained as it comes, so a chatty far side never blocks on a full pipe; the tail is kept.
        let kept = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&kept);
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut kept = sink.lock().unwrap_or_else(PoisonError::into_inner);
                kept.push_str(&line);
                kept.push('\n');
                if kept.len() > STDERR_KEPT {
                    let cut = kept.len() - STDERR_KEPT;
                    let cut = (cut..kept.len())
                        .find(|i| kept.is_char_boundary(*i))
                        .unwrap_or(0);
                    kept.drain(..cut);
                }
            }
        });
        SshStream {
            to_far,
            from_far,
            far,
            stderr: kept,
            reader: Some(reader),
            host: host.clone(),
        }
    }

    /// The far command's exit status, once it has ended (waiting up to [`PATIENCE`]).
    pub(super) async fn exit_code(&mut self) -> Option<i32> {
        match &mut self.far {
            Far::Child(child) => tokio::time::timeout(PATIENCE, child.wait())
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|s| s.code()),
            Far::Mux(exit) => tokio::time::timeout(PATIENCE, exit)
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
                .and_then(|code| i32::try_from(code).ok()),
        }
    }

    /// Why the connection ended, in ssh's (or the far side's) words, once it has: waits (up to
    /// two seconds each) for the far side to exit and for its last words to be read.
    pub async fn failure(&mut self) -> String {
        let code = self.exit_code().await;
        // The far side has exited: its stderr closes, and the reader ends once it has kept the
        // last words.
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(PATIENCE, reader).await;
        }
        let said = self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::to_string);
        let said = said.map(|s| crate::text::escape_hidden(&s, false).0);
        match (code, said) {
            (Some(127), Some(said)) => format!("no ash on {} ({said})", self.host.host),
            (Some(127), None) => format!("no ash on {}", self.host.host),
            (_, Some(said)) => said,
            (Some(code), None) => format!("ssh exited with status {code}"),
            (None, None) => "the connection closed".into(),
        }
    }
}

impl Drop for SshStream {
    fn drop(&mut self) {
        if let Far::Mux(exit) = &self.far {
            exit.abort();
        }
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.from_far.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.to_far.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.to_far.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.to_far.as_mut().poll_shutdown(cx)
    }
}

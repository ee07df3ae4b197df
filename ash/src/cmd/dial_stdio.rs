//! `ash dial-stdio`: relays stdin and stdout to the local agentd socket, byte for byte, until
//! either side closes. It is what `ash --host ssh://HOST` runs on the far side through ssh
//! (as `docker -H ssh://` runs `docker system dial-stdio`): agentd sees the ssh user's own uid
//! as the peer, so who may decide there is decided exactly as for a local connection.

use agentd_proto::Endpoint;
use anyhow::Context;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the socket this would relay to, and exit (ash on the near side asks, to have its
    /// ssh ControlMaster forward that socket directly)
    #[arg(long)]
    pub print_socket: bool,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    if args.print_socket {
        println!("{}", globals.socket.display());
        return Ok(SUCCESS);
    }
    let stream = Endpoint::Socket(globals.socket.clone())
        .open()
        .await
        .with_context(|| {
            format!(
                "cannot reach agentd at {} (is it running there?)",
                globals.socket.display()
            )
        })?;
    let (from_agentd, to_agentd) = tokio::io::split(stream);
    // Either side closing ends the relay: the client hung up, or agentd closed the connection.
    tokio::select! {
        relayed = relay(tokio::io::stdin(), to_agentd) => relayed.context("relaying to agentd")?,
        relayed = relay(from_agentd, tokio::io::stdout()) => relayed.context("relaying from agentd")?,
    }
    Ok(SUCCESS)
}

/// Copies `from` to `to` until `from` ends, flushing after every read: stdout is line-buffered,
/// and a frame (binary, rarely ending in a newline) must not wait in its buffer for the next
/// one.
async fn relay(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
    }
}

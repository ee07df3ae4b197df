//! `ash dial-stdio`: relays stdin and stdout to the local agentd socket, byte for byte, until
//! either side closes. It is what `ash --host ssh://HOST` runs on the far side through ssh
//! (as `docker -H ssh://` runs `docker system dial-stdio`): agentd sees the ssh user's own uid
//! as the peer, so who may decide there is decided exactly as for a local connection.

use agentd_proto::Endpoint;
use anyhow::Context;
use tokio::io::AsyncWriteExt;

use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(globals: &Globals, _args: Args) -> anyhow::Result<u8> {
    let stream = Endpoint::Socket(globals.socket.clone())
        .open()
        .await
        .with_context(|| {
            format!(
                "cannot reach agentd at {} (is it running there?)",
                globals.socket.display()
            )
        })?;
    let (mut from_agentd, mut to_agentd) = tokio::io::split(stream);
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let up = async {
        let copied = tokio::io::copy(&mut stdin, &mut to_agentd).await;
        let _ = to_agentd.shutdown().await;
        copied
    };
    let down = async {
        let copied = tokio::io::copy(&mut from_agentd, &mut stdout).await;
        let _ = stdout.flush().await;
        copied
    };
    // Either side closing ends the relay: the client hung up, or agentd closed the connection.
    tokio::select! {
        copied = up => { copied.context("relaying to agentd")?; }
        copied = down => { copied.context("relaying from agentd")?; }
    }
    Ok(SUCCESS)
}

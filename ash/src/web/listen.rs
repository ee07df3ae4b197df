//! Where `ash web` listens: loopback by default, a Unix socket for a proxy in front, or another
//! address only with TLS (a certificate and key given) or an explicit `--insecure-listen`.
//! TLS handshakes run in tasks of their own with a deadline, so a client that stalls in one
//! holds up nobody else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::outcome::UsageError;

/// How long a client may take over its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// TLS connections waiting for the server to take them.
const READY: usize = 64;

pub enum Bound {
    Tcp(TcpListener, SocketAddr),
    Tls(TlsListener, SocketAddr),
    Unix(UnixListener, PathBuf),
}

impl Bound {
    /// The address in the start-up line.
    pub fn shown(&self) -> String {
        match self {
            Bound::Tcp(_, addr) => format!("http://{addr}"),
            Bound::Tls(_, addr) => format!("https://{addr}"),
            Bound::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(_, addr) | Bound::Tls(_, addr) => Some(*addr),
            Bound::Unix(..) => None,
        }
    }
}

/// What `--listen`, `--tls-cert`, `--tls-key` and `--insecure-listen` asked for.
pub struct Wanted<'a> {
    pub listen: &'a str,
    pub tls: Option<(&'a Path, &'a Path)>,
    pub insecure: bool,
}

pub async fn bind(w: &Wanted<'_>) -> anyhow::Result<Bound> {
    if let Some(path) = w.listen.strip_prefix("unix:") {
        if w.tls.is_some() {
            return Err(UsageError(
                "--tls-cert with --listen unix:PATH: the proxy in front holds the certificate"
                    .into(),
            )
            .into());
        }
        let path = PathBuf::from(path);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        return Ok(Bound::Unix(listener, path));
    }
    let addr: SocketAddr = w.listen.parse().map_err(|_| {
        UsageError(format!(
            "--listen {}: not ADDR:PORT (127.0.0.1:8478) or unix:PATH",
            w.listen
        ))
    })?;
    let acceptor = match w.tls {
        Some((cert, key)) => Some(acceptor(cert, key)?),
        None => None,
    };
    if !addr.ip().is_loopback() && acceptor.is_none() && !w.insecure {
        return Err(UsageError(format!(
            "--listen {addr} would put the queue on the network in the clear; give --tls-cert and --tls-key, keep it on 127.0.0.1 and reach it through tailscale serve, an ssh tunnel or a TLS proxy (docs/PHONE.md), or pass --insecure-listen"
        ))
        .into());
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    Ok(match acceptor {
        Some(acceptor) => Bound::Tls(TlsListener::start(listener, acceptor, addr), addr),
        None => Bound::Tcp(listener, addr),
    })
}

/// The TLS configuration from PEM files: the certificate chain and its private key.
fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| UsageError(format!("--tls-cert {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(UsageError(format!(
            "--tls-cert {}: no certificate in it (PEM, -----BEGIN CERTIFICATE-----)",
            cert.display()
        ))
        .into());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| UsageError(format!("--tls-key {}: {e}", key.display())))?;
    // ring, as ureq's client uses: aws-lc-rs (rustls' post-quantum default) builds C with
    // cmake, minutes on a small machine, for key exchange a phone on a tailnet can do without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            UsageError(format!(
                "--tls-cert {} and its --tls-key: {e}",
                cert.display()
            ))
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and hands over those whose TLS handshake finished in time.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    fn start(listener: TcpListener, acceptor: TlsAcceptor, addr: SocketAddr) -> TlsListener {
        let (tx, ready) = mpsc::channel(READY);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    // Out of file descriptors and the like: give it a moment, as axum does.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                    {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener { ready, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task only ends with the process.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Serves `app` until Ctrl-C (open pages hold event streams that never end by themselves).
pub async fn serve(bound: Bound, app: axum::Router) -> anyhow::Result<()> {
    let stopped = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match bound {
        Bound::Tcp(l, _) => tokio::select! {
            served = std::future::IntoFuture::into_future(axum::serve(l, app)) => served?,
            () = stopped => {}
        },
        Bound::Tls(l, _) => tokio::select! {
            served = std::future::IntoFuture::into_future(axum::serve(l, app)) => served?,
            () = stopped => {}
        },
        Bound::Unix(l, path) => {
            tokio::select! {
                served = std::future::IntoFuture::into_future(axum::serve(l, app)) => served?,
                () = stopped => {}
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

//! Where `ash web` listens and how it serves: loopback by default, a Unix socket for a proxy in
//! front, or another address only with TLS (a certificate and key given) or an explicit
//! `--insecure-listen`. Each connection runs in a task of its own (a TLS handshake included,
//! with a deadline), so one that stalls holds up nobody else; connections are capped in all and
//! per peer address (a Unix socket's peers count as one), and one that is slow with its headers
//! or carries nothing for a while is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::outcome::UsageError;

/// How long a client may take over its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

pub enum Bound {
    Tcp(TcpListener, SocketAddr),
    Tls(TcpListener, SocketAddr, TlsAcceptor),
    Unix(UnixListener, PathBuf),
}

impl Bound {
    /// The address in the start-up line.
    pub fn shown(&self) -> String {
        match self {
            Bound::Tcp(_, addr) => format!("http://{addr}"),
            Bound::Tls(_, addr, _) => format!("https://{addr}"),
            Bound::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(_, addr) | Bound::Tls(_, addr, _) => Some(*addr),
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
        Some(acceptor) => Bound::Tls(listener, addr, acceptor),
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

/// Every connection open at once; past it a new one is closed at once.
const MAX_CONNECTIONS: usize = 256;

/// Connections open at once from one address (an IPv6 /64 counts as one). Behind `tailscale serve`, an ssh tunnel or a
/// proxy every device comes from loopback, so this is also what they share: a browser holds
/// six at most per site.
const MAX_PER_PEER: usize = 64;

/// How long a client may take to send a request's headers (on a kept-alive connection, from
/// the end of the last answer).
const HEADER_READ: Duration = Duration::from_secs(10);

/// How long a connection may carry nothing either way before it is closed: hyper times
/// headers, not a body that never comes or an answer nobody reads. An open page's event stream
/// sends a keep-alive every 15 s, so it never idles this long.
const IDLE: Duration = Duration::from_secs(30);

/// Who holds the connections.
#[derive(Default)]
struct Limits {
    open: Mutex<HashMap<Option<IpAddr>, usize>>,
    total: AtomicUsize,
}

/// The address a peer is counted under: an IPv4 address, or an IPv6 address's /64 (one site's
/// network, where a peer has as many addresses as it likes).
fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// One admitted connection; dropping it gives the place back.
struct Ticket {
    limits: Arc<Limits>,
    peer: Option<IpAddr>,
}

impl Limits {
    fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Option<Ticket> {
        let peer = peer.map(network);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        // Nothing is written for a refused peer, so refusals leave no entries behind.
        if self.total.load(Ordering::Relaxed) >= MAX_CONNECTIONS
            || open.get(&peer).copied().unwrap_or(0) >= MAX_PER_PEER
        {
            return None;
        }
        *open.entry(peer).or_default() += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Ticket {
            limits: Arc::clone(self),
            peer,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
        self.limits.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `app` until Ctrl-C (open pages hold event streams that never end by themselves).
pub async fn serve(bound: Bound, app: axum::Router) -> anyhow::Result<()> {
    let limits = Arc::new(Limits::default());
    let stopped = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match bound {
        Bound::Tcp(l, _) => tokio::select! {
            () = accept_tcp(l, None, app, limits) => {}
            () = stopped => {}
        },
        Bound::Tls(l, _, acceptor) => tokio::select! {
            () = accept_tcp(l, Some(acceptor), app, limits) => {}
            () = stopped => {}
        },
        Bound::Unix(l, path) => {
            tokio::select! {
                () = accept_unix(&l, app, limits) => {}
                () = stopped => {}
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

async fn accept_tcp(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: Arc<Limits>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            // Out of file descriptors and the like: give it a moment.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(ticket) = limits.admit(Some(peer.ip())) else {
            continue;
        };
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _ticket = ticket;
            match tls {
                None => connection(tcp, app).await,
                Some(acceptor) => {
                    // The handshake runs here, beside every other connection, with a deadline.
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                    {
                        connection(stream, app).await;
                    }
                }
            }
        });
    }
}

async fn accept_unix(listener: &UnixListener, app: axum::Router, limits: Arc<Limits>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(ticket) = limits.admit(None) else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _ticket = ticket;
            connection(stream, app).await;
        });
    }
}

/// One HTTP/1.1 connection, closed when its headers are slow or it carries nothing too long.
async fn connection<I>(io: I, app: axum::Router)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let watched = Watched {
        io,
        start: Instant::now(),
        last: Arc::new(AtomicU64::new(0)),
    };
    let (start, last) = (watched.start, Arc::clone(&watched.last));
    let service = hyper_util::service::TowerToHyperService::new(app);
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ)
        .serve_connection(hyper_util::rt::TokioIo::new(watched), service);
    // Dropping the connection closes it.
    tokio::select! {
        _ = served => {}
        () = idled(start, last) => {}
    }
}

/// Returns once the connection has carried nothing for `IDLE`.
async fn idled(start: Instant, last: Arc<AtomicU64>) {
    loop {
        let now = start.elapsed().as_millis() as u64;
        let quiet = now.saturating_sub(last.load(Ordering::Relaxed));
        let idle = IDLE.as_millis() as u64;
        if quiet >= idle {
            return;
        }
        tokio::time::sleep(Duration::from_millis(idle - quiet)).await;
    }
}

/// A connection's stream that notes when it last carried bytes.
struct Watched<I> {
    io: I,
    start: Instant,
    /// Milliseconds from `start` to the last read or write.
    last: Arc<AtomicU64>,
}

impl<I> Watched<I> {
    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_network_counts_as_one_peer_and_ipv4_addresses_apart() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_ne!(
            network("192.0.2.7".parse().unwrap()),
            network("192.0.2.8".parse().unwrap())
        );
    }

    #[test]
    fn a_refused_peer_leaves_nothing_behind_and_a_ticket_gives_its_place_back() {
        let limits = Arc::new(Limits::default());
        let mut held = Vec::new();
        for n in 0..MAX_CONNECTIONS {
            let ip = IpAddr::from([10, 0, (n / 64) as u8, 1]);
            held.push(limits.admit(Some(ip)).unwrap());
        }
        for n in 0..100u8 {
            assert!(limits.admit(Some(IpAddr::from([10, 9, n, 1]))).is_none());
        }
        assert_eq!(limits.open.lock().unwrap().len(), 4);
        held.pop();
        assert!(limits.admit(Some(IpAddr::from([10, 9, 0, 1]))).is_some());
        drop(held);
        assert_eq!(limits.total.load(Ordering::Relaxed), 0);
        assert!(limits.open.lock().unwrap().is_empty());
    }
}

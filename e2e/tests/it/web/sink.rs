//! A local stand-in for an ntfy server: it records each HTTP request exactly as it arrived
//! (method, path, headers, body) and answers as ntfy does, or with the status a test picks;
//! over plain HTTP, or HTTPS with a certificate a test made.

use std::net::SocketAddr;

use agentd_testkit::Poller;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::LIMIT;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub struct Sink {
    pub addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Sink {
    /// Answers 200 with ntfy's message JSON, or the status `status` picks for a request.
    pub async fn start(status: fn(&Seen) -> u16) -> Sink {
        Sink::serve(status, None).await
    }

    /// The same over HTTPS, with this certificate and key (PEM files).
    pub async fn start_tls(status: fn(&Seen) -> u16, cert: &Path, key: &Path) -> Sink {
        let chain = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        // ring, as ash's own TLS uses.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Sink::serve(status, Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn serve(status: fn(&Seen) -> u16, tls: Option<TlsAcceptor>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (tx, tls) = (tx.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => answer(conn, status, tx).await,
                        // A client that refuses the certificate ends the handshake: no request.
                        Some(acceptor) => {
                            if let Ok(conn) = acceptor.accept(conn).await {
                                answer(conn, status, tx).await;
                            }
                        }
                    }
                });
            }
        });
        Sink { addr, seen }
    }

    /// The next request the sink received.
    pub async fn next(&mut self) -> Seen {
        let mut poller = Poller::new(LIMIT, "a request to reach the push sink");
        loop {
            tokio::select! {
                seen = self.seen.recv() => return seen.unwrap(),
                _ = poller.tick() => {}
            }
        }
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: S,
    status: fn(&Seen) -> u16,
    tx: mpsc::UnboundedSender<Seen>,
) {
    let Some(req) = read(&mut conn).await else {
        return;
    };
    let code = status(&req);
    let body = if code == 200 {
        r#"{"id":"hK3fYtvUZx","time":1765000000,"event":"message","topic":"t"}"#
    } else {
        r#"{"code":40401,"http":404,"error":"page not found"}"#
    };
    let answer = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(answer.as_bytes()).await;
    let _ = conn.shutdown().await;
    let _ = tx.send(req);
}

async fn read<S: AsyncRead + Unpin>(conn: &mut S) -> Option<Seen> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

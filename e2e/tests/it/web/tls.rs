//! `ash web --tls-cert --tls-key`: HTTPS with a certificate openssl made, checked by curl
//! against that certificate; a client stalled in its handshake holds up nobody; the cookie is
//! Secure; listening beyond loopback is allowed with TLS and refused in the clear; a bad
//! certificate or key is one line and exit 2.

use std::path::{Path, PathBuf};

use super::*;

use agentd::Settings;

/// A self-signed certificate for 127.0.0.1 and its key, made by openssl.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

/// `curl` over HTTPS trusting only `cert`: (status, headers and body).
async fn curl(cert: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", "--cacert"])
        .arg(cert)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_it_serves_https_only_and_a_stalled_handshake_blocks_nobody() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(state.path());
    let web = Web::start_with(
        &d,
        state.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    let base = format!("https://{}", web.addr);
    assert!(
        web.pair.starts_with(&format!("{base}/pair/")),
        "{}",
        web.pair
    );

    // A client that connects and never says hello.
    let _stalled = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    let (ok, reply) = curl(&cert, &[&format!("{base}/")]).await;
    assert!(ok, "{reply}");
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");

    // Pairing over HTTPS gives a Secure cookie.
    let token = web.pair.rsplit('/').next().unwrap();
    let (ok, reply) = curl(
        &cert,
        &[
            "-X",
            "POST",
            "--data",
            &format!("token={token}&name=pixel"),
            &format!("{base}/pair"),
        ],
    )
    .await;
    assert!(ok, "{reply}");
    let cookie = reply
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {reply}"));
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP on the TLS port gets no page.
    let (ok, reply) = curl(&cert, &[&format!("http://{}/", web.addr)]).await;
    assert!(!ok || !reply.contains("HTTP/1.1 401"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_it_needs_tls_and_a_bad_certificate_is_one_line() {
    let state = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(state.path());
    let garbage = state.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = certificate(other.path());
    let ash = |args: Vec<String>| {
        Command::new(common::ash_bin())
            .args(["web"])
            .args(&args)
            .env("AGENTD_SOCKET", "/nonexistent/agentd.sock")
            .env("AGENTD_STATE_DIR", state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    for (args, says) in [
        (
            vec!["--listen".into(), "0.0.0.0:0".into()],
            "in the clear".to_string(),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&garbage),
                "--tls-key".into(),
                s(&key),
            ],
            format!("--tls-cert {}: no certificate in it", garbage.display()),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&cert),
                "--tls-key".into(),
                s(&garbage),
            ],
            format!("--tls-key {}", garbage.display()),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&cert),
                "--tls-key".into(),
                s(&other_key),
            ],
            "and its --tls-key".to_string(),
        ),
        (vec!["--tls-cert".into(), s(&cert)], "--tls-key".to_string()),
    ] {
        let out = ash(args.clone()).wait_with_output().await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&says), "{args:?}: {err}");
        // clap's own usage message for the flag left out is longer.
        if args.len() != 2 || says.contains("clear") {
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        }
    }
    // With TLS, another address is allowed: it starts and says where it listens.
    let mut child = ash(vec![
        "--listen".into(),
        "0.0.0.0:0".into(),
        "--tls-cert".into(),
        s(&cert),
        "--tls-key".into(),
        s(&key),
    ]);
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(LIMIT, out.next_line())
        .await
        .expect("ash web to start")
        .unwrap()
        .unwrap();
    assert!(first.contains(" at https://0.0.0.0:"), "{first}");
}

/// Whether the server closed `conn` (a read ends) within `limit`.
async fn closed_within(conn: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, conn.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_a_silent_one_is_closed() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;
    // 256 connections that never send a request fill every place...
    let mut idle = Vec::new();
    for _ in 0..256 {
        idle.push(tokio::net::TcpStream::connect(web.addr).await.unwrap());
    }
    // ...so the next one is closed at once, long before any idle one times out.
    let mut more = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    assert!(
        closed_within(&mut more, Duration::from_secs(5)).await,
        "a connection past the cap was kept open"
    );
    // A connection that says nothing is closed after the 10 s allowed for a request's headers.
    assert!(
        closed_within(&mut idle[0], LIMIT).await,
        "a silent connection was kept open"
    );
    // Once the silent ones are gone, pages answer again.
    let mut poller = Poller::new(LIMIT, "ash web to answer again");
    loop {
        let mut conn = tokio::net::TcpStream::connect(web.addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ask = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            web.addr
        );
        let _ = conn.write_all(ask.as_bytes()).await;
        let mut reply = Vec::new();
        let _ = conn.read_to_end(&mut reply).await;
        if reply.starts_with(b"HTTP/1.1 401") {
            break;
        }
        poller.tick().await;
    }
}

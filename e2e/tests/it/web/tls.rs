//! `ash web --tls-cert --tls-key`: HTTPS with a certificate openssl made, checked by curl
//! against that certificate; a client stalled in its handshake holds up nobody and is given up;
//! the cookie is Secure; listening beyond loopback is allowed with TLS and refused in the clear;
//! a bad certificate or key is one line and exit 2. And for any listener: connections capped
//! per address and in all, silent and idle ones closed.

use std::path::{Path, PathBuf};

use super::*;

use agentd::Settings;

/// A self-signed certificate for 127.0.0.1 and its key, made by openssl.
pub(super) fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
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

/// A certificate authority and a certificate for 127.0.0.1 it signed, made by openssl, as a
/// self-hosted server with a CA of its own has: (the CA's certificate, the server's
/// certificate, the server's key).
pub(super) fn authority_and_server(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (csr, cert, key) = (
        dir.join("server.csr"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let made = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
    };
    let os = |s: &str| std::ffi::OsStr::new(s).to_os_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ]
    .map(os);
    let mut a = vec![os("req"), os("-x509")];
    a.extend(ec.clone());
    a.extend([
        os("-days"),
        os("1"),
        os("-subj"),
        os("/CN=test CA"),
        os("-keyout"),
    ]);
    a.extend([ca_key.clone().into(), os("-out"), ca.clone().into()]);
    openssl(&a.iter().map(|x| x.as_os_str()).collect::<Vec<_>>());
    let mut a = vec![os("req")];
    a.extend(ec);
    a.extend([os("-subj"), os("/CN=127.0.0.1"), os("-keyout")]);
    a.extend([key.clone().into(), os("-out"), csr.clone().into()]);
    openssl(&a.iter().map(|x| x.as_os_str()).collect::<Vec<_>>());
    let a: Vec<std::ffi::OsString> = vec![
        os("x509"),
        os("-req"),
        os("-days"),
        os("1"),
        os("-in"),
        csr.into(),
        os("-CA"),
        ca.clone().into(),
        os("-CAkey"),
        ca_key.into(),
        os("-CAcreateserial"),
        os("-extfile"),
        ext.into(),
        os("-out"),
        cert.clone().into(),
    ];
    openssl(&a.iter().map(|x| x.as_os_str()).collect::<Vec<_>>());
    (ca, cert, key)
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
    let mut stalled = tokio::net::TcpStream::connect(web.addr).await.unwrap();
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

    // The stalled handshake is given up after its 10 s.
    assert!(
        closed_within(&mut stalled, LIMIT).await,
        "a stalled TLS handshake was kept open"
    );

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

/// Whether the server closed `conn` (a read ends) within `limit`; what it still sends before
/// (the rest of an answer) is read past.
async fn closed_within(conn: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let drained = async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, drained).await.is_ok()
}

/// A connection to `to` from the loopback address `from` (127.0.0.0/8 is all this machine).
async fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_address_and_in_all_and_silent_ones_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = TempDaemon::start(Settings::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let web = Web::start(&d, state.path()).await;

    // A kept-alive connection that asks nothing more after its first answer is closed.
    let mut kept = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    let ask = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", web.addr);
    kept.write_all(ask.as_bytes()).await.unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 401");

    // A request whose body never comes (headers sent, then nothing).
    let mut stalled = tokio::net::TcpStream::connect(web.addr).await.unwrap();
    let post = format!(
        "POST /pair HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=",
        web.addr
    );
    stalled.write_all(post.as_bytes()).await.unwrap();

    // 64 connections from one address that never send a request fill its places: the next
    // from there is closed at once, long before any idle one times out...
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(connect_from([127, 0, 0, 2], web.addr).await);
    }
    let mut more = connect_from([127, 0, 0, 2], web.addr).await;
    assert!(
        closed_within(&mut more, Duration::from_secs(5)).await,
        "a 65th connection from one address was kept open"
    );
    // ...and 256 in all (the kept-alive one, 64 + 64 + 64 + 63) fill every place: the next,
    // from a fresh address, is closed too.
    for (from, n) in [
        ([127, 0, 0, 3], 64),
        ([127, 0, 0, 4], 64),
        ([127, 0, 0, 5], 63),
    ] {
        for _ in 0..n {
            idle.push(connect_from(from, web.addr).await);
        }
    }
    let mut more = connect_from([127, 0, 0, 6], web.addr).await;
    assert!(
        closed_within(&mut more, Duration::from_secs(5)).await,
        "a connection past 256 was kept open"
    );
    // A connection that says nothing is closed after the 10 s allowed for a request's headers,
    // and so is a kept-alive one after its answer.
    assert!(
        closed_within(&mut idle[0], LIMIT).await,
        "a silent connection was kept open"
    );
    assert!(
        closed_within(&mut kept, Duration::from_secs(60)).await,
        "an idle kept-alive connection was kept open"
    );
    // ...and one stalled in its body, once it has carried nothing for 30 s.
    assert!(
        closed_within(&mut stalled, Duration::from_secs(60)).await,
        "a connection stalled in a request's body was kept open"
    );
    // Once the silent ones are gone, pages answer again.
    drop(idle);
    let mut poller = Poller::new(LIMIT, "ash web to answer again");
    loop {
        let mut conn = tokio::net::TcpStream::connect(web.addr).await.unwrap();
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

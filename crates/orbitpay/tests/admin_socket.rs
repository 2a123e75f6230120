//! The socket itself: file lifecycle and mode, peer uid checks, limits, isolation of slow
//! clients, and `curl --unix-socket`.

mod admin_support;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use admin_support::*;
use orbitpay::admin::{ServeError, SocketOptions, bind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

fn own_uid() -> u32 {
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid()
}

#[tokio::test]
async fn the_socket_file_has_its_mode_and_is_removed_on_shutdown() {
    let mut h = Harness::start().await;
    let meta = std::fs::symlink_metadata(&h.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "default mode");
    assert_eq!(h.get("/healthz").await.status, 200);
    h.stop().await;
    assert!(!h.socket.exists(), "removed on clean shutdown");

    let mut h = Harness::start_with(|o, _| o.mode = 0o600).await;
    assert_eq!(
        std::fs::metadata(&h.socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    h.stop().await;
}

/// Watching the directory while the socket is bound: its name appears once, with its mode and
/// group already set, and nothing changes its attributes afterwards (before, it appeared with
/// the umask's mode and was chmod-ed after, leaving a window). Nothing else is left behind.
#[tokio::test]
async fn the_socket_appears_only_with_its_final_mode_and_group() {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let gid = std::fs::metadata(dir.path()).unwrap().gid();
    let watch = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
    watch
        .add_watch(
            dir.path(),
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ATTRIB | AddWatchFlags::IN_MOVED_TO,
        )
        .unwrap();

    let options = SocketOptions {
        mode: 0o640,
        group: Some(gid.to_string()),
        ..socket_options(&path)
    };
    let listener = bind(options).await.unwrap();

    let seen: Vec<AddWatchFlags> = watch
        .read_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.name.as_deref() == Some(std::ffi::OsStr::new("admin.sock")))
        .map(|e| e.mask)
        .collect();
    assert_eq!(
        seen,
        [AddWatchFlags::IN_CREATE],
        "appeared, then left alone"
    );
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!(meta.gid(), gid);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["admin.sock"]);
    assert!(UnixStream::connect(&path).await.is_ok());
    drop(listener);
    assert!(!path.exists());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    // A socket file left behind by a crashed daemon: nothing answers on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listener = bind(socket_options(&path))
        .await
        .expect("a stale socket is replaced");

    // A live server keeps its socket.
    match bind(socket_options(&path)).await {
        Err(ServeError::InUse(p)) => assert_eq!(p, path),
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a live socket must not be replaced"),
    }
    assert!(
        UnixStream::connect(&path).await.is_ok(),
        "the first server still answers"
    );
    drop(listener);
    assert!(!path.exists(), "dropping the listener removes its socket");

    // Something that is not a socket is never removed.
    std::fs::write(&path, b"precious").unwrap();
    assert!(matches!(
        bind(socket_options(&path)).await,
        Err(ServeError::NotASocket(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[tokio::test]
async fn a_uid_not_on_the_allow_list_gets_403() {
    let me = own_uid();
    let h = Harness::start_with(|o, _| o.allowed_uids = vec![me.wrapping_add(1)]).await;
    for path in ["/healthz", "/v1/status", "/v1/sessions"] {
        assert_error(&h.get(path).await, 403, "FORBIDDEN");
    }

    let h = Harness::start_with(|o, _| o.allowed_uids = vec![me.wrapping_add(1), me]).await;
    assert_eq!(h.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn oversize_bodies_get_413_with_or_without_a_length() {
    let h = Harness::start().await;
    let big = format!(
        r#"{{"amount":"1","asset":"native","order_id":"{}"}}"#,
        "x".repeat(65 * 1024)
    );
    assert_error(
        &h.post("/v1/sessions", Some("big-1"), &big).await,
        413,
        "PAYLOAD_TOO_LARGE",
    );

    // Chunked, no Content-Length: refused once the limit is crossed.
    let mut request = b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nIdempotency-Key: big-2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let chunk = vec![b' '; 8 * 1024];
    for _ in 0..10 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_exchange(&h.socket, &request).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("PAYLOAD_TOO_LARGE"), "{body}");

    // A body just under the limit is fine.
    let fits = format!(
        r#"{{"amount":"1","asset":"native","order_id":"ok","metadata":{{"pad":"{}"}}}}"#,
        "y".repeat(15 * 1024)
    );
    assert_eq!(
        h.post("/v1/sessions", Some("fits"), &fits).await.status,
        201
    );
}

/// Sends `bytes` one per second on a connection of its own; returns what the server answered
/// and when the server closed (or the timeout).
async fn trickle(socket: std::path::PathBuf, bytes: Vec<u8>) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = UnixStream::connect(&socket).await.unwrap();
    let mut answer = Vec::new();
    let mut closed = false;
    for b in bytes {
        if stream.write_all(&[b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Stop as soon as the server has answered or closed.
        let mut buf = [0u8; 4096];
        match stream.try_read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    if !closed {
        let _ =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_slow_client_does_not_delay_others_and_is_cut_off() {
    let h = Harness::start().await;
    // One byte a second through the headers...
    let slow_headers = tokio::spawn(trickle(
        h.socket.clone(),
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n".to_vec(),
    ));
    // ...and one byte a second through a body.
    let body = r#"{"amount":"1","asset":"native"}"#;
    let mut slow_body_stream = UnixStream::connect(&h.socket).await.unwrap();
    slow_body_stream
        .write_all(
            format!(
                "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nIdempotency-Key: slow\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let slow_body = tokio::spawn(async move {
        let started = Instant::now();
        for b in body.bytes() {
            if slow_body_stream.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if started.elapsed() > Duration::from_secs(8) {
                break;
            }
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            slow_body_stream.read_to_end(&mut answer),
        )
        .await;
        String::from_utf8_lossy(&answer).into_owned()
    });

    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..3 {
        let started = Instant::now();
        let r = h
            .post(
                "/v1/sessions",
                Some(&format!("fast-{i}")),
                r#"{"amount":"2","asset":"native"}"#,
            )
            .await;
        assert_eq!(r.status, 201);
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(h.get("/healthz").await.status, 200);
    }

    let (answer, elapsed) = slow_headers.await.unwrap();
    assert!(
        elapsed < Duration::from_secs(15),
        "the header timeout cuts the client off ({elapsed:?})"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    let answer = slow_body.await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "the body timeout answers 408: {answer}"
    );
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
}

/// A keep-alive connection that has had its answer and stays open, as a client pool keeps it.
async fn idle_keep_alive(socket: &std::path::Path) -> UnixStream {
    let mut s = UnixStream::connect(socket).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    s
}

#[tokio::test]
async fn idle_and_silent_connections_hold_no_request_slot() {
    let h = Harness::start_with(|o, _| o.max_connections = 2).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(UnixStream::connect(&h.socket).await.unwrap());
        open.push(idle_keep_alive(&h.socket).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in ["/healthz", "/v1/sessions?limit=1"] {
        let started = Instant::now();
        let r = h.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        eprintln!(
            "{path} with every connection slot idle or silent: {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{path} took {:?} with max_connections idle or silent connections open",
            started.elapsed()
        );
    }
    drop(open);
}

#[tokio::test]
async fn probes_get_through_while_every_slot_is_busy() {
    let h = Harness::start_with(|o, _| o.max_connections = 1).await;
    // A request whose body trickles in holds the only slot.
    let mut busy = UnixStream::connect(&h.socket).await.unwrap();
    busy.write_all(
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nIdempotency-Key: busy\r\nContent-Length: 40\r\n\r\n{",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for path in ["/healthz", "/readyz"] {
        let started = Instant::now();
        let r = h.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    drop(busy);
}

#[tokio::test]
async fn open_connections_are_bounded_and_silent_ones_are_cut_off() {
    let h = Harness::start_with(|o, _| o.max_connections = 1).await;
    // OPEN_PER_SLOT silent connections fill the open-connection bound until the header
    // timeout (3 s) closes them.
    let mut silent = Vec::new();
    for _ in 0..orbitpay::admin::OPEN_PER_SLOT {
        silent.push(UnixStream::connect(&h.socket).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let r = h.get("/healthz").await;
    assert_eq!(r.status, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "the next connection waits for the silent ones to be cut off ({waited:?})"
    );
    drop(silent);
}

#[tokio::test]
async fn curl_works_on_the_socket() {
    let curl = std::process::Command::new("curl").arg("--version").output();
    if !curl.is_ok_and(|o| o.status.success()) {
        eprintln!("NOTE: curl is not installed; skipping the curl --unix-socket test");
        return;
    }
    let h = Harness::start().await;
    let socket = h.socket.to_str().unwrap().to_owned();
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--unix-socket",
            &socket,
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ])
        .args([
            "-H",
            "Idempotency-Key: curl-1",
            "-H",
            "Content-Type: application/json",
        ])
        .args([
            "-d",
            r#"{"amount": "12.5", "asset": "native"}"#,
            "http://localhost/v1/sessions",
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "201", "{text}");
    let session: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(session["amount"], "12.5000000");

    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--unix-socket",
            &socket,
            "http://localhost/v1/status",
        ])
        .output()
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["sessions"]["pending"], 1);
}

//! Graceful shutdown of the API (`passcom_http::serve_until`) over a real peer: once the
//! shutdown signal fires, the server stops accepting, idle keep-alive connections do not hold
//! it, and a connection still busy (an open event stream) holds it for at most the drain
//! bound, the request deadline. Every wait is bounded.

use passcom_net::PeerConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const DRAIN: Duration = Duration::from_secs(2);

/// Sends `head` on `s` and reads until the end of the response headers (at most 10 s).
fn exchange(s: &mut TcpStream, head: &str) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Serves the API of `handle` (accounts and token in `data`) until the returned sender fires.
fn serve(
    rt: &tokio::runtime::Runtime,
    handle: &passcom_net::PeerHandle,
    data: &Path,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut cfg = passcom_http::ApiConfig::new(handle.read(|n| n.config().purchase_timeout_ms));
    cfg.handler_timeout = DRAIN;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(passcom_http::serve_until(
        handle.clone(),
        listener,
        data.to_owned(),
        cfg,
        async move {
            let _ = rx.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(&addr) {
            let head = exchange(&mut s, "GET /api/health HTTP/1.0\r\n\r\n");
            if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the API did not answer in 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (addr, tx, server)
}

/// Fires `stop` and waits (at most 15 s) for the server to end; returns how long it took.
fn stop(
    rt: &tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
) -> Duration {
    let start = Instant::now();
    stop.send(()).unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(15), server).await })
        .expect("the server ended within 15 s of the signal")
        .expect("the server task did not panic")
        .expect("the server ended without an error");
    start.elapsed()
}

#[test]
fn shutdown_drains_for_a_bounded_time_and_stops_accepting() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let handle = rt
        .block_on(passcom_net::start(PeerConfig::new("rumos", dir.path())))
        .expect("the peer starts");

    // Only an idle keep-alive connection: the server stops at once, well before the drain.
    let api_a = dir.path().join("api-a");
    let (addr, tx, server) = serve(&rt, &handle, &api_a);
    let mut idle = TcpStream::connect(&addr).unwrap();
    let head = exchange(
        &mut idle,
        "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let took = stop(&rt, tx, server);
    assert!(
        took < DRAIN,
        "an idle connection held the shutdown for {took:?}"
    );
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still accepting after the shutdown"
    );

    // An open event stream: it holds the shutdown until the drain bound, not longer.
    let api_b = dir.path().join("api-b");
    let (addr, tx, server) = serve(&rt, &handle, &api_b);
    let token = std::fs::read_to_string(api_b.join("operator.token")).unwrap();
    let mut stream = TcpStream::connect(&addr).unwrap();
    let head = exchange(
        &mut stream,
        &format!(
            "GET /admin/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            token.trim()
        ),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let took = stop(&rt, tx, server);
    assert!(
        took >= DRAIN - Duration::from_millis(200),
        "the open stream was cut before the drain: {took:?}"
    );
    assert!(
        took < DRAIN + Duration::from_secs(3),
        "the drain was not bounded: {took:?}"
    );
    assert!(TcpStream::connect(&addr).is_err());
    rt.block_on(handle.shutdown());
}

//! The relay client against servers that misbehave, on loopback: the connection is kept between
//! bundles; a server that stalls, drops connections or answers 5xx is asked again a bounded number
//! of times with backoff and then given up on with the reason; a refusal (4xx, a JSON-RPC error)
//! is not asked again; a kept connection the server closed is replaced without losing the request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use xcrack::chain::Wallet;
use xcrack::chain::rpc::Retry;
use xcrack::relay::rpc::SendBundleParams;
use xcrack::relay::{RelayClient, RelayError};

const RETRY: Retry =
    Retry { attempts: 3, first_backoff: Duration::from_millis(20), timeout: Duration::from_millis(400) };

/// What a scripted server does with the n-th request (counting from 0).
#[derive(Clone, Copy)]
enum Act {
    /// Answers with this status and a bundle hash (200) or a short text, keeping the connection.
    Answer(u16),
    /// Answers 200 and closes the connection without saying so.
    AnswerThenClose,
    /// Reads the request and never answers.
    Stall,
    /// Closes the connection without answering.
    Drop,
}

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

fn server(script: fn(u64) -> Act) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (connections, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (c, r) = (connections.clone(), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            std::thread::spawn(move || serve(stream, script, &r));
        }
    });
    Server { addr, connections, requests }
}

fn serve(stream: TcpStream, script: fn(u64) -> Act, requests: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = requests.fetch_add(1, Ordering::SeqCst);
        let answer = |status: u16| {
            let body = if status == 200 {
                format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"bundleHash":"{}"}}}}"#, B256::repeat_byte(7))
            } else {
                "busy".to_string()
            };
            format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        match script(n) {
            Act::Answer(status) => {
                if stream.write_all(answer(status).as_bytes()).is_err() {
                    return;
                }
            }
            Act::AnswerThenClose => {
                let _ = stream.write_all(answer(200).as_bytes());
                return;
            }
            Act::Stall => {
                std::thread::sleep(Duration::from_secs(5));
                return;
            }
            Act::Drop => return,
        }
    }
}

fn client(addr: SocketAddr) -> RelayClient {
    RelayClient::new(addr, Wallet::derived(7, "relay-client-test")).with_retry(RETRY)
}

fn params() -> SendBundleParams {
    SendBundleParams::for_block(vec![vec![0x02u8, 0xc0].into()], 100)
}

#[test]
fn one_connection_carries_every_bundle() {
    let s = server(|_| Act::Answer(200));
    let mut c = client(s.addr);
    for _ in 0..20 {
        assert_eq!(c.send_bundle(&params()).unwrap(), B256::repeat_byte(7));
    }
    assert_eq!((s.connections.load(Ordering::SeqCst), s.requests.load(Ordering::SeqCst)), (1, 20));
    assert_eq!(c.connections(), 1);
}

#[test]
fn a_kept_connection_the_server_closed_is_replaced_and_the_request_sent_again() {
    let s = server(|_| Act::AnswerThenClose);
    let mut c = client(s.addr);
    for _ in 0..5 {
        c.send_bundle(&params()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.requests.load(Ordering::SeqCst), 5, "each request answered once");
    assert_eq!(s.connections.load(Ordering::SeqCst), 5);
}

#[test]
fn overloaded_then_fine_is_retried_with_backoff() {
    let s = server(|n| if n < 2 { Act::Answer(503) } else { Act::Answer(200) });
    let mut c = client(s.addr);
    let t = Instant::now();
    assert_eq!(c.send_bundle(&params()).unwrap(), B256::repeat_byte(7));
    assert_eq!(s.requests.load(Ordering::SeqCst), 3);
    assert!(t.elapsed() >= Duration::from_millis(60), "20 ms then 40 ms between attempts: {:?}", t.elapsed());
}

#[test]
fn stalled_dropping_and_failing_relays_are_given_up_on_within_bounds() {
    for (script, needle) in [
        ((|_| Act::Stall) as fn(u64) -> Act, "no answer within"),
        (|_| Act::Drop, "relay transport"),
        (|_| Act::Answer(500), "HTTP 500"),
    ] {
        let s = server(script);
        let mut c = client(s.addr);
        let t = Instant::now();
        let e = c.send_bundle(&params()).unwrap_err();
        let took = t.elapsed();
        assert!(matches!(e, RelayError::Exhausted { attempts: 3, .. }), "{e}");
        assert!(e.to_string().contains(needle) && e.to_string().contains("after 3 attempts"), "{e}");
        assert_eq!(s.requests.load(Ordering::SeqCst).max(s.connections.load(Ordering::SeqCst)), 3, "{e}");
        // Three attempts of at most 400 ms and 60 ms of backoff.
        assert!(took < Duration::from_millis(3 * 400 + 60 + 500), "{e}: {took:?}");
    }
}

#[test]
fn a_refusal_is_not_asked_again() {
    let s = server(|_| Act::Answer(400));
    let mut c = client(s.addr);
    let e = c.send_bundle(&params()).unwrap_err();
    assert!(!matches!(e, RelayError::Exhausted { .. }), "{e}");
    assert_eq!(s.requests.load(Ordering::SeqCst), 1);
}

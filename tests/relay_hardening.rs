//! The relay under hostile clients, over real loopback sockets: idle and slow connections do not
//! delay anyone else, malformed HTTP gets a 4xx answer (never a silent close), and bundles are
//! bounded in how far ahead they target, how many wait per signer, their gas, chain id and size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, U256};
use serde_json::{Value, json};

use xcrack::chain::simchain::actor;
use xcrack::chain::{SimChain, TxRequest, Wallet};
use xcrack::relay::builder::{MAX_BLOCKS_AHEAD, MAX_PENDING_PER_SIGNER};
use xcrack::relay::rpc::{MAX_BUNDLE_BYTES, SendBundleParams};
use xcrack::relay::{Relay, RelayClient, RelayError, RelayServer, auth, http};

const E18: u128 = 1_000_000_000_000_000_000;
const BASE_FEE: u64 = 10_000_000_000;

struct T {
    relay: Arc<Mutex<Relay>>,
    /// The chain stays with the test (nothing here asks the relay to simulate).
    chain: SimChain,
    server: RelayServer,
    client: RelayClient,
    searcher: Wallet,
}

fn setup() -> T {
    let mut chain = SimChain::new(1);
    let searcher = Wallet::derived(42, "searcher");
    chain.set_balance(searcher.address(), U256::from(1_000 * E18));
    chain.advance_block(1_700_000_012, BASE_FEE, actor("builder"));
    let relay = Arc::new(Mutex::new(Relay::new(&chain, 12)));
    let (port, _inbox) = xcrack::relay::chain_port();
    let server = RelayServer::start(relay.clone(), port, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = RelayClient::new(server.addr(), Wallet::derived(7, "flashbots-auth"));
    T { relay, chain, server, client, searcher }
}

impl T {
    fn head(&self) -> u64 {
        self.chain.block_number()
    }
    /// A signed transfer of 1 wei with `data` attached.
    fn tx(&mut self, chain_id: u64, gas_limit: u64, data: Vec<u8>) -> Bytes {
        let req = TxRequest {
            chain_id,
            to: Address::repeat_byte(0x11),
            data: data.into(),
            value: U256::from(1u8),
            gas_limit,
            max_fee_per_gas: 3 * u128::from(BASE_FEE),
            max_priority_fee_per_gas: 1_000_000_000,
        };
        // Signing takes the wallet's next nonce.
        self.searcher.sign(&req).unwrap().0
    }
    fn send(&mut self, txs: Vec<Bytes>, block: u64) -> Result<(), RelayError> {
        self.client.send_bundle(&SendBundleParams::for_block(txs, block)).map(|_| ())
    }
}

fn rejected_with(r: Result<(), RelayError>, needle: &str) {
    match r {
        Err(RelayError::Rpc(e)) => {
            assert_eq!(e.code, -32000, "{e:?}");
            assert!(e.message.contains(needle), "expected `{needle}` in {:?}", e.message);
        }
        other => panic!("expected a rejection containing `{needle}`, got {other:?}"),
    }
}

#[test]
fn idle_and_slow_connections_do_not_delay_a_good_client() {
    let mut t = setup();
    let addr = t.server.addr();
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Five slow senders: one header byte every 100 ms, for as long as the test runs.
    let stop = Arc::new(AtomicBool::new(false));
    let slow: Vec<_> = (0..5)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                for b in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
                    if stop.load(Ordering::SeqCst) || s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let tx = t.tx(1, 21_000, vec![]);
    let mut latencies = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        let p = SendBundleParams {
            replacement_uuid: Some(format!("u{}", i % 4)),
            ..SendBundleParams::for_block(vec![tx.clone()], t.head() + 1)
        };
        t.client.send_bundle(&p).unwrap();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    stop.store(true, Ordering::SeqCst);
    for h in slow {
        h.join().unwrap();
    }
    drop(idle);
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?} with 50 idle and 5 slow connections open");
}

/// Sends raw bytes and returns the status code of the answer (None: closed without one).
fn status_of(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok())
}

#[test]
fn malformed_requests_get_an_http_error_not_a_silent_close() {
    let t = setup();
    let addr = t.server.addr();
    let body = b"{}";
    let with_len = |len: &str| format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{{}}").into_bytes();
    let many_headers = {
        let mut r = b"POST / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..70 {
            r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        r.extend_from_slice(b"Content-Length: 2\r\n\r\n{}");
        r
    };
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("negative Content-Length", with_len("-1"), &[400]),
        ("hex Content-Length", with_len("0x2"), &[400]),
        ("huge Content-Length", with_len("99999999999999999999999"), &[400, 413]),
        ("Content-Length over the body limit", with_len("2000000"), &[413]),
        ("header without a colon", b"POST / HTTP/1.1\r\nHost x\r\nContent-Length: 2\r\n\r\n{}".to_vec(), &[400]),
        ("more than 64 headers", many_headers, &[400, 431]),
        ("non-UTF-8 request line", b"PO\xff\xfeST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".to_vec(), &[400]),
        ("garbage request line", b"\x00\x01\x02\r\n\r\n".to_vec(), &[400]),
        ("empty request line", b" \r\nHost: x\r\n\r\n".to_vec(), &[400]),
        ("GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), &[405]),
    ];
    for (what, raw, expect) in cases {
        let got = status_of(addr, &raw);
        assert!(got.is_some_and(|c| expect.contains(&c)), "{what}: got {got:?}, expected one of {expect:?}");
    }
    // A 200 MiB header line is cut off at the head limit, not buffered.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nX-Big: ").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    while sent < 200 << 20 && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    // Socket buffers on both ends can hold some megabytes before the reset arrives; 200 MiB never.
    assert!(sent < 32 << 20, "the relay kept reading a giant header ({sent} bytes)");
    // And the relay still answers.
    let (status, _) = http::post(addr, "/", &[], body, Duration::from_secs(5)).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn bundles_are_bounded_in_block_count_gas_chain_and_size() {
    let mut t = setup();
    let head = t.head();
    let tx = t.tx(1, 21_000, vec![]);
    rejected_with(t.send(vec![tx.clone()], head + MAX_BLOCKS_AHEAD + 1), "blocks after the current block");
    rejected_with(t.send(vec![tx.clone()], u64::MAX), "blocks after the current block");
    t.send(vec![tx.clone()], head + MAX_BLOCKS_AHEAD).unwrap();

    let wrong_chain = t.tx(5, 21_000, vec![]);
    rejected_with(t.send(vec![wrong_chain], head + 1), "is for chain 5");
    let heavy = t.tx(1, 30_000_001, vec![]);
    rejected_with(t.send(vec![heavy], head + 1), "more than a block's 30000000");

    // 300 kB of raw transactions is reachable through the body limit, one byte more is refused
    // with the bundle-size message (not a reset connection).
    let overhead = t.tx(1, 2_000_000, vec![]).len();
    let per_tx = MAX_BUNDLE_BYTES / 3;
    let fit: Vec<Bytes> = (0..3).map(|_| t.tx(1, 2_000_000, vec![1u8; per_tx - overhead - 8])).collect();
    let fit_len: usize = fit.iter().map(|x| x.len()).sum();
    assert!(fit_len <= MAX_BUNDLE_BYTES && fit_len > MAX_BUNDLE_BYTES - 64, "{fit_len}");
    t.send(fit, head + 1).unwrap();
    let over: Vec<Bytes> = (0..3).map(|_| t.tx(1, 2_000_000, vec![1u8; per_tx - overhead + 16])).collect();
    rejected_with(t.send(over, head + 1), &format!("exceed the limit of {MAX_BUNDLE_BYTES}"));

    // Per-signer bound on waiting bundles (each a different one: the same bundle again is held once).
    let waiting = t.relay.lock().unwrap().pending_count();
    for _ in waiting..MAX_PENDING_PER_SIGNER {
        let tx = t.tx(1, 21_000, vec![]);
        t.send(vec![tx], head + 2).unwrap();
    }
    let one_more = t.tx(1, 21_000, vec![]);
    rejected_with(t.send(vec![one_more], head + 2), "already waiting");
}

#[test]
fn json_rpc_batches_are_answered_as_invalid_requests() {
    let t = setup();
    let body = serde_json::to_vec(
        &json!([{"jsonrpc": "2.0", "id": 1, "method": "eth_cancelBundle", "params": [{"replacementUuid": "x"}]}]),
    )
    .unwrap();
    let sig = auth::sign(&Wallet::derived(7, "flashbots-auth"), &body).unwrap();
    let (status, bytes) =
        http::post(t.server.addr(), "/", &[(auth::HEADER, &sig)], &body, Duration::from_secs(5)).unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["error"]["code"], -32600, "{v}");
}

#[test]
fn simulation_stops_at_the_block_gas_budget() {
    let mut t = setup();
    let txs: Vec<Bytes> = (0..3).map(|_| t.tx(1, 21_000, vec![])).collect();
    let chain = &mut t.chain;
    let (n, ts) = (chain.block_number() + 1, chain.timestamp() + 12);
    assert_eq!(chain.simulate_within(&txs, &[], n, ts, 63_000).unwrap().len(), 3);
    let (at, e) = chain.simulate_within(&txs, &[], n, ts, 62_999).unwrap_err();
    assert_eq!(at, 2, "stopped at the transaction past the budget");
    assert!(e.to_string().contains("more than the block's 62999 gas"), "{e}");
}

#[test]
fn call_bundle_without_a_chain_owner_is_a_clear_error() {
    // `setup` lets go of the chain's inbox: nobody can simulate, and the relay says so at once.
    let mut t = setup();
    let head = t.head();
    let tx = t.tx(1, 21_000, vec![]);
    let started = std::time::Instant::now();
    let r = t.client.call_bundle(&xcrack::relay::rpc::CallBundleParams {
        txs: vec![tx],
        block_number: xcrack::relay::rpc::quantity(head + 1),
        state_block_number: "latest".into(),
        timestamp: None,
    });
    match r {
        Err(RelayError::Rpc(e)) => assert!(e.message.contains("no chain is attached"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < xcrack::relay::port::CALL_TIMEOUT, "answered without waiting for a timeout");
    assert_eq!(t.relay.lock().unwrap().stats.rejected, 1);
}

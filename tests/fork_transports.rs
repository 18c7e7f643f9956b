//! Fork mode over HTTPS, WebSocket and secure WebSocket nodes: a JSON-RPC node on loopback that
//! answers from the shipped recording (`data/fork/anvil_uniswap_v2.rec.json`), served over real
//! TLS (rustls) with a certificate authority made for this run. `xcrack fork` trusts that CA through
//! `SSL_CERT_FILE`, and each transport writes the offline run's report byte for byte. Without the
//! CA the certificate is refused (one error, nothing written); a WebSocket node that drops the
//! first connection is reconnected to within the retry bounds.

mod common;

use common::{Files, files};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

type Answers = Arc<BTreeMap<String, Value>>;

/// The recording's answers by request (method and canonical parameters, as `Call::key`).
fn answers() -> Answers {
    let text = std::fs::read_to_string(common::repo().join("data/fork/anvil_uniswap_v2.rec.json")).unwrap();
    let rec: Value = serde_json::from_str(&text).unwrap();
    let calls = rec["calls"].as_array().unwrap();
    Arc::new(
        calls
            .iter()
            .map(|c| (format!("{}{}", c["method"].as_str().unwrap(), c["params"]), c["result"].clone()))
            .collect(),
    )
}

/// A batch's answers, by id, from the recording (an unknown question: a JSON-RPC error).
fn answer(answers: &Answers, body: &[u8]) -> Vec<u8> {
    let batch: Vec<Value> = serde_json::from_slice(body).unwrap();
    let out: Vec<Value> = batch
        .iter()
        .map(|c| match answers.get(&format!("{}{}", c["method"].as_str().unwrap_or(""), c["params"])) {
            Some(r) => serde_json::json!({"jsonrpc": "2.0", "id": c["id"], "result": r}),
            None => serde_json::json!({"jsonrpc": "2.0", "id": c["id"], "error": {"code": -32000, "message": "not recorded"}}),
        })
        .collect();
    serde_json::to_vec(&out).unwrap()
}

/// A CA made for this run, and a certificate it signed for `localhost` and 127.0.0.1.
struct Certs {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn certs() -> Certs {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "xcrack test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = leaf.signed_by(&key, &ca).unwrap();
    Certs {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    }
}

fn acceptor(c: &Certs) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(c.chain.clone(), PrivateKeyDer::Pkcs8(c.key.clone_key()))
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Https,
    Ws,
    Wss,
}

/// The node: `kind` on a loopback port, answering from the recording; with `drop_first`, the first
/// WebSocket connection is closed on its first message, unanswered. Returns its address and the
/// number of connections it took.
fn serve(kind: Kind, certs: &Certs, drop_first: bool) -> (SocketAddr, Arc<AtomicU64>) {
    let answers = answers();
    let tls = acceptor(certs);
    let connections = Arc::new(AtomicU64::new(0));
    let seen = connections.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (answers, tls) = (answers.clone(), tls.clone());
                tokio::spawn(async move {
                    match kind {
                        Kind::Https => {
                            let Ok(stream) = tls.accept(tcp).await else { return };
                            let service =
                                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                    let answers = answers.clone();
                                    async move {
                                        let body = req.into_body().collect().await?.to_bytes();
                                        let out = answer(&answers, &body);
                                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(out))))
                                    }
                                });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Kind::Ws => {
                            ws_session(tokio_tungstenite::accept_async(tcp).await, &answers, drop_first && n == 0).await
                        }
                        Kind::Wss => {
                            let Ok(stream) = tls.accept(tcp).await else { return };
                            ws_session(tokio_tungstenite::accept_async(stream).await, &answers, drop_first && n == 0)
                                .await
                        }
                    }
                });
            }
        });
    });
    (rx.recv().unwrap(), connections)
}

async fn ws_session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    socket: Result<tokio_tungstenite::WebSocketStream<S>, tokio_tungstenite::tungstenite::Error>,
    answers: &Answers,
    drop_it: bool,
) {
    let Ok(mut socket) = socket else { return };
    while let Some(Ok(m)) = socket.next().await {
        if let Message::Text(t) = m {
            if drop_it {
                return;
            }
            let out = String::from_utf8(answer(answers, t.as_bytes())).unwrap();
            if socket.send(Message::text(out)).await.is_err() {
                return;
            }
        }
    }
}

/// `xcrack fork` of the shipped scenario, reading `rpc` (or its recording when `None`), with
/// `ca` trusted through SSL_CERT_FILE when given: (exit code, stderr, the report's files).
fn fork(tmp: &Path, out: &str, rpc: Option<&str>, ca: Option<&Path>) -> (Option<i32>, String, Option<Files>) {
    let scenario = common::scenario("fork/anvil_uniswap_v2.toml");
    let out = tmp.join(out);
    let mut args = vec!["fork".to_string(), scenario, "--out".into(), out.display().to_string(), "--quiet".into()];
    if let Some(url) = rpc {
        args.extend([
            "--rpc".into(),
            url.into(),
            "--set".into(),
            "fork.attempts=3".into(),
            "--set".into(),
            "fork.timeout=\"5s\"".into(),
        ]);
    }
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args(&args).current_dir(tmp).env_remove("RUST_LOG").env_remove("SSL_CERT_FILE");
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let o = cmd.output().unwrap();
    let report = std::fs::read_dir(&out).ok().and_then(|mut d| d.next()).map(|e| files(&e.unwrap().path()));
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned(), report)
}

#[test]
fn https_ws_and_wss_nodes_give_the_offline_report_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let c = certs();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &c.ca_pem).unwrap();
    let (code, err, offline) = fork(tmp.path(), "offline", None, None);
    assert_eq!(code, Some(0), "{err}");
    let offline = offline.unwrap();

    for (kind, scheme, host) in [
        (Kind::Https, "https", "localhost"),
        (Kind::Wss, "wss", "localhost"),
        (Kind::Ws, "ws", "127.0.0.1"),
        (Kind::Https, "https", "127.0.0.1"),
    ] {
        let (addr, _) = serve(kind, &c, false);
        let url = format!("{scheme}://{host}:{}/", addr.port());
        let (code, err, report) = fork(tmp.path(), &format!("{scheme}-{host}"), Some(&url), Some(&ca));
        assert_eq!(code, Some(0), "{url}: {err}");
        assert!(report.unwrap() == offline, "{url}: the same report bytes as the offline run");
    }
}

#[test]
fn an_untrusted_certificate_is_refused_and_a_dropped_websocket_is_reconnected() {
    let tmp = tempfile::tempdir().unwrap();
    let c = certs();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &c.ca_pem).unwrap();

    // Our CA not trusted: the certificate is refused once, not retried, and nothing is written.
    for (kind, scheme) in [(Kind::Https, "https"), (Kind::Wss, "wss")] {
        let (addr, connections) = serve(kind, &c, false);
        let url = format!("{scheme}://localhost:{}/", addr.port());
        let (code, err, report) = fork(tmp.path(), &format!("untrusted-{scheme}"), Some(&url), None);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("TLS") && err.contains("eth_chainId") && err.to_lowercase().contains("certificate"),
            "{err}"
        );
        assert!(report.is_none(), "nothing written");
        assert_eq!(connections.load(Ordering::SeqCst), 1, "a refused certificate is not asked again");
    }

    // A certificate for another name: refused.
    let (addr, _) = serve(Kind::Https, &c, false);
    let url = format!("https://127.0.0.2:{}/", addr.port());
    let (code, err, _) = fork(tmp.path(), "wrong-name", Some(&url), Some(&ca));
    assert_eq!(code, Some(1), "{err}");

    // A file in SSL_CERT_FILE that holds no certificate: one error naming it.
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let (addr, _) = serve(Kind::Https, &c, false);
    let (code, err, _) = fork(tmp.path(), "junk", Some(&format!("https://localhost:{}/", addr.port())), Some(&junk));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("SSL_CERT_FILE") && err.contains("junk.pem"), "{err}");

    // The first WebSocket connection dropped on its first request: a new connection, same report.
    let (_, _, offline) = fork(tmp.path(), "offline", None, None);
    let (addr, connections) = serve(Kind::Wss, &c, true);
    let url = format!("wss://localhost:{}/", addr.port());
    let (code, err, report) = fork(tmp.path(), "reconnected", Some(&url), Some(&ca));
    assert_eq!(code, Some(0), "{err}");
    // The retried request is counted (summary's reads); every other byte is the offline run's.
    let (report, offline) = (report.unwrap(), offline.unwrap());
    let differing: Vec<&str> = report.iter().zip(&offline).filter(|(a, b)| a != b).map(|(a, _)| a.0.as_str()).collect();
    assert_eq!(differing, ["summary.json", "summary.md"], "only the request count differs");
    let requests = |files: &[(String, Vec<u8>)]| {
        let s: Value = serde_json::from_slice(&files.iter().find(|f| f.0 == "summary.json").unwrap().1).unwrap();
        s["reads"]["rpc_requests"].as_u64().unwrap()
    };
    assert_eq!(requests(&report), requests(&offline) + 1, "the dropped request, asked again");
    assert_eq!(connections.load(Ordering::SeqCst), 2, "one reconnect");
}

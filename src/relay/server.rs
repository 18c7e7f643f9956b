//! The relay over HTTP on hyper: connections are served concurrently on a small tokio runtime, each
//! with a header-read timeout, a body-read timeout and head/body size limits, so idle or slow
//! clients cannot delay anyone else. Requests run against the shared `Relay` on the runtime's
//! blocking pool; the engine (or the CLI's block timer) builds blocks on the same relay. The relay
//! holds no chain: `eth_callBundle` simulations go to the chain's owner through a `ChainPort`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response as HttpResponse, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, oneshot};

use super::builder::{Handled, Relay};
use super::http::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_BODY, MAX_HEAD_BYTES, MAX_HEADERS};
use super::port::{CALL_TIMEOUT, ChainPort};
use super::rpc::{Response, code};

/// The relay's book is touched by the HTTP handlers and by whoever builds blocks; one lock, held
/// for one request or one block (the chain is not behind it).
pub type SharedRelay = Arc<Mutex<Relay>>;

/// Most connections served at once; further ones are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 1024;

pub struct RelayServer(HttpServer);

impl RelayServer {
    /// Binds `addr` (port 0 picks a free one) and serves until `stop` or drop.
    /// `chain` reaches the owner of the chain the book's bundles run on (for `eth_callBundle`).
    pub fn start(relay: SharedRelay, chain: ChainPort, addr: SocketAddr) -> std::io::Result<RelayServer> {
        Self::start_with(relay, chain, addr, None)
    }

    /// As `start`, serving HTTPS with `tls` (a relay reached over a network, as a real one is).
    pub fn start_tls(
        relay: SharedRelay,
        chain: ChainPort,
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<RelayServer> {
        Self::start_with(relay, chain, addr, Some(tokio_rustls::TlsAcceptor::from(tls)))
    }

    fn start_with(
        relay: SharedRelay,
        chain: ChainPort,
        addr: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<RelayServer> {
        let service = move |req| handle(relay.clone(), chain.clone(), req);
        HttpServer::start(addr, tls, "xcrack-relay", service).map(RelayServer)
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// Stops accepting, drops open connections and joins the runtime's threads.
    pub fn stop(&mut self) {
        self.0.stop()
    }
}

/// Our HTTP/1.1 server on hyper: connections served concurrently on a small tokio runtime of its
/// own, each with a header-read deadline (the TLS handshake within it) and head size limits, at
/// most `MAX_CONNECTIONS` at once. The relay and live mode's metrics endpoint serve through it.
pub struct HttpServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free one) and answers every request with `service` until
    /// `stop` or drop; `name` names the runtime's threads.
    pub fn start<S, F>(
        addr: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
        name: &'static str,
        service: S,
    ) -> std::io::Result<HttpServer>
    where
        S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<HttpResponse<Full<Bytes>>, Infallible>> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .thread_name(name)
            .enable_io()
            .enable_time()
            .build()?;
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                let accepted = tokio::select! {
                    _ = &mut stop => break,
                    a = listener.accept() => a,
                };
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(target: "xcrack::relay", error = %e, "accept failed");
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(target: "xcrack::relay", %peer, "connection limit reached, closing");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(service);
                    let mut http = http1::Builder::new();
                    http.timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .max_buf_size(MAX_HEAD_BYTES)
                        .max_headers(MAX_HEADERS);
                    let served = match tls {
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                        // The handshake has the header deadline too: a client that never finishes it
                        // does not hold a connection slot.
                        Some(acceptor) => {
                            match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => http.serve_connection(TokioIo::new(s), service).await,
                                Ok(Err(e)) => {
                                    tracing::debug!(target: "xcrack::relay", %peer, error = %e, "TLS handshake failed");
                                    Ok(())
                                }
                                Err(_) => Ok(()),
                            }
                        }
                    };
                    if let Err(e) = served {
                        tracing::debug!(target: "xcrack::relay", %peer, error = %e, "connection ended");
                    }
                    drop(permit);
                });
            }
        });
        Ok(HttpServer { addr, shutdown: Some(shutdown), runtime: Some(runtime) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, drops open connections and joins the runtime's threads.
    pub fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn reply(status: StatusCode, r: &Response) -> HttpResponse<Full<Bytes>> {
    let body = serde_json::to_vec(r).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = HttpResponse::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    resp
}

fn error(status: StatusCode, code: i64, message: impl Into<String>) -> HttpResponse<Full<Bytes>> {
    reply(status, &Response::err(serde_json::Value::Null, code, message))
}

async fn handle(
    relay: SharedRelay,
    chain: ChainPort,
    req: Request<Incoming>,
) -> Result<HttpResponse<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST {
        return Ok(error(StatusCode::METHOD_NOT_ALLOWED, code::INVALID_REQUEST, "use POST"));
    }
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Ok(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::INVALID_REQUEST,
            format!("body of {} bytes is larger than {MAX_BODY}", declared.unwrap_or_default()),
        ));
    }
    let signature = req.headers().get(super::auth::HEADER).map(|v| v.to_str().map(str::to_string).map_err(|_| ()));
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, body).await {
        Err(_) => return Ok(error(StatusCode::REQUEST_TIMEOUT, code::INVALID_REQUEST, "body not received in time")),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::INVALID_REQUEST,
                format!("body larger than {MAX_BODY}"),
            ));
        }
        Ok(Err(e)) => return Ok(error(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, format!("bad body: {e}"))),
        Ok(Ok(b)) => b.to_bytes(),
    };
    let signature = match signature {
        Some(Err(())) => {
            return Ok(error(StatusCode::OK, code::UNAUTHORIZED, "X-Flashbots-Signature is not visible ASCII"));
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    // Signature recovery and JSON work under the book's lock: keep it off the threads that serve sockets.
    let book = relay.clone();
    let handled = tokio::task::spawn_blocking(move || {
        let mut r = book.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        r.handle(&body, signature.as_deref())
    })
    .await;
    let call = match handled {
        Ok(Handled::Answer(r)) => return Ok(reply(StatusCode::OK, &r)),
        Ok(Handled::Simulate(call)) => call,
        Err(_) => return Ok(error(StatusCode::INTERNAL_SERVER_ERROR, code::INVALID_REQUEST, "request handler failed")),
    };
    let id = call.id.clone();
    let result = match chain.send(call) {
        None => Err((code::INVALID_REQUEST, "eth_callBundle: no chain is attached to this relay".to_string())),
        Some(answer) => match tokio::time::timeout(CALL_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err((code::INVALID_REQUEST, "eth_callBundle: the chain's owner stopped".to_string())),
            Err(_) => Err((
                code::INVALID_REQUEST,
                format!("eth_callBundle: the chain's owner did not answer within {} s", CALL_TIMEOUT.as_secs()),
            )),
        },
    };
    let r = relay.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).finish_call(id, result);
    Ok(reply(StatusCode::OK, &r))
}

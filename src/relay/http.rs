//! HTTP/1.1 for the relay's JSON-RPC, on hyper (server and client): the relay serves connections
//! concurrently with per-connection timeouts and header/body limits, and our client speaks the
//! same maintained stack. The engine is synchronous, so the client drives a small current-thread
//! tokio runtime of its own; that is the one sync/async boundary on this side.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// Largest request or response body: a bundle of 300 kB of raw transactions is 600 kB as hex,
/// plus JSON framing, so 1 MiB keeps the 300 kB bundle limit reachable and measured on the txs.
pub const MAX_BODY: usize = 1 << 20;
/// Most header lines a request may carry (more: HTTP 431).
pub const MAX_HEADERS: usize = 64;
/// Largest buffered request head (request line + headers); hyper answers 431 beyond it.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A client must finish sending a request's headers within this (slow senders are cut off).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and its body within this.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Protocol(String),
    #[error("body of more than {MAX_BODY} bytes")]
    TooLarge,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A blocking HTTP/1.1 client for JSON-RPC POSTs, one connection per request.
pub struct HttpClient {
    rt: Option<tokio::runtime::Runtime>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient { rt: None }
    }

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, HttpError> {
        if self.rt.is_none() {
            self.rt = Some(tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?);
        }
        self.rt.as_ref().ok_or_else(|| HttpError::Protocol("no runtime".into()))
    }

    /// POSTs `body` to `addr` + `path` with extra `headers`; the status and the response body.
    /// Connect, send and receive together must finish within `timeout`.
    pub fn post(
        &mut self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).map_err(|e| HttpError::Protocol(e.to_string()))?;
        let rt = self.runtime()?;
        rt.block_on(async move {
            let exchange = async {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| HttpError::Protocol(e.to_string()))?;
                let driver = tokio::spawn(conn);
                let resp = sender.send_request(req).await.map_err(|e| HttpError::Protocol(e.to_string()))?;
                let status = resp.status().as_u16();
                let bytes = Limited::new(resp.into_body(), MAX_BODY)
                    .collect()
                    .await
                    .map_err(|e| {
                        if e.is::<http_body_util::LengthLimitError>() {
                            HttpError::TooLarge
                        } else {
                            HttpError::Protocol(e.to_string())
                        }
                    })?
                    .to_bytes();
                driver.abort();
                Ok::<_, HttpError>((status, bytes.to_vec()))
            };
            tokio::time::timeout(timeout, exchange).await.map_err(|_| HttpError::Timeout(timeout))?
        })
    }
}

/// One POST with a client of its own (tests and one-off calls).
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    HttpClient::new().post(addr, path, headers, body, timeout)
}

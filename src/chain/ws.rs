//! A node over WebSocket (`ws://`, `wss://`): the same JSON-RPC batches as over HTTP, one text
//! frame each way, on one connection kept for the run. The frames are tokio-tungstenite's; the
//! TLS under them is ours (`relay::http::connect`: rustls, certificates verified). Like the HTTP
//! transport it is driven from the synchronous EVM through a current-thread runtime of its own.
//!
//! A dropped connection, a timeout or a refused connect is retried with doubling backoff on a new
//! connection, `Retry::attempts` times in all; a JSON-RPC error is the node's answer, not retried.

use std::cell::{Cell, RefCell};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::fork::ForkError;
use super::rpc::{Call, Endpoint, MAX_ANSWER, Retry, Transport, batch_answers, batch_body};
use crate::relay::http::{HttpError, Stream, connect};

type Socket = WebSocketStream<Stream>;

pub struct Ws {
    endpoint: Endpoint,
    retry: Retry,
    rt: RefCell<Option<tokio::runtime::Runtime>>,
    socket: RefCell<Option<Socket>>,
    next_id: Cell<u64>,
    requests: Cell<u64>,
}

/// Why one exchange failed: worth a new connection, or final.
enum Failure {
    Again(String),
    Final(String),
}

impl Ws {
    pub fn new(endpoint: Endpoint, retry: Retry) -> Self {
        Ws {
            endpoint,
            retry,
            rt: RefCell::new(None),
            socket: RefCell::new(None),
            next_id: Cell::new(0),
            requests: Cell::new(0),
        }
    }

    /// One batch sent and its answer read on the open connection (opened first if need be).
    fn exchange(&self, body: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut rt = self.rt.borrow_mut();
        if rt.is_none() {
            let built = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build();
            *rt = Some(built.map_err(|e| Failure::Final(e.to_string()))?);
        }
        let rt = rt.as_ref().ok_or_else(|| Failure::Final("no runtime".into()))?;
        let mut slot = self.socket.borrow_mut();
        let timeout = self.retry.timeout;
        let text = String::from_utf8(body.to_vec()).map_err(|e| Failure::Final(e.to_string()))?;
        rt.block_on(async {
            let work = async {
                if slot.is_none() {
                    *slot = Some(open(&self.endpoint).await?);
                }
                let socket = slot.as_mut().ok_or_else(|| Failure::Final("no connection".into()))?;
                socket.send(Message::text(text)).await.map_err(|e| Failure::Again(e.to_string()))?;
                loop {
                    match socket.next().await {
                        None => return Err(Failure::Again("the node closed the connection".into())),
                        Some(Err(e)) => return Err(Failure::Again(e.to_string())),
                        Some(Ok(Message::Text(t))) => return Ok(t.as_bytes().to_vec()),
                        Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
                        Some(Ok(Message::Close(_))) => {
                            return Err(Failure::Again("the node closed the connection".into()));
                        }
                        // Pings are answered by the library; nothing else is ours.
                        Some(Ok(_)) => {}
                    }
                }
            };
            match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Again(HttpError::Timeout(timeout).to_string())),
            }
        })
        .inspect_err(|_| *slot = None)
    }
}

/// A WebSocket connection to the endpoint (TLS for `wss://`).
async fn open(endpoint: &Endpoint) -> Result<Socket, Failure> {
    let stream = connect(&endpoint.target).await.map_err(|e| match e {
        HttpError::Tls(m) => Failure::Final(format!("TLS: {m}")),
        other => Failure::Again(other.to_string()),
    })?;
    let scheme = if endpoint.target.tls { "wss" } else { "ws" };
    let url = format!("{scheme}://{}{}", endpoint.target.authority, endpoint.path);
    let config = WebSocketConfig::default().max_message_size(Some(MAX_ANSWER)).max_frame_size(Some(MAX_ANSWER));
    let (socket, _) = tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config))
        .await
        .map_err(|e| Failure::Final(format!("WebSocket handshake: {e}")))?;
    Ok(socket)
}

impl Transport for Ws {
    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let method = calls[0].method;
        let first = self.next_id.get() + 1;
        self.next_id.set(first + calls.len() as u64);
        let body = batch_body(calls, first)?;
        let mut backoff = self.retry.first_backoff;
        let mut last = String::new();
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tracing::warn!(target: "xcrack::fork", method, attempt, error = %last, "node call failed; retrying");
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
            }
            self.requests.set(self.requests.get() + 1);
            match self.exchange(&body) {
                Ok(bytes) => return batch_answers(calls, first, &bytes),
                Err(Failure::Again(m)) => last = m,
                Err(Failure::Final(m)) => return Err(ForkError::Source { method, message: m }),
            }
        }
        Err(ForkError::Source {
            method,
            message: format!("{last} after {} attempts ({})", self.retry.attempts.max(1), self.endpoint.shown),
        })
    }

    fn requests(&self) -> u64 {
        self.requests.get()
    }
}

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
use super::rpc::{Call, Endpoint, Failure, MAX_ANSWER, Retry, Transport, batch_answers, batch_body, listen_window};
use crate::relay::http::{HttpError, Stream, connect};

pub(crate) type Socket = WebSocketStream<Stream>;

pub struct Ws {
    endpoint: Endpoint,
    retry: Retry,
    rt: RefCell<Option<tokio::runtime::Runtime>>,
    socket: RefCell<Option<Socket>>,
    next_id: Cell<u64>,
    requests: Cell<u64>,
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

    fn runtime(&self) -> Result<std::cell::RefMut<'_, Option<tokio::runtime::Runtime>>, Failure> {
        let mut rt = self.rt.borrow_mut();
        if rt.is_none() {
            let built = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build();
            *rt = Some(built.map_err(|e| Failure::Final(e.to_string()))?);
        }
        Ok(rt)
    }

    /// One batch sent and its answer read on the open connection (opened first if need be).
    fn exchange(&self, body: &[u8]) -> Result<Vec<u8>, Failure> {
        let rt = self.runtime()?;
        let rt = rt.as_ref().ok_or_else(|| Failure::Final("no runtime".into()))?;
        let mut slot = self.socket.borrow_mut();
        let timeout = self.retry.timeout;
        let text = String::from_utf8(body.to_vec()).map_err(|e| Failure::Final(e.to_string()))?;
        rt.block_on(async {
            let work = async {
                let socket = connected(&mut slot, &self.endpoint).await?;
                socket.send(Message::text(text)).await.map_err(|e| Failure::Again(e.to_string()))?;
                loop {
                    let m = next_message(socket).await?;
                    // A late notification of a closed subscription is not our answer.
                    if m.get(..1) == Some(b"{".as_slice())
                        && serde_json::from_slice::<Value>(&m).is_ok_and(|v| v.get("method").is_some())
                    {
                        continue;
                    }
                    return Ok(m);
                }
            };
            match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Again(HttpError::Timeout(timeout).to_string())),
            }
        })
        .inspect_err(|_| *slot = None)
    }

    /// `eth_subscribe("newPendingTransactions")` for `window`: the hashes announced, in arrival
    /// order, each once (a node that sends whole transactions: their `hash`); then unsubscribed.
    fn listen(&self, id: u64, window: std::time::Duration) -> Result<Value, Failure> {
        let rt = self.runtime()?;
        let rt = rt.as_ref().ok_or_else(|| Failure::Final("no runtime".into()))?;
        let mut slot = self.socket.borrow_mut();
        let timeout = self.retry.timeout;
        rt.block_on(async {
            let socket = connected(&mut slot, &self.endpoint).await?;
            let ask = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "eth_subscribe", "params": ["newPendingTransactions"]});
            socket.send(Message::text(ask.to_string())).await.map_err(|e| Failure::Again(e.to_string()))?;
            let subscription = tokio::time::timeout(timeout, async {
                loop {
                    let v: Value = serde_json::from_slice(&next_message(socket).await?)
                        .map_err(|e| Failure::Final(format!("not JSON: {e}")))?;
                    if v.get("id").and_then(Value::as_u64) == Some(id) {
                        if let Some(e) = v.get("error") {
                            return Err(Failure::Final(format!("the node refused the subscription: {e}")));
                        }
                        return v.get("result").cloned().ok_or_else(|| Failure::Final("no subscription id".into()));
                    }
                }
            })
            .await
            .map_err(|_| Failure::Again(HttpError::Timeout(timeout).to_string()))??;
            let mut seen = std::collections::BTreeSet::new();
            let mut hashes = Vec::new();
            let until = tokio::time::Instant::now() + window;
            loop {
                let m = match tokio::time::timeout_at(until, next_message(socket)).await {
                    Err(_) => break,
                    Ok(m) => m?,
                };
                let Ok(v) = serde_json::from_slice::<Value>(&m) else { continue };
                let params = &v["params"];
                if v.get("method").and_then(Value::as_str) != Some("eth_subscription") || params["subscription"] != subscription {
                    continue;
                }
                let hash = match &params["result"] {
                    Value::String(h) => Some(h.clone()),
                    tx => tx.get("hash").and_then(Value::as_str).map(str::to_string),
                };
                if let Some(h) = hash.filter(|h| seen.insert(h.clone())) {
                    hashes.push(Value::String(h));
                }
            }
            let stop = serde_json::json!({"jsonrpc": "2.0", "id": id + 1, "method": "eth_unsubscribe", "params": [subscription]});
            socket.send(Message::text(stop.to_string())).await.map_err(|e| Failure::Again(e.to_string()))?;
            // Its answer (and any notification still on the way) is read here, not taken for the
            // next request's.
            tokio::time::timeout(timeout, async {
                loop {
                    let m = next_message(socket).await?;
                    let v: Value = serde_json::from_slice(&m).unwrap_or_default();
                    if v.get("id").and_then(Value::as_u64) == Some(id + 1) {
                        return Ok::<_, Failure>(());
                    }
                }
            })
            .await
            .map_err(|_| Failure::Again(HttpError::Timeout(timeout).to_string()))??;
            Ok(Value::Array(hashes))
        })
        .inspect_err(|_| *slot = None)
    }
}

/// The open connection in `slot` (opened first if need be).
async fn connected<'a>(slot: &'a mut Option<Socket>, endpoint: &Endpoint) -> Result<&'a mut Socket, Failure> {
    if slot.is_none() {
        *slot = Some(open(endpoint).await?);
    }
    slot.as_mut().ok_or_else(|| Failure::Final("no connection".into()))
}

/// The next text or binary message's bytes (pings are answered by the library).
pub(crate) async fn next_message(socket: &mut Socket) -> Result<Vec<u8>, Failure> {
    loop {
        match socket.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(Failure::Again("the node closed the connection".into())),
            Some(Err(e)) => return Err(Failure::Again(e.to_string())),
            Some(Ok(Message::Text(t))) => return Ok(t.as_bytes().to_vec()),
            Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
            Some(Ok(_)) => {}
        }
    }
}

/// A WebSocket connection to the endpoint (TLS for `wss://`).
pub(crate) async fn open(endpoint: &Endpoint) -> Result<Socket, Failure> {
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
        self.next_id.set(first + calls.len() as u64 + 1);
        let window = match calls {
            [one] => listen_window(one),
            _ => None,
        };
        let body = batch_body(calls, first)?;
        self.retry.run(method, &self.endpoint.shown, || {
            self.requests.set(self.requests.get() + 1);
            match window {
                Some(w) => self.listen(first, w).map(|v| Ok(vec![v])),
                None => self.exchange(&body).map(|bytes| batch_answers(calls, first, &bytes)),
            }
        })?
    }

    fn requests(&self) -> u64 {
        self.requests.get()
    }
}

//! Reaching a node: its endpoint (http, https, ws, wss; shown without keys), the JSON-RPC batch
//! both transports send and check, and the HTTP transport with bounded retries.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Call, Transport};
use crate::chain::fork::ForkError;
use crate::relay::http::{HttpClient, HttpError, Target};

/// Where a node listens: `http[s]://host[:port]/path` (JSON-RPC batches over HTTP POST) or
/// `ws[s]://host[:port]/path` (the same batches as WebSocket text frames); TLS certificates are
/// verified (`relay::http::tls_config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub target: Target,
    pub path: String,
    pub websocket: bool,
    /// The URL as given, for the WebSocket handshake and messages (never with its query: keys
    /// often live there).
    pub shown: String,
}

impl Endpoint {
    /// Is `url` an endpoint this client can reach (without resolving its host)?
    pub fn check(url: &str) -> Result<url::Url, String> {
        let u = url::Url::parse(url).map_err(|e| format!("{}: not a URL: {e}", redact(url)))?;
        if !matches!(u.scheme(), "http" | "https" | "ws" | "wss") {
            return Err(format!("{}: the scheme must be http, https, ws or wss", redact(url)));
        }
        if u.host_str().is_none() {
            return Err(format!("{}: no host", redact(url)));
        }
        Ok(u)
    }

    pub fn parse(url: &str) -> Result<Self, String> {
        let u = Self::check(url)?;
        let shown = redact(url);
        let host = u.host_str().ok_or_else(|| format!("{shown}: no host"))?;
        // IPv6 literals come bracketed in URLs; the server name and the socket want them bare.
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = u.port_or_known_default().unwrap_or(80);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(bare.as_str(), port))
            .map_err(|e| format!("{shown}: cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{shown}: {host} resolves to no address"))?;
        let mut path = u.path().to_string();
        if let Some(q) = u.query() {
            path = format!("{path}?{q}");
        }
        let authority = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let tls = matches!(u.scheme(), "https" | "wss");
        Ok(Endpoint {
            target: Target { addr, host: bare, authority, tls },
            path,
            websocket: matches!(u.scheme(), "ws" | "wss"),
            shown,
        })
    }

    /// A plain-HTTP node at `addr`, path `/`.
    pub fn plain(addr: std::net::SocketAddr) -> Self {
        Endpoint { target: Target::plain(addr), path: "/".into(), websocket: false, shown: format!("http://{addr}/") }
    }

    /// The node's transport: HTTP or WebSocket by the scheme.
    pub fn transport(self, retry: Retry) -> Rc<dyn Transport> {
        if self.websocket { Rc::new(crate::chain::ws::Ws::new(self, retry)) } else { Rc::new(Http::new(self, retry)) }
    }
}

/// `url` without its query and credentials (API keys often live there), for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let hidden = u.query().is_some() || !u.username().is_empty() || u.password().is_some();
            u.set_query(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            if hidden { format!("{u}?…") } else { u.to_string() }
        }
        Err(_) => "(not a URL)".into(),
    }
}

/// Largest answer a node may give (a block's receipts, a range of logs).
pub const MAX_ANSWER: usize = 64 << 20;

/// A JSON-RPC batch of `calls`, ids from `first`.
pub(crate) fn batch_body(calls: &[Call], first: u64) -> Result<Vec<u8>, ForkError> {
    let body: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"jsonrpc": "2.0", "id": first + i as u64, "method": c.method, "params": c.params}))
        .collect();
    serde_json::to_vec(&body).map_err(|e| ForkError::Source { method: calls[0].method, message: e.to_string() })
}

/// The results of a batch answer, in the calls' order: every id answered once, errors named by
/// the call's method.
pub(crate) fn batch_answers(calls: &[Call], first: u64, bytes: &[u8]) -> Result<Vec<Value>, ForkError> {
    let method = calls[0].method;
    let fail = |message: String| ForkError::Source { method, message };
    let answers: Vec<Value> =
        serde_json::from_slice(bytes).map_err(|e| fail(format!("not a JSON-RPC batch answer: {e}")))?;
    let mut out = vec![Value::Null; calls.len()];
    let mut seen = vec![false; calls.len()];
    for a in answers {
        let id = a.get("id").and_then(Value::as_u64).filter(|id| *id >= first && *id < first + calls.len() as u64);
        let Some(id) = id else { return Err(fail(format!("an answer with an unknown id: {}", a["id"]))) };
        let k = (id - first) as usize;
        if let Some(e) = a.get("error") {
            return Err(ForkError::Source { method: calls[k].method, message: e.to_string() });
        }
        let Some(result) = a.get("result") else {
            return Err(ForkError::Source { method: calls[k].method, message: "an answer without result".into() });
        };
        out[k] = result.clone();
        seen[k] = true;
    }
    if let Some(k) = seen.iter().position(|s| !s) {
        return Err(ForkError::Source { method: calls[k].method, message: "no answer in the batch".into() });
    }
    Ok(out)
}

/// Bounded retries with exponential backoff for answers worth asking again.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 4, first_backoff: Duration::from_millis(200), timeout: Duration::from_secs(10) }
    }
}

/// Why one attempt failed: worth another (a refused or dropped connection, a timeout, a busy
/// node), or final (the node's own answer, a certificate).
pub(crate) enum Failure {
    Again(String),
    Final(String),
}

impl Retry {
    /// Runs `attempt` until it succeeds or fails finally, at most `attempts` times, sleeping
    /// `first_backoff` doubled after each failure worth another; the last failure is `method`'s
    /// error, naming the node as `shown`.
    pub(crate) fn run<T>(
        &self,
        method: &'static str,
        shown: &str,
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, ForkError> {
        let mut backoff = self.first_backoff;
        let mut last = String::new();
        for n in 0..self.attempts.max(1) {
            if n > 0 {
                tracing::warn!(target: "xcrack::rpc", method, attempt = n, error = %last, "node call failed; retrying");
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
            }
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Failure::Again(m)) => last = m,
                Err(Failure::Final(message)) => return Err(ForkError::Source { method, message }),
            }
        }
        Err(ForkError::Source { method, message: format!("{last} after {} attempts ({shown})", self.attempts.max(1)) })
    }
}

/// A node over HTTP JSON-RPC (our hyper client).
pub struct Http {
    endpoint: Endpoint,
    client: RefCell<HttpClient>,
    next_id: Cell<u64>,
    requests: Cell<u64>,
    retry: Retry,
}

impl Http {
    pub fn new(endpoint: Endpoint, retry: Retry) -> Self {
        let client = RefCell::new(HttpClient::with_limit(MAX_ANSWER));
        Http { endpoint, client, next_id: Cell::new(0), requests: Cell::new(0), retry }
    }

    /// One POST, asked again on what passes (connection refused, timeout, 429, 502-504).
    fn post(&self, method: &'static str, body: &[u8]) -> Result<Vec<u8>, ForkError> {
        self.retry.run(method, &self.endpoint.shown, || {
            self.requests.set(self.requests.get() + 1);
            let r = self.client.borrow_mut().post_to(
                &self.endpoint.target,
                &self.endpoint.path,
                &[],
                body,
                self.retry.timeout,
            );
            match r {
                Ok((200, bytes)) => Ok(bytes),
                Ok((status @ (429 | 502 | 503 | 504), _)) => Err(Failure::Again(format!("HTTP {status}"))),
                Ok((status, bytes)) => {
                    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                    Err(Failure::Final(format!("HTTP {status}: {text}")))
                }
                Err(e @ (HttpError::Io(_) | HttpError::Timeout(_))) => Err(Failure::Again(e.to_string())),
                Err(e) => Err(Failure::Final(e.to_string())),
            }
        })
    }
}

impl Transport for Http {
    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        if calls.iter().any(|c| c.method == "eth_subscribe") {
            return Err(ForkError::Source {
                method: "eth_subscribe",
                message: format!("{}: subscriptions need a ws:// or wss:// node", self.endpoint.shown),
            });
        }
        let first = self.next_id.get() + 1;
        self.next_id.set(first + calls.len() as u64);
        let body = batch_body(calls, first)?;
        let bytes = self.post(calls[0].method, &body)?;
        batch_answers(calls, first, &bytes)
    }

    fn requests(&self) -> u64 {
        self.requests.get()
    }
}

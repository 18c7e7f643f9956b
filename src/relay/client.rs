//! The searcher's side of the relay: builds the exact Flashbots requests, signs each body for the
//! `X-Flashbots-Signature` header with the searcher's auth key, and decodes results or JSON-RPC
//! errors. The same code talks to our local relay and (behind a TLS transport) to a real one.

use std::net::SocketAddr;
use std::time::Duration;

use alloy_primitives::B256;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth;
use super::http::{HttpClient, HttpError, Target};
use super::rpc::SendBundleResult;
use super::rpc::{CallBundleParams, CallBundleResult, CancelBundleParams, Response, RpcError, SendBundleParams};
use crate::chain::Wallet;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay transport: {0}")]
    Http(#[from] HttpError),
    #[error("relay answered JSON-RPC error {}: {}", .0.code, .0.message)]
    Rpc(RpcError),
    #[error("relay response for {method} undecodable: {message}")]
    Decode { method: &'static str, message: String },
    #[error("signing the request failed: {0}")]
    Sign(String),
    #[error("relay answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("{last} (after {attempts} attempts)")]
    Exhausted { attempts: u32, last: Box<RelayError> },
}

impl RelayError {
    /// Worth asking again: the relay unreachable, slow, overloaded or failing (429, 5xx); not a
    /// refusal of the request itself.
    fn transient(&self) -> bool {
        match self {
            RelayError::Http(e) => matches!(e, HttpError::Io(_) | HttpError::Protocol(_) | HttpError::Timeout(_)),
            RelayError::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// A bundle is worth sending only before its block: three attempts of at most 2 s each, 50 ms
/// then 100 ms apart (6.2 s at worst, half a mainnet block).
pub const RELAY_RETRY: crate::chain::rpc::Retry =
    crate::chain::rpc::Retry { attempts: 3, first_backoff: Duration::from_millis(50), timeout: Duration::from_secs(2) };

pub struct RelayClient {
    target: Target,
    path: String,
    /// Signs request bodies; a reputation key, not the key that signs transactions.
    auth: Wallet,
    /// Each attempt's deadline, how many, and the first wait between them (doubling).
    retry: crate::chain::rpc::Retry,
    next_id: u64,
    http: HttpClient,
}

impl RelayClient {
    /// Our relay on `addr` (plain HTTP, path `/`).
    pub fn new(addr: SocketAddr, auth: Wallet) -> Self {
        Self::at(Target::plain(addr), "/".into(), auth)
    }

    /// A relay at `url`: `https://` (certificates verified) or `http://`.
    pub fn connect(url: &str, auth: Wallet) -> Result<Self, String> {
        let e = crate::chain::rpc::Endpoint::parse(url)?;
        if e.websocket {
            return Err(format!("{}: a relay takes HTTP(S) requests", e.shown));
        }
        Ok(Self::at(e.target, e.path, auth))
    }

    fn at(target: Target, path: String, auth: Wallet) -> Self {
        RelayClient { target, path, auth, retry: RELAY_RETRY, next_id: 0, http: HttpClient::new() }
    }

    /// Another deadline per attempt, number of attempts and first backoff.
    pub fn with_retry(mut self, retry: crate::chain::rpc::Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Connections opened so far (one is kept between requests).
    pub fn connections(&self) -> u64 {
        self.http.connections
    }

    /// Trust `tls`'s roots (a relay with a private CA) instead of Mozilla's and SSL_CERT_FILE's.
    pub fn with_tls(mut self, tls: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.http = std::mem::take(&mut self.http).with_tls(tls);
        self
    }

    pub fn send_bundle(&mut self, p: &SendBundleParams) -> Result<B256, RelayError> {
        let r: SendBundleResult = self.call("eth_sendBundle", p)?;
        Ok(r.bundle_hash)
    }

    /// `flashbots_getBundleStatsV2` for bundle `hash` sent for `block` (the relay's own answer).
    pub fn bundle_stats(&mut self, hash: B256, block: u64) -> Result<serde_json::Value, RelayError> {
        let p = super::rpc::BundleStatsParams { bundle_hash: hash, block_number: super::rpc::quantity(block) };
        self.call("flashbots_getBundleStatsV2", &p)
    }

    pub fn call_bundle(&mut self, p: &CallBundleParams) -> Result<CallBundleResult, RelayError> {
        self.call("eth_callBundle", p)
    }

    pub fn cancel_bundle(&mut self, replacement_uuid: &str) -> Result<(), RelayError> {
        let _: serde_json::Value =
            self.call("eth_cancelBundle", &CancelBundleParams { replacement_uuid: replacement_uuid.to_string() })?;
        Ok(())
    }

    /// One signed JSON-RPC call: `{"jsonrpc":"2.0","id":n,"method":m,"params":[p]}`.
    pub fn call<P: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &'static str,
        params: &P,
    ) -> Result<R, RelayError> {
        self.next_id += 1;
        let body = serde_json::to_vec(&serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.next_id,
            "method": method,
            "params": [params],
        }))
        .map_err(|e| RelayError::Sign(e.to_string()))?;
        let sig = auth::sign(&self.auth, &body).map_err(|e| RelayError::Sign(e.to_string()))?;
        let (status, bytes) = self.exchange(method, &body, &[(auth::HEADER, &sig)])?;
        let resp: Response = serde_json::from_slice(&bytes)
            .map_err(|e| RelayError::Decode { method, message: format!("HTTP {status}: {e}") })?;
        if let Some(e) = resp.error {
            return Err(RelayError::Rpc(e));
        }
        serde_json::from_value(resp.result.unwrap_or(serde_json::Value::Null))
            .map_err(|e| RelayError::Decode { method, message: e.to_string() })
    }

    /// POSTs `body` with `headers` until it is answered (not 429/5xx) or the attempts are spent:
    /// the status and the body.
    fn exchange(
        &mut self,
        method: &'static str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), RelayError> {
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut n = 0;
        let answer = loop {
            n += 1;
            let answer = self
                .http
                .post_to(&self.target, &self.path, headers, body, self.retry.timeout)
                .map_err(RelayError::from)
                .and_then(|(status, bytes)| match status {
                    429 | 500..=599 => Err(RelayError::Status {
                        status,
                        body: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                    }),
                    _ => Ok((status, bytes)),
                });
            match answer {
                Ok(a) => break a,
                Err(e) if e.transient() && n < attempts => {
                    tracing::warn!(target: "xcrack::relay", method, attempt = n, error = %e, "relay request failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = backoff.saturating_mul(2);
                }
                Err(e) if n > 1 => return Err(RelayError::Exhausted { attempts: n, last: Box::new(e) }),
                Err(e) => return Err(e),
            }
        };
        Ok(answer)
    }

    /// A request body of another builder's API (`relay::builders`), sent as it is with `headers`
    /// (the signature over these bytes, a credential): the JSON-RPC result.
    pub fn post_signed(
        &mut self,
        method: &'static str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<serde_json::Value, RelayError> {
        let (status, bytes) = self.exchange(method, body, headers)?;
        let resp: Response = serde_json::from_slice(&bytes)
            .map_err(|e| RelayError::Decode { method, message: format!("HTTP {status}: {e}") })?;
        if let Some(e) = resp.error {
            return Err(RelayError::Rpc(e));
        }
        Ok(resp.result.unwrap_or(serde_json::Value::Null))
    }
}

//! The chain's new heads as live mode will follow them: an `eth_subscribe("newHeads")` over a
//! WebSocket, with every block in between. A head that skips numbers is preceded by the blocks it
//! skipped (backfilled by number); a head whose parent is not the block we hold at that height is a
//! reorg, walked back by number to the last block both chains share and announced before the new
//! branch; a dropped connection is reopened with doubling backoff, resubscribed, and the blocks
//! mined meanwhile are backfilled from the node's head. So no block is lost to a reconnect and
//! none is announced twice.

use std::collections::VecDeque;
use std::time::Duration;

use alloy_primitives::B256;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::fork::ForkError;
use super::rpc::Failure;
use super::rpc::{BlockHead, Endpoint, Retry, head_of};
use super::ws::{Socket, next_message, open};

/// What the follower announces, in chain order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadEvent {
    /// The next canonical block.
    Block(BlockHead),
    /// The blocks above `to` (`depth` of them) are no longer canonical; the new branch follows.
    Reorg { to: BlockHead, depth: u64 },
}

/// Blocks kept to find a reorg's common ancestor (deeper reorgs are an error).
pub const MAX_REORG: usize = 64;

pub struct HeadFollower {
    endpoint: Endpoint,
    retry: Retry,
    rt: tokio::runtime::Runtime,
    socket: Option<Socket>,
    subscription: Option<Value>,
    /// Canonical blocks we announced, oldest first (at most `MAX_REORG`).
    chain: VecDeque<BlockHead>,
    /// Notifications read while waiting for an answer, handled next.
    queued: VecDeque<Value>,
    /// The block the caller held when following began.
    known: BlockHead,
    next_id: u64,
    pub reconnects: u64,
    /// Since when the node has not answered, the failed attempts, and when to try again.
    down: Option<Down>,
    /// Also subscribed to `newPendingTransactions` (hashes): those announced, not yet taken.
    watch_pending: bool,
    pending_subscription: Option<Value>,
    pending: Vec<B256>,
}

#[derive(Clone, Debug)]
struct Down {
    since: std::time::Instant,
    failures: u32,
    retry_at: std::time::Instant,
}

impl HeadFollower {
    /// Follows the node at `endpoint` (ws:// or wss://) from `known`, the last block the caller holds.
    pub fn new(endpoint: Endpoint, retry: Retry, known: BlockHead) -> Result<Self, ForkError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| source(e.to_string()))?;
        Ok(HeadFollower {
            endpoint,
            retry,
            rt,
            socket: None,
            subscription: None,
            chain: VecDeque::from([known]),
            queued: VecDeque::new(),
            known,
            next_id: 0,
            reconnects: 0,
            down: None,
            watch_pending: false,
            pending_subscription: None,
            pending: Vec::new(),
        })
    }

    /// Also follows the node's new pending transactions (`eth_subscribe("newPendingTransactions")`,
    /// their hashes, taken with `take_pending`); resubscribed with the heads after a reconnect.
    pub fn with_pending(mut self) -> Self {
        self.watch_pending = true;
        self
    }

    /// The pending transactions' hashes announced since the last call, in arrival order.
    pub fn take_pending(&mut self) -> Vec<B256> {
        std::mem::take(&mut self.pending)
    }

    /// The last canonical block announced (the known one before any).
    pub fn head(&self) -> BlockHead {
        // The chain always holds at least the reorg's shared block or the known one.
        self.chain.back().copied().unwrap_or(self.known)
    }

    /// Waits up to `wait` for news and returns it (empty when none came): blocks in order, a reorg
    /// before its branch. A dropped connection is reopened within `Retry::attempts`, doubling the
    /// wait between attempts from `Retry::first_backoff`; meanwhile each call still returns within
    /// `wait` (empty), so the caller keeps its own clock (alerts, stop requests) while the node is down.
    pub fn next(&mut self, wait: Duration) -> Result<Vec<HeadEvent>, ForkError> {
        if let Some(d) = &self.down {
            let now = std::time::Instant::now();
            if now < d.retry_at {
                std::thread::sleep(wait.min(d.retry_at - now));
                if std::time::Instant::now() < d.retry_at {
                    return Ok(Vec::new());
                }
            }
        }
        match self.step(wait) {
            Ok(news) => {
                self.down = None;
                Ok(news)
            }
            Err(Failure::Final(message)) => Err(ForkError::Source { method: "eth_subscribe", message }),
            Err(Failure::Again(message)) => {
                self.socket = None;
                self.subscription = None;
                self.pending_subscription = None;
                let now = std::time::Instant::now();
                let failures = self.down.as_ref().map_or(0, |d| d.failures) + 1;
                if failures >= self.retry.attempts.max(1) {
                    let shown = &self.endpoint.shown;
                    return Err(ForkError::Source {
                        method: "eth_subscribe",
                        message: format!("{message} after {failures} attempts ({shown})"),
                    });
                }
                tracing::warn!(target: "xcrack::rpc", method = "eth_subscribe", attempt = failures, error = %message, "node connection failed; retrying");
                let backoff = self.retry.first_backoff.saturating_mul(1 << (failures - 1).min(16));
                let since = self.down.as_ref().map_or(now, |d| d.since);
                self.down = Some(Down { since, failures, retry_at: now + backoff });
                Ok(Vec::new())
            }
        }
    }

    /// Since when the node has not answered (None while it does).
    pub fn down_since(&self) -> Option<std::time::Instant> {
        self.down.as_ref().map(|d| d.since)
    }

    fn step(&mut self, wait: Duration) -> Result<Vec<HeadEvent>, Failure> {
        let mut out = Vec::new();
        if self.subscription.is_none() {
            if self.socket.is_none() {
                let socket = self.rt.block_on(open(&self.endpoint))?;
                // Any request before this connection was made on an earlier one.
                if self.next_id > 0 {
                    self.reconnects += 1;
                }
                self.socket = Some(socket);
            }
            let id = self.request("eth_subscribe", json!(["newHeads"]))?;
            self.subscription = Some(id);
            if self.watch_pending {
                let id = self.request("eth_subscribe", json!(["newPendingTransactions"]))?;
                self.pending_subscription = Some(id);
            }
            // What was mined while we were away (or before we subscribed).
            let latest = self.request("eth_blockNumber", json!([]))?;
            let latest = quantity(&latest)?;
            self.extend_to(latest, &mut out)?;
        }
        let header = match self.queued.pop_front() {
            Some(h) => Some(h),
            None => self.notification(wait)?,
        };
        if let Some(h) = header {
            let head = head_of(&h, None).map_err(|e| Failure::Final(e.to_string()))?;
            self.arrive(head, &mut out)?;
        }
        Ok(out)
    }

    /// Blocks up to `number` we have not announced, fetched by number.
    fn extend_to(&mut self, number: u64, out: &mut Vec<HeadEvent>) -> Result<(), Failure> {
        while self.head().number < number {
            let next = self.block(self.head().number + 1)?;
            self.arrive(next, out)?;
        }
        Ok(())
    }

    /// A block the node says is canonical: announced in order, with what it skipped and any reorg.
    fn arrive(&mut self, head: BlockHead, out: &mut Vec<HeadEvent>) -> Result<(), Failure> {
        let ours = self.head();
        if self.chain.iter().any(|b| b.hash == head.hash) {
            return Ok(());
        }
        if head.number > ours.number + 1 {
            // Skipped blocks first; then this one arrives on top of them.
            self.extend_to(head.number - 1, out)?;
            return self.arrive(head, out);
        }
        let below = self.chain.iter().find(|b| b.number + 1 == head.number).copied();
        if below.is_some_and(|b| b.hash == head.parent_hash) && head.number == self.head().number + 1 {
            self.push(head, out);
            return Ok(());
        }
        // A reorg: walk back by number until the node's block matches ours.
        let mut branch = vec![head];
        let mut n = head.number;
        loop {
            if n == 0 {
                return Err(Failure::Final("a reorg down to genesis".into()));
            }
            n -= 1;
            let Some(mine) = self.chain.iter().find(|b| b.number == n).copied() else {
                return Err(Failure::Final(format!("a reorg deeper than the {MAX_REORG} blocks kept")));
            };
            let theirs = self.block(n)?;
            if theirs.hash == mine.hash {
                let depth = self.head().number - n;
                self.chain.retain(|b| b.number <= n);
                if depth > 0 {
                    out.push(HeadEvent::Reorg { to: mine, depth });
                }
                for b in branch.into_iter().rev() {
                    self.push(b, out);
                }
                return Ok(());
            }
            branch.push(theirs);
        }
    }

    fn push(&mut self, head: BlockHead, out: &mut Vec<HeadEvent>) {
        self.chain.push_back(head);
        while self.chain.len() > MAX_REORG {
            self.chain.pop_front();
        }
        out.push(HeadEvent::Block(head));
    }

    fn block(&mut self, number: u64) -> Result<BlockHead, Failure> {
        let b = self.request("eth_getBlockByNumber", json!([format!("{number:#x}"), false]))?;
        head_of(&b, Some(number)).map_err(|e| Failure::Final(e.to_string()))
    }

    /// One request on the subscription's connection; notifications read meanwhile are queued.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        self.next_id += 1;
        let id = self.next_id;
        let timeout = self.retry.timeout;
        let subscription = self.subscription.clone();
        let pending_subscription = self.pending_subscription.clone();
        let (socket, queued, pending, rt) = (self.socket.as_mut(), &mut self.queued, &mut self.pending, &self.rt);
        let socket = socket.ok_or_else(|| Failure::Again("no connection".into()))?;
        let ask = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        rt.block_on(async {
            socket.send(Message::text(ask)).await.map_err(|e| Failure::Again(e.to_string()))?;
            let work = async {
                loop {
                    let v: Value = serde_json::from_slice(&next_message(socket).await?)
                        .map_err(|e| Failure::Final(format!("{method}: not JSON: {e}")))?;
                    if v.get("id").and_then(Value::as_u64) == Some(id) {
                        if let Some(e) = v.get("error") {
                            return Err(Failure::Final(format!("{method}: {e}")));
                        }
                        return Ok(v.get("result").cloned().unwrap_or(Value::Null));
                    }
                    if let Some(h) = header_of(&v, subscription.as_ref()) {
                        queued.push_back(h);
                    } else if let Some(h) = pending_of(&v, pending_subscription.as_ref()) {
                        pending.push(h);
                    }
                }
            };
            tokio::time::timeout(timeout, work).await.map_err(|_| Failure::Again(format!("{method}: no answer")))?
        })
    }

    /// The next head notification within `wait` (`None`: none came). Pending transactions'
    /// hashes end the wait early: those that came, and any already read behind them, are kept.
    fn notification(&mut self, wait: Duration) -> Result<Option<Value>, Failure> {
        let subscription = self.subscription.clone();
        let pending_subscription = self.pending_subscription.clone();
        let (socket, pending, rt) = (self.socket.as_mut(), &mut self.pending, &self.rt);
        let socket = socket.ok_or_else(|| Failure::Again("no connection".into()))?;
        rt.block_on(async {
            let until = tokio::time::Instant::now() + wait;
            loop {
                // Once a pending hash is in hand, only what is already there is read.
                let deadline = if pending.is_empty() { until } else { tokio::time::Instant::now() };
                let m = match tokio::time::timeout_at(deadline, next_message(socket)).await {
                    Err(_) => return Ok(None),
                    Ok(m) => m?,
                };
                let Ok(v) = serde_json::from_slice::<Value>(&m) else { continue };
                if let Some(h) = header_of(&v, subscription.as_ref()) {
                    return Ok(Some(h));
                }
                if let Some(h) = pending_of(&v, pending_subscription.as_ref()) {
                    pending.push(h);
                }
            }
        })
    }
}

/// The header a `newHeads` notification of `subscription` carries.
fn header_of(v: &Value, subscription: Option<&Value>) -> Option<Value> {
    (v.get("method").and_then(Value::as_str) == Some("eth_subscription")
        && subscription.is_some_and(|s| v["params"]["subscription"] == *s))
    .then(|| v["params"]["result"].clone())
}

/// The transaction hash a `newPendingTransactions` notification of `subscription` carries (a
/// node sending whole transactions there: their `hash`).
fn pending_of(v: &Value, subscription: Option<&Value>) -> Option<B256> {
    let r = header_of(v, subscription)?;
    r.as_str().or_else(|| r.get("hash").and_then(Value::as_str))?.parse().ok()
}

fn quantity(v: &Value) -> Result<u64, Failure> {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| Failure::Final(format!("eth_blockNumber: not a quantity: {v}")))
}

fn source(message: String) -> ForkError {
    ForkError::Source { method: "eth_subscribe", message }
}

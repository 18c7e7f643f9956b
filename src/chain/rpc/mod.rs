//! A node's JSON-RPC as fork mode reads it: one `Transport` seam (a node over HTTP, a recorder
//! around it, or a recording replayed offline) under `RpcSource`, which serves a pinned block's
//! state to `ForkDb` and the blocks, transactions and receipts fork mode offers as pending and
//! compares with what landed.
//!
//! Every answer is checked where it is parsed: a missing or malformed field is one error naming
//! the method and the field, never a panic. A node that is down, slow or rate-limiting (HTTP 429,
//! 502-504) is retried a bounded number of times with exponential backoff, then reported.
//!
//! Recording is at the request level: each call's method and parameters (canonical JSON) address
//! its answer, so a replay answers the same questions in any batching and refuses any other.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use serde_json::{Value, json};

use super::fork::{ForkError, Pin, RemoteAccount, StateSource};

mod http;
mod record;

pub use http::{Endpoint, Http, MAX_ANSWER, Retry, redact};
pub(crate) use http::{Failure, batch_answers, batch_body};
pub use record::{RECORDING_FORMAT, RecordedCall, Recorder, Recording, Replay};

/// One JSON-RPC call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub params: Value,
}

impl Call {
    pub fn new(method: &'static str, params: Value) -> Self {
        Call { method, params }
    }

    /// What addresses the call's answer in a recording: the method and its parameters as
    /// canonical JSON (object keys sorted).
    pub fn key(&self) -> String {
        format!("{}{}", self.method, self.params)
    }
}

/// How JSON-RPC calls reach a node. Called from the EVM's thread; it may block, never panic.
pub trait Transport {
    /// The results of `calls`, in their order (one batch where the transport can).
    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError>;
    /// Requests made so far (a batch is one).
    fn requests(&self) -> u64;
}

/// The subscription call: `eth_subscribe("newPendingTransactions")` listened to for `window`; the
/// window is a parameter of ours (the node never sees it), so a recording addresses the answer.
pub fn subscription(window: Duration) -> Call {
    Call::new("eth_subscribe", json!(["newPendingTransactions", {"xcrack_listen_ms": window.as_millis() as u64}]))
}

/// The listening window a subscription call carries.
pub fn listen_window(c: &Call) -> Option<Duration> {
    (c.method == "eth_subscribe")
        .then(|| c.params.get(1)?.get("xcrack_listen_ms")?.as_u64())
        .flatten()
        .map(Duration::from_millis)
}

impl<T: Transport + ?Sized> Transport for Rc<T> {
    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
        (**self).send(calls)
    }
    fn requests(&self) -> u64 {
        (**self).requests()
    }
}

/// A block's header as fork mode needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHead {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
    pub timestamp: u64,
    pub base_fee: u128,
    pub gas_used: u64,
    pub gas_limit: u64,
    pub coinbase: Address,
}

/// A transaction of a block as it landed: raw signed bytes and its receipt's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandedTx {
    pub hash: B256,
    pub raw: Bytes,
    pub success: bool,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub logs: Vec<LandedLog>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandedLog {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Bytes,
}

/// A node's JSON-RPC, read at pinned blocks: fork mode's one way to the chain.
#[derive(Clone)]
pub struct RpcSource {
    t: Rc<dyn Transport>,
}

impl RpcSource {
    pub fn new(t: Rc<dyn Transport>) -> Self {
        RpcSource { t }
    }

    /// A node over plain HTTP at `addr` with the default retries.
    pub fn http(addr: std::net::SocketAddr) -> Self {
        Self::new(Rc::new(Http::new(Endpoint::plain(addr), Retry::default())))
    }

    pub fn requests(&self) -> u64 {
        self.t.requests()
    }

    fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
        let out = self.t.send(calls)?;
        super::fork::one_answer_each(calls.first().map(|c| c.method).unwrap_or("batch"), out.len(), calls.len())?;
        Ok(out)
    }

    /// Any one call's result (e.g. a dev node's `evm_mine`), as the node answered it.
    pub fn request(&self, method: &'static str, params: Value) -> Result<Value, ForkError> {
        Ok(self.send(&[Call::new(method, params)])?.remove(0))
    }

    pub fn chain_id(&self) -> Result<u64, ForkError> {
        let r = self.send(&[Call::new("eth_chainId", json!([]))])?;
        quantity("eth_chainId", "result", &r[0])
    }

    /// The headers of blocks `numbers`, in one batch; a block the node does not have is an error.
    pub fn heads(&self, numbers: &[u64]) -> Result<Vec<BlockHead>, ForkError> {
        let calls: Vec<Call> =
            numbers.iter().map(|n| Call::new("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))).collect();
        self.send(&calls)?.iter().zip(numbers).map(|(b, n)| head_of(b, Some(*n))).collect()
    }

    /// `who`'s transaction count mined up to block `number` and with the node's pool (`pending`),
    /// in one batch.
    pub fn transaction_counts(&self, who: Address, number: u64) -> Result<(u64, u64), ForkError> {
        let calls = [
            Call::new("eth_getTransactionCount", json!([who, format!("{number:#x}")])),
            Call::new("eth_getTransactionCount", json!([who, "pending"])),
        ];
        let r = self.send(&calls)?;
        Ok((
            quantity("eth_getTransactionCount", "result", &r[0])?,
            quantity("eth_getTransactionCount", "result", &r[1])?,
        ))
    }

    /// The latest block's number.
    pub fn latest(&self) -> Result<u64, ForkError> {
        let r = self.send(&[Call::new("eth_blockNumber", json!([]))])?;
        quantity("eth_blockNumber", "result", &r[0])
    }

    /// The block `number` (or the head) as a pin: the node's chain id and the block's hash; a hash
    /// given beforehand must be the node's.
    pub fn pin(&self, number: Option<u64>, expect_hash: Option<B256>) -> Result<Pin, ForkError> {
        let tag = number.map(|n| format!("{n:#x}")).unwrap_or_else(|| "latest".into());
        let r =
            self.send(&[Call::new("eth_chainId", json!([])), Call::new("eth_getBlockByNumber", json!([tag, false]))])?;
        let chain_id = quantity("eth_chainId", "result", &r[0])?;
        let head = head_of(&r[1], number)?;
        if let Some(h) = expect_hash.filter(|h| *h != head.hash) {
            return Err(ForkError::Source {
                method: "eth_getBlockByNumber",
                message: format!("block {} is {} on this node, not {h}", head.number, head.hash),
            });
        }
        Ok(Pin { chain_id, number: head.number, hash: head.hash })
    }

    /// `eth_call` of `data` to `to` at the pinned block: the return data, or the revert as an error.
    pub fn call(&self, pin: &Pin, to: Address, data: &[u8]) -> Result<Bytes, ForkError> {
        let tx = json!({"to": to, "data": Bytes::copy_from_slice(data)});
        let r = self.send(&[Call::new("eth_call", json!([tx, format!("{:#x}", pin.number)]))])?;
        parse("eth_call", "result", &r[0])
    }

    /// The hashes the node announces over `eth_subscribe("newPendingTransactions")` for `window`,
    /// in arrival order, each once. Asked as one call whose parameters carry the window (the
    /// WebSocket transport listens; a recording answers it like any other).
    pub fn pending_hashes(&self, window: Duration) -> Result<Vec<B256>, ForkError> {
        const M: &str = "eth_subscribe";
        let r = self.send(&[subscription(window)])?;
        let hashes = r[0].as_array().ok_or_else(|| field_error(M, "result", &r[0]))?;
        hashes.iter().map(|h| parse(M, "result[]", h)).collect()
    }

    /// Of `hashes`, those still pending (no block yet), with their raw bytes checked, in order.
    pub fn pending_txs(&self, hashes: &[B256]) -> Result<Vec<LandedTx>, ForkError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let objects: Vec<Call> = hashes.iter().map(|h| Call::new("eth_getTransactionByHash", json!([h]))).collect();
        let (raws, txs) = self.raw_transactions(hashes, &objects)?;
        let mut out = Vec::new();
        for ((hash, tx), raw) in hashes.iter().zip(&txs).zip(raws) {
            // Dropped or replaced since it was announced, or mined already: not pending.
            let Some(raw) = raw.filter(|_| !tx.is_null() && field(tx, "blockNumber").is_null()) else { continue };
            out.push(LandedTx {
                hash: *hash,
                raw,
                success: false,
                gas_used: 0,
                effective_gas_price: 0,
                logs: Vec::new(),
            });
        }
        Ok(out)
    }

    /// The node's pending pool (`txpool_content`'s pending part) in builder order: highest tip
    /// first, each sender's transactions in nonce order; raw bytes checked against their hashes.
    /// Nothing has landed: no receipts.
    pub fn txpool(&self) -> Result<Vec<LandedTx>, ForkError> {
        const M: &str = "txpool_content";
        let r = self.send(&[Call::new(M, json!([]))])?;
        let pending = r[0].get("pending").and_then(Value::as_object).ok_or_else(|| field_error(M, "pending", &r[0]))?;
        // (sender, nonce, tip, hash)
        let mut txs: Vec<(Address, u64, u128, B256)> = Vec::new();
        for (sender, by_nonce) in pending {
            let from: Address = sender.parse().map_err(|_| field_error(M, "pending.<sender>", &r[0]))?;
            let by_nonce = by_nonce.as_object().ok_or_else(|| field_error(M, "pending.<sender>", &r[0]))?;
            for tx in by_nonce.values() {
                let tip = match tx.get("maxPriorityFeePerGas") {
                    Some(v) if !v.is_null() => parse::<U256>(M, "maxPriorityFeePerGas", v)?,
                    _ => parse::<U256>(M, "gasPrice", field(tx, "gasPrice"))?,
                };
                txs.push((
                    from,
                    quantity(M, "nonce", field(tx, "nonce"))?,
                    tip.saturating_to(),
                    parse(M, "hash", field(tx, "hash"))?,
                ));
            }
        }
        // Builder order: a sender's transactions stay in nonce order, at the tip of its first.
        txs.sort_by_key(|t| (t.0, t.1));
        let mut first_tip: BTreeMap<Address, u128> = BTreeMap::new();
        for t in &txs {
            first_tip.entry(t.0).or_insert(t.2);
        }
        txs.sort_by_key(|t| (std::cmp::Reverse(first_tip[&t.0]), t.0, t.1));
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let hashes: Vec<B256> = txs.iter().map(|t| t.3).collect();
        let (raws, _) = self.raw_transactions(&hashes, &[])?;
        hashes
            .into_iter()
            .zip(raws)
            .map(|(hash, raw)| {
                let raw = raw.ok_or_else(|| ForkError::Source {
                    method: "eth_getRawTransactionByHash",
                    message: format!("{hash}: the node has no such transaction"),
                })?;
                Ok(LandedTx { hash, raw, success: false, gas_used: 0, effective_gas_price: 0, logs: Vec::new() })
            })
            .collect()
    }

    /// Wei each of `txs` sent `coinbase` directly (the value of every call to it, at any depth),
    /// from `debug_traceTransaction`'s call tracer in one batch; `None` (with a warning) when the
    /// node does not trace or the recording has no traces: the bribe is then unknown, not zero.
    pub fn coinbase_transfers(&self, txs: &[B256], coinbase: Address) -> Option<Vec<U256>> {
        if txs.is_empty() {
            return Some(Vec::new());
        }
        let calls: Vec<Call> =
            txs.iter().map(|h| Call::new("debug_traceTransaction", json!([h, {"tracer": "callTracer"}]))).collect();
        let traces = match self.send(&calls) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(target: "xcrack::fork", error = %e, "no call traces: rivals' direct bribes unknown");
                return None;
            }
        };
        traces.iter().map(|t| paid_to(t, coinbase)).collect()
    }

    /// Block `number`'s transactions as they landed, in order: raw signed bytes (checked against
    /// their hashes) and receipts.
    /// `address`'s logs whose first topic is one of `signatures`, blocks `from..=pin` (never above
    /// the pin), asked in ranges of `LOG_RANGE` blocks: (block, log) in chain order.
    pub fn logs(
        &self,
        pin: &Pin,
        address: Address,
        signatures: &[B256],
        from: u64,
    ) -> Result<Vec<(u64, LandedLog)>, ForkError> {
        const M: &str = "eth_getLogs";
        let mut out = Vec::new();
        let mut lo = from;
        while lo <= pin.number {
            let hi = pin.number.min(lo.saturating_add(LOG_RANGE - 1));
            let filter = json!({
                "address": address,
                "topics": [signatures],
                "fromBlock": format!("{lo:#x}"),
                "toBlock": format!("{hi:#x}"),
            });
            let r = self.send(&[Call::new(M, json!([filter]))])?;
            let logs = r[0].as_array().ok_or_else(|| field_error(M, "result", &r[0]))?;
            for l in logs {
                let number = quantity(M, "blockNumber", field(l, "blockNumber"))?;
                if !(lo..=hi).contains(&number) {
                    return Err(ForkError::Source {
                        method: M,
                        message: format!("a log of block {number} answered a question about blocks {lo}..={hi}"),
                    });
                }
                out.push((number, log_of(M, l)?));
            }
            lo = hi + 1;
        }
        Ok(out)
    }

    /// The signed bytes of each of `hashes` (`None`: the node has no such transaction), checked
    /// against their hashes, with the answers to `extra` (asked in the same batch): by geth's
    /// `eth_getRawTransactionByHash`, or — where the node has no such method — each transaction
    /// object from `eth_getTransactionByHash` re-encoded (EIP-2718).
    pub fn raw_transactions(
        &self,
        hashes: &[B256],
        extra: &[Call],
    ) -> Result<(Vec<Option<Bytes>>, Vec<Value>), ForkError> {
        const RAW: &str = "eth_getRawTransactionByHash";
        const OBJ: &str = "eth_getTransactionByHash";
        let ask = |method: &'static str| -> Vec<Call> {
            let mut calls: Vec<Call> = hashes.iter().map(|h| Call::new(method, json!([h]))).collect();
            calls.extend(extra.iter().cloned());
            calls
        };
        let n = hashes.len();
        let (raws, rest): (Vec<Option<Bytes>>, Vec<Value>) = match self.send(&ask(RAW)) {
            Ok(answers) => {
                let raws = answers[..n]
                    .iter()
                    .map(|a| if a.is_null() { Ok(None) } else { parse(RAW, "result", a).map(Some) })
                    .collect::<Result<_, _>>()?;
                (raws, answers[n..].to_vec())
            }
            Err(ForkError::Source { method: RAW, message }) if lacks_method(&message) => {
                tracing::info!(target: "xcrack::fork", "the node has no {RAW}: re-encoding its transaction objects");
                let answers = self.send(&ask(OBJ))?;
                (answers[..n].iter().map(encoded).collect::<Result<_, _>>()?, answers[n..].to_vec())
            }
            Err(e) => return Err(e),
        };
        for (hash, raw) in hashes.iter().zip(&raws) {
            if let Some(raw) = raw.as_ref().filter(|r| keccak256(r) != *hash) {
                return Err(ForkError::Source {
                    method: RAW,
                    message: format!("the bytes of {hash} hash to {}", keccak256(raw)),
                });
            }
        }
        Ok((raws, rest))
    }

    pub fn landed(&self, number: u64) -> Result<Vec<LandedTx>, ForkError> {
        let r = self.send(&[Call::new("eth_getBlockByNumber", json!([format!("{number:#x}"), false]))])?;
        let block = &r[0];
        let hashes: Vec<B256> = block
            .get("transactions")
            .and_then(Value::as_array)
            .ok_or_else(|| field_error("eth_getBlockByNumber", "transactions", block))?
            .iter()
            .map(|h| parse("eth_getBlockByNumber", "transactions[]", h))
            .collect::<Result<_, _>>()?;
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let receipts: Vec<Call> = hashes.iter().map(|h| Call::new("eth_getTransactionReceipt", json!([h]))).collect();
        let (raws, receipts) = self.raw_transactions(&hashes, &receipts)?;
        let mut out = Vec::with_capacity(hashes.len());
        for ((hash, raw), rc) in hashes.iter().zip(raws).zip(&receipts) {
            let Some(raw) = raw else {
                return Err(ForkError::Source {
                    method: "eth_getRawTransactionByHash",
                    message: format!("{hash}: the node has no such transaction"),
                });
            };
            out.push(LandedTx {
                hash: *hash,
                raw,
                success: quantity("eth_getTransactionReceipt", "status", field(rc, "status"))? == 1,
                gas_used: quantity("eth_getTransactionReceipt", "gasUsed", field(rc, "gasUsed"))?,
                effective_gas_price: parse::<U256>(
                    "eth_getTransactionReceipt",
                    "effectiveGasPrice",
                    field(rc, "effectiveGasPrice"),
                )?
                .saturating_to(),
                logs: logs_of(rc)?,
            });
        }
        Ok(out)
    }
}

/// The value a call frame and its sub-calls send `to` (calls that move value: not DELEGATECALL,
/// CALLCODE or STATICCALL); `None` for a frame that is not a call tracer's.
fn paid_to(frame: &Value, to: Address) -> Option<U256> {
    let kind = frame.get("type").and_then(Value::as_str)?;
    let mut sum = U256::ZERO;
    let moves_value = !matches!(kind, "DELEGATECALL" | "CALLCODE" | "STATICCALL");
    let target = frame.get("to").and_then(Value::as_str).and_then(|a| a.parse::<Address>().ok());
    if moves_value && target == Some(to) {
        sum += match frame.get("value") {
            None | Some(Value::Null) => U256::ZERO,
            Some(v) => v.as_str().and_then(|s| s.parse().ok())?,
        };
    }
    for c in frame.get("calls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        sum += paid_to(c, to)?;
    }
    Some(sum)
}

fn logs_of(rc: &Value) -> Result<Vec<LandedLog>, ForkError> {
    const M: &str = "eth_getTransactionReceipt";
    let logs = rc.get("logs").and_then(Value::as_array).ok_or_else(|| field_error(M, "logs", rc))?;
    logs.iter().map(|l| log_of(M, l)).collect()
}

fn log_of(method: &'static str, l: &Value) -> Result<LandedLog, ForkError> {
    let topics = l.get("topics").and_then(Value::as_array).ok_or_else(|| field_error(method, "logs[].topics", l))?;
    Ok(LandedLog {
        address: parse(method, "logs[].address", field(l, "address"))?,
        topics: topics.iter().map(|t| parse(method, "logs[].topics[]", t)).collect::<Result<_, _>>()?,
        data: parse(method, "logs[].data", field(l, "data"))?,
    })
}

/// Blocks one `eth_getLogs` asks about (public nodes refuse wide ranges).
pub const LOG_RANGE: u64 = 5_000;

/// Does a node's error say it has no such method (JSON-RPC -32601, or words to that effect)?
fn lacks_method(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["-32601", "method not found", "does not exist", "not supported", "unsupported method", "not available"]
        .iter()
        .any(|w| m.contains(w))
}

/// A transaction object (`eth_getTransactionByHash`) as its signed EIP-2718 bytes; `None` for null.
fn encoded(tx: &Value) -> Result<Option<Bytes>, ForkError> {
    use alloy_eips::eip2718::Encodable2718;
    if tx.is_null() {
        return Ok(None);
    }
    let t: alloy_rpc_types_eth::Transaction = serde_json::from_value(tx.clone()).map_err(|e| ForkError::Source {
        method: "eth_getTransactionByHash",
        message: format!("not a transaction object: {e}"),
    })?;
    Ok(Some(t.into_inner().encoded_2718().into()))
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

fn field_error(method: &'static str, name: &str, v: &Value) -> ForkError {
    let shown: String = v.to_string().chars().take(120).collect();
    ForkError::Source { method, message: format!("{name}: missing or malformed in {shown}") }
}

pub(crate) fn head_of(block: &Value, asked: Option<u64>) -> Result<BlockHead, ForkError> {
    const M: &str = "eth_getBlockByNumber";
    if block.is_null() {
        let which = asked.map(|n| n.to_string()).unwrap_or_else(|| "latest".into());
        return Err(ForkError::Source { method: M, message: format!("the node has no block {which}") });
    }
    let head = BlockHead {
        number: quantity(M, "number", field(block, "number"))?,
        hash: parse(M, "hash", field(block, "hash"))?,
        parent_hash: parse(M, "parentHash", field(block, "parentHash"))?,
        timestamp: quantity(M, "timestamp", field(block, "timestamp"))?,
        base_fee: match block.get("baseFeePerGas") {
            None | Some(Value::Null) => 0,
            Some(v) => parse::<U256>(M, "baseFeePerGas", v)?.saturating_to(),
        },
        gas_used: quantity(M, "gasUsed", field(block, "gasUsed"))?,
        gas_limit: quantity(M, "gasLimit", field(block, "gasLimit"))?,
        coinbase: parse(M, "miner", field(block, "miner"))?,
    };
    if let Some(n) = asked.filter(|n| *n != head.number) {
        return Err(ForkError::Source {
            method: M,
            message: format!("asked for block {n}, the node answered {}", head.number),
        });
    }
    Ok(head)
}

pub(crate) fn quantity(method: &'static str, field: &str, v: &Value) -> Result<u64, ForkError> {
    let u: U256 = parse(method, field, v)?;
    u.try_into().map_err(|_| ForkError::Source { method, message: format!("{field}: {v} does not fit 64 bits") })
}

pub(crate) fn parse<T: std::str::FromStr>(method: &'static str, field: &str, v: &Value) -> Result<T, ForkError> {
    v.as_str()
        .filter(|s| s.starts_with("0x"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ForkError::Source { method, message: format!("{field}: {v} is not a hex value") })
}

impl StateSource for RpcSource {
    fn account(&self, pin: &Pin, who: Address) -> Result<RemoteAccount, ForkError> {
        let mut r = self.accounts(pin, &[who])?;
        r.pop().ok_or_else(|| ForkError::Source { method: "eth_getBalance", message: "no answer".into() })
    }

    /// Balance, nonce and code of every account in one batch.
    fn accounts(&self, pin: &Pin, who: &[Address]) -> Result<Vec<RemoteAccount>, ForkError> {
        let at = format!("{:#x}", pin.number);
        let calls: Vec<Call> = who
            .iter()
            .flat_map(|a| {
                [
                    Call::new("eth_getBalance", json!([a, at])),
                    Call::new("eth_getTransactionCount", json!([a, at])),
                    Call::new("eth_getCode", json!([a, at])),
                ]
            })
            .collect();
        self.send(&calls)?
            .chunks(3)
            .map(|r| {
                Ok(RemoteAccount {
                    balance: parse("eth_getBalance", "result", &r[0])?,
                    nonce: quantity("eth_getTransactionCount", "result", &r[1])?,
                    code: parse("eth_getCode", "result", &r[2])?,
                })
            })
            .collect()
    }

    fn storage(&self, pin: &Pin, slots: &[(Address, U256)]) -> Result<Vec<U256>, ForkError> {
        let at = format!("{:#x}", pin.number);
        let calls: Vec<Call> =
            slots.iter().map(|(a, s)| Call::new("eth_getStorageAt", json!([a, format!("{s:#x}"), at]))).collect();
        self.send(&calls)?.iter().map(|v| parse("eth_getStorageAt", "result", v)).collect()
    }

    fn block_hash(&self, pin: &Pin, number: u64) -> Result<B256, ForkError> {
        Ok(self.heads(&[number])?.first().map(|h| h.hash).unwrap_or(pin.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A scripted node: answers from a map, counting requests.
    struct Scripted(BTreeMap<String, Value>, Cell<u64>);

    impl Transport for Scripted {
        fn send(&self, calls: &[Call]) -> Result<Vec<Value>, ForkError> {
            self.1.set(self.1.get() + 1);
            Ok(calls.iter().map(|c| self.0.get(&c.key()).cloned().unwrap_or(Value::Null)).collect())
        }
        fn requests(&self) -> u64 {
            self.1.get()
        }
    }

    fn block(n: u64) -> Value {
        json!({"number": format!("{n:#x}"), "hash": format!("{:#x}", B256::repeat_byte(n as u8)),
               "parentHash": format!("{:#x}", B256::repeat_byte(n as u8 - 1)), "timestamp": "0x64",
               "baseFeePerGas": "0x3b9aca00", "gasUsed": "0x0", "gasLimit": "0x1c9c380",
               "miner": format!("{:#x}", Address::ZERO), "transactions": []})
    }

    #[test]
    fn a_recorded_run_replays_any_batching_and_refuses_new_questions() {
        let mut answers = BTreeMap::new();
        answers.insert(Call::new("eth_chainId", json!([])).key(), json!("0x7a69"));
        answers.insert(Call::new("eth_getBlockByNumber", json!(["0x5", false])).key(), block(5));
        let rec = Recorder::new(Scripted(answers, Cell::new(0)));
        let live = RpcSource::new(Rc::new(rec.clone()));
        let pin = live.pin(Some(5), None).unwrap();
        assert_eq!((pin.chain_id, pin.number), (31337, 5));
        let recording = rec.recording(&pin);
        assert_eq!(recording.calls.len(), 2);
        assert_eq!(rec.methods(), ["eth_chainId", "eth_getBlockByNumber"]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.json");
        recording.save(&path).unwrap();
        let replay = RpcSource::new(Rc::new(Replay::new(&Recording::load(&path).unwrap())));
        // Asked one at a time rather than in one batch: the same answers.
        assert_eq!(replay.chain_id().unwrap(), 31337);
        assert_eq!(replay.heads(&[5]).unwrap()[0].hash, pin.hash);
        assert!(matches!(replay.heads(&[6]), Err(ForkError::NotRecorded(_))));
        assert!(matches!(replay.pin(Some(5), Some(B256::ZERO)), Err(ForkError::Source { .. })));
    }

    #[test]
    fn malformed_answers_name_the_method_and_field() {
        let mut answers = BTreeMap::new();
        let mut b = block(5);
        b["timestamp"] = json!(12);
        answers.insert(Call::new("eth_getBlockByNumber", json!(["0x5", false])).key(), b);
        answers.insert(Call::new("eth_getBlockByNumber", json!(["0x6", false])).key(), Value::Null);
        answers.insert(Call::new("eth_getBlockByNumber", json!(["0x7", false])).key(), block(8));
        let node = RpcSource::new(Rc::new(Scripted(answers, Cell::new(0))));
        let e = node.heads(&[5]).unwrap_err().to_string();
        assert!(e.contains("eth_getBlockByNumber") && e.contains("timestamp"), "{e}");
        let e = node.heads(&[6]).unwrap_err().to_string();
        assert!(e.contains("no block 6"), "{e}");
        let e = node.heads(&[7]).unwrap_err().to_string();
        assert!(e.contains("asked for block 7"), "{e}");
        let e = node.chain_id().unwrap_err().to_string();
        assert!(e.contains("eth_chainId"), "{e}");
    }

    #[test]
    fn direct_payments_to_the_fee_recipient_are_summed_through_the_call_tree() {
        let cb = Address::with_last_byte(0xcb);
        let frame = json!({"type": "CALL", "to": Address::with_last_byte(1), "value": "0x5", "calls": [
            {"type": "CALL", "to": cb, "value": "0x64"},
            {"type": "DELEGATECALL", "to": cb, "value": "0x1000"},
            {"type": "CALL", "to": Address::with_last_byte(2), "calls": [{"type": "CALL", "to": cb, "value": "0x1"}]},
            {"type": "STATICCALL", "to": cb}
        ]});
        assert_eq!(paid_to(&frame, cb), Some(U256::from(101u64)));
        assert_eq!(paid_to(&json!({"type": "CALL", "to": cb, "value": "0xa"}), cb), Some(U256::from(10u64)));
        assert_eq!(paid_to(&json!({"no": "trace"}), cb), None);
        assert_eq!(paid_to(&json!({"type": "CALL", "to": cb, "value": 12}), cb), None, "a malformed value");
    }

    #[test]
    fn endpoints_are_plain_http_with_their_path() {
        let e = Endpoint::parse("http://127.0.0.1:8545/v1/key?x=1").unwrap();
        assert_eq!((e.target.addr.port(), e.path.as_str()), (8545, "/v1/key?x=1"));
        assert!(Endpoint::parse("ftp://example.invalid").unwrap_err().contains("scheme"));
        let e = Endpoint::parse("wss://127.0.0.1:8546/v3/secret?key=1").unwrap();
        assert!(e.websocket && e.target.tls && e.target.authority == "127.0.0.1:8546");
        assert!(!e.shown.contains("secret=") && !e.shown.contains("key=1"), "{}", e.shown);
        let e = Endpoint::parse("https://localhost/").unwrap();
        assert_eq!(
            (e.target.host.as_str(), e.target.authority.as_str(), e.target.addr.port()),
            ("localhost", "localhost", 443)
        );
        assert!(Endpoint::parse("not a url").is_err());
    }
}

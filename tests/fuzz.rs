//! Property-based fuzzing of the places external input enters: the scenario parser and resolver
//! (mutated shipped scenarios and `--set` values), the raw-transaction decoder (mutated signed
//! Router02 swaps and random bytes), the relay's request handling (mutated signed JSON-RPC bodies
//! and headers), and a node's answers to fork mode (any JSON, and corrupted recordings). The property is the same everywhere: an answer (Ok or a clear
//! error), never a panic. 10,000 cases each by default; `FUZZ_CASES=1000000 cargo test --release
//! --test fuzz` runs a million (see the README for the result of such a run).

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use xcrack::chain::contracts::IUniswapV2Router02;
use xcrack::chain::simchain::actor;
use xcrack::chain::{SimChain, TxRequest, Wallet};
use xcrack::config::{Sources, load};
use xcrack::mempool::decode::{PendingTx, decode_swap};
use xcrack::relay::{Relay, auth};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() })
}

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Values a hostile or careless user writes.
fn nasty_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("18446744073709551615".to_string()),
        Just("\"\"".to_string()),
        Just("\"1e400 ETH\"".to_string()),
        Just("\"1ns\"".to_string()),
        Just("\"100000h\"".to_string()),
        Just("\"../../x\"".to_string()),
        Just("\"/dev/zero\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("[\"1\", \"1\"]".to_string()),
        Just("\"0.000000000000000000001 ETH\"".to_string()),
        any::<i64>().prop_map(|x| x.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        "[a-z0-9 ._/-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "\"[0-9]{1,40}(\\.[0-9]{0,20})? (ETH|WETH|USDC|wei|gwei|quote|DAI)\"",
        "\"[0-9]{1,9}(ns|us|ms|s|m|h|d)\"",
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value of line `i` (if it has one) with `v`.
    Value(usize, String),
    Delete(usize),
    Duplicate(usize),
    /// Cut the file at this fraction of its length.
    Truncate(f64),
    /// Insert a raw line (possibly garbage) before line `i`.
    Insert(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), nasty_value()).prop_map(|(i, v)| Edit::Value(i, v)),
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (0.0f64..1.0).prop_map(Edit::Truncate),
        1 => (any::<usize>(), "\\PC{0,24}").prop_map(|(i, s)| Edit::Insert(i, s)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::Value(i, v) => {
                let l = &mut lines[i % n];
                if let Some((k, _)) = l.split_once('=') {
                    *l = format!("{k}= {v}");
                }
            }
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Truncate(f) => {
                let keep = ((n as f64) * f) as usize;
                lines.truncate(keep.max(1));
            }
            Edit::Insert(i, s) => lines.insert(i % n, s.clone()),
        }
    }
    lines.join("\n")
}

#[test]
fn scenario_parser_and_resolver_never_panic() {
    let dir = scenarios_dir();
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    let keys = [
        "duration",
        "name",
        "seed",
        "market.tick_interval",
        "market.cex[0].lag",
        "market.cex[0].lot_size",
        "market.dex[0].reserves",
        "chain.block_time",
        "account.gas",
        "lending.borrowers",
        "mempool.victims_per_minute",
        "strategies.micro_arbitrage.execution_timeout_ms",
        "safety.emergency_stop_loss",
        "network.rpc_url",
    ];
    let n_files = files.len();
    let strategy = (0..n_files, prop::collection::vec(edit(), 1..4), prop::option::of((0..keys.len(), nasty_value())));
    let ok = std::cell::Cell::new(0u32);
    runner()
        .run(&strategy, |(f, edits, set)| {
            let (name, text) = &files[f];
            let mutated = apply(text, &edits);
            let mut sources = Sources { scenario: Some((name.clone(), mutated)), ..Default::default() };
            if let Some((k, v)) = set {
                sources.cli.push((keys[k].to_string(), v.trim_matches('"').to_string()));
            }
            if load(&sources, Path::new(&dir)).is_ok() {
                ok.set(ok.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // The mutations must leave some scenarios valid, or the resolver's later checks go untested.
    assert!(ok.get() > 0, "no mutated scenario loaded");
}

fn signed_swap(wallet: &mut Wallet, method: u8, amount: u64) -> Bytes {
    let path = vec![Address::repeat_byte(1), Address::repeat_byte(2)];
    let to = wallet.address();
    let a = U256::from(amount);
    let data = match method % 4 {
        0 => IUniswapV2Router02::swapExactETHForTokensCall { amountOutMin: a, path, to, deadline: U256::MAX }
            .abi_encode(),
        1 => IUniswapV2Router02::swapExactTokensForETHCall {
            amountIn: a,
            amountOutMin: a,
            path,
            to,
            deadline: U256::MAX,
        }
        .abi_encode(),
        2 => IUniswapV2Router02::swapTokensForExactTokensCall {
            amountOut: a,
            amountInMax: a,
            path,
            to,
            deadline: U256::MAX,
        }
        .abi_encode(),
        _ => IUniswapV2Router02::swapETHForExactTokensCall { amountOut: a, path, to, deadline: U256::MAX }.abi_encode(),
    };
    let req = TxRequest {
        chain_id: 1,
        to: Address::repeat_byte(9),
        data: data.into(),
        value: a,
        gas_limit: 200_000,
        max_fee_per_gas: 50_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    wallet.sign(&req).unwrap().0
}

#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            ByteEdit::Flip(i, b) if !bytes.is_empty() => bytes[i % n] ^= b,
            ByteEdit::Truncate(i) => bytes.truncate(i % n),
            ByteEdit::Insert(i, b) => bytes.insert(i % n, b),
            _ => {}
        }
    }
    bytes
}

#[test]
fn raw_transaction_decoder_never_panics() {
    let mut wallet = Wallet::derived(1, "fuzz/victim");
    let seeds: Vec<Bytes> = (0..8u8).map(|m| signed_swap(&mut wallet, m, 10u64.pow(u32::from(m) * 2))).collect();
    let strategy = prop_oneof![
        (0..seeds.len(), prop::collection::vec(byte_edit(), 0..6))
            .prop_map(move |(i, e)| mutate(seeds[i].to_vec(), &e)),
        prop::collection::vec(any::<u8>(), 0..400),
    ];
    runner()
        .run(&strategy, |raw| {
            if let Ok(tx) = PendingTx::from_raw(Bytes::from(raw.clone())) {
                let _ = tx.effective_tip(10_000_000_000);
                if let Some(to) = tx.to {
                    let _ = decode_swap(to, &tx.input, tx.value);
                }
            }
            let _ = decode_swap(Address::ZERO, &raw, U256::from(raw.len()));
            Ok(())
        })
        .unwrap();
}

#[test]
fn relay_request_handling_never_panics() {
    let mut chain = SimChain::new(1);
    let mut searcher = Wallet::derived(3, "fuzz/searcher");
    chain.set_balance(searcher.address(), U256::from(10u128.pow(21)));
    chain.advance_block(1_700_000_012, 10_000_000_000, actor("builder"));
    let relay = std::cell::RefCell::new(Relay::new(&chain, 12));
    let chain = std::cell::RefCell::new(chain);
    let auth_key = Wallet::derived(4, "fuzz/auth");
    let tx = signed_swap(&mut searcher, 0, 1_000);
    let bodies: Vec<Vec<u8>> = ["eth_sendBundle", "eth_callBundle", "eth_cancelBundle", "eth_unknown"]
        .iter()
        .map(|m| {
            let params = match *m {
                "eth_callBundle" => {
                    serde_json::json!([{ "txs": [tx], "blockNumber": "0x2", "stateBlockNumber": "latest" }])
                }
                "eth_cancelBundle" => serde_json::json!([{ "replacementUuid": "u" }]),
                _ => serde_json::json!([{ "txs": [tx], "blockNumber": "0x2", "replacementUuid": "u" }]),
            };
            serde_json::to_vec(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": m, "params": params})).unwrap()
        })
        .collect();
    let strategy = (
        0..bodies.len(),
        prop::collection::vec(byte_edit(), 0..4),
        prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
        "\\PC{0,80}",
    );
    runner()
        .run(&strategy, |(i, edits, sig_kind, junk)| {
            let body = mutate(bodies[i].clone(), &edits);
            // Signed over what is sent (reaches the method handlers), absent, or junk.
            let sig = match sig_kind {
                0 => auth::sign(&auth_key, &body).ok(),
                1 => None,
                _ => Some(junk),
            };
            let r = relay.borrow_mut().handle_on(&mut chain.borrow_mut(), &body, sig.as_deref());
            prop_assert!(r.result.is_some() != r.error.is_some(), "exactly one of result and error");
            Ok(())
        })
        .unwrap();
}

/// JSON a node (or a hostile proxy) might answer in place of a result.
fn node_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "0x[0-9a-f]{0,70}".prop_map(serde_json::Value::from),
        "0x[0-9a-fA-FxX]{0,3}".prop_map(serde_json::Value::from),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("number"),
            Just("hash"),
            Just("parentHash"),
            Just("timestamp"),
            Just("baseFeePerGas"),
            Just("gasUsed"),
            Just("gasLimit"),
            Just("miner"),
            Just("transactions"),
            Just("status"),
            Just("effectiveGasPrice"),
            Just("logs"),
            Just("address"),
            Just("topics"),
            Just("data"),
            Just("pending"),
            Just("type"),
            Just("to"),
            Just("value"),
            Just("calls"),
            Just("nonce"),
            Just("maxPriorityFeePerGas"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.prop_map(String::from), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Answers every call from a queue of generated values (the last one again when it runs out).
struct Scripted(std::cell::RefCell<Vec<serde_json::Value>>);

impl xcrack::chain::rpc::Transport for Scripted {
    fn send(
        &self,
        calls: &[xcrack::chain::rpc::Call],
    ) -> Result<Vec<serde_json::Value>, xcrack::chain::fork::ForkError> {
        let mut q = self.0.borrow_mut();
        Ok(calls
            .iter()
            .map(|_| if q.len() > 1 { q.remove(0) } else { q.first().cloned().unwrap_or_default() })
            .collect())
    }
    fn requests(&self) -> u64 {
        0
    }
}

/// A node's answers, whatever their shape, are parsed into values or one error naming the method
/// and field: never a panic (block headers, raw transactions and receipts, the pending pool, call
/// traces, accounts and storage).
#[test]
fn any_node_answer_is_parsed_or_refused_never_a_panic() {
    use xcrack::chain::fork::{Pin, StateSource};
    use xcrack::chain::rpc::RpcSource;
    let pin = Pin { chain_id: 1, number: 5, hash: Default::default() };
    runner()
        .run(&prop::collection::vec(node_json(), 1..6), |answers| {
            let rpc = RpcSource::new(std::rc::Rc::new(Scripted(std::cell::RefCell::new(answers))));
            let _ = rpc.chain_id();
            let _ = rpc.pin(Some(5), None);
            let _ = rpc.heads(&[5, 6]);
            let _ = rpc.landed(6);
            let _ = rpc.txpool();
            let _ = rpc.coinbase_transfers(&[Default::default(), Default::default()], Address::ZERO);
            let _ = rpc.accounts(&pin, &[Address::ZERO, actor("x")]);
            let _ = rpc.storage(&pin, &[(Address::ZERO, U256::from(8u8))]);
            let _ = rpc.call(&pin, Address::ZERO, &[1, 2]);
            Ok(())
        })
        .unwrap();
}

/// The shipped fork dry run with one recorded answer replaced by anything: the run gives a report
/// or one error, never a panic (fewer cases: each is a whole two-block run).
#[test]
fn a_fork_run_over_a_corrupted_recording_ends_in_a_report_or_an_error() {
    let scenario = "scenarios/fork/anvil_uniswap_v2.toml";
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = Sources {
        config_file: None,
        scenario: Some((scenario.into(), std::fs::read_to_string(root.join(scenario)).unwrap())),
        env: Vec::new(),
        cli: Vec::new(),
    };
    let spec = load(&sources, &root.join("scenarios/fork")).unwrap();
    let recording = xcrack::chain::rpc::Recording::load(&root.join("data/fork/anvil_uniswap_v2.rec.json")).unwrap();
    let n = recording.calls.len();
    let mut r =
        TestRunner::new(Config { cases: (cases() / 50).max(20), failure_persistence: None, ..Config::default() });
    r.run(&(0..n, node_json()), |(i, answer)| {
        let mut rec = recording.clone();
        rec.calls[i].result = answer;
        let rpc = xcrack::chain::rpc::RpcSource::new(std::rc::Rc::new(xcrack::chain::rpc::Replay::new(&rec)));
        let _ = xcrack::engine::fork::run(&spec, rpc);
        Ok(())
    })
    .unwrap();
}

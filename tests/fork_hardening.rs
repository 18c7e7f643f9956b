//! `xcrack fork` against nodes that misbehave, on loopback: a node of another chain, a block hash
//! that is not the node's, a block the node does not have, malformed JSON, a node that answers
//! 429, one that never answers, one that is down. Each gets one clear error naming the key or
//! the RPC method (and field), a non-zero exit, bounded retries, and no report written.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a scripted node answers one request body (the raw JSON-RPC request or batch).
type Script = dyn Fn(&serde_json::Value) -> (u16, String) + Send + Sync;

/// A node on a random loopback port answering every HTTP request with `script`; it counts them.
fn node(script: Arc<Script>) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (script, count) = (script.clone(), count.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.to_ascii_lowercase();
                    if let Some(v) = l.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let (status, answer) = script(&request);
                if status == 0 {
                    std::thread::sleep(std::time::Duration::from_secs(30));
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    (url, seen)
}

fn block(n: u64) -> serde_json::Value {
    serde_json::json!({
        "number": format!("{n:#x}"), "hash": format!("0x{:064x}", n + 1), "parentHash": format!("0x{:064x}", n),
        "timestamp": format!("{:#x}", 1_700_000_000 + 12 * n), "baseFeePerGas": "0x3b9aca00", "gasUsed": "0x0",
        "gasLimit": "0x1c9c380", "miner": format!("0x{:040x}", 0), "transactions": []
    })
}

/// A node of chain `chain_id` with blocks 0..=`head`.
fn honest(chain_id: u64, head: u64) -> Arc<Script> {
    with_tx(chain_id, head, None)
}

/// As `honest`, every block holding one transaction: (its hash, what `eth_getRawTransactionByHash`
/// answers, what `eth_getTransactionReceipt` answers).
fn with_tx(chain_id: u64, head: u64, tx: Option<(String, serde_json::Value, serde_json::Value)>) -> Arc<Script> {
    Arc::new(move |req: &serde_json::Value| {
        let answer = |call: &serde_json::Value| {
            let result = match call["method"].as_str().unwrap_or("") {
                "eth_chainId" => serde_json::json!(format!("{chain_id:#x}")),
                "eth_blockNumber" => serde_json::json!(format!("{head:#x}")),
                "eth_getBlockByNumber" => {
                    let n =
                        u64::from_str_radix(call["params"][0].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
                    let mut b = if n <= head { block(n) } else { serde_json::Value::Null };
                    if let (Some((hash, _, _)), false) = (&tx, b.is_null()) {
                        b["transactions"] = serde_json::json!([hash]);
                    }
                    b
                }
                "eth_getRawTransactionByHash" => tx.as_ref().map(|t| t.1.clone()).unwrap_or_default(),
                "eth_getTransactionReceipt" => tx.as_ref().map(|t| t.2.clone()).unwrap_or_default(),
                _ => serde_json::json!("0x0"),
            };
            serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "result": result})
        };
        let out = match req.as_array() {
            Some(calls) => serde_json::Value::Array(calls.iter().map(answer).collect()),
            None => answer(req),
        };
        (200, out.to_string())
    })
}

/// A fork scenario file for `url` (the sandwich fixture's wallet and strategy) with `extra` [fork] keys.
fn scenario(dir: &Path, url: &str, chain_id: u64, extra: &str) -> String {
    let text = format!(
        "name = \"bad-node\"\nseed = 1\nduration = \"1h\"\n\n[network]\nchain_id = {chain_id}\n\n[market.assets.ETH]\nprice = 3000.0\nmodel = \"gbm\"\n\n\
         [strategies.micro_arbitrage]\nenabled = false\n\n[strategies.cross_dex]\nenabled = false\n\n[strategies.sandwich]\nenabled = true\n\n\
         [fork]\nrpc_url = \"{url}\"\ntimeout = \"300ms\"\nattempts = 3\nweth = \"0x{:040x}\"\nquote = \"0x{:040x}\"\n{extra}\n\
         [[fork.pools]]\nname = \"p\"\nrouter = \"0x{:040x}\"\npair = \"0x{:040x}\"\n",
        1, 2, 3, 4
    );
    let f = dir.join("bad-node.toml");
    std::fs::write(&f, text).unwrap();
    f.display().to_string()
}

/// Runs `xcrack fork FILE --out DIR`: the exit code and stderr; asserts nothing was written.
fn fork(file: &str, dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = dir.join("out");
    let mut args = vec!["fork", file, "--out", out.to_str().unwrap(), "--quiet"];
    args.extend(extra);
    let o = common::xcrack(&args, dir);
    assert!(!out.exists(), "a failed run writes nothing");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (o.status.code(), err)
}

#[test]
fn a_node_of_another_chain_or_another_block_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, _) = node(honest(31337, 20));
    let (code, err) = fork(&scenario(tmp.path(), &url, 1, "block = 10"), tmp.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("network.chain_id") && err.contains("31337"), "{err}");

    let hash = format!("block_hash = \"0x{:064x}\"", 999);
    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, &format!("block = 10\n{hash}")), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("eth_getBlockByNumber") && err.contains("not 0x"), "{err}");

    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, "block = 19\nblocks = 5"), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no block 21"), "{err}");

    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, "blocks = 0"), tmp.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fork.blocks") && err.contains("bad-node.toml"), "{err}");
}

#[test]
fn a_block_whose_transactions_or_receipts_are_malformed_is_refused_by_method_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = "0x02f86b827a69808080809400000000000000000000000000000000000000018080c080a0000000000000000000000000000000000000000000000000000000000000000180a00000000000000000000000000000000000000000000000000000000000000001";
    let hash = format!("{}", alloy_primitives::keccak256(alloy_primitives::hex::decode(&raw[2..]).unwrap()));
    let receipt = serde_json::json!({"status": "0x1", "gasUsed": "0x5208", "effectiveGasPrice": "0x1", "logs": []});
    let cases = [
        (format!("0x{:064x}", 7), serde_json::json!(raw), receipt.clone(), "hash to"),
        (hash.clone(), serde_json::json!("not hex"), receipt.clone(), "eth_getRawTransactionByHash: result"),
        (
            hash.clone(),
            serde_json::json!(raw),
            serde_json::json!({"gasUsed": "0x5208"}),
            "eth_getTransactionReceipt: status",
        ),
        (
            hash.clone(),
            serde_json::json!(raw),
            serde_json::json!({"status": "0x1", "gasUsed": "0x1", "effectiveGasPrice": "0x1", "logs": [{"address": 5}]}),
            "logs[].topics",
        ),
    ];
    for (h, raw_answer, rc, expect) in cases {
        let (url, _) = node(with_tx(31337, 20, Some((h, raw_answer, rc))));
        let (code, err) = fork(&scenario(tmp.path(), &url, 31337, "block = 10"), tmp.path(), &[]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(expect), "{expect}: {err}");
    }
}

#[test]
fn malformed_rate_limited_silent_and_absent_nodes_fail_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, _) = node(Arc::new(|_: &serde_json::Value| (200, "{not json".to_string())));
    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, ""), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("eth_chainId") && err.contains("not a JSON-RPC"), "{err}");

    let (url, _) =
        node(Arc::new(|_: &serde_json::Value| (200, r#"[{"jsonrpc":"2.0","id":1,"result":12}]"#.to_string())));
    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, ""), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("eth_chainId") && err.contains("not a hex value"), "{err}");

    let (url, seen) = node(Arc::new(|_: &serde_json::Value| (429, "slow down".to_string())));
    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, ""), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("HTTP 429 after 3 attempts"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "bounded retries");

    // A node that takes the request and never answers: each attempt times out.
    let (url, seen) = node(Arc::new(|_: &serde_json::Value| (0, String::new())));
    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, ""), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no answer within") && err.contains("3 attempts"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 3);

    // Nobody listening.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, err) = fork(&scenario(tmp.path(), &format!("http://127.0.0.1:{port}"), 31337, ""), tmp.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("eth_chainId") && err.contains("attempts"), "{err}");

    let (code, err) = fork(&scenario(tmp.path(), "ftp://127.0.0.1:1", 31337, ""), tmp.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fork.rpc_url") && err.contains("http, https, ws or wss"), "{err}");

    let (code, err) = fork(&scenario(tmp.path(), &url, 31337, ""), tmp.path(), &["--replay", "/nonexistent/rec.json"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("rec.json"), "{err}");
}

/// `[chain.fork]` in a backtest: its pools are the chain's, so `[[market.dex]]` beside it is refused,
/// and a pool's bad key is named with its line.
#[test]
fn a_forked_backtest_refuses_what_it_cannot_run() {
    let base = std::fs::read_to_string(common::repo().join("scenarios/fork/sandwich_forked.toml")).unwrap();
    let load = |text: String| {
        let sources = xcrack::config::Sources {
            config_file: None,
            scenario: Some(("forked.toml".into(), text)),
            env: Vec::new(),
            cli: Vec::new(),
        };
        xcrack::config::load(&sources, &common::repo().join("scenarios/fork")).map_err(|e| e.to_string())
    };
    let spec = load(base.clone()).unwrap();
    assert_eq!(spec.dex.len(), 1, "the fork's pool is the run's pool");
    assert!(spec.chain.fork.is_some());

    let with_dex = base.replace(
        "[chain]\n",
        "[[market.dex]]\nname = \"x\"\npair = \"WETH/USDC\"\nreserves = [\"1 WETH\", \"3000 USDC\"]\nfee_bps = 30\n\n[chain]\n",
    );
    let e = load(with_dex).unwrap_err();
    assert!(e.contains("market.dex") && e.contains("[[chain.fork.pools]]"), "{e}");

    // Every strategy runs on a forked chain now (tests/fork_market.rs).
    let with_arb =
        base.replace("[strategies.micro_arbitrage]\nenabled = false", "[strategies.micro_arbitrage]\nenabled = true");
    assert!(load(with_arb).is_ok());
    let with_liquidation = base.replace("[account]", "[strategies.liquidation]\nenabled = true\n\n[account]");
    assert!(load(with_liquidation).is_ok());

    let bad_pool = base.replace("fee_bps = 30", "fee_bps = 30000");
    let e = load(bad_pool).unwrap_err();
    assert!(e.contains("chain.fork.pools[0].fee_bps"), "{e}");
}

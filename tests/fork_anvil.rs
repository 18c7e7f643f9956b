//! Fork state from a real node: anvil (npm `@foundry-rs/anvil`, installed into `tests/node` by
//! `.ci/run`) started on a random loopback port; our token deployed and minted on it through
//! JSON-RPC; a `SimChain` over `ForkDb<RpcSource>` pinned at that block reads exactly what the node
//! answers, keeps reading the pinned block after the node moves on, never asks twice, refuses to
//! read ahead, and refuses a pin whose hash is not the node's.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database::DatabaseRef;
use xcrack::chain::SimChain;
use xcrack::chain::contracts::{self, ITestERC20};
use xcrack::chain::fork::{ForkDb, ForkError};
use xcrack::chain::rpc::RpcSource;

/// anvil's first unlocked development account.
const DEV: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

struct Anvil {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// anvil from `tests/node`, listening on a free loopback port; `None` (skipped) when it is not
/// installed and this is not CI.
fn anvil() -> Option<Anvil> {
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" };
    let os = if cfg!(target_os = "macos") { "darwin" } else { "linux" };
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/node/node_modules/@foundry-rs/anvil-{os}-{arch}/bin/anvil"));
    if !bin.exists() {
        assert!(std::env::var_os("CI").is_none(), "{}: missing (.ci/run runs `npm ci` in tests/node)", bin.display());
        eprintln!("skipped: {} missing; `npm ci` in tests/node installs it", bin.display());
        return None;
    }
    let mut child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", "0", "--chain-id", "31337"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("Listening on ") {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("anvil says where it listens");
    Some(Anvil { child, addr: addr.parse().unwrap() })
}

fn rpc(addr: SocketAddr, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, bytes) =
        xcrack::relay::http::post(addr, "/", &[], &serde_json::to_vec(&body).unwrap(), Duration::from_secs(10))
            .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

/// Sends a transaction from the dev account (anvil mines it at once) and returns its receipt.
fn send(addr: SocketAddr, to: Option<Address>, data: Vec<u8>) -> serde_json::Value {
    let mut tx = serde_json::json!({"from": DEV, "data": format!("0x{}", alloy_primitives::hex::encode(data)), "gas": "0x989680"});
    if let Some(to) = to {
        tx["to"] = serde_json::json!(to);
    }
    let hash = rpc(addr, "eth_sendTransaction", serde_json::json!([tx]));
    // Automine answers with the hash at once; on a loaded machine the receipt may follow a moment later.
    for _ in 0..100 {
        let receipt = rpc(addr, "eth_getTransactionReceipt", serde_json::json!([hash]));
        if !receipt.is_null() {
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            return receipt;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no receipt for {hash} within 10 s")
}

#[test]
fn a_fork_of_anvil_reads_the_pinned_block_as_the_node_answers_it() {
    let Some(node) = anvil() else { return };
    let dev: Address = DEV.parse().unwrap();
    let mut code = contracts::test_erc20().bytecode.to_vec();
    code.extend(("Quote".to_string(), "USDC".to_string(), U256::from(6u8)).abi_encode_params());
    let token: Address = send(node.addr, None, code)["contractAddress"].as_str().unwrap().parse().unwrap();
    let mint = |value: u64| ITestERC20::mintCall { to: dev, value: U256::from(value) }.abi_encode();
    send(node.addr, Some(token), mint(1_000_000));

    let source = RpcSource::http(node.addr);
    let pin = source.pin(None, None).unwrap();
    assert_eq!(pin.chain_id, 31337);
    // The node moves on; the fork stays at its pin.
    send(node.addr, Some(token), mint(5));

    let balance_of = ITestERC20::balanceOfCall { owner: dev }.abi_encode();
    let at_pin = rpc(
        node.addr,
        "eth_call",
        serde_json::json!([{"to": token, "data": format!("0x{}", alloy_primitives::hex::encode(&balance_of))}, format!("{:#x}", pin.number)]),
    );
    let mut fork = SimChain::over(ForkDb::new(source, pin), pin.chain_id);
    let out = fork.view(dev, token, balance_of.clone().into()).unwrap();
    assert!(out.success);
    assert_eq!(format!("0x{}", alloy_primitives::hex::encode(&out.output)), at_pin.as_str().unwrap());
    assert_eq!(
        U256::from_be_slice(&out.output),
        U256::from(1_000_000u64),
        "the pinned block's balance, not the head's"
    );

    let first = fork.db().db.stats();
    assert!(first.account_requests >= 2 && first.storage_slots >= 1, "{first:?}");
    let again = fork.view(dev, token, balance_of.into()).unwrap();
    assert_eq!(again.output, out.output);
    let second = fork.db().db.stats();
    assert_eq!((second.account_requests, second.storage_slots), (first.account_requests, first.storage_slots));

    // No lookahead, and a pin must be the node's.
    assert!(matches!(fork.db().db.block_hash_ref(pin.number + 1), Err(ForkError::Lookahead { .. })));
    let wrong = RpcSource::http(node.addr).pin(Some(pin.number), Some(B256::ZERO));
    assert!(matches!(&wrong, Err(ForkError::Source { method: "eth_getBlockByNumber", .. })), "{:?}", wrong.err());
}

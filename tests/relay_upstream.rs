//! Our relay in front of anvil (`xcrack relay --upstream`): anvil with automine off and FIFO order
//! mines each block the relay builds.
//!
//! - A bundle [A, B] sent over HTTP for the next block lands at the top of anvil's block, in its
//!   order, before a public transaction that was pending first; the relay says `Included`.
//! - A bundle with a transaction that reverts is never mined: the relay says `Failed` with why, and
//!   the public transactions of that block are mined all the same.
//! - Through the CLI: `xcrack relay --upstream URL --blocks 1` mines one block and exits.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use common::anvil::{self, rpc};
use xcrack::chain::{TxRequest, Wallet};
use xcrack::relay::rpc::SendBundleParams;
use xcrack::relay::{BundleOutcome, RelayClient};

const GWEI: u128 = 1_000_000_000;

/// `w`'s next transaction: `value` wei to `to` with `data`, at 10 gwei.
fn signed(w: &mut Wallet, to: Address, value: u128, data: Vec<u8>) -> (Bytes, B256) {
    let req = TxRequest {
        chain_id: 31337,
        to,
        data: data.into(),
        value: U256::from(value),
        gas_limit: 100_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
    };
    w.sign(&req).unwrap()
}

fn fund(node: SocketAddr, who: Address) {
    rpc(node, "anvil_setBalance", serde_json::json!([who, "0x3635c9adc5dea00000"]));
}

fn block_of(node: SocketAddr, hash: B256) -> (u64, u64, bool) {
    let r = rpc(node, "eth_getTransactionReceipt", serde_json::json!([hash]));
    let q = |k: &str| u64::from_str_radix(r[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    (q("blockNumber"), q("transactionIndex"), q("status") == 1)
}

#[test]
fn bundles_land_whole_at_the_top_of_the_nodes_block_or_not_at_all() {
    let Some(node) = anvil::anvil(&["--order", "fifo"]) else { return };
    rpc(node.addr, "evm_setAutomine", serde_json::json!([false]));
    let mut up = xcrack::relay::upstream::Upstream::start(
        &node.url(),
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(200),
    )
    .unwrap();
    let (mut a, mut b, mut p) =
        (Wallet::derived(1, "upstream/a"), Wallet::derived(1, "upstream/b"), Wallet::derived(1, "upstream/public"));
    for w in [&a, &b, &p] {
        fund(node.addr, w.address());
    }
    let sink = Address::repeat_byte(0x77);
    // The public transaction reaches the node first.
    let (public_raw, public_hash) = signed(&mut p, sink, 1, vec![]);
    rpc(node.addr, "eth_sendRawTransaction", serde_json::json!([public_raw]));
    let head = xcrack::chain::rpc::RpcSource::http(node.addr).latest().unwrap();

    let mut client = RelayClient::new(up.addr(), Wallet::derived(1, "upstream/auth"));
    let (ra, ha) = signed(&mut a, sink, 2, vec![]);
    let (rb, hb) = signed(&mut b, sink, 3, vec![]);
    let good = client.send_bundle(&SendBundleParams::for_block(vec![ra, rb], head + 1)).unwrap();
    let mined = up.next_block().unwrap();
    assert_eq!((mined.number, mined.included.clone(), mined.dropped.len(), mined.public), (head + 1, vec![good], 0, 1));
    assert_eq!(block_of(node.addr, ha), (head + 1, 0, true), "A first");
    assert_eq!(block_of(node.addr, hb), (head + 1, 1, true), "then B");
    assert_eq!(block_of(node.addr, public_hash), (head + 1, 2, true), "the public transaction after the bundle");
    let outcome = up.relay().lock().unwrap().outcome(&good).cloned();
    assert!(matches!(outcome, Some(BundleOutcome::Included { block, .. }) if block == head + 1), "{outcome:?}");

    // A bundle whose transaction reverts (a call into code that always reverts): never mined; the
    // public transaction of that block is.
    let reverter = Address::repeat_byte(0x66);
    rpc(node.addr, "anvil_setCode", serde_json::json!([reverter, "0x60006000fd"]));
    let head = xcrack::chain::rpc::RpcSource::http(node.addr).latest().unwrap();
    let (bad_raw, bad_hash) = signed(&mut a, reverter, 0, vec![1]);
    let bad = client.send_bundle(&SendBundleParams::for_block(vec![bad_raw], head + 1)).unwrap();
    let (public_raw, public_hash) = signed(&mut p, sink, 1, vec![]);
    rpc(node.addr, "eth_sendRawTransaction", serde_json::json!([public_raw]));
    let mined = up.next_block().unwrap();
    assert_eq!((mined.number, mined.included.len(), mined.public), (head + 1, 0, 1));
    let outcome = up.relay().lock().unwrap().outcome(&bad).cloned();
    assert!(matches!(&outcome, Some(BundleOutcome::Failed { reason, .. }) if reason.contains("revert")), "{outcome:?}");
    let r = rpc(node.addr, "eth_getTransactionReceipt", serde_json::json!([bad_hash]));
    assert!(r.is_null(), "the reverting transaction was never mined: {r}");
    assert_eq!(block_of(node.addr, public_hash).0, head + 1);
    up.stop();
}

#[test]
fn the_cli_mines_blocks_on_its_upstream() {
    let Some(node) = anvil::anvil(&["--order", "fifo"]) else { return };
    rpc(node.addr, "evm_setAutomine", serde_json::json!([false]));
    let before = xcrack::chain::rpc::RpcSource::http(node.addr).latest().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let o = common::xcrack(
        &["relay", "--upstream", &node.url(), "--port", "0", "--block-time", "200ms", "--blocks", "2"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("relay listening on http://127.0.0.1:") && out.contains("chain id 31337"), "{out}");
    assert_eq!(xcrack::chain::rpc::RpcSource::http(node.addr).latest().unwrap(), before + 2);
    let bad = common::xcrack(&["relay", "--upstream", &node.url(), "--block-time", "0s"], tmp.path());
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}

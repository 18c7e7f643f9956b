//! Fork state from a real node: anvil (npm `@foundry-rs/anvil`, installed into `tests/node` by
//! `.ci/run`) started on a random loopback port; our token deployed and minted on it through
//! JSON-RPC; a `SimChain` over `ForkDb<RpcSource>` pinned at that block reads exactly what the node
//! answers, keeps reading the pinned block after the node moves on, never asks twice, refuses to
//! read ahead, and refuses a pin whose hash is not the node's.

mod common;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database::DatabaseRef;
use xcrack::chain::SimChain;
use xcrack::chain::contracts::{self, ITestERC20};
use xcrack::chain::fork::{ForkDb, ForkError};
use xcrack::chain::rpc::RpcSource;

use common::anvil::{DEV, anvil, rpc};

fn send(addr: std::net::SocketAddr, to: Option<Address>, data: Vec<u8>) -> serde_json::Value {
    common::anvil::send(addr, to, data, 0)
}

#[test]
fn a_fork_of_anvil_reads_the_pinned_block_as_the_node_answers_it() {
    let Some(node) = anvil(&[]) else { return };
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

//! Cross-DEX arbitrage in fork mode against a real node: two genuine Uniswap V2 deployments (npm
//! factory and Router02 each) on anvil hold WETH/USDC at 3,000 and 3,100 USDC per WETH.
//!
//! - Pinned at N, at block N+1 the strategy buys on the cheap pool and sells on the dear one in
//!   one executor transaction, recorded for N+2 (nothing sent); its amounts are what anvil's own
//!   routers quote for that state (`getAmountsOut` at N+1), to the wei.
//! - Fork = simulation: the backtest of the same two pools (our pairs, same reserves, fee and
//!   wallet) makes the same first arbitrage: quote in, WETH between, quote out and gross.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;
use common::anvil::{self, rpc};
use common::uniswap::{E18, Market, market, venue};
use xcrack::chain::contracts::IUniswapV2Router02 as R;

const USDC: u128 = 1_000_000;

/// The second venue (3,100 USDC per WETH), then two more blocks 12 s apart: (N, the venue's
/// router).
fn two_venues(node: SocketAddr, m: &Market) -> (u64, Address, Address) {
    let (factory, router, _) = venue(node, (m.weth, m.usdc), (1_000 * E18, 3_100_000 * USDC)).unwrap();
    let n = block_number(node);
    let head = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{n:#x}"), false]));
    let ts = u64::from_str_radix(head["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    rpc(node, "evm_mine", serde_json::json!([ts + 12]));
    rpc(node, "evm_mine", serde_json::json!([ts + 24]));
    (n, factory, router)
}

fn block_number(node: SocketAddr) -> u64 {
    let n = rpc(node, "eth_blockNumber", serde_json::json!([]));
    u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// What the strategy and wallet share in both runs.
const COMMON: &str = r#"seed = 1

[market.assets.ETH]
price = 3000.0
model = "gbm"
vol_annual = 0.0

[market.noise_traders]
rate_per_minute = 0.0

[market.rivals]
probability = 0.0

[strategies.micro_arbitrage]
enabled = false

[strategies.sandwich]
enabled = false

[strategies.cross_dex]
enabled = true
max_input = "200000 USDC"
gas_estimate = 200000             # genuine pairs touched cold: ~207k (the default 125k is our pairs', warm)

[account]
wallet = ["100 ETH", "300000 USDC"]
gas = "5 ETH"
"#;

fn load(name: &str, text: &str) -> xcrack::config::RunSpec {
    common::spec_of(&format!("{name}.toml"), text, Path::new("."))
}

#[test]
fn a_fork_arbitrages_two_genuine_pools_as_the_node_quotes_and_as_the_backtest_decides() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let (n, factory_b, router_b) = two_venues(node.addr, &m);

    let fork_text = format!(
        "name = \"fork-cross-dex\"\nduration = \"1h\"\n{COMMON}\n[network]\nchain_id = 31337\n\n[fork]\nrpc_url = \"{}\"\nblock = {n}\nblocks = 2\nweth = \"{}\"\nquote = \"{}\"\n\n\
         [[fork.pools]]\nname = \"uniswap_v2\"\nrouter = \"{}\"\nfactory = \"{}\"\n\n[[fork.pools]]\nname = \"other_v2\"\nrouter = \"{router_b}\"\nfactory = \"{factory_b}\"\n",
        node.url(),
        m.weth,
        m.usdc,
        m.router,
        m.factory,
    );
    let spec = load("fork-cross-dex", &fork_text);
    let fork = xcrack::engine::fork::run(&spec, xcrack::chain::rpc::RpcSource::http(node.addr)).unwrap();
    let c = fork.cross_dex.as_ref().expect("the cross-DEX strategy ran");
    assert_eq!(c.records.len(), 1, "{:#?} {:?}", c.records, c.opportunities);
    let a = &c.records[0];
    assert_eq!((a.block, a.buy_pool, a.sell_pool, a.outcome), (n + 2, 0, 1, "not_sent"), "{a:?}");
    assert!(a.predicted_gross > 0 && a.quote_in <= 200_000 * USDC, "{a:?}");
    let w = &fork.would_send[a.would_send.unwrap()];
    assert_eq!((w.target_block, w.txs.len(), w.flows.clone()), (n + 2, 1, vec![(m.usdc, a.predicted_gross)]));
    assert!(w.gas_used > 150_000 && w.gas_used < 300_000, "genuine pairs, cold: {} gas", w.gas_used);
    assert_eq!(
        c.opportunities.skipped[xcrack::core::SkipReason::StaleQuote as usize],
        1,
        "the last block's state is stale"
    );

    // Fork = node: anvil's own routers quote the same amounts at N+1.
    let quote = |router: Address, amount: u128, path: Vec<Address>| -> u128 {
        let call = R::getAmountsOutCall { amountIn: U256::from(amount), path }.abi_encode();
        let out = rpc(
            node.addr,
            "eth_call",
            serde_json::json!([{"to": router, "data": anvil::hex(&call)}, format!("{:#x}", n + 1)]),
        );
        let bytes = alloy_primitives::hex::decode(out.as_str().unwrap()).unwrap();
        R::getAmountsOutCall::abi_decode_returns(&bytes).unwrap()[1].to::<u128>()
    };
    assert_eq!(quote(m.router, a.quote_in, vec![m.usdc, m.weth]), a.base_mid, "WETH out of the cheap pool");
    assert_eq!(quote(router_b, a.base_mid, vec![m.weth, m.usdc]), a.quote_out, "USDC out of the dear pool");
    assert_eq!(a.predicted_gross, (a.quote_out - a.quote_in) as i128);

    // Fork = simulation: the backtest of the same pools makes the same first arbitrage.
    let backtest_text = format!(
        "name = \"cross-dex-backtest\"\nduration = \"30s\"\n{COMMON}\n[chain]\ndex_engine = \"evm\"\n\n\
         [[market.dex]]\nname = \"uniswap_v2\"\npair = \"WETH/USDC\"\nreserves = [\"1000 WETH\", \"3000000 USDC\"]\nfee_bps = 30\n\n\
         [[market.dex]]\nname = \"other_v2\"\npair = \"WETH/USDC\"\nreserves = [\"1000 WETH\", \"3100000 USDC\"]\nfee_bps = 30\n"
    );
    let back = xcrack::engine::backtest::run(&load("cross-dex-backtest", &backtest_text), &mut |_| {}).unwrap();
    let t = back.trades.iter().find(|t| t.atomic).expect("the backtest arbitraged");
    assert_eq!(
        (t.quote_paid, t.base_bought, t.quote_received, t.predicted_gross),
        (a.quote_in, a.base_mid, a.quote_out, a.predicted_gross),
        "the same arbitrage, to the wei"
    );

    // The default gas estimate (our pairs', warm) is short for genuine pairs touched cold: the
    // simulation fails, nothing is recorded to send, and the reason says so.
    let short = load("fork-cross-dex", &fork_text.replace("gas_estimate = 200000", "gas_estimate = 125000"));
    let fork = xcrack::engine::fork::run(&short, xcrack::chain::rpc::RpcSource::http(node.addr)).unwrap();
    let a = &fork.cross_dex.as_ref().unwrap().records[0];
    assert_eq!((a.outcome, a.would_send), ("simulation_failed", None), "{a:?}");
    assert!(a.reason.contains("out of gas") && a.reason.contains("187500"), "{}", a.reason);
}

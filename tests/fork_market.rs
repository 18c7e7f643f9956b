//! The CEX/DEX market over forked state (`[chain.fork]`): the simulated CEX venues, noise traders
//! and rival arbitrageurs trade against the genuine Uniswap V2 pool as anvil holds it (npm factory,
//! pair, Router02, WETH9; a 1,000 WETH / 3,000,000 USDC pool), with the micro-arbitrage strategy's
//! DEX legs signed router swaps on that pair.
//!
//! - The run reads the pool from the chain (no reserves in the config) and ends with our wallet on
//!   the forked chain equal to the books, to the wei.
//! - Fork = simulation: the same scenario on our genesis (our pair contracts seeded with the same
//!   reserves and the genuine router's gas figure) trades the same sizes at the same prices, to the
//!   wei, with the same swaps, rivals and reverts in every block.
//! - With the sandwich strategy beside it, every strategy shares the forked chain (`engine::all`).
//! - Liquidations over forked state: the cascade scenario with the genuine pair as its WETH pool
//!   makes every liquidation our genesis makes, to the wei.
//! - The shipped scenario replays its recording offline, byte for byte.

mod common;

use common::anvil;
use common::files;
use common::uniswap::{Market, market};
use xcrack::chain::rpc::RpcSource;

/// The market scenario on `[chain.fork]` (`source`: its rpc_url or replay line) or, without, on
/// our genesis with the same pool.
fn scenario(m: Option<&Market>, source: &str, block: u64) -> String {
    let chain = match m {
        Some(m) => format!(
            "[chain.fork]\n{source}\nblock = {block}\nweth = \"{}\"\nquote = \"{}\"\n\n\
             [[chain.fork.pools]]\nname = \"uniswap_v2\"\nrouter = \"{}\"\npair = \"{}\"\nfee_bps = 30\n",
            m.weth, m.usdc, m.router, m.pair
        ),
        None => "[[market.dex]]\nname = \"uniswap_v2\"\npair = \"WETH/USDC\"\nreserves = [\"1000 WETH\", \"3000000 USDC\"]\nfee_bps = 30\nswap_gas = 135000\n".into(),
    };
    format!(
        r#"name = "market-forked"
description = "The CEX/DEX market on a chain forked from genuine Uniswap V2 on anvil: a CEX venue, noise traders and rivals around our micro-arbitrage."
seed = 3
duration = "20m"

[network]
chain_id = 31337

[market.assets.ETH]
price = 3000.0
model = "gbm"
vol_annual = 2.5

[[market.cex]]
name = "binance"
pair = "ETH/USDC"
taker_fee_bps = 7
maker_fee_bps = 2
tick_size = "0.01 USDC"
lot_size = "0.0001 ETH"
spread_bps = 0.5
depth_levels = 12
level_size = "3 ETH"
level_spacing_bps = 0.8
refresh = "100ms"
noise_bps = 0.5
latency = {{ dist = "lognormal", median_ms = 3.0, sigma = 0.4 }}
feed_latency = {{ dist = "lognormal", median_ms = 2.0, sigma = 0.3 }}
balance = ["20 ETH", "60000 USDC"]

[market.noise_traders]
rate_per_minute = 6.0

[strategies.micro_arbitrage]
enabled = true

[strategies.cross_dex]
enabled = false

[strategies.sandwich]
enabled = false

[account]
wallet = ["100 ETH", "300000 USDC"]
gas = "5 ETH"

[chain]
block_time = "12s"
base_fee_gwei = 10.0
dex_engine = "evm"

{chain}"#
    )
}

fn load(text: &str, dir: &std::path::Path) -> xcrack::config::RunSpec {
    common::spec_of("market-forked.toml", text, dir)
}

#[test]
fn the_market_trades_on_a_forked_genuine_pool_as_on_our_genesis() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let n = RpcSource::http(node.addr).latest().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let forked = load(&scenario(Some(&m), &format!("rpc_url = \"{}\"", node.url()), n), tmp.path());
    let fork = xcrack::engine::backtest::run(&forked, &mut |_| {}).unwrap();
    let dex_trades: Vec<_> = fork
        .trades
        .iter()
        .filter(|t| {
            matches!(t.buy_venue, xcrack::core::LegVenue::Dex(_))
                || matches!(t.sell_venue, xcrack::core::LegVenue::Dex(_))
        })
        .collect();
    assert!(dex_trades.len() >= 3, "the strategy traded the genuine pool: {} trades", dex_trades.len());
    assert!(fork.block_stats.noise_swaps > 0, "{:?}", fork.block_stats);
    let w = fork.wallet.as_ref().expect("pools in the EVM");
    assert_eq!(w.booked, w.on_chain, "our wallet on the forked chain equals the books, to the wei");
    assert_eq!(fork.blocks, 100, "20 minutes of 12 s blocks after the pinned one");

    // Fork = simulation: our genesis with the same pool makes the same trades, to the wei.
    let genesis = xcrack::engine::backtest::run(&load(&scenario(None, "", 0), tmp.path()), &mut |_| {}).unwrap();
    let amounts = |r: &xcrack::engine::backtest::BacktestResult| -> Vec<_> {
        r.trades
            .iter()
            .map(|t| (t.buy_venue, t.sell_venue, t.base_bought, t.base_sold, t.quote_paid, t.quote_received, t.fees))
            .collect()
    };
    assert_eq!(amounts(&fork), amounts(&genesis), "the same trades on the genuine pair as on ours");
    assert_eq!(fork.block_stats, genesis.block_stats, "the same swaps, rivals and reverts");
}

#[test]
fn every_strategy_shares_a_forked_chain() {
    every_strategy_on_a_forked_chain(false);
    every_strategy_on_a_forked_chain(true);
}

fn every_strategy_on_a_forked_chain(liquidation: bool) {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let n = RpcSource::http(node.addr).latest().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let text = scenario(Some(&m), &format!("rpc_url = \"{}\"", node.url()), n)
        .replace(
            "[strategies.sandwich]\nenabled = false",
            "[strategies.sandwich]\nenabled = true\nmin_profit_usd = 2.0",
        )
        .replace("[account]", "[mempool]\nvictims_per_minute = 6.0\nsize_median_usd = 20000.0\n\n[account]")
        .replace("[account]", &format!("[strategies.liquidation]\nenabled = {liquidation}\n\n[account]"))
        + if liquidation { "\n[lending]\nborrowers = 50\n" } else { "" };
    let spec = load(&text, tmp.path());
    assert!(xcrack::engine::all::combines(&spec));
    let all = xcrack::engine::all::run(&spec, &mut |_| {}).unwrap();
    assert!(all.wallet.matches(), "one wallet on the forked chain, booked = on chain: {:?}", all.wallet);
    assert!(!all.market.trades.is_empty(), "micro-arbitrage traded");
    assert!(all.sandwich.records.iter().any(|r| r.outcome == "included"), "sandwiches landed on the genuine pair");
    // With liquidations on, the lending market (its pool, oracle, borrowers) is laid on the fork too.
    if liquidation {
        assert!(all.liquidation.borrowers > 0, "borrowers on the forked chain");
    }
}

/// The shipped market-over-fork scenario: `rpc_url` commented out, the recording beside it.
fn shipped(m: &Market, block: u64) -> String {
    let header = format!(
        "# A backtest of the CEX/DEX market whose chain starts from real state ([chain.fork]): the genuine Uniswap V2\n\
         # factory, pair and Router02 and WETH9 (npm @uniswap/v2-core 1.0.1, @uniswap/v2-periphery 1.1.0-beta.0) on anvil\n\
         # (npm @foundry-rs/anvil 1.7.1) with a 1,000 WETH / 3,000,000 USDC pool at block {block}. A simulated CEX venue,\n\
         # noise traders and rival arbitrageurs trade around it; the micro-arbitrage strategy's DEX legs are router swaps\n\
         # on that pair. Every state read this seed needs is in the recording, so it runs offline:\n\
         #   xcrack backtest scenarios/fork/market_forked.toml\n\
         # Written by `cargo test --test fork_market -- --ignored` (anvil from tests/node), with the recording.\n"
    );
    header
        + &scenario(
            Some(m),
            "replay = \"../../data/fork/market_forked.rec.json\"\n# rpc_url = \"http://127.0.0.1:8545\"   # or read a node holding this state",
            block,
        )
}

/// Regenerates `scenarios/fork/market_forked.toml` and its recording from anvil (by hand:
/// `cargo test --test fork_market -- --ignored`).
#[test]
#[ignore]
fn write_the_shipped_market_fork_scenario_and_recording() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let head = RpcSource::http(node.addr).latest().unwrap();
    let repo = common::repo();
    let file = repo.join("scenarios/fork/market_forked.toml");
    std::fs::write(&file, shipped(&m, head)).unwrap();
    let spec = load(&std::fs::read_to_string(&file).unwrap(), &repo.join("scenarios/fork"));
    let recorder = xcrack::chain::rpc::Recorder::new(xcrack::chain::rpc::Http::new(
        xcrack::chain::rpc::Endpoint::parse(&node.url()).unwrap(),
        xcrack::chain::rpc::Retry::default(),
    ));
    let rpc = RpcSource::new(std::rc::Rc::new(recorder.clone()));
    let pin = rpc.pin(Some(head), None).unwrap();
    let r = xcrack::engine::backtest::run_forked(&spec, rpc, &mut |_| {}).unwrap();
    assert!(!r.trades.is_empty());
    recorder.recording(&pin).save(&repo.join("data/fork/market_forked.rec.json")).unwrap();
}

/// The shipped scenario runs offline from its recording, the same bytes twice, our wallet on the
/// forked chain equal to the books.
#[test]
fn the_shipped_market_fork_scenario_runs_offline() {
    let scenario = common::scenario("fork/market_forked.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str| {
        let out = tmp.path().join(out);
        let o = common::xcrack(&["backtest", &scenario, "--out", out.to_str().unwrap(), "--quiet"], tmp.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        files(&out.join("market-forked-3")).into_iter().filter(|(n, _)| n != "timing.json").collect::<Vec<_>>()
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a, b, "byte-identical");
    let summary: serde_json::Value =
        serde_json::from_slice(&a.iter().find(|(n, _)| n == "summary.json").unwrap().1).unwrap();
    assert_eq!(summary["chain"]["wallet"]["matches"], true, "{summary}");
    assert_eq!(summary["chain"]["blocks"], 100, "{summary}");
    assert!(summary["trades"]["count"].as_u64().unwrap() > 0, "{summary}");
}

/// Liquidations over forked state: the cascade scenario (ETH −25 % in 10 minutes, 300 leveraged
/// borrowers) with its WETH pool the genuine Uniswap V2 pair on anvil (20,000 WETH / 60,000,000
/// USDC) instead of ours: the lending market is laid on the forked chain, and every liquidation —
/// block, borrower, amounts repaid and seized, realised gross — is the one our genesis makes.
#[test]
fn liquidations_over_forked_state_are_our_genesis_liquidations() {
    // 20,000 WETH to wrap: more than anvil's default 10,000 ETH per dev account.
    let Some(node) = anvil::anvil(&["--balance", "100000"]) else { return };
    let Some(m) = market(node.addr) else { return };
    let e18 = common::uniswap::E18;
    let (_, router, pair) =
        common::uniswap::venue(node.addr, (m.weth, m.usdc), (20_000 * e18, 60_000_000_000_000)).unwrap();
    let n = RpcSource::http(node.addr).latest().unwrap();
    let repo = common::repo();
    let base = std::fs::read_to_string(repo.join("scenarios/liquidation_cascade.toml"))
        .unwrap()
        .replace(
            "../data/eth_cascade_synthetic.csv",
            &repo.join("data/eth_cascade_synthetic.csv").display().to_string(),
        )
        .replace("duration = \"30m\"", "duration = \"15m\"")
        + "\n[network]\nchain_id = 31337\n";
    let ours = "[[market.dex]]\nname = \"uniswap_v2\"\npair = \"WETH/USDC\"\nreserves = [\"20000 WETH\", \"60000000 USDC\"]\nfee_bps = 30\n";
    assert!(base.contains(ours), "the cascade's pool");
    let forked = base.replace(ours, "")
        + &format!(
            "\n[chain.fork]\nrpc_url = \"{}\"\nblock = {n}\nweth = \"{}\"\nquote = \"{}\"\n\n\
             [[chain.fork.pools]]\nname = \"uniswap_v2\"\nrouter = \"{router}\"\npair = \"{pair}\"\nfee_bps = 30\n",
            node.url(),
            m.weth,
            m.usdc
        );
    let genesis = base.replace("fee_bps = 30\n", "fee_bps = 30\nswap_gas = 135000\n");
    let tmp = tempfile::tempdir().unwrap();
    let run = |text: &str| xcrack::engine::all::run(&load(text, tmp.path()), &mut |_| {}).unwrap();
    let (fork, ours) = (run(&forked), run(&genesis));
    // Blocks by their distance from the start: the fork's carry the chain's numbers (after N).
    let key = |r: &xcrack::engine::all::AllResult, start: u64| -> Vec<_> {
        r.liquidation
            .records
            .iter()
            .map(|x| (x.block - start, x.borrower, x.predicted_repaid, x.predicted_seized, x.realised_gross, x.outcome))
            .collect()
    };
    assert!(
        fork.liquidation.records.iter().filter(|x| x.outcome == "included").count() >= 10,
        "the cascade liquidates"
    );
    // Our genesis is block 1; the fork's first block (our contracts laid on it) is N + 1.
    assert_eq!(key(&fork, n + 1), key(&ours, 1), "the same liquidations over the genuine pair, to the wei");
    assert!(fork.wallet.matches(), "{:?}", fork.wallet);
}

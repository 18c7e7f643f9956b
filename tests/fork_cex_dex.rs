//! DEX-CEX arbitrage in fork mode against a real node: the genuine Uniswap V2 pool on anvil holds
//! WETH/USDC at 3,000; a recorded Binance book two seconds after the pinned block bids 3,100.
//!
//! - The micro-arbitrage strategy buys WETH from the pool (our Router02 swap, signed and simulated
//!   on the pinned state, kept as a one-transaction bundle for N+1; nothing sent) and sells it into
//!   the recorded bids after the venue's latency, as the order executor does in backtests.
//! - Fork = node: the USDC the swap pays is what anvil's own router quotes at N
//!   (`getAmountsIn`), to the wei; the CEX leg is the recorded book walked, fee rounded up.
//! - The recording replays with anvil stopped, to identical report bytes; a malformed book is one
//!   error naming the file, the line and `fork.cex_quotes`.

mod common;

use std::net::SocketAddr;

use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use common::anvil::{self, rpc};
use common::files;
use common::uniswap::{Market, market};
use xcrack::chain::contracts::IUniswapV2Router02 as R;
use xcrack::core::{LegVenue, PoolId, VenueId};

/// Mines N+1 and N+2, 12 s apart: (N, N's timestamp).
fn two_blocks(node: SocketAddr) -> (u64, u64) {
    let n = rpc(node, "eth_blockNumber", serde_json::json!([]));
    let n = u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let head = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{n:#x}"), false]));
    let ts = u64::from_str_radix(head["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    rpc(node, "evm_mine", serde_json::json!([ts + 12]));
    rpc(node, "evm_mine", serde_json::json!([ts + 24]));
    (n, ts)
}

/// Binance's books: bidding 3,100 two seconds after the pin; back in line with the pool after N+1.
fn quotes(ts: u64) -> String {
    let (a, b) = (ts * 1000 + 2_000, ts * 1000 + 14_000);
    format!(
        "unix_ms,venue,side,price,size\n\
         {a},binance,bid,3100.00,2\n{a},binance,bid,3095.00,3\n{a},binance,ask,3101.00,5\n\
         {b},binance,bid,2999.50,3\n{b},binance,ask,3000.50,3\n"
    )
}

/// The fork scenario over `m` pinned at `n`, its books in `cex_quotes`, read through `source`.
fn scenario(m: &Market, source: &str, n: u64, cex_quotes: &str) -> String {
    format!(
        r#"name = "fork-cex-dex"
seed = 1
duration = "1h"

[network]
chain_id = 31337

[market.assets.ETH]
price = 3000.0
model = "gbm"
vol_annual = 0.0

# The venue's terms and latencies; with recorded books its spread, depth and refresh keys are unused.
[[market.cex]]
name = "binance"
pair = "ETH/USDC"
taker_fee_bps = 7
tick_size = "0.01 USDC"
lot_size = "0.0001 ETH"
spread_bps = 0.5
depth_levels = 12
level_size = "3 ETH"
level_spacing_bps = 0.8
refresh = "100ms"
noise_bps = 0.0
latency = {{ dist = "constant", median_ms = 5.0 }}
feed_latency = {{ dist = "constant", median_ms = 2.0 }}
balance = ["10 ETH", "30000 USDC"]

[strategies.micro_arbitrage]
enabled = true
max_position_size = "5 ETH"

[strategies.cross_dex]
enabled = false

[strategies.sandwich]
enabled = false

[account]
wallet = ["100 ETH", "300000 USDC"]
gas = "5 ETH"

[fork]
{source}
block = {n}
blocks = 2
weth = "{}"
quote = "{}"
cex_quotes = "{cex_quotes}"

[[fork.pools]]
name = "uniswap_v2"
router = "{}"
pair = "{}"
"#,
        m.weth, m.usdc, m.router, m.pair
    )
}

fn load(text: &str, dir: &std::path::Path) -> xcrack::config::RunSpec {
    common::spec_of("fork-cex-dex.toml", text, dir)
}

#[test]
fn a_fork_trades_the_pool_against_recorded_books_as_the_node_quotes_and_replays_offline() {
    let Some(mut node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let (n, ts) = two_blocks(node.addr);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("books.csv"), quotes(ts)).unwrap();
    let text = scenario(&m, &format!("rpc_url = \"{}\"", node.url()), n, "books.csv");
    let spec = load(&text, tmp.path());
    let fork = xcrack::engine::fork::run(&spec, xcrack::chain::rpc::RpcSource::http(node.addr)).unwrap();
    let x = fork.micro.as_ref().expect("the micro-arbitrage strategy ran");
    assert_eq!((x.books, x.quotes_heard, x.quotes_out_of_order), (2, 2, 0));
    assert_eq!(x.trades.len(), 1, "{:#?} {:?}", x.trades, x.opportunities);
    let t = &x.trades[0];
    assert_eq!(
        (t.buy_venue, t.sell_venue, t.status.as_str()),
        (LegVenue::Dex(PoolId(0)), LegVenue::Cex(VenueId(0)), "filled")
    );
    assert_eq!((t.base_bought, t.base_sold), (t.planned_base, t.planned_base), "{t:?}");
    assert!(t.planned_base > 0 && t.planned_base <= 5 * common::uniswap::E18, "{t:?}");

    // The DEX leg: one bundle for N+1 whose flows are the trade's, and what anvil's router quotes.
    let w = &fork.would_send[x.leg_bundles[0].1];
    assert_eq!((w.target_block, w.txs.len()), (n + 1, 1));
    let mut flows = w.flows.clone();
    flows.sort();
    let mut want = vec![(m.weth, t.base_bought as i128), (m.usdc, -(t.quote_paid as i128))];
    want.sort();
    assert_eq!(flows, want, "our flows in the simulation are the trade's");
    let call = R::getAmountsInCall { amountOut: U256::from(t.base_bought), path: vec![m.usdc, m.weth] }.abi_encode();
    let out =
        rpc(node.addr, "eth_call", serde_json::json!([{"to": m.router, "data": anvil::hex(&call)}, format!("{n:#x}")]));
    let amounts =
        R::getAmountsInCall::abi_decode_returns(&alloy_primitives::hex::decode(out.as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(amounts[0].to::<u128>(), t.quote_paid, "USDC paid = the router's getAmountsIn at N");
    assert!(
        w.gas_used > 60_000 && w.gas_used < xcrack::config::fork::ROUTER_SWAP_GAS,
        "a genuine Router02 swap touched cold: {} gas, within the default estimate",
        w.gas_used
    );
    assert_eq!(t.gas_wei, w.gas_wei);

    // The CEX leg: the recorded bids walked (3,100.00 for 2 ETH, then 3,095.00), fee rounded up.
    // Tick 0.01 USDC and lot 0.0001 ETH: one tick-lot is one raw USDC unit.
    let lots = t.base_sold / 100_000_000_000_000;
    let at_top = lots.min(20_000);
    let quote = at_top * 310_000 + (lots - at_top) * 309_500;
    assert_eq!(t.quote_received, quote);
    assert_eq!(t.fees, (quote * 7).div_ceil(10_000));
    assert_eq!(t.gross_pnl, t.predicted_gross, "filled as predicted: {t:?}");
    assert_eq!(t.gross_pnl, t.quote_received as i128 - t.quote_paid as i128);

    // Through the CLI: recorded, then replayed with the node gone; only reads reached the node.
    let file = tmp.path().join("fork-cex-dex.toml");
    std::fs::write(&file, &text).unwrap();
    let file = file.display().to_string();
    let rec = tmp.path().join("rec.json");
    let live = tmp.path().join("live");
    let o = common::xcrack(
        &["fork", &file, "--record", rec.to_str().unwrap(), "--out", live.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recording: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    let methods: std::collections::BTreeSet<&str> =
        recording["calls"].as_array().unwrap().iter().map(|c| c["method"].as_str().unwrap()).collect();
    assert!(methods.iter().all(|m| m.starts_with("eth_get") || ["eth_chainId", "eth_call"].contains(m)), "{methods:?}");
    let report = live.join(format!("fork-cex-dex-block-{n}"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    let s = &summary["micro_arbitrage"];
    assert_eq!((s["trades"].as_u64(), s["filled"].as_u64()), (Some(1), Some(1)), "{s}");
    assert!(s["net"].as_f64().unwrap() > 0.0, "{s}");
    let trades = std::fs::read_to_string(report.join("cex_dex_trades.csv")).unwrap();
    assert_eq!(trades.lines().count(), 2, "{trades}");
    assert!(trades.contains("uniswap_v2") && trades.contains("binance"), "{trades}");
    let bundles = std::fs::read_to_string(report.join("bundles.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(bundles.lines().next().unwrap()).unwrap();
    assert!(line["dex_leg_order"].is_u64(), "{line}");

    node.stop();
    let replayed = tmp.path().join("replayed");
    let o = common::xcrack(
        &["fork", &file, "--replay", rec.to_str().unwrap(), "--out", replayed.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(files(&report), files(&replayed.join(format!("fork-cex-dex-block-{n}"))), "byte-identical offline");

    // A malformed book: one error naming the file, the line and the key; exit 2; nothing written.
    for (i, (from, to, words)) in [
        ("binance,bid,3100.00,2", "kraken,bid,3100.00,2", "venue `kraken`"),
        ("binance,bid,3100.00,2", "binance,bid,3100.005,2", "price `3100.005`"),
        ("binance,ask,3101.00,5", "binance,ask,3099.00,5", "crossed"),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(tmp.path().join(format!("bad-{i}.csv")), quotes(ts).replacen(from, to, 1)).unwrap();
        let bad_file = tmp.path().join(format!("bad-{i}.toml"));
        std::fs::write(&bad_file, text.replace("books.csv", &format!("bad-{i}.csv"))).unwrap();
        let out = tmp.path().join(format!("out-{i}"));
        let args =
            ["fork", bad_file.to_str().unwrap(), "--replay", rec.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let o = common::xcrack(&args, tmp.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        let named = err.contains("fork.cex_quotes") && err.contains(&format!("bad-{i}.csv line 2"));
        assert!(named && err.contains(words), "{i}: {err}");
        assert!(!out.exists(), "nothing written");
    }
}

/// Regenerates `scenarios/fork/anvil_cex_dex.toml`, its books `data/fork/anvil_cex_dex.books.csv`
/// and its recording `data/fork/anvil_cex_dex.rec.json` from anvil (by hand: `cargo test --test
/// fork_cex_dex -- --ignored`).
#[test]
#[ignore]
fn write_the_shipped_cex_dex_fork_scenario_and_recording() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let (n, ts) = two_blocks(node.addr);
    let repo = common::repo();
    std::fs::write(repo.join("data/fork/anvil_cex_dex.books.csv"), quotes(ts)).unwrap();
    let header = format!(
        "# Fork mode, offline, DEX-CEX arbitrage: the genuine Uniswap V2 pool (npm @uniswap/v2-core 1.0.1,\n\
         # @uniswap/v2-periphery 1.1.0-beta.0) on anvil (npm @foundry-rs/anvil 1.7.1) at 3,000 USDC per WETH, and a\n\
         # recorded Binance book (synthetic, data/fork/anvil_cex_dex.books.csv) bidding 3,100 two seconds after block {n}.\n\
         # The strategy buys WETH from the pool (a Router02 swap simulated on the pinned state, for block {n1}) and sells\n\
         # it into the recorded bids; nothing is sent. Every RPC answer the run needs is in the recording, so:\n\
         #   xcrack fork scenarios/fork/anvil_cex_dex.toml\n\
         # Written by `cargo test --test fork_cex_dex -- --ignored` (anvil from tests/node), with the recording.\n",
        n1 = n + 1
    );
    let body = scenario(&m, "replay = \"../../data/fork/anvil_cex_dex.rec.json\"", n, "../../data/fork/anvil_cex_dex.books.csv")
        .replace(
            "name = \"fork-cex-dex\"",
            "name = \"anvil-cex-dex\"\ndescription = \"Fork dry run of DEX-CEX arbitrage: genuine Uniswap V2 on anvil against recorded Binance books, replayed offline.\"",
        );
    let file = repo.join("scenarios/fork/anvil_cex_dex.toml");
    std::fs::write(&file, header + &body).unwrap();
    let rec = repo.join("data/fork/anvil_cex_dex.rec.json");
    common::record_fork(&file, &node.url(), &rec);
}

/// The shipped DEX-CEX fork scenario runs from its recording with no node and no npm: the same
/// bytes twice, the summary as recorded (pinned below).
#[test]
fn the_shipped_cex_dex_fork_scenario_runs_offline_from_its_recording() {
    let scenario = common::scenario("fork/anvil_cex_dex.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str| files(&common::fork_report(&scenario, tmp.path(), out, &[]));
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a, b, "byte-identical");
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"cex_dex_trades.csv") && names.contains(&"cex_dex_trades.parquet"), "{names:?}");
    let md = &a.iter().find(|(n, _)| n == "summary.md").unwrap().1;
    insta::assert_snapshot!(String::from_utf8_lossy(md));
}

//! The sandwich pipeline end to end, through the CLI: victims in the mempool → strategy → signed
//! bundle → our relay over HTTP (signature verified) → included in a simulated block → report and
//! on-chain balances agree to the wei. Plus the front-run's optimality against a brute-force search,
//! skips with reasons, and the rule that a bundle failing simulation is never sent.

use std::path::{Path, PathBuf};
use std::process::Command;

use alloy_primitives::U256;
use serde_json::Value;

use xcrack::strategies::sandwich_math::{Pool, VictimLimit, best_sandwich, max_front_run, run, victims_alone};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn backtest(scenario: &Path, out: &Path) -> (Value, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_xcrack"))
        .args(["backtest", scenario.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = std::fs::read_dir(out).unwrap().next().unwrap().unwrap().path();
    let summary = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let sandwiches = std::fs::read_to_string(dir.join("sandwiches.csv")).unwrap();
    let victims = std::fs::read_to_string(dir.join("victims.csv")).unwrap();
    (summary, sandwiches, victims)
}

/// Rows of a CSV as column-name → value maps (our CSVs quote only empty strings).
fn rows(csv: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(|v| v.trim_matches('"').to_string())).collect()).collect()
}

fn u(s: &str) -> U256 {
    s.parse().unwrap()
}

#[test]
fn four_victim_fixture_is_sandwiched_optimally_and_the_books_match_the_chain() {
    let d = tempfile::tempdir().unwrap();
    let (s, sandwiches, victims) = backtest(&repo().join("scenarios/sandwich_fixture.toml"), d.path());
    // One bundle per arrival, each replacing the last under the pool's replacementUuid; the
    // fourth, around all four victims, lands.
    let b = &s["bundles"];
    assert_eq!((b["built"].as_u64(), b["submitted"].as_u64(), b["replaced"].as_u64()), (Some(4), Some(4), Some(3)));
    assert_eq!(b["included"], 1);
    assert_eq!(s["relay"]["received"], 4, "every bundle reached the relay over HTTP, signature verified");
    assert_eq!(s["pnl"]["predicted_equals_realised"], 1);
    assert_eq!(s["wallet"]["matches"], true, "{}", s["wallet"]);
    assert_eq!(s["wallet"]["booked"], s["wallet"]["on_chain"]);
    let v = rows(&victims);
    assert_eq!(v.len(), 4);
    assert!(v.iter().all(|r| r["sandwiched"] == "true" && r["succeeded"] == "true"), "{victims}");
    assert!(v.iter().all(|r| r["loss_raw"].parse::<i128>().unwrap() > 0), "every victim paid for it");
    // The chosen front-run against the exact math on the scenario's own numbers.
    let e18 = 10u128.pow(18);
    let pool = Pool { reserve_in: U256::from(1000 * e18), reserve_out: U256::from(3_000_000_000_000u128), fee_bps: 30 };
    let limits = [
        VictimLimit::ExactIn { amount_in: U256::from(20 * e18), min_out: U256::from(56_890_993_587u128) },
        VictimLimit::ExactOut { amount_out: U256::from(45_000_000_000u128), max_in: u("16213125098826804398") },
        VictimLimit::ExactIn { amount_in: U256::from(8 * e18), min_out: U256::from(21_245_180_209u128) },
        VictimLimit::ExactOut { amount_out: U256::from(30_000_000_000u128), max_in: u("11209493774076805740") },
    ];
    let cap = U256::from(200 * e18);
    let best = best_sandwich(pool, &limits, cap).unwrap();
    let all = rows(&sandwiches);
    let r = all.iter().find(|r| r["outcome"] == "included").unwrap();
    assert_eq!(u(&r["front_in_raw"]), best.front_in);
    assert_eq!(u(&r["realised_back_out_raw"]), best.back_out);
    // Optimal: the victims' limits bind (one more wei breaks one) and no size near it pays more.
    let hi = max_front_run(pool, &limits, cap);
    assert!(hi < cap && run(pool, &limits, hi + U256::from(1u8)).is_none());
    let p = |f: U256| run(pool, &limits, f).map(|r| r.gross_profit()).unwrap_or(i128::MIN);
    let f = best.front_in;
    for d in 1..=20_000u64 {
        let d = U256::from(d);
        assert!(p(f) >= p(f + d) && (f <= d || p(f) >= p(f - d)));
    }
    for k in 1..=1000u64 {
        // …and none of a thousand evenly spaced sizes across the whole feasible range does either.
        assert!(p(f) >= p(hi * U256::from(k) / U256::from(1000u64)));
    }
}

/// The same pipeline on a pool small enough that every front-run size can be tried: the bundle's
/// front-run is the brute-force optimum, and all four victims still succeed in the EVM.
#[test]
fn small_fixture_front_run_equals_the_brute_force_optimum() {
    let pool = Pool { reserve_in: U256::from(2_000_000u64), reserve_out: U256::from(6_000_000u64), fee_bps: 30 };
    let trades = [
        VictimLimit::ExactIn { amount_in: U256::from(20_000u64), min_out: U256::ZERO },
        VictimLimit::ExactOut { amount_out: U256::from(45_000u64), max_in: U256::MAX },
        VictimLimit::ExactIn { amount_in: U256::from(8_000u64), min_out: U256::ZERO },
        VictimLimit::ExactOut { amount_out: U256::from(30_000u64), max_in: U256::MAX },
    ];
    let quoted = victims_alone(pool, &trades).unwrap();
    let bps = [300u64, 200, 400, 150];
    let lim = |i: usize| -> U256 {
        match trades[i] {
            VictimLimit::ExactIn { .. } => quoted[i] * U256::from(10_000 - bps[i]) / U256::from(10_000u64),
            VictimLimit::ExactOut { .. } => quoted[i] * U256::from(10_000 + bps[i]) / U256::from(10_000u64),
        }
    };
    let limits = [
        VictimLimit::ExactIn { amount_in: U256::from(20_000u64), min_out: lim(0) },
        VictimLimit::ExactOut { amount_out: U256::from(45_000u64), max_in: lim(1) },
        VictimLimit::ExactIn { amount_in: U256::from(8_000u64), min_out: lim(2) },
        VictimLimit::ExactOut { amount_out: U256::from(30_000u64), max_in: lim(3) },
    ];
    // Raw amounts written with their units: WETH has 18 decimals, USDC 6.
    let units = |v: U256, dec: usize, unit: &str| {
        let s = format!("{:0>w$}", v.to_string(), w = dec + 1);
        let (int, frac) = s.split_at(s.len() - dec);
        format!("{int}.{frac} {unit}")
    };
    let weth = |w: U256| units(w, 18, "WETH");
    let usdc = |r: U256| units(r, 6, "USDC");
    let cap = 400_000u64;
    let scenario = format!(
        r#"name = "sandwich-small"
seed = 3
duration = "12s"
[market]
tick_interval = "1s"
[market.assets.ETH]
decimals = 18
price = 3000.0
model = "gbm"
vol_annual = 0.0
[[market.dex]]
name = "tiny"
pair = "WETH/USDC"
reserves = ["{rb}", "{rq}"]
fee_bps = 30
[market.noise_traders]
rate_per_minute = 0.0
[market.rivals]
probability = 0.0
[chain]
block_time = "12s"
base_fee_gwei = 0.0
fixed_base_fee = true
dex_engine = "evm"
[strategies.micro_arbitrage]
enabled = false
[strategies.cross_dex]
enabled = false
[strategies.sandwich]
enabled = true
min_profit_usd = 0.0
priority_fee_gwei = 0.0
rival_probability = 0.0
[account]
wallet = ["{cap_w}", "1 USDC"]
gas = "1 ETH"
[mempool]
victims_per_minute = 0.0
[[mempool.pending]]
at = "1s"
pool = "tiny"
method = "swapExactETHForTokens"
amount_in = "{a1}"
amount_out_min = "{m1}"
sender = "v1"
priority_fee_gwei = 4.0
[[mempool.pending]]
at = "2s"
pool = "tiny"
method = "swapETHForExactTokens"
amount_out = "{o2}"
amount_in_max = "{x2}"
sender = "v2"
priority_fee_gwei = 3.0
[[mempool.pending]]
at = "3s"
pool = "tiny"
method = "swapExactTokensForTokens"
sell = "WETH"
amount_in = "{a3}"
amount_out_min = "{m3}"
sender = "v3"
priority_fee_gwei = 2.0
[[mempool.pending]]
at = "4s"
pool = "tiny"
method = "swapTokensForExactTokens"
sell = "WETH"
amount_out = "{o4}"
amount_in_max = "{x4}"
sender = "v4"
priority_fee_gwei = 1.0
"#,
        rb = weth(pool.reserve_in),
        rq = usdc(pool.reserve_out),
        cap_w = weth(U256::from(cap)),
        a1 = weth(U256::from(20_000u64)),
        m1 = usdc(lim(0)),
        o2 = usdc(U256::from(45_000u64)),
        x2 = weth(lim(1)),
        a3 = weth(U256::from(8_000u64)),
        m3 = usdc(lim(2)),
        o4 = usdc(U256::from(30_000u64)),
        x4 = weth(lim(3)),
    );
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("small.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = d.path().join("out");
    let (s, sandwiches, victims) = backtest(&file, &out);
    // Brute force: every front-run size up to our inventory.
    let (mut best_f, mut best_p) = (0u64, i128::MIN);
    for f in 1..=cap {
        if let Some(r) = run(pool, &limits, U256::from(f))
            && r.gross_profit() > best_p
        {
            (best_f, best_p) = (f, r.gross_profit());
        }
    }
    let all = rows(&sandwiches);
    let r = all.iter().find(|r| r["outcome"] == "included").unwrap_or_else(|| panic!("{sandwiches}"));
    assert_eq!(r["victims"], "4");
    assert_eq!(r["front_in_raw"], best_f.to_string());
    assert_eq!(r["realised_gross_raw"], best_p.to_string());
    assert!(rows(&victims).iter().all(|v| v["succeeded"] == "true" && v["sandwiched"] == "true"), "{victims}");
    assert_eq!(s["wallet"]["matches"], true);
}

#[test]
fn a_victim_that_cannot_be_sandwiched_profitably_is_skipped_with_its_reason() {
    let text = std::fs::read_to_string(repo().join("scenarios/sandwich_fixture.toml")).unwrap();
    // Keep only Alice, with a 0.01 % tolerance: no front-run worth its gas fits.
    let cut = text.find("[[mempool.pending]]\nat = \"2s\"").unwrap();
    let tight = text[..cut].replace("amount_out_min = \"56890.993587 USDC\"", "amount_out_min = \"58644.643802 USDC\"");
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("tight.toml");
    std::fs::write(&file, tight).unwrap();
    let (s, _, victims) = backtest(&file, &d.path().join("out"));
    assert_eq!(s["bundles"]["built"], 0);
    let skipped = s["skipped"].as_object().unwrap();
    assert!(skipped.contains_key("unprofitable") || skipped.contains_key("limits_too_tight"), "{skipped:?}");
    let v = rows(&victims);
    assert_eq!(
        (v[0]["sandwiched"].as_str(), v[0]["succeeded"].as_str(), v[0]["loss_raw"].as_str()),
        ("false", "true", "0")
    );
}

/// The BundleManager can only submit what passed simulation (`Confirmed`); a plan the EVM rejects
/// (here: one more wei expected from the back-run than the pool gives) stops at simulation and the
/// relay never sees it; the honest plan goes through.
#[test]
fn a_bundle_whose_simulation_reverts_is_never_sent() {
    use alloy_sol_types::SolCall;
    use std::sync::{Arc, Mutex};
    use xcrack::chain::contracts::{ITestERC20, IUniswapV2Router02, IWETH9};
    use xcrack::chain::simchain::actor;
    use xcrack::chain::world::deploy_dex_for;
    use xcrack::chain::{SimChain, TxRequest, Wallet};
    use xcrack::execution::bundle_manager::BundleManager;
    use xcrack::mempool::SwapLimit;
    use xcrack::relay::{Relay, RelayClient, RelayServer};
    use xcrack::strategies::sandwich::{Market, Victim, plan};

    let e18 = 10u128.pow(18);
    let mut chain = SimChain::new(1);
    let me = Wallet::derived(1, "searcher");
    let (rb, rq) = (U256::from(1000 * e18), U256::from(3_000_000_000_000u128));
    let dex = deploy_dex_for(&mut chain, 6, &[(rb, rq)], me.address()).unwrap();
    chain.set_balance(me.address(), U256::from(60 * e18));
    let call = |c: &mut SimChain, from, to, data: Vec<u8>, value| {
        assert!(c.call(from, to, data.into(), value).unwrap().success)
    };
    call(&mut chain, me.address(), dex.weth, IWETH9::depositCall {}.abi_encode(), U256::from(50 * e18));
    let approve = ITestERC20::approveCall { spender: dex.executor, value: U256::MAX }.abi_encode();
    call(&mut chain, me.address(), dex.weth, approve.clone(), U256::ZERO);
    call(&mut chain, me.address(), dex.usdc, approve, U256::ZERO);
    let mut victim = Wallet::derived(1, "victim");
    chain.set_balance(victim.address(), U256::from(100 * e18));
    chain.advance_block(1_700_000_000, 1_000_000_000, actor("builder"));
    let quote = xcrack::market::amm::get_amount_out(U256::from(20 * e18), rb, rq, 30).unwrap();
    let min_out = quote * U256::from(97u8) / U256::from(100u8);
    let swap = IUniswapV2Router02::swapExactETHForTokensCall {
        amountOutMin: min_out,
        path: vec![dex.weth, dex.usdc],
        to: victim.address(),
        deadline: U256::MAX,
    };
    let req = TxRequest {
        chain_id: 1,
        to: dex.venues[0].router,
        data: swap.abi_encode().into(),
        value: U256::from(20 * e18),
        gas_limit: 300_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 2_000_000_000,
    };
    let (raw, hash) = victim.sign(&req).unwrap();
    let victim_addr = victim.address();
    let relay = Arc::new(Mutex::new(Relay::new(&chain, 12)));
    let (port, _inbox) = xcrack::relay::chain_port();
    let server = RelayServer::start(relay.clone(), port, "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut manager = BundleManager::new(me, RelayClient::new(server.addr(), Wallet::derived(1, "auth")), 1);
    let spec = xcrack::config::SandwichSpec {
        enabled: true,
        min_profit_quote: 0,
        bribe_share: 0.5,
        min_success_probability: 0.0,
        priority_fee_wei: 1_000_000_000,
        gas_estimate: 110_000,
        rival_probability: 0.0,
        rival_bid_median_wei: 0.0,
        rival_bid_sigma: 0.0,
        submit_latency: 0,
    };
    let market = Market {
        pool: 0,
        reserve_base: rb,
        reserve_quote: rq,
        fee_bps: 30,
        base: U256::from(50 * e18),
        quote: U256::ZERO,
        native: 10 * e18,
        base_fee_wei: 1_000_000_000,
    };
    let v = Victim {
        tx_hash: hash,
        pool: 0,
        sells_base: true,
        limit: SwapLimit::ExactIn { amount_in: U256::from(20 * e18), min_out },
        priority_fee_wei: 2_000_000_000,
        arrival_seq: 1,
        after: None,
    };
    let good = plan(&spec, &market, &[v]).unwrap();
    let mut greedy = good.clone();
    greedy.run.back_out += U256::from(1u8);
    let mut try_send = |m: &mut BundleManager, p: &xcrack::strategies::sandwich::SandwichPlan| {
        let confirmed = {
            let chain = &mut chain;
            let target = chain.block_number() + 1;
            let id = xcrack::core::TxId(0);
            let head_fee = u128::from(chain.base_fee());
            let req = xcrack::strategies::sandwich_strategy::bundle_request(
                p,
                &dex.book(),
                &[id],
                0,
                target,
                1_700_000_012,
                head_fee,
                0,
            );
            let wrapped = |_: xcrack::core::TxId| Some((raw.clone(), victim_addr));
            m.sign_request(&req, chain, &wrapped)
                .and_then(|b| m.simulate_flows(b, chain, 1_700_000_012, &req.expected_flows))
        };
        confirmed.map(|c| m.submit(&c, None))
    };
    let err = try_send(&mut manager, &greedy).unwrap_err();
    assert!(err.contains("reverts"), "{err}");
    assert_eq!(manager.stats.simulation_failed, 1);
    assert_eq!(relay.lock().unwrap().stats.received, 0, "nothing reached the relay");
    let sent = try_send(&mut manager, &good).unwrap().unwrap();
    assert_eq!((manager.stats.submitted, relay.lock().unwrap().stats.received), (1, 1));
    // The same bundle through the dry-run sink: recorded with the hash the relay gave it, and
    // nothing more reaches the relay.
    let sink = xcrack::execution::bundle_manager::DryRunSink::default();
    let mut dry = BundleManager::with_sink(Wallet::derived(1, "searcher"), Box::new(sink.clone()), 1);
    assert_eq!(try_send(&mut dry, &good).unwrap(), Ok(sent));
    let record = sink.record();
    assert_eq!(record.sent.len(), 1);
    assert_eq!(record.sent[0].txs.len(), 3, "front-run, victim, back-run");
    assert_eq!(relay.lock().unwrap().stats.received, 1, "the dry run sent nothing");
}

/// The generated-victims scenario: deterministic to the byte across processes, bundles land, and
/// the wallet on the chain equals the books.
#[test]
fn generated_sandwich_scenario_is_deterministic_and_reconciles() {
    let d = tempfile::tempdir().unwrap();
    let go = |out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_xcrack"))
            .args(["backtest", repo().join("scenarios/sandwich.toml").to_str().unwrap(), "--quiet"])
            .args(["--set", "duration=40m", "--out", out.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dir = out.join("sandwich-42");
        ["summary.json", "sandwiches.csv", "victims.csv"].map(|f| std::fs::read(dir.join(f)).unwrap())
    };
    let (a, b) = (go(&d.path().join("a")), go(&d.path().join("b")));
    assert_eq!(a, b);
    let s: Value = serde_json::from_slice(&a[0]).unwrap();
    assert!(s["bundles"]["included"].as_u64().unwrap() >= 1, "{}", s["bundles"]);
    assert_eq!(s["bundles"]["simulation_failed"], 0);
    assert_eq!(s["wallet"]["matches"], true);
    assert_eq!(s["pnl"]["predicted_differs"], 0);
}

/// A victim that reaches us just before the block but not the builder's public mempool: a rival
/// outbids our bundle, the victim is still pending, so the BundleManager resubmits for the next
/// block (and is outbid again there, while the victim finally executes publicly).
#[test]
fn a_missed_bundle_is_resubmitted_while_its_victim_still_waits() {
    let text = std::fs::read_to_string(repo().join("scenarios/sandwich_fixture.toml")).unwrap();
    let cut = text.find("[[mempool.pending]]\nat = \"2s\"").unwrap();
    let late = text[..cut]
        .replace("duration = \"24s\"", "duration = \"36s\"")
        .replace("at = \"1s\"", "at = \"11.5s\"")
        .replace("rival_probability = 0.0", "rival_probability = 1.0\nrival_bid_median_eth = 10.0\nrival_bid_sigma = 0.0\nmin_success_probability = 0.0");
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("late.toml");
    std::fs::write(&file, late).unwrap();
    let (s, sandwiches, victims) = backtest(&file, &d.path().join("out"));
    let b = &s["bundles"];
    assert_eq!(
        (b["outbid"].as_u64(), b["resubmitted"].as_u64(), b["included"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "{b}"
    );
    let blocks: Vec<String> = rows(&sandwiches).iter().map(|r| r["block"].clone()).collect();
    assert_eq!(blocks.len(), 2);
    assert_ne!(blocks[0], blocks[1], "the second bundle targets the next block");
    let v = rows(&victims);
    assert_eq!((v.len(), v[0]["sandwiched"].as_str(), v[0]["succeeded"].as_str()), (1, "false", "true"));
    assert_eq!(s["wallet"]["matches"], true);
}

//! Liquidation scenarios through the CLI. The cascade: ETH falls 25 % across 300 leveraged
//! borrowers. Every liquidation happens below HF 1 and leaves the borrower above it (no position is
//! liquidated twice in one episode), every borrower left below HF 1 has no liquidation worth its
//! gas, and the report's P&L equals our on-chain balance change to the wei in every asset, with
//! flash swaps, with inventory only, and against rival liquidators; two runs are byte-identical.
//! The replay: a real Aave v2 borrower's recorded path is liquidated when (and only when) it is
//! below HF 1, with every pair and funding the scenario allows, and reconciles too.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

struct Report {
    summary: Value,
    liquidations: String,
    timeline: String,
    bytes: Vec<u8>,
}

fn run(scenario: &str, dir_name: &str, out: &Path, sets: &[&str]) -> Report {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(scenario);
    let mut args = vec!["backtest", scenario.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_xcrack")).args(&args).env_remove("RUST_LOG").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.join(dir_name);
    let bytes = std::fs::read(dir.join("summary.json")).unwrap();
    Report {
        summary: serde_json::from_slice(&bytes).unwrap(),
        liquidations: std::fs::read_to_string(dir.join("liquidations.csv")).unwrap(),
        timeline: std::fs::read_to_string(dir.join("health_timeline.csv")).unwrap(),
        bytes,
    }
}

fn n(v: &Value) -> i128 {
    v.as_str().unwrap().parse().unwrap()
}

/// Every token's on-chain change is exactly the gross booked in it; ETH spent is gas plus bribes.
fn assert_reconciles(s: &Value) {
    assert_eq!(s["wallet_matches"], true, "{s:#}");
    let balances = s["balances"].as_array().unwrap();
    for b in &balances[..balances.len() - 1] {
        let asset = b["asset"].as_str().unwrap();
        let gross = s["pnl"]["gross_raw"].get(asset).map(n).unwrap_or(0);
        assert_eq!(n(&b["on_chain"]) - n(&b["initial"]), gross, "{asset}");
    }
    let eth = balances.last().unwrap();
    assert_eq!(n(&eth["initial"]) - n(&eth["on_chain"]), n(&s["pnl"]["gas_wei"]) + n(&s["pnl"]["bribe_wei"]));
}

/// Rows of `csv` as maps from header to field.
fn rows(csv: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

const WAD: u128 = 1_000_000_000_000_000_000;

/// No liquidation of a healthy borrower; with one collateral and one debt asset, the last
/// liquidation of a borrower's bundle leaves it above HF 1 whenever a liquidation can. Returns how
/// many were included.
fn assert_never_healthy(csv: &str, single_pair: bool) -> usize {
    let rows = rows(csv);
    let mut included = 0;
    for (k, r) in rows.iter().enumerate() {
        assert!(r["health_before"].parse::<u128>().unwrap() < WAD, "a healthy borrower was liquidated: {r:?}");
        if r["outcome"] == "included" {
            included += 1;
            let last_of_bundle =
                rows.get(k + 1).is_none_or(|n| n["block"] != r["block"] || n["borrower"] != r["borrower"]);
            // Above 1 — unless the position was so far under water that seizing collateral at a
            // bonus lowers its HF (one WETH collateral: HF < threshold × bonus = 0.825 × 1.05).
            // (No debt left at all reads as type(uint256).max, beyond u128.)
            let after = r["health_after"].parse::<u128>().unwrap_or(u128::MAX);
            let before = r["health_before"].parse::<u128>().unwrap();
            if single_pair && last_of_bundle {
                assert!(after >= WAD || before < WAD * 8250 * 10500 / 100_000_000, "left liquidatable: {r:?}");
            }
        }
    }
    included
}

#[test]
fn cascade_liquidates_every_profitable_position_and_reconciles_to_the_wei() {
    let d = tempfile::tempdir().unwrap();
    let a = run("liquidation_cascade.toml", "liquidation-cascade-5", &d.path().join("a"), &[]);
    let s = &a.summary;
    let included = assert_never_healthy(&a.liquidations, true);
    assert!(included > 100, "{included}");
    // The declared whale (2,000 WETH against 4 M USDC, HF 0.93 at the bottom) is among them.
    let whale = xcrack::chain::simchain::actor("lending/declared/whale").to_string();
    assert!(a.liquidations.contains(&whale), "the declared borrower was liquidated");
    assert_eq!(s["liquidations_by_outcome"]["included"], included);
    assert_eq!(s["unhealthy_at_end"], s["unhealthy_unprofitable_at_end"], "a profitable position was left");
    assert_eq!(s["bad_debt_base_raw"], "0");
    assert_reconciles(s);
    // Each liquidation has its health-factor timeline: below 1 before, the liquidation's block.
    let t = rows(&a.timeline);
    let liquidated: Vec<_> = t.iter().filter(|p| p["event"] == "liquidated").collect();
    assert!(liquidated.len() >= included / 2, "{} timeline points for {included}", liquidated.len());
    assert!(t.iter().any(|p| p["health_factor_raw"].parse::<u128>().is_ok_and(|h| h < WAD)));
    let b = run("liquidation_cascade.toml", "liquidation-cascade-5", &d.path().join("b"), &[]);
    assert_eq!(a.bytes, b.bytes, "same seed, same report");
}

#[test]
fn cascade_funded_from_inventory_alone_reconciles_in_the_quote_token() {
    let d = tempfile::tempdir().unwrap();
    let a = run(
        "liquidation_cascade.toml",
        "liquidation-cascade-5",
        d.path(),
        &["strategies.liquidation.flash_swaps=false"],
    );
    let s = &a.summary;
    assert!(assert_never_healthy(&a.liquidations, true) > 100);
    assert_eq!(s["included_by_funding"].as_object().unwrap().keys().collect::<Vec<_>>(), ["inventory"]);
    // Every profit arrived in USDC: the seized WETH was sold.
    assert_eq!(s["pnl"]["gross_raw"].as_object().unwrap().keys().collect::<Vec<_>>(), ["USDC"]);
    assert_eq!(s["unhealthy_at_end"], s["unhealthy_unprofitable_at_end"]);
    assert_reconciles(s);
}

#[test]
fn rival_liquidators_outbid_us_on_chain_and_the_books_still_reconcile() {
    let d = tempfile::tempdir().unwrap();
    let sets = ["strategies.liquidation.rival_probability=0.5", "strategies.liquidation.rival_share_min=0.6"];
    let a = run("liquidation_cascade.toml", "liquidation-cascade-5", d.path(), &sets);
    let s = &a.summary;
    assert!(s["rival_liquidations"].as_u64().unwrap() > 0, "{s:#}");
    assert!(s["liquidations_by_outcome"]["outbid"].as_u64().unwrap() > 0, "{s:#}");
    // Outbid liquidations earned and cost nothing; rivals' liquidations show in the timeline.
    for r in rows(&a.liquidations).iter().filter(|r| r["outcome"] == "outbid") {
        assert_eq!((r["gas_wei"].as_str(), r["realised_gross_raw"].trim_matches('"')), ("0", ""));
    }
    assert!(a.timeline.contains(",rival"));
    assert_never_healthy(&a.liquidations, true);
    assert_eq!(s["unhealthy_at_end"], s["unhealthy_unprofitable_at_end"]);
    assert_reconciles(s);
}

#[test]
fn replayed_aave_borrower_is_liquidated_only_below_hf_1_and_reconciles() {
    let d = tempfile::tempdir().unwrap();
    let a = run("liquidation_replay_aave_0x57dC.toml", "liquidation-replay-aave-0x57dC-1", d.path(), &[]);
    let s = &a.summary;
    let included = assert_never_healthy(&a.liquidations, false);
    assert!(included >= 3, "{s:#}");
    assert_reconciles(s);
    // Several pairs: WBTC and WETH collateral, several stablecoin debts.
    let pairs: std::collections::BTreeSet<(String, String)> = rows(&a.liquidations)
        .into_iter()
        .filter(|r| r["outcome"] == "included")
        .map(|r| (r["collateral"].clone(), r["debt"].clone()))
        .collect();
    assert!(pairs.len() >= 2, "{pairs:?}");
    // The timeline follows the borrower along the whole record: it starts above 1, falls below.
    let t = rows(&a.timeline);
    let user = "0x57dC4A5D2786CB0fEf99FA526B0fF5038E185460";
    assert!(t.len() > 100 && t.iter().all(|p| p["borrower"] == user), "{}", t.len());
    let hf = |p: &std::collections::BTreeMap<String, String>| p["health_factor_raw"].parse::<u128>().unwrap();
    assert!(hf(&t[0]) > WAD && t.iter().any(|p| hf(p) < WAD));
}

/// A broken replay file or an unknown reserve unit is one clear error (file, line, key), exit 2,
/// and nothing written.
#[test]
fn bad_lending_input_is_one_clear_error() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scenario = std::fs::read_to_string(repo.join("scenarios/liquidation_replay_aave_0x57dC.toml")).unwrap();
    let data = std::fs::read_to_string(repo.join("data/aave_v2_borrower_0x57dC_replay.csv")).unwrap();
    let check = |scenario: &str, data: &str, expect: &[&str]| {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("scenarios")).unwrap();
        std::fs::create_dir_all(d.path().join("data")).unwrap();
        let path = d.path().join("scenarios/bad.toml");
        std::fs::write(&path, scenario).unwrap();
        std::fs::write(d.path().join("data/aave_v2_borrower_0x57dC_replay.csv"), data).unwrap();
        let path_file = "data/eth_cascade_synthetic.csv";
        std::fs::copy(repo.join(path_file), d.path().join(path_file)).unwrap();
        let out = d.path().join("reports");
        let o = Command::new(env!("CARGO_BIN_EXE_xcrack"))
            .args(["backtest", path.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        for e in expect {
            assert!(err.contains(e), "expected `{e}` in: {err}");
        }
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!out.exists());
    };
    // A column for a reserve the scenario does not list (header on line 5).
    check(
        &scenario,
        &data.replacen("price_sUSD", "price_FOO", 1),
        &["replay.csv:5:", "price_FOO", "lending.replay.file"],
    );
    // A price that is not a number, on the first data row.
    check(&scenario, &data.replacen("48529.13577214", "4852x", 1), &["replay.csv:6:", "price_WBTC", "not a number"]);
    // A declared borrower in a unit no reserve has.
    let declared = scenario.clone()
        + "\n[[lending.borrower]]\nname = \"x\"\ncollateral = [\"2 WBTC\", \"1 DOGE\"]\ndebt = \"100 USDC\"\n";
    check(&declared, &data, &["bad.toml:", "lending.borrower[0].collateral", "unknown unit `DOGE`"]);
    // A mix naming no reserve, a borrow-only reserve as collateral, WETH as "inventory".
    let mixed = std::fs::read_to_string(repo.join("scenarios/liquidation_mixed.toml")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(mixed.contains(from), "{from}");
        mixed.replacen(from, to, 1)
    };
    check(
        &edit("WETH = 0.6, WBTC = 0.4", "WETH = 0.6, WBTX = 0.4"),
        &data,
        &["lending.collateral_mix.WBTX", "no reserve `WBTX`"],
    );
    check(
        &edit("ltv_bps = 7500\nliquidation_threshold_bps = 7800", "ltv_bps = 0\nliquidation_threshold_bps = 0")
            .replacen("WETH = 0.6, WBTC = 0.4", "WETH = 0.6, USDT = 0.4", 1),
        &data,
        &["lending.collateral_mix", "threshold 0 cannot be collateral"],
    );
    check(
        &edit("inventory = [\"1000000 DAI\"", "inventory = [\"10 WETH\""),
        &data,
        &["lending.inventory", "[account]"],
    );
}

/// Mixed positions (WETH and/or WBTC collateral against USDC, DAI or USDT debt) with a rival: the
/// strategy uses several pairs and both fundings, never touches a healthy borrower, leaves none
/// worth liquidating, and every token reconciles to the wei.
#[test]
fn mixed_cascade_picks_pairs_and_fundings_and_reconciles() {
    let d = tempfile::tempdir().unwrap();
    let a = run("liquidation_mixed.toml", "liquidation-mixed-11", d.path(), &[]);
    let s = &a.summary;
    assert!(assert_never_healthy(&a.liquidations, false) > 100, "{s:#}");
    let included: Vec<_> = rows(&a.liquidations).into_iter().filter(|r| r["outcome"] == "included").collect();
    let pairs: std::collections::BTreeSet<(String, String)> =
        included.iter().map(|r| (r["collateral"].clone(), r["debt"].clone())).collect();
    assert!(pairs.len() >= 4, "{pairs:?}");
    let fundings: std::collections::BTreeSet<&str> = included.iter().map(|r| r["funding"].as_str()).collect();
    assert_eq!(fundings.into_iter().collect::<Vec<_>>(), ["flash_swap", "inventory"]);
    // Flash swaps through the hub too: neither asset is USDC, so the debt is borrowed from its
    // USDC pair and paid back with USDC bought with collateral.
    assert!(included.iter().any(|r| r["funding"] == "flash_swap" && r["collateral"] != "USDC" && r["debt"] != "USDC"));
    assert_eq!(s["unhealthy_at_end"], s["unhealthy_unprofitable_at_end"]);
    assert_reconciles(s);
}

//! End-to-end: the `xcrack` binary on shipped scenarios, asserting on the reports it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{BIN, repo, scenario, xcrack};

/// A 90-minute slice of the volatile scenario: long enough for trades, short enough for debug builds.
fn run_volatile(out: &Path, seed: &str) -> Output {
    let o = xcrack(
        &[
            "backtest",
            &scenario("volatile.toml"),
            "--seed",
            seed,
            "--set",
            "duration=90m",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        out,
    );
    assert!(o.status.success(), "xcrack failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn same_seed_gives_byte_identical_reports_and_another_seed_differs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    run_volatile(a.path(), "7");
    run_volatile(b.path(), "7");
    run_volatile(c.path(), "8");
    let (ra, rb, rc) = (a.path().join("volatile-7"), b.path().join("volatile-7"), c.path().join("volatile-8"));
    let trades = read(ra.join("trades.csv"));
    assert!(trades.iter().filter(|b| **b == b'\n').count() > 1, "the run should trade");
    assert_eq!(read(ra.join("summary.json")), read(rb.join("summary.json")));
    assert_eq!(trades, read(rb.join("trades.csv")));
    assert_eq!(read(ra.join("summary.md")), read(rb.join("summary.md")));
    assert_ne!(trades, read(rc.join("trades.csv")), "a different seed must give different trades");
}

#[test]
fn out_dir_receives_every_report_file() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("nested/out");
    let o = xcrack(
        &["backtest", &scenario("calm.toml"), "--set", "duration=20m", "--out", out.to_str().unwrap()],
        d.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = out.join("calm-42");
    for f in ["summary.json", "summary.md", "trades.parquet", "trades.csv", "equity.parquet", "timing.json"] {
        let p = run.join(f);
        assert!(p.metadata().map(|m| m.len() > 0).unwrap_or(false), "missing or empty {}", p.display());
    }
    let summary: serde_json::Value = serde_json::from_slice(&read(run.join("summary.json"))).unwrap();
    assert_eq!(summary["scenario"], "calm");
    assert_eq!(summary["duration_s"], 1200.0);
    assert!(summary["events_processed"].as_u64().unwrap() > 10_000);
    // Wall-clock figures live only in timing.json.
    let timing: serde_json::Value = serde_json::from_slice(&read(run.join("timing.json"))).unwrap();
    assert!(timing["events_per_s"].as_f64().unwrap() > 0.0);
    assert!(summary.get("events_per_s").is_none());
    // The table on stdout names the report.
    assert!(String::from_utf8_lossy(&o.stdout).contains("net P&L"));
    // Nothing left behind but the run directory.
    let entries: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("calm-42")]);
}

#[test]
fn report_accounting_is_consistent() {
    let d = tempfile::tempdir().unwrap();
    run_volatile(d.path(), "7");
    let run = d.path().join("volatile-7");
    let summary: serde_json::Value = serde_json::from_slice(&read(run.join("summary.json"))).unwrap();
    let csv = String::from_utf8(read(run.join("trades.csv"))).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (net_c, gross_c, fees_c, gas_c) = (col("net_pnl_raw"), col("gross_pnl_raw"), col("fees_raw"), col("gas_raw"));
    let (bought_c, sold_c, resid_c) = (col("base_bought_raw"), col("base_sold_raw"), col("residual_base_raw"));
    let mut net_sum: i128 = 0;
    let mut n = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let v = |c: usize| f[c].trim_matches('"').parse::<i128>().unwrap();
        // net = gross − fees − gas, exactly, per trade.
        assert_eq!(v(net_c), v(gross_c) - v(fees_c) - v(gas_c), "trade {line}");
        // Whatever was not matched is the recorded residual.
        assert_eq!(v(bought_c) - v(sold_c), v(resid_c));
        net_sum += v(net_c);
        n += 1;
    }
    assert_eq!(summary["trades"]["count"].as_u64().unwrap(), n);
    assert_eq!(summary["pnl"]["net_raw"].as_str().unwrap(), net_sum.to_string());
    let opp = &summary["opportunities"];
    let by_reason: u64 = opp["skipped_by_reason"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(opp["skipped"].as_u64().unwrap(), by_reason);
    assert_eq!(opp["evaluations"].as_u64().unwrap(), opp["taken"].as_u64().unwrap() + by_reason);
    // Trades still open when the run ends are not in the table.
    assert!(opp["taken"].as_u64().unwrap() >= n);
    assert_wallet_matches_the_chain(&summary);
}

/// Our wallet starts with exactly the scenario's balances in the EVM and every DEX leg, atomic
/// arbitrage and gas payment moves it there: the books and the chain agree to the wei at the end.
fn assert_wallet_matches_the_chain(summary: &serde_json::Value) {
    let w = &summary["chain"]["wallet"];
    for (booked, on_chain) in [
        ("base_booked_raw", "base_on_chain_raw"),
        ("quote_booked_raw", "quote_on_chain_raw"),
        ("native_booked_wei", "native_on_chain_wei"),
    ] {
        assert_eq!(w[booked], w[on_chain], "{booked} vs {on_chain}: {w}");
    }
    assert_eq!(w["matches"], true);
    // The wallet really traded and paid gas (the scenario's account: 2 ETH for gas).
    assert_ne!(w["native_on_chain_wei"].as_str().unwrap(), "2000000000000000000");
}

fn bad_scenario(body: &str, expect: &[&str]) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("bad.toml");
    std::fs::write(&path, body).unwrap();
    let out = d.path().join("reports");
    let o = xcrack(&["backtest", path.to_str().unwrap(), "--out", out.to_str().unwrap()], d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    for e in expect {
        assert!(err.contains(e), "expected `{e}` in: {err}");
    }
    assert_eq!(err.lines().count(), 1, "one clear message, got: {err}");
    assert!(!out.exists(), "nothing may be written for bad input");
}

fn calm_with(edit: impl Fn(String) -> String) -> String {
    edit(std::fs::read_to_string(repo().join("scenarios/calm.toml")).unwrap())
}

#[test]
fn syntax_error_is_reported_with_file_line_and_key() {
    bad_scenario(
        &calm_with(|s| s.replace("duration = \"6h\"", "duration = = \"6h\"")),
        &["bad.toml:7:", "key `duration`", "syntax"],
    );
}

#[test]
fn unknown_key_is_reported_with_file_line_and_key() {
    bad_scenario(
        &calm_with(|s| s.replace("taker_fee_bps = 8\n", "taker_fee_bps = 8\ntaker_fees_bps = 9\n")),
        &["bad.toml:41:", "key `market.cex[1].taker_fees_bps`", "unknown field"],
    );
}

#[test]
fn negative_size_is_reported_with_file_line_and_key() {
    bad_scenario(
        &calm_with(|s| s + "\n[strategies.micro_arbitrage]\nmax_position_size = \"-5 ETH\"\n"),
        &["bad.toml:87:", "key `strategies.micro_arbitrage.max_position_size`", "negative"],
    );
}

#[test]
fn impossible_limits_are_reported() {
    // min > max: a per-trade size above the safety cap.
    bad_scenario(
        &calm_with(|s| s + "\n[strategies.micro_arbitrage]\nmax_position_size = \"50 ETH\"\n"),
        &["bad.toml:87:", "key `strategies.micro_arbitrage.max_position_size`", "min > max"],
    );
    // A wrong type names the key too.
    bad_scenario(
        &calm_with(|s| s.replace("taker_fee_bps = 7", "taker_fee_bps = \"seven\"")),
        &["bad.toml:", "key `market.cex[0].taker_fee_bps`"],
    );
}

#[test]
fn env_and_cli_override_the_scenario_in_that_order() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("r");
    let o = Command::new(BIN)
        .args([
            "backtest",
            &scenario("calm.toml"),
            "--set",
            "duration=2m",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
            "--set",
            "name=from-cli",
        ])
        .env("XCRACK_NAME", "from-env")
        .env("XCRACK_SEED", "5")
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // CLI beats env for the name; env beats the scenario for the seed.
    assert!(out.join("from-cli-5/summary.json").exists());
    // A bad value from the environment is named by its variable.
    let o = Command::new(BIN)
        .args(["backtest", &scenario("calm.toml"), "--quiet", "--out", out.to_str().unwrap()])
        .env("XCRACK_STRATEGIES__MICRO_ARBITRAGE__MAX_CONCURRENT_TRADES", "0")
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("XCRACK_STRATEGIES__MICRO_ARBITRAGE__MAX_CONCURRENT_TRADES"), "{err}");
    assert!(err.contains("key `strategies.micro_arbitrage.max_concurrent_trades`"), "{err}");
}

#[test]
fn no_arguments_run_the_embedded_default_scenario() {
    let d = tempfile::tempdir().unwrap();
    let o =
        Command::new(BIN).args(["backtest", "--quiet", "--set", "duration=2m"]).current_dir(d.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.path().join("reports/calm-42/summary.json").exists());
}

#[test]
fn help_explains_the_commands() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(s.contains("backtest") && s.contains("Run scenarios"), "{s}");
}

#[test]
fn evm_and_math_engines_trade_the_same_amounts() {
    let d = tempfile::tempdir().unwrap();
    let run = |engine: &str| {
        let out = d.path().join(engine);
        let o = xcrack(
            &[
                "backtest",
                &scenario("volatile.toml"),
                "--seed",
                "7",
                "--set",
                "duration=90m",
                "--set",
                &format!("chain.dex_engine={engine}"),
                // The base fee follows each engine's own gas used; pinned, both see the same fees.
                "--set",
                "chain.fixed_base_fee=true",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ],
            d.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(read(out.join("volatile-7/trades.csv"))).unwrap()
    };
    let (math, evm) = (run("math"), run("evm"));
    let table = |csv: &str| -> Vec<Vec<String>> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        // Amounts come from the pools and must agree to the wei; gas differs by design (the EVM
        // reports what each transaction really used, the math engine charges configured figures).
        let keep: Vec<usize> = [
            "trade_id",
            "buy_venue",
            "sell_venue",
            "status",
            "size_raw",
            "base_bought_raw",
            "base_sold_raw",
            "quote_paid_raw",
            "quote_received_raw",
            "fees_raw",
            "predicted_net_raw",
        ]
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                keep.iter().map(|i| f[*i].to_string()).collect()
            })
            .collect()
    };
    let (m, e) = (table(&math), table(&evm));
    assert!(
        m.iter().any(|r| r[1].contains("uniswap")
            || r[2].contains("uniswap")
            || r[1].contains("sushi")
            || r[2].contains("sushi")),
        "the run should trade on a pool"
    );
    assert_eq!(m, e);
}

#[test]
fn cross_dex_predictions_hold_to_the_wei_unless_the_pools_were_touched() {
    let d = tempfile::tempdir().unwrap();
    let o =
        xcrack(&["backtest", &scenario("cross_dex.toml"), "--quiet", "--out", d.path().to_str().unwrap()], d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = d.path().join("cross-dex-42");
    let summary: serde_json::Value = serde_json::from_slice(&read(run.join("summary.json"))).unwrap();
    let csv = String::from_utf8(read(run.join("trades.csv"))).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (atomic, touched, predicted, realised, cause) =
        (col("atomic"), col("touched_before"), col("predicted_gross_raw"), col("gross_pnl_raw"), col("mismatch_cause"));
    let (mut trades, mut exact, mut with_cause) = (0, 0, 0);
    for line in lines {
        // The free-text cause is the last column; the ones we compare come before it.
        let f: Vec<&str> = line.split(',').collect();
        if f[atomic] != "true" {
            continue;
        }
        trades += 1;
        if f[predicted] == f[realised] {
            exact += 1;
            assert!(f[cause].trim_matches('"').is_empty());
        } else {
            with_cause += 1;
            assert_ne!(f[touched], "0", "a trade whose pools nobody touched must realise its prediction: {line}");
        }
    }
    assert!(trades >= 5, "the scenario should arbitrage, got {trades} trades");
    assert!(exact > 0);
    let a = &summary["atomic_arbitrage"];
    assert_eq!(a["trades"].as_u64().unwrap(), trades);
    assert_eq!(a["exact"].as_u64().unwrap(), exact);
    assert_eq!(a["mismatched"].as_u64().unwrap(), with_cause);
    for m in a["mismatches"].as_array().unwrap() {
        assert!(m["cause"].as_str().unwrap().contains("touched its pools"), "{m}");
    }
    let md = String::from_utf8(read(run.join("summary.md"))).unwrap();
    assert!(md.contains("realised exactly the predicted gross profit"));
    assert!(md.contains("Our wallet on the chain equals the books to the wei"));
    assert_wallet_matches_the_chain(&summary);
}

/// With too little ETH for gas, our later transactions are refused by the chain before they run:
/// they cost nothing there and nothing in the books, so the wallet still reconciles to the wei.
#[test]
fn a_wallet_short_of_gas_money_still_reconciles() {
    let d = tempfile::tempdir().unwrap();
    let o = xcrack(
        &[
            "backtest",
            &scenario("cross_dex.toml"),
            "--set",
            "duration=1h",
            "--set",
            "account.gas=0.005 ETH",
            "--quiet",
            "--out",
            d.path().to_str().unwrap(),
        ],
        d.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&read(d.path().join("cross-dex-42/summary.json"))).unwrap();
    assert_wallet_matches_the_chain(&summary);
    // The signed transaction's up-front cost (gas limit × max fee) exceeded the wallet: refused.
    let csv = String::from_utf8(read(d.path().join("cross-dex-42/trades.csv"))).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (status, gas) = (col("status"), col("gas_wei"));
    let refused =
        lines.map(|l| l.split(',').collect::<Vec<_>>()).filter(|f| f[status] == "leg_failed" && f[gas] == "0");
    assert!(refused.count() >= 1, "{csv}");
}

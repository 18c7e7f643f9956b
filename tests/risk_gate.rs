//! The risk gate stands in front of every executor: each limit, tripped for sandwich bundles,
//! liquidation bundles and micro-arbitrage orders, shows in the report with its reason, and nothing
//! is signed while the emergency stop is pulled or the circuit breaker is open.

mod common;

use std::path::Path;

use common::{scenario, xcrack};
use serde_json::Value;

/// Runs `name` with `sets` and returns (summary.json, the rows of `csv` as column → value maps).
fn run(name: &str, sets: &[&str], csv: &str) -> (Value, Vec<std::collections::BTreeMap<String, String>>) {
    let d = tempfile::tempdir().unwrap();
    let mut args = vec!["backtest", "-q", "--out", d.path().to_str().unwrap()];
    let s = scenario(name);
    args.push(&s);
    for kv in sets {
        args.extend(["--set", kv]);
    }
    let o = xcrack(&args, Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(o.status.success(), "{name} {sets:?}: {}", String::from_utf8_lossy(&o.stderr));
    let dir = std::fs::read_dir(d.path()).unwrap().next().unwrap().unwrap().path();
    let summary: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let text = std::fs::read_to_string(dir.join(csv)).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines
        .map(|l| header.iter().cloned().zip(l.split(',').map(|v| v.trim_matches('"').to_string())).collect())
        .collect();
    (summary, rows)
}

fn refused(s: &Value, reason: &str) -> u64 {
    s["risk_refused"][reason].as_u64().unwrap_or(0)
}

#[test]
fn sandwich_bundles_meet_every_limit() {
    let base = ["duration=40m"];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let go = |extra: &[&str]| {
        let sets = with(extra);
        run("sandwich.toml", &sets.iter().map(String::as_str).collect::<Vec<_>>(), "sandwiches.csv")
    };
    let (free, _) = go(&[]);
    assert!(free["bundles"]["built"].as_u64().unwrap() > 0);
    assert!(free.get("risk_refused").is_none(), "no limit trips on the defaults");

    for (set, reason) in [
        ("safety.max_daily_gas_spend=0.001 ETH", "daily_gas_budget"),
        ("safety.allowed_tokens=[\"WETH\"]", "token_not_allowed"),
    ] {
        let (s, rows) = go(&[set]);
        assert!(refused(&s, reason) > 0, "{set}: {}", s["risk_refused"]);
        assert_eq!(s["bundles"]["built"], 0, "{set}: every bundle was refused before signing");
        assert!(rows.iter().all(|r| r["outcome"] == "risk_refused" && r["reason"] == reason), "{set}");
        assert_eq!(s["skipped"]["risk_limit"].as_u64(), Some(refused(&s, reason)));
    }

    // Concurrent bundles: bundles, not transactions (a busy mempool keeps several out at once).
    let (s, _) = go(&["mempool.victims_per_minute=60", "safety.max_concurrent_bundles=1"]);
    assert!(refused(&s, "in_flight_limit") > 0, "{}", s["risk_refused"]);

    // The operator's stop at 10 min: bundles before it, none signed after it.
    let (s, rows) = go(&["safety.emergency_stop_at=10m"]);
    assert_eq!(s["emergency_stop_at_s"], 600.0);
    assert!(refused(&s, "emergency_stop") > 0);
    assert!(s["bundles"]["built"].as_u64().unwrap() > 0, "bundles before the stop");
    let stop_block = 600 / 12;
    for r in &rows {
        let block: u64 = r["block"].parse().unwrap();
        if block > stop_block + 2 {
            assert_eq!(r["outcome"], "risk_refused", "a bundle for block {block} after the stop");
        }
    }
    assert_eq!(
        s["bundles"]["built"].as_u64().unwrap(),
        rows.iter().filter(|r| r["outcome"] != "risk_refused").count() as u64,
        "every bundle signed has its record; none refused was signed"
    );

    // The breaker: gas limits too low make every simulation fail; after 3 it opens for 30 min and
    // nothing more is signed.
    let (s, _) =
        go(&["strategies.sandwich.gas_estimate=30000", "safety.breaker_failures=3", "safety.breaker_cooldown=30m"]);
    assert_eq!(s["bundles"]["simulation_failed"], 3);
    assert_eq!(s["bundles"]["built"], 3, "nothing signed while the breaker is open");
    assert!(refused(&s, "circuit_open") > 0);
}

#[test]
fn liquidation_bundles_meet_every_limit() {
    let go = |sets: &[&str]| run("liquidation_cascade.toml", sets, "liquidations.csv");
    for (set, reason) in [
        ("safety.max_daily_gas_spend=0.001 ETH", "daily_gas_budget"),
        ("safety.allowed_tokens=[\"USDC\"]", "token_not_allowed"),
    ] {
        let (s, rows) = go(&[set]);
        assert!(refused(&s, reason) > 0, "{set}: {}", s["risk_refused"]);
        assert_eq!(s["bundles_submitted"], 0, "{set}");
        assert!(!rows.is_empty() && rows.iter().all(|r| r["outcome"] == "risk_refused" && r["reason"] == reason));
    }
    let (s, rows) = go(&["safety.emergency_stop_at=444s"]);
    assert_eq!(s["emergency_stop_at_s"], 444.0);
    assert!(s["bundles_submitted"].as_u64().unwrap() > 0, "liquidations before the stop");
    assert!(refused(&s, "emergency_stop") > 0);
    for r in &rows {
        let block: u64 = r["block"].parse().unwrap();
        assert_eq!(r["outcome"] == "risk_refused", block > 444 / 12 + 1, "block {block}: {}", r["outcome"]);
    }
    assert_eq!(s["wallet_matches"], true, "refusals leave the wallet reconciled");
}

#[test]
fn micro_arbitrage_orders_meet_every_limit() {
    let go = |sets: &[&str]| run("calm.toml", sets, "trades.csv");
    let (free, trades) = go(&["duration=30m"]);
    assert!(!trades.is_empty());
    assert_eq!(free["risk"]["rejected_token_not_allowed"], Value::Null, "zero counts are left out");
    for (set, key) in [
        ("safety.allowed_tokens=[\"BTC\"]", "rejected_token_not_allowed"),
        ("safety.max_daily_gas_spend=0.0001 ETH", "rejected_daily_gas_budget"),
    ] {
        let (s, trades) = go(&["duration=30m", set]);
        assert!(s["risk"][key].as_u64().unwrap() > 0, "{set}: {}", s["risk"]);
        assert!(trades.is_empty(), "{set}: no trade got through");
    }
    let (s, trades) = go(&["duration=30m", "safety.emergency_stop_at=10m"]);
    assert_eq!(
        (s["risk"]["emergency_stop_at_s"].as_f64(), s["risk"]["emergency_stop_cause"].as_str()),
        (Some(600.0), Some("operator"))
    );
    assert!(s["risk"]["rejected_emergency_stop"].as_u64().unwrap() > 0);
    assert!(trades.iter().all(|t| t["decided_at_s"].parse::<f64>().unwrap() < 600.0), "nothing after the stop");
    let (s, _) = go(&["duration=30m", "safety.max_drawdown=0.01 quote"]);
    assert_eq!(s["risk"]["emergency_stop_cause"], "drawdown", "{}", s["risk"]);
}

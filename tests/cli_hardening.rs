//! The hardening reproducers, each as it was found with the binary: report paths that could escape
//! `--out` or delete a folder, panics and aborts on accepted input, values that would exhaust the
//! machine, silent overflow, nonsense ranges, unitless amounts, late failures, defaults naming
//! another quote token, and the reference design's configuration. Every bad input must exit 2 with
//! the key in the message, quickly, and write nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, repo, scenario, xcrack};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Everything under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                out.push(e.path().strip_prefix(base).unwrap().display().to_string());
                walk(base, &e.path(), out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs `scenario` with `sets` and asserts exit 2 naming `key` (and `needle`), within a few
/// seconds, with nothing written.
fn refused(scenario_file: &str, sets: &[&str], key: &str, needle: &str) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let mut args = vec!["backtest", scenario_file, "--quiet", "--out", out.to_str().unwrap()];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let started = Instant::now();
    let o = xcrack(&args, d.path());
    let took = started.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{sets:?}: expected exit 2, got {:?}: {err}", o.status.code());
    assert!(err.contains(&format!("key `{key}`")), "{sets:?}: the error should name `{key}`: {err}");
    assert!(err.contains(needle), "{sets:?}: expected `{needle}` in: {err}");
    assert_eq!(err.lines().count(), 1, "{sets:?}: one clear error line: {err}");
    assert!(!out.exists(), "{sets:?}: nothing may be written");
    assert!(took < Duration::from_secs(20), "{sets:?}: refused only after {took:?}");
}

#[test]
fn a_name_cannot_escape_out_or_replace_a_folder_that_is_not_a_report() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim-42");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("notes.txt"), "keep me").unwrap();
    let before = tree(d.path());
    let calm = scenario("calm.toml");
    let abs = format!("name={}", d.path().join("victim").display());
    for name in
        ["name=../../victim", abs.as_str(), "name=", "name=.", "name=..", "name=a/b", "name=a\\b", "name=.hidden"]
    {
        let o = xcrack(&["backtest", &calm, "--set", name, "--quiet", "--out", "reports/x"], d.path());
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("key `name`"), "{name}: {}", stderr(&o));
        assert_eq!(tree(d.path()), before, "{name}: nothing written or removed");
    }
    // A NUL byte and a 1 MiB name are refused before the run, not after it.
    for name in ["bad\\u0000name".to_string(), "n".repeat(1 << 20)] {
        let f = d.path().join("named.toml");
        let text = std::fs::read_to_string(&calm).unwrap().replace("name = \"calm\"", &format!("name = \"{name}\""));
        std::fs::write(&f, text).unwrap();
        let started = Instant::now();
        let o = xcrack(&["backtest", f.to_str().unwrap(), "--quiet", "--out", "reports/x"], d.path());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(started.elapsed() < Duration::from_secs(10));
        std::fs::remove_file(&f).unwrap();
    }
    assert_eq!(tree(d.path()), before);
    // --out pointing at the folder: the run would replace victim-42, which is not a report.
    let o =
        xcrack(&["backtest", &calm, "--set", "name=victim", "--set", "duration=1m", "--quiet", "--out", "."], d.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(victim.join("notes.txt")).unwrap(), "keep me");
}

#[test]
fn reports_are_replaced_whole_stale_temporaries_removed_and_collisions_refused() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let calm = scenario("calm.toml");
    let run = |extra: &[&str]| {
        let mut a = vec!["backtest", calm.as_str(), "--set", "duration=2m", "--quiet", "--out", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        xcrack(&a, d.path())
    };
    assert!(run(&[]).status.success());
    let first = std::fs::read(out.join("calm-42/summary.json")).unwrap();
    // A killed run's temporary directory (its PID is above Linux's pid_max: never alive).
    std::fs::create_dir_all(out.join(".calm-42.tmp-4194305")).unwrap();
    std::fs::write(out.join(".calm-42.tmp-4194305/summary.json"), "partial").unwrap();
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("calm-42/summary.json")).unwrap(), first, "replaced by the same report");
    assert_eq!(tree(&out).iter().filter(|p| p.starts_with('.')).count(), 0, "{:?}", tree(&out));

    // Two scenarios writing the same directory: refused before either runs.
    let before = tree(&out);
    let o = xcrack(
        &[
            "backtest",
            &calm,
            &scenario("volatile.toml"),
            "--set",
            "name=same",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("would both write"), "{}", stderr(&o));
    assert_eq!(tree(&out), before);

    // Several scenarios, the last one bad: the first is not run either.
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, std::fs::read_to_string(&calm).unwrap().replace("spread_bps = 0.5", "spread_bps = 30000"))
        .unwrap();
    let fresh = d.path().join("fresh");
    let o = xcrack(
        &["backtest", &scenario("volatile.toml"), bad.to_str().unwrap(), "--quiet", "--out", fresh.to_str().unwrap()],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!fresh.exists());
}

#[test]
fn values_that_panicked_or_aborted_are_refused() {
    refused(
        &scenario("liquidation_cascade.toml"),
        &["lending.borrower[0].debt=400000000000000000000000000000000 USDC"],
        "lending.borrower[0].debt",
        "2^112",
    );
    refused(&scenario("calm.toml"), &["market.cex[1].lag=100000h"], "market.cex[1].lag", "between 0ns and 1h");
}

#[test]
fn values_that_would_exhaust_the_machine_are_refused_up_front() {
    let calm = scenario("calm.toml");
    refused(&calm, &["market.noise_traders.rate_per_minute=1e9"], "market.noise_traders.rate_per_minute", "between");
    refused(&scenario("sandwich.toml"), &["mempool.victims_per_minute=1e6"], "mempool.victims_per_minute", "between");
    refused(&calm, &["monitoring.equity_sample_interval=1ns"], "monitoring.equity_sample_interval", "between 1s");
    refused(&scenario("liquidation_cascade.toml"), &["lending.borrowers=4294967295"], "lending.borrowers", "between");
    refused(&calm, &["market.tick_interval=1ns"], "market.tick_interval", "between 1ms");
    refused(&calm, &["chain.block_time=1ns"], "chain.block_time", "between 1s");
    refused(&calm, &["duration=100000h"], "duration", "between");
    // Within every single range but too much together: the estimate names the costliest key.
    refused(&calm, &["duration=300d", "market.tick_interval=1ms"], "market.tick_interval", "events");
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("zero.toml");
    let text =
        std::fs::read_to_string(&calm).unwrap().replace("model = \"gbm\"", "model = \"replay\"\nfile = \"/dev/zero\"");
    std::fs::write(&f, text).unwrap();
    refused(f.to_str().unwrap(), &[], "market.assets.ETH.file", "not a regular file");
}

#[test]
fn values_that_overflowed_silently_are_refused() {
    let calm = scenario("calm.toml");
    for key in ["execution_timeout_ms", "latency_threshold_ms"] {
        let k = format!("strategies.micro_arbitrage.{key}");
        refused(&calm, &[&format!("{k}=18446744073710")], &k, "between 1 and 60000");
    }
    refused(&calm, &["market.cex[0].lot_size=1e20 ETH"], "market.cex[0].lot_size", "2^112");
}

#[test]
fn nonsense_values_are_refused_with_their_range() {
    let calm = scenario("calm.toml");
    let cases: &[(&str, &str, &str)] = &[
        ("calm.toml", "market.cex[0].spread_bps=30000", "market.cex[0].spread_bps"),
        ("calm.toml", "market.cex[0].maker_fee_bps=4294967295", "market.cex[0].maker_fee_bps"),
        (
            "liquidation_mixed.toml",
            "lending.reserve[0].liquidation_bonus_bps=65535",
            "lending.reserve[0].liquidation_bonus_bps",
        ),
        ("liquidation_cascade.toml", "lending.health_max=1e300", "lending.health_max"),
        ("calm.toml", "network.chain_id=0", "network.chain_id"),
        ("calm.toml", "market.dex[0].swap_gas=0", "market.dex[0].swap_gas"),
        ("calm.toml", "duration=1ns", "duration"),
        ("sandwich_fixture.toml", "mempool.pending[0].at=1h", "mempool.pending[0].at"),
        ("calm.toml", "market.assets.ETH.price=1e300", "market.assets.ETH.price"),
        ("calm.toml", "market.assets.ETH.vol_annual=1e9", "market.assets.ETH.vol_annual"),
        ("calm.toml", "chain.base_fee_gwei=1e30", "chain.base_fee_gwei"),
    ];
    for (file, set, key) in cases {
        refused(&scenario(file), &[set], key, "between");
    }
    refused(&calm, &["network.rpc_url=\"http://\""], "network.rpc_url", "http://");
}

#[test]
fn amounts_without_a_unit_are_refused_with_the_fix() {
    let calm = scenario("calm.toml");
    refused(&calm, &[r#"market.dex[0].reserves=["5000","15000000"]"#], "market.dex[0].reserves[0]", "\"5000 ETH\"");
    refused(&calm, &[r#"account.gas="2""#], "account.gas", "\"2000000000000000000 wei\"");
    refused(
        &calm,
        &[r#"strategies.micro_arbitrage.max_position_size="5.0""#],
        "strategies.micro_arbitrage.max_position_size",
        "\"5.0 ETH\"",
    );
}

#[test]
fn pools_the_pair_contract_would_reject_are_refused_before_deploying() {
    refused(
        &scenario("calm.toml"),
        &[r#"market.dex[0].reserves=["1000 wei","0.001 USDC"]"#],
        "market.dex[0].reserves",
        "minimum",
    );
    refused(
        &scenario("liquidation_mixed.toml"),
        &[r#"lending.reserve[0].pool=["1 WBTC","1e30 USDC"]"#],
        "lending.reserve[0].pool",
        "2^112",
    );
}

#[test]
fn defaults_follow_the_quote_token_and_errors_in_defaults_say_where_to_fix() {
    let d = tempfile::tempdir().unwrap();
    let calm = std::fs::read_to_string(scenario("calm.toml")).unwrap();
    let dai = calm
        .replace("[market]\n", "[market]\nquote = { symbol = \"DAI\", decimals = 18 }\n")
        .replace("USDC", "DAI")
        .replace("name = \"calm\"", "name = \"calm-dai\"");
    let f = d.path().join("dai.toml");
    std::fs::write(&f, &dai).unwrap();
    let out = d.path().join("out");
    let o = xcrack(
        &["backtest", f.to_str().unwrap(), "--set", "duration=10m", "--quiet", "--out", out.to_str().unwrap()],
        d.path(),
    );
    assert!(o.status.success(), "a DAI-quoted scenario runs on the embedded defaults: {}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("calm-dai-42/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["pnl"]["currency"], "DAI");

    // A BTC scenario: the default position sizes are in ETH; the error says which key to set.
    let btc = calm
        .replace("[market.assets.ETH]", "[market.assets.BTC]")
        .replace(" ETH\"", " BTC\"")
        .replace("WETH", "WBTC")
        .replace("ETH/USDC", "BTC/USDC");
    let f = d.path().join("btc.toml");
    std::fs::write(&f, &btc).unwrap();
    let o = xcrack(&["backtest", f.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()], d.path());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("config/default.toml (embedded)"), "{err}");
    assert!(err.contains("set `strategies.micro_arbitrage.max_position_size` in your scenario"), "{err}");

    // A cross-key error names the key the user wrote, not the default it contradicts.
    let o = xcrack(
        &[
            "backtest",
            &scenario("calm.toml"),
            "--set",
            "safety.max_position_size=1 ETH",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key `safety.max_position_size`"), "{}", stderr(&o));
}

#[test]
fn the_reference_configuration_is_refused_once_with_the_fix_and_loads_when_fixed() {
    let fixture = repo().join("tests/fixtures/reference_seed_config.toml");
    let d = tempfile::tempdir().unwrap();
    let o = xcrack(&["backtest", "--config", fixture.to_str().unwrap(), "--quiet", "--out", "out"], d.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("reference_seed_config.toml:"), "names the file and line: {err}");
    assert!(err.contains("has no unit") && err.contains("\"5.0 ETH\""), "{err}");

    // With the units its comments state, it loads with their meaning.
    let fixed = std::fs::read_to_string(&fixture)
        .unwrap()
        .replace("\"5.0\"", "\"5.0 ETH\"")
        .replace("\"1.0\"", "\"1.0 ETH\"")
        .replace("\"0.1\"", "\"0.1 ETH\"")
        .replace("max_position_size = \"10.0\"", "max_position_size = \"10.0 ETH\"");
    let f = d.path().join("fixed.toml");
    std::fs::write(&f, fixed).unwrap();
    let sources = xcrack::config::Sources { config_file: Some(f.display().to_string()), ..Default::default() };
    let spec = xcrack::config::load(&sources, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let e18 = 1_000_000_000_000_000_000u128;
    assert_eq!(spec.micro.min_profit_ppm, 1_000, "0.001 = 0.1 % of notional");
    assert_eq!(spec.micro.min_profit_quote, 10_000_000, "10 USD");
    assert_eq!(spec.micro.max_position_base, 5 * e18);
    assert_eq!(spec.micro.max_concurrent_trades, 3);
    assert_eq!(spec.micro.execution_timeout, 5_000_000_000);
    assert_eq!(spec.micro.latency_threshold, 100_000_000);
    assert_eq!(spec.safety.max_concurrent_bundles, 5);
    assert_eq!(spec.safety.max_daily_gas_wei, e18);
    assert_eq!(spec.safety.max_position_base, 10 * e18);
    // 0.1 ETH at the calm scenario's starting 3,000 USDC.
    assert_eq!(spec.safety.emergency_stop_loss_quote, 300_000_000);
}

/// The embedded relay of a sandwich backtest, with idle and slow connections held open by another
/// process: the report is byte-identical to an undisturbed run.
#[test]
fn other_processes_holding_relay_connections_do_not_change_a_sandwich_report() {
    use std::io::{BufRead, BufReader, Write};
    let d = tempfile::tempdir().unwrap();
    let run = |out: &Path, disturb: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["backtest", &scenario("sandwich.toml"), "--set", "duration=30m", "--quiet", "--out"])
            .arg(out)
            .current_dir(d.path())
            .env("RUST_LOG", "xcrack::relay=info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut held = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(addr) = line.split("addr=").nth(1).and_then(|a| a.split_whitespace().next()) {
                if disturb {
                    for i in 0..4 {
                        let mut s = std::net::TcpStream::connect(addr).unwrap();
                        if i % 2 == 1 {
                            s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{").unwrap();
                        }
                        held.push(s);
                    }
                }
                break;
            }
        }
        for _ in lines {}
        assert!(child.wait().unwrap().success());
        assert_eq!(held.len(), if disturb { 4 } else { 0 }, "the relay's address was logged and connected to");
        drop(held);
        std::fs::read(out.join("sandwich-42/summary.json")).unwrap_or_else(|e| panic!("{e}"))
    };
    let quiet = run(&d.path().join("a"), false);
    let disturbed = run(&d.path().join("b"), true);
    assert_eq!(quiet, disturbed);
}

/// Strategies of two families in one scenario run together on one chain and wallet
/// (`engine::all`; `tests/all_strategies.rs`), none silently dropped. With the pools in closed form
/// there is no chain to share: refused, naming the key that needs it.
#[test]
fn strategies_of_two_markets_in_one_scenario_need_the_evm_and_are_never_dropped() {
    let math = "chain.dex_engine=math";
    let sandwich = "strategies.sandwich.enabled";
    refused(&scenario("calm.toml"), &["strategies.sandwich.enabled=true", math], sandwich, "in the EVM");
    refused(&scenario("sandwich.toml"), &["strategies.liquidation.enabled=true", math], sandwich, "in the EVM");
    refused(
        &scenario("liquidation_cascade.toml"),
        &["strategies.cross_dex.enabled=true", math],
        "strategies.liquidation.enabled",
        "EVM pool",
    );
}

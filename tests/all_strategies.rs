//! `scenarios/all_strategies.toml`: micro-arbitrage, cross-DEX, sandwich and liquidation in one run,
//! on one chain and one wallet.

use std::process::Command;

mod common;
use common::spec;
use xcrack::core::BundleStatus;
use xcrack::engine::driver::Decision;

#[test]
fn all_four_strategies_act_on_one_wallet_that_reconciles_to_the_wei() {
    let spec = spec("all_strategies.toml", &[]);
    let r = xcrack::engine::all::run(&spec, &mut |_| {}).unwrap();

    // Every strategy acted: trades on the venues and pools, bundles that landed.
    let trades = |s: u16| r.market.trades.iter().filter(|t| t.strategy == s).count();
    assert!(trades(0) > 0, "micro-arbitrage traded");
    assert!(trades(1) > 0, "cross-DEX traded");
    assert!(r.sandwich.bundles.included > 0, "{:?}", r.sandwich.bundles);
    assert!(r.sandwich.victims.iter().any(|v| v.sandwiched));
    assert!(r.liquidation.records.iter().any(|x| x.outcome == "included"));
    assert!(r.liquidation.bundles_included > 0);

    // One key, one nonce sequence: a liquidation bundle expecting more takes a block the sandwich
    // strategy claimed (its bundle cancelled at the relay), and is never refused for it.
    let j = &r.market.journal;
    let liquidation_refused = j
        .actions
        .iter()
        .filter(|a| a.strategy == 3 && a.decision == Decision::Skipped(xcrack::core::SkipReason::ConcurrencyLimit));
    assert_eq!(liquidation_refused.count(), 0);
    assert!(j.bundles.iter().any(|b| b.strategy == 2 && b.status == BundleStatus::Cancelled));

    // One chain: every flow saw the same blocks (the chain's genesis block is the market's first).
    assert_eq!(r.market.blocks, r.sandwich.blocks + 1);
    assert_eq!(r.sandwich.blocks, r.liquidation.blocks);

    // One wallet: each family changed it, and their changes are the chain's, in every token.
    let w = &r.wallet;
    assert_eq!(w.symbols, ["WETH", "USDC", "DAI", "ETH"]);
    for (family, change) in &w.changes {
        assert!(change.iter().any(|&c| c != 0), "{family} never touched the wallet");
    }
    for t in 0..w.symbols.len() {
        let sum: i128 = w.changes.iter().map(|(_, c)| c[t]).sum();
        assert_eq!(w.initial[t] as i128 + sum, w.on_chain[t] as i128, "{}", w.symbols[t]);
    }
    assert!(w.matches());

    // The report: a row per strategy, adding up to the total; each section's wallet line is the
    // shared wallet's.
    let s = xcrack::report::all::summarize(&spec, &r);
    let names: Vec<&str> = s.pnl.by_strategy.iter().map(|p| p.strategy.as_str()).collect();
    assert_eq!(names, ["micro_arbitrage", "cross_dex", "sandwich", "liquidation"]);
    let sum: f64 = s.pnl.by_strategy.iter().map(|p| p.net).sum();
    assert!((sum - s.pnl.net).abs() < 1e-9, "{sum} vs {}", s.pnl.net);
    assert!(s.pnl.by_strategy.iter().all(|p| p.net != 0.0));
    assert!(s.wallet.matches);
    assert!(s.sections.sandwich.wallet.matches);
    assert!(s.sections.market.chain.wallet.as_ref().is_some_and(|w| w.matches));
}

#[test]
fn two_processes_write_identical_reports() {
    let d = tempfile::tempdir().unwrap();
    let runs: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            let out = d.path().join(name);
            let child = Command::new(env!("CARGO_BIN_EXE_xcrack"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["backtest", "scenarios/all_strategies.toml", "--quiet", "--out"])
                .arg(&out)
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut dirs = Vec::new();
    for (out, mut child) in runs {
        assert!(child.wait().unwrap().success());
        dirs.push(out.join("all_strategies-42"));
    }
    let mut files: Vec<_> = std::fs::read_dir(&dirs[0]).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for f in files.iter().filter(|f| *f != "timing.json") {
        let a = std::fs::read(dirs[0].join(f)).unwrap();
        let b = std::fs::read(dirs[1].join(f)).unwrap();
        assert!(a == b, "{f:?} differs between the two processes");
    }
}

/// A combined run's journal carries every family's records and counters and the shared wallet:
/// `xcrack report --journal` writes the combined report again from it, file for file.
#[test]
fn a_combined_run_s_report_is_rebuilt_from_its_journal() {
    let d = tempfile::tempdir().unwrap();
    let journal = d.path().join("run.sqlite");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xcrack")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
    };
    let out = d.path().join("out");
    let (out_s, journal_s) = (out.to_str().unwrap(), journal.to_str().unwrap());
    let o = run(&["backtest", "scenarios/all_strategies.toml", "--quiet", "--out", out_s, "--journal", journal_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = xcrack::engine::journal::sqlite::read(&journal).unwrap();
    assert_eq!(file.meta.get("mode").map(String::as_str), Some("all"));
    assert!(file.journal.actions.iter().any(|a| a.strategy == 3), "the liquidation strategy's actions are in it");
    let all = file.all.expect("a combined journal gives the combined run back");
    assert!(all.wallet.matches());
    let again = d.path().join("again");
    let o = run(&["report", "--journal", journal_s, "scenarios/all_strategies.toml", "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (out.join("all_strategies-42"), again.join("all_strategies-42"));
    let mut files: Vec<_> = std::fs::read_dir(&a).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    for f in files.iter().filter(|f| *f != "timing.json") {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f:?} differs");
    }
}

//! The run journal keeps every action with its decision and every bundle's news: its counts agree
//! with the bundle manager's and the report's.

use std::path::Path;

mod common;
use common::spec;
use xcrack::core::BundleStatus;
use xcrack::engine::driver::Decision;

#[test]
fn sandwich_journal_agrees_with_the_bundle_counts() {
    let spec = spec("sandwich.toml", &[("duration", "40m"), ("safety.emergency_stop_at", "20m")]);
    let r = xcrack::engine::sandwich::run(&spec).unwrap();
    let j = &r.journal;
    let count = |s: BundleStatus| j.bundles.iter().filter(|b| b.status == s).count() as u64;
    assert!(r.bundles.submitted > 0);
    assert_eq!(count(BundleStatus::Submitted), r.bundles.submitted);
    assert_eq!(count(BundleStatus::Included), r.bundles.included);
    assert_eq!(count(BundleStatus::Replaced), r.bundles.replaced);
    assert_eq!(count(BundleStatus::SimulationFailed), r.bundles.simulation_failed);
    // Every bundle action is journaled with its decision; the refused ones are the report's.
    let bundles: Vec<_> = j.actions.iter().filter(|a| a.kind == "bundle").collect();
    assert_eq!(bundles.len(), r.records.len());
    let refused = bundles.iter().filter(|a| matches!(a.decision, Decision::Refused(_))).count();
    assert!(refused > 0, "the stop at 20 min refuses what comes after it");
    assert_eq!(refused as u64, count(BundleStatus::Refused));
    assert_eq!(refused, r.records.iter().filter(|x| x.outcome == "risk_refused").count());
    assert_eq!(j.refusals().iter().sum::<u64>(), r.risk_rejects.iter().sum::<u64>());

    // Written as SQLite: the same journal comes back, and one row per bundle record.
    use xcrack::engine::journal::sqlite;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sandwich.sqlite");
    sqlite::write(&file, &spec, j, sqlite::Run::Sandwich(&r)).unwrap();
    let back = sqlite::read(&file).unwrap();
    assert_eq!((back.meta["mode"].as_str(), &back.journal), ("sandwich", j));
    assert!(back.backtest.is_none());
    let conn = rusqlite::Connection::open(&file).unwrap();
    let (n, included): (i64, i64) = conn
        .query_row("SELECT count(*), sum(outcome = 'included') FROM sandwich_records", [], |x| {
            Ok((x.get(0)?, x.get(1)?))
        })
        .unwrap();
    assert_eq!((n as usize, included as u64), (r.records.len(), r.bundles.included));
    drop(conn);

    // Read back, the sandwich run gives the same report, file for file.
    let again = back.sandwich.expect("a sandwich journal holds the sandwich run");
    assert_eq!(again.records, r.records);
    assert_eq!(again.victims, r.victims);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    xcrack::report::sandwich::write(&spec, &r, &a).unwrap();
    xcrack::report::sandwich::write(&spec, &again, &b).unwrap();
    for f in ["summary.json", "summary.md", "sandwiches.parquet", "sandwiches.csv", "victims.parquet", "victims.csv"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

/// A liquidation run's journal gives the run back: its report, written again from the file, is the
/// same file for file (records, health timeline, counters, Parquet included).
#[test]
fn a_liquidation_journal_rebuilds_the_same_report() {
    use xcrack::engine::journal::{Journal, sqlite};
    let spec = spec("liquidation_cascade.toml", &[("duration", "20m")]);
    let r = xcrack::engine::liquidation::run_journaled(&spec, Journal::default()).unwrap();
    assert!(r.records.iter().any(|x| x.outcome == "included"), "the run liquidates");
    assert!(!r.timeline.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("run.sqlite");
    sqlite::write(&file, &spec, &r.journal, sqlite::Run::Liquidation(&r)).unwrap();
    let back = sqlite::read(&file).unwrap();
    assert_eq!(back.meta["mode"], "liquidation");
    let again = back.liquidation.expect("a liquidation journal holds the liquidation run");
    assert_eq!(again.records, r.records);
    assert_eq!(again.timeline, r.timeline);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    xcrack::report::liquidation::write(&spec, &r, &a).unwrap();
    xcrack::report::liquidation::write(&spec, &again, &b).unwrap();
    for f in ["summary.json", "summary.md", "liquidations.parquet", "liquidations.csv", "health_timeline.parquet"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

/// `--journal`: the SQLite file holds every event the strategies saw, every action and decision,
/// and the fills, equity and counters; read back, it rebuilds the run's report byte for byte, and
/// the `sqlite3` CLI reads it.
#[test]
fn a_sqlite_journal_read_back_rebuilds_the_same_report() {
    use xcrack::engine::journal::{Journal, sqlite};
    let spec = spec("cross_dex.toml", &[("duration", "1h")]);
    let r = xcrack::engine::backtest::run_journaled(&spec, Journal::logging(), &mut |_| {}).unwrap();
    assert!(r.trades.iter().any(|t| t.atomic), "the run has atomic trades to journal");
    let log = r.journal.log.as_ref().unwrap();
    assert_eq!(log.len() as u64, r.journal.events_seen.iter().sum::<u64>(), "every event seen is logged");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("run.sqlite");
    xcrack::report::write(&spec, &r, &tmp.path().join("a")).unwrap();
    sqlite::write(&file, &spec, &r.journal, sqlite::Run::CexDex(&r)).unwrap();

    let back = sqlite::read(&file).unwrap();
    assert_eq!(back.meta["scenario"], spec.name);
    assert_eq!(back.journal, r.journal);
    let rebuilt = back.backtest.expect("a CEX/DEX journal holds the run");
    xcrack::report::write(&spec, &rebuilt, &tmp.path().join("b")).unwrap();
    for f in ["summary.json", "summary.md", "trades.csv", "trades.parquet", "equity.parquet"] {
        let a = std::fs::read(tmp.path().join("a").join(f)).unwrap();
        let b = std::fs::read(tmp.path().join("b").join(f)).unwrap();
        assert!(a == b, "{f} rebuilt from the journal differs");
    }

    // Plain SQL reads it (the tables are documented in the README) ...
    let atomic = r.trades.iter().filter(|t| t.atomic).count();
    let sql = "SELECT count(*), sum(atomic) FROM fills; SELECT n FROM event_counts WHERE kind = 'quote';";
    let want = format!("{}|{atomic}\n{}\n", r.trades.len(), r.journal.events_seen[0]);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let (n, a): (i64, i64) =
        conn.query_row("SELECT count(*), sum(atomic) FROM fills", [], |x| Ok((x.get(0)?, x.get(1)?))).unwrap();
    assert_eq!((n as usize, a as usize), (r.trades.len(), atomic));
    // ... and so does the sqlite3 CLI: `.ci/run` installs it, so CI always checks this; a machine
    // without it (the README's two commands install nothing else) checks the SQL above only.
    let cli = std::process::Command::new("sqlite3").arg(&file).arg(sql).output();
    match cli {
        Ok(out) => assert_eq!(String::from_utf8(out.stdout).unwrap(), want),
        Err(e) => assert!(std::env::var_os("CI").is_none(), "CI must have the sqlite3 CLI: {e}"),
    }
}

#[test]
fn journal_flag_is_checked_before_anything_runs() {
    let bin = env!("CARGO_BIN_EXE_xcrack");
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(bin)
            .current_dir(root)
            .args(["backtest", "-q", "--out"])
            .arg(tmp.path().join("reports"))
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let two = run(&["--journal", "j.sqlite", "scenarios/calm.toml", "scenarios/volatile.toml"]);
    assert_eq!(two.0, Some(2), "{}", two.1);
    assert!(two.1.contains("takes one scenario, not 2"), "{}", two.1);
    let missing = tmp.path().join("no/such/dir/j.sqlite");
    let nowhere = run(&["--journal", missing.to_str().unwrap(), "scenarios/calm.toml"]);
    assert_eq!(nowhere.0, Some(2), "{}", nowhere.1);
    assert!(nowhere.1.contains("does not exist"), "{}", nowhere.1);
    assert!(!tmp.path().join("reports").exists(), "nothing was written");
}

#[test]
fn report_command_rebuilds_the_report_from_the_journal_file() {
    let bin = env!("CARGO_BIN_EXE_xcrack");
    let tmp = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cross_dex.toml");
    let xcrack = |args: &[&str]| {
        let out = std::process::Command::new(bin).current_dir(tmp.path()).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let s = scenario.to_str().unwrap();
    let ran = xcrack(&["backtest", "-q", "--out", "a", "--journal", "j.sqlite", "--set", "duration=20m", s]);
    assert_eq!(ran.0, Some(0), "{}", ran.1);
    let rebuilt = xcrack(&["report", "--journal", "j.sqlite", "--out", "b", "--set", "duration=20m", s]);
    assert_eq!(rebuilt.0, Some(0), "{}", rebuilt.1);
    for f in ["summary.json", "summary.md", "trades.csv", "trades.parquet", "equity.parquet"] {
        let a = std::fs::read(tmp.path().join("a/cross-dex-42").join(f)).unwrap();
        let b = std::fs::read(tmp.path().join("b/cross-dex-42").join(f)).unwrap();
        assert!(a == b, "{f} differs");
    }
    // Other settings than the run's: refused, nothing written.
    let other = xcrack(&["report", "--journal", "j.sqlite", "--out", "c", "--set", "duration=21m", s]);
    assert_eq!(other.0, Some(2), "{}", other.1);
    assert!(other.1.contains("with other settings"), "{}", other.1);
    assert!(!tmp.path().join("c").exists());
    // Not a journal at all: one clear error.
    std::fs::write(tmp.path().join("junk.sqlite"), b"not a database").unwrap();
    let junk = xcrack(&["report", "--journal", "junk.sqlite", "--out", "d", "--set", "duration=20m", s]);
    assert_eq!(junk.0, Some(2), "{}", junk.1);
    assert!(junk.1.contains("junk.sqlite"), "{}", junk.1);
}

/// A rival's liquidation is news to the strategy even when our bundle's report cannot carry it
/// (ours may never have reached the relay): the world tells it as a position change, once per
/// borrower a rival moved.
#[test]
fn rival_liquidations_reach_the_strategy_as_position_changes() {
    let spec = spec("liquidation_mixed.toml", &[]);
    let r = xcrack::engine::liquidation::run(&spec).unwrap();
    assert!(r.rival_liquidations > 0);
    let position = xcrack::engine::journal::EVENT_KINDS.iter().position(|k| *k == "position").unwrap();
    assert_eq!(r.journal.events_seen[position], r.rival_liquidations);
}

//! The strategy benchmark: every shipped scenario, run in full with its own seed, and each
//! strategy's headline figures (net P&L and what it is net of, activity, predicted = realised,
//! wallet reconciled) in one committed table. A change here is a change in results: review it
//! (`xcrack bench --scenarios` prints the table and what changed against this snapshot).

use std::path::Path;

#[test]
fn shipped_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let out = tempfile::tempdir().unwrap();
    let table = xcrack::cli::bench::scenario_table(&dir, out.path()).unwrap_or_else(|e| panic!("{}", e.message));
    assert!(!table.contains("| NO"), "every wallet reconciles:\n{table}");
    insta::assert_snapshot!(table);
}

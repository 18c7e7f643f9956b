//! `xcrack bench` through the binary: a saved baseline, then the gate passing an unchanged run and
//! failing (exit 3) a run whose path was deliberately given three times the work.

use std::path::Path;

mod common;
use common::xcrack;

#[test]
fn the_gate_passes_an_unchanged_path_and_fails_a_slowed_one() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("baseline.json");
    let b = base.to_str().unwrap();
    let path = "orderbook/walk_12_levels";
    let run = |extra: &[&str]| {
        let mut a = vec!["bench", "--quick", "--filter", path, "--baseline", b];
        a.extend_from_slice(extra);
        xcrack(&a, Path::new(env!("CARGO_MANIFEST_DIR")))
    };
    let saved = run(&["--save"]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&base).unwrap()).unwrap();
    assert_eq!(json["run"]["paths"][0]["name"], path);
    assert!(json["margin"].as_f64().unwrap() > 0.0);
    // Debug build, sharing the machine with the other test binaries: a 100 % margin keeps an
    // unchanged path from failing on noise, and 3x the work is still far beyond it.
    json["margin"] = serde_json::json!(1.0);
    std::fs::write(&base, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let unchanged = run(&["--check"]);
    assert!(unchanged.status.success(), "{}", String::from_utf8_lossy(&unchanged.stdout));
    let slowed = run(&["--check", "--slow-path", &format!("{path}=3")]);
    assert_eq!(slowed.status.code(), Some(3), "{}", String::from_utf8_lossy(&slowed.stdout));
    assert!(String::from_utf8_lossy(&slowed.stdout).contains("REGRESSED"));
    assert!(String::from_utf8_lossy(&slowed.stderr).contains(path));
}

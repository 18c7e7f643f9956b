//! The run journal keeps every action with its decision and every bundle's news: its counts agree
//! with the bundle manager's and the report's.

use std::path::Path;

use xcrack::config::{self, Sources};
use xcrack::core::BundleStatus;
use xcrack::engine::driver::Decision;

fn spec(name: &str, sets: &[(&str, &str)]) -> config::RunSpec {
    let file = format!("scenarios/{name}");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file)).unwrap();
    let cli = sets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sources = Sources { config_file: None, scenario: Some((file, text)), env: Vec::new(), cli };
    config::load(&sources, Path::new("scenarios")).unwrap()
}

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
}

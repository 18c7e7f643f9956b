//! The human summary of one fixed-seed run, pinned. A change here is a change in results: review it.

use std::path::Path;

use xcrack::config::{self, Sources};

#[test]
fn summary_markdown_of_fixed_seed_volatile_run() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/volatile.toml")).unwrap();
    let sources = Sources {
        config_file: None,
        scenario: Some(("scenarios/volatile.toml".to_string(), text)),
        env: Vec::new(),
        cli: vec![("duration".to_string(), "90m".to_string()), ("seed".to_string(), "7".to_string())],
    };
    let spec = config::load(&sources, Path::new("scenarios")).unwrap();
    let result = xcrack::engine::run(&spec, &mut |_| {}).unwrap();
    let summary = xcrack::report::summarize(&spec, &result);
    assert!(summary.trades.count > 0);
    insta::assert_snapshot!(xcrack::report::markdown(&summary));
}

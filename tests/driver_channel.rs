//! Live mode's boundary: events pushed by a tokio task through a bounded channel drive the same
//! dispatch as the simulated world's own queue, and give the same actions and the same report.

use std::path::Path;

use xcrack::config::{self, Sources};
use xcrack::engine::driver::{ChannelSource, Recording};
use xcrack::engine::queue::EventQueue;

fn spec(name: &str, duration: &str) -> config::RunSpec {
    let file = format!("scenarios/{name}");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file)).unwrap();
    let sources = Sources {
        config_file: None,
        scenario: Some((file, text)),
        env: Vec::new(),
        cli: vec![("duration".to_string(), duration.to_string())],
    };
    config::load(&sources, Path::new("scenarios")).unwrap()
}

fn summary_bytes(spec: &config::RunSpec, r: &xcrack::engine::BacktestResult) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    xcrack::report::write(spec, r, &out).unwrap();
    std::fs::read(out.join("summary.json")).unwrap()
}

fn same_run_through_a_channel(name: &str, duration: &str) {
    let spec = spec(name, duration);
    let mut queue = EventQueue::new();
    let mut rec = Recording { inner: &mut queue, seen: Vec::new() };
    let direct = xcrack::engine::backtest::run_from(&spec, &mut rec, &mut |_| {}).unwrap();
    let events = rec.seen;
    assert!(events.len() > 1000, "{name}: too few events to prove anything ({})", events.len());
    assert!(!direct.journal.actions.is_empty(), "{name}: the run must act");

    // A small capacity: the producer waits on the driver again and again (back-pressure).
    let (tx, mut source) = ChannelSource::bounded(16);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let producer = rt.spawn(async move {
        for e in events {
            if tx.send(e).await.is_err() {
                break;
            }
        }
    });
    let fed = xcrack::engine::backtest::run_from(&spec, &mut source, &mut |_| {}).unwrap();
    rt.block_on(producer).unwrap();

    assert_eq!(fed.events_processed, direct.events_processed);
    assert_eq!(fed.journal, direct.journal, "{name}: the same actions and decisions");
    assert_eq!(fed.trades.len(), direct.trades.len());
    assert!(source.ignored_schedules > 0, "the world's own schedules are not queued in a channel-fed run");
    assert_eq!(summary_bytes(&spec, &fed), summary_bytes(&spec, &direct), "{name}: byte-identical summary.json");
}

#[test]
fn channel_fed_micro_arbitrage_run_matches_the_queue() {
    same_run_through_a_channel("calm.toml", "20m");
}

#[test]
fn channel_fed_cross_dex_run_matches_the_queue() {
    same_run_through_a_channel("cross_dex.toml", "20m");
}

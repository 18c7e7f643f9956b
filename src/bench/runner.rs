//! `xcrack bench`: the hot paths the criterion benches measure, timed in one process next to a fixed
//! calibration workload, so each figure is also a ratio to the machine's own speed in the same run.
//! Absolute numbers differ ~2.5× between two quiet machines of one kind; the ratio of a path to the
//! calibration does not (the sandwich path was ~25 EVM swaps on both), which is what the committed
//! baseline and the CI gate compare.

use std::time::Instant;

use alloy_primitives::{U256, keccak256};
use serde::{Deserialize, Serialize};

/// How a path is reported: per-call latency percentiles, or throughput in work units per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Latency,
    Throughput,
}

/// One measured path of this run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathResult {
    pub name: String,
    pub kind: Kind,
    /// What one work unit is ("call", "event", "swap", "quote").
    pub unit: String,
    /// Nanoseconds per work unit: the median over repetitions.
    pub ns_per_unit: f64,
    /// Latency paths: per-call percentiles over every timed call (ns).
    pub p50_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    /// Work units per second (throughput paths).
    pub per_second: Option<f64>,
    /// ns per unit divided by the calibration's ns per unit of the same repetition: the median.
    pub ratio: f64,
    /// (max − min) / median of the per-repetition ratios.
    pub spread: f64,
    pub repetitions: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchRun {
    pub machine: String,
    pub commit: String,
    pub quick: bool,
    /// Nanoseconds of one calibration unit (median over the run).
    pub calibration_ns: f64,
    pub paths: Vec<PathResult>,
}

/// A path to measure: its name, kind, unit, and a body returning the work units it did.
pub struct PathDef {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: &'static str,
    pub make: fn() -> Box<dyn FnMut() -> u64>,
}

/// The fixed calibration workload, one unit: 256 chained keccak256 of 64 bytes with a U256
/// multiply-divide each, and 4 ERC-20 transfers through revm. It exercises what our paths are made
/// of (hashing, 256-bit integers, the interpreter) and nothing else.
pub struct Calibration {
    evm: super::EvmBench,
}

impl Calibration {
    pub fn new() -> Self {
        Calibration { evm: super::EvmBench::new() }
    }

    pub fn unit(&mut self) -> u64 {
        let mut h = [7u8; 64];
        let mut acc = U256::from(0x1234_5678u64);
        for i in 0..256u64 {
            let d = keccak256(h);
            h[..32].copy_from_slice(d.as_slice());
            let x = U256::from_be_bytes(d.0);
            acc = (acc * x.wrapping_add(U256::from(i + 1))) / (x | U256::from(1u8)).max(U256::from(3u8));
        }
        std::hint::black_box(acc);
        use crate::chain::contracts::ITestERC20;
        use alloy_sol_types::SolCall;
        let (weth, from) = (self.evm.dex.weth, self.evm.dex.searcher);
        for i in 0..4u8 {
            let to = alloy_primitives::Address::repeat_byte(0x40 + (i % 2));
            let data = ITestERC20::transferCall { to, value: U256::from(1u8) }.abi_encode();
            let ok = self.evm.chain.call(from, weth, data.into(), U256::ZERO).map(|o| o.success).unwrap_or(false);
            std::hint::black_box(ok);
        }
        self.evm.chain.end_block();
        1
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::new()
    }
}

/// Every path `xcrack bench` knows, in report order.
pub fn paths() -> Vec<PathDef> {
    vec![
        PathDef {
            name: "amm/get_amount_out_u256",
            kind: Kind::Throughput,
            unit: "quote",
            make: || {
                let (rb, rq, sizes) = super::amm_inputs();
                Box::new(move || {
                    for s in &sizes {
                        std::hint::black_box(crate::market::amm::get_amount_out(*s, rb, rq, 30).ok());
                    }
                    sizes.len() as u64
                })
            },
        },
        PathDef {
            name: "orderbook/walk_12_levels",
            kind: Kind::Throughput,
            unit: "walk",
            make: || {
                let book = super::book();
                Box::new(move || {
                    for lots in [50_000u64, 200_000, 1_000_000] {
                        std::hint::black_box(super::walk(&book, crate::core::Side::Buy, lots));
                    }
                    3
                })
            },
        },
        PathDef {
            name: "engine/calm_30m_events",
            kind: Kind::Throughput,
            unit: "event",
            make: || {
                let spec = super::standard_spec("30m");
                Box::new(move || super::engine_run(&spec))
            },
        },
        PathDef {
            name: "evm/pair_swaps_chained_block_of_100",
            kind: Kind::Throughput,
            unit: "swap",
            make: || {
                let mut b = super::EvmBench::new();
                let mut reverse = false;
                Box::new(move || {
                    let n = b.chained_swaps(100, reverse);
                    reverse = !reverse;
                    n as u64
                })
            },
        },
        PathDef {
            name: "evm/router_swaps_block_of_100",
            kind: Kind::Throughput,
            unit: "swap",
            make: || {
                let mut s = super::peers::RouterSwaps::new();
                Box::new(move || {
                    std::hint::black_box(s.ours(100));
                    100
                })
            },
        },
        PathDef {
            name: "peer/naive_revm_transact_commit_router_swaps_100",
            kind: Kind::Throughput,
            unit: "swap",
            make: || {
                let mut s = super::peers::RouterSwaps::new();
                Box::new(move || {
                    std::hint::black_box(s.naive(100));
                    100
                })
            },
        },
        PathDef {
            name: "evm/arbitrage_bundle_simulate_rollback",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                let mut b = super::EvmBench::new();
                let tx = b.arbitrage_bundle_tx();
                Box::new(move || {
                    let ok = b.chain.simulate_bundle(std::slice::from_ref(&tx)).map(|o| o[0].success).unwrap_or(false);
                    std::hint::black_box(ok);
                    1
                })
            },
        },
        PathDef {
            name: "sandwich/victim_to_signed_simulated_bundle",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                let mut b = super::SandwichBench::new();
                Box::new(move || {
                    std::hint::black_box(b.victim_to_bundle());
                    1
                })
            },
        },
        PathDef {
            name: "fork/decision_warm_fork",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                // The same decision on a chain over fork state (`bench::fork`), once warm.
                let mut b = super::SandwichBench::new().forked();
                b.victim_to_bundle();
                Box::new(move || {
                    std::hint::black_box(b.victim_to_bundle());
                    1
                })
            },
        },
        PathDef {
            name: "live/pending_to_wire",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                // Filter → decision on a warm fork → journal (FULL) → the signed request's arrival at
                // a loopback relay (its answer's way back and the journal's note of it not counted).
                let mut b = super::PendingToWire::new(true);
                Box::new(move || {
                    measured(b.send_timed());
                    1
                })
            },
        },
        PathDef {
            name: "live/pending_to_wire_sync_normal",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                // The same with the journal's commits synced at checkpoints (`live.journal_sync = "normal"`).
                let mut b = super::PendingToWire::new(false);
                Box::new(move || {
                    measured(b.send_timed());
                    1
                })
            },
        },
        PathDef {
            name: "sandwich/sizing_closed_form_confirmed",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                let mut b = super::SandwichBench::new();
                Box::new(move || {
                    std::hint::black_box(b.size_closed_form());
                    1
                })
            },
        },
        PathDef {
            name: "peer/sandwich_sizing_by_evm_search",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                let mut b = super::SandwichBench::new();
                Box::new(move || {
                    std::hint::black_box(b.size_by_simulation(SEARCH_TOLERANCE));
                    1
                })
            },
        },
        PathDef {
            name: "liquidation/oracle_update_to_simulated_liquidation_10k",
            kind: Kind::Latency,
            unit: "call",
            make: || {
                let mut b = super::LiquidationBench::new(10_000);
                Box::new(move || {
                    std::hint::black_box(b.oracle_update(2_940));
                    1
                })
            },
        },
    ]
}

/// rusty-sando's search stops when its bracket is narrower than this (0.001 ETH).
pub const SEARCH_TOLERANCE: U256 = U256::from_limbs([1_000_000_000_000_000, 0, 0, 0]);

/// Our path and the peer's doing the same work: (ours, theirs, what theirs is).
pub const PEERS: &[(&str, &str, &str)] = &[
    (
        "evm/router_swaps_block_of_100",
        "peer/naive_revm_transact_commit_router_swaps_100",
        "the naive revm loop (CacheDB, transact_commit per Router02 swap)",
    ),
    (
        "sandwich/sizing_closed_form_confirmed",
        "peer/sandwich_sizing_by_evm_search",
        "rusty-sando's sizing (binary search, a full EVM simulation per probe)",
    ),
];

/// What the two sizings find on the bench's victim: (ours, theirs) as (front-run, gross profit,
/// EVM simulations).
pub fn sizing_profits() -> ((U256, i128, usize), (U256, i128, usize)) {
    let mut b = super::SandwichBench::new();
    (b.size_closed_form(), b.size_by_simulation(SEARCH_TOLERANCE))
}

/// "ours / theirs" time per unit for every peer pair measured in `run`.
pub fn peer_lines(run: &BenchRun) -> Vec<String> {
    PEERS
        .iter()
        .filter_map(|(ours, theirs, what)| {
            let a = run.paths.iter().find(|p| p.name == *ours)?;
            let b = run.paths.iter().find(|p| p.name == *theirs)?;
            Some(format!(
                "ours / theirs: {ours} takes {:.3}× the time of {what}",
                a.ns_per_unit / b.ns_per_unit.max(1e-9)
            ))
        })
        .collect()
}

/// How long each repetition of a path (and of the calibration) runs, and how many repetitions.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub repetitions: usize,
    pub rep_ms: u64,
    pub min_calls: usize,
}

impl Budget {
    pub fn quick() -> Self {
        Budget { repetitions: 5, rep_ms: 80, min_calls: 3 }
    }
    pub fn full() -> Self {
        Budget { repetitions: 15, rep_ms: 400, min_calls: 10 }
    }
}

thread_local! {
    static MEASURED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// For a path whose figure ends before its call returns (live mode's send path ends when the
/// bundle's bytes reach the relay, not when the relay's answer is back): the call's own measure,
/// in ns, taken instead of the call's duration.
pub fn measured(ns: u64) {
    MEASURED.with(|m| m.set(Some(ns)));
}

/// Calls `f` until `budget.rep_ms` has passed and at least `min_calls` were made; per-call ns, the
/// total work units and the total ns (the calls' own measures summed when they gave them).
fn repetition(f: &mut dyn FnMut() -> u64, budget: &Budget) -> (Vec<u64>, u64, u64) {
    let mut calls = Vec::new();
    let mut work = 0;
    let mut self_measured = false;
    let started = Instant::now();
    while calls.len() < budget.min_calls || started.elapsed().as_millis() < u128::from(budget.rep_ms) {
        let t = Instant::now();
        work += f();
        let took = t.elapsed().as_nanos() as u64;
        match MEASURED.with(|m| m.take()) {
            Some(ns) => {
                self_measured = true;
                calls.push(ns);
            }
            None => calls.push(took),
        }
    }
    let total = if self_measured { calls.iter().sum() } else { started.elapsed().as_nanos() as u64 };
    (calls, work, total)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

/// Measures the paths whose name contains `filter` (all when empty), each repetition right after a
/// repetition of the calibration so both see the same machine state.
pub fn run(filter: &str, budget: Budget, progress: &mut dyn FnMut(&str)) -> BenchRun {
    run_slowed(filter, budget, None, progress)
}

/// A deliberate slowdown, to prove the gate fires: the named path's body runs `factor` times per
/// call while reporting the work of one.
#[derive(Debug, Clone)]
pub struct Slowdown {
    pub path: String,
    pub factor: u32,
}

/// As `run`, with an optional `Slowdown` (a test hook; `xcrack bench --slow-path NAME=FACTOR`).
pub fn run_slowed(filter: &str, budget: Budget, slow: Option<&Slowdown>, progress: &mut dyn FnMut(&str)) -> BenchRun {
    let mut cal = Calibration::new();
    let mut cal_fn = || cal.unit();
    // Warm caches and the allocator before the first figure counts.
    let _ = repetition(&mut cal_fn, &Budget { repetitions: 1, rep_ms: 50, min_calls: 2 });
    let mut cal_all = Vec::new();
    let mut results = Vec::new();
    for def in paths().into_iter().filter(|d| d.name.contains(filter)) {
        progress(def.name);
        let mut inner = (def.make)();
        let factor = slow.filter(|s| s.path == def.name).map_or(1, |s| s.factor.max(1));
        let mut body: Box<dyn FnMut() -> u64> = Box::new(move || {
            let work = inner();
            for _ in 1..factor {
                std::hint::black_box(inner());
            }
            work
        });
        let _ = body();
        let (mut ratios, mut per_unit, mut all_calls) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..budget.repetitions {
            let (_, cal_work, cal_ns) = repetition(&mut cal_fn, &budget);
            let cal_unit = cal_ns as f64 / cal_work.max(1) as f64;
            let (calls, work, ns) = repetition(&mut *body, &budget);
            let unit = ns as f64 / work.max(1) as f64;
            cal_all.push(cal_unit);
            ratios.push(unit / cal_unit);
            per_unit.push(unit);
            all_calls.extend(calls);
        }
        all_calls.sort_unstable();
        let ratio = median(&mut ratios);
        let spread = if ratio > 0.0 { (ratios[ratios.len() - 1] - ratios[0]) / ratio } else { 0.0 };
        let ns_per_unit = median(&mut per_unit);
        let latency = def.kind == Kind::Latency;
        results.push(PathResult {
            name: def.name.to_string(),
            kind: def.kind,
            unit: def.unit.to_string(),
            ns_per_unit,
            p50_ns: latency.then(|| percentile(&all_calls, 0.5)),
            p99_ns: latency.then(|| percentile(&all_calls, 0.99)),
            per_second: (!latency).then(|| 1e9 / ns_per_unit.max(1e-9)),
            ratio,
            spread,
            repetitions: budget.repetitions,
        });
    }
    BenchRun {
        machine: machine(),
        commit: String::new(),
        quick: budget.repetitions < Budget::full().repetitions,
        calibration_ns: median(&mut cal_all),
        paths: results,
    }
}

/// "2 × Intel(R) Xeon(R) … (Linux x86_64)" from /proc/cpuinfo where there is one.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{cpus} × {model} ({} {})", std::env::consts::OS, std::env::consts::ARCH)
}

/// A path's figure compared with the baseline's.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub name: String,
    pub ratio: f64,
    pub baseline: Option<f64>,
    /// ratio / baseline − 1 (positive: slower).
    pub change: Option<f64>,
    pub regressed: bool,
}

/// Each path against `baseline`: regressed when its ratio is more than `margin` above the baseline's.
pub fn compare(run: &BenchRun, baseline: Option<&BenchRun>, margin: f64) -> Vec<Comparison> {
    run.paths
        .iter()
        .map(|p| {
            let base = baseline.and_then(|b| b.paths.iter().find(|q| q.name == p.name)).map(|q| q.ratio);
            let change = base.map(|b| p.ratio / b - 1.0);
            Comparison {
                name: p.name.clone(),
                ratio: p.ratio,
                baseline: base,
                change,
                regressed: change.is_some_and(|c| c > margin),
            }
        })
        .collect()
}

/// An absolute figure as a person reads it.
pub fn absolute(p: &PathResult) -> String {
    let t = |ns: f64| {
        if ns >= 1e6 {
            format!("{:.2} ms", ns / 1e6)
        } else if ns >= 1e3 {
            format!("{:.1} µs", ns / 1e3)
        } else {
            format!("{ns:.1} ns")
        }
    };
    match p.kind {
        Kind::Latency => format!("p50 {}, p99 {}", t(p.p50_ns.unwrap_or(0.0)), t(p.p99_ns.unwrap_or(0.0))),
        Kind::Throughput => {
            let per_s = p.per_second.unwrap_or(0.0);
            let rate = if per_s >= 1e6 { format!("{:.2} M", per_s / 1e6) } else { format!("{:.0}", per_s) };
            format!("{rate} {}s/s ({} each)", p.unit, t(p.ns_per_unit))
        }
    }
}

/// A ratio with four significant digits (they span 10^-4 to 10).
pub fn show_ratio(r: f64) -> String {
    if r == 0.0 || !r.is_finite() {
        return format!("{r}");
    }
    let digits = (3 - r.abs().log10().floor() as i32).max(0) as usize;
    format!("{r:.digits$}")
}

/// The README's performance table, from a saved run: path, absolute figure, ratio to the
/// calibration unit.
pub fn markdown(run: &BenchRun) -> String {
    let mut out = "| path | absolute | ratio to calibration (spread) |\n|---|---:|---:|\n".to_string();
    for p in &run.paths {
        out.push_str(&format!(
            "| `{}` | {} | {} (±{:.0} %) |\n",
            p.name,
            absolute(p),
            show_ratio(p.ratio),
            p.spread * 50.0
        ));
    }
    out.push_str(&format!(
        "\nCalibration unit {:.1} µs on {}, commit {}{}.\n",
        run.calibration_ns / 1e3,
        run.machine,
        if run.commit.is_empty() { "?" } else { &run.commit },
        if run.quick { ", quick run" } else { "" }
    ));
    for line in peer_lines(run) {
        out.push_str(&format!("\n{line}.\n"));
    }
    out
}

/// The console table: path, absolute, ratio (± spread), baseline, change.
pub fn table(run: &BenchRun, cmp: &[Comparison]) -> String {
    let mut out = format!(
        "calibration unit {:.1} µs on {}\n{:<56} {:>34} {:>16} {:>10} {:>9}\n",
        run.calibration_ns / 1e3,
        run.machine,
        "path",
        "absolute",
        "ratio (spread)",
        "baseline",
        "change"
    );
    for (p, c) in run.paths.iter().zip(cmp) {
        let base = c.baseline.map(show_ratio).unwrap_or_else(|| "—".into());
        let change = c.change.map(|x| format!("{:+.1} %", x * 100.0)).unwrap_or_else(|| "—".into());
        let flag = if c.regressed { "  REGRESSED" } else { "" };
        out.push_str(&format!(
            "{:<56} {:>34} {:>16} {:>10} {:>9}{flag}\n",
            p.name,
            absolute(p),
            format!("{} (±{:.0} %)", show_ratio(p.ratio), p.spread * 50.0),
            base,
            change
        ));
    }
    for line in peer_lines(run) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(ratios: &[(&str, f64)]) -> BenchRun {
        BenchRun {
            machine: "m".into(),
            commit: "c".into(),
            quick: true,
            calibration_ns: 1000.0,
            paths: ratios
                .iter()
                .map(|(n, r)| PathResult {
                    name: n.to_string(),
                    kind: Kind::Latency,
                    unit: "call".into(),
                    ns_per_unit: r * 1000.0,
                    p50_ns: Some(r * 1000.0),
                    p99_ns: Some(r * 1200.0),
                    per_second: None,
                    ratio: *r,
                    spread: 0.05,
                    repetitions: 5,
                })
                .collect(),
        }
    }

    #[test]
    fn a_path_regresses_only_beyond_the_margin_and_new_paths_never_do() {
        let base = run_with(&[("a", 1.0), ("b", 2.0)]);
        let now = run_with(&[("a", 1.29), ("b", 2.7), ("c", 9.0)]);
        let c = compare(&now, Some(&base), 0.30);
        assert_eq!(c.iter().map(|x| x.regressed).collect::<Vec<_>>(), vec![false, true, false]);
        assert!((c[1].change.unwrap() - 0.35).abs() < 1e-12);
        assert_eq!(c[2].baseline, None);
        assert!(table(&now, &c).contains("REGRESSED"));
    }

    #[test]
    fn a_deliberately_slowed_path_fails_the_gate_and_an_unchanged_one_passes() {
        let budget = Budget { repetitions: 5, rep_ms: 40, min_calls: 3 };
        let path = "orderbook/walk_12_levels";
        let base = run(path, budget, &mut |_| {});
        let same = run(path, budget, &mut |_| {});
        let slow = Slowdown { path: path.to_string(), factor: 4 };
        let slowed = run_slowed(path, budget, Some(&slow), &mut |_| {});
        // Unit tests share the machine with each other, so a wider margin than the CI gate's; the
        // CLI test checks the real one.
        let margin = 0.5;
        assert!(
            !compare(&same, Some(&base), margin)[0].regressed,
            "unchanged: {:?}",
            compare(&same, Some(&base), margin)
        );
        let c = compare(&slowed, Some(&base), margin);
        assert!(c[0].regressed, "four times the work must fail the gate: {c:?}");
        assert!(c[0].change.unwrap_or(0.0) > 1.5, "{c:?}");
    }

    #[test]
    fn ratios_show_four_significant_digits() {
        assert_eq!(show_ratio(0.000412345), "0.0004123");
        assert_eq!(show_ratio(2.35671), "2.357");
        assert_eq!(show_ratio(31.4159), "31.42");
    }

    #[test]
    fn the_calibration_unit_does_its_fixed_work() {
        let mut cal = Calibration::new();
        assert_eq!(cal.unit(), 1);
        let (calls, work, _) = repetition(&mut || cal.unit(), &Budget { repetitions: 1, rep_ms: 0, min_calls: 3 });
        assert_eq!((calls.len(), work), (3, 3));
    }
}

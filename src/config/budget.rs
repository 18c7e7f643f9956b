//! Before a run starts: how many events it will schedule and how much memory its kept state needs,
//! estimated from the validated spec, each figure attributed to the key that drives it. A run
//! outside `limits::MAX_EVENTS` or `limits::MAX_MEMORY_BYTES` is refused naming that key, so a
//! typo like `rate_per_minute = 1e9` fails in a millisecond instead of exhausting the machine.

use super::limits::{MAX_EVENTS, MAX_MEMORY_BYTES};
use super::{LatencySpec, RunSpec};
use crate::core::{MAX_DEPTH, NANOS_PER_SEC, SimTime};

/// One driver of a run's cost: the key, and the events and bytes it accounts for.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    pub key: String,
    pub events: f64,
    pub bytes: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub events: f64,
    pub bytes: f64,
    pub costs: Vec<Cost>,
}

/// Bytes of one published book in flight or kept (both sides at full depth).
const BOOK_BYTES: f64 = (2 * MAX_DEPTH * 16 + 64) as f64;
/// Bytes the engine and reports keep per generated borrower (positions, EVM storage, watch list).
const BORROWER_BYTES: f64 = 6_000.0;
/// Bytes kept per victim swap (its signed transaction, its report row).
const VICTIM_BYTES: f64 = 1_500.0;
/// Bytes of one equity-curve row.
const EQUITY_ROW_BYTES: f64 = 64.0;
/// Bytes per block kept by the chain and the reports (header, base fee, receipts summary).
const BLOCK_BYTES: f64 = 256.0;

fn count(duration: SimTime, every: SimTime) -> f64 {
    duration as f64 / every.max(1) as f64
}

fn mean_latency_s(l: &LatencySpec) -> f64 {
    match l {
        LatencySpec::Constant { nanos } => *nanos as f64 / NANOS_PER_SEC as f64,
        // A lognormal's mean is median · e^(σ²/2).
        LatencySpec::LogNormal { median_ns, sigma } => median_ns * (sigma * sigma / 2.0).exp() / NANOS_PER_SEC as f64,
    }
}

/// The estimate for `spec`, costs in the order of the scenario's sections.
pub fn estimate(spec: &RunSpec) -> Estimate {
    let d = spec.duration;
    let minutes = d as f64 / (60.0 * NANOS_PER_SEC as f64);
    let mut costs = vec![
        Cost { key: "market.tick_interval".into(), events: count(d, spec.tick_interval), bytes: 0.0 },
        Cost {
            key: "chain.block_time".into(),
            events: count(d, spec.chain.block_time),
            bytes: count(d, spec.chain.block_time) * BLOCK_BYTES,
        },
        Cost {
            key: "monitoring.equity_sample_interval".into(),
            events: count(d, spec.equity_sample),
            bytes: count(d, spec.equity_sample) * EQUITY_ROW_BYTES,
        },
    ];
    let max_lag = spec.cex.iter().map(|c| c.lag).max().unwrap_or(0);
    if let Some(i) = spec.cex.iter().position(|c| c.lag == max_lag && max_lag > 0) {
        // The fundamental keeps one price per tick for as far back as the laggiest venue looks.
        costs.push(Cost {
            key: format!("market.cex[{i}].lag"),
            events: 0.0,
            bytes: count(max_lag, spec.tick_interval) * 8.0,
        });
    }
    for (i, c) in spec.cex.iter().enumerate() {
        let refreshes = count(d, c.refresh);
        // Books published but not yet delivered to us: refresh rate × feed latency.
        let in_flight = mean_latency_s(&c.feed_latency) * NANOS_PER_SEC as f64 / c.refresh.max(1) as f64 + 1.0;
        costs.push(Cost {
            key: format!("market.cex[{i}].refresh"),
            events: 2.0 * refreshes,
            bytes: in_flight * BOOK_BYTES,
        });
    }
    if !spec.dex.is_empty() {
        costs.push(Cost {
            key: "market.noise_traders.rate_per_minute".into(),
            events: spec.noise.rate_per_minute * minutes,
            bytes: 0.0,
        });
    }
    let victims = spec.mempool.victims_per_minute * minutes + spec.mempool.pending.len() as f64;
    costs.push(Cost { key: "mempool.victims_per_minute".into(), events: 2.0 * victims, bytes: victims * VICTIM_BYTES });
    let borrowers = f64::from(spec.lending.borrowers) + spec.lending.declared.len() as f64;
    if spec.liquidation.enabled {
        // Every block re-checks the borrowers an oracle update touched; bound it by all of them.
        let updates = count(d, spec.lending.oracle.heartbeat)
            .max(count(d, spec.tick_interval).min(count(d, spec.chain.block_time)));
        costs.push(Cost {
            key: "lending.borrowers".into(),
            events: borrowers * updates.min(1_000.0),
            bytes: borrowers * BORROWER_BYTES,
        });
    }
    let events = costs.iter().map(|c| c.events).sum();
    let bytes = costs.iter().map(|c| c.bytes).sum();
    Estimate { events, bytes, costs }
}

/// The refusal for a run over budget, naming the key that costs most, or `None` when it fits.
pub fn over_budget(e: &Estimate) -> Option<(String, String)> {
    let top = |by: fn(&Cost) -> f64| e.costs.iter().max_by(|a, b| by(a).total_cmp(&by(b))).map(|c| c.key.clone());
    if e.events > MAX_EVENTS as f64 {
        let key = top(|c| c.events)?;
        return Some((
            key,
            format!(
                "this run would schedule about {:.3e} events; the limit is {:.1e} (shorten `duration` or slow this key down)",
                e.events, MAX_EVENTS as f64
            ),
        ));
    }
    if e.bytes > MAX_MEMORY_BYTES as f64 {
        let key = top(|c| c.bytes)?;
        return Some((
            key,
            format!(
                "this run would keep about {:.1} GiB of state; the limit is {} GiB",
                e.bytes / f64::from(1u32 << 30),
                MAX_MEMORY_BYTES >> 30
            ),
        ));
    }
    None
}

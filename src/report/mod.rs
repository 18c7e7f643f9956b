//! Reports: trades and equity as Parquet (+ CSV), a summary as JSON and Markdown, and wall-clock
//! timing apart in `timing.json`, so that everything but `timing.json` is a pure function of
//! scenario + seed. Exact amounts are kept as decimal strings (`*_raw`); floats are for reading.

pub mod all;
pub mod fork;
pub mod headline;
pub mod liquidation;
pub mod live;
pub mod output;
pub mod sandwich;
pub mod stats;

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use crate::config::RunSpec;
use crate::core::{NANOS_PER_SEC, SkipReason};
use crate::engine::BacktestResult;
use crate::execution::{ExecStats, TradeStatus};
use crate::market::feed::FeedStats;
use stats::{Percentiles, max_drawdown, percentiles_ms, sharpe_interval, sharpe_over};

pub const NET_OF: &str = "net of both venues' taker fees and on-chain gas (gas converted to the quote asset at the fundamental price of its block); \
residual inventory a trade leaves open is valued at what closing it as a taker would fetch";

#[derive(Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub duration_s: f64,
    pub pair: String,
    pub pnl: Pnl,
    pub trades: TradeSummary,
    pub risk: RiskSummary,
    pub opportunities: Opportunities,
    pub execution: ExecStats,
    pub feed: FeedStats,
    pub chain: ChainSummary,
    pub latency_ms: Latencies,
    /// Atomic cross-DEX trades: realised vs predicted gross profit, every mismatch with its cause.
    pub atomic_arbitrage: AtomicSummary,
    pub events_processed: u64,
    pub strategies: Vec<StrategySummary>,
}

#[derive(Debug, Serialize)]
pub struct Pnl {
    pub currency: String,
    pub net_of: &'static str,
    pub net: f64,
    pub gross: f64,
    pub fees: f64,
    pub gas: f64,
    pub net_raw: String,
    pub gross_raw: String,
    pub fees_raw: String,
    pub gas_raw: String,
    pub gas_wei: String,
    /// Mark-to-market change of all balances at the end (includes residuals still open).
    pub final_equity: f64,
    pub predicted_net: f64,
}

#[derive(Debug, Serialize)]
pub struct TradeSummary {
    pub count: usize,
    pub filled: usize,
    pub partial: usize,
    pub leg_failed: usize,
    pub wins: usize,
    pub win_rate: f64,
    pub avg_net: f64,
    /// Base actually matched on both sides ÷ base planned.
    pub fill_ratio: f64,
    pub volume_base: f64,
}

#[derive(Debug, Serialize)]
pub struct RiskSummary {
    /// Annualised, from returns over `sharpe_interval`; null when the run has fewer than three.
    pub sharpe: Option<f64>,
    pub sharpe_interval: &'static str,
    pub sharpe_returns: usize,
    pub max_drawdown: f64,
    pub max_drawdown_pct_of_capital: f64,
    pub capital: f64,
    pub emergency_stop_at_s: Option<f64>,
    pub rejected_emergency_stop: u64,
    pub rejected_position_limit: u64,
    pub rejected_daily_gas_budget: u64,
    pub rejected_in_flight_limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rejected_circuit_open: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rejected_token_not_allowed: u64,
    /// Times the circuit breaker opened.
    #[serde(skip_serializing_if = "is_zero")]
    pub breaker_trips: u64,
    /// Why the emergency stop was pulled: loss, drawdown or operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_stop_cause: Option<&'static str>,
}

/// The Sharpe cell: the figure, or why there is none.
pub fn sharpe_text(r: &RiskSummary) -> String {
    match r.sharpe {
        Some(s) => format!("{s:.2}"),
        None => {
            format!("n/a ({} {} returns; needs {})", r.sharpe_returns, r.sharpe_interval, stats::MIN_SHARPE_RETURNS)
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The risk gate's refusals by reason, those that happened.
pub fn refusals(rejects: &[u64]) -> std::collections::BTreeMap<String, u64> {
    crate::risk::RiskReject::ALL
        .iter()
        .zip(rejects)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| (r.as_str().to_string(), *n))
        .collect()
}

/// What the risk gate did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskOutcome {
    pub rejects: [u64; crate::risk::RiskReject::ALL.len()],
    pub stopped_at: Option<crate::core::SimTime>,
    pub stop_cause: Option<crate::risk::StopCause>,
    pub breaker_trips: u64,
}

impl RiskOutcome {
    pub fn of(g: &crate::risk::RiskGate) -> Self {
        RiskOutcome {
            rejects: g.rejects,
            stopped_at: g.stopped_at,
            stop_cause: g.stop_cause,
            breaker_trips: g.breaker_trips,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Opportunities {
    /// Spreads worth evaluating, each counted once however many quotes it lasts.
    pub episodes: u64,
    /// Evaluations of those spreads (one per quote or block while they last): each is taken or
    /// skipped for a reason.
    pub evaluations: u64,
    pub taken: u64,
    pub skipped: u64,
    pub skipped_by_reason: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct ChainSummary {
    /// With pools in the EVM: our wallet as booked vs as the chain holds it.
    pub wallet: Option<WalletSummary>,
    pub blocks: u64,
    pub noise_swaps: u64,
    pub rival_swaps: u64,
    pub our_swaps: u64,
    pub our_reverts: u64,
    pub final_base_fee_gwei: f64,
    pub bad_prints_published: u64,
}

/// Raw amounts as decimal strings (exact): wrapped base and quote in their token units, native in wei.
#[derive(Debug, Serialize)]
pub struct WalletSummary {
    pub matches: bool,
    pub base_booked_raw: String,
    pub base_on_chain_raw: String,
    pub quote_booked_raw: String,
    pub quote_on_chain_raw: String,
    pub native_booked_wei: String,
    pub native_on_chain_wei: String,
}

#[derive(Debug, Serialize)]
pub struct Latencies {
    /// Modelled one-way latency of our CEX orders.
    pub order_one_way: Percentiles,
    /// Modelled market-data latency.
    pub feed: Percentiles,
    /// Age of the oldest quote a taken trade was decided on.
    pub quote_age_at_decision: Percentiles,
    /// Decision to last leg (or unwind) settled.
    pub decision_to_settled: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct AtomicSummary {
    pub trades: usize,
    /// Realised gross profit equal to the prediction, to the raw unit.
    pub exact: usize,
    pub mismatched: usize,
    pub mismatches: Vec<Mismatch>,
}

#[derive(Debug, Serialize)]
pub struct Mismatch {
    pub trade_id: u32,
    pub predicted_gross_raw: String,
    pub realised_gross_raw: String,
    pub cause: String,
}

/// Why an atomic trade did not realise its prediction.
pub fn mismatch_cause(t: &crate::execution::TradeRecord) -> Option<String> {
    if !t.atomic || t.gross_pnl == t.predicted_gross {
        return None;
    }
    let reverted = t.revert_reason.as_deref().map(|r| format!("reverted ({r})"));
    Some(match (t.touched_before, reverted) {
        (n, Some(r)) if n > 0 => format!("{r}: {n} earlier transaction(s) in the block touched its pools"),
        (_, Some(r)) => format!("{r} with its pools untouched"),
        (n, None) => format!("{n} earlier transaction(s) in the block touched its pools"),
    })
}

#[derive(Debug, Serialize)]
pub struct StrategySummary {
    pub id: &'static str,
    pub enabled: bool,
    pub events_seen: u64,
    pub actions: u64,
    pub errors: u64,
    pub net_pnl: f64,
}

/// Wall-clock figures: these change from run to run and never enter `summary.json`.
#[derive(Debug, Serialize)]
pub struct Timing {
    pub wall_s: f64,
    pub events_per_s: f64,
    /// Wall time inside each strategy's `on_event`, sampled one call in 16.
    pub strategies: Vec<StrategyTiming>,
}

#[derive(Debug, Serialize)]
pub struct StrategyTiming {
    pub id: &'static str,
    pub decision_ns: WallPercentiles,
    /// Sampled mean × calls: the time the strategy spent deciding over the run.
    pub estimated_total_s: f64,
}

#[derive(Debug, Serialize)]
pub struct WallPercentiles {
    pub samples: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

struct Scales {
    quote: f64,
    base: f64,
}

fn q(x: i128, s: &Scales) -> f64 {
    x as f64 / s.quote
}

pub fn summarize(spec: &RunSpec, r: &BacktestResult) -> Summary {
    let sc = Scales { quote: 10f64.powi(spec.quote_decimals as i32), base: 10f64.powi(spec.base_decimals as i32) };
    let t = &r.trades;
    let gross: i128 = t.iter().map(|x| x.gross_pnl).sum();
    let fees: i128 = t.iter().map(|x| x.fees as i128).sum();
    let gas: i128 = t.iter().map(|x| x.gas_quote as i128).sum();
    let gas_wei: u128 = t.iter().map(|x| x.gas_wei).sum();
    let net: i128 = t.iter().map(|x| x.net_pnl).sum();
    let predicted: i128 = t.iter().map(|x| x.predicted_net).sum();
    let wins = t.iter().filter(|x| x.net_pnl > 0).count();
    let planned: u128 = t.iter().map(|x| x.planned_base).sum();
    let matched: u128 = t.iter().map(|x| x.base_bought.min(x.base_sold).min(x.planned_base)).sum();
    let count = |s: TradeStatus| t.iter().filter(|x| x.status == s).count();

    // Capital: everything we started with, at the first mark.
    let first_mark = r.equity.first().map(|p| p.mark).unwrap_or(0) as f64 / sc.quote;
    let base_total = (spec.cex.iter().map(|c| c.balance_base).sum::<u128>() + spec.wallet_base + spec.wallet_native)
        as f64
        / sc.base;
    let quote_total = (spec.cex.iter().map(|c| c.balance_quote).sum::<u128>() + spec.wallet_quote) as f64 / sc.quote;
    let capital = base_total * first_mark + quote_total;
    let curve: Vec<i128> = r.equity.iter().map(|p| p.equity).collect();
    let dd = max_drawdown(&curve) as f64 / sc.quote;
    let (interval, interval_name) = sharpe_interval(spec.duration);
    let points: Vec<(u64, i128)> = r.equity.iter().map(|p| (p.time, p.equity)).collect();
    let sharpe_ratio = sharpe_over(&points, interval, capital * sc.quote);

    let mut skipped_by_reason = serde_json::Map::new();
    let mut opp = crate::core::strategy::OpportunityStats::default();
    for s in &r.strategies {
        opp.episodes += s.stats.opportunities.episodes;
        opp.seen += s.stats.opportunities.seen;
        opp.taken += s.stats.opportunities.taken;
        for (i, n) in s.stats.opportunities.skipped.iter().enumerate() {
            opp.skipped[i] += n;
        }
    }
    for reason in SkipReason::ALL {
        skipped_by_reason.insert(reason.as_str().to_string(), opp.skipped[reason as usize].into());
    }

    Summary {
        scenario: spec.name.clone(),
        description: spec.description.clone(),
        seed: spec.seed,
        duration_s: spec.duration as f64 / NANOS_PER_SEC as f64,
        pair: format!("{}/{}", spec.base_symbol, spec.quote_symbol),
        pnl: Pnl {
            currency: spec.quote_symbol.clone(),
            net_of: NET_OF,
            net: q(net, &sc),
            gross: q(gross, &sc),
            fees: q(fees, &sc),
            gas: q(gas, &sc),
            net_raw: net.to_string(),
            gross_raw: gross.to_string(),
            fees_raw: fees.to_string(),
            gas_raw: gas.to_string(),
            gas_wei: gas_wei.to_string(),
            final_equity: q(r.equity.last().map(|p| p.equity).unwrap_or(0), &sc),
            predicted_net: q(predicted, &sc),
        },
        trades: TradeSummary {
            count: t.len(),
            filled: count(TradeStatus::Filled),
            partial: count(TradeStatus::Partial),
            leg_failed: count(TradeStatus::LegFailed),
            wins,
            win_rate: if t.is_empty() { 0.0 } else { wins as f64 / t.len() as f64 },
            avg_net: if t.is_empty() { 0.0 } else { q(net, &sc) / t.len() as f64 },
            fill_ratio: if planned == 0 { 0.0 } else { matched as f64 / planned as f64 },
            volume_base: t.iter().map(|x| x.base_bought + x.base_sold).sum::<u128>() as f64 / sc.base,
        },
        risk: RiskSummary {
            sharpe: sharpe_ratio.0,
            sharpe_interval: interval_name,
            sharpe_returns: sharpe_ratio.1,
            max_drawdown: dd,
            max_drawdown_pct_of_capital: if capital > 0.0 { dd / capital * 100.0 } else { 0.0 },
            capital,
            emergency_stop_at_s: r.emergency_stop_at.map(|t| t as f64 / NANOS_PER_SEC as f64),
            rejected_emergency_stop: r.risk_rejects[0],
            rejected_position_limit: r.risk_rejects[1],
            rejected_daily_gas_budget: r.risk_rejects[2],
            rejected_in_flight_limit: r.risk_rejects[3],
            rejected_circuit_open: r.risk_rejects[4],
            rejected_token_not_allowed: r.risk_rejects[5],
            breaker_trips: r.risk.breaker_trips,
            emergency_stop_cause: r.risk.stop_cause.map(|c| c.as_str()),
        },
        opportunities: Opportunities {
            episodes: opp.episodes,
            evaluations: opp.seen,
            taken: opp.taken,
            skipped: opp.skipped_total(),
            skipped_by_reason,
        },
        execution: r.exec,
        feed: r.feed,
        chain: ChainSummary {
            wallet: r.wallet.map(|w| WalletSummary {
                matches: w.booked == w.on_chain,
                base_booked_raw: w.booked[0].to_string(),
                base_on_chain_raw: w.on_chain[0].to_string(),
                quote_booked_raw: w.booked[1].to_string(),
                quote_on_chain_raw: w.on_chain[1].to_string(),
                native_booked_wei: w.booked[2].to_string(),
                native_on_chain_wei: w.on_chain[2].to_string(),
            }),
            blocks: r.blocks,
            noise_swaps: r.block_stats.noise_swaps,
            rival_swaps: r.block_stats.rival_swaps,
            our_swaps: r.block_stats.our_swaps,
            our_reverts: r.block_stats.our_reverts,
            final_base_fee_gwei: r.final_base_fee_wei as f64 / 1e9,
            bad_prints_published: r.outliers_published,
        },
        latency_ms: Latencies {
            order_one_way: percentiles_ms(&r.order_latencies),
            feed: stats::sketch_percentiles_ms(&r.feed_latencies),
            quote_age_at_decision: percentiles_ms(&r.quote_ages),
            decision_to_settled: percentiles_ms(&r.completion_latencies),
        },
        atomic_arbitrage: {
            let atomic: Vec<_> = t.iter().filter(|x| x.atomic).collect();
            let mismatches: Vec<Mismatch> = atomic
                .iter()
                .filter_map(|x| {
                    mismatch_cause(x).map(|cause| Mismatch {
                        trade_id: x.id,
                        predicted_gross_raw: x.predicted_gross.to_string(),
                        realised_gross_raw: x.gross_pnl.to_string(),
                        cause,
                    })
                })
                .collect();
            AtomicSummary {
                trades: atomic.len(),
                exact: atomic.len() - mismatches.len(),
                mismatched: mismatches.len(),
                mismatches,
            }
        },
        events_processed: r.events_processed,
        strategies: r
            .strategies
            .iter()
            .enumerate()
            .map(|(i, s)| StrategySummary {
                id: s.id.0,
                enabled: s.enabled,
                events_seen: s.stats.events_seen,
                actions: s.stats.actions,
                errors: s.stats.errors,
                net_pnl: q(t.iter().filter(|x| usize::from(x.strategy) == i).map(|x| x.net_pnl).sum(), &sc),
            })
            .collect(),
    }
}

pub fn timing(r: &BacktestResult) -> Timing {
    let secs = r.wall.run_ns as f64 / 1e9;
    let strategies = r
        .strategies
        .iter()
        .map(|s| {
            let w = &s.wall_ns_samples;
            let mean = w.mean();
            StrategyTiming {
                id: s.id.0,
                decision_ns: WallPercentiles {
                    samples: w.count() as usize,
                    p50: w.quantile(0.5),
                    p99: w.quantile(0.99),
                    max: w.max(),
                },
                estimated_total_s: mean * s.stats.events_seen as f64 / 1e9,
            }
        })
        .collect();
    Timing { wall_s: secs, events_per_s: if secs > 0.0 { r.events_processed as f64 / secs } else { 0.0 }, strategies }
}

/// The files of one run.
pub const REPORT_FILES: [&str; 6] =
    ["summary.json", "summary.md", "trades.parquet", "trades.csv", "equity.parquet", "timing.json"];

/// Writes all report files into `dir`, atomically: into a sibling temporary directory first, then
/// renamed, so a failure never leaves a half-written report.
pub fn write(spec: &RunSpec, r: &BacktestResult, dir: &Path) -> Result<Summary, ReportError> {
    let summary = summarize(spec, r);
    write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("summary.md"), markdown(&summary)).map_err(|e| ReportError::io(tmp, e))?;
        let timing = serde_json::to_string_pretty(&timing(r)).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("timing.json"), timing).map_err(|e| ReportError::io(tmp, e))?;
        let mut trades = trades_frame(spec, r)?;
        write_parquet(&mut trades, &tmp.join("trades.parquet"))?;
        let f = fs::File::create(tmp.join("trades.csv")).map_err(|e| ReportError::io(tmp, e))?;
        CsvWriter::new(f).include_header(true).finish(&mut trades).map_err(|e| ReportError::Other(e.to_string()))?;
        let mut equity = equity_frame(spec, r)?;
        write_parquet(&mut equity, &tmp.join("equity.parquet"))?;
        Ok(())
    })?;
    Ok(summary)
}

pub(crate) use output::write_atomically;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("report: {0}")]
    Other(String),
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io { path: path.to_path_buf(), source }
    }
}

/// Each `(name, frame)` as `name.parquet` and `name.csv` in `dir`.
pub(crate) fn write_tables(dir: &Path, frames: Vec<(&str, DataFrame)>) -> Result<(), ReportError> {
    for (name, mut df) in frames {
        write_parquet(&mut df, &dir.join(format!("{name}.parquet")))?;
        let f = fs::File::create(dir.join(format!("{name}.csv"))).map_err(|e| ReportError::io(dir, e))?;
        CsvWriter::new(f).include_header(true).finish(&mut df).map_err(|e| ReportError::Other(e.to_string()))?;
    }
    Ok(())
}

pub(crate) fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), ReportError> {
    let f = fs::File::create(path).map_err(|e| ReportError::io(path, e))?;
    ParquetWriter::new(f)
        .with_compression(ParquetCompression::Uncompressed)
        .finish(df)
        .map_err(|e| ReportError::Other(e.to_string()))?;
    Ok(())
}

pub(crate) fn trades_frame(spec: &RunSpec, r: &BacktestResult) -> Result<DataFrame, ReportError> {
    let strategy = |i: u16| r.strategies[usize::from(i)].id.0.to_string();
    let venue = |v: crate::core::LegVenue| r.venue_name(v).to_string();
    trades_frame_of(spec, &r.trades, &strategy, &venue)
}

/// One row per trade of the order executor (a backtest's, or a fork run's DEX-CEX trades).
pub(crate) fn trades_frame_of(
    spec: &RunSpec,
    t: &[crate::execution::TradeRecord],
    strategy: &dyn Fn(u16) -> String,
    venue: &dyn Fn(crate::core::LegVenue) -> String,
) -> Result<DataFrame, ReportError> {
    let qs = 10f64.powi(spec.quote_decimals as i32);
    let bs = 10f64.powi(spec.base_decimals as i32);
    let secs = |x: u64| x as f64 / NANOS_PER_SEC as f64;
    let strs = |f: &dyn Fn(&crate::execution::TradeRecord) -> String| t.iter().map(f).collect::<Vec<String>>();
    let quote =
        |f: &dyn Fn(&crate::execution::TradeRecord) -> i128| t.iter().map(|x| f(x) as f64 / qs).collect::<Vec<f64>>();
    let base =
        |f: &dyn Fn(&crate::execution::TradeRecord) -> u128| t.iter().map(|x| f(x) as f64 / bs).collect::<Vec<f64>>();
    let cols = vec![
        Column::new("trade_id".into(), t.iter().map(|x| x.id).collect::<Vec<u32>>()),
        Column::new("decided_at_s".into(), t.iter().map(|x| secs(x.decided_at)).collect::<Vec<f64>>()),
        Column::new("closed_at_s".into(), t.iter().map(|x| secs(x.closed_at)).collect::<Vec<f64>>()),
        Column::new("strategy".into(), strs(&|x| strategy(x.strategy))),
        Column::new("buy_venue".into(), strs(&|x| venue(x.buy_venue))),
        Column::new("sell_venue".into(), strs(&|x| venue(x.sell_venue))),
        Column::new("status".into(), strs(&|x| x.status.as_str().to_string())),
        Column::new("size".into(), base(&|x| x.planned_base)),
        Column::new("base_bought".into(), base(&|x| x.base_bought)),
        Column::new("base_sold".into(), base(&|x| x.base_sold)),
        Column::new("quote_paid".into(), quote(&|x| x.quote_paid as i128)),
        Column::new("quote_received".into(), quote(&|x| x.quote_received as i128)),
        Column::new("fees".into(), quote(&|x| x.fees as i128)),
        Column::new("gas".into(), quote(&|x| x.gas_quote as i128)),
        Column::new("gross_pnl".into(), quote(&|x| x.gross_pnl)),
        Column::new("net_pnl".into(), quote(&|x| x.net_pnl)),
        Column::new("predicted_gross".into(), quote(&|x| x.predicted_gross)),
        Column::new("predicted_net".into(), quote(&|x| x.predicted_net)),
        Column::new("atomic".into(), t.iter().map(|x| x.atomic).collect::<Vec<bool>>()),
        Column::new("touched_before".into(), t.iter().map(|x| x.touched_before).collect::<Vec<u32>>()),
        Column::new("unwinds".into(), t.iter().map(|x| u32::from(x.unwinds)).collect::<Vec<u32>>()),
        Column::new("quote_age_ms".into(), t.iter().map(|x| x.quote_age as f64 / 1e6).collect::<Vec<f64>>()),
        Column::new(
            "settle_ms".into(),
            t.iter().map(|x| (x.closed_at - x.decided_at) as f64 / 1e6).collect::<Vec<f64>>(),
        ),
        Column::new("size_raw".into(), strs(&|x| x.planned_base.to_string())),
        Column::new("base_bought_raw".into(), strs(&|x| x.base_bought.to_string())),
        Column::new("base_sold_raw".into(), strs(&|x| x.base_sold.to_string())),
        Column::new("quote_paid_raw".into(), strs(&|x| x.quote_paid.to_string())),
        Column::new("quote_received_raw".into(), strs(&|x| x.quote_received.to_string())),
        Column::new("fees_raw".into(), strs(&|x| x.fees.to_string())),
        Column::new("gas_wei".into(), strs(&|x| x.gas_wei.to_string())),
        Column::new("gas_raw".into(), strs(&|x| x.gas_quote.to_string())),
        Column::new("residual_base_raw".into(), strs(&|x| x.residual_base.to_string())),
        Column::new("gross_pnl_raw".into(), strs(&|x| x.gross_pnl.to_string())),
        Column::new("net_pnl_raw".into(), strs(&|x| x.net_pnl.to_string())),
        Column::new("predicted_gross_raw".into(), strs(&|x| x.predicted_gross.to_string())),
        Column::new("predicted_net_raw".into(), strs(&|x| x.predicted_net.to_string())),
        // Free text last, so the columns before it split cleanly even in naive CSV readers.
        Column::new("mismatch_cause".into(), strs(&|x| mismatch_cause(x).unwrap_or_default())),
    ];
    DataFrame::new(t.len(), cols).map_err(|e| ReportError::Other(e.to_string()))
}

pub(crate) fn equity_frame(spec: &RunSpec, r: &BacktestResult) -> Result<DataFrame, ReportError> {
    let e = &r.equity;
    let qs = 10f64.powi(spec.quote_decimals as i32);
    let cols = vec![
        Column::new("time_s".into(), e.iter().map(|p| p.time as f64 / NANOS_PER_SEC as f64).collect::<Vec<f64>>()),
        Column::new("block".into(), e.iter().map(|p| p.block).collect::<Vec<u64>>()),
        Column::new("equity".into(), e.iter().map(|p| p.equity as f64 / qs).collect::<Vec<f64>>()),
        Column::new("mark".into(), e.iter().map(|p| p.mark as f64 / qs).collect::<Vec<f64>>()),
        // Built straight into the column (no Vec<String> of every row): the curve grows with the
        // run, and this keeps a long run's peak memory close to a short one's.
        StringChunked::from_iter_values("equity_raw".into(), e.iter().map(|p| p.equity.to_string()))
            .into_series()
            .into(),
    ];
    DataFrame::new(e.len(), cols).map_err(|e| ReportError::Other(e.to_string()))
}

/// The human summary: one page, every figure with its unit and what it is net of.
pub fn markdown(s: &Summary) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let c = &s.pnl.currency;
    let _ = writeln!(m, "# Backtest: {} (seed {})\n", s.scenario, s.seed);
    if !s.description.is_empty() {
        let _ = writeln!(m, "{}\n", s.description.trim());
    }
    let _ = writeln!(m, "{} simulated over {:.0} s; {} events processed.\n", s.pair, s.duration_s, s.events_processed);
    let _ = writeln!(m, "## Profit and loss ({c})\n");
    let _ = writeln!(m, "P&L is {}.\n", s.pnl.net_of);
    let _ = writeln!(m, "| figure | {c} |\n|---|---:|");
    for (k, v) in [
        ("net P&L", s.pnl.net),
        ("gross P&L", s.pnl.gross),
        ("venue fees", s.pnl.fees),
        ("gas", s.pnl.gas),
        ("predicted net (at decision)", s.pnl.predicted_net),
        ("final mark-to-market equity", s.pnl.final_equity),
    ] {
        let _ = writeln!(m, "| {k} | {v:.2} |");
    }
    let t = &s.trades;
    let _ = writeln!(m, "\n## Trades\n");
    let _ = writeln!(
        m,
        "| trades | filled | partial | leg failed | win rate | avg net ({c}) | fill ratio | volume ({}) |",
        s.pair.split('/').next().unwrap_or("")
    );
    let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        m,
        "| {} | {} | {} | {} | {:.1} % | {:.2} | {:.3} | {:.4} |",
        t.count,
        t.filled,
        t.partial,
        t.leg_failed,
        t.win_rate * 100.0,
        t.avg_net,
        t.fill_ratio,
        t.volume_base
    );
    let r = &s.risk;
    let _ = writeln!(m, "\n## Risk\n");
    let _ = writeln!(
        m,
        "| Sharpe (annualised, {} returns) | max drawdown ({c}) | max drawdown (% of capital) | capital ({c}) | emergency stop |",
        r.sharpe_interval
    );
    let _ = writeln!(m, "|---:|---:|---:|---:|---|");
    let stop = r.emergency_stop_at_s.map(|t| format!("at {t:.0} s")).unwrap_or_else(|| "not triggered".to_string());
    let _ = writeln!(
        m,
        "| {} | {:.2} | {:.4} | {:.0} | {} |",
        sharpe_text(r),
        r.max_drawdown,
        r.max_drawdown_pct_of_capital,
        r.capital,
        stop
    );
    let o = &s.opportunities;
    let _ = writeln!(m, "\n## Opportunities\n");
    let _ = writeln!(
        m,
        "{} opportunities (a spread counted once while it lasts), evaluated {} times: taken {}, skipped {}.\n",
        o.episodes, o.evaluations, o.taken, o.skipped
    );
    let _ = writeln!(m, "| skip reason | count |\n|---|---:|");
    for (k, v) in &o.skipped_by_reason {
        let _ = writeln!(m, "| {k} | {v} |");
    }
    let e = &s.execution;
    let _ = writeln!(m, "\n## Execution\n");
    let _ = writeln!(
        m,
        "| legs sent | failed | rejected (timeout) | reverted | partial | unwind orders | residuals left open |"
    );
    let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        m,
        "| {} | {} | {} | {} | {} | {} | {} |",
        e.legs_sent,
        e.legs_failed,
        e.legs_rejected_timeout,
        e.legs_reverted,
        e.legs_partial,
        e.unwind_orders,
        e.residuals_left_open
    );
    let f = &s.feed;
    let _ = writeln!(m, "\n## Market data and chain\n");
    let _ = writeln!(
        m,
        "Quotes received {}, accepted {}, rejected stale {}, late {}, outlier {} ({} bad prints published).",
        f.received, f.accepted, f.rejected_stale, f.rejected_late, f.rejected_outlier, s.chain.bad_prints_published
    );
    let ch = &s.chain;
    let _ = writeln!(
        m,
        "Blocks {}: noise swaps {}, rival arbitrages {}, our swaps {} ({} reverted); final base fee {:.2} gwei.",
        ch.blocks, ch.noise_swaps, ch.rival_swaps, ch.our_swaps, ch.our_reverts, ch.final_base_fee_gwei
    );
    if let Some(w) = &ch.wallet {
        let verdict = if w.matches { "equals the books to the wei" } else { "DIFFERS from the books" };
        let _ = writeln!(
            m,
            "Our wallet on the chain {verdict}: wrapped base {} (booked {}), quote {} (booked {}), gas coin {} wei (booked {}).",
            w.base_on_chain_raw,
            w.base_booked_raw,
            w.quote_on_chain_raw,
            w.quote_booked_raw,
            w.native_on_chain_wei,
            w.native_booked_wei
        );
    }
    let a = &s.atomic_arbitrage;
    if a.trades > 0 {
        let _ = writeln!(m, "\n## Atomic cross-DEX arbitrage\n");
        let _ = writeln!(
            m,
            "{} trades: {} realised exactly the predicted gross profit, {} did not.",
            a.trades, a.exact, a.mismatched
        );
        if !a.mismatches.is_empty() {
            let _ =
                writeln!(m, "\n| trade | predicted gross (raw) | realised gross (raw) | cause |\n|---:|---:|---:|---|");
            for x in &a.mismatches {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} |",
                    x.trade_id, x.predicted_gross_raw, x.realised_gross_raw, x.cause
                );
            }
        }
    }
    let l = &s.latency_ms;
    let _ = writeln!(m, "\n## Modelled latency (ms)\n");
    let _ = writeln!(m, "| path | n | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|");
    for (k, p) in [
        ("order, one way", &l.order_one_way),
        ("market data feed", &l.feed),
        ("quote age at decision", &l.quote_age_at_decision),
        ("decision to settled", &l.decision_to_settled),
    ] {
        let _ = writeln!(m, "| {k} | {} | {:.3} | {:.3} | {:.3} | {:.3} |", p.count, p.p50, p.p90, p.p99, p.max);
    }
    m
}

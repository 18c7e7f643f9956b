//! Reports of a sandwich run: bundles by outcome, sandwich P&L (gross, bribe, gas, net), what each
//! victim lost against executing without us, and our wallet reconciled with the chain.
//! Files: summary.json, summary.md, sandwiches.parquet/.csv, victims.parquet/.csv.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::{ReportError, write_atomically};
use crate::config::RunSpec;
use crate::engine::sandwich::SandwichResult;
use crate::execution::bundle_manager::BundleStats;
use crate::mempool::SwapMethod;
use crate::relay::RelayStats;

pub const FILES: [&str; 6] =
    ["summary.json", "summary.md", "sandwiches.parquet", "sandwiches.csv", "victims.parquet", "victims.csv"];

#[derive(Debug, Serialize)]
pub struct SandwichSummary {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub blocks: u64,
    pub bundles: BundleStats,
    pub relay: RelayCounts,
    /// Pools/blocks where no bundle was built, by reason.
    pub skipped: BTreeMap<String, u64>,
    pub pnl: SandwichPnl,
    pub victims: VictimSummary,
    pub wallet: WalletLine,
    pub final_base_fee_gwei: f64,
    /// Bundles the risk gate refused, by reason (only when it refused any).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub risk_refused: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_stop_at_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct RelayCounts {
    pub received: u64,
    pub rejected: u64,
    pub included: u64,
    pub outbid: u64,
    pub failed: u64,
    pub expired: u64,
}

#[derive(Debug, Serialize)]
pub struct SandwichPnl {
    pub currency: String,
    pub net_of: &'static str,
    /// Quote units at each sandwich's mark (the pool's price when it was decided).
    pub gross: f64,
    pub bribe: f64,
    pub gas: f64,
    pub net: f64,
    /// Exact raw totals: in-token profit per token, and ETH paid (wei).
    pub gross_weth_wei: String,
    pub gross_quote_raw: String,
    pub gas_wei: String,
    pub bribe_wei: String,
    pub predicted_equals_realised: u64,
    pub predicted_differs: u64,
}

#[derive(Debug, Serialize)]
pub struct VictimSummary {
    pub seen: u64,
    pub sandwiched: u64,
    pub succeeded: u64,
    /// What sandwiched victims lost against executing without us, in quote units at the mark.
    pub loss_total: f64,
    pub loss_max: f64,
}

#[derive(Debug, Serialize)]
pub struct WalletLine {
    pub matches: bool,
    pub booked: [String; 3],
    pub on_chain: [String; 3],
    pub initial: [String; 3],
}

pub(crate) fn method_name(m: SwapMethod) -> &'static str {
    match m {
        SwapMethod::ExactTokensForTokens => "swapExactTokensForTokens",
        SwapMethod::TokensForExactTokens => "swapTokensForExactTokens",
        SwapMethod::ExactEthForTokens => "swapExactETHForTokens",
        SwapMethod::EthForExactTokens => "swapETHForExactTokens",
        SwapMethod::ExactTokensForEth => "swapExactTokensForETH",
        SwapMethod::TokensForExactEth => "swapTokensForExactETH",
        SwapMethod::DirectPairSwap => "pair.swap",
    }
}

/// A victim's loss in quote units: quote losses as they are, WETH losses at the pool mark.
fn loss_quote(loss_raw: i128, decimals: u32, quote_decimals: u32, mark: u128) -> f64 {
    if decimals == quote_decimals {
        loss_raw as f64 / 10f64.powi(quote_decimals as i32)
    } else {
        loss_raw as f64 / 1e18 * mark as f64 / 10f64.powi(quote_decimals as i32)
    }
}

pub fn summarize(spec: &RunSpec, r: &SandwichResult) -> SandwichSummary {
    let q = 10f64.powi(spec.quote_decimals as i32);
    let inc: Vec<_> = r.records.iter().filter(|x| x.outcome == "included").collect();
    let gross_q: i128 = inc.iter().map(|x| x.gross_quote()).sum();
    let gas_q: i128 = inc.iter().map(|x| x.gas_quote()).sum();
    let bribe_q: i128 = inc.iter().map(|x| x.bribe_quote()).sum();
    let gross_weth: i128 = inc.iter().filter(|x| x.sells_base).filter_map(|x| x.realised_gross_raw).sum();
    let gross_quote: i128 = inc.iter().filter(|x| !x.sells_base).filter_map(|x| x.realised_gross_raw).sum();
    let gas_wei: u128 = inc.iter().map(|x| x.gas_wei).sum();
    let bribe_wei: u128 = inc.iter().map(|x| x.bribe_wei).sum();
    let exact = inc.iter().filter(|x| x.realised_gross_raw == Some(x.predicted_gross_raw)).count() as u64;
    let mark = r.records.first().map(|x| x.mark).unwrap_or(0);
    let losses: Vec<f64> = r
        .victims
        .iter()
        .filter(|v| v.sandwiched)
        .map(|v| loss_quote(v.loss_raw, v.loss_decimals, spec.quote_decimals, mark))
        .collect();
    let rs: &RelayStats = &r.relay;
    SandwichSummary {
        risk_refused: super::refusals(&r.risk.rejects),
        emergency_stop_at_s: r.risk.stopped_at.map(|t| t as f64 / crate::core::NANOS_PER_SEC as f64),
        scenario: spec.name.clone(),
        description: spec.description.clone(),
        seed: spec.seed,
        blocks: r.blocks,
        bundles: r.bundles.clone(),
        relay: RelayCounts {
            received: rs.received,
            rejected: rs.rejected,
            included: rs.included,
            outbid: rs.outbid,
            failed: rs.failed,
            expired: rs.expired,
        },
        skipped: r.skips.clone(),
        pnl: SandwichPnl {
            currency: spec.quote_symbol.clone(),
            net_of: "gas and bribe (victims' own fees are theirs)",
            gross: gross_q as f64 / q,
            bribe: bribe_q as f64 / q,
            gas: gas_q as f64 / q,
            net: (gross_q - gas_q - bribe_q) as f64 / q,
            gross_weth_wei: gross_weth.to_string(),
            gross_quote_raw: gross_quote.to_string(),
            gas_wei: gas_wei.to_string(),
            bribe_wei: bribe_wei.to_string(),
            predicted_equals_realised: exact,
            predicted_differs: inc.len() as u64 - exact,
        },
        victims: VictimSummary {
            seen: r.victims.len() as u64,
            sandwiched: r.victims.iter().filter(|v| v.sandwiched).count() as u64,
            succeeded: r.victims.iter().filter(|v| v.succeeded).count() as u64,
            loss_total: losses.iter().sum(),
            loss_max: losses.iter().copied().fold(0.0, f64::max),
        },
        wallet: WalletLine {
            matches: r.booked == r.on_chain,
            booked: r.booked.map(|v| v.to_string()),
            on_chain: r.on_chain.map(|v| v.to_string()),
            initial: r.initial.map(|v| v.to_string()),
        },
        final_base_fee_gwei: r.final_base_fee_wei as f64 / 1e9,
    }
}

pub fn markdown(s: &SandwichSummary) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let _ = writeln!(m, "# {} (seed {})\n", s.scenario, s.seed);
    if !s.description.is_empty() {
        let _ = writeln!(m, "{}\n", s.description);
    }
    let _ = writeln!(m, "{} blocks simulated in the EVM; bundles sent over HTTP to the local relay.\n", s.blocks);
    let p = &s.pnl;
    let _ = writeln!(m, "## Sandwich P&L ({}, net of {})\n", p.currency, p.net_of);
    let _ = writeln!(m, "| gross | bribe | gas | net |\n|---:|---:|---:|---:|");
    let _ = writeln!(m, "| {:.2} | {:.2} | {:.2} | {:.2} |", p.gross, p.bribe, p.gas, p.net);
    let _ = writeln!(
        m,
        "\nExact: gross {} WETH wei + {} quote raw; gas {} wei; bribes {} wei. Realised gross equals the simulated prediction in {} of {} included bundles.",
        p.gross_weth_wei,
        p.gross_quote_raw,
        p.gas_wei,
        p.bribe_wei,
        p.predicted_equals_realised,
        p.predicted_equals_realised + p.predicted_differs
    );
    let b = &s.bundles;
    let _ = writeln!(m, "\n## Bundles by outcome\n");
    let _ = writeln!(
        m,
        "| built | simulation failed (never sent) | submitted | replaced (same uuid) | cancelled | included | outbid | failed at the builder | expired | resubmitted |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        m,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        b.built,
        b.simulation_failed,
        b.submitted,
        b.replaced,
        b.cancelled,
        b.included,
        b.outbid,
        b.failed,
        b.expired,
        b.resubmitted
    );
    if !s.skipped.is_empty() {
        let list: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(m, "\nNot sandwiched (per pool and block): {}.", list.join(", "));
    }
    let v = &s.victims;
    let _ = writeln!(m, "\n## Victims\n");
    let _ = writeln!(
        m,
        "{} victim swaps seen, {} succeeded, {} sandwiched. Sandwiched victims lost {:.2} {} in total against executing without us (largest {:.2}).",
        v.seen, v.succeeded, v.sandwiched, v.loss_total, p.currency, v.loss_max
    );
    let w = &s.wallet;
    let verdict = if w.matches { "equals the books to the wei" } else { "DIFFERS from the books" };
    let _ = writeln!(
        m,
        "\nOur wallet on the chain {verdict}: WETH {} (booked {}), quote {} (booked {}), ETH {} wei (booked {}).",
        w.on_chain[0], w.booked[0], w.on_chain[1], w.booked[1], w.on_chain[2], w.booked[2]
    );
    m
}

pub(crate) fn sandwiches_frame(rec: &[crate::engine::sandwich::SandwichRecord]) -> Result<DataFrame, ReportError> {
    let s =
        |f: &dyn Fn(&crate::engine::sandwich::SandwichRecord) -> String| -> Vec<String> { rec.iter().map(f).collect() };
    df!(
        "block" => rec.iter().map(|x| x.block).collect::<Vec<_>>(),
        "pool" => rec.iter().map(|x| x.pool as u32).collect::<Vec<_>>(),
        "direction" => s(&|x| if x.sells_base { "sell_base".into() } else { "buy_base".into() }),
        "victims" => rec.iter().map(|x| x.victims as u32).collect::<Vec<_>>(),
        "front_in_raw" => s(&|x| x.front_in_raw.to_string()),
        "predicted_back_out_raw" => s(&|x| x.predicted_back_out_raw.to_string()),
        "realised_back_out_raw" => s(&|x| x.realised_back_out_raw.map(|v| v.to_string()).unwrap_or_default()),
        "predicted_gross_raw" => s(&|x| x.predicted_gross_raw.to_string()),
        "realised_gross_raw" => s(&|x| x.realised_gross_raw.map(|v| v.to_string()).unwrap_or_default()),
        "gas_wei" => s(&|x| x.gas_wei.to_string()),
        "bribe_wei" => s(&|x| x.bribe_wei.to_string()),
        "net_quote_raw" => s(&|x| x.net_quote().to_string()),
        "success_probability" => rec.iter().map(|x| x.success_probability).collect::<Vec<_>>(),
        "outcome" => s(&|x| x.outcome.to_string()),
        "bundle_hash" => s(&|x| x.bundle_hash.map(|h| h.to_string()).unwrap_or_default()),
        "reason" => s(&|x| x.reason.clone()),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

pub(crate) fn victims_frame(r: &SandwichResult) -> Result<DataFrame, ReportError> {
    let v = &r.victims;
    df!(
        "tx_hash" => v.iter().map(|x| x.tx_hash.to_string()).collect::<Vec<_>>(),
        "block" => v.iter().map(|x| x.block.unwrap_or(0)).collect::<Vec<_>>(),
        "pool" => v.iter().map(|x| x.pool as u32).collect::<Vec<_>>(),
        "method" => v.iter().map(|x| method_name(x.method).to_string()).collect::<Vec<_>>(),
        "direction" => v.iter().map(|x| if x.sells_base { "sell_base" } else { "buy_base" }.to_string()).collect::<Vec<_>>(),
        "sandwiched" => v.iter().map(|x| x.sandwiched).collect::<Vec<_>>(),
        "succeeded" => v.iter().map(|x| x.succeeded).collect::<Vec<_>>(),
        "alone_raw" => v.iter().map(|x| x.alone_raw.map(|a| a.to_string()).unwrap_or_default()).collect::<Vec<_>>(),
        "actual_raw" => v.iter().map(|x| x.actual_raw.map(|a| a.to_string()).unwrap_or_default()).collect::<Vec<_>>(),
        "loss_raw" => v.iter().map(|x| x.loss_raw.to_string()).collect::<Vec<_>>(),
        "loss_decimals" => v.iter().map(|x| x.loss_decimals).collect::<Vec<_>>(),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

pub fn write(spec: &RunSpec, r: &SandwichResult, dir: &Path) -> Result<SandwichSummary, ReportError> {
    let summary = summarize(spec, r);
    write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("summary.md"), markdown(&summary)).map_err(|e| ReportError::io(tmp, e))?;
        super::write_tables(tmp, vec![("sandwiches", sandwiches_frame(&r.records)?), ("victims", victims_frame(r)?)])
    })?;
    Ok(summary)
}

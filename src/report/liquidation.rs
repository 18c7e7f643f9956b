//! Reports of a liquidation run: liquidations by outcome and funding, the profit breakdown (bonus,
//! swap cost, gas, bribe) in USD at the oracle prices of each decision and exactly per asset, bad
//! debt left in the pool, the health-factor timeline around each liquidation (and along a replay),
//! and our wallet reconciled with the chain per token.
//! Files: summary.json, summary.md, liquidations.parquet/.csv, health_timeline.parquet/.csv.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::{ReportError, write_atomically};
use crate::config::RunSpec;
use crate::engine::liquidation::{LiquidationRecord, LiquidationResult};

#[derive(Debug, Serialize)]
pub struct LiquidationSummary {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub blocks: u64,
    pub borrowers: u32,
    pub oracle_updates: u64,
    pub bundles_submitted: u64,
    pub bundles_included: u64,
    pub simulation_failed: u64,
    pub liquidations_by_outcome: BTreeMap<String, u64>,
    /// Included liquidations by how the repayment was funded.
    pub included_by_funding: BTreeMap<String, u64>,
    /// Borrowers a rival liquidated in a block we also went for.
    pub rival_liquidations: u64,
    /// Liquidatable borrowers passed over, by reason: one count per evaluation (a borrower is
    /// evaluated again only after an update, a replay row or a landed bundle).
    pub skipped: BTreeMap<String, u64>,
    pub pnl: LiquidationPnl,
    pub unhealthy_at_end: u64,
    pub unhealthy_unprofitable_at_end: u64,
    pub bad_debt_usd: f64,
    pub bad_debt_base_raw: String,
    pub wallet_matches: bool,
    /// Per token (then ETH): raw at the start, as booked, on the chain.
    pub balances: Vec<Balance>,
    /// A replay's included liquidations by the recorded block of the row in effect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replay_rows: Vec<ReplayRowSummary>,
    /// Bundles the risk gate refused, by reason (only when it refused any).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub risk_refused: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_stop_at_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ReplayRowSummary {
    pub source_block: u64,
    pub liquidations: u64,
    /// Lowest health factor we liquidated at (wad).
    pub lowest_health_factor: f64,
    pub pairs: Vec<String>,
    pub gross: f64,
    pub net: f64,
}

#[derive(Debug, Serialize)]
pub struct Balance {
    pub asset: String,
    pub initial: String,
    pub booked: String,
    pub on_chain: String,
}

#[derive(Debug, Serialize)]
pub struct LiquidationPnl {
    pub currency: &'static str,
    pub net_of: &'static str,
    /// What the liquidations left us before gas and bribe, valued at the oracle price of each
    /// decision: the bonus (collateral value beyond the debt repaid) minus the swap cost (what
    /// selling it, or paying a flash swap back with it, cost on the DEX).
    pub gross: f64,
    pub bonus: f64,
    pub swap_cost: f64,
    pub gas: f64,
    pub bribe: f64,
    pub net: f64,
    /// Exact gross per asset (raw units of the asset the profit arrived in).
    pub gross_raw: BTreeMap<String, String>,
    pub gas_wei: String,
    pub bribe_wei: String,
}

pub(crate) fn usd(base: i128) -> f64 {
    base as f64 / 1e8
}

fn wei_base(wei: u128, eth_price: u128) -> i128 {
    (alloy_primitives::U256::from(wei) * alloy_primitives::U256::from(eth_price)
        / alloy_primitives::U256::from(10u128.pow(18)))
    .saturating_to::<i128>()
}

pub fn summarize(spec: &RunSpec, r: &LiquidationResult) -> LiquidationSummary {
    let inc: Vec<&LiquidationRecord> = r.records.iter().filter(|x| x.outcome == "included").collect();
    let gross: i128 = inc.iter().map(|x| x.gross_base).sum();
    let bonus: i128 = inc.iter().map(|x| x.bonus_base).sum();
    let gas: i128 = inc.iter().map(|x| wei_base(x.gas_wei, x.eth_price)).sum();
    let bribe: i128 = inc.iter().map(|x| wei_base(x.bribe_wei, x.eth_price)).sum();
    let mut gross_raw: BTreeMap<String, i128> = BTreeMap::new();
    for x in &inc {
        *gross_raw.entry(r.symbols[x.profit_asset].clone()).or_default() += x.realised_gross.unwrap_or_default();
    }
    let mut by = BTreeMap::new();
    let mut funding = BTreeMap::new();
    for x in &r.records {
        *by.entry(x.outcome.to_string()).or_insert(0u64) += 1;
    }
    for x in &inc {
        *funding.entry(x.funding.name().to_string()).or_insert(0u64) += 1;
    }
    let names = r.symbols.iter().cloned().chain(std::iter::once("ETH".to_string()));
    let balances = names
        .enumerate()
        .map(|(i, asset)| Balance {
            asset,
            initial: r.initial[i].to_string(),
            booked: r.booked[i].to_string(),
            on_chain: r.on_chain[i].to_string(),
        })
        .collect();
    let mut replay_rows: Vec<ReplayRowSummary> = Vec::new();
    for x in inc.iter().filter(|x| x.source_block.is_some()) {
        let block = x.source_block.unwrap_or_default();
        if replay_rows.last().is_none_or(|r| r.source_block != block) {
            replay_rows.push(ReplayRowSummary {
                source_block: block,
                liquidations: 0,
                lowest_health_factor: f64::INFINITY,
                pairs: Vec::new(),
                gross: 0.0,
                net: 0.0,
            });
        }
        let Some(row) = replay_rows.last_mut() else { continue };
        row.liquidations += 1;
        row.lowest_health_factor = row.lowest_health_factor.min(x.health_before.saturating_to::<u128>() as f64 / 1e18);
        let pair = format!("{}/{} ({})", r.symbols[x.collateral], r.symbols[x.debt], x.funding.name());
        if !row.pairs.contains(&pair) {
            row.pairs.push(pair);
        }
        row.gross += usd(x.gross_base);
        row.net += usd(x.gross_base - wei_base(x.gas_wei, x.eth_price) - wei_base(x.bribe_wei, x.eth_price));
    }
    LiquidationSummary {
        risk_refused: super::refusals(&r.risk.rejects),
        emergency_stop_at_s: r.risk.stopped_at.map(|t| t as f64 / crate::core::NANOS_PER_SEC as f64),
        scenario: spec.name.clone(),
        description: spec.description.clone(),
        seed: spec.seed,
        blocks: r.blocks,
        borrowers: r.borrowers,
        oracle_updates: r.oracle_updates,
        bundles_submitted: r.bundles_submitted,
        bundles_included: r.bundles_included,
        simulation_failed: r.simulation_failed,
        liquidations_by_outcome: by,
        included_by_funding: funding,
        rival_liquidations: r.rival_liquidations,
        skipped: r.skips.clone(),
        pnl: LiquidationPnl {
            currency: "USD",
            net_of: "gas and bribe (gross is the bonus net of the DEX swap cost)",
            gross: usd(gross),
            bonus: usd(bonus),
            swap_cost: usd(bonus - gross),
            gas: usd(gas),
            bribe: usd(bribe),
            net: usd(gross - gas - bribe),
            gross_raw: gross_raw.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
            gas_wei: inc.iter().map(|x| x.gas_wei).sum::<u128>().to_string(),
            bribe_wei: inc.iter().map(|x| x.bribe_wei).sum::<u128>().to_string(),
        },
        unhealthy_at_end: r.unhealthy_at_end,
        unhealthy_unprofitable_at_end: r.unhealthy_unprofitable_at_end,
        bad_debt_usd: r.bad_debt_base as f64 / 1e8,
        bad_debt_base_raw: r.bad_debt_base.to_string(),
        wallet_matches: r.booked == r.on_chain,
        balances,
        replay_rows,
    }
}

pub fn markdown(s: &LiquidationSummary) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    let _ = writeln!(m, "# {} (seed {})\n", s.scenario, s.seed);
    if !s.description.is_empty() {
        let _ = writeln!(m, "{}\n", s.description);
    }
    let _ = writeln!(
        m,
        "{} borrowers, {} blocks, {} oracle updates; {} bundles sent over HTTP to the local relay, {} included, {} never sent after a failed simulation.\n",
        s.borrowers, s.blocks, s.oracle_updates, s.bundles_submitted, s.bundles_included, s.simulation_failed
    );
    let p = &s.pnl;
    let _ = writeln!(m, "## Liquidation P&L ({}, net of {})\n", p.currency, p.net_of);
    let _ = writeln!(m, "| bonus | swap cost | gross | gas | bribe | net |\n|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        m,
        "| {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        p.bonus, p.swap_cost, p.gross, p.gas, p.bribe, p.net
    );
    let raw: Vec<String> = p.gross_raw.iter().map(|(k, v)| format!("{v} raw {k}")).collect();
    if !raw.is_empty() {
        let _ = writeln!(m, "\nExact gross by the asset it arrived in: {}.", raw.join(", "));
    }
    let list = |x: &BTreeMap<String, u64>| -> String {
        if x.is_empty() {
            "none".into()
        } else {
            x.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(m, "\nLiquidations by outcome: {}.", list(&s.liquidations_by_outcome));
    let _ = writeln!(m, "Included by funding: {}.", list(&s.included_by_funding));
    if s.rival_liquidations > 0 {
        let _ = writeln!(m, "Rival liquidators took {} borrowers we went for.", s.rival_liquidations);
    }
    if !s.skipped.is_empty() {
        let _ = writeln!(m, "Liquidatable borrowers passed over (evaluations): {}.", list(&s.skipped));
    }
    let _ = writeln!(
        m,
        "\nAt the end: {} borrowers below HF 1 ({} of them with no liquidation worth its gas); bad debt (debt above collateral value) {:.2} USD.",
        s.unhealthy_at_end, s.unhealthy_unprofitable_at_end, s.bad_debt_usd
    );
    if !s.replay_rows.is_empty() {
        let _ = writeln!(
            m,
            "\n## When the replayed borrower would have been liquidated\n\n| recorded block | liquidations | lowest HF | pairs (funding) | gross | net |\n|---:|---:|---:|---|---:|---:|"
        );
        for r in &s.replay_rows {
            let _ = writeln!(
                m,
                "| {} | {} | {:.4} | {} | {:.2} | {:.2} |",
                r.source_block,
                r.liquidations,
                r.lowest_health_factor,
                r.pairs.join(", "),
                r.gross,
                r.net
            );
        }
    }
    let verdict = if s.wallet_matches { "equals the books to the wei" } else { "DIFFERS from the books" };
    let _ = writeln!(
        m,
        "\nOur wallet on the chain {verdict}:\n\n| asset | start | booked | on chain |\n|---|---:|---:|---:|"
    );
    for b in &s.balances {
        let _ = writeln!(m, "| {} | {} | {} | {} |", b.asset, b.initial, b.booked, b.on_chain);
    }
    m
}

pub(crate) fn frame(r: &LiquidationResult) -> Result<DataFrame, ReportError> {
    records_frame(&r.records, &r.symbols)
}

/// One row per liquidation record; `symbols` names the reserves by index.
pub(crate) fn records_frame(x: &[LiquidationRecord], symbols: &[String]) -> Result<DataFrame, ReportError> {
    let st = |f: &dyn Fn(&LiquidationRecord) -> String| -> Vec<String> { x.iter().map(f).collect() };
    let sym = |i: usize| symbols.get(i).cloned().unwrap_or_default();
    df!(
        "block" => x.iter().map(|v| v.block).collect::<Vec<_>>(),
        "borrower" => st(&|v| v.borrower.to_string()),
        "collateral" => st(&|v| sym(v.collateral)),
        "debt" => st(&|v| sym(v.debt)),
        "funding" => st(&|v| v.funding.name().to_string()),
        "health_before" => st(&|v| v.health_before.to_string()),
        "health_after" => st(&|v| v.health_after.map(|h| h.to_string()).unwrap_or_default()),
        "debt_to_cover_raw" => st(&|v| v.debt_to_cover.to_string()),
        "repaid_raw" => st(&|v| v.predicted_repaid.to_string()),
        "seized_raw" => st(&|v| v.predicted_seized.to_string()),
        "proceeds_raw" => st(&|v| v.predicted_proceeds.to_string()),
        "profit_asset" => st(&|v| sym(v.profit_asset)),
        "realised_gross_raw" => st(&|v| v.realised_gross.map(|g| g.to_string()).unwrap_or_default()),
        "gross_usd" => x.iter().map(|v| usd(v.gross_base)).collect::<Vec<_>>(),
        "bonus_usd" => x.iter().map(|v| usd(v.bonus_base)).collect::<Vec<_>>(),
        "gas_wei" => st(&|v| v.gas_wei.to_string()),
        "bribe_wei" => st(&|v| v.bribe_wei.to_string()),
        "outcome" => st(&|v| v.outcome.to_string()),
        "reason" => st(&|v| v.reason.clone()),
        "source_block" => x.iter().map(|v| v.source_block).collect::<Vec<_>>(),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

pub(crate) fn timeline_frame(r: &LiquidationResult) -> Result<DataFrame, ReportError> {
    let t = &r.timeline;
    df!(
        "borrower" => t.iter().map(|p| p.borrower.to_string()).collect::<Vec<_>>(),
        "block" => t.iter().map(|p| p.block).collect::<Vec<_>>(),
        "health_factor_raw" => t.iter().map(|p| p.health_factor.to_string()).collect::<Vec<_>>(),
        "health_factor" => t.iter().map(|p| {
            if p.health_factor == alloy_primitives::U256::MAX { f64::INFINITY } else { p.health_factor.saturating_to::<u128>() as f64 / 1e18 }
        }).collect::<Vec<_>>(),
        "event" => t.iter().map(|p| p.event.to_string()).collect::<Vec<_>>(),
        // In a replay, the recorded (mainnet) block of the row in effect.
        "source_block" => t.iter().map(|p| {
            let k = r.replay_blocks.partition_point(|&(ours, _)| ours <= p.block);
            k.checked_sub(1).map(|k| r.replay_blocks[k].1)
        }).collect::<Vec<_>>(),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

pub fn write(spec: &RunSpec, r: &LiquidationResult, dir: &Path) -> Result<LiquidationSummary, ReportError> {
    let summary = summarize(spec, r);
    write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("summary.md"), markdown(&summary)).map_err(|e| ReportError::io(tmp, e))?;
        super::write_tables(tmp, vec![("liquidations", frame(r)?), ("health_timeline", timeline_frame(r)?)])
    })?;
    Ok(summary)
}

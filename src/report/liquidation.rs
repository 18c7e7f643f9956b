//! Reports of a liquidation run: liquidations by outcome, the profit breakdown (bonus captured as
//! sale proceeds minus debt repaid, gas, bribe), bad debt left in the pool, each liquidated
//! borrower's health factor before and after, and our wallet reconciled with the chain.
//! Files: summary.json, summary.md, liquidations.parquet/.csv.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::{ReportError, write_atomically, write_parquet};
use crate::config::RunSpec;
use crate::engine::liquidation::LiquidationResult;

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
    /// Liquidatable borrowers passed over in a block, by reason.
    pub skipped: BTreeMap<String, u64>,
    pub pnl: LiquidationPnl,
    pub unhealthy_at_end: u64,
    pub unhealthy_unprofitable_at_end: u64,
    pub bad_debt: f64,
    pub bad_debt_raw: String,
    pub wallet_matches: bool,
    pub booked: [String; 3],
    pub on_chain: [String; 3],
    pub initial: [String; 3],
}

#[derive(Debug, Serialize)]
pub struct LiquidationPnl {
    pub currency: String,
    pub net_of: &'static str,
    /// Sale proceeds − debt repaid (the bonus net of the DEX cost of selling the collateral).
    pub gross: f64,
    /// The two parts of the gross, at the oracle price: the collateral's value beyond the debt
    /// repaid (the liquidation bonus), and what selling it on the pool cost (fee and price impact).
    pub bonus: f64,
    pub swap_cost: f64,
    pub gas: f64,
    pub bribe: f64,
    pub net: f64,
    pub gross_raw: String,
    pub gas_wei: String,
    pub bribe_wei: String,
}

pub fn summarize(spec: &RunSpec, r: &LiquidationResult) -> LiquidationSummary {
    let q = 10f64.powi(spec.quote_decimals as i32);
    let inc: Vec<_> = r.records.iter().filter(|x| x.outcome == "included").collect();
    let gross: i128 = inc.iter().filter_map(|x| x.realised_gross).sum();
    let gas_q: i128 = inc.iter().map(|x| crate::core::wei_to_quote(x.gas_wei, x.mark) as i128).sum();
    let bribe_q: i128 = inc.iter().map(|x| crate::core::wei_to_quote(x.bribe_wei, x.mark) as i128).sum();
    // Seized collateral valued at the oracle price of its block (quote raw per whole ETH).
    let value = |x: &&crate::engine::liquidation::LiquidationRecord| {
        (x.predicted_seized * alloy_primitives::U256::from(x.mark) / alloy_primitives::U256::from(10u128.pow(18)))
            .saturating_to::<i128>()
    };
    let bonus: i128 = inc.iter().map(|x| value(x) - x.predicted_repaid.saturating_to::<i128>()).sum();
    let swap_cost: i128 = inc.iter().map(|x| value(x) - x.predicted_proceeds.saturating_to::<i128>()).sum();
    let mut by = BTreeMap::new();
    for x in &r.records {
        *by.entry(x.outcome.to_string()).or_insert(0u64) += 1;
    }
    LiquidationSummary {
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
        skipped: r.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        pnl: LiquidationPnl {
            currency: spec.quote_symbol.clone(),
            net_of: "gas and bribe; gross is sale proceeds minus debt repaid",
            gross: gross as f64 / q,
            bonus: bonus as f64 / q,
            swap_cost: swap_cost as f64 / q,
            gas: gas_q as f64 / q,
            bribe: bribe_q as f64 / q,
            net: (gross - gas_q - bribe_q) as f64 / q,
            gross_raw: gross.to_string(),
            gas_wei: inc.iter().map(|x| x.gas_wei).sum::<u128>().to_string(),
            bribe_wei: inc.iter().map(|x| x.bribe_wei).sum::<u128>().to_string(),
        },
        unhealthy_at_end: r.unhealthy_at_end,
        unhealthy_unprofitable_at_end: r.unhealthy_unprofitable_at_end,
        bad_debt: r.bad_debt_quote as f64 / q,
        bad_debt_raw: r.bad_debt_quote.to_string(),
        wallet_matches: r.booked == r.on_chain,
        booked: r.booked.map(|v| v.to_string()),
        on_chain: r.on_chain.map(|v| v.to_string()),
        initial: r.initial.map(|v| v.to_string()),
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
    let list: Vec<String> = s.liquidations_by_outcome.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ =
        writeln!(m, "\nLiquidations by outcome: {}.", if list.is_empty() { "none".into() } else { list.join(", ") });
    if !s.skipped.is_empty() {
        let sk: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(m, "Liquidatable borrowers passed over (borrower-blocks): {}.", sk.join(", "));
    }
    let _ = writeln!(
        m,
        "\nAt the end: {} borrowers below HF 1 ({} of them with no liquidation worth its gas); bad debt (debt above collateral value) {:.2} {}.",
        s.unhealthy_at_end, s.unhealthy_unprofitable_at_end, s.bad_debt, p.currency
    );
    let verdict = if s.wallet_matches { "equals the books to the wei" } else { "DIFFERS from the books" };
    let _ = writeln!(
        m,
        "\nOur wallet on the chain {verdict}: WETH {} (booked {}), quote {} (booked {}), ETH {} wei (booked {}).",
        s.on_chain[0], s.booked[0], s.on_chain[1], s.booked[1], s.on_chain[2], s.booked[2]
    );
    m
}

fn frame(r: &LiquidationResult) -> Result<DataFrame, ReportError> {
    let x = &r.records;
    let st = |f: &dyn Fn(&crate::engine::liquidation::LiquidationRecord) -> String| -> Vec<String> {
        x.iter().map(f).collect()
    };
    df!(
        "block" => x.iter().map(|v| v.block).collect::<Vec<_>>(),
        "borrower" => st(&|v| v.borrower.to_string()),
        "health_before" => st(&|v| v.health_before.to_string()),
        "health_after" => st(&|v| v.health_after.map(|h| h.to_string()).unwrap_or_default()),
        "debt_to_cover_raw" => st(&|v| v.debt_to_cover.to_string()),
        "repaid_raw" => st(&|v| v.predicted_repaid.to_string()),
        "seized_raw" => st(&|v| v.predicted_seized.to_string()),
        "proceeds_raw" => st(&|v| v.predicted_proceeds.to_string()),
        "realised_gross_raw" => st(&|v| v.realised_gross.map(|g| g.to_string()).unwrap_or_default()),
        "gas_wei" => st(&|v| v.gas_wei.to_string()),
        "bribe_wei" => st(&|v| v.bribe_wei.to_string()),
        "outcome" => st(&|v| v.outcome.to_string()),
        "reason" => st(&|v| v.reason.clone()),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

pub fn write(spec: &RunSpec, r: &LiquidationResult, dir: &Path) -> Result<LiquidationSummary, ReportError> {
    let summary = summarize(spec, r);
    write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("summary.md"), markdown(&summary)).map_err(|e| ReportError::io(tmp, e))?;
        let mut df = frame(r)?;
        write_parquet(&mut df, &tmp.join("liquidations.parquet"))?;
        let f = fs::File::create(tmp.join("liquidations.csv")).map_err(|e| ReportError::io(tmp, e))?;
        CsvWriter::new(f).include_header(true).finish(&mut df).map_err(|e| ReportError::Other(e.to_string()))?;
        Ok(())
    })?;
    Ok(summary)
}

//! The report of a run with every strategy on one wallet: one summary with a section per strategy
//! family (each the standalone report's own summary, so its fields mean what they mean there),
//! the P&L of every strategy with what it is net of and their total, and the shared wallet's
//! reconciliation per token; each section's tables beside it (`market_trades`, `sandwiches`,
//! `victims`, `liquidations`, …).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::headline::headlines;
use super::liquidation::LiquidationSummary;
use super::sandwich::SandwichSummary;
use super::{ReportError, Summary, write_atomically};
use crate::config::RunSpec;
use crate::core::NANOS_PER_SEC;
use crate::engine::all::AllResult;

#[derive(Debug, Serialize)]
pub struct AllSummary {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub duration_s: f64,
    pub pnl: CombinedPnl,
    pub wallet: WalletSummary,
    pub events_processed: u64,
    pub sections: Sections,
}

#[derive(Debug, Serialize)]
pub struct CombinedPnl {
    pub currency: String,
    pub net_of: String,
    /// The sum of `by_strategy`.
    pub net: f64,
    pub by_strategy: Vec<StrategyPnl>,
}

#[derive(Debug, Serialize)]
pub struct StrategyPnl {
    pub strategy: String,
    pub net: f64,
    pub currency: String,
    pub net_of: String,
}

#[derive(Debug, Serialize)]
pub struct WalletSummary {
    /// Booked (genesis plus every strategy's realised changes) equals the chain in every token.
    pub matches: bool,
    pub tokens: Vec<TokenLine>,
}

#[derive(Debug, Serialize)]
pub struct TokenLine {
    pub token: String,
    pub initial: String,
    pub booked: String,
    pub on_chain: String,
    /// Each strategy family's realised change (raw units, signed).
    pub changes: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
pub struct Sections {
    /// Micro-arbitrage and cross-DEX on the CEX venues and EVM pools.
    pub market: Summary,
    pub sandwich: SandwichSummary,
    pub liquidation: LiquidationSummary,
}

pub fn summarize(spec: &RunSpec, r: &AllResult) -> AllSummary {
    let market = super::summarize(spec, &r.market);
    let sandwich = super::sandwich::summarize(spec, &r.sandwich);
    let liquidation = super::liquidation::summarize(spec, &r.liquidation);
    let mut by_strategy = Vec::new();
    for section in [serde_json::to_value(&market), serde_json::to_value(&sandwich), serde_json::to_value(&liquidation)]
        .into_iter()
        .flatten()
    {
        for h in headlines(&section) {
            by_strategy.push(StrategyPnl { strategy: h.strategy, net: h.net, currency: h.currency, net_of: h.net_of });
        }
    }
    let net = by_strategy.iter().map(|s| s.net).sum();
    let w = &r.wallet;
    let tokens = (0..w.symbols.len())
        .map(|t| TokenLine {
            token: w.symbols[t].clone(),
            initial: w.initial[t].to_string(),
            booked: w.booked[t].to_string(),
            on_chain: w.on_chain.get(t).map(|v| v.to_string()).unwrap_or_default(),
            changes: w.changes.iter().map(|(f, c)| (*f, c.get(t).copied().unwrap_or(0).to_string())).collect(),
        })
        .collect();
    AllSummary {
        scenario: spec.name.clone(),
        description: spec.description.clone(),
        seed: spec.seed,
        duration_s: spec.duration as f64 / NANOS_PER_SEC as f64,
        pnl: CombinedPnl {
            currency: spec.quote_symbol.clone(),
            net_of: "net of each strategy's own costs (see by_strategy); liquidation figures are in USD at the \
                     oracle's prices, the quote token counted at 1 USD"
                .into(),
            net,
            by_strategy,
        },
        wallet: WalletSummary { matches: w.matches(), tokens },
        events_processed: r.events_processed,
        sections: Sections { market, sandwich, liquidation },
    }
}

pub fn markdown(s: &AllSummary) -> String {
    let mut md = format!(
        "# {} (seed {}): every strategy on one wallet\n\n{}\n\n| strategy | net P&L | net of |\n|---|---:|---|\n",
        s.scenario, s.seed, s.description
    );
    for p in &s.pnl.by_strategy {
        md += &format!("| {} | {:.2} {} | {} |\n", p.strategy, p.net, p.currency, p.net_of);
    }
    md += &format!("| **total** | **{:.2} {}** | the sum of the rows |\n\n", s.pnl.net, s.pnl.currency);
    md += &format!(
        "Wallet (booked = genesis + every strategy's realised changes) equals the chain: **{}**\n\n\
         | token | initial | booked | on chain |\n|---|---:|---:|---:|\n",
        if s.wallet.matches { "yes" } else { "NO" }
    );
    for t in &s.wallet.tokens {
        md += &format!("| {} | {} | {} | {} |\n", t.token, t.initial, t.booked, t.on_chain);
    }
    md += "\n---\n\n";
    md += &super::markdown(&s.sections.market);
    md += "\n---\n\n";
    md += &super::sandwich::markdown(&s.sections.sandwich);
    md += "\n---\n\n";
    md += &super::liquidation::markdown(&s.sections.liquidation);
    md
}

pub fn write(spec: &RunSpec, r: &AllResult, dir: &Path) -> Result<AllSummary, ReportError> {
    let summary = summarize(spec, r);
    write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("summary.md"), markdown(&summary)).map_err(|e| ReportError::io(tmp, e))?;
        let timing = serde_json::to_string_pretty(&super::timing(&r.market))
            .map_err(|e| ReportError::Other(e.to_string()))?
            + "\n";
        fs::write(tmp.join("timing.json"), timing).map_err(|e| ReportError::io(tmp, e))?;
        let frames = vec![
            ("market_trades", super::trades_frame(spec, &r.market)?),
            ("market_equity", super::equity_frame(spec, &r.market)?),
            ("sandwiches", super::sandwich::sandwiches_frame(&r.sandwich.records)?),
            ("victims", super::sandwich::victims_frame(&r.sandwich)?),
            ("liquidations", super::liquidation::frame(&r.liquidation)?),
            ("health_timeline", super::liquidation::timeline_frame(&r.liquidation)?),
        ];
        super::write_tables(tmp, frames)
    })?;
    Ok(summary)
}

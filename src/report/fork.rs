//! The report of a fork dry run: what the strategies would have sent at each block (bundles.jsonl
//! holds the exact bundles, raw transactions included), predicted P&L net of gas and bribe, what
//! the node was asked, and each opportunity against the block as it landed ("we would have made
//! X; a rival made Y"). Files: summary.json, summary.md, bundles.jsonl, sandwiches.parquet/.csv,
//! opportunities.parquet/.csv; with `[fork.lending]` also liquidations.parquet/.csv and
//! liquidation_opportunities.parquet/.csv. Written whole or not at all.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use alloy_primitives::{Address, B256};
use polars::prelude::*;
use serde::Serialize;

use super::{ReportError, write_atomically};
use crate::config::RunSpec;
use crate::engine::fork::{
    AtomicRecord, ForkCrossDexResult, ForkLendingResult, ForkMicroResult, ForkResult, RivalLiquidation, RivalSandwich,
    WouldSend,
};
use crate::execution::bundle_manager::BundleStats;
use crate::strategies::liquidation_strategy::LiquidationRecord;

pub const FILES: [&str; 7] = [
    "summary.json",
    "summary.md",
    "bundles.jsonl",
    "sandwiches.parquet",
    "sandwiches.csv",
    "opportunities.parquet",
    "opportunities.csv",
];

#[derive(Debug, Serialize)]
pub struct ForkSummary {
    pub scenario: String,
    pub seed: u64,
    pub chain_id: u64,
    pub first_block: u64,
    pub first_block_hash: String,
    pub blocks: u64,
    pub reads: Reads,
    pub pending: PendingCounts,
    pub bundles: BundleStats,
    pub skipped: BTreeMap<String, u64>,
    /// Bundles the dry-run sink holds at their block (replaced or cancelled ones left out).
    pub would_send: WouldSendSummary,
    pub rivals: RivalSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liquidation: Option<LiquidationForkSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_dex: Option<CrossDexForkSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub micro_arbitrage: Option<MicroForkSummary>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub risk_refused: BTreeMap<String, u64>,
    /// Did the sandwich strategy run (its sections of summary.md)?
    #[serde(skip)]
    pub sandwich: bool,
}

#[derive(Debug, Serialize)]
pub struct Reads {
    pub pinned_blocks: u64,
    /// Requests that reached the node or the recording (a JSON-RPC batch is one).
    pub rpc_requests: u64,
    pub account_fetches: u64,
    pub storage_requests: u64,
    pub storage_slots: u64,
    pub block_hash_fetches: u64,
    pub cache_hits: u64,
    /// Requests made on the decision path (strategies deciding, bundles simulated): 0 once warm.
    pub decision_requests: u64,
}

#[derive(Debug, Serialize)]
pub struct PendingCounts {
    /// "next_block" (each walked block's transactions, offered at its parent), "txpool" (the
    /// node's pending pool over its latest block) or "subscribe" (what it announced while we
    /// listened, over its latest block then).
    pub flow: &'static str,
    pub offered: u64,
    pub to_our_pools: u64,
    pub announced: u64,
}

#[derive(Debug, Serialize)]
pub struct WouldSendSummary {
    pub bundles: u64,
    pub currency: String,
    pub net_of: &'static str,
    /// Quote units at each bundle's mark (the pool's price when it was decided).
    pub predicted_gross: f64,
    pub gas: f64,
    pub bribe: f64,
    pub predicted_net: f64,
    /// Exact: gross per token (raw units) and gas and bribes (wei).
    pub gross_weth_wei: String,
    pub gross_quote_raw: String,
    pub gas_wei: String,
    pub bribe_wei: String,
}

#[derive(Debug, Serialize)]
pub struct RivalSummary {
    /// Sandwiches of our pools' swaps in the blocks as they landed.
    pub sandwiches: u64,
    /// Of the victims we would have wrapped, how many a rival sandwiched.
    pub our_victims_taken: u64,
    pub searchers: Vec<String>,
    /// Their gas (priority fees included) and direct payments to the fee recipient, wei; the
    /// payments are null when the node gave no call traces.
    pub gas_wei: String,
    pub direct_bribes_wei: Option<String>,
}

/// The liquidation strategy's would-be bundles against what landed, in the oracle's base currency
/// (USD, 8 decimals, shown as USD).
#[derive(Debug, Serialize)]
pub struct LiquidationForkSummary {
    pub borrowers_watched: u64,
    /// Liquidations in bundles the dry-run sink holds at their block.
    pub liquidations: u64,
    pub bundles: u64,
    pub net_of: &'static str,
    /// Seized collateral's value plus sale proceeds beyond the debt repaid, at the decision's
    /// oracle prices; gas and bribes at ETH's oracle price then.
    pub predicted_gross_usd: f64,
    pub gas_usd: f64,
    pub bribe_usd: f64,
    pub predicted_net_usd: f64,
    pub gas_wei: String,
    pub bribe_wei: String,
    /// Liquidations of the pool that landed in the walked blocks, whoever made them.
    pub rival_liquidations: u64,
    /// Of the borrowers we would have liquidated at a block, those someone liquidated in it.
    pub our_borrowers_taken: u64,
    pub liquidators: Vec<String>,
    pub rival_bonus_usd: f64,
    pub rival_gas_wei: String,
    pub skipped: BTreeMap<String, u64>,
}

/// The cross-DEX strategy's would-be arbitrages (quote units at the pools' prices).
#[derive(Debug, Serialize)]
pub struct CrossDexForkSummary {
    /// Spreads after both fees that opened (episodes) and the times one was looked at.
    pub episodes: u64,
    pub seen: u64,
    pub taken: u64,
    pub skipped: BTreeMap<String, u64>,
    /// Arbitrages the dry-run sink holds, and those whose simulation failed.
    pub would_send: u64,
    pub simulation_failed: u64,
    pub currency: String,
    pub net_of: &'static str,
    /// Predicted gross (simulated to the wei), the strategy's gas estimate, and what the
    /// simulation's gas cost at the pools' price.
    pub predicted_gross: f64,
    pub predicted_net: f64,
    pub gross_raw: String,
    pub gas_wei: String,
}

/// The micro-arbitrage strategy's DEX-CEX trades: CEX legs filled against the recorded books
/// (after the venues' latencies), DEX legs simulated on the pinned state; nothing was sent.
#[derive(Debug, Serialize)]
pub struct MicroForkSummary {
    /// Recorded books in the walked span; those our feed took, and those it dropped as older
    /// than one it already had.
    pub books: u64,
    pub quotes_heard: u64,
    pub quotes_out_of_order: u64,
    pub episodes: u64,
    pub seen: u64,
    pub taken: u64,
    pub skipped: BTreeMap<String, u64>,
    pub trades: u64,
    pub filled: u64,
    pub partial: u64,
    pub leg_failed: u64,
    /// Trades whose outcome equals the strategy's prediction to the raw unit.
    pub as_predicted: u64,
    pub execution: crate::execution::order_executor::ExecStats,
    pub currency: String,
    pub net_of: &'static str,
    pub predicted_net: f64,
    pub gross: f64,
    pub fees: f64,
    pub gas: f64,
    pub net: f64,
    pub predicted_net_raw: String,
    pub net_raw: String,
    pub gas_wei: String,
}

/// One atomic arbitrage of a bundle line.
#[derive(Debug, Serialize)]
struct AtomicLine {
    buy_pool: u16,
    sell_pool: u16,
    quote_in_raw: String,
    base_mid_raw: String,
    quote_out_raw: String,
    predicted_gross_raw: String,
}

/// One bundle line of bundles.jsonl: a sandwich's fields, or a liquidation bundle's.
#[derive(Debug, Serialize)]
struct BundleLine<'a> {
    target_block: u64,
    bundle_hash: B256,
    replacement_uuid: &'a Option<String>,
    withdrawn: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<usize>,
    victims: &'a [B256],
    #[serde(skip_serializing_if = "Option::is_none")]
    front_in_raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted_back_out_raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted_gross_raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gross_token: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    liquidations: Option<Vec<LiquidationLine>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    atomic: Option<AtomicLine>,
    /// The DEX leg of a DEX-CEX trade: the order executor's order number.
    #[serde(skip_serializing_if = "Option::is_none")]
    dex_leg_order: Option<u32>,
    /// Each configured builder's own request, exactly as it would have been sent.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    requests: &'a [crate::relay::builders::BuilderRequest],
    gas_used: u64,
    gas_wei: String,
    bribe_wei: String,
    txs: &'a [alloy_primitives::Bytes],
}

/// One liquidation of a bundle line (amounts raw in their reserve's units).
#[derive(Debug, Serialize)]
struct LiquidationLine {
    borrower: Address,
    collateral: String,
    debt: String,
    funding: &'static str,
    debt_to_cover_raw: String,
    repaid_raw: String,
    seized_raw: String,
    proceeds_raw: String,
    profit_asset: String,
    health_before_raw: String,
    predicted_gross_usd: f64,
}

/// The sandwich strategy's record of a would-be bundle (by its tag), if the bundle is its.
fn record_of<'a>(r: &'a ForkResult, w: &WouldSend) -> Option<&'a crate::engine::sandwich::SandwichRecord> {
    (Some(w.strategy) == r.sandwich_slot).then(|| r.records.get(w.tag as usize)).flatten()
}

/// The liquidation strategy's records of a would-be bundle: those of its target block that were
/// planned into it (the strategy plans one bundle per block).
fn liquidations_of<'a>(l: &'a ForkLendingResult, w: &WouldSend) -> &'a [LiquidationRecord] {
    if w.strategy != l.slot {
        return &[];
    }
    let from = l.records.partition_point(|x| x.block < w.target_block);
    let to = l.records.partition_point(|x| x.block <= w.target_block);
    &l.records[from..to]
}

pub fn summarize(spec: &RunSpec, r: &ForkResult) -> ForkSummary {
    let qs = 10f64.powi(spec.quote_decimals as i32);
    let (mut gross_weth, mut gross_quote, mut gas_wei, mut bribe_wei) = (0i128, 0i128, 0u128, 0u128);
    let (mut gross_q, mut gas_q, mut bribe_q) = (0i128, 0i128, 0i128);
    let mut n = 0;
    for w in r.would_send.iter().filter(|w| !w.withdrawn) {
        let Some(rec) = record_of(r, w) else { continue };
        n += 1;
        if rec.sells_base {
            gross_weth += rec.predicted_gross_raw;
        } else {
            gross_quote += rec.predicted_gross_raw;
        }
        gas_wei += w.gas_wei;
        bribe_wei += w.bribe_wei;
        // The record as if the simulation had landed: the backtest's conversions to quote at its mark.
        let landed = crate::engine::sandwich::SandwichRecord {
            realised_gross_raw: Some(rec.predicted_gross_raw),
            gas_wei: w.gas_wei,
            bribe_wei: w.bribe_wei,
            ..rec.clone()
        };
        gross_q += landed.gross_quote();
        gas_q += landed.gas_quote();
        bribe_q += landed.bribe_quote();
    }
    let targeted: Vec<B256> =
        r.would_send.iter().filter(|w| !w.withdrawn).flat_map(|w| w.victims.iter().copied()).collect();
    let mut searchers: Vec<String> = r.rivals.iter().map(|x| x.searcher.to_string()).collect();
    searchers.sort();
    searchers.dedup();
    ForkSummary {
        scenario: spec.name.clone(),
        seed: spec.seed,
        chain_id: spec.chain_id,
        first_block: r.first.number,
        first_block_hash: r.first.hash.to_string(),
        blocks: r.blocks,
        reads: Reads {
            pinned_blocks: r.counts.pins,
            rpc_requests: r.rpc_requests,
            account_fetches: r.counts.fetch.account_requests,
            storage_requests: r.counts.fetch.storage_requests,
            storage_slots: r.counts.fetch.storage_slots,
            block_hash_fetches: r.counts.fetch.block_hash_requests,
            cache_hits: r.counts.fetch.cache_hits,
            decision_requests: r.counts.decision_requests,
        },
        pending: PendingCounts {
            flow: match spec.fork.as_ref().map(|f| f.pending) {
                Some(crate::config::PendingFlow::Txpool) => "txpool",
                Some(crate::config::PendingFlow::Subscribe(_)) => "subscribe",
                _ => "next_block",
            },
            offered: r.counts.offered,
            to_our_pools: r.counts.to_our_pools,
            announced: r.counts.announced,
        },
        bundles: r.bundles.clone(),
        skipped: r.skips.clone(),
        would_send: WouldSendSummary {
            bundles: n,
            currency: spec.quote_symbol.clone(),
            net_of: "gas and bribe (simulated on the pinned state; nothing was sent)",
            predicted_gross: gross_q as f64 / qs,
            gas: gas_q as f64 / qs,
            bribe: bribe_q as f64 / qs,
            predicted_net: (gross_q - gas_q - bribe_q) as f64 / qs,
            gross_weth_wei: gross_weth.to_string(),
            gross_quote_raw: gross_quote.to_string(),
            gas_wei: gas_wei.to_string(),
            bribe_wei: bribe_wei.to_string(),
        },
        rivals: RivalSummary {
            sandwiches: r.rivals.len() as u64,
            our_victims_taken: r.rivals.iter().filter(|x| targeted.contains(&x.victim)).count() as u64,
            searchers,
            gas_wei: r.rivals.iter().map(|x| x.gas_wei).sum::<u128>().to_string(),
            direct_bribes_wei: r.rivals.iter().map(|x| x.bribe_wei).sum::<Option<u128>>().map(|b| b.to_string()),
        },
        liquidation: r.lending.as_ref().map(|l| lending_summary(r, l)),
        cross_dex: r.cross_dex.as_ref().map(|c| cross_dex_summary(spec, r, c)),
        micro_arbitrage: r.micro.as_ref().map(|m| micro_summary(spec, m)),
        risk_refused: super::refusals(&r.risk_rejects),
        sandwich: r.sandwich_slot.is_some(),
    }
}

fn cross_dex_summary(spec: &RunSpec, r: &ForkResult, c: &ForkCrossDexResult) -> CrossDexForkSummary {
    let qs = 10f64.powi(spec.quote_decimals as i32);
    let sent: Vec<&AtomicRecord> = c.records.iter().filter(|a| a.would_send.is_some()).collect();
    let gross: i128 = sent.iter().map(|a| a.predicted_gross).sum();
    let net: i128 = sent.iter().map(|a| a.predicted_net).sum();
    let gas_wei: u128 =
        sent.iter().filter_map(|a| a.would_send.and_then(|i| r.would_send.get(i))).map(|w| w.gas_wei).sum();
    let o = &c.opportunities;
    let skipped = crate::core::SkipReason::ALL
        .iter()
        .zip(o.skipped)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.as_str().to_string(), n))
        .collect();
    CrossDexForkSummary {
        episodes: o.episodes,
        seen: o.seen,
        taken: o.taken,
        skipped,
        would_send: sent.len() as u64,
        simulation_failed: c.records.iter().filter(|a| a.outcome == "simulation_failed").count() as u64,
        currency: spec.quote_symbol.clone(),
        net_of: "the strategy's gas estimate at the first pool's price (simulated on the pinned state; nothing was sent)",
        predicted_gross: gross as f64 / qs,
        predicted_net: net as f64 / qs,
        gross_raw: gross.to_string(),
        gas_wei: gas_wei.to_string(),
    }
}

fn micro_summary(spec: &RunSpec, m: &ForkMicroResult) -> MicroForkSummary {
    use crate::execution::order_executor::TradeStatus;
    let qs = 10f64.powi(spec.quote_decimals as i32);
    let t = &m.trades;
    let sum = |f: &dyn Fn(&crate::execution::TradeRecord) -> i128| t.iter().map(f).sum::<i128>();
    let count = |s: TradeStatus| t.iter().filter(|x| x.status == s).count() as u64;
    let o = &m.opportunities;
    MicroForkSummary {
        books: m.books,
        quotes_heard: m.quotes_heard,
        quotes_out_of_order: m.quotes_out_of_order,
        episodes: o.episodes,
        seen: o.seen,
        taken: o.taken,
        skipped: crate::core::SkipReason::ALL
            .iter()
            .zip(o.skipped)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.as_str().to_string(), n))
            .collect(),
        trades: t.len() as u64,
        filled: count(TradeStatus::Filled),
        partial: count(TradeStatus::Partial),
        leg_failed: count(TradeStatus::LegFailed),
        as_predicted: t.iter().filter(|x| x.net_pnl == x.predicted_net).count() as u64,
        execution: m.exec,
        currency: spec.quote_symbol.clone(),
        net_of: "both venues' fees and gas (CEX legs filled against the recorded books after the venues' latencies, \
                 DEX legs simulated on the pinned state; nothing was sent)",
        predicted_net: sum(&|x| x.predicted_net) as f64 / qs,
        gross: sum(&|x| x.gross_pnl) as f64 / qs,
        fees: sum(&|x| x.fees as i128) as f64 / qs,
        gas: sum(&|x| x.gas_quote as i128) as f64 / qs,
        net: sum(&|x| x.net_pnl) as f64 / qs,
        predicted_net_raw: sum(&|x| x.predicted_net).to_string(),
        net_raw: sum(&|x| x.net_pnl).to_string(),
        gas_wei: t.iter().map(|x| x.gas_wei).sum::<u128>().to_string(),
    }
}

fn lending_summary(r: &ForkResult, l: &ForkLendingResult) -> LiquidationForkSummary {
    let (mut n, mut bundles, mut gross, mut gas, mut bribe, mut gas_wei, mut bribe_wei) =
        (0, 0, 0i128, 0i128, 0i128, 0u128, 0u128);
    let mut ours: Vec<(u64, Address)> = Vec::new();
    for w in r.would_send.iter().filter(|w| !w.withdrawn && w.strategy == l.slot) {
        let recs = liquidations_of(l, w);
        let Some(first) = recs.first() else { continue };
        bundles += 1;
        n += recs.len() as u64;
        gross += recs.iter().map(|x| x.gross_base).sum::<i128>();
        ours.extend(recs.iter().map(|x| (x.block, x.borrower)));
        gas += wei_base(w.gas_wei, first.eth_price);
        bribe += wei_base(w.bribe_wei, first.eth_price);
        gas_wei += w.gas_wei;
        bribe_wei += w.bribe_wei;
    }
    let mut liquidators: Vec<String> = l.rivals.iter().map(|x| x.liquidator.to_string()).collect();
    liquidators.sort();
    liquidators.dedup();
    let usd = super::liquidation::usd;
    LiquidationForkSummary {
        borrowers_watched: l.borrowers,
        liquidations: n,
        bundles,
        net_of: "gas and bribe (simulated on the pinned state; nothing was sent)",
        predicted_gross_usd: usd(gross),
        gas_usd: usd(gas),
        bribe_usd: usd(bribe),
        predicted_net_usd: usd(gross - gas - bribe),
        gas_wei: gas_wei.to_string(),
        bribe_wei: bribe_wei.to_string(),
        rival_liquidations: l.rivals.len() as u64,
        our_borrowers_taken: l.rivals.iter().filter(|x| ours.contains(&(x.block, x.borrower))).count() as u64,
        liquidators,
        rival_bonus_usd: usd(l.rivals.iter().map(|x| x.bonus_base).sum()),
        rival_gas_wei: l.rivals.iter().map(|x| x.gas_wei).sum::<u128>().to_string(),
        skipped: l.skips.clone(),
    }
}

/// `wei` in base units (8 decimals) at ETH's oracle price `eth_price` (8 decimals).
fn wei_base(wei: u128, eth_price: u128) -> i128 {
    (alloy_primitives::U256::from(wei) * alloy_primitives::U256::from(eth_price)
        / alloy_primitives::U256::from(10u128.pow(18)))
    .saturating_to::<i128>()
}

pub fn markdown(s: &ForkSummary) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# {} — fork dry run (seed {})\n", s.scenario, s.seed);
    let flow = match s.pending.flow {
        "txpool" => "the node's pending pool offered as pending",
        "subscribe" => "the transactions the node announced while we listened offered as pending",
        _ => "each next block's transactions offered as pending",
    };
    let _ = writeln!(
        m,
        "Chain {}, pinned at block {} ({}), {} block(s) walked; {flow}. Nothing was sent.\n",
        s.chain_id, s.first_block, s.first_block_hash, s.blocks
    );
    if s.sandwich {
        let w = &s.would_send;
        let _ = writeln!(m, "## Would have sent: {} bundle(s) ({}, net of {})\n", w.bundles, w.currency, w.net_of);
        let _ = writeln!(m, "| predicted gross | gas | bribe | predicted net |\n|---:|---:|---:|---:|");
        let _ = writeln!(m, "| {:.2} | {:.2} | {:.2} | {:.2} |", w.predicted_gross, w.gas, w.bribe, w.predicted_net);
        let _ = writeln!(
            m,
            "\nExact: gross {} WETH wei + {} quote raw; gas {} wei; bribes {} wei.",
            w.gross_weth_wei, w.gross_quote_raw, w.gas_wei, w.bribe_wei
        );
        let r = &s.rivals;
        let _ = writeln!(
            m,
            "\n## What actually happened\n\n{} sandwich(es) of our pools' swaps landed; {} of them on victims we would have wrapped. \
             Their gas: {} wei; their direct payments to the fee recipient: {}.",
            r.sandwiches,
            r.our_victims_taken,
            r.gas_wei,
            r.direct_bribes_wei
                .as_deref()
                .map(|b| format!("{b} wei"))
                .unwrap_or_else(|| "unknown (no call traces)".into())
        );
    }
    if let Some(l) = &s.liquidation {
        let _ = writeln!(
            m,
            "{}## Liquidations ({} borrowers watched)\n\nWould have sent {} liquidation(s) in {} bundle(s) (USD at the oracle's prices, net of {}):\n",
            if s.sandwich { "\n" } else { "" },
            l.borrowers_watched,
            l.liquidations,
            l.bundles,
            l.net_of
        );
        let _ = writeln!(m, "| predicted gross | gas | bribe | predicted net |\n|---:|---:|---:|---:|");
        let _ = writeln!(
            m,
            "| {:.2} | {:.2} | {:.2} | {:.2} |",
            l.predicted_gross_usd, l.gas_usd, l.bribe_usd, l.predicted_net_usd
        );
        let _ = writeln!(
            m,
            "\nWhat actually happened: {} liquidation(s) of the pool landed ({} of borrowers we would have liquidated in that block), \
             by {}; their bonus at the oracle's prices {:.2} USD, their gas {} wei.",
            l.rival_liquidations,
            l.our_borrowers_taken,
            if l.liquidators.is_empty() { "no one".to_string() } else { l.liquidators.join(", ") },
            l.rival_bonus_usd,
            l.rival_gas_wei
        );
    }
    if let Some(c) = &s.cross_dex {
        let _ = writeln!(
            m,
            "\n## Cross-DEX arbitrage\n\n{} spread episode(s), {} look(s), {} taken; would have sent {} ({} failed simulation): predicted gross {:.2} {}, net {:.2} (net of {}).",
            c.episodes,
            c.seen,
            c.taken,
            c.would_send,
            c.simulation_failed,
            c.predicted_gross,
            c.currency,
            c.predicted_net,
            c.net_of
        );
    }
    if let Some(x) = &s.micro_arbitrage {
        let _ = writeln!(
            m,
            "\n## DEX-CEX arbitrage\n\n{} recorded book(s) in the walked span ({} heard, {} dropped as out of order); \
             {} spread episode(s), {} look(s), {} taken. {} trade(s): {} filled, {} partial, {} with a failed leg; \
             {} exactly as predicted.\n",
            x.books,
            x.quotes_heard,
            x.quotes_out_of_order,
            x.episodes,
            x.seen,
            x.taken,
            x.trades,
            x.filled,
            x.partial,
            x.leg_failed,
            x.as_predicted
        );
        let _ = writeln!(
            m,
            "| {} | predicted net | gross | fees | gas | net |\n|---|---:|---:|---:|---:|---:|",
            x.currency
        );
        let _ = writeln!(
            m,
            "| would have made | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n\nNet of {}.",
            x.predicted_net, x.gross, x.fees, x.gas, x.net, x.net_of
        );
    }
    let rd = &s.reads;
    let _ = writeln!(m, "\n## Reads\n");
    let _ = writeln!(
        m,
        "| pinned blocks | RPC requests | of them deciding | account fetches | storage requests (slots) | cache hits |\n|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        m,
        "| {} | {} | {} | {} | {} ({}) | {} |",
        rd.pinned_blocks,
        rd.rpc_requests,
        rd.decision_requests,
        rd.account_fetches,
        rd.storage_requests,
        rd.storage_slots,
        rd.cache_hits
    );
    let p = &s.pending;
    let _ = writeln!(
        m,
        "\nPending: {} offered, {} calling our pools{}, {} announced to the strategies.",
        p.offered,
        p.to_our_pools,
        if s.liquidation.is_some() { " or the lending oracle" } else { "" },
        p.announced
    );
    if !s.skipped.is_empty() {
        let _ = writeln!(m, "\n## Passed over\n\n| reason | count |\n|---|---:|");
        for (k, v) in &s.skipped {
            let _ = writeln!(m, "| {k} | {v} |");
        }
    }
    m
}

fn bundles_jsonl(r: &ForkResult) -> Result<String, ReportError> {
    let mut out = String::new();
    for w in &r.would_send {
        let rec = record_of(r, w);
        let sandwich = rec.is_some() || Some(w.strategy) == r.sandwich_slot;
        let liquidations = r.lending.as_ref().filter(|l| l.slot == w.strategy).map(|l| {
            let sym = |i: usize| l.symbols.get(i).cloned().unwrap_or_default();
            liquidations_of(l, w)
                .iter()
                .map(|x| LiquidationLine {
                    borrower: x.borrower,
                    collateral: sym(x.collateral),
                    debt: sym(x.debt),
                    funding: x.funding.name(),
                    debt_to_cover_raw: x.debt_to_cover.to_string(),
                    repaid_raw: x.predicted_repaid.to_string(),
                    seized_raw: x.predicted_seized.to_string(),
                    proceeds_raw: x.predicted_proceeds.to_string(),
                    profit_asset: sym(x.profit_asset),
                    health_before_raw: x.health_before.to_string(),
                    predicted_gross_usd: super::liquidation::usd(x.gross_base),
                })
                .collect()
        });
        let index = r.would_send.iter().position(|x| std::ptr::eq(x, w));
        let atomic = r
            .cross_dex
            .as_ref()
            .filter(|c| c.slot == w.strategy)
            .and_then(|c| c.records.iter().find(|a| a.would_send.is_some() && a.would_send == index))
            .map(|a| AtomicLine {
                buy_pool: a.buy_pool,
                sell_pool: a.sell_pool,
                quote_in_raw: a.quote_in.to_string(),
                base_mid_raw: a.base_mid.to_string(),
                quote_out_raw: a.quote_out.to_string(),
                predicted_gross_raw: a.predicted_gross.to_string(),
            });
        let dex_leg_order =
            r.micro.as_ref().and_then(|m| m.leg_bundles.iter().find(|(_, i)| Some(*i) == index)).map(|(o, _)| *o);
        let line = BundleLine {
            target_block: w.target_block,
            bundle_hash: w.bundle_hash,
            replacement_uuid: &w.replacement_id,
            withdrawn: w.withdrawn,
            pool: sandwich.then(|| rec.map(|x| x.pool).unwrap_or(0)),
            victims: &w.victims,
            front_in_raw: sandwich.then(|| rec.map(|x| x.front_in_raw.to_string()).unwrap_or_default()),
            predicted_back_out_raw: sandwich
                .then(|| rec.map(|x| x.predicted_back_out_raw.to_string()).unwrap_or_default()),
            predicted_gross_raw: sandwich.then(|| rec.map(|x| x.predicted_gross_raw.to_string()).unwrap_or_default()),
            gross_token: sandwich.then(|| w.flows.iter().find(|(_, v)| *v != 0).map(|(t, _)| *t).unwrap_or_default()),
            liquidations,
            atomic,
            dex_leg_order,
            requests: &w.requests,
            gas_used: w.gas_used,
            gas_wei: w.gas_wei.to_string(),
            bribe_wei: w.bribe_wei.to_string(),
            txs: &w.txs,
        };
        out += &serde_json::to_string(&line).map_err(|e| ReportError::Other(e.to_string()))?;
        out.push('\n');
    }
    Ok(out)
}

/// One victim's row: its pool, our would-be bundle and the rival who sandwiched it, if any.
struct Opportunity<'a> {
    block: u64,
    victim: B256,
    pool: usize,
    ours: Option<&'a WouldSend>,
    rival: Option<&'a RivalSandwich>,
}

/// Per victim we would have wrapped or a rival sandwiched: our prediction and the rival's take.
fn opportunities_frame(r: &ForkResult) -> Result<DataFrame, ReportError> {
    let mut rows: BTreeMap<(u64, B256), Opportunity<'_>> = BTreeMap::new();
    for w in r.would_send.iter().filter(|w| !w.withdrawn && Some(w.strategy) == r.sandwich_slot) {
        let pool = record_of(r, w).map(|x| x.pool).unwrap_or(0);
        for v in &w.victims {
            let row = (w.target_block, *v);
            let o =
                rows.entry(row).or_insert(Opportunity { block: row.0, victim: row.1, pool, ours: None, rival: None });
            o.ours = Some(w);
        }
    }
    for x in &r.rivals {
        let row = (x.block, x.victim);
        let o = rows.entry(row).or_insert(Opportunity {
            block: row.0,
            victim: row.1,
            pool: x.pool,
            ours: None,
            rival: None,
        });
        o.rival = Some(x);
    }
    let rows: Vec<Opportunity<'_>> = rows.into_values().collect();
    let col = |f: &dyn Fn(&Opportunity<'_>) -> Option<String>| -> Vec<String> {
        rows.iter().map(|o| f(o).unwrap_or_default()).collect()
    };
    df!(
        "block" => rows.iter().map(|o| o.block).collect::<Vec<_>>(),
        "victim" => col(&|o| Some(o.victim.to_string())),
        "pool" => rows.iter().map(|o| o.pool as u32).collect::<Vec<_>>(),
        "our_bundle" => col(&|o| o.ours.map(|w| w.bundle_hash.to_string())),
        "our_predicted_gross_raw" => col(&|o| o.ours.and_then(|w| record_of(r, w)).map(|x| x.predicted_gross_raw.to_string())),
        "our_gas_wei" => col(&|o| o.ours.map(|w| w.gas_wei.to_string())),
        "our_bribe_wei" => col(&|o| o.ours.map(|w| w.bribe_wei.to_string())),
        "rival" => col(&|o| o.rival.map(|x| x.searcher.to_string())),
        "rival_token" => col(&|o| o.rival.map(|x| x.token.to_string())),
        "rival_gross_raw" => col(&|o| o.rival.map(|x| x.gross_raw.to_string())),
        "rival_gas_wei" => col(&|o| o.rival.map(|x| x.gas_wei.to_string())),
        "rival_bribe_wei" => col(&|o| o.rival.and_then(|x| x.bribe_wei).map(|b| b.to_string())),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

/// One row per atomic arbitrage the cross-DEX strategy asked for.
fn atomic_frame(r: &ForkResult, c: &ForkCrossDexResult) -> Result<DataFrame, ReportError> {
    let x = &c.records;
    let st = |f: &dyn Fn(&AtomicRecord) -> String| -> Vec<String> { x.iter().map(f).collect() };
    let sent = |a: &AtomicRecord| a.would_send.and_then(|i| r.would_send.get(i));
    df!(
        "block" => x.iter().map(|a| a.block).collect::<Vec<_>>(),
        "buy_pool" => x.iter().map(|a| u32::from(a.buy_pool)).collect::<Vec<_>>(),
        "sell_pool" => x.iter().map(|a| u32::from(a.sell_pool)).collect::<Vec<_>>(),
        "quote_in_raw" => st(&|a| a.quote_in.to_string()),
        "base_mid_raw" => st(&|a| a.base_mid.to_string()),
        "quote_out_raw" => st(&|a| a.quote_out.to_string()),
        "predicted_gross_raw" => st(&|a| a.predicted_gross.to_string()),
        "predicted_gas_raw" => st(&|a| a.predicted_gas.to_string()),
        "predicted_net_raw" => st(&|a| a.predicted_net.to_string()),
        "bundle_hash" => st(&|a| sent(a).map(|w| w.bundle_hash.to_string()).unwrap_or_default()),
        "gas_used" => x.iter().map(|a| sent(a).map(|w| w.gas_used)).collect::<Vec<_>>(),
        "gas_wei" => st(&|a| sent(a).map(|w| w.gas_wei.to_string()).unwrap_or_default()),
        "outcome" => st(&|a| a.outcome.to_string()),
        "reason" => st(&|a| a.reason.clone()),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

/// Per (block, borrower) we would have liquidated or someone did: our prediction beside what
/// landed ("we would have made X; a rival made Y").
fn liquidation_opportunities_frame(r: &ForkResult, l: &ForkLendingResult) -> Result<DataFrame, ReportError> {
    type Row<'a> = (Vec<&'a LiquidationRecord>, Vec<&'a RivalLiquidation>);
    let mut rows: BTreeMap<(u64, Address), Row<'_>> = BTreeMap::new();
    for w in r.would_send.iter().filter(|w| !w.withdrawn && w.strategy == l.slot) {
        for x in liquidations_of(l, w) {
            rows.entry((x.block, x.borrower)).or_default().0.push(x);
        }
    }
    for x in &l.rivals {
        rows.entry((x.block, x.borrower)).or_default().1.push(x);
    }
    let sym = |i: usize| l.symbols.get(i).cloned().unwrap_or_default();
    let usd = super::liquidation::usd;
    let rows: Vec<((u64, Address), Row<'_>)> = rows.into_iter().collect();
    let col = |f: &dyn Fn(&Row<'_>) -> String| -> Vec<String> { rows.iter().map(|(_, x)| f(x)).collect() };
    let join = |v: Vec<String>| v.join(" ");
    df!(
        "block" => rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>(),
        "borrower" => rows.iter().map(|(k, _)| k.1.to_string()).collect::<Vec<_>>(),
        "our_liquidations" => rows.iter().map(|(_, x)| x.0.len() as u32).collect::<Vec<_>>(),
        "our_pairs" => col(&|x| join(x.0.iter().map(|v| format!("{}/{}", sym(v.collateral), sym(v.debt))).collect())),
        "our_repaid_raw" => col(&|x| join(x.0.iter().map(|v| v.predicted_repaid.to_string()).collect())),
        "our_seized_raw" => col(&|x| join(x.0.iter().map(|v| v.predicted_seized.to_string()).collect())),
        "our_predicted_gross_usd" => rows.iter().map(|(_, x)| usd(x.0.iter().map(|v| v.gross_base).sum())).collect::<Vec<_>>(),
        "rival_liquidations" => rows.iter().map(|(_, x)| x.1.len() as u32).collect::<Vec<_>>(),
        "rival_liquidators" => col(&|x| join(x.1.iter().map(|v| v.liquidator.to_string()).collect())),
        "rival_txs" => col(&|x| join(x.1.iter().map(|v| v.tx.to_string()).collect())),
        "rival_pairs" => col(&|x| join(x.1.iter().map(|v| format!("{}/{}", sym(v.collateral), sym(v.debt))).collect())),
        "rival_repaid_raw" => col(&|x| join(x.1.iter().map(|v| v.repaid_raw.to_string()).collect())),
        "rival_seized_raw" => col(&|x| join(x.1.iter().map(|v| v.seized_raw.to_string()).collect())),
        "rival_bonus_usd" => rows.iter().map(|(_, x)| usd(x.1.iter().map(|v| v.bonus_base).sum())).collect::<Vec<_>>(),
        "rival_gas_wei" => col(&|x| x.1.iter().map(|v| v.gas_wei).sum::<u128>().to_string()),
    )
    .map_err(|e| ReportError::Other(e.to_string()))
}

pub fn write(spec: &RunSpec, r: &ForkResult, dir: &Path) -> Result<ForkSummary, ReportError> {
    let summary = summarize(spec, r);
    write_atomically(dir, |tmp| {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| ReportError::Other(e.to_string()))? + "\n";
        fs::write(tmp.join("summary.json"), json).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("summary.md"), markdown(&summary)).map_err(|e| ReportError::io(tmp, e))?;
        fs::write(tmp.join("bundles.jsonl"), bundles_jsonl(r)?).map_err(|e| ReportError::io(tmp, e))?;
        let mut tables = vec![
            ("sandwiches", super::sandwich::sandwiches_frame(&r.records)?),
            ("opportunities", opportunities_frame(r)?),
        ];
        if let Some(c) = &r.cross_dex {
            tables.push(("atomic_arbitrages", atomic_frame(r, c)?));
        }
        if let Some(x) = &r.micro {
            let strategy = |_: u16| crate::strategies::micro_arbitrage::ID.0.to_string();
            let venue = |v: crate::core::LegVenue| match v {
                crate::core::LegVenue::Cex(c) => x.venue_names.get(c.0 as usize).cloned().unwrap_or_default(),
                crate::core::LegVenue::Dex(p) => x.pool_names.get(p.0 as usize).cloned().unwrap_or_default(),
            };
            tables.push(("cex_dex_trades", super::trades_frame_of(spec, &x.trades, &strategy, &venue)?));
        }
        if let Some(l) = &r.lending {
            tables.push(("liquidations", super::liquidation::records_frame(&l.records, &l.symbols)?));
            tables.push(("liquidation_opportunities", liquidation_opportunities_frame(r, l)?));
        }
        super::write_tables(tmp, tables)
    })?;
    Ok(summary)
}

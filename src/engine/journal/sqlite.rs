//! The journal as a SQLite file (`--journal FILE`), readable with the `sqlite3` CLI: the events
//! the strategies saw, every action with its decision, every bundle's news; for a CEX/DEX
//! backtest the fills (one row per trade, amounts as exact decimal strings), the equity curve,
//! the latency samples and the run's counters (JSON) — everything the report is made of, so
//! `read` gives back a result whose report is byte-identical to the run's; for sandwich and
//! liquidation runs one row per bundle record (what was planned, what became of it, gas, bribe).
//!
//! Written into a temporary file beside the target and renamed when complete: a failed run never
//! leaves a half-written journal behind. Integers the EVM side keeps as `u64` are stored in
//! SQLite's 64-bit INTEGER bit for bit; wei and raw token amounts are TEXT.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy_primitives::U256;
use rusqlite::{Connection, OptionalExtension, params};

use super::{ActionEntry, BundleEntry, Decision, EVENT_KINDS, Journal, event_kind};
use crate::config::RunSpec;
use crate::core::strategy::{OpportunityStats, StrategyId};
use crate::core::{Action, BlockInfo, BundleStatus, Event, LegVenue, PoolId, SkipReason, TxId, VenueId};
use crate::engine::all::{AllResult, SharedWallet};
use crate::engine::backtest::{BacktestResult, EquityPoint, StrategyOutcome, WallTiming};
use crate::engine::lending_history::HealthPoint;
use crate::engine::liquidation::LiquidationResult;
use crate::engine::manager::StrategyStats;
use crate::engine::sandwich::{SandwichResult, VictimRecord};
use crate::execution::{TradeRecord, TradeStatus};
use crate::market::latency::LatencySketch;
use crate::mempool::SwapMethod;
use crate::report::sandwich::method_name;
use crate::risk::RiskReject;
use crate::strategies::liquidation::Funding;
use crate::strategies::liquidation_strategy::LiquidationRecord;
use crate::strategies::sandwich_strategy::SandwichRecord;

/// The `meta.format` of files this version writes and reads.
pub const FORMAT: &str = "xcrack-journal/2";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("journal {path}: {what}")]
    Bad { path: PathBuf, what: String },
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// What a journal file holds.
pub struct JournalFile {
    /// format, mode, scenario, seed, duration_ns, xcrack version.
    pub meta: BTreeMap<String, String>,
    pub journal: Journal,
    /// The CEX/DEX run the journal was written from (fills, equity, counters), for a CEX/DEX run
    /// (a combined run's sections are in `all`).
    pub backtest: Option<BacktestResult>,
    /// The sandwich run (records, victims, counters), for a sandwich run.
    pub sandwich: Option<SandwichResult>,
    /// The liquidation run (records, health timeline, counters), for a liquidation run.
    pub liquidation: Option<LiquidationResult>,
    /// A combined run: its three sections and the shared wallet.
    pub all: Option<AllResult>,
}

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE event_counts(kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE events(seq INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL, kind TEXT NOT NULL,
  venue INTEGER, block INTEGER, block_timestamp INTEGER, base_fee_wei TEXT, tx INTEGER, seen_at_ns INTEGER,
  strategy INTEGER, tag INTEGER, account INTEGER, timer INTEGER);
CREATE TABLE actions(seq INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL, strategy INTEGER NOT NULL,
  kind TEXT NOT NULL, decision TEXT NOT NULL, reason TEXT);
CREATE TABLE bundles(seq INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL, strategy INTEGER NOT NULL,
  tag INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE strategies(idx INTEGER PRIMARY KEY, id TEXT NOT NULL, enabled INTEGER NOT NULL,
  events_seen INTEGER NOT NULL, actions INTEGER NOT NULL, errors INTEGER NOT NULL, episodes INTEGER NOT NULL,
  evaluations INTEGER NOT NULL, taken INTEGER NOT NULL, skipped TEXT NOT NULL);
CREATE TABLE fills(seq INTEGER PRIMARY KEY, trade_id INTEGER NOT NULL, strategy INTEGER NOT NULL,
  buy_venue TEXT NOT NULL, sell_venue TEXT NOT NULL, decided_at_ns INTEGER NOT NULL, closed_at_ns INTEGER NOT NULL,
  quote_age_ns INTEGER NOT NULL, planned_base TEXT NOT NULL, base_bought TEXT NOT NULL, base_sold TEXT NOT NULL,
  quote_paid TEXT NOT NULL, quote_received TEXT NOT NULL, fees TEXT NOT NULL, gas_wei TEXT NOT NULL,
  gas_quote TEXT NOT NULL, unwinds INTEGER NOT NULL, residual_base TEXT NOT NULL, residual_value TEXT NOT NULL,
  predicted_gross TEXT NOT NULL, predicted_net TEXT NOT NULL, gross_pnl TEXT NOT NULL, net_pnl TEXT NOT NULL,
  status TEXT NOT NULL, atomic INTEGER NOT NULL, touched_before INTEGER NOT NULL, revert_reason TEXT);
CREATE TABLE equity(seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, block INTEGER NOT NULL,
  equity_raw TEXT NOT NULL, mark_raw TEXT NOT NULL);
CREATE TABLE latencies(kind TEXT NOT NULL, seq INTEGER NOT NULL, ns INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(kind, seq));
CREATE TABLE counters(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sandwich_records(seq INTEGER PRIMARY KEY, block INTEGER NOT NULL, pool INTEGER NOT NULL,
  sells_base INTEGER NOT NULL, victims INTEGER NOT NULL, front_in_raw TEXT NOT NULL,
  predicted_back_out_raw TEXT NOT NULL, realised_back_out_raw TEXT, predicted_gross_raw TEXT NOT NULL,
  realised_gross_raw TEXT, gas_wei TEXT NOT NULL, bribe_wei TEXT NOT NULL, mark_raw TEXT NOT NULL,
  net_quote_raw TEXT NOT NULL, success_probability REAL NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
  bundle_hash TEXT);
CREATE TABLE liquidation_records(seq INTEGER PRIMARY KEY, block INTEGER NOT NULL, borrower TEXT NOT NULL,
  collateral INTEGER NOT NULL, debt INTEGER NOT NULL, funding TEXT NOT NULL, health_before TEXT NOT NULL,
  health_after TEXT, debt_to_cover TEXT NOT NULL, predicted_repaid TEXT NOT NULL, predicted_seized TEXT NOT NULL,
  predicted_proceeds TEXT NOT NULL, profit_asset INTEGER NOT NULL, realised_gross TEXT, gross_base TEXT NOT NULL,
  bonus_base TEXT NOT NULL, gas_wei TEXT NOT NULL, bribe_wei TEXT NOT NULL, eth_price TEXT NOT NULL,
  outcome TEXT NOT NULL, reason TEXT NOT NULL, source_block INTEGER);
CREATE TABLE victims(seq INTEGER PRIMARY KEY, tx_hash TEXT NOT NULL, block INTEGER, pool INTEGER NOT NULL,
  method TEXT NOT NULL, sells_base INTEGER NOT NULL, sandwiched INTEGER NOT NULL, succeeded INTEGER NOT NULL,
  alone_raw TEXT, actual_raw TEXT, loss_raw TEXT NOT NULL, loss_decimals INTEGER NOT NULL);
CREATE TABLE health_timeline(seq INTEGER PRIMARY KEY, borrower TEXT NOT NULL, block INTEGER NOT NULL,
  health_factor TEXT NOT NULL, event TEXT NOT NULL);
";

/// The run a journal is written from: its mode's records go in beside the journal.
#[derive(Clone, Copy)]
pub enum Run<'a> {
    CexDex(&'a BacktestResult),
    Sandwich(&'a SandwichResult),
    Liquidation(&'a LiquidationResult),
    /// Every strategy on one wallet: each family's records.
    All(&'a crate::engine::all::AllResult),
}

impl Run<'_> {
    pub fn mode(&self) -> &'static str {
        match self {
            Run::CexDex(_) => "cex_dex",
            Run::Sandwich(_) => "sandwich",
            Run::Liquidation(_) => "liquidation",
            Run::All(_) => "all",
        }
    }
}

/// The resolved run a journal belongs to, as a hash: a report is rebuilt from a journal only with
/// the same scenario, seed and overrides (RunSpec's `Debug` form is deterministic: no hash maps).
pub fn spec_fingerprint(spec: &RunSpec) -> String {
    alloy_primitives::keccak256(format!("{spec:?}").as_bytes()).to_string()
}

/// u64 into SQLite's i64, bit for bit (read back with `u`).
fn i(v: u64) -> i64 {
    v as i64
}
fn u(v: i64) -> u64 {
    v as u64
}

fn venue_text(v: LegVenue) -> String {
    match v {
        LegVenue::Cex(c) => format!("cex:{}", c.0),
        LegVenue::Dex(p) => format!("dex:{}", p.0),
    }
}

fn parse_venue(s: &str) -> Option<LegVenue> {
    let (kind, n) = s.split_once(':')?;
    let n: u16 = n.parse().ok()?;
    match kind {
        "cex" => Some(LegVenue::Cex(VenueId(n))),
        "dex" => Some(LegVenue::Dex(PoolId(n))),
        _ => None,
    }
}

fn decision_text(d: Decision) -> (&'static str, Option<&'static str>) {
    match d {
        Decision::Executed => ("executed", None),
        Decision::Skipped(r) => ("skipped", Some(r.as_str())),
        Decision::Refused(r) => ("refused", Some(r.as_str())),
    }
}

fn parse_decision(d: &str, reason: Option<&str>) -> Option<Decision> {
    match (d, reason) {
        ("executed", None) => Some(Decision::Executed),
        ("skipped", Some(r)) => SkipReason::ALL.into_iter().find(|x| x.as_str() == r).map(Decision::Skipped),
        ("refused", Some(r)) => RiskReject::ALL.into_iter().find(|x| x.as_str() == r).map(Decision::Refused),
        _ => None,
    }
}

/// Known strategy ids (a journal names them; the report needs the same `&'static str`).
const STRATEGY_IDS: [StrategyId; 4] = [
    crate::strategies::micro_arbitrage::ID,
    crate::strategies::cross_dex::ID,
    crate::strategies::sandwich_strategy::ID,
    crate::strategies::liquidation_strategy::ID,
];

struct Writer<'a> {
    path: &'a Path,
    conn: Connection,
}

impl Writer<'_> {
    fn err(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite { path: self.path.to_path_buf(), source }
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<(), JournalError> {
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute(p)).map(|_| ()).map_err(|e| self.err(e))
    }

    fn meta(&self, spec: &RunSpec, mode: &str) -> Result<(), JournalError> {
        let rows = [
            ("format", FORMAT.to_string()),
            ("mode", mode.to_string()),
            ("scenario", spec.name.clone()),
            ("seed", spec.seed.to_string()),
            ("duration_ns", spec.duration.to_string()),
            ("xcrack_version", env!("CARGO_PKG_VERSION").to_string()),
            ("spec_fingerprint", spec_fingerprint(spec)),
        ];
        for (k, v) in rows {
            self.exec("INSERT INTO meta(key, value) VALUES (?1, ?2)", params![k, v])?;
        }
        Ok(())
    }

    fn journal(&self, j: &Journal) -> Result<(), JournalError> {
        for (k, n) in EVENT_KINDS.iter().zip(j.events_seen) {
            self.exec("INSERT INTO event_counts(kind, n) VALUES (?1, ?2)", params![k, i(n)])?;
        }
        for (seq, (at, e)) in j.log.iter().flatten().enumerate() {
            let kind = EVENT_KINDS[event_kind(e)];
            let sql = "INSERT INTO events(seq, at_ns, kind, venue, block, block_timestamp, base_fee_wei, tx, \
                       seen_at_ns, strategy, tag, account, timer) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)";
            let none = None::<i64>;
            let (seq, at) = (seq as i64, i(*at));
            match *e {
                Event::Quote { venue } => self.exec(
                    sql,
                    params![seq, at, kind, venue.0, none, none, None::<String>, none, none, none, none, none, none],
                ),
                Event::Block(b) => self.exec(
                    sql,
                    params![
                        seq,
                        at,
                        kind,
                        none,
                        i(b.number),
                        i(b.timestamp),
                        b.base_fee_wei.to_string(),
                        none,
                        none,
                        none,
                        none,
                        none,
                        none
                    ],
                ),
                Event::PendingTx { id, seen_at } => self.exec(
                    sql,
                    params![seq, at, kind, none, none, none, None::<String>, id.0, i(seen_at), none, none, none, none],
                ),
                Event::BundleResult { strategy, tag } => self.exec(
                    sql,
                    params![seq, at, kind, none, none, none, None::<String>, none, none, strategy, i(tag), none, none],
                ),
                Event::Position { account } => self.exec(
                    sql,
                    params![seq, at, kind, none, none, none, None::<String>, none, none, none, none, account, none],
                ),
                Event::Timer { id } => self.exec(
                    sql,
                    params![seq, at, kind, none, none, none, None::<String>, none, none, none, none, none, id],
                ),
            }?;
        }
        for (seq, a) in j.actions.iter().enumerate() {
            let (d, reason) = decision_text(a.decision);
            self.exec(
                "INSERT INTO actions(seq, at_ns, strategy, kind, decision, reason) VALUES (?1,?2,?3,?4,?5,?6)",
                params![seq as i64, i(a.at), a.strategy, a.kind, d, reason],
            )?;
        }
        for (seq, b) in j.bundles.iter().enumerate() {
            self.exec(
                "INSERT INTO bundles(seq, at_ns, strategy, tag, status) VALUES (?1,?2,?3,?4,?5)",
                params![seq as i64, i(b.at), b.strategy, i(b.tag), b.status.as_str()],
            )?;
        }
        Ok(())
    }

    fn counter(&self, name: &str, value: &impl serde::Serialize) -> Result<(), JournalError> {
        let v = serde_json::to_string(value)
            .map_err(|e| JournalError::Bad { path: self.path.to_path_buf(), what: format!("counter {name}: {e}") })?;
        self.exec("INSERT INTO counters(name, value) VALUES (?1, ?2)", params![name, v])
    }

    fn latencies(&self, kind: &str, samples: impl Iterator<Item = (u64, u64)>) -> Result<(), JournalError> {
        for (seq, (ns, n)) in samples.enumerate() {
            self.exec(
                "INSERT INTO latencies(kind, seq, ns, count) VALUES (?1,?2,?3,?4)",
                params![kind, seq as i64, i(ns), i(n)],
            )?;
        }
        Ok(())
    }

    fn sandwich(&self, run: &SandwichResult) -> Result<(), JournalError> {
        let opt = |v: Option<String>| v;
        for (seq, v) in run.victims.iter().enumerate() {
            self.exec(
                "INSERT INTO victims VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                params![
                    seq as i64,
                    v.tx_hash.to_string(),
                    v.block.map(i),
                    v.pool as i64,
                    method_name(v.method),
                    v.sells_base,
                    v.sandwiched,
                    v.succeeded,
                    opt(v.alone_raw.map(|x| x.to_string())),
                    opt(v.actual_raw.map(|x| x.to_string())),
                    v.loss_raw.to_string(),
                    v.loss_decimals
                ],
            )?;
        }
        self.counter("sandwich.bundles", &run.bundles)?;
        self.counter("sandwich.relay", &run.relay)?;
        self.counter("sandwich.skips", &run.skips)?;
        self.counter("sandwich.blocks", &run.blocks)?;
        self.counter("sandwich.wallet", &[run.booked, run.on_chain, run.initial].map(|w| w.map(|x| x.to_string())))?;
        self.counter("sandwich.final_base_fee_wei", &run.final_base_fee_wei.to_string())?;
        self.counter("sandwich.risk_rejects", &run.risk_rejects)?;
        self.counter("sandwich.risk", &run.risk)?;
        for (seq, r) in run.records.iter().enumerate() {
            self.exec(
                "INSERT INTO sandwich_records VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)",
                params![
                    seq as i64,
                    i(r.block),
                    r.pool as i64,
                    r.sells_base,
                    r.victims as i64,
                    r.front_in_raw.to_string(),
                    r.predicted_back_out_raw.to_string(),
                    opt(r.realised_back_out_raw.map(|v| v.to_string())),
                    r.predicted_gross_raw.to_string(),
                    opt(r.realised_gross_raw.map(|v| v.to_string())),
                    r.gas_wei.to_string(),
                    r.bribe_wei.to_string(),
                    r.mark.to_string(),
                    r.net_quote().to_string(),
                    r.success_probability,
                    r.outcome,
                    r.reason,
                    opt(r.bundle_hash.map(|h| h.to_string()))
                ],
            )?;
        }
        Ok(())
    }

    /// A combined run's one wallet: per token, genesis, booked, chain, and each family's change.
    fn shared_wallet(&self, w: &SharedWallet) -> Result<(), JournalError> {
        let text = |v: &[u128]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let changes: Vec<(&str, Vec<String>)> =
            w.changes.iter().map(|(f, c)| (*f, c.iter().map(|x| x.to_string()).collect())).collect();
        self.counter("all.wallet.symbols", &w.symbols)?;
        self.counter("all.wallet", &[text(&w.initial), text(&w.booked), text(&w.on_chain)])?;
        self.counter("all.wallet.changes", &changes)
    }

    fn liquidation(&self, run: &LiquidationResult) -> Result<(), JournalError> {
        for (seq, p) in run.timeline.iter().enumerate() {
            self.exec(
                "INSERT INTO health_timeline VALUES (?1,?2,?3,?4,?5)",
                params![seq as i64, p.borrower.to_string(), i(p.block), p.health_factor.to_string(), p.event],
            )?;
        }
        let amounts = |v: &[u128]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        self.counter("liquidation.symbols", &run.symbols)?;
        self.counter("liquidation.blocks", &run.blocks)?;
        self.counter("liquidation.oracle_updates", &run.oracle_updates)?;
        self.counter("liquidation.borrowers", &run.borrowers)?;
        self.counter("liquidation.unhealthy_at_end", &[run.unhealthy_at_end, run.unhealthy_unprofitable_at_end])?;
        self.counter("liquidation.bad_debt_base", &run.bad_debt_base.to_string())?;
        self.counter("liquidation.wallet", &[amounts(&run.initial), amounts(&run.booked), amounts(&run.on_chain)])?;
        self.counter(
            "liquidation.bundles",
            &[run.bundles_submitted, run.bundles_included, run.simulation_failed, run.rival_liquidations],
        )?;
        self.counter("liquidation.skips", &run.skips)?;
        self.counter("liquidation.replay_blocks", &run.replay_blocks)?;
        self.counter("liquidation.risk_rejects", &run.risk_rejects)?;
        self.counter("liquidation.risk", &run.risk)?;
        for (seq, r) in run.records.iter().enumerate() {
            self.exec(
                "INSERT INTO liquidation_records VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,\
                 ?19,?20,?21,?22)",
                params![
                    seq as i64,
                    i(r.block),
                    r.borrower.to_string(),
                    r.collateral as i64,
                    r.debt as i64,
                    r.funding.name(),
                    r.health_before.to_string(),
                    r.health_after.map(|v| v.to_string()),
                    r.debt_to_cover.to_string(),
                    r.predicted_repaid.to_string(),
                    r.predicted_seized.to_string(),
                    r.predicted_proceeds.to_string(),
                    r.profit_asset as i64,
                    r.realised_gross.map(|v| v.to_string()),
                    r.gross_base.to_string(),
                    r.bonus_base.to_string(),
                    r.gas_wei.to_string(),
                    r.bribe_wei.to_string(),
                    r.eth_price.to_string(),
                    r.outcome,
                    r.reason,
                    r.source_block.map(i)
                ],
            )?;
        }
        Ok(())
    }

    fn backtest(&self, r: &BacktestResult) -> Result<(), JournalError> {
        for (idx, s) in r.strategies.iter().enumerate() {
            let o = &s.stats.opportunities;
            let skipped: BTreeMap<&str, u64> =
                SkipReason::ALL.iter().map(|x| (x.as_str(), o.skipped[*x as usize])).collect();
            let skipped = serde_json::to_string(&skipped).unwrap_or_default();
            self.exec(
                "INSERT INTO strategies(idx, id, enabled, events_seen, actions, errors, episodes, evaluations, taken, \
                 skipped) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                params![
                    idx as i64,
                    s.id.0,
                    s.enabled,
                    i(s.stats.events_seen),
                    i(s.stats.actions),
                    i(s.stats.errors),
                    i(o.episodes),
                    i(o.seen),
                    i(o.taken),
                    skipped
                ],
            )?;
        }
        for (seq, t) in r.trades.iter().enumerate() {
            self.exec(
                "INSERT INTO fills(seq, trade_id, strategy, buy_venue, sell_venue, decided_at_ns, closed_at_ns, \
                 quote_age_ns, planned_base, base_bought, base_sold, quote_paid, quote_received, fees, gas_wei, \
                 gas_quote, unwinds, residual_base, residual_value, predicted_gross, predicted_net, gross_pnl, \
                 net_pnl, status, atomic, touched_before, revert_reason) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,\
                 ?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27)",
                params![
                    seq as i64,
                    t.id,
                    t.strategy,
                    venue_text(t.buy_venue),
                    venue_text(t.sell_venue),
                    i(t.decided_at),
                    i(t.closed_at),
                    i(t.quote_age),
                    t.planned_base.to_string(),
                    t.base_bought.to_string(),
                    t.base_sold.to_string(),
                    t.quote_paid.to_string(),
                    t.quote_received.to_string(),
                    t.fees.to_string(),
                    t.gas_wei.to_string(),
                    t.gas_quote.to_string(),
                    t.unwinds,
                    t.residual_base.to_string(),
                    t.residual_value.to_string(),
                    t.predicted_gross.to_string(),
                    t.predicted_net.to_string(),
                    t.gross_pnl.to_string(),
                    t.net_pnl.to_string(),
                    t.status.as_str(),
                    t.atomic,
                    t.touched_before,
                    t.revert_reason
                ],
            )?;
        }
        for (seq, p) in r.equity.iter().enumerate() {
            self.exec(
                "INSERT INTO equity(seq, time_ns, block, equity_raw, mark_raw) VALUES (?1,?2,?3,?4,?5)",
                params![seq as i64, i(p.time), i(p.block), p.equity.to_string(), p.mark.to_string()],
            )?;
        }
        self.latencies("order_one_way", r.order_latencies.iter().map(|&x| (x, 1)))?;
        self.latencies("decision_to_settled", r.completion_latencies.iter().map(|&x| (x, 1)))?;
        self.latencies("quote_age_at_decision", r.quote_ages.iter().map(|&x| (x, 1)))?;
        self.latencies("feed", r.feed_latencies.buckets().into_iter())?;
        self.counter("wallet", &r.wallet)?;
        self.counter("exec", &r.exec)?;
        self.counter("feed", &r.feed)?;
        self.counter("blocks", &r.blocks)?;
        self.counter("block_stats", &r.block_stats)?;
        self.counter("final_base_fee_wei", &r.final_base_fee_wei.to_string())?;
        self.counter("events_processed", &r.events_processed)?;
        self.counter("risk_rejects", &r.risk_rejects)?;
        self.counter("emergency_stop_at_ns", &r.emergency_stop_at)?;
        self.counter("risk", &r.risk)?;
        self.counter("outliers_published", &r.outliers_published)?;
        self.counter("venue_names", &r.venue_names)?;
        self.counter("pool_names", &r.pool_names)?;
        Ok(())
    }
}

/// Writes `journal` and the records of `run` to `path`, replacing any file there only once the
/// new one is complete.
pub fn write(path: &Path, spec: &RunSpec, journal: &Journal, run: Run<'_>) -> Result<(), JournalError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "journal".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let conn =
            Connection::open(&tmp).map_err(|source| JournalError::Sqlite { path: path.to_path_buf(), source })?;
        let w = Writer { path, conn };
        // A fresh file renamed into place when done: no rollback journal needed while writing.
        w.conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;").map_err(|e| w.err(e))?;
        w.conn.execute_batch(SCHEMA).map_err(|e| w.err(e))?;
        w.conn.execute_batch("BEGIN").map_err(|e| w.err(e))?;
        w.meta(spec, run.mode())?;
        w.journal(journal)?;
        match run {
            Run::CexDex(r) => w.backtest(r)?,
            Run::Sandwich(r) => w.sandwich(r)?,
            Run::Liquidation(r) => w.liquidation(r)?,
            Run::All(r) => {
                w.backtest(&r.market)?;
                w.sandwich(&r.sandwich)?;
                w.liquidation(&r.liquidation)?;
                w.shared_wallet(&r.wallet)?;
            }
        }
        w.conn.execute_batch("COMMIT").map_err(|e| w.err(e))?;
        w.conn.close().map_err(|(_, e)| JournalError::Sqlite { path: path.to_path_buf(), source: e })
    })();
    match written {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|source| JournalError::Io { path: path.to_path_buf(), source }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

struct Reader<'a> {
    path: &'a Path,
    conn: Connection,
}

impl Reader<'_> {
    fn err(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite { path: self.path.to_path_buf(), source }
    }
    fn bad(&self, what: impl Into<String>) -> JournalError {
        JournalError::Bad { path: self.path.to_path_buf(), what: what.into() }
    }

    fn rows<T>(
        &self,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, JournalError> {
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map([], f).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<T>, _>>().map_err(|e| self.err(e))
    }

    fn counter<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, JournalError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        let v = v.ok_or_else(|| self.bad(format!("counters has no `{name}`")))?;
        serde_json::from_str(&v).map_err(|e| self.bad(format!("counters.{name}: {e}")))
    }

    fn num<T: std::str::FromStr>(&self, table: &str, column: &str, s: &str) -> Result<T, JournalError> {
        s.parse().map_err(|_| self.bad(format!("{table}.{column}: `{s}` is not a number")))
    }

    fn journal(&self) -> Result<Journal, JournalError> {
        let mut j = Journal::default();
        for (kind, n) in
            self.rows("SELECT kind, n FROM event_counts", |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        {
            let k =
                EVENT_KINDS.iter().position(|x| *x == kind).ok_or_else(|| self.bad(format!("event kind `{kind}`")))?;
            j.events_seen[k] = u(n);
        }
        type Row = (i64, String, [Option<i64>; 10], Option<String>);
        let rows: Vec<Row> = self.rows(
            "SELECT at_ns, kind, venue, block, block_timestamp, tx, seen_at_ns, strategy, tag, account, timer, NULL, \
             base_fee_wei FROM events ORDER BY seq",
            |r| {
                let mut cols = [None; 10];
                for (c, slot) in cols.iter_mut().enumerate() {
                    *slot = r.get(2 + c)?;
                }
                Ok((r.get(0)?, r.get(1)?, cols, r.get(12)?))
            },
        )?;
        if !rows.is_empty() {
            let mut log = Vec::with_capacity(rows.len());
            for (at, kind, c, fee) in rows {
                let need =
                    |x: Option<i64>, what: &str| x.ok_or_else(|| self.bad(format!("events: a {kind} without {what}")));
                let e = match kind.as_str() {
                    "quote" => Event::Quote { venue: VenueId(need(c[0], "venue")? as u16) },
                    "block" => Event::Block(BlockInfo {
                        number: u(need(c[1], "block")?),
                        timestamp: u(need(c[2], "block_timestamp")?),
                        base_fee_wei: self.num("events", "base_fee_wei", fee.as_deref().unwrap_or(""))?,
                    }),
                    "pending_tx" => {
                        Event::PendingTx { id: TxId(need(c[3], "tx")? as u32), seen_at: u(need(c[4], "seen_at_ns")?) }
                    }
                    "bundle_result" => {
                        Event::BundleResult { strategy: need(c[5], "strategy")? as u16, tag: u(need(c[6], "tag")?) }
                    }
                    "position" => Event::Position { account: need(c[7], "account")? as u32 },
                    "timer" => Event::Timer { id: need(c[8], "timer")? as u32 },
                    other => return Err(self.bad(format!("events: unknown kind `{other}`"))),
                };
                log.push((u(at), e));
            }
            j.log = Some(log);
        }
        let actions = self.rows("SELECT at_ns, strategy, kind, decision, reason FROM actions ORDER BY seq", |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for (at, strategy, kind, d, reason) in actions {
            let kind = Action::KINDS
                .into_iter()
                .find(|k| *k == kind)
                .ok_or_else(|| self.bad(format!("actions: kind `{kind}`")))?;
            let decision = parse_decision(&d, reason.as_deref())
                .ok_or_else(|| self.bad(format!("actions: decision `{d}` with reason {reason:?}")))?;
            j.actions.push(ActionEntry { at: u(at), strategy, kind, decision });
        }
        let bundles = self.rows("SELECT at_ns, strategy, tag, status FROM bundles ORDER BY seq", |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, u16>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
        })?;
        for (at, strategy, tag, status) in bundles {
            let status = BundleStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == status)
                .ok_or_else(|| self.bad(format!("bundles: status `{status}`")))?;
            j.bundles.push(BundleEntry { at: u(at), strategy, tag: u(tag), status });
        }
        Ok(j)
    }

    fn latencies(&self, kind: &str) -> Result<Vec<(u64, u64)>, JournalError> {
        let mut st = self
            .conn
            .prepare("SELECT ns, count FROM latencies WHERE kind = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([kind], |r| Ok((u(r.get(0)?), u(r.get(1)?)))).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn samples(&self, kind: &str) -> Result<Vec<u64>, JournalError> {
        Ok(self.latencies(kind)?.into_iter().flat_map(|(ns, n)| std::iter::repeat_n(ns, n as usize)).collect())
    }

    fn backtest(&self, journal: Journal) -> Result<BacktestResult, JournalError> {
        type StrategyRow = (String, bool, [i64; 6], String);
        let rows: Vec<StrategyRow> = self.rows(
            "SELECT id, enabled, events_seen, actions, errors, episodes, evaluations, taken, skipped FROM strategies \
             ORDER BY idx",
            |r| {
                let mut n = [0i64; 6];
                for (c, slot) in n.iter_mut().enumerate() {
                    *slot = r.get(2 + c)?;
                }
                Ok((r.get(0)?, r.get(1)?, n, r.get(8)?))
            },
        )?;
        let mut strategies = Vec::with_capacity(rows.len());
        for (id, enabled, n, skipped) in rows {
            let id = STRATEGY_IDS
                .into_iter()
                .find(|s| s.0 == id)
                .ok_or_else(|| self.bad(format!("strategies: unknown id `{id}`")))?;
            let by_reason: BTreeMap<String, u64> =
                serde_json::from_str(&skipped).map_err(|e| self.bad(format!("strategies.skipped: {e}")))?;
            let mut opportunities =
                OpportunityStats { episodes: u(n[3]), seen: u(n[4]), taken: u(n[5]), ..Default::default() };
            for r in SkipReason::ALL {
                opportunities.skipped[r as usize] = by_reason.get(r.as_str()).copied().unwrap_or(0);
            }
            let stats = StrategyStats { events_seen: u(n[0]), opportunities, actions: u(n[1]), errors: u(n[2]) };
            strategies.push(StrategyOutcome { id, enabled, stats, wall_ns_samples: LatencySketch::default() });
        }
        let fills = self.rows(
            "SELECT trade_id, strategy, buy_venue, sell_venue, decided_at_ns, closed_at_ns, quote_age_ns, planned_base, \
             base_bought, base_sold, quote_paid, quote_received, fees, gas_wei, gas_quote, unwinds, residual_base, \
             residual_value, predicted_gross, predicted_net, gross_pnl, net_pnl, status, atomic, touched_before, \
             revert_reason FROM fills ORDER BY seq",
            |r| {
                let mut text = Vec::with_capacity(17);
                for c in [2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22] {
                    text.push(r.get::<_, String>(c)?);
                }
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, u16>(1)?,
                    [r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?],
                    r.get::<_, u8>(15)?,
                    r.get::<_, bool>(23)?,
                    r.get::<_, u32>(24)?,
                    r.get::<_, Option<String>>(25)?,
                    text,
                ))
            },
        )?;
        let mut trades = Vec::with_capacity(fills.len());
        for (id, strategy, times, unwinds, atomic, touched_before, revert_reason, t) in fills {
            let venue = |s: &str| parse_venue(s).ok_or_else(|| self.bad(format!("fills: venue `{s}`")));
            let status = [TradeStatus::Filled, TradeStatus::Partial, TradeStatus::LegFailed]
                .into_iter()
                .find(|s| s.as_str() == t[16])
                .ok_or_else(|| self.bad(format!("fills: status `{}`", t[16])))?;
            let n = |k: usize| -> Result<u128, JournalError> { self.num("fills", "amount", &t[k]) };
            let s = |k: usize| -> Result<i128, JournalError> { self.num("fills", "amount", &t[k]) };
            trades.push(TradeRecord {
                id,
                strategy,
                buy_venue: venue(&t[0])?,
                sell_venue: venue(&t[1])?,
                decided_at: u(times[0]),
                closed_at: u(times[1]),
                quote_age: u(times[2]),
                planned_base: n(2)?,
                base_bought: n(3)?,
                base_sold: n(4)?,
                quote_paid: n(5)?,
                quote_received: n(6)?,
                fees: n(7)?,
                gas_wei: n(8)?,
                gas_quote: n(9)?,
                unwinds,
                residual_base: s(10)?,
                residual_value: s(11)?,
                predicted_gross: s(12)?,
                predicted_net: s(13)?,
                gross_pnl: s(14)?,
                net_pnl: s(15)?,
                status,
                atomic,
                touched_before,
                revert_reason,
            });
        }
        let equity_rows = self.rows("SELECT time_ns, block, equity_raw, mark_raw FROM equity ORDER BY seq", |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        let mut equity = Vec::with_capacity(equity_rows.len());
        for (time, block, e, m) in equity_rows {
            equity.push(EquityPoint {
                time: u(time),
                block: u(block),
                equity: self.num("equity", "equity_raw", &e)?,
                mark: self.num("equity", "mark_raw", &m)?,
            });
        }
        let fee: String = self.counter("final_base_fee_wei")?;
        Ok(BacktestResult {
            wallet: self.counter("wallet")?,
            trades,
            equity,
            strategies,
            exec: self.counter("exec")?,
            feed: self.counter("feed")?,
            blocks: self.counter("blocks")?,
            block_stats: self.counter("block_stats")?,
            final_base_fee_wei: self.num("counters", "final_base_fee_wei", &fee)?,
            events_processed: self.counter("events_processed")?,
            order_latencies: self.samples("order_one_way")?,
            feed_latencies: LatencySketch::from_buckets(&self.latencies("feed")?),
            completion_latencies: self.samples("decision_to_settled")?,
            quote_ages: self.samples("quote_age_at_decision")?,
            risk_rejects: self.counter("risk_rejects")?,
            emergency_stop_at: self.counter("emergency_stop_at_ns")?,
            risk: self.counter("risk")?,
            outliers_published: self.counter("outliers_published")?,
            venue_names: self.counter("venue_names")?,
            pool_names: self.counter("pool_names")?,
            journal,
            wall: WallTiming::default(),
        })
    }

    fn sandwich(&self, journal: Journal) -> Result<SandwichResult, JournalError> {
        type RecordRow = (i64, i64, bool, i64, [Option<String>; 9], f64, String, String, Option<String>);
        let rows: Vec<RecordRow> = self.rows(
            "SELECT block, pool, sells_base, victims, front_in_raw, predicted_back_out_raw, realised_back_out_raw, \
             predicted_gross_raw, realised_gross_raw, gas_wei, bribe_wei, mark_raw, net_quote_raw, \
             success_probability, outcome, reason, bundle_hash FROM sandwich_records ORDER BY seq",
            |r| {
                let mut t: [Option<String>; 9] = Default::default();
                for (k, slot) in t.iter_mut().enumerate() {
                    *slot = r.get(4 + k)?;
                }
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, t, r.get(13)?, r.get(14)?, r.get(15)?, r.get(16)?))
            },
        )?;
        let mut records = Vec::with_capacity(rows.len());
        for (block, pool, sells_base, victims, t, success_probability, outcome, reason, hash) in rows {
            let text = |k: usize| t[k].clone().ok_or_else(|| self.bad(format!("sandwich_records: column {k} is null")));
            let num = |k: usize| -> Result<u128, JournalError> { self.num("sandwich_records", "amount", &text(k)?) };
            let opt_u256 = |k: usize| -> Result<Option<U256>, JournalError> {
                t[k].as_deref().map(|x| self.num("sandwich_records", "amount", x)).transpose()
            };
            let outcome = SandwichRecord::OUTCOMES
                .into_iter()
                .find(|o| *o == outcome)
                .ok_or_else(|| self.bad(format!("sandwich_records: outcome `{outcome}`")))?;
            records.push(SandwichRecord {
                block: u(block),
                pool: pool as usize,
                sells_base,
                victims: victims as usize,
                front_in_raw: self.num("sandwich_records", "front_in_raw", &text(0)?)?,
                predicted_back_out_raw: self.num("sandwich_records", "predicted_back_out_raw", &text(1)?)?,
                realised_back_out_raw: opt_u256(2)?,
                predicted_gross_raw: self.num("sandwich_records", "predicted_gross_raw", &text(3)?)?,
                realised_gross_raw: t[4].as_deref().map(|x| self.num("sandwich_records", "amount", x)).transpose()?,
                gas_wei: num(5)?,
                bribe_wei: num(6)?,
                mark: num(7)?,
                success_probability,
                outcome,
                reason,
                bundle_hash: hash.as_deref().map(|h| self.num("sandwich_records", "bundle_hash", h)).transpose()?,
            });
        }
        type VictimRow = (String, Option<i64>, i64, String, [bool; 3], [Option<String>; 2], String, u32);
        let rows: Vec<VictimRow> = self.rows(
            "SELECT tx_hash, block, pool, method, sells_base, sandwiched, succeeded, alone_raw, actual_raw, loss_raw, \
             loss_decimals FROM victims ORDER BY seq",
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    [r.get(4)?, r.get(5)?, r.get(6)?],
                    [r.get(7)?, r.get(8)?],
                    r.get(9)?,
                    r.get(10)?,
                ))
            },
        )?;
        let mut victims = Vec::with_capacity(rows.len());
        for (hash, block, pool, method, flags, amounts, loss, loss_decimals) in rows {
            let method = SwapMethod::ALL
                .into_iter()
                .find(|m| method_name(*m) == method)
                .ok_or_else(|| self.bad(format!("victims: method `{method}`")))?;
            let amount = |k: usize| -> Result<Option<U256>, JournalError> {
                amounts[k].as_deref().map(|x| self.num("victims", "amount", x)).transpose()
            };
            victims.push(VictimRecord {
                tx_hash: self.num("victims", "tx_hash", &hash)?,
                block: block.map(u),
                pool: pool as usize,
                method,
                sells_base: flags[0],
                sandwiched: flags[1],
                succeeded: flags[2],
                alone_raw: amount(0)?,
                actual_raw: amount(1)?,
                loss_raw: self.num("victims", "loss_raw", &loss)?,
                loss_decimals,
            });
        }
        let wallet: [[String; 3]; 3] = self.counter("sandwich.wallet")?;
        let mut w = [[0u128; 3]; 3];
        for (k, line) in wallet.iter().enumerate() {
            for (t, v) in line.iter().enumerate() {
                w[k][t] = self.num("counters", "sandwich.wallet", v)?;
            }
        }
        let fee: String = self.counter("sandwich.final_base_fee_wei")?;
        Ok(SandwichResult {
            records,
            victims,
            bundles: self.counter("sandwich.bundles")?,
            relay: self.counter("sandwich.relay")?,
            skips: self.counter("sandwich.skips")?,
            blocks: self.counter("sandwich.blocks")?,
            booked: w[0],
            on_chain: w[1],
            initial: w[2],
            final_base_fee_wei: self.num("counters", "sandwich.final_base_fee_wei", &fee)?,
            risk_rejects: self.counter("sandwich.risk_rejects")?,
            risk: self.counter("sandwich.risk")?,
            journal,
        })
    }

    fn liquidation(&self, journal: Journal) -> Result<LiquidationResult, JournalError> {
        type RecordRow = (i64, String, i64, i64, String, [Option<String>; 12], String, String, Option<i64>, i64);
        let rows: Vec<RecordRow> = self.rows(
            "SELECT block, borrower, collateral, debt, funding, health_before, health_after, debt_to_cover, \
             predicted_repaid, predicted_seized, predicted_proceeds, realised_gross, gross_base, bonus_base, gas_wei, \
             bribe_wei, eth_price, profit_asset, outcome, reason, source_block FROM liquidation_records ORDER BY seq",
            |r| {
                let mut t: [Option<String>; 12] = Default::default();
                for (k, slot) in t.iter_mut().enumerate() {
                    *slot = r.get(5 + k)?;
                }
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    t,
                    r.get(18)?,
                    r.get(19)?,
                    r.get(20)?,
                    r.get(17)?,
                ))
            },
        )?;
        let mut records = Vec::with_capacity(rows.len());
        for (block, borrower, collateral, debt, funding, t, outcome, reason, source_block, profit_asset) in rows {
            let table = "liquidation_records";
            let text = |k: usize| t[k].clone().ok_or_else(|| self.bad(format!("{table}: column {k} is null")));
            let funding = [Funding::Inventory, Funding::FlashSwap]
                .into_iter()
                .find(|f| f.name() == funding)
                .ok_or_else(|| self.bad(format!("{table}: funding `{funding}`")))?;
            let outcome = LiquidationRecord::OUTCOMES
                .into_iter()
                .find(|o| *o == outcome)
                .ok_or_else(|| self.bad(format!("{table}: outcome `{outcome}`")))?;
            records.push(LiquidationRecord {
                block: u(block),
                borrower: self.num(table, "borrower", &borrower)?,
                collateral: collateral as usize,
                debt: debt as usize,
                funding,
                health_before: self.num(table, "health_before", &text(0)?)?,
                health_after: t[1].as_deref().map(|x| self.num(table, "health_after", x)).transpose()?,
                debt_to_cover: self.num(table, "debt_to_cover", &text(2)?)?,
                predicted_repaid: self.num(table, "predicted_repaid", &text(3)?)?,
                predicted_seized: self.num(table, "predicted_seized", &text(4)?)?,
                predicted_proceeds: self.num(table, "predicted_proceeds", &text(5)?)?,
                profit_asset: profit_asset as usize,
                realised_gross: t[6].as_deref().map(|x| self.num(table, "realised_gross", x)).transpose()?,
                gross_base: self.num(table, "gross_base", &text(7)?)?,
                bonus_base: self.num(table, "bonus_base", &text(8)?)?,
                gas_wei: self.num(table, "gas_wei", &text(9)?)?,
                bribe_wei: self.num(table, "bribe_wei", &text(10)?)?,
                eth_price: self.num(table, "eth_price", &text(11)?)?,
                outcome,
                reason,
                source_block: source_block.map(u),
            });
        }
        let rows: Vec<(String, i64, String, String)> = self
            .rows("SELECT borrower, block, health_factor, event FROM health_timeline ORDER BY seq", |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
        let mut timeline = Vec::with_capacity(rows.len());
        for (borrower, block, hf, event) in rows {
            let event = HealthPoint::EVENTS
                .into_iter()
                .find(|e| *e == event)
                .ok_or_else(|| self.bad(format!("health_timeline: event `{event}`")))?;
            timeline.push(HealthPoint {
                borrower: self.num("health_timeline", "borrower", &borrower)?,
                block: u(block),
                health_factor: self.num("health_timeline", "health_factor", &hf)?,
                event,
            });
        }
        let wallet: [Vec<String>; 3] = self.counter("liquidation.wallet")?;
        let mut w: [Vec<u128>; 3] = Default::default();
        for (k, line) in wallet.iter().enumerate() {
            for v in line {
                w[k].push(self.num("counters", "liquidation.wallet", v)?);
            }
        }
        let [initial, booked, on_chain] = w;
        let [unhealthy_at_end, unhealthy_unprofitable_at_end]: [u64; 2] =
            self.counter("liquidation.unhealthy_at_end")?;
        let [bundles_submitted, bundles_included, simulation_failed, rival_liquidations]: [u64; 4] =
            self.counter("liquidation.bundles")?;
        let bad_debt: String = self.counter("liquidation.bad_debt_base")?;
        Ok(LiquidationResult {
            records,
            symbols: self.counter("liquidation.symbols")?,
            blocks: self.counter("liquidation.blocks")?,
            oracle_updates: self.counter("liquidation.oracle_updates")?,
            borrowers: self.counter("liquidation.borrowers")?,
            unhealthy_at_end,
            unhealthy_unprofitable_at_end,
            bad_debt_base: self.num("counters", "liquidation.bad_debt_base", &bad_debt)?,
            initial,
            booked,
            on_chain,
            bundles_submitted,
            bundles_included,
            simulation_failed,
            rival_liquidations,
            skips: self.counter("liquidation.skips")?,
            timeline,
            replay_blocks: self.counter("liquidation.replay_blocks")?,
            risk_rejects: self.counter("liquidation.risk_rejects")?,
            risk: self.counter("liquidation.risk")?,
            journal,
        })
    }

    fn shared_wallet(&self) -> Result<SharedWallet, JournalError> {
        let lines: [Vec<String>; 3] = self.counter("all.wallet")?;
        let mut w: [Vec<u128>; 3] = Default::default();
        for (k, line) in lines.iter().enumerate() {
            for v in line {
                w[k].push(self.num("counters", "all.wallet", v)?);
            }
        }
        let [initial, booked, on_chain] = w;
        let rows: Vec<(String, Vec<String>)> = self.counter("all.wallet.changes")?;
        let mut changes = Vec::with_capacity(rows.len());
        for (family, c) in rows {
            let family = crate::engine::all::FAMILIES
                .into_iter()
                .find(|f| *f == family)
                .ok_or_else(|| self.bad(format!("all.wallet.changes: family `{family}`")))?;
            let c: Result<Vec<i128>, JournalError> =
                c.iter().map(|x| self.num("counters", "all.wallet.changes", x)).collect();
            changes.push((family, c?));
        }
        Ok(SharedWallet { symbols: self.counter("all.wallet.symbols")?, initial, booked, on_chain, changes })
    }
}

/// Reads a journal file written by `write`.
pub fn read(path: &Path) -> Result<JournalFile, JournalError> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| JournalError::Sqlite { path: path.to_path_buf(), source })?;
    let r = Reader { path, conn };
    let meta: BTreeMap<String, String> =
        r.rows("SELECT key, value FROM meta", |row| Ok((row.get(0)?, row.get(1)?)))?.into_iter().collect();
    match meta.get("format") {
        Some(f) if f == FORMAT => {}
        other => return Err(r.bad(format!("format {other:?}, this xcrack reads {FORMAT}"))),
    }
    let journal = r.journal()?;
    let mode = meta.get("mode").map(String::as_str).unwrap_or("");
    let backtest = if matches!(mode, "cex_dex" | "all") { Some(r.backtest(journal.clone())?) } else { None };
    let sandwich = if matches!(mode, "sandwich" | "all") { Some(r.sandwich(journal.clone())?) } else { None };
    let liquidation = if matches!(mode, "liquidation" | "all") { Some(r.liquidation(journal.clone())?) } else { None };
    if mode == "all" {
        let (Some(market), Some(sandwich), Some(liquidation)) = (backtest, sandwich, liquidation) else {
            return Err(r.bad("a combined run's journal without all three sections"));
        };
        let all = AllResult {
            events_processed: market.events_processed,
            market,
            sandwich,
            liquidation,
            wallet: r.shared_wallet()?,
        };
        return Ok(JournalFile { meta, journal, backtest: None, sandwich: None, liquidation: None, all: Some(all) });
    }
    let all = None;
    Ok(JournalFile { meta, journal, backtest, sandwich, liquidation, all })
}

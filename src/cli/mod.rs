//! Command-line interface: one file per subcommand (`Args` + `run`).

pub mod backtest;
pub mod bench;
pub mod fork;
pub mod live;
pub mod relay;
pub mod report;
pub mod signoff;

use clap::{Parser, Subcommand};

/// Exit code for bad input (configuration, scenario, arguments).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code for a run that failed for another reason (e.g. the report could not be written).
pub const EXIT_FAILURE: i32 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "xcrack",
    version,
    about = "Simulation-first MEV searcher: deterministic backtests of MEV and arbitrage strategies",
    long_about = "xcrack runs the same strategy code in deterministic backtests on a simulated market \
(CEX order books, Uniswap-V2-compatible pools executed by revm, a mempool with noise traders and \
rival arbitrageurs), \
and later against forked and live chain state.\n\n\
Configuration precedence: embedded config/default.toml < --config FILE < scenario file < \
XCRACK_SECTION__KEY environment variables < --seed / --set on the command line."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios on the simulated market and write reports (Parquet, CSV, JSON, Markdown).
    ///
    /// Each scenario runs with its seed (or --seed) and writes reports/<scenario>-<seed>/ (or
    /// <--out>/<scenario>-<seed>/): summary.json, summary.md, trades.parquet, trades.csv,
    /// equity.parquet and timing.json. Same scenario and seed give byte-identical reports,
    /// except timing.json (wall-clock figures). Bad input exits with code 2 and writes nothing.
    Backtest(backtest::Args),
    /// Serve a Flashbots-compatible relay (eth_sendBundle, eth_callBundle, eth_cancelBundle over
    /// HTTP JSON-RPC, X-Flashbots-Signature verified) over a simulated chain built from a scenario.
    Relay(relay::Args),
    /// Dry-run the strategies over real chain state: pin block N on a node (chain id and hash
    /// checked), offer each next block's transactions as pending, confirm every bundle by
    /// simulation on the pinned state and record it; nothing is sent. Sandwich, liquidation
    /// ([fork.lending]) and cross-DEX strategies. Writes <--out>/<name>-block-<N>/ (summary.json/.md,
    /// bundles.jsonl, sandwiches, opportunities and, as they ran, liquidations,
    /// liquidation_opportunities and atomic_arbitrages tables); --record FILE keeps every RPC answer,
    /// --replay FILE runs offline from one. Nodes: http(s):// or ws(s)://.
    Fork(fork::Args),
    /// Time the hot paths as ratios to a calibration workload measured in the same run, compare
    /// them with the committed baseline (benches/baseline.json) and, with --check, fail (exit 3)
    /// when one got slower than the margin; --scenarios tabulates every shipped scenario's
    /// headline figures against the committed table.
    Bench(bench::Args),
    /// Sign a configuration off for live mode: run the backtests and the fork dry run its
    /// [signoff] names (each with this config), check the criteria on every report, and write the
    /// record (config and binary hashes, each check) live mode requires. Exit 4 when a check failed.
    Signoff(signoff::Args),
    /// Trade live: the sandwich strategy on a real node (new heads over its WebSocket, its pending
    /// pool) with bundles to real relays, after a passing sign-off of this exact config; paused
    /// until --go or the go file, stopped by the stop file; every bundle journaled before it is sent.
    Live(live::Args),
    /// Write a run's report again from its SQLite journal (`backtest --journal FILE`), given the
    /// scenario, seed and overrides the run used: byte-identical to the run's report (CEX/DEX runs).
    Report(report::Args),
}

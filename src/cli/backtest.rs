//! `xcrack backtest`: validate every scenario first, then run each and write its report.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::config::{self, ConfigError, RunSpec, Sources};
use crate::core::NANOS_PER_SEC;
use crate::engine;
use crate::report;

/// What a run is made of besides its scenario, shared by every command that resolves one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Settings {
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Reports root: a backtest writes <DIR>/<scenario>-<seed>/, a fork run <DIR>/<name>-block-<N>/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Configuration file overriding the embedded defaults ([network], [strategies], [safety], [monitoring], [fork],
    /// [keys], [signoff]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Override any key, e.g. --set strategies.micro_arbitrage.min_profit_usd=5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario files or glob patterns (e.g. 'scenarios/*.toml'). None: the embedded calm scenario.
    pub scenarios: Vec<String>,
    #[command(flatten)]
    pub settings: Settings,
    /// No progress bar and no summary table.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write the run's journal here as SQLite (every event the strategies saw, every action
    /// and decision, bundle news; for CEX/DEX runs the fills, equity and counters): one scenario only.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// An error the CLI reports with its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError { code: EXIT_BAD_INPUT, message: e.to_string() }
    }
}

fn bad_input(message: String) -> CliError {
    CliError { code: EXIT_BAD_INPUT, message }
}

/// Expands files and globs, in the order given (each glob sorted), without duplicates.
fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, CliError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in patterns {
        let is_glob = p.contains(['*', '?', '[']);
        if !is_glob {
            out.push(PathBuf::from(p));
            continue;
        }
        let mut matched: Vec<PathBuf> = glob::glob(p)
            .map_err(|e| bad_input(format!("{p}: bad glob pattern: {e}")))?
            .filter_map(Result::ok)
            .collect();
        if matched.is_empty() {
            return Err(bad_input(format!("{p}: no scenario file matches")));
        }
        matched.sort();
        out.extend(matched);
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

fn sources_for(args: &Args, scenario: Option<(String, String)>) -> Sources {
    let mut cli = Vec::new();
    let args = &args.settings;
    if let Some(seed) = args.seed {
        cli.push(("seed".to_string(), seed.to_string()));
    }
    for kv in &args.set {
        if let Some((k, v)) = kv.split_once('=') {
            cli.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Sources { config_file: args.config.clone(), scenario, env: Vec::new(), cli }.with_process_env()
}

/// Loads and validates every scenario before anything runs, so bad input writes nothing.
pub fn load_all(args: &Args) -> Result<Vec<RunSpec>, CliError> {
    for kv in &args.settings.set {
        if !kv.contains('=') {
            return Err(bad_input(format!("--set {kv}: expected KEY=VALUE")));
        }
    }
    let files = expand(&args.scenarios)?;
    if files.is_empty() {
        let spec = config::load_backtest(&sources_for(args, None), Path::new("."))?;
        return Ok(vec![spec]);
    }
    let mut specs = Vec::new();
    for f in files {
        let shown = f.display().to_string();
        let text = std::fs::read_to_string(&f).map_err(|e| ConfigError::io(&shown, &e))?;
        let base_dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
        specs.push(config::load_backtest(&sources_for(args, Some((shown, text))), &base_dir)?);
    }
    if let Some(s) = specs.iter().find(|s| s.fork.is_some()) {
        return Err(bad_input(format!(
            "scenario `{}` has a [fork] section: it runs over real chain state with `xcrack fork`, not as a backtest",
            s.name
        )));
    }
    Ok(specs)
}

/// Every run's report directory, checked before the first run starts: the names are safe (the
/// resolver checked them), no two runs share a directory, and none would replace a folder that is
/// not an xcrack report.
pub fn report_dirs(specs: &[RunSpec], out: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut seen = std::collections::BTreeMap::new();
    let mut dirs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let dir = out.join(format!("{}-{}", spec.name, spec.seed));
        if let Some(first) = seen.insert(dir.clone(), i) {
            return Err(bad_input(format!(
                "scenarios {} and {} would both write {} (same name `{}` and seed {}): give one another name or seed",
                first + 1,
                i + 1,
                dir.display(),
                spec.name,
                spec.seed
            )));
        }
        crate::report::output::check_target(&dir).map_err(bad_input)?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// `--journal FILE`, checked before anything runs: one scenario, and a directory to write into.
fn journal_target(args: &Args, runs: usize) -> Result<Option<&Path>, CliError> {
    let Some(path) = args.journal.as_deref() else { return Ok(None) };
    if runs != 1 {
        return Err(bad_input(format!("--journal {}: takes one scenario, not {runs}", path.display())));
    }
    if path.is_dir() {
        return Err(bad_input(format!("--journal {}: is a directory; name the file to write", path.display())));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(bad_input(format!("--journal {}: directory {} does not exist", path.display(), parent.display())));
    }
    Ok(Some(path))
}

fn new_journal(file: Option<&Path>) -> engine::journal::Journal {
    if file.is_some() { engine::journal::Journal::logging() } else { engine::journal::Journal::default() }
}

fn write_journal(
    file: Option<&Path>,
    spec: &RunSpec,
    journal: &engine::journal::Journal,
    run: engine::journal::sqlite::Run<'_>,
) -> Result<(), CliError> {
    let Some(path) = file else { return Ok(()) };
    engine::journal::sqlite::write(path, spec, journal, run)
        .map_err(|e| CliError { code: EXIT_FAILURE, message: e.to_string() })
}

pub fn run(args: Args) -> Result<(), CliError> {
    let specs = load_all(&args)?;
    let dirs = report_dirs(&specs, &args.settings.out)?;
    let journal_file = journal_target(&args, specs.len())?;
    for (spec, dir) in specs.iter().zip(dirs) {
        tracing::info!(target: "xcrack::cli", scenario = %spec.name, seed = spec.seed, out = %dir.display(), "backtest started");
        if engine::all::combines(spec) {
            run_all(spec, &dir, args.quiet, journal_file)?;
            continue;
        }
        if spec.sandwich.enabled {
            run_sandwich(spec, &dir, args.quiet, journal_file)?;
            continue;
        }
        if spec.liquidation.enabled {
            run_liquidation(spec, &dir, args.quiet, journal_file)?;
            continue;
        }
        let bar = if args.quiet {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new(spec.duration / NANOS_PER_SEC);
            b.set_style(
                ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} simulated s ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(spec.name.clone());
            b
        };
        let result = engine::backtest::run_journaled(spec, new_journal(journal_file), &mut |t| {
            bar.set_position(t / NANOS_PER_SEC)
        })
        .map_err(|e| CliError { code: EXIT_FAILURE, message: format!("{}: {e}", spec.name) })?;
        bar.finish_and_clear();
        let summary =
            report::write(spec, &result, &dir).map_err(|e| CliError { code: EXIT_FAILURE, message: e.to_string() })?;
        write_journal(journal_file, spec, &result.journal, engine::journal::sqlite::Run::CexDex(&result))?;
        let timing = report::timing(&result);
        tracing::info!(target: "xcrack::cli", scenario = %spec.name, events = result.events_processed, wall_s = timing.wall_s, "backtest finished");
        if !args.quiet {
            print_summary(spec, &summary, &result.journal, &cex_detail(&summary, &timing), &dir);
        }
    }
    Ok(())
}

/// Every enabled strategy on one chain and wallet (`engine::all`).
fn run_all(spec: &RunSpec, dir: &Path, quiet: bool, journal: Option<&Path>) -> Result<(), CliError> {
    let fail = |message: String| CliError { code: EXIT_FAILURE, message };
    let result = engine::all::run_journaled(spec, new_journal(journal), &mut |_| {})
        .map_err(|e| fail(format!("{}: {e}", spec.name)))?;
    let s = report::all::write(spec, &result, dir).map_err(|e| fail(e.to_string()))?;
    write_journal(journal, spec, &result.market.journal, engine::journal::sqlite::Run::All(&result))?;
    if !quiet {
        let sec = &s.sections;
        let detail = format!(
            "{} trades; {} of {} sandwich bundles included; {} liquidations, {} rival; {} events",
            sec.market.trades.count,
            sec.sandwich.bundles.included,
            sec.sandwich.bundles.submitted,
            result.liquidation.records.iter().filter(|r| r.outcome == "included").count(),
            result.liquidation.rival_liquidations,
            s.events_processed,
        );
        print_summary(spec, &s, &result.market.journal, &detail, dir);
    }
    Ok(())
}

/// A sandwich scenario: the mempool, strategy, bundle manager and relay loop (`engine::sandwich`).
fn run_sandwich(spec: &RunSpec, dir: &Path, quiet: bool, journal: Option<&Path>) -> Result<(), CliError> {
    let fail = |message: String| CliError { code: EXIT_FAILURE, message };
    let result =
        engine::sandwich::run_journaled(spec, new_journal(journal)).map_err(|e| fail(format!("{}: {e}", spec.name)))?;
    let s = report::sandwich::write(spec, &result, dir).map_err(|e| fail(e.to_string()))?;
    write_journal(journal, spec, &result.journal, engine::journal::sqlite::Run::Sandwich(&result))?;
    if !quiet {
        let detail = format!(
            "gross {:.2}, bribes {:.2}, gas {:.2} {c}; {} outbid, {} never sent after a failed simulation; victims lost {:.2}",
            s.pnl.gross,
            s.pnl.bribe,
            s.pnl.gas,
            s.bundles.outbid,
            s.bundles.simulation_failed,
            s.victims.loss_total,
            c = s.pnl.currency,
        );
        print_summary(spec, &s, &result.journal, &detail, dir);
    }
    Ok(())
}

/// A liquidation scenario: borrowers, oracle updates, watch list and bundles (`engine::liquidation`).
fn run_liquidation(spec: &RunSpec, dir: &Path, quiet: bool, journal: Option<&Path>) -> Result<(), CliError> {
    let fail = |message: String| CliError { code: EXIT_FAILURE, message };
    let result = engine::liquidation::run_journaled(spec, new_journal(journal))
        .map_err(|e| fail(format!("{}: {e}", spec.name)))?;
    let s = report::liquidation::write(spec, &result, dir).map_err(|e| fail(e.to_string()))?;
    write_journal(journal, spec, &result.journal, engine::journal::sqlite::Run::Liquidation(&result))?;
    if !quiet {
        let detail = format!(
            "gross {:.2}, gas {:.2}, bribes {:.2} {c}; {} borrowers still below HF 1, bad debt {:.2}",
            s.pnl.gross,
            s.pnl.gas,
            s.pnl.bribe,
            s.unhealthy_at_end,
            s.bad_debt_usd,
            c = s.pnl.currency,
        );
        print_summary(spec, &s, &result.journal, &detail, dir);
    }
    Ok(())
}

/// One summary shape for every run (see `report::headline`).
fn print_summary(
    spec: &RunSpec,
    summary: &impl serde::Serialize,
    journal: &engine::journal::Journal,
    detail: &str,
    dir: &Path,
) {
    let Ok(value) = serde_json::to_value(summary) else { return };
    let run = format!("{}-{}", spec.name, spec.seed);
    let secs = spec.duration as f64 / NANOS_PER_SEC as f64;
    print!("{}", report::headline::console(&run, secs, &value, journal, detail, dir));
}

/// The CEX/DEX run's own figures beside the common shape.
fn cex_detail(s: &report::Summary, t: &report::Timing) -> String {
    let c = &s.pnl.currency;
    let o = &s.opportunities;
    format!(
        "{} trades (win rate {:.1} %, fill ratio {:.3}, {} failed legs); fees {:.2} / gas {:.2} {c}; Sharpe {}, max drawdown {:.2} {c}; {} opportunities (once per spread), evaluated {} times; {} events at {:.0}/s wall",
        s.trades.count,
        s.trades.win_rate * 100.0,
        s.trades.fill_ratio,
        s.execution.legs_failed,
        s.pnl.fees,
        s.pnl.gas,
        match s.risk.sharpe {
            Some(_) => format!(
                "{} from {} {} returns",
                report::sharpe_text(&s.risk),
                s.risk.sharpe_returns,
                s.risk.sharpe_interval
            ),
            None => report::sharpe_text(&s.risk),
        },
        s.risk.max_drawdown,
        o.episodes,
        o.evaluations,
        s.events_processed,
        t.events_per_s
    )
}

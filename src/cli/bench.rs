//! `xcrack bench`: the hot paths as ratios to a calibration workload, against the committed
//! baseline (`benches/baseline.json`), failing with `--check` when one got slower than the margin;
//! `--scenarios`: every shipped scenario's headline figures, against the committed table.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::backtest::{CliError, load_all, report_dirs};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::bench::runner::{self, BenchRun, Budget};

/// Exit code of `--check` when a path regressed.
pub const EXIT_REGRESSED: i32 = 3;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Five short repetitions per path (about 9 s in all on our VM) instead of fifteen longer ones.
    #[arg(long)]
    pub quick: bool,
    /// Write this run as the new baseline (on purpose: after a change that is meant to be faster or
    /// slower, or on a new reference machine).
    #[arg(long)]
    pub save: bool,
    /// Also write the run as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Only the paths whose name contains this.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub filter: String,
    /// The committed baseline.
    #[arg(long, value_name = "FILE", default_value = "benches/baseline.json")]
    pub baseline: PathBuf,
    /// Exit with code 3 when a path's ratio is worse than the baseline's by more than the margin.
    #[arg(long)]
    pub check: bool,
    /// Instead of the paths: run every scenario in DIR and print the headline table, with the
    /// change against the committed one.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "scenarios")]
    pub scenarios: Option<PathBuf>,
    /// Measure nothing: print the Markdown performance table of a saved run (a baseline file or
    /// --json output), as the README's table is made.
    #[arg(long, value_name = "FILE")]
    pub markdown_from: Option<PathBuf>,
    /// Test hook: run path NAME's body FACTOR times per call (to see the gate fire).
    #[arg(long, value_name = "NAME=FACTOR", hide = true)]
    pub slow_path: Option<String>,
}

/// The committed baseline: a saved run and the margin the gate allows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// Largest allowed ratio / baseline − 1 before `--check` fails.
    pub margin: f64,
    /// How the margin was chosen.
    pub margin_reason: String,
    pub run: BenchRun,
}

/// Margin for a new baseline file: above the widest range of any path's ratio over ten quick runs
/// on the reference VM (6.3 % quiet, 28 % with one busy process; see the README).
pub const DEFAULT_MARGIN: f64 = 0.30;

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(dir) = &args.scenarios {
        return scenarios(dir);
    }
    if let Some(file) = &args.markdown_from {
        let bad = |e: String| CliError { code: EXIT_BAD_INPUT, message: format!("{}: {e}", file.display()) };
        let bytes = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
        let run = match serde_json::from_slice::<Baseline>(&bytes) {
            Ok(b) => b.run,
            Err(_) => serde_json::from_slice::<BenchRun>(&bytes).map_err(|e| bad(format!("not a saved run: {e}")))?,
        };
        print!("{}", runner::markdown(&run));
        return Ok(());
    }
    let fail = |message: String| CliError { code: EXIT_FAILURE, message };
    let baseline: Option<Baseline> = match std::fs::read(&args.baseline) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| CliError {
            code: EXIT_BAD_INPUT,
            message: format!("{}: not a baseline file: {e}", args.baseline.display()),
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(format!("{}: {e}", args.baseline.display()))),
    };
    if args.check && baseline.is_none() {
        return Err(CliError {
            code: EXIT_BAD_INPUT,
            message: format!("--check needs a baseline: {} does not exist (run with --save)", args.baseline.display()),
        });
    }
    let budget = if args.quick { Budget::quick() } else { Budget::full() };
    let slow = match &args.slow_path {
        None => None,
        Some(s) => {
            let parsed = s.rsplit_once('=').and_then(|(p, f)| f.parse::<u32>().ok().map(|f| (p, f)));
            let Some((path, factor)) = parsed else {
                return Err(CliError {
                    code: EXIT_BAD_INPUT,
                    message: format!("--slow-path {s}: expected NAME=FACTOR"),
                });
            };
            Some(runner::Slowdown { path: path.to_string(), factor })
        }
    };
    let mut run = runner::run_slowed(&args.filter, budget, slow.as_ref(), &mut |name| eprintln!("bench: {name}"));
    run.commit = commit();
    let margin = baseline.as_ref().map(|b| b.margin).unwrap_or(DEFAULT_MARGIN);
    let cmp = runner::compare(&run, baseline.as_ref().map(|b| &b.run), margin);
    print!("{}", runner::table(&run, &cmp));
    if run.paths.iter().any(|p| p.name.contains("sizing")) {
        let ((f1, g1, n1), (f2, g2, n2)) = runner::sizing_profits();
        println!(
            "sizing on the same victim: ours front-runs {f1} wei for a gross {g1} wei ({n1} EVM simulation), rusty-sando's search {f2} wei for {g2} wei ({n2} simulations)"
        );
    }
    println!("margin {:.0} %: a path fails the check when its ratio is that much above the baseline's", margin * 100.0);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&run).map_err(|e| fail(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| fail(format!("{}: {e}", path.display())))?;
    }
    if args.save {
        let reason = baseline.as_ref().map(|b| b.margin_reason.clone()).unwrap_or_else(|| {
            "above the widest range of any path's ratio over ten quick runs on the reference VM (6.3 % quiet, 28 % with one busy process)".into()
        });
        let b = Baseline { margin, margin_reason: reason, run: run.clone() };
        let text = serde_json::to_string_pretty(&b).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&args.baseline, text + "\n").map_err(|e| fail(format!("{}: {e}", args.baseline.display())))?;
        println!("baseline written to {}", args.baseline.display());
    }
    let regressed: Vec<&str> = cmp.iter().filter(|c| c.regressed).map(|c| c.name.as_str()).collect();
    if args.check && !regressed.is_empty() {
        return Err(CliError {
            code: EXIT_REGRESSED,
            message: format!("{} slower than the baseline by more than {:.0} %", regressed.join(", "), margin * 100.0),
        });
    }
    Ok(())
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Where the committed scenario table lives (an insta snapshot, reviewed like code).
pub const SCENARIO_SNAPSHOT: &str = "tests/snapshots/scenario_table__shipped_scenarios.snap";

fn scenarios(dir: &Path) -> Result<(), CliError> {
    let tmp = std::env::temp_dir().join(format!("xcrack-bench-scenarios-{}", std::process::id()));
    let table = scenario_table(dir, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let table = table?;
    print!("{table}");
    match std::fs::read_to_string(SCENARIO_SNAPSHOT) {
        Ok(committed) => {
            let committed: Vec<&str> = committed.lines().filter(|l| l.starts_with('|')).collect();
            let now: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
            let changed: Vec<String> = now
                .iter()
                .filter(|l| !committed.contains(l))
                .map(|l| format!("  now:  {l}"))
                .chain(committed.iter().filter(|l| !now.contains(l)).map(|l| format!("  was:  {l}")))
                .collect();
            if changed.is_empty() {
                println!("unchanged against {SCENARIO_SNAPSHOT}");
            } else {
                println!("changed against {SCENARIO_SNAPSHOT}:\n{}", changed.join("\n"));
            }
        }
        Err(_) => println!("({SCENARIO_SNAPSHOT} not found: nothing to compare with)"),
    }
    Ok(())
}

/// Runs every `*.toml` in `dir` (sorted) into `out` and tabulates each strategy's headline
/// figures from the reports: net P&L and what it is net of, activity, predicted = realised, and
/// whether our wallet on chain equals the books.
pub fn scenario_table(dir: &Path, out: &Path) -> Result<String, CliError> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| CliError { code: EXIT_BAD_INPUT, message: format!("{}: {e}", dir.display()) })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let args = super::backtest::Args {
        scenarios: files,
        settings: super::backtest::Settings { out: out.to_path_buf(), ..Default::default() },
        quiet: true,
        journal: None,
    };
    let specs = load_all(&args)?;
    let dirs = report_dirs(&specs, out)?;
    super::backtest::run(args)?;
    let mut t = String::from(
        "| scenario | strategy | net P&L | net of | activity | predicted = realised | wallet reconciled |\n|---|---|---:|---|---|---|---|\n",
    );
    for (spec, d) in specs.iter().zip(dirs) {
        let bytes = std::fs::read(d.join("summary.json"))
            .map_err(|e| CliError { code: EXIT_FAILURE, message: format!("{}: {e}", d.display()) })?;
        let s: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| CliError { code: EXIT_FAILURE, message: format!("{}: {e}", d.display()) })?;
        let run = format!("{}-{}", spec.name, spec.seed);
        for row in headline_rows(&s) {
            t.push_str(&format!("| {run} | {row} |\n"));
        }
    }
    Ok(t)
}

fn headline_rows(s: &serde_json::Value) -> Vec<String> {
    crate::report::headline::headlines(s)
        .into_iter()
        .map(|h| {
            let wallet = if h.wallet_reconciled { "yes" } else { "NO" };
            format!(
                "{} | {:.2} {} | {} | {} | {} | {wallet}",
                h.strategy, h.net, h.currency, h.net_of, h.activity, h.exact
            )
        })
        .collect()
}

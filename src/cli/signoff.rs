//! `xcrack signoff --config FILE`: runs the backtests and the fork dry run that the config file's
//! `[signoff]` names, each with that config layered in, checks its criteria on every run's report,
//! and writes the sign-off record live mode requires (`risk::signoff`). Exit 0 when it passed, 4
//! when a criterion failed (the record says which), 2 on bad input, 1 when a run failed.

use std::path::{Path, PathBuf};

use super::backtest::{CliError, Settings};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::risk::signoff::{Check, FORMAT, Signoff, SignoffConfig, binary_hash, file_hash};

/// A sign-off that ran but did not pass.
pub const EXIT_SIGNOFF_FAILED: i32 = 4;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration to sign off; its [signoff] names the runs and the criteria.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Where the record goes (default: next to the config file, `<name>.signoff.json`).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Keep the runs' reports here (a new directory); by default they are written to a temporary
    /// one and removed.
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// Check the existing record instead (what live mode does before it starts): it must be a
    /// passing sign-off of exactly this config file's bytes, made by this build.
    #[arg(long, conflicts_with = "reports")]
    pub verify: bool,
}

fn bad_input(message: String) -> CliError {
    CliError { code: EXIT_BAD_INPUT, message }
}

/// The `[signoff]` section of `text` (the file `shown`).
fn section(text: &str, shown: &str) -> Result<SignoffConfig, CliError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| bad_input(format!("{shown}: {e}")))?;
    let s = table.get("signoff").ok_or_else(|| {
        bad_input(format!("{shown}: no [signoff] section: name the scenarios (and a fork run) to sign off"))
    })?;
    let c: SignoffConfig = serde_path_to_error::deserialize(s.clone())
        .map_err(|e| bad_input(format!("{shown}: key `signoff.{}`: {}", e.path(), e.inner())))?;
    if c.scenarios.is_empty() && c.fork.is_none() {
        return Err(bad_input(format!("{shown}: key `signoff.scenarios`: name at least one run")));
    }
    Ok(c)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let shown = args.config.display().to_string();
    if args.verify {
        let record = args.record.clone().unwrap_or_else(|| args.config.with_extension("signoff.json"));
        let s = crate::risk::signoff::verify(&args.config, &record)
            .map_err(|message| CliError { code: EXIT_SIGNOFF_FAILED, message })?;
        println!("signed off: {shown} ({}), {} runs, {} checks passed", s.config, s.runs.len(), s.checks.len());
        return Ok(());
    }
    let text = std::fs::read_to_string(&args.config).map_err(|e| bad_input(format!("{shown}: {e}")))?;
    let cfg = section(&text, &shown)?;
    let config_hash = file_hash(&args.config).map_err(bad_input)?;
    let base = args.config.parent().map(Path::to_path_buf).unwrap_or_default();
    let record_path = args.record.clone().unwrap_or_else(|| args.config.with_extension("signoff.json"));
    let (reports, temporary) = match &args.reports {
        Some(d) => {
            crate::report::output::check_target(d).map_err(bad_input)?;
            (d.clone(), false)
        }
        None => (std::env::temp_dir().join(format!("xcrack-signoff-{}-{config_hash:.8}", std::process::id())), true),
    };
    let outcome = sign_off(&args.config, &cfg, &base, &reports, config_hash);
    if temporary {
        let _ = std::fs::remove_dir_all(&reports);
    }
    let record = outcome?;
    let json = serde_json::to_string_pretty(&record).map_err(|e| failure(e.to_string()))? + "\n";
    // Whole or not at all: written beside it, then renamed over it.
    let tmp = record_path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, json).and_then(|_| std::fs::rename(&tmp, &record_path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failure(format!("{}: {e}", record_path.display()))
    })?;
    for c in &record.checks {
        println!("{} {}: {} — {}", if c.passed { "pass" } else { "FAIL" }, c.run, c.criterion, c.observed);
    }
    if record.passed {
        println!("signed off: {} ({})", record_path.display(), record.config);
        Ok(())
    } else {
        Err(CliError {
            code: EXIT_SIGNOFF_FAILED,
            message: format!("{shown}: the sign-off failed (record: {})", record_path.display()),
        })
    }
}

fn failure(message: String) -> CliError {
    CliError { code: EXIT_FAILURE, message }
}

fn sign_off(
    config: &Path,
    cfg: &SignoffConfig,
    base: &Path,
    reports: &Path,
    config_hash: alloy_primitives::B256,
) -> Result<Signoff, CliError> {
    let settings = Settings {
        seed: None,
        out: reports.to_path_buf(),
        config: Some(config.display().to_string()),
        set: Vec::new(),
    };
    let mut runs = Vec::new();
    let mut checks = Vec::new();
    let mut refusals = 0u64;
    for scenario in &cfg.scenarios {
        let path = base.join(scenario);
        let hash = file_hash(&path).map_err(bad_input)?;
        let args = super::backtest::Args {
            scenarios: vec![path.display().to_string()],
            settings: settings.clone(),
            quiet: true,
            journal: None,
        };
        let specs = super::backtest::load_all(&args)?;
        let dirs = super::backtest::report_dirs(&specs, reports)?;
        super::backtest::run(args)?;
        runs.push((scenario.clone(), hash));
        for dir in dirs {
            let s = summary(&dir)?;
            refusals += refused(&s);
            for h in crate::report::headline::headlines(&s) {
                let run = format!("{scenario} ({})", h.strategy);
                checks.push(Check {
                    run: run.clone(),
                    criterion: format!("net >= {} {}", cfg.min_net, h.currency),
                    observed: format!("{:.2} {} net of {}", h.net, h.currency, h.net_of),
                    passed: h.net >= cfg.min_net,
                });
                if cfg.require_exact {
                    // Bundles land whole or not at all, so their realised gross must equal the
                    // simulated one where the report counts them ("a of b"); the CEX/DEX strategies'
                    // public transactions can be moved by others in the same block, so theirs is
                    // reported, not required.
                    let bundles = matches!(h.strategy.as_str(), "sandwich" | "liquidation");
                    if let Some((a, b)) = parse_of(&h.exact).filter(|_| bundles) {
                        checks.push(Check {
                            run: run.clone(),
                            criterion: "realised = simulated prediction".into(),
                            observed: h.exact.clone(),
                            passed: a == b,
                        });
                    }
                    checks.push(Check {
                        run,
                        criterion: "wallet on the chain = books".into(),
                        observed: if h.wallet_reconciled { "reconciled" } else { "differs" }.into(),
                        passed: h.wallet_reconciled,
                    });
                }
            }
        }
    }
    if let Some(fork) = &cfg.fork {
        let path = base.join(fork);
        let hash = file_hash(&path).map_err(bad_input)?;
        let before: Vec<PathBuf> = listing(reports);
        let args = super::fork::Args {
            scenario: Some(path.display().to_string()),
            rpc: None,
            block: None,
            blocks: None,
            settings: settings.clone(),
            record: None,
            replay: None,
            cache: None,
            quiet: true,
        };
        super::fork::run(args)?;
        runs.push((fork.clone(), hash));
        let dir = listing(reports)
            .into_iter()
            .find(|d| !before.contains(d))
            .ok_or_else(|| failure("the fork run wrote no report".into()))?;
        let s = summary(&dir)?;
        refusals += refused(&s);
        checks.push(Check {
            run: format!("{fork} (fork dry run)"),
            criterion: "ran over the chain's state, nothing sent".into(),
            observed: fork_observed(&s),
            passed: true,
        });
    }
    checks.push(Check {
        run: "all runs".into(),
        criterion: format!("risk refusals <= {}", cfg.max_risk_refusals),
        observed: refusals.to_string(),
        passed: refusals <= cfg.max_risk_refusals,
    });
    let passed = checks.iter().all(|c| c.passed);
    Ok(Signoff {
        format: FORMAT,
        xcrack_version: env!("CARGO_PKG_VERSION").into(),
        binary: binary_hash().map_err(failure)?,
        config_file: config.display().to_string(),
        config: config_hash,
        runs,
        checks,
        passed,
    })
}

/// What a fork dry run would have sent, per strategy that ran.
fn fork_observed(s: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let w = &s["would_send"];
    let mut parts = vec![format!(
        "sandwich: {} bundle(s), predicted net {:.2} {}",
        w["bundles"],
        f(&w["predicted_net"]),
        w["currency"].as_str().unwrap_or("")
    )];
    if let Some(l) = s.get("liquidation") {
        parts.push(format!(
            "liquidation: {} bundle(s), predicted net {:.2} USD",
            l["bundles"],
            f(&l["predicted_net_usd"])
        ));
    }
    if let Some(c) = s.get("cross_dex") {
        parts.push(format!("cross-DEX: {} arbitrage(s), predicted net {:.2}", c["would_send"], f(&c["predicted_net"])));
    }
    parts.join("; ")
}

fn summary(dir: &Path) -> Result<serde_json::Value, CliError> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| failure(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| failure(format!("{}: {e}", path.display())))
}

/// Refusals by the risk gate a summary counts (every reason).
fn refused(s: &serde_json::Value) -> u64 {
    let count = |v: &serde_json::Value| v.as_object().map_or(0, |m| m.values().filter_map(|x| x.as_u64()).sum::<u64>());
    count(&s["risk_refused"])
        + s.get("sections").map_or(0, |sec| {
            ["market", "sandwich", "liquidation"].iter().map(|k| count(&sec[*k]["risk_refused"])).sum()
        })
}

/// "a of b" as (a, b).
fn parse_of(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(" of ")?;
    Some((a.trim().parse().ok()?, b.split_whitespace().next()?.parse().ok()?))
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

//! `xcrack report`: writes a run's report again from its SQLite journal (`backtest --journal`),
//! given the same scenario, seed and overrides it ran with (checked against the journal).

use std::path::PathBuf;

use super::backtest::{CliError, load_all, report_dirs};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::engine::journal::sqlite;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The journal a `backtest --journal FILE` run wrote.
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,
    /// The scenario the run used (none: the embedded calm scenario).
    pub scenario: Option<String>,
    /// The seed, reports root, configuration file and overrides: as the run had them.
    #[command(flatten)]
    pub settings: super::backtest::Settings,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let bt = super::backtest::Args {
        scenarios: args.scenario.iter().cloned().collect(),
        settings: args.settings.clone(),
        quiet: true,
        journal: None,
    };
    let spec = load_all(&bt)?.remove(0);
    let file = sqlite::read(&args.journal).map_err(|e| CliError { code: EXIT_BAD_INPUT, message: e.to_string() })?;
    let shown = args.journal.display();
    let meta = |k: &str| file.meta.get(k).cloned().unwrap_or_default();
    if meta("spec_fingerprint") != sqlite::spec_fingerprint(&spec) {
        return Err(CliError {
            code: EXIT_BAD_INPUT,
            message: format!(
                "{shown}: written by a run of `{}` seed {} with other settings than `{}` seed {} here: give the \
                 scenario, --seed, --config and --set the run used",
                meta("scenario"),
                meta("seed"),
                spec.name,
                spec.seed
            ),
        });
    }
    let failed = |e: crate::report::ReportError| CliError { code: EXIT_FAILURE, message: e.to_string() };
    let dir = || report_dirs(std::slice::from_ref(&spec), &args.settings.out).map(|mut d| d.remove(0));
    // A combined run's journal holds a CEX/DEX, a sandwich and a liquidation section too: the mode
    // says which report it is.
    let dir = match (meta("mode").as_str(), file.backtest, file.sandwich) {
        ("cex_dex", Some(result), _) => {
            let dir = dir()?;
            crate::report::write(&spec, &result, &dir).map_err(failed)?;
            dir
        }
        ("sandwich", _, Some(result)) => {
            let dir = dir()?;
            crate::report::sandwich::write(&spec, &result, &dir).map_err(failed)?;
            dir
        }
        ("liquidation", ..) if file.liquidation.is_some() => {
            let dir = dir()?;
            if let Some(result) = &file.liquidation {
                crate::report::liquidation::write(&spec, result, &dir).map_err(failed)?;
            }
            dir
        }
        ("all", ..) if file.all.is_some() => {
            let dir = dir()?;
            if let Some(result) = &file.all {
                crate::report::all::write(&spec, result, &dir).map_err(failed)?;
            }
            dir
        }
        (mode, ..) => {
            return Err(CliError {
                code: EXIT_BAD_INPUT,
                message: format!(
                    "{shown}: the journal of a `{mode}` run, which this xcrack does not rebuild reports of"
                ),
            });
        }
    };
    let timing = if dir.join("timing.json").exists() { " (timing.json has no wall-clock figures)" } else { "" };
    println!("report of {}-{} rebuilt from {shown} in {}{timing}", spec.name, spec.seed, dir.display());
    Ok(())
}

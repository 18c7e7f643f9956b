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
    // A combined run's journal holds a CEX/DEX section too: rebuilding that alone would not be its report.
    let result = match file.backtest {
        Some(result) if meta("mode") == "cex_dex" => result,
        _ => {
            return Err(CliError {
                code: EXIT_BAD_INPUT,
                message: format!(
                    "{shown}: the journal of a `{}` run; only CEX/DEX reports are rebuilt from journals yet",
                    meta("mode")
                ),
            });
        }
    };
    let dir = report_dirs(std::slice::from_ref(&spec), &args.settings.out)?.remove(0);
    crate::report::write(&spec, &result, &dir).map_err(|e| CliError { code: EXIT_FAILURE, message: e.to_string() })?;
    println!(
        "report of {}-{} rebuilt from {shown} in {} (timing.json has no wall-clock figures)",
        spec.name,
        spec.seed,
        dir.display()
    );
    Ok(())
}

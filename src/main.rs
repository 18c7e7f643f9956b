use clap::Parser;
use tracing_subscriber::EnvFilter;

use xcrack::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Backtest(a) => a.quiet,
        Command::Fork(a) => a.quiet,
        Command::Relay(_) | Command::Bench(_) | Command::Report(_) | Command::Signoff(_) | Command::Live(_) => false,
    };
    let default_level = if quiet { "error" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour only on a terminal: logs piped to files or other programs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(ansi)
        .init();

    let result = match cli.command {
        Command::Backtest(args) => xcrack::cli::backtest::run(args),
        Command::Relay(args) => xcrack::cli::relay::run(args),
        Command::Fork(args) => xcrack::cli::fork::run(args),
        Command::Bench(args) => xcrack::cli::bench::run(args),
        Command::Report(args) => xcrack::cli::report::run(args),
        Command::Signoff(args) => xcrack::cli::signoff::run(args),
        Command::Live(args) => xcrack::cli::live::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {}", e.message);
        std::process::exit(e.code);
    }
}

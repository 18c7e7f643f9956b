//! `xcrack fork`: a dry run of the strategies over real chain state, block by block from a pinned
//! block, reading a node (or a recording of one); nothing is sent.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::backtest::{CliError, Settings};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::chain::rpc::{Endpoint, Recorder, Recording, Replay, Retry, RpcSource, Transport};
use crate::config::{self, RunSpec, Sources};
use crate::engine::fork::ForkRunError;

/// Fork mode's own scenario when none is given: the sandwich strategy alone, our dry-run wallet.
/// The node, the block and the pools come from `--config` (its `[fork]`), the flags or `--set`.
pub const FORK_BASE: &str = include_str!("../../scenarios/fork/base.toml");
pub const FORK_BASE_NAME: &str = "scenarios/fork/base.toml (embedded)";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A scenario file with a [fork] section (the pools by address, our wallet). None: the embedded
    /// scenarios/fork/base.toml, with [fork] from --config or --set.
    pub scenario: Option<String>,
    /// The node's JSON-RPC endpoint, http(s):// or ws(s):// (fork.rpc_url).
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// The pinned block N (fork.block); default: the node's latest block minus --blocks.
    #[arg(long, value_name = "N")]
    pub block: Option<u64>,
    /// Blocks to walk after N (fork.blocks): N+1 … N+K.
    #[arg(long, value_name = "K")]
    pub blocks: Option<u64>,
    #[command(flatten)]
    pub settings: Settings,
    /// Write every RPC answer the run used to FILE (replayable offline with --replay).
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer every RPC call from a recording made with --record: no network (fork.replay in a file).
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Keep each pinned block's state reads in DIR (fork.cache_dir; files named by chain id,
    /// block number and block hash) and read them from there next time. Not with --record or
    /// --replay (a recording must hold every answer the run used).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["record", "replay"])]
    pub cache: Option<PathBuf>,
    /// No summary table.
    #[arg(long, short)]
    pub quiet: bool,
}

fn bad_input(message: String) -> CliError {
    CliError { code: EXIT_BAD_INPUT, message }
}

fn failure(message: String) -> CliError {
    CliError { code: EXIT_FAILURE, message }
}

fn load(args: &Args) -> Result<RunSpec, CliError> {
    let s = &args.settings;
    let mut cli = Vec::new();
    if let Some(seed) = s.seed {
        cli.push(("seed".to_string(), seed.to_string()));
    }
    for kv in &s.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| bad_input(format!("--set {kv}: expected KEY=VALUE")))?;
        cli.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(u) = &args.rpc {
        cli.push(("fork.rpc_url".into(), u.clone()));
    }
    if let Some(n) = args.block {
        cli.push(("fork.block".into(), n.to_string()));
    }
    if let Some(k) = args.blocks {
        cli.push(("fork.blocks".into(), k.to_string()));
    }
    // Without a scenario, the embedded base lies under the config file (as in live mode), so the
    // file chooses the strategies and the wallet.
    let (scenario, base, base_dir) = match &args.scenario {
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| config::ConfigError::io(f, &e))?;
            (Some((f.clone(), text)), None, Path::new(f).parent().map(Path::to_path_buf).unwrap_or_default())
        }
        None => (None, Some((FORK_BASE_NAME, FORK_BASE)), PathBuf::from(".")),
    };
    let sources = Sources { config_file: s.config.clone(), scenario, env: Vec::new(), cli }.with_process_env();
    let layered = config::layer_over(base, &sources)?;
    let settings = config::settings(&layered)?;
    // Before the rest is validated: without [fork] nothing else can be right.
    if settings.fork.is_none() {
        return Err(bad_input(
            "fork mode needs a [fork] section (weth, quote, [[fork.pools]]) in the scenario or the --config file"
                .into(),
        ));
    }
    Ok(config::resolve(&settings, &layered, &base_dir)?)
}

/// The node (or the recording) the run reads, and the recorder to save afterwards.
/// What records a run's answers (`--record`): over whichever transport reads the node.
type NodeRecorder = Recorder<Rc<dyn Transport>>;

fn source(args: &Args, spec: &mut RunSpec) -> Result<(RpcSource, Option<NodeRecorder>), CliError> {
    let fork = spec.fork.as_mut().ok_or_else(|| bad_input("no [fork] section".into()))?;
    if args.cache.is_some() {
        fork.cache_dir = args.cache.clone();
    }
    // The command line first (--replay, then --rpc), then the file (fork.replay, then fork.rpc_url).
    let replay = match (&args.replay, &args.rpc) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(_)) => None,
        (None, None) => fork.replay.clone(),
    };
    if let Some(path) = &replay {
        let rec = Recording::load(path).map_err(|e| bad_input(e.to_string()))?;
        match fork.block {
            None => fork.block = Some(rec.block),
            Some(n) if n != rec.block => {
                return Err(bad_input(format!(
                    "--replay {}: recorded at block {}, not fork.block {n}",
                    path.display(),
                    rec.block
                )));
            }
            Some(_) => {}
        }
        if fork.block_hash.is_some_and(|h| h != rec.block_hash) {
            return Err(bad_input(format!("--replay {}: recorded at another block hash", path.display())));
        }
        fork.cache_dir = None;
        return Ok((RpcSource::new(Rc::new(Replay::new(&rec))), None));
    }
    let url = fork
        .rpc_url
        .as_deref()
        .ok_or_else(|| bad_input("key `fork.rpc_url`: no node to read: give --rpc URL (or --replay FILE)".into()))?;
    let endpoint = Endpoint::parse(url).map_err(|m| bad_input(format!("key `fork.rpc_url`: {m}")))?;
    let retry = Retry { attempts: fork.attempts, timeout: fork.timeout, ..Retry::default() };
    let node = endpoint.transport(retry);
    if args.record.is_some() {
        // Every answer must come from the node to be in the recording.
        fork.cache_dir = None;
        let rec = Recorder::new(node);
        let t: Rc<dyn Transport> = Rc::new(rec.clone());
        return Ok((RpcSource::new(t), Some(rec)));
    }
    Ok((RpcSource::new(node), None))
}

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(p) = &args.record
        && p.is_dir()
    {
        return Err(bad_input(format!("--record {}: is a directory; name the file to write", p.display())));
    }
    let mut spec = load(&args)?;
    let (rpc, recorder) = source(&args, &mut spec)?;
    tracing::info!(target: "xcrack::cli", scenario = %spec.name, "fork dry run started");
    let result = crate::engine::fork::run(&spec, rpc).map_err(|e| match e {
        ForkRunError::Config { key, message } => bad_input(format!("key `{key}`: {message}")),
        other => failure(other.to_string()),
    })?;
    let dir = args.settings.out.join(format!("{}-block-{}", spec.name, result.first.number));
    crate::report::output::check_target(&dir).map_err(bad_input)?;
    if let (Some(path), Some(rec)) = (&args.record, &recorder) {
        let pin =
            crate::chain::fork::Pin { chain_id: spec.chain_id, number: result.first.number, hash: result.first.hash };
        rec.recording(&pin).save(path).map_err(|e| failure(e.to_string()))?;
    }
    let summary = crate::report::fork::write(&spec, &result, &dir).map_err(|e| failure(e.to_string()))?;
    if !args.quiet {
        let w = &summary.would_send;
        let mut parts = Vec::new();
        if summary.sandwich {
            parts.push(format!(
                "sandwich: would have sent {} bundle(s), predicted net {:.2} {} (net of {}); {} rival sandwich(es) landed",
                w.bundles, w.predicted_net, w.currency, w.net_of, summary.rivals.sandwiches
            ));
        }
        if let Some(l) = &summary.liquidation {
            parts.push(format!(
                "liquidation: {} liquidation(s) in {} bundle(s), predicted net {:.2} USD (net of gas and bribe); {} rival liquidation(s) landed",
                l.liquidations, l.bundles, l.predicted_net_usd, l.rival_liquidations
            ));
        }
        if let Some(c) = &summary.cross_dex {
            parts.push(format!(
                "cross-DEX: {} arbitrage(s), predicted net {:.2} {}",
                c.would_send, c.predicted_net, c.currency
            ));
        }
        println!(
            "{}: blocks {}..={} — {}; {} RPC requests. Report: {}",
            spec.name,
            summary.first_block + 1,
            summary.first_block + summary.blocks,
            parts.join("; "),
            summary.reads.rpc_requests,
            dir.display()
        );
    }
    Ok(())
}

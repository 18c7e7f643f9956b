//! `xcrack live --config FILE`: the strategies against a real node and real relays, through the one
//! driver. It refuses to start without a passing sign-off of exactly this config file made by this
//! build; needs real keys (`[keys]`: the searcher's and the relay-auth key, never simulation keys);
//! reconciles with the chain before anything (chain id, our nonce and pending transactions, our
//! balances, the journal's open bundles settled from the receipts); starts paused until `--go` or
//! the go file; stops for good (outstanding bundles cancelled) when the stop file appears. Every
//! bundle is journaled before it is sent (`live::JournaledSink`).
//!
//! Today it runs the sandwich strategy on `[fork]`'s pools (see README "Going live").

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;

use super::backtest::CliError;
use super::signoff::EXIT_SIGNOFF_FAILED;
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::chain::contracts::ITestERC20;
use crate::chain::fork::Pin;
use crate::chain::heads::HeadFollower;
use crate::chain::rpc::{Endpoint, Retry, RpcSource};
use crate::config::{self, RunSpec, Sources};
use crate::core::SimTime;
use crate::engine::driver;
use crate::engine::journal::Journal;
use crate::engine::manager::StrategyManager;
use crate::execution::bundle_manager::BundleManager;
use crate::execution::nonce::{NonceLedger, Signed};
use crate::live::world::{Inbox, LiveCounts, LiveParts, LiveSource, LiveWorld};
use crate::live::{JournaledSink, LiveJournal};
use crate::risk::RiskGate;
use crate::sim::desk::BundleDesk;
use crate::strategies::sandwich_strategy::SandwichStrategy;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration: [live] (node, relays, executor, journal), [fork] (the pools), [keys],
    /// the strategies and [safety]. It must be signed off (`xcrack signoff --config FILE`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The sign-off record (default: next to the config file, `<name>.signoff.json`).
    #[arg(long, value_name = "FILE")]
    pub signoff: Option<PathBuf>,
    /// Start trading at once instead of waiting for the go file.
    #[arg(long)]
    pub go: bool,
    /// Stop after this many new heads (default: until the stop file or a failure).
    #[arg(long)]
    pub blocks: Option<u64>,
    /// Where the run's report goes (`DIR/live-<chain id>-from-<block it started at>/summary.json`).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
}

fn bad(message: String) -> CliError {
    CliError { code: EXIT_BAD_INPUT, message }
}

fn failed(message: String) -> CliError {
    CliError { code: EXIT_FAILURE, message }
}

fn load(config_file: &Path) -> Result<RunSpec, CliError> {
    // The embedded fork base under the user's config file: the file chooses the strategies.
    let sources = Sources {
        config_file: Some(config_file.display().to_string()),
        scenario: None,
        env: Vec::new(),
        cli: Vec::new(),
    }
    .with_process_env();
    let base_dir = config_file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = (super::fork::FORK_BASE_NAME, super::fork::FORK_BASE);
    let layered = config::layer_over(Some(base), &sources)?;
    let settings = config::settings(&layered)?;
    if settings.live.is_none() || settings.fork.is_none() {
        return Err(bad(format!(
            "{}: live mode needs a [live] section (node, relays, executor) and [fork]'s pools (weth, quote, [[fork.pools]])",
            config_file.display()
        )));
    }
    Ok(config::resolve(&settings, &layered, &base_dir)?)
}

pub fn run(args: Args) -> Result<(), CliError> {
    // The gate first: nothing is read or connected without a passing sign-off of these bytes.
    let record = args.signoff.clone().unwrap_or_else(|| args.config.with_extension("signoff.json"));
    let signed = crate::risk::signoff::verify(&args.config, &record).map_err(|m| CliError {
        code: EXIT_SIGNOFF_FAILED,
        message: format!("live mode needs a passing sign-off of this config: {m}"),
    })?;
    let spec = load(&args.config)?;
    let (live, fork) = match (&spec.live, &spec.fork) {
        (Some(l), Some(f)) => (l, f),
        _ => return Err(bad("no [live] or [fork] section".into())),
    };
    if spec.liquidation.enabled || spec.micro.enabled || !(spec.sandwich.enabled || spec.cross_dex.enabled) {
        return Err(bad(
            "live mode runs the sandwich and cross-DEX strategies today: enable one or both (strategies.sandwich.enabled, strategies.cross_dex.enabled), not liquidation or micro_arbitrage".into(),
        ));
    }
    if spec.cross_dex.enabled && fork.pools.len() < 2 {
        return Err(bad(format!(
            "strategies.cross_dex.enabled: cross-DEX arbitrage needs two pools of the pair; [[fork.pools]] declares {}",
            fork.pools.len()
        )));
    }
    let searcher = spec.keys.searcher.as_ref().ok_or_else(|| {
        bad("keys.searcher: live mode signs with your key (an environment variable or a keystore), never a simulation key".into())
    })?;
    let relay_auth = spec
        .keys
        .relay_auth
        .as_ref()
        .ok_or_else(|| bad("keys.relay_auth: the relays' auth signatures need their own key".into()))?;
    let wallet = searcher.load().map_err(|e| bad(format!("keys.searcher: {e}")))?;
    let me = wallet.address();
    println!("signed off: {} ({} runs)", args.config.display(), signed.runs.len());

    // The node: chain id, head, pools.
    let endpoint = Endpoint::parse(&live.node).map_err(|m| bad(format!("live.node: {m}")))?;
    // A node restarting (a deploy, a crash) is ridden out: doubling waits from 200 ms, 8 attempts
    // (~50 s in all) before the run gives up on a read.
    let retry = Retry { attempts: 8, ..Retry::default() };
    let rpc = RpcSource::new(endpoint.clone().transport(retry));
    let shown = endpoint.shown.clone();
    let fail = |e: crate::chain::fork::ForkError| failed(format!("node {shown}: {e}"));
    let chain_id = rpc.chain_id().map_err(fail)?;
    if chain_id != spec.chain_id {
        return Err(bad(format!("network.chain_id: is {}, but the node serves chain {chain_id}", spec.chain_id)));
    }
    let head = rpc.heads(&[rpc.latest().map_err(fail)?]).map_err(fail)?[0];
    let pin = Pin { chain_id, number: head.number, hash: head.hash };
    let venues = crate::sim::fork::venues_of(&rpc, &pin, fork).map_err(|e| bad(e.to_string()))?;

    // Reconcile before the first action: nonces, balances, the journal's open bundles.
    let (mined, pending) = rpc.transaction_counts(me, head.number).map_err(fail)?;
    let balance = |token: Address| -> Result<u128, CliError> {
        let out = rpc.call(&pin, token, &ITestERC20::balanceOfCall { owner: me }.abi_encode()).map_err(fail)?;
        Ok(U256::from_be_slice(out.get(..32).unwrap_or_default()).saturating_to())
    };
    let eth = rpc.request("eth_getBalance", serde_json::json!([me, format!("{:#x}", head.number)])).map_err(fail)?;
    let eth: u128 = eth
        .as_str()
        .and_then(|q| U256::from_str_radix(q.trim_start_matches("0x"), 16).ok())
        .unwrap_or_default()
        .saturating_to();
    let wallet_now = [balance(fork.weth)?, balance(fork.quote)?, eth];
    println!(
        "searcher {me}: nonce {mined} ({} pending), WETH {} wei, quote {} raw, ETH {} wei at block {}",
        pending - mined.min(pending),
        wallet_now[0],
        wallet_now[1],
        wallet_now[2],
        head.number
    );
    let mut journal = LiveJournal::open(&live.journal).map_err(|e| failed(e.to_string()))?;
    let mut blocks = crate::live::world::LandedBlocks::new(&rpc);
    let settled = crate::live::world::settle_journal(&mut journal, &mut blocks, head.number, me, &Default::default())
        .map_err(failed)?;
    println!(
        "journal {}: {} open bundle(s) settled from the chain ({} included)",
        live.journal.display(),
        settled.bundles,
        settled.included
    );
    // Our nonces from the node's pending count; bundles an earlier run signed for blocks still
    // ahead are open until their block.
    let mut nonces = NonceLedger::seeded(pending);
    for (nonce, target, hash) in journal.signed_after(me, head.number).map_err(|e| failed(e.to_string()))? {
        nonces.signed(nonce, Signed { hash, until_block: target, public: false });
    }
    let out: Vec<u64> = nonces.open().collect();
    println!(
        "nonces: next {}{}",
        nonces.bundle_start(),
        if out.is_empty() { String::new() } else { format!(", signed into bundles still out: {out:?}") }
    );

    // Sinks: every relay, behind the write-ahead journal.
    let relays = crate::live::relays::Relays::connect(&live.relays, &live.builders, relay_auth).map_err(bad)?;
    let sink_journal = LiveJournal::open(&live.journal).map_err(|e| failed(e.to_string()))?;
    let sink_journal =
        if live.journal_synced { sink_journal } else { sink_journal.relaxed().map_err(|e| failed(e.to_string()))? };
    let sink = JournaledSink::new(relays, sink_journal);
    let manager = BundleManager::with_sink(wallet, Box::new(sink), spec.chain_id);
    let metrics = Arc::new(crate::live::metrics::LiveMetrics::new(std::time::Duration::from_secs(
        (3 * spec.chain.block_time / crate::core::NANOS_PER_SEC).max(30),
    )));
    let stop_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let control = match &live.control_token_env {
        None => None,
        Some(var) => {
            let token = std::env::var(var)
                .map_err(|_| bad(format!("live.control_token_env: {var} is not set")))?
                .trim()
                .to_string();
            if token.len() < 16 {
                return Err(bad(format!("live.control_token_env: {var} holds fewer than 16 characters")));
            }
            Some(crate::live::metrics::Control { token, stop: stop_flag.clone() })
        }
    };
    let alerter = match &live.alerts {
        None => None,
        Some(a) => {
            let var = |v: &str| std::env::var(v).map_err(|_| bad(format!("live.alerts: {v} is not set")));
            let discord = a.discord_webhook_env.as_deref().map(var).transpose()?;
            let telegram = match &a.telegram {
                None => None,
                Some((api, token_var, chat)) => {
                    Some((format!("{}/bot{}", api.trim_end_matches('/'), var(token_var)?.trim()), chat.clone()))
                }
            };
            let rules =
                crate::live::alerts::AlertRules { source_silent_after: a.source_silent_after, pnl_below: a.pnl_below };
            Some(crate::live::alerts::Alerter::new(rules, crate::live::alerts::Channels { discord, telegram }))
        }
    };
    let _server = match live.metrics {
        Some(addr) => {
            let s = crate::live::metrics::serve(metrics.clone(), addr, control)
                .map_err(|e| failed(format!("live.metrics {addr}: {e}")))?;
            println!("metrics on http://{}/metrics", s.addr());
            Some(s)
        }
        None => None,
    };

    // SIGTERM (systemd, docker stop) and SIGINT (Ctrl-C) stop trading like the stop file: the loop
    // ends at its next look, outstanding bundles cancelled. A second one exits at once.
    let signalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_FAILURE, signalled.clone())
            .and_then(|_| signal_hook::flag::register(sig, signalled.clone()))
            .map_err(|e| failed(format!("listening for signal {sig}: {e}")))?;
    }
    let paused = !args.go && !live.go_file.exists();
    if paused {
        println!("paused: trading starts when {} exists (or run with --go)", live.go_file.display());
    }
    let inbox = Rc::new(RefCell::new(Inbox::default()));
    let follower = HeadFollower::new(endpoint, retry, head).map_err(fail)?;
    let follower = if live.pending_subscribed { follower.with_pending() } else { follower };
    let source = LiveSource::new(
        inbox.clone(),
        follower,
        rpc.clone(),
        (head.timestamp, spec.chain.block_time),
        live.poll,
        args.blocks,
        (live.stop_file.clone(), live.go_file.clone()),
        paused,
    )
    .stopped_by(stop_flag, "the control endpoint asked")
    .stopped_by(signalled, "a signal (SIGTERM or SIGINT) asked");
    let mut source = if live.pending_subscribed { source.subscribed() } else { source };
    let parts = LiveParts {
        rpc,
        inbox,
        head,
        genesis_ts: head.timestamp,
        venues,
        desk: BundleDesk::new(manager),
        journal,
        nonces,
        wallet: wallet_now,
        paused,
        metrics: Some(metrics.clone()),
        alerter,
    };
    let mut world = LiveWorld::new(&spec, parts).map_err(failed)?;
    let mut strategies = StrategyManager::default();
    let mut slots = 0u16..;
    if spec.sandwich.enabled {
        let fees = fork.pools.iter().map(|p| p.fee_bps).collect();
        let slot = slots.next().unwrap_or_default();
        let strategy =
            SandwichStrategy::new(spec.sandwich.clone(), slot, fees, spec.chain.block_time, head.timestamp, wallet_now);
        strategies.register(Box::new(strategy), true);
    }
    if spec.cross_dex.enabled {
        strategies.register(Box::new(crate::strategies::cross_dex::CrossDex::new(spec.cross_dex.clone())), true);
    }
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut run_journal = Journal::default();
    driver::drive(&mut world, &mut source, &mut strategies, &mut risk, &mut run_journal, SimTime::MAX, &mut |_| {});
    let c: LiveCounts = world.counts;
    // What the strategies asked for and what became of it (the risk gate's and the world's verdicts).
    let mut decided: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for a in &run_journal.actions {
        *decided.entry(format!("{} {:?}", a.kind, a.decision)).or_default() += 1;
    }
    let decided: Vec<String> = decided.into_iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    println!("actions: {}", if decided.is_empty() { "none".to_string() } else { decided.join(", ") });
    println!(
        "heads {}, pending seen {}, announced {}, bundles sent {}, included {}, not included {}, refused while paused {}",
        c.heads, c.pending_seen, c.announced, c.bundles_sent, c.included, c.not_included, c.refused_paused
    );
    println!("blocks {}..={}, reconnects {}, reorgs {}", c.first_head, c.last_head, source.reconnects(), source.reorgs);
    println!(
        "nonces: next {}, used by our bundles {}, taken from us {}, used by transactions we never signed {}, freed by bundles not included {}",
        world.nonces.bundle_start(),
        c.nonces_mined_ours,
        c.nonces_taken,
        c.nonces_foreign,
        c.nonces_expired
    );
    println!("pending: {} by subscription, {} by reading the pool", source.by_subscription, source.by_pool);
    let f = world.filter.counts;
    println!(
        "pending filter: passed {}, duplicate {}, undecodable {}, not our pools {}, other methods {}, out of bounds {}",
        f.passed, f.duplicate, f.undecodable, f.not_watched, f.other_method, f.out_of_bounds
    );
    if let Some(why) = &world.stopped {
        println!("stopped: {why}");
    }
    println!(
        "net P&L of included bundles: {:.2} (quote, net of gas)",
        world.pnl_quote_raw as f64 / 10f64.powi(spec.quote_decimals as i32)
    );
    let summary = crate::report::live::LiveSummary {
        mode: "live",
        chain_id: spec.chain_id,
        first_head: c.first_head,
        last_head: c.last_head,
        heads: c.heads,
        pending_seen: c.pending_seen,
        bundles_sent: c.bundles_sent,
        included: c.included,
        not_included: c.not_included,
        pnl_quote: world.pnl_quote_raw as f64 / 10f64.powi(spec.quote_decimals as i32),
        pnl_quote_raw: world.pnl_quote_raw,
        pnl_net_of: "gas (receipts' gas used × effective price, at the first pool's price when settled); a bribe paid inside our transactions is in their flows",
        stopped: world.stopped.clone(),
        bundles: std::mem::take(&mut world.settled),
    };
    let dir = args.out.join(format!("live-{}-from-{}", spec.chain_id, head.number));
    match crate::report::live::write(&summary, &dir) {
        Ok(()) => println!("report: {}", dir.join("summary.json").display()),
        Err(e) => tracing::error!(target: "xcrack::live", error = %e, "report not written"),
    }
    if let Some(e) = world.failure.as_ref().or(source.failure.as_ref()) {
        return Err(failed(e.clone()));
    }
    Ok(())
}

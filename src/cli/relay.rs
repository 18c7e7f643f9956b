//! `xcrack relay`: our Flashbots-compatible relay on a local port, over a simulated chain built from a
//! scenario's pools, building a block every `chain.block_time` of wall time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, U256};

use super::backtest::{CliError, load_all};
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::chain::SimChain;
use crate::chain::simchain::actor;
use crate::chain::world::deploy_dex;
use crate::core::NANOS_PER_SEC;
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::relay::{Relay, RelayServer};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// TCP port on 127.0.0.1 (0 picks a free one; the chosen address is printed first).
    #[arg(long, default_value_t = 18545)]
    pub port: u16,
    /// Scenario whose pools, chain id, block time and base fee the relay's chain starts from. None:
    /// the embedded calm scenario.
    pub scenario: Option<String>,
    /// Override any key, e.g. --set chain.block_time=2s (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Give these addresses 100 ETH at genesis so their bundles can pay gas (repeatable).
    #[arg(long = "fund", value_name = "ADDRESS")]
    pub fund: Vec<String>,
    /// Stop after this many blocks (default: run until killed).
    #[arg(long)]
    pub blocks: Option<u64>,
    /// A node that mines on request (anvil with `--no-mining --order fifo`): the relay builds its
    /// blocks there instead of on a simulated chain (no scenario then).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// With --upstream: wall time between blocks ("2s").
    #[arg(long, default_value = "2s")]
    pub block_time: String,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let fail = |message: String| CliError { code: EXIT_FAILURE, message };
    if let Some(url) = &args.upstream {
        return run_upstream(&args, url);
    }
    let bt = super::backtest::Args {
        scenarios: args.scenario.iter().cloned().collect(),
        settings: super::backtest::Settings { set: args.set.clone(), ..Default::default() },
        quiet: true,
        journal: None,
    };
    let spec = load_all(&bt)?.remove(0);
    let mut funded = Vec::new();
    for a in &args.fund {
        let addr: Address =
            a.parse().map_err(|_| CliError { code: EXIT_BAD_INPUT, message: format!("--fund {a}: not an address") })?;
        funded.push(addr);
    }
    let mut chain = SimChain::new(spec.chain_id);
    let reserves: Vec<_> = spec.dex.iter().map(|d| (d.reserve_base, d.reserve_quote)).collect();
    let dex = deploy_dex(&mut chain, spec.quote_decimals as u8, &reserves).map_err(|e| fail(e.to_string()))?;
    for a in &funded {
        chain.set_balance(*a, U256::from(100u128 * 10u128.pow(18)));
    }
    let block_s = (spec.chain.block_time / NANOS_PER_SEC).max(1);
    let base_fee = spec.chain.base_fee_wei.min(u128::from(u64::MAX)) as u64;
    chain.advance_block(GENESIS_TIMESTAMP, base_fee, actor("xcrack/builder"));
    let relay = Arc::new(Mutex::new(Relay::new(&chain, block_s)));
    let (port, inbox) = crate::relay::chain_port();
    let addr: SocketAddr = ([127, 0, 0, 1], args.port).into();
    let server = RelayServer::start(relay.clone(), port, addr).map_err(|e| fail(format!("binding {addr}: {e}")))?;
    println!("relay listening on http://{}", server.addr());
    println!("chain id {}, block every {block_s} s, WETH {}, quote {}", spec.chain_id, dex.weth, dex.usdc);
    for (d, v) in spec.dex.iter().zip(&dex.venues) {
        println!("pool {}: pair {}, router {}", d.name, v.pair, v.router);
    }
    let wall_block = Duration::from_nanos(spec.chain.block_time.max(1));
    let mut built = 0u64;
    while args.blocks.is_none_or(|n| built < n) {
        // This thread owns the chain: it answers eth_callBundle while it waits for the next block.
        let due = std::time::Instant::now() + wall_block;
        while let Some(left) = due.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
            inbox.serve_for(&mut chain, left);
        }
        let ts = chain.timestamp() + block_s;
        let b = relay.lock().unwrap_or_else(|p| p.into_inner()).build_block(
            &mut chain,
            ts,
            base_fee,
            actor("xcrack/builder"),
            &[],
        );
        built += 1;
        tracing::info!(target: "xcrack::relay", block = b.number, bundles = b.included.len(), "block built");
    }
    Ok(())
}

/// `--upstream`: the relay's blocks mined by the node (see `relay::upstream`).
fn run_upstream(args: &Args, url: &str) -> Result<(), CliError> {
    let bad = |message: String| CliError { code: EXIT_BAD_INPUT, message };
    if args.scenario.is_some() || !args.set.is_empty() || !args.fund.is_empty() {
        return Err(bad("--upstream builds on the node's own chain: no scenario, --set or --fund".into()));
    }
    let block_time = crate::core::parse_duration(&args.block_time)
        .ok()
        .filter(|t| (NANOS_PER_SEC / 10..=600 * NANOS_PER_SEC).contains(t))
        .ok_or_else(|| bad(format!("--block-time {}: not a duration between 100ms and 600s", args.block_time)))?;
    let addr: SocketAddr = ([127, 0, 0, 1], args.port).into();
    let mut up = crate::relay::upstream::Upstream::start(url, addr, Duration::from_nanos(block_time))
        .map_err(|m| CliError { code: EXIT_FAILURE, message: m })?;
    println!("relay listening on http://{}", up.addr());
    println!(
        "chain id {}, blocks mined by {} every {}",
        up.chain_id(),
        crate::chain::rpc::redact(url),
        args.block_time
    );
    let mut built = 0u64;
    while args.blocks.is_none_or(|n| built < n) {
        let m = up.next_block().map_err(|m| CliError { code: EXIT_FAILURE, message: m })?;
        built += 1;
        tracing::info!(target: "xcrack::relay", block = m.number, bundles = m.included.len(), dropped = m.dropped.len(), public = m.public, "block mined upstream");
    }
    up.stop();
    Ok(())
}

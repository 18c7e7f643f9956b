//! Workloads shared by the criterion benches and `xcrack bench` (`runner`): each builds its inputs
//! once and exposes the measured body as a plain function.

pub mod fork;
pub mod peers;
pub mod runner;

use std::path::Path;

use alloy_primitives::{B256, U256};

use crate::config::{self, RunSpec, Sources};
use crate::core::{BookSnapshot, Level, Side, VenueId};

/// The standard engine workload: the shipped calm scenario, shortened to `duration`.
pub fn standard_spec(duration: &str) -> RunSpec {
    let sources = Sources {
        config_file: None,
        scenario: Some((config::DEFAULT_SCENARIO_NAME.to_string(), config::DEFAULT_SCENARIO.to_string())),
        env: Vec::new(),
        cli: vec![("duration".to_string(), duration.to_string())],
    };
    match config::load(&sources, Path::new(".")) {
        Ok(s) => s,
        Err(e) => panic!("embedded scenario must load: {e}"),
    }
}

/// Runs the engine over `spec`; returns events processed.
pub fn engine_run(spec: &RunSpec) -> u64 {
    match crate::engine::run(spec, &mut |_| {}) {
        Ok(r) => r.events_processed,
        Err(e) => panic!("engine bench: {e}"),
    }
}

/// Reserves of a realistic WETH/USDC pool and 64 trade sizes from 0.01 to 30 ETH.
pub fn amm_inputs() -> (U256, U256, Vec<U256>) {
    let rb = U256::from(5_000u128 * 10u128.pow(18));
    let rq = U256::from(15_000_000u128 * 10u128.pow(6));
    let sizes = (0..64u128).map(|i| U256::from(10u128.pow(16) + i * 47 * 10u128.pow(16))).collect();
    (rb, rq, sizes)
}

/// A 12-level book around 3000.00 with 3 ETH (30,000 lots) per level.
pub fn book() -> BookSnapshot {
    let mut b = BookSnapshot::empty(VenueId(0));
    for i in 0..12u64 {
        b.asks[i as usize] = Level { price_ticks: 300_010 + i * 24, lots: 30_000 + i * 1_000 };
        b.bids[i as usize] = Level { price_ticks: 299_990 - i * 24, lots: 30_000 + i * 1_000 };
    }
    b.n_asks = 12;
    b.n_bids = 12;
    b
}

/// Walks the book for a market order of `lots` on `side`.
#[inline]
pub fn walk(book: &BookSnapshot, side: Side, lots: u64) -> crate::market::orderbook::Walk {
    let levels = crate::market::orderbook::taker_levels(book, side);
    crate::market::orderbook::walk(levels, side, lots, if side == Side::Buy { u64::MAX } else { 0 })
}

/// An EVM market for the chain benches: two seeded WETH/USDC venues and a searcher holding
/// inventory on both tokens.
pub struct EvmBench {
    pub chain: crate::chain::SimChain,
    pub dex: crate::chain::world::DexDeployment,
}

impl EvmBench {
    pub fn new() -> Self {
        use crate::chain::contracts::slots;
        use crate::chain::simchain::mapping_slot;
        let e18 = U256::from(10u128.pow(18));
        let e6 = U256::from(10u128.pow(6));
        let mut chain = crate::chain::SimChain::new(1);
        let reserves = [
            (U256::from(5_000u64) * e18, U256::from(15_000_000u64) * e6),
            (U256::from(1_500u64) * e18, U256::from(4_560_000u64) * e6),
        ];
        let dex = match crate::chain::world::deploy_dex(&mut chain, 6, &reserves) {
            Ok(d) => d,
            Err(e) => panic!("bench genesis: {e}"),
        };
        // The searcher holds the inventory and lets its executor pull the first hop's input.
        chain.set_storage(dex.weth, mapping_slot(dex.searcher, slots::WETH_BALANCES), U256::from(1u128 << 100));
        chain.set_storage(dex.usdc, mapping_slot(dex.searcher, slots::ERC20_BALANCES), U256::from(1u128 << 100));
        for token in [dex.weth, dex.usdc] {
            use alloy_sol_types::SolCall;
            let approve = crate::chain::contracts::ITestERC20::approveCall { spender: dex.executor, value: U256::MAX };
            match chain.call(dex.searcher, token, approve.abi_encode().into(), U256::ZERO) {
                Ok(o) if o.success => {}
                other => panic!("bench approve: {other:?}"),
            }
        }
        EvmBench { chain, dex }
    }

    /// Executor calldata: one hop selling `amount_in` of WETH (or USDC) into venue `v`'s pair.
    pub fn one_hop(&mut self, v: usize, sell_weth: bool, amount_in: U256) -> alloy_primitives::Bytes {
        let (pair, owner) = (self.dex.venues[v].pair, self.dex.searcher);
        let (rw, ru) = self.reserves(v);
        let (token_in, out) = if sell_weth {
            (self.dex.weth, crate::market::amm::get_amount_out(amount_in, rw, ru, 30).unwrap_or_default())
        } else {
            (self.dex.usdc, crate::market::amm::get_amount_out(amount_in, ru, rw, 30).unwrap_or_default())
        };
        // Output token is token0 when the input is token1.
        let input_is_token0 = (token_in == self.dex.weth) == self.dex.weth_is_token0();
        let (a0, a1) = if input_is_token0 { (U256::ZERO, out) } else { (out, U256::ZERO) };
        let token_out = if token_in == self.dex.weth { self.dex.usdc } else { self.dex.weth };
        self.execute_data(vec![(pair, token_in, amount_in, a0, a1, owner)], token_out, U256::ZERO)
    }

    /// The benches' arbitrage bundle: one executor transaction buying with 10,000 USDC on venue 0
    /// and selling on venue 1.
    pub fn arbitrage_bundle_tx(&mut self) -> crate::chain::BundleTx {
        let data = self.arbitrage(0, 1, U256::from(10_000_000_000u64));
        crate::chain::BundleTx {
            from: self.dex.searcher,
            to: self.dex.executor,
            data,
            value: U256::ZERO,
            gas_limit: 1_000_000,
            priority_fee: 0,
        }
    }

    /// Executor calldata: buy WETH with `usdc_in` on venue `buy`, sell all of it on venue `sell`.
    pub fn arbitrage(&mut self, buy: usize, sell: usize, usdc_in: U256) -> alloy_primitives::Bytes {
        let (rw, ru) = self.reserves(buy);
        let weth = crate::market::amm::get_amount_out(usdc_in, ru, rw, 30).unwrap_or_default();
        let (sw, su) = self.reserves(sell);
        let usdc_out = crate::market::amm::get_amount_out(weth, sw, su, 30).unwrap_or_default();
        let w0 = self.dex.weth_is_token0();
        let owner = self.dex.searcher;
        let hop2 = if w0 { (U256::ZERO, usdc_out) } else { (usdc_out, U256::ZERO) };
        let (p1, p2) = (self.dex.venues[buy].pair, self.dex.venues[sell].pair);
        let hops = vec![
            (p1, self.dex.usdc, usdc_in, if w0 { weth } else { U256::ZERO }, if w0 { U256::ZERO } else { weth }, p2),
            (p2, self.dex.weth, U256::ZERO, hop2.0, hop2.1, owner),
        ];
        self.execute_data(hops, self.dex.usdc, U256::ZERO)
    }

    fn execute_data(
        &self,
        hops: Vec<(alloy_primitives::Address, alloy_primitives::Address, U256, U256, U256, alloy_primitives::Address)>,
        profit: alloy_primitives::Address,
        min_profit: U256,
    ) -> alloy_primitives::Bytes {
        use crate::chain::contracts::ISearcherExecutor;
        use alloy_sol_types::SolCall;
        let hops = hops
            .into_iter()
            .map(|(pair, token_in, amount_in, a0, a1, to)| ISearcherExecutor::Hop {
                pair,
                tokenIn: token_in,
                amountIn: amount_in,
                amount0Out: a0,
                amount1Out: a1,
                to,
            })
            .collect();
        ISearcherExecutor::executeCall { hops, profitToken: profit, minProfit: min_profit, coinbasePayment: U256::ZERO }
            .abi_encode()
            .into()
    }

    /// One block of `n` pair swaps, each a transaction calling `pair.swap` directly, chained the way a
    /// router's multi-hop routes are: every swap's output goes straight to the other venue's pair and
    /// is the next swap's input, so no transfer sits between swaps. One WETH transfer from the
    /// searcher starts the chain; amounts come from the Rust math on the pairs' current reserves
    /// (read through the chain). `reverse` starts on venue 1, undoing the previous block's drift.
    /// The block is committed at the end. Returns how many swaps succeeded.
    pub fn chained_swaps(&mut self, n: usize, reverse: bool) -> usize {
        use crate::chain::contracts::{ITestERC20, IUniswapV2Pair};
        use alloy_sol_types::SolCall;
        let venues = if reverse { [1, 0] } else { [0, 1] };
        let pairs = venues.map(|v| self.dex.venues[v].pair);
        let w0 = self.dex.weth_is_token0();
        let mut amount_in = U256::from(10u128.pow(18));
        let start = ITestERC20::transferCall { to: pairs[0], value: amount_in }.abi_encode();
        let searcher = self.dex.searcher;
        match self.chain.call(searcher, self.dex.weth, start.into(), U256::ZERO) {
            Ok(o) if o.success => {}
            other => panic!("chain start transfer: {other:?}"),
        }
        let mut ok = 0;
        for i in 0..n {
            let v = venues[i % 2];
            let weth_in = i % 2 == 0;
            let (rw, ru) = self.reserves(v);
            let (r_in, r_out) = if weth_in { (rw, ru) } else { (ru, rw) };
            let out = crate::market::amm::get_amount_out(amount_in, r_in, r_out, 30).unwrap_or_default();
            let out_is_token0 = weth_in != w0;
            let (a0, a1) = if out_is_token0 { (out, U256::ZERO) } else { (U256::ZERO, out) };
            // The last swap pays the searcher; every other one feeds the next pair.
            let to = if i + 1 == n { searcher } else { pairs[(i + 1) % 2] };
            let data = IUniswapV2Pair::swapCall { amount0Out: a0, amount1Out: a1, to, data: Default::default() };
            match self.chain.call(searcher, pairs[i % 2], data.abi_encode().into(), U256::ZERO) {
                Ok(o) if o.success => ok += 1,
                other => {
                    eprintln!("swap {i} failed: {other:?}");
                    break;
                }
            }
            amount_in = out;
        }
        self.chain.end_block();
        ok
    }

    /// (WETH, USDC) reserves of venue `v`, read from the pair's storage.
    pub fn reserves(&mut self, v: usize) -> (U256, U256) {
        self.dex.reserves(&self.chain, v)
    }
}

impl Default for EvmBench {
    fn default() -> Self {
        Self::new()
    }
}

/// The sandwich hot path for the benches: a pending victim's raw transaction goes through decoding
/// (signer recovery, Router02 calldata), sizing, bundle signing and EVM simulation as the next block.
pub struct SandwichBench<X: revm::database::DatabaseRef = crate::chain::fork::Below> {
    chain: crate::chain::SimChain<X>,
    dex: crate::chain::world::DexDeployment,
    manager: crate::execution::bundle_manager::BundleManager,
    spec: crate::config::SandwichSpec,
    victim_raw: alloy_primitives::Bytes,
}

impl SandwichBench {
    pub fn new() -> Self {
        use crate::chain::contracts::{ITestERC20, IUniswapV2Router02, IWETH9};
        use crate::chain::simchain::actor;
        use crate::chain::{TxRequest, Wallet};
        use alloy_sol_types::SolCall;
        let e18 = 10u128.pow(18);
        let mut chain = crate::chain::SimChain::new(1);
        let me = Wallet::derived(1, "bench/searcher");
        let (rb, rq) = (U256::from(2000 * e18), U256::from(6_000_000_000_000u128));
        let dex = match crate::chain::world::deploy_dex_for(&mut chain, 6, &[(rb, rq)], me.address()) {
            Ok(d) => d,
            Err(e) => panic!("bench genesis: {e}"),
        };
        let must = |o: Result<crate::chain::CallOutcome, crate::chain::ChainError>| match o {
            Ok(o) if o.success => {}
            other => panic!("bench genesis: {other:?}"),
        };
        chain.set_balance(me.address(), U256::from(200 * e18));
        must(chain.call(me.address(), dex.weth, IWETH9::depositCall {}.abi_encode().into(), U256::from(100 * e18)));
        let approve = ITestERC20::approveCall { spender: dex.executor, value: U256::MAX }.abi_encode();
        must(chain.call(me.address(), dex.weth, approve.clone().into(), U256::ZERO));
        must(chain.call(me.address(), dex.usdc, approve.into(), U256::ZERO));
        let mut victim = Wallet::derived(1, "bench/victim");
        chain.set_balance(victim.address(), U256::from(1000 * e18));
        chain.advance_block(1_700_000_000, 10_000_000_000, actor("builder"));
        chain.end_block();
        let quote = crate::market::amm::get_amount_out(U256::from(30 * e18), rb, rq, 30).unwrap_or_default();
        let swap = IUniswapV2Router02::swapExactETHForTokensCall {
            amountOutMin: quote * U256::from(98u8) / U256::from(100u8),
            path: vec![dex.weth, dex.usdc],
            to: victim.address(),
            deadline: U256::MAX,
        };
        let req = TxRequest {
            chain_id: 1,
            to: dex.venues[0].router,
            data: swap.abi_encode().into(),
            value: U256::from(30 * e18),
            gas_limit: 300_000,
            max_fee_per_gas: 40_000_000_000,
            max_priority_fee_per_gas: 2_000_000_000,
        };
        let (victim_raw, _) = match victim.sign(&req) {
            Ok(s) => s,
            Err(e) => panic!("bench victim: {e}"),
        };
        // The client is never called here: the bench stops at the signed, simulated bundle.
        let client = crate::relay::RelayClient::new(([127, 0, 0, 1], 9).into(), Wallet::derived(1, "bench/auth"));
        let manager = crate::execution::bundle_manager::BundleManager::new(me, client, 1);
        let spec = crate::config::SandwichSpec {
            enabled: true,
            min_profit_quote: 1_000_000,
            bribe_share: 0.5,
            min_success_probability: 0.3,
            priority_fee_wei: 1_000_000_000,
            gas_estimate: 110_000,
            rival_probability: 0.3,
            rival_bid_median_wei: 0.00194e18,
            rival_bid_sigma: 1.97,
            submit_latency: 50_000_000,
        };
        SandwichBench { chain, dex, manager, spec, victim_raw }
    }

    /// The same market, victim and searcher on a fork of this chain's state (`bench::fork`).
    pub fn forked(&mut self) -> SandwichBench<crate::chain::fork::ForkDb<fork::Snapshot>> {
        let chain = fork::fork_of(&mut self.chain);
        let me = crate::chain::Wallet::derived(1, "bench/searcher");
        let client =
            crate::relay::RelayClient::new(([127, 0, 0, 1], 9).into(), crate::chain::Wallet::derived(1, "bench/auth"));
        let manager = crate::execution::bundle_manager::BundleManager::new(me, client, 1);
        SandwichBench {
            chain,
            dex: self.dex.clone(),
            manager,
            spec: self.spec.clone(),
            victim_raw: self.victim_raw.clone(),
        }
    }
}

impl<X: revm::database::DatabaseRef> SandwichBench<X> {
    /// The same bench sending its bundles through `sink` (the bundles the decision confirms).
    pub fn sending_to(mut self, sink: Box<dyn crate::execution::bundle_manager::BundleSink>) -> Self {
        let me = crate::chain::Wallet::derived(1, "bench/searcher");
        self.manager = crate::execution::bundle_manager::BundleManager::with_sink(me, sink, 1);
        self
    }

    /// Live mode's send path: the victim's raw bytes through the pending filter (dedupe, decode,
    /// our pools, swap methods, bounds), then the decision (`victim_to_bundle`), then the bundle for
    /// block `head + 1 + offset` through the sink (a new bundle per block: the journal writes each).
    pub fn pending_to_wire(&mut self, offset: u64) -> B256 {
        let mut filter = crate::mempool::filter::PendingFilter::new(
            self.dex.venues.iter().flat_map(|v| [v.router, v.pair]),
            crate::mempool::SWAP_SELECTORS,
            16,
        )
        .bounded(U256::MAX, crate::mempool::MIN_SWAP_GAS);
        if !matches!(filter.check(&self.victim_raw), crate::mempool::filter::Verdict::Pass(_)) {
            panic!("the bench's victim does not pass the pending filter");
        }
        let (tx, _, p, _) = self.victim_and_plan();
        let target = self.chain.block_number() + 1;
        let ts = self.chain.timestamp() + 12;
        let mut c = match self.confirm(&tx, &p, target, ts) {
            Ok(c) => c,
            Err(e) => panic!("simulate: {e}"),
        };
        c.bundle.target_block += offset;
        match self.manager.submit(&c, None) {
            Ok(h) => h,
            Err(e) => panic!("send: {e}"),
        }
    }
}

/// A relay on loopback that answers every `eth_sendBundle` at once (the body read, a fixed hash
/// returned), noting when each request's body had arrived: what live mode's send path is measured
/// against.
pub fn instant_relay(
    arrived: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
) -> crate::relay::HttpServer {
    let service = move |req: hyper::Request<hyper::body::Incoming>| {
        let arrived = arrived.clone();
        async move {
            use http_body_util::BodyExt;
            let _ = req.into_body().collect().await;
            if let Ok(mut a) = arrived.lock() {
                *a = Some(std::time::Instant::now());
            }
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"bundleHash":"{}"}}}}"#, B256::ZERO);
            Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                hyper::body::Bytes::from(body),
            )))
        }
    };
    match crate::relay::HttpServer::start(([127, 0, 0, 1], 0).into(), None, "bench-relay", service) {
        Ok(s) => s,
        Err(e) => panic!("bench relay: {e}"),
    }
}

/// Live mode's whole path from a pending transaction to the bundle's bytes at the relay: the
/// filter, the decision on a warm fork, the write-ahead journal (a file in the temp directory) and
/// the relay client's signed request to `instant_relay`.
pub struct PendingToWire {
    bench: SandwichBench<crate::chain::fork::ForkDb<fork::Snapshot>>,
    offset: u64,
    dir: std::path::PathBuf,
    arrived: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    _relay: crate::relay::HttpServer,
}

impl PendingToWire {
    /// With every journal commit `synced` (`synchronous = FULL`, live mode's default) or not (`NORMAL`).
    pub fn new(synced: bool) -> Self {
        let arrived = std::sync::Arc::new(std::sync::Mutex::new(None));
        let relay = instant_relay(arrived.clone());
        let dir = std::env::temp_dir().join(format!("xcrack-bench-live-{}-{synced}", std::process::id()));
        let journal = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| crate::live::LiveJournal::open(&dir.join("journal.sqlite")).map_err(|e| e.to_string()));
        let journal = match journal {
            Ok(j) => j,
            Err(e) => panic!("bench journal in {}: {e}", dir.display()),
        };
        let client = crate::relay::RelayClient::new(relay.addr(), crate::chain::Wallet::derived(1, "bench/auth"));
        let journal = match (synced, journal) {
            (true, j) => j,
            (false, j) => match j.relaxed() {
                Ok(j) => j,
                Err(e) => panic!("bench journal: {e}"),
            },
        };
        let sink = crate::live::JournaledSink::new(client, journal);
        let bench = SandwichBench::new().forked().sending_to(Box::new(sink));
        let mut p = PendingToWire { bench, offset: 0, dir, arrived, _relay: relay };
        p.send();
        p
    }

    /// One pending transaction to the wire.
    pub fn send(&mut self) -> B256 {
        self.offset += 1;
        self.bench.pending_to_wire(self.offset)
    }

    /// One pending transaction to the wire: ns from its bytes to the request's arrival at the relay.
    pub fn send_timed(&mut self) -> u64 {
        let t = std::time::Instant::now();
        std::hint::black_box(self.send());
        let arrived = self.arrived.lock().ok().and_then(|mut a| a.take());
        arrived.map_or(0, |a| a.saturating_duration_since(t).as_nanos() as u64)
    }
}

impl Drop for PendingToWire {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl<X: revm::database::DatabaseRef> SandwichBench<X> {
    /// Victim seen → decoded → sized → signed → EVM-simulated: the confirmed bundle's length.
    pub fn victim_to_bundle(&mut self) -> usize {
        let (tx, _, p, limit) = self.victim_and_plan();
        debug_assert!(matches!(limit, crate::mempool::SwapLimit::ExactIn { .. }));
        let target = self.chain.block_number() + 1;
        let ts = self.chain.timestamp() + 12;
        let c = self.confirm(&tx, &p, target, ts);
        match c {
            Ok(c) => c.bundle.txs.len(),
            Err(e) => panic!("simulate: {e}"),
        }
    }
}

impl<X: revm::database::DatabaseRef> SandwichBench<X> {
    /// The bench's victim decoded, the pool it trades on and the plan our strategy makes for it.
    fn victim_and_plan(
        &mut self,
    ) -> (
        crate::mempool::PendingTx,
        crate::strategies::sandwich::Market,
        crate::strategies::sandwich::SandwichPlan,
        crate::mempool::SwapLimit,
    ) {
        use crate::mempool::{PendingTx, decode_swap};
        use crate::strategies::sandwich::{Market, Victim, plan};
        let tx = match PendingTx::from_raw(self.victim_raw.clone()) {
            Ok(t) => t,
            Err(e) => panic!("decode: {e}"),
        };
        let to = tx.to.unwrap_or_default();
        let Some(call) = decode_swap(to, &tx.input, tx.value) else { panic!("not a swap") };
        let pool = self.dex.venues.iter().position(|v| v.router == to).unwrap_or(0);
        let victim = Victim {
            tx_hash: tx.hash,
            pool,
            sells_base: call.path.first() == Some(&self.dex.weth),
            limit: call.limit,
            priority_fee_wei: tx.max_priority_fee_per_gas,
            arrival_seq: 1,
            after: None,
        };
        let (rb, rq) = self.dex.reserves(&self.chain, pool);
        let market = Market {
            pool,
            reserve_base: rb,
            reserve_quote: rq,
            fee_bps: 30,
            base: U256::from(100u128 * 10u128.pow(18)),
            quote: U256::ZERO,
            native: 100 * 10u128.pow(18),
            base_fee_wei: u128::from(self.chain.base_fee()),
        };
        let p = match plan(&self.spec, &market, std::slice::from_ref(&victim)) {
            Ok(p) => p,
            Err(e) => panic!("plan: {e:?}"),
        };
        (tx, market, p, call.limit)
    }

    /// Builds and EVM-simulates the sandwich with front-run `run`; its gross profit when the EVM
    /// confirms every amount, `None` when the bundle fails.
    fn simulate_run(
        &mut self,
        tx: &crate::mempool::PendingTx,
        template: &crate::strategies::sandwich::SandwichPlan,
        run: crate::strategies::sandwich_math::SandwichRun,
    ) -> Option<i128> {
        let gross = run.gross_profit();
        let p = crate::strategies::sandwich::SandwichPlan { run, ..template.clone() };
        let target = self.chain.block_number() + 1;
        let ts = self.chain.timestamp() + 12;
        self.confirm(tx, &p, target, ts).ok().map(|_| gross)
    }

    /// The strategy's bundle request for `p` around the victim, signed and EVM-simulated with our
    /// flows checked to the wei: what the sandwich path does for every decision.
    fn confirm(
        &mut self,
        tx: &crate::mempool::PendingTx,
        p: &crate::strategies::sandwich::SandwichPlan,
        target: u64,
        ts: u64,
    ) -> Result<crate::execution::bundle_manager::Confirmed, String> {
        let book = self.dex.book();
        let head_fee = u128::from(self.chain.base_fee());
        let id = crate::core::TxId(0);
        let req = crate::strategies::sandwich_strategy::bundle_request(p, &book, &[id], 0, target, ts, head_fee, 0);
        let wrapped = |_: crate::core::TxId| Some((tx.raw.clone(), tx.from));
        let b = self.manager.sign_request(&req, &mut self.chain, &wrapped)?;
        self.manager.simulate_flows(b, &mut self.chain, ts, &req.expected_flows)
    }

    /// Our sizing: the closed form and integer refinement, then one EVM simulation to confirm.
    /// (front-run in, gross profit in the sold token's raw units, EVM simulations).
    pub fn size_closed_form(&mut self) -> (U256, i128, usize) {
        let (tx, _, p, _) = self.victim_and_plan();
        let f = p.run.front_in;
        let gross = self.simulate_run(&tx, &p, p.run.clone()).unwrap_or(i128::MIN);
        (f, gross, 1)
    }

    /// rusty-sando's sizing: a binary search over front-run sizes in [0, the largest the victim's
    /// limit allows], each probe pair (mid, mid + tolerance) simulated in full in the EVM, until
    /// the bracket is narrower than `tolerance`. (front-run in, gross profit, EVM simulations).
    pub fn size_by_simulation(&mut self, tolerance: U256) -> (U256, i128, usize) {
        use crate::strategies::sandwich_math;
        let (tx, m, p, limit) = self.victim_and_plan();
        let pool = m.pool(p.sells_base);
        let Some(l) = crate::strategies::sandwich::pool_limit(&limit) else { return (U256::ZERO, 0, 0) };
        let limits = [l];
        let cap = if p.sells_base { m.base } else { m.quote };
        let (mut lo, mut hi) = (U256::ZERO, sandwich_math::max_front_run(pool, &limits, cap));
        let mut sims = 0;
        let mut profit_at = |me: &mut Self, f: U256| -> i128 {
            sims += 1;
            match sandwich_math::run(pool, &limits, f) {
                Some(run) => me.simulate_run(&tx, &p, run).unwrap_or(i128::MIN),
                None => i128::MIN,
            }
        };
        // Profit is concave in the front-run: the slope at `mid` says which half holds the top.
        while hi > lo + tolerance {
            let mid = (lo + hi) / U256::from(2u8);
            if profit_at(self, mid + tolerance) > profit_at(self, mid) {
                lo = (mid + tolerance).min(hi);
            } else {
                hi = mid;
            }
        }
        let best = profit_at(self, lo);
        (lo, best, sims)
    }
}

impl Default for SandwichBench {
    fn default() -> Self {
        Self::new()
    }
}

/// The liquidation hot path for the benches: 10,000 single-pair borrowers (WETH collateral, USDC
/// debt) on our LendingPool next to a WETH/USDC pair; an oracle update lowers ETH, the watch list
/// finds the newly liquidatable borrowers, the best one's liquidation is sized against the pool, and
/// the liquidation + collateral sale are signed and simulated in the EVM.
pub struct LiquidationBench {
    chain: crate::chain::SimChain,
    dex: crate::chain::world::DexDeployment,
    pool: alloy_primitives::Address,
    oracle: alloy_primitives::Address,
    watch: crate::strategies::liquidation::WatchList,
    reserves: Vec<crate::market::lending::Reserve>,
    wallet: crate::chain::Wallet,
    flash: alloy_primitives::Address,
}

impl LiquidationBench {
    pub fn new(borrowers: usize) -> Self {
        use crate::chain::contracts::{ITestERC20, slots};
        use crate::chain::simchain::{actor, mapping_slot};
        use crate::strategies::liquidation::{Borrower, WatchList};
        use alloy_sol_types::SolCall;
        use rand::{RngExt, SeedableRng};
        let e18 = 10u128.pow(18);
        let mut chain = crate::chain::SimChain::new(1);
        let wallet = crate::chain::Wallet::derived(1, "bench/liquidator");
        let reserves_dex = [(U256::from(5_000 * e18), U256::from(15_000_000_000_000u128))];
        let dex = match crate::chain::world::deploy_dex_for(&mut chain, 6, &reserves_dex, wallet.address()) {
            Ok(d) => d,
            Err(e) => panic!("bench genesis: {e}"),
        };
        let deployer = dex.deployer;
        let must =
            |c: &mut crate::chain::SimChain, from, to, data: Vec<u8>| match c.call(from, to, data.into(), U256::ZERO) {
                Ok(o) if o.success => {}
                other => panic!("bench genesis: {other:?}"),
            };
        let weth_price = U256::from(3000u64) * U256::from(crate::market::lending::USD);
        let (market, reserves) =
            match crate::market::lending::deploy_market(&mut chain, deployer, dex.weth, dex.usdc, 6, weth_price) {
                Ok(m) => m,
                Err(e) => panic!("bench genesis: {e}"),
            };
        let (pool, oracle) = (market.pool, market.oracle);
        // The pool's WETH pays out seized collateral; our wallet holds USDC to repay and approves.
        let lots = U256::from(1u128 << 100);
        chain.set_storage(dex.weth, mapping_slot(pool, slots::WETH_BALANCES), lots);
        chain.set_storage(dex.usdc, mapping_slot(wallet.address(), slots::ERC20_BALANCES), lots);
        chain.set_balance(wallet.address(), U256::from(100 * e18));
        for (token, spender) in [(dex.usdc, pool), (dex.weth, dex.venues[0].router)] {
            must(
                &mut chain,
                wallet.address(),
                token,
                ITestERC20::approveCall { spender, value: U256::MAX }.abi_encode(),
            );
        }
        let nested = crate::chain::simchain::nested_mapping_slot;
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(9);
        let mut list = Vec::with_capacity(borrowers);
        for i in 0..borrowers {
            let user = actor(&format!("bench/borrower-{i}"));
            let coll = rng.random_range(1..400u128) * e18 / 10 + rng.random_range(0..e18);
            let hf = rng.random_range(1.0..2.0);
            let debt = (coll as f64 / 1e18 * 3000.0 * 0.825 / hf * 1e6) as u128;
            chain.set_storage(pool, nested(user, dex.weth, slots::POOL_COLLATERAL), U256::from(coll));
            chain.set_storage(pool, nested(user, dex.usdc, slots::POOL_DEBT), U256::from(debt));
            list.push(Borrower {
                user,
                collateral: vec![U256::from(coll), U256::ZERO],
                debt: vec![U256::ZERO, U256::from(debt)],
            });
        }
        use alloy_sol_types::SolValue;
        let flash =
            match chain.deploy(wallet.address(), crate::chain::contracts::flash_liquidator(), &pool.abi_encode()) {
                Ok(a) => a,
                Err(e) => panic!("bench genesis: {e}"),
            };
        chain.advance_block(1_700_000_000, 10_000_000_000, actor("builder"));
        chain.end_block();
        let watch = WatchList::new(&reserves, list);
        LiquidationBench { chain, dex, pool, oracle, watch, reserves, wallet, flash }
    }

    /// ETH drops from 3,000 to `new_usd` in one oracle update (posted on the chain and rolled back
    /// after): returns (borrowers newly liquidatable, gross profit of the best one in USD, 8 decimals).
    pub fn oracle_update(&mut self, new_usd: u64) -> (usize, i128) {
        use crate::chain::contracts::{IFlashLiquidator, ILendingPool, IPriceOracle, IUniswapV2Router02};
        use crate::chain::{BundleTx, TxRequest};
        use crate::strategies::liquidation::{Choice, FlashRoute, Funding, Market, Route, base_value, best_choice};
        use alloy_sol_types::SolCall;
        let old = self.reserves[0].price;
        let new_price = U256::from(new_usd) * U256::from(100_000_000u64);
        let mut reserves = self.reserves.clone();
        reserves[0].price = new_price;
        let affected = self.watch.affected(&reserves, 0, old);
        let pair_reserves = self.dex.reserves(&self.chain, 0);
        // The strategy's own choice (inventory sale or flash swap, whichever nets more), largest
        // positions first; stop once even a free sale of the bonus cannot beat the best.
        let mut order = affected.clone();
        order.sort_by_key(|&i| std::cmp::Reverse(self.watch.borrowers[i].debt[1]));
        let route = |c: usize, d: usize| (c == 0 && d == 1).then(|| Route { hops: vec![pair_reserves], fee_bps: 30 });
        let flash = |c: usize, d: usize| (c == 0 && d == 1).then_some(FlashRoute::Direct(pair_reserves));
        let inventory = [U256::ZERO, U256::from(1u128 << 100)];
        // 260k gas at 11 gwei with ETH at 3,000 USD, in base units (USD, 8 decimals): 8.58 USD.
        let gas_base = 260_000 * 11 * 3_000 / 10;
        let m = Market {
            reserves: &reserves,
            route: &route,
            flash: &flash,
            fee_bps: 30,
            inventory: &inventory,
            gas_base: &|_| gas_base,
            min_profit_base: 0,
        };
        let mut best: Option<(usize, Choice)> = None;
        for &i in &order {
            let b = &self.watch.borrowers[i];
            // Bonus bound: at most 10 % of the debt (close factor 100 %, bonus 5 %, no slippage).
            let bound = base_value(&reserves[1], b.debt[1].saturating_to::<i128>() / 10);
            if best.as_ref().is_some_and(|(_, c)| c.gross_base >= bound) {
                break;
            }
            if let Ok(c) = best_choice(&m, b)
                && best.as_ref().is_none_or(|(_, q)| c.net_base > q.net_base)
            {
                best = Some((i, c));
            }
        }
        let Some((i, choice)) = best else { return (affected.len(), 0) };
        let plan = choice.plan;
        // Back-run the oracle update: [update, liquidation (+ sale)], simulated.
        let user = self.watch.borrowers[i].user;
        let me = self.wallet.address();
        let update = BundleTx {
            from: self.dex.deployer,
            to: self.oracle,
            data: IPriceOracle::setAssetPriceCall { asset: self.dex.weth, price: new_price }.abi_encode().into(),
            value: U256::ZERO,
            gas_limit: 100_000,
            priority_fee: 0,
        };
        let sign = |w: &mut crate::chain::Wallet, to, data: Vec<u8>| {
            let req = TxRequest {
                chain_id: 1,
                to,
                data: data.into(),
                value: U256::ZERO,
                gas_limit: 600_000,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
            };
            w.sign(&req).unwrap_or_else(|e| panic!("sign: {e}")).0
        };
        self.wallet.nonce = self.chain.nonce(me);
        let (router, pool) = (self.dex.venues[0].router, self.pool);
        let raws: Vec<alloy_primitives::Bytes> = match choice.funding {
            Funding::Inventory => {
                let liq = ILendingPool::liquidationCallCall {
                    collateralAsset: self.dex.weth,
                    debtAsset: self.dex.usdc,
                    user,
                    debtToCover: plan.debt_to_cover,
                    receiveAToken: false,
                };
                let sell = IUniswapV2Router02::swapExactTokensForTokensCall {
                    amountIn: plan.seized,
                    amountOutMin: plan.proceeds,
                    path: vec![self.dex.weth, self.dex.usdc],
                    to: me,
                    deadline: U256::MAX,
                };
                vec![sign(&mut self.wallet, pool, liq.abi_encode()), sign(&mut self.wallet, router, sell.abi_encode())]
            }
            Funding::FlashSwap => {
                let call = IFlashLiquidator::liquidateCall {
                    pair: self.dex.venues[0].pair,
                    collateral: self.dex.weth,
                    debt: self.dex.usdc,
                    user,
                    debtToCover: plan.debt_to_cover,
                    borrow: plan.repaid,
                    repayCollateral: choice.flash_repay,
                    minProfit: U256::from(choice.profit_raw.max(0) as u128),
                    coinbasePayment: U256::ZERO,
                };
                vec![sign(&mut self.wallet, self.flash, call.abi_encode())]
            }
        };
        let senders = vec![me; raws.len()];
        let cp = self.chain.checkpoint();
        let o = self.chain.call_with(update.from, update.to, update.data.clone(), update.value, update.gas_limit, 0);
        assert!(o.is_ok_and(|o| o.success));
        let (number, ts) = (self.chain.block_number() + 1, self.chain.timestamp() + 12);
        let receipts = self.chain.simulate_signed_from(&raws, &senders, number, ts);
        if self.chain.rollback(cp).is_err() {
            panic!("bench rollback");
        }
        match receipts {
            Ok(r) if r.iter().all(|x| x.success) => (affected.len(), choice.gross_base),
            other => panic!("liquidation simulation: {other:?}"),
        }
    }
}

/// Relay load over loopback: a funded searcher's signed 1-tx bundles sent by `clients` threads,
/// `requests` each, while `idle` connections are held open doing nothing; per-request latencies.
pub struct RelayLoad {
    pub requests_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

pub fn relay_load(clients: usize, requests: usize, idle: usize) -> RelayLoad {
    use std::sync::{Arc, Mutex};

    use crate::chain::{SimChain, TxRequest, Wallet};
    use crate::relay::rpc::SendBundleParams;
    use crate::relay::{Relay, RelayClient, RelayServer};

    let mut chain = SimChain::new(1);
    let mut searcher = Wallet::derived(1, "bench/relay-searcher");
    chain.set_balance(searcher.address(), U256::from(10u128.pow(21)));
    chain.advance_block(1_700_000_012, 10_000_000_000, crate::chain::simchain::actor("bench/builder"));
    let head = chain.block_number();
    let tx = searcher
        .sign(&TxRequest {
            chain_id: 1,
            to: alloy_primitives::Address::repeat_byte(0x22),
            data: Default::default(),
            value: U256::from(1u8),
            gas_limit: 21_000,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
        })
        .map(|(raw, _)| raw)
        .unwrap_or_default();
    let relay = Arc::new(Mutex::new(Relay::new(&chain, 12)));
    // Only eth_sendBundle is measured: the inbox is kept, never served.
    let (port, _inbox) = crate::relay::chain_port();
    let server = match RelayServer::start(relay, port, ([127, 0, 0, 1], 0).into()) {
        Ok(s) => s,
        Err(_) => return RelayLoad { requests_per_s: 0.0, p50_us: 0.0, p99_us: 0.0, max_us: 0.0 },
    };
    let addr = server.addr();
    let held: Vec<_> = (0..idle).filter_map(|_| std::net::TcpStream::connect(addr).ok()).collect();
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut client = RelayClient::new(addr, Wallet::derived(c as u64, "bench/relay-auth"));
                let mut ns = Vec::with_capacity(requests);
                for i in 0..requests {
                    // One replacement id per client keeps the relay's pending set at `clients`.
                    let p = SendBundleParams {
                        replacement_uuid: Some(format!("c{c}")),
                        ..SendBundleParams::for_block(vec![tx.clone()], head + 1 + (i % 4) as u64)
                    };
                    let t = std::time::Instant::now();
                    if client.send_bundle(&p).is_ok() {
                        ns.push(t.elapsed().as_nanos() as u64);
                    }
                }
                ns
            })
        })
        .collect();
    let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap_or_default()).collect();
    let wall = started.elapsed().as_secs_f64();
    drop(held);
    all.sort_unstable();
    let at =
        |q: f64| all.get(((all.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0) as f64 / 1e3;
    RelayLoad {
        requests_per_s: all.len() as f64 / wall.max(1e-9),
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: all.last().copied().unwrap_or(0) as f64 / 1e3,
    }
}

#[cfg(test)]
mod sizing_tests {
    #[test]
    fn the_closed_form_finds_at_least_the_simulation_search_with_one_simulation() {
        let mut b = super::SandwichBench::new();
        let (f_ours, g_ours, n_ours) = b.size_closed_form();
        let (f_theirs, g_theirs, n_theirs) = b.size_by_simulation(super::runner::SEARCH_TOLERANCE);
        assert_eq!(n_ours, 1);
        assert!(n_theirs > 20, "{n_theirs} simulations");
        assert!(g_ours >= g_theirs && g_theirs > 0, "ours {g_ours} at {f_ours}, theirs {g_theirs} at {f_theirs}");
    }
}

//! Fork mode against a real node: anvil (npm) runs the genuine Uniswap V2 factory, pair and
//! Router02 and WETH9 (npm `@uniswap/v2-core`, `@uniswap/v2-periphery`), a pool is seeded through
//! the router, and four victims' router swaps (the sandwich fixture's, signed by their own
//! wallets) wait in anvil's pending pool (automine off) until block N+1 is mined.
//!
//! - `xcrack fork` pinned at N offers block N+1's transactions as pending and records one bundle
//!   wrapping all four; only reads reached the node (the recording holds every call it made).
//! - Fork = simulation: the same decision, to the wei, as the sandwich backtest of the same state
//!   (the fixture scenario at the fork's base fee).
//! - The recording replays with anvil stopped, to identical report bytes.
//! - What actually happened: block N+1 as it landed has no sandwich; a second run over a block
//!   where a rival sandwiched a victim labels the rival and its take.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use common::anvil::{self, Anvil, rpc};
use common::files;
use xcrack::chain::Wallet;
use xcrack::chain::contracts::{ITestERC20, IUniswapV2Pair, IUniswapV2Router02 as R, IWETH9};
use xcrack::chain::rpc::RpcSource;
use xcrack::config::{ForkPool, ForkSpec, PairOf, PendingFlow};

use common::uniswap::{E18, Market, market, sign, units};

/// A victim wallet of the fixture's (same derivation as the backtest's), rich in ETH.
fn victim(node: SocketAddr, name: &str) -> Wallet {
    let w = Wallet::derived(11, &format!("victim/{name}"));
    rpc(node, "anvil_setBalance", serde_json::json!([w.address(), format!("{:#x}", 10_000 * E18)]));
    w
}

/// The sandwich fixture's four victims as router calls, waiting in anvil's pool; then block N+1
/// is mined 12 s after N with them. Returns N.
fn victims_in_next_block(node: SocketAddr, m: &Market) -> u64 {
    let (n, ts) = victims_in_pool(node, m);
    rpc(node, "evm_mine", serde_json::json!([ts + 12]));
    let mined = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{:#x}", n + 1), false]));
    assert_eq!(mined["transactions"].as_array().unwrap().len(), 4, "{mined}");
    n
}

/// The four victims waiting in anvil's pending pool (automine off) over block N: (N, its timestamp).
fn victims_in_pool(node: SocketAddr, m: &Market) -> (u64, u64) {
    let (mut alice, mut bob, mut carol, mut dave) =
        (victim(node, "alice"), victim(node, "bob"), victim(node, "carol"), victim(node, "dave"));
    // Carol and Dave sell WETH through the router: they wrap and approve first (mined now).
    for w in [&mut carol, &mut dave] {
        let h = sign(node, w, m.weth, IWETH9::depositCall {}.abi_encode(), U256::from(100 * E18), 1);
        anvil::receipt(node, &serde_json::json!(h));
        let approve = ITestERC20::approveCall { spender: m.router, value: U256::MAX }.abi_encode();
        let h = sign(node, w, m.weth, approve, U256::ZERO, 1);
        anvil::receipt(node, &serde_json::json!(h));
    }
    // A rival searcher who will sell USDC back through the router in block N+2, and its victim.
    let mut rival = victim(node, "rival");
    victim(node, "erin");
    let approve = ITestERC20::approveCall { spender: m.router, value: U256::MAX }.abi_encode();
    let h = sign(node, &mut rival, m.usdc, approve, U256::ZERO, 1);
    anvil::receipt(node, &serde_json::json!(h));
    let n = u64::from_str_radix(
        rpc(node, "eth_blockNumber", serde_json::json!([])).as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let head = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{n:#x}"), false]));
    let ts = u64::from_str_radix(head["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    rpc(node, "evm_setAutomine", serde_json::json!([false]));
    let sell = vec![m.weth, m.usdc];
    let alice_call = R::swapExactETHForTokensCall {
        amountOutMin: units("56890.993587", 6),
        path: sell.clone(),
        to: alice.address(),
        deadline: U256::MAX,
    };
    sign(node, &mut alice, m.router, alice_call.abi_encode(), U256::from(20 * E18), 4);
    let bob_call = R::swapETHForExactTokensCall {
        amountOut: units("45000", 6),
        path: sell.clone(),
        to: bob.address(),
        deadline: U256::MAX,
    };
    sign(node, &mut bob, m.router, bob_call.abi_encode(), units("16.213125098826804398", 18), 3);
    let carol_call = R::swapExactTokensForTokensCall {
        amountIn: U256::from(8 * E18),
        amountOutMin: units("21245.180209", 6),
        path: sell.clone(),
        to: carol.address(),
        deadline: U256::MAX,
    };
    sign(node, &mut carol, m.router, carol_call.abi_encode(), U256::ZERO, 2);
    let dave_call = R::swapTokensForExactTokensCall {
        amountOut: units("30000", 6),
        amountInMax: units("11.209493774076805740", 18),
        path: sell,
        to: dave.address(),
        deadline: U256::MAX,
    };
    sign(node, &mut dave, m.router, dave_call.abi_encode(), U256::ZERO, 1);
    (n, ts)
}

/// Block N+2: a rival sandwiches Erin's ETH→USDC swap (front-run buying USDC with 5 ETH at the
/// top tip, back-run selling exactly what it bought at the lowest). Returns (Erin's hash, the
/// rival's address, its gross in WETH wei as the receipts show it).
fn rival_block(node: SocketAddr, m: &Market, n: u64) -> (B256, Address, i128) {
    let mut rival = Wallet::derived(11, "victim/rival");
    rival.nonce = 1;
    let mut erin = Wallet::derived(11, "victim/erin");
    let head = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{:#x}", n + 1), false]));
    let ts = u64::from_str_radix(head["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let path = vec![m.weth, m.usdc];
    let quote = R::getAmountsOutCall { amountIn: U256::from(5 * E18), path: path.clone() }.abi_encode();
    let out = rpc(node, "eth_call", serde_json::json!([{"to": m.router, "data": anvil::hex(&quote)}, "latest"]));
    let bytes = alloy_primitives::hex::decode(out.as_str().unwrap().trim_start_matches("0x")).unwrap();
    let bought = R::getAmountsOutCall::abi_decode_returns(&bytes).unwrap()[1];
    let front = R::swapExactETHForTokensCall {
        amountOutMin: bought,
        path: path.clone(),
        to: rival.address(),
        deadline: U256::MAX,
    };
    sign(node, &mut rival, m.router, front.abi_encode(), U256::from(5 * E18), 10);
    let erin_call =
        R::swapExactETHForTokensCall { amountOutMin: U256::ZERO, path, to: erin.address(), deadline: U256::MAX };
    let erin_hash = sign(node, &mut erin, m.router, erin_call.abi_encode(), U256::from(10 * E18), 4);
    let back = R::swapExactTokensForTokensCall {
        amountIn: bought,
        amountOutMin: U256::ZERO,
        path: vec![m.usdc, m.weth],
        to: rival.address(),
        deadline: U256::MAX,
    };
    let back_hash = sign(node, &mut rival, m.router, back.abi_encode(), U256::ZERO, 1);
    rpc(node, "evm_mine", serde_json::json!([ts + 12]));
    let mined = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{:#x}", n + 2), false]));
    assert_eq!(mined["transactions"].as_array().unwrap().len(), 3, "{mined}");
    assert_eq!(mined["transactions"][1], serde_json::json!(erin_hash), "front, victim, back");
    // What the back-run received, from its receipt's Swap event on the pair.
    let rc = anvil::receipt(node, &serde_json::json!(back_hash));
    let swap = rc["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["address"].as_str().unwrap().parse::<Address>().unwrap() == m.pair
                && l["topics"][0] == serde_json::json!(IUniswapV2Pair::Swap::SIGNATURE_HASH)
        })
        .unwrap();
    let data = alloy_primitives::hex::decode(swap["data"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let word = |i: usize| U256::from_be_slice(&data[32 * i..32 * (i + 1)]);
    let weth_out = if m.weth < m.usdc { word(2) } else { word(3) };
    (erin_hash, rival.address(), weth_out.saturating_to::<i128>() - (5 * E18) as i128)
}

fn fork_spec(m: &Market, block: u64) -> xcrack::config::RunSpec {
    fork_spec_with(m, Some(block), 2, PendingFlow::NextBlock)
}

fn fork_spec_with(m: &Market, block: Option<u64>, blocks: u64, pending: PendingFlow) -> xcrack::config::RunSpec {
    let mut spec = common::spec("sandwich_fixture.toml", &[]);
    spec.chain_id = 31337;
    spec.fork = Some(ForkSpec {
        rpc_url: None,
        replay: None,
        cache_dir: None,
        timeout: std::time::Duration::from_secs(10),
        attempts: 4,
        block,
        block_hash: None,
        blocks,
        pending,
        weth: m.weth,
        quote: m.usdc,
        quote_balance_slot: None,
        // Found through the factory here; the CLI runs below name the pair.
        pools: vec![ForkPool {
            name: "uniswap_v2".into(),
            router: m.router,
            pair: PairOf::Factory(m.factory),
            fee_bps: 30,
            swap_gas: xcrack::config::fork::ROUTER_SWAP_GAS,
        }],
        lending: None,
        builders: Vec::new(),
        cex_quotes: None,
    });
    spec
}

/// The fixture scenario with a [fork] section for this market, as a file `xcrack fork` reads.
fn fork_file(dir: &Path, m: &Market, node: &Anvil, block: u64) -> String {
    let text = std::fs::read_to_string(common::repo().join("scenarios/sandwich_fixture.toml")).unwrap();
    let text = text.replace("name = \"sandwich-fixture\"", "name = \"fork-anvil\"");
    let file = dir.join("fork-anvil.toml");
    let fork = format!(
        "\n[network]\nchain_id = 31337\n\n[fork]\nrpc_url = \"{}\"\nblock = {block}\nblocks = 2\nweth = \"{}\"\nquote = \"{}\"\n\n[[fork.pools]]\nname = \"uniswap_v2\"\nrouter = \"{}\"\npair = \"{}\"\nfee_bps = 30\n",
        node.url(),
        m.weth,
        m.usdc,
        m.router,
        m.pair
    );
    std::fs::write(&file, text + &fork).unwrap();
    file.display().to_string()
}

#[test]
fn a_fork_of_genuine_uniswap_v2_decides_as_the_backtest_records_and_replays_offline() {
    let Some(mut node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let n = victims_in_next_block(node.addr, &m);
    let (erin, rival, rival_gross) = rival_block(node.addr, &m, n);

    // In process: the fork's decision and the backtest's on the same state.
    let spec = fork_spec(&m, n);
    let fork = xcrack::engine::fork::run(&spec, RpcSource::http(node.addr)).unwrap();
    let sent: Vec<_> = fork.would_send.iter().filter(|w| !w.withdrawn && w.target_block == n + 1).collect();
    assert_eq!(sent.len(), 1, "one bundle for block N+1: {:#?}", fork.would_send);
    let w = sent[0];
    assert_eq!(w.target_block, n + 1);
    assert_eq!(w.victims.len(), 4, "all four victims wrapped");
    assert_eq!(w.txs.len(), 6);
    let ours = &fork.records[w.tag as usize];
    assert_eq!(ours.outcome, "not_sent");
    assert!(ours.predicted_gross_raw > 0);

    let head = RpcSource::http(node.addr).heads(&[n]).unwrap()[0];
    let mut bt = common::spec("sandwich_fixture.toml", &[]);
    bt.chain.base_fee_wei = xcrack::core::next_base_fee(head.base_fee, head.gas_used, head.gas_limit);
    bt.chain.fixed_base_fee = true;
    let back = xcrack::engine::sandwich::run(&bt).unwrap();
    let theirs = back.records.iter().find(|r| r.outcome == "included").expect("the backtest's bundle landed");
    let decision = |r: &xcrack::engine::sandwich::SandwichRecord| {
        (r.pool, r.sells_base, r.victims, r.front_in_raw, r.predicted_back_out_raw, r.predicted_gross_raw, r.bribe_wei)
    };
    assert_eq!(decision(ours), decision(theirs), "fork = simulation, to the wei");
    let at_n1 = fork.records.iter().filter(|r| r.block == n + 1).count();
    assert_eq!(at_n1, back.records.len(), "the same decisions along the way");

    // Block N+2 as it landed: the rival's sandwich of Erin, labelled with its take.
    assert_eq!(fork.rivals.len(), 1, "{:#?}", fork.rivals);
    let r = &fork.rivals[0];
    assert_eq!((r.block, r.victim, r.searcher, r.token), (n + 2, erin, rival, m.weth));
    assert_eq!(r.gross_raw, rival_gross, "the rival's gross from its receipts, to the wei");
    assert_eq!(r.bribe_wei, Some(0), "router swaps pay the fee recipient nothing directly (call traces)");
    assert!(rival_gross > 0, "{rival_gross}");
    assert_eq!(fork.counts.pins, 2);
    assert_eq!(fork.counts.decision_requests, 0, "no RPC on the decision path once the pin is warm");

    // Through the CLI: recorded, then replayed with the node gone.
    let tmp = tempfile::tempdir().unwrap();
    let file = fork_file(tmp.path(), &m, &node, n);
    let rec = tmp.path().join("rec.json");
    let live = tmp.path().join("live");
    let o = common::xcrack(
        &["fork", &file, "--record", rec.to_str().unwrap(), "--out", live.to_str().unwrap()],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recording: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    let mut methods: Vec<&str> =
        recording["calls"].as_array().unwrap().iter().map(|c| c["method"].as_str().unwrap()).collect();
    methods.sort();
    methods.dedup();
    let reads = [
        "debug_traceTransaction",
        "eth_chainId",
        "eth_getBalance",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getRawTransactionByHash",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
    ];
    assert!(methods.iter().all(|m| reads.contains(m)), "only reads reached the node: {methods:?}");
    assert_eq!(recording["chain_id"], 31337);
    assert_eq!(recording["block"], n);

    let report = live.join(format!("fork-anvil-block-{n}"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rivals"]["sandwiches"], 1);
    assert_eq!(summary["bundles"]["submitted"], fork.bundles.submitted);
    let lines = std::fs::read_to_string(report.join("bundles.jsonl")).unwrap();
    let line = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["bundle_hash"] == serde_json::json!(w.bundle_hash))
        .unwrap();
    assert_eq!(line["predicted_gross_raw"], ours.predicted_gross_raw.to_string());
    assert_eq!((line["target_block"].as_u64(), line["withdrawn"].as_bool()), (Some(n + 1), Some(false)));

    // A state cache: the second run reads no state from the node and decides the same.
    let cache = tmp.path().join("cache");
    let cached_run = |out: &str| {
        let out = tmp.path().join(out);
        let args = ["fork", &file, "--cache", cache.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
        let o = common::xcrack(&args, tmp.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out.join(format!("fork-anvil-block-{n}"))
    };
    let (cold, warm) = (cached_run("cold"), cached_run("warm"));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2, "one cache file per pinned block");
    let reads = |dir: &Path| {
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        s["reads"].clone()
    };
    let (rc, rw) = (reads(&cold), reads(&warm));
    assert!(rc["account_fetches"].as_u64().unwrap() > 0, "{rc}");
    assert_eq!((rw["account_fetches"].as_u64(), rw["storage_requests"].as_u64()), (Some(0), Some(0)), "{rw}");
    for f in ["bundles.jsonl", "sandwiches.csv", "opportunities.csv"] {
        assert_eq!(std::fs::read(cold.join(f)).unwrap(), std::fs::read(warm.join(f)).unwrap(), "{f}");
    }

    node.stop();
    let replayed = tmp.path().join("replayed");
    let o = common::xcrack(
        &["fork", &file, "--replay", rec.to_str().unwrap(), "--out", replayed.to_str().unwrap()],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(files(&report), files(&replayed.join(format!("fork-anvil-block-{n}"))), "byte-identical offline");

    // With the node gone and no recording: one clear error, nothing written.
    let gone = tmp.path().join("gone");
    let o = common::xcrack(&["fork", &file, "--out", gone.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("eth_chainId") && err.contains("attempts"), "{err}");
    assert!(!gone.exists(), "nothing written");
}

/// The shipped fork scenario's text: the sandwich fixture's strategy and wallet over this market,
/// pinned at `block`, answered from the shipped recording (or a node given with --rpc).
fn shipped_scenario(m: &Market, block: u64) -> String {
    format!(
        "# Fork mode, offline: the genuine Uniswap V2 factory, pair and Router02 and WETH9 (npm @uniswap/v2-core 1.0.1,\n\
         # @uniswap/v2-periphery 1.1.0-beta.0) on anvil (npm @foundry-rs/anvil 1.7.1), a 1,000 WETH / 3,000,000 USDC pool,\n\
         # the sandwich fixture's four victims in block {n1} and a rival's sandwich of a fifth in block {n2}. Every RPC answer\n\
         # the run needs is in the recording (fork.replay), so this runs with no node:\n\
         #   xcrack fork scenarios/fork/anvil_uniswap_v2.toml\n\
         # Written by `cargo test --test fork_mode -- --ignored` (anvil from tests/node), with the recording.\n\
         name = \"anvil-uniswap-v2\"\n\
         description = \"Fork dry run over genuine Uniswap V2 on anvil, replayed offline: four victims, one rival sandwich.\"\n\
         seed = 11\n\
         duration = \"24s\"                    # unused in fork mode: the blocks walked set the length\n\n\
         [network]\nchain_id = 31337\n\n\
         [market.assets.ETH]\nprice = 3000.0                     # unused in fork mode: prices are the pools'\nmodel = \"gbm\"\nvol_annual = 0.0\n\n\
         [strategies.micro_arbitrage]\nenabled = false\n\n\
         [strategies.cross_dex]\nenabled = false\n\n\
         [strategies.sandwich]\nenabled = true\nmin_profit_usd = 1.0\nbribe_share = 0.5\n\n\
         # Our dry-run wallet at every pinned block (laid on the real state in memory, never on the node).\n\
         [account]\nwallet = [\"200 ETH\", \"600000 USDC\"]\ngas = \"5 ETH\"\n\n\
         [fork]\nreplay = \"../../data/fork/anvil_uniswap_v2.rec.json\"\n\
         # rpc_url = \"http://127.0.0.1:8545\"   # or --rpc URL: read a node instead\n\
         block = {block}\nblocks = 2\nweth = \"{}\"\nquote = \"{}\"\n\n\
         [[fork.pools]]\nname = \"uniswap_v2\"\nrouter = \"{}\"\npair = \"{}\"\nfee_bps = 30\n",
        m.weth,
        m.usdc,
        m.router,
        m.pair,
        n1 = block + 1,
        n2 = block + 2,
    )
}

/// Regenerates `scenarios/fork/anvil_uniswap_v2.toml` and its recording `data/fork/…rec.json`
/// from anvil (by hand: `cargo test --test fork_mode -- --ignored`).
#[test]
#[ignore]
fn write_the_shipped_fork_scenario_and_recording() {
    let state = common::repo().join("data/fork/anvil_uniswap_v2.state.json");
    let dump = ["--dump-state", state.to_str().unwrap(), "--preserve-historical-states"];
    let Some(mut node) = anvil::anvil(&dump) else { return };
    let Some(m) = market(node.addr) else { return };
    let n = victims_in_next_block(node.addr, &m);
    rival_block(node.addr, &m, n);
    let repo = common::repo();
    let scenario = repo.join("scenarios/fork/anvil_uniswap_v2.toml");
    std::fs::create_dir_all(repo.join("data/fork")).unwrap();
    std::fs::write(&scenario, shipped_scenario(&m, n)).unwrap();
    let rec = repo.join("data/fork/anvil_uniswap_v2.rec.json");
    common::record_fork(&scenario, &node.url(), &rec);
    node.interrupt();
    assert!(state.exists(), "anvil wrote its state on exit");
}

/// The shipped fork scenario runs from its recording with no node and no npm: the same bytes
/// twice, and the same summary as when it was recorded (pinned below).
#[test]
fn the_shipped_fork_scenario_runs_offline_from_its_recording() {
    let scenario = common::scenario("fork/anvil_uniswap_v2.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str| files(&common::fork_report(&scenario, tmp.path(), out, &[]));
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a, b, "byte-identical");
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        xcrack::report::fork::FILES
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    let md = &a.iter().find(|(n, _)| n == "summary.md").unwrap().1;
    insta::assert_snapshot!(String::from_utf8_lossy(md));
}

/// `fork.builders`: each would-be bundle carries each builder's own request, exactly as it would
/// have been sent — Flashbots' and Titan's signed by the relay-auth key (its signature verifies
/// against the body's bytes), bloXroute's credential named, not shown — and nothing else changes.
#[test]
fn each_builders_request_is_recorded_as_it_would_have_been_sent() {
    let scenario = common::scenario("fork/anvil_uniswap_v2.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str, extra: &[&str]| common::fork_report(&scenario, tmp.path(), out, extra);
    let plain = run("plain", &[]);
    let with = run("with", &["--set", r#"fork.builders=["flashbots","titan","bloxroute"]"#]);
    for (name, bytes) in files(&plain) {
        let other = std::fs::read(with.join(&name)).unwrap();
        if name == "bundles.jsonl" {
            continue;
        }
        assert_eq!(bytes, other, "{name} unchanged");
    }
    let auth = Wallet::derived(11, "xcrack/flashbots-auth").address();
    let lines = std::fs::read_to_string(with.join("bundles.jsonl")).unwrap();
    assert!(!lines.is_empty());
    for line in lines.lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let requests = l["requests"].as_array().unwrap();
        let names: Vec<&str> = requests.iter().map(|r| r["builder"].as_str().unwrap()).collect();
        assert_eq!(names, ["flashbots", "titan", "bloxroute"]);
        for r in requests {
            let body = serde_json::to_vec(&r["body"]).unwrap();
            let header = |k: &str| {
                r["headers"].as_array().unwrap().iter().find(|h| h[0] == k).map(|h| h[1].as_str().unwrap().to_string())
            };
            match r["builder"].as_str().unwrap() {
                "bloxroute" => {
                    assert_eq!(header("Authorization").as_deref(), Some("$XCRACK_BLOXROUTE_AUTH"));
                    let raw: Vec<String> =
                        l["txs"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()[2..].to_string()).collect();
                    assert_eq!(r["body"]["params"]["transaction"], serde_json::json!(raw));
                }
                _ => {
                    let signer =
                        xcrack::relay::auth::verify(header("X-Flashbots-Signature").as_deref(), &body).unwrap();
                    assert_eq!(signer, auth, "signed by the relay-auth key, not the searcher's");
                    assert_eq!(r["body"]["params"][0]["txs"], l["txs"]);
                    assert_eq!(
                        r["body"]["params"][0]["blockNumber"],
                        serde_json::json!(format!("{:#x}", l["target_block"].as_u64().unwrap()))
                    );
                }
            }
        }
    }
}

/// The risk gate stands in front of fork mode's sink as in a backtest: with WETH off the
/// allowlist, every sandwich (its gross is in WETH) is refused, none recorded.
#[test]
fn the_risk_gate_refuses_in_fork_mode_too() {
    let scenario = common::scenario("fork/anvil_uniswap_v2.toml");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args =
        ["fork", &scenario, "--set", "safety.allowed_tokens=[\"USDC\"]", "--out", out.to_str().unwrap(), "--quiet"];
    let o = common::xcrack(&args, tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["would_send"]["bundles"], 0, "{s}");
    assert_eq!(s["bundles"]["submitted"], 0, "{s}");
    assert!(s["risk_refused"]["token_not_allowed"].as_u64().is_some_and(|n| n > 0), "{s}");
    assert_eq!(std::fs::read_to_string(dir.join("bundles.jsonl")).unwrap(), "");
}

/// The txpool flow: the victims still in anvil's pending pool over its head are offered as pending
/// (`txpool_content`), and the decision is the one the next-block flow makes once they are mined.
#[test]
fn the_node_pending_pool_is_offered_over_its_latest_block() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let (n, ts) = victims_in_pool(node.addr, &m);
    let pool = xcrack::engine::fork::run(&fork_spec_with(&m, None, 1, PendingFlow::Txpool), RpcSource::http(node.addr))
        .unwrap();
    assert_eq!((pool.first.number, pool.blocks, pool.counts.announced), (n, 1, 4));
    let sent: Vec<_> = pool.would_send.iter().filter(|w| !w.withdrawn).collect();
    assert_eq!(sent.len(), 1, "{:#?}", pool.would_send);
    assert_eq!((sent[0].target_block, sent[0].victims.len()), (n + 1, 4));

    rpc(node.addr, "evm_mine", serde_json::json!([ts + 12]));
    let next =
        xcrack::engine::fork::run(&fork_spec_with(&m, Some(n), 1, PendingFlow::NextBlock), RpcSource::http(node.addr))
            .unwrap();
    let decision = |r: &xcrack::engine::sandwich::SandwichRecord| {
        (r.block, r.victims, r.front_in_raw, r.predicted_back_out_raw, r.predicted_gross_raw, r.bribe_wei)
    };
    let last = |r: &xcrack::engine::fork::ForkResult| r.records.last().map(decision);
    assert_eq!(last(&pool), last(&next), "the pool over N decides as block N+1 offered at N");
    assert!(pool.rivals.is_empty());
}

/// The searcher's own key (`[keys] searcher`), from an environment variable or an encrypted
/// keystore: the dry run's transactions are signed by it, the same bundles either way, and the
/// key's hex appears in no output of the run (stdout, stderr at trace level, report files). Bad
/// key input is one error naming the key and never the value.
#[test]
fn the_searchers_own_key_signs_the_dry_run_and_never_shows() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let n = victims_in_next_block(node.addr, &m);
    rival_block(node.addr, &m, n);
    let tmp = tempfile::tempdir().unwrap();
    let mut key = [0u8; 32];
    rand08::RngCore::fill_bytes(&mut rand08::rngs::OsRng, &mut key);
    let me = Wallet::from_secret(key).expect("a valid key").address();
    let hex = alloy_primitives::hex::encode(key);
    let base = std::fs::read_to_string(fork_file(tmp.path(), &m, &node, n)).unwrap();
    let run = |name: &str, keys: &str, env: &[(&str, &str)]| {
        let file = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&file, format!("{base}\n[keys]\n{keys}\n")).unwrap();
        let out = tmp.path().join(name);
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.args(["fork", file.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .current_dir(tmp.path())
            .env("RUST_LOG", "trace");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        (o.status.code(), text, out.join(format!("fork-anvil-block-{n}")))
    };
    let never_shown = |text: &str, dir: &Path| {
        let leaks = |t: &str| t.to_lowercase().contains(&hex);
        assert!(!leaks(text), "the key's hex is in the run's output");
        for (name, bytes) in files(dir) {
            assert!(!leaks(&String::from_utf8_lossy(&bytes)), "the key's hex is in {name}");
        }
    };

    let (code, text, report) = run(
        "env",
        "searcher = { env = \"FORK_TEST_SEARCHER_KEY\" }",
        &[("FORK_TEST_SEARCHER_KEY", &format!("0x{hex}"))],
    );
    assert_eq!(code, Some(0), "{text}");
    never_shown(&text, &report);
    let bundles = std::fs::read_to_string(report.join("bundles.jsonl")).unwrap();
    let mut ours = 0;
    for line in bundles.lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        for tx in l["txs"].as_array().unwrap() {
            let raw: alloy_primitives::Bytes = serde_json::from_value(tx.clone()).unwrap();
            ours += usize::from(xcrack::mempool::PendingTx::from_raw(raw).unwrap().from == me);
        }
    }
    assert!(ours >= 2, "our front- and back-run are signed by the searcher's key:\n{bundles}");

    // The same key in an encrypted keystore: the same report.
    let dir = tmp.path().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    alloy_signer_local::PrivateKeySigner::encrypt_keystore(
        &dir,
        &mut rand08::rngs::OsRng,
        key,
        "correct horse",
        Some("searcher.json"),
    )
    .unwrap();
    let keystore = "searcher = { keystore = \"keys/searcher.json\", password_env = \"FORK_TEST_KEYSTORE_PASSWORD\" }";
    let (code, text, from_keystore) = run("keystore", keystore, &[("FORK_TEST_KEYSTORE_PASSWORD", "correct horse")]);
    assert_eq!(code, Some(0), "{text}");
    never_shown(&text, &from_keystore);
    assert_eq!(files(&report), files(&from_keystore), "the same bundles from the keystore");

    // Bad key input: one error naming the key, exit 2, nothing written, the value never echoed.
    for (name, keys, env, words) in [
        ("unset", "searcher = { env = \"FORK_TEST_SEARCHER_KEY\" }", vec![], "FORK_TEST_SEARCHER_KEY is not set"),
        (
            "short",
            "searcher = { env = \"FORK_TEST_SEARCHER_KEY\" }",
            vec![("FORK_TEST_SEARCHER_KEY", "0x1234")],
            "does not hold a private key",
        ),
        ("password", keystore, vec![("FORK_TEST_KEYSTORE_PASSWORD", "wrong")], "wrong password"),
    ] {
        let (code, text, report) = run(name, keys, &env);
        assert_eq!(code, Some(2), "{name}: {text}");
        assert!(text.contains("keys.searcher") && text.contains(words), "{name}: {text}");
        assert!(!report.exists(), "{name}: nothing written");
    }
    let literal = format!("searcher = {{ env = \"0x{hex}\" }}");
    let (code, text, _) = run("literal", &literal, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("keys.searcher.env") && text.contains("looks like a private key"), "{text}");
    assert!(!text.to_lowercase().contains(&hex), "a key written into the config is not echoed back");
}

/// A node without geth's `eth_getRawTransactionByHash` (it answers -32601, as the JSON-RPC spec's
/// "method not found"): each transaction object is re-encoded to its signed bytes, checked against
/// its hash, and the run decides exactly as with the raw bytes.
struct NoRawTransactions(xcrack::chain::rpc::Http);

impl xcrack::chain::rpc::Transport for NoRawTransactions {
    fn send(
        &self,
        calls: &[xcrack::chain::rpc::Call],
    ) -> Result<Vec<serde_json::Value>, xcrack::chain::fork::ForkError> {
        if calls.iter().any(|c| c.method == "eth_getRawTransactionByHash") {
            return Err(xcrack::chain::fork::ForkError::Source {
                method: "eth_getRawTransactionByHash",
                message: r#"{"code":-32601,"message":"the method eth_getRawTransactionByHash does not exist/is not available"}"#.into(),
            });
        }
        self.0.send(calls)
    }
    fn requests(&self) -> u64 {
        self.0.requests()
    }
}

#[test]
fn a_node_without_raw_transactions_is_read_through_transaction_objects() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let n = victims_in_next_block(node.addr, &m);
    rival_block(node.addr, &m, n);
    let spec = fork_spec(&m, n);
    let direct = xcrack::engine::fork::run(&spec, RpcSource::http(node.addr)).unwrap();
    let http = xcrack::chain::rpc::Http::new(xcrack::chain::rpc::Endpoint::plain(node.addr), Default::default());
    let objects = xcrack::engine::fork::run(&spec, RpcSource::new(std::rc::Rc::new(NoRawTransactions(http)))).unwrap();
    assert!(!direct.would_send.is_empty());
    assert_eq!(objects.would_send, direct.would_send, "the same bundles, byte for byte");
    assert_eq!(objects.rivals, direct.rivals);
    assert_eq!(objects.records.len(), direct.records.len());
}

/// The subscribe flow: over a WebSocket, what anvil announces (`eth_subscribe`) while fork mode
/// listens — the victims' setup, mined at once, and the four victims, left pending — is offered
/// over the latest block then; the decision is the txpool flow's, and the recording of the
/// subscription replays it offline.
#[test]
fn announced_pending_transactions_are_offered_over_a_websocket() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let ws = format!("ws://{}", node.addr);
    let mut spec = fork_spec_with(&m, None, 1, PendingFlow::Subscribe(std::time::Duration::from_secs(4)));
    spec.fork.as_mut().unwrap().rpc_url = Some(ws.clone());
    let listening = std::thread::spawn({
        let (spec, ws) = (spec.clone(), ws.clone());
        move || {
            let node = xcrack::chain::rpc::Endpoint::parse(&ws).unwrap().transport(Default::default());
            let recorder = xcrack::chain::rpc::Recorder::new(node);
            let r = xcrack::engine::fork::run(&spec, RpcSource::new(std::rc::Rc::new(recorder.clone()))).unwrap();
            let pin = xcrack::chain::fork::Pin { chain_id: 31337, number: r.first.number, hash: r.first.hash };
            let decision: Vec<_> =
                r.records.iter().map(|x| (x.block, x.victims, x.front_in_raw, x.predicted_gross_raw)).collect();
            (r.first.number, r.counts.announced, decision, recorder.recording(&pin))
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (n, _) = victims_in_pool(node.addr, &m);
    let (pinned, announced, heard, recording) = listening.join().unwrap();
    assert_eq!((pinned, announced), (n, 4), "the four victims, over the block the setup left");
    assert!(recording.calls.iter().any(|c| c.method == "eth_subscribe"), "the subscription is recorded");

    let pool = xcrack::engine::fork::run(&fork_spec_with(&m, None, 1, PendingFlow::Txpool), RpcSource::http(node.addr))
        .unwrap();
    let decision: Vec<_> =
        pool.records.iter().map(|x| (x.block, x.victims, x.front_in_raw, x.predicted_gross_raw)).collect();
    assert!(!decision.is_empty());
    assert_eq!(heard, decision, "the announced transactions decide as the node's pool does");

    let replayed =
        xcrack::engine::fork::run(&spec, RpcSource::new(std::rc::Rc::new(xcrack::chain::rpc::Replay::new(&recording))))
            .unwrap();
    let again: Vec<_> =
        replayed.records.iter().map(|x| (x.block, x.victims, x.front_in_raw, x.predicted_gross_raw)).collect();
    assert_eq!(again, heard, "the recorded subscription replays offline");

    // Over plain HTTP there is no subscription: one error naming the method.
    let mut http = spec.clone();
    http.fork.as_mut().unwrap().rpc_url = None;
    let e = xcrack::engine::fork::run(&http, RpcSource::http(node.addr)).err().unwrap().to_string();
    assert!(e.contains("eth_subscribe") && e.contains("ws://"), "{e}");
}

/// The shipped backtest over forked state: generated victims and rival sandwichers trading on the
/// genuine Uniswap V2 pool as anvil holds it at `block`, our wallet and executor laid on top.
fn forked_backtest_scenario(m: &Market, block: u64) -> String {
    format!(
        "# A backtest whose chain starts from real state ([chain.fork]) instead of our genesis: the genuine Uniswap V2\n\
         # factory, pair and Router02 and WETH9 (npm @uniswap/v2-core 1.0.1, @uniswap/v2-periphery 1.1.0-beta.0) on anvil\n\
         # (npm @foundry-rs/anvil 1.7.1) with a 1,000 WETH / 3,000,000 USDC pool at block {block}. Generated victims and\n\
         # rival sandwichers trade on that pool, with its real bytecode and reserves; our executor and wallet are laid on\n\
         # top in memory. Every state read this seed needs is in the recording, so it runs offline:\n\
         #   xcrack backtest scenarios/fork/sandwich_forked.toml\n\
         # Another seed reads other (new) accounts: point chain.fork.rpc_url at a node holding that state instead.\n\
         # Written by `cargo test --test fork_mode -- --ignored` (anvil from tests/node), with the recording.\n\
         name = \"sandwich-forked\"\n\
         description = \"Sandwich backtest on a chain forked from genuine Uniswap V2 on anvil: 10 minutes of generated victims.\"\n\
         seed = 5\n\
         duration = \"10m\"\n\n\
         [network]\nchain_id = 31337\n\n\
         [market.assets.ETH]\nprice = 3000.0\nmodel = \"gbm\"\nvol_annual = 0.0\n\n\
         [strategies.micro_arbitrage]\nenabled = false\n\n\
         [strategies.cross_dex]\nenabled = false\n\n\
         [strategies.sandwich]\nenabled = true\nmin_profit_usd = 2.0\n\n\
         [account]\nwallet = [\"100 ETH\", \"300000 USDC\"]\ngas = \"5 ETH\"\n\n\
         [mempool]\nvictims_per_minute = 6.0\nsize_median_usd = 20000.0\n\n\
         [chain]\nblock_time = \"12s\"\nbase_fee_gwei = 10.0\n\n\
         [chain.fork]\nreplay = \"../../data/fork/sandwich_forked.rec.json\"\n\
         # rpc_url = \"http://127.0.0.1:8545\"   # or read a node holding this state\n\
         block = {block}\nweth = \"{}\"\nquote = \"{}\"\n\n\
         [[chain.fork.pools]]\nname = \"uniswap_v2\"\nrouter = \"{}\"\npair = \"{}\"\nfee_bps = 30\n",
        m.weth, m.usdc, m.router, m.pair,
    )
}

/// Regenerates `scenarios/fork/sandwich_forked.toml` and its recording from anvil (by hand:
/// `cargo test --test fork_mode -- --ignored`).
#[test]
#[ignore]
fn write_the_shipped_forked_backtest_and_recording() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let head = RpcSource::http(node.addr).latest().unwrap();
    let repo = common::repo();
    let file = repo.join("scenarios/fork/sandwich_forked.toml");
    std::fs::write(&file, forked_backtest_scenario(&m, head)).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let sources = xcrack::config::Sources {
        config_file: None,
        scenario: Some((file.display().to_string(), text)),
        env: Vec::new(),
        cli: vec![],
    };
    let spec = xcrack::config::load(&sources, &repo.join("scenarios/fork")).unwrap();
    let recorder = xcrack::chain::rpc::Recorder::new(xcrack::chain::rpc::Http::new(
        xcrack::chain::rpc::Endpoint::parse(&node.url()).unwrap(),
        xcrack::chain::rpc::Retry::default(),
    ));
    let rpc = RpcSource::new(std::rc::Rc::new(recorder.clone()));
    let pin = rpc.pin(Some(head), None).unwrap();
    let r = xcrack::engine::sandwich::run_forked(&spec, rpc, xcrack::engine::journal::Journal::default()).unwrap();
    assert!(r.records.iter().any(|x| x.outcome == "included"), "the recorded run sandwiched someone");
    recorder.recording(&pin).save(&repo.join("data/fork/sandwich_forked.rec.json")).unwrap();
}

/// The shipped backtest over forked state runs offline from its recording, the same bytes twice;
/// its victims traded on the genuine pair (reserves from the chain, not a config), our bundles
/// landed, and the wallet on the chain equals the booked one to the wei.
#[test]
fn the_shipped_backtest_over_forked_state_runs_offline() {
    let scenario = common::scenario("fork/sandwich_forked.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str| {
        let out = tmp.path().join(out);
        let o = common::xcrack(&["backtest", &scenario, "--out", out.to_str().unwrap(), "--quiet"], tmp.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dir = out.join("sandwich-forked-5");
        files(&dir).into_iter().filter(|(n, _)| n != "timing.json").collect::<Vec<_>>()
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a, b, "byte-identical");
    let summary: serde_json::Value =
        serde_json::from_slice(&a.iter().find(|(n, _)| n == "summary.json").unwrap().1).unwrap();
    assert!(summary["bundles"]["included"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["victims"]["sandwiched"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["wallet"]["matches"], true, "the wallet on the forked chain equals the books: {summary}");
    assert_eq!(summary["bundles"]["simulation_failed"], 0, "{summary}");
}

/// A live anvil restored from the shipped state (`anvil --load-state`) is the node the recording
/// was made from: `xcrack fork --rpc` against it writes the recorded run's report, byte for byte.
#[test]
fn the_shipped_state_on_a_live_anvil_gives_the_recorded_report() {
    let state = common::repo().join("data/fork/anvil_uniswap_v2.state.json");
    let Some(node) = anvil::anvil(&["--load-state", state.to_str().unwrap()]) else { return };
    let scenario = common::scenario("fork/anvil_uniswap_v2.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str, extra: &[&str]| files(&common::fork_report(&scenario, tmp.path(), out, extra));
    let url = node.url();
    assert_eq!(run("live", &["--rpc", &url]), run("replayed", &[]));
}

/// No scenario file: the embedded fork base scenario with `[fork]` from `--config` (here the
/// shipped recording's pools and block) decides as the shipped scenario does; without a `[fork]`
/// anywhere, one clear error.
#[test]
fn the_embedded_base_takes_its_fork_from_the_config_file() {
    let scenario = std::fs::read_to_string(common::repo().join("scenarios/fork/anvil_uniswap_v2.toml")).unwrap();
    let fork = &scenario[scenario.find("[fork]").unwrap()..];
    let rec = common::repo().join("data/fork/anvil_uniswap_v2.rec.json");
    let fork = fork.replace(
        "replay = \"../../data/fork/anvil_uniswap_v2.rec.json\"",
        &format!("replay = {:?}", rec.display().to_string()),
    );
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("searcher.toml");
    std::fs::write(&config, format!("[network]\nchain_id = 31337\n\n{fork}")).unwrap();
    let out = tmp.path().join("out");
    let args =
        ["fork", "--config", config.to_str().unwrap(), "--seed", "11", "--out", out.to_str().unwrap(), "--quiet"];
    let o = common::xcrack(&args, tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("fork-block-14/summary.json")).unwrap()).unwrap();
    assert_eq!((s["would_send"]["bundles"].as_u64(), s["rivals"]["sandwiches"].as_u64()), (Some(1), Some(1)), "{s}");

    let o = common::xcrack(&["fork", "--out", out.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs a [fork] section"));
}

//! Liquidations in fork mode against a real node: anvil runs the genuine Uniswap V2 market (npm)
//! and our `LendingPool` and `PriceOracle` standing in for Aave v3 (its liquidation ABI and
//! events). Three accounts supplied (one a pure lender), two borrowed; then the oracle's owner
//! posts a lower ETH price and a rival liquidates half of Alice's debt right behind it, both in
//! block N+1.
//!
//! - `xcrack fork` pinned at N reads the market from the chain (reserves, risk parameters, oracle
//!   prices, the borrowers from the pool's Supply/Borrow events), hears the update as pending, and
//!   records one bundle [update, liquidation…] for N+1; nothing is sent.
//! - Fork = node: Alice's health factor and the liquidation's amounts in our records are what the
//!   node's own EVM computes for that state (`eth_call` with the update as a state override).
//! - What actually happened: the rival's liquidation is labelled with its amounts to the wei and its
//!   bonus at the update's price.
//! - The recording replays with anvil stopped, to identical report bytes.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::{SolCall, SolValue};
use common::anvil::{self, DEV, deploy, rpc, send};
use common::files;
use common::uniswap::{E18, GWEI, Market, market};
use xcrack::chain::contracts::{self, ILendingPool, IPriceOracle, ITestERC20, IWETH9};
use xcrack::chain::simchain::mapping_slot;
use xcrack::chain::{TxRequest, Wallet};

const USDC: u128 = 1_000_000;
const PRICE: u128 = 100_000_000;

struct Lending {
    pool: Address,
    oracle: Address,
}

/// Our oracle and pool (owned by the dev account) with WETH and USDC at Aave v3's mainnet risk
/// parameters, ETH at 3,000 USD, and 1,000,000 USDC supplied by the dev account.
fn lending(node: SocketAddr, m: &Market) -> Lending {
    let oracle = deploy(node, contracts::price_oracle().bytecode.to_vec());
    let pool = deploy(node, [contracts::lending_pool().bytecode.to_vec(), oracle.abi_encode()].concat());
    for (asset, (ltv, lt, bonus), decimals, price) in [
        (m.weth, xcrack::market::lending::WETH_PARAMS, 18u8, 3_000 * PRICE),
        (m.usdc, xcrack::market::lending::QUOTE_PARAMS, 6, PRICE),
    ] {
        let init =
            ILendingPool::initReserveCall { asset, ltv, liquidationThreshold: lt, liquidationBonus: bonus, decimals };
        send(node, Some(pool), init.abi_encode(), 0);
        send(node, Some(oracle), IPriceOracle::setAssetPriceCall { asset, price: U256::from(price) }.abi_encode(), 0);
    }
    let dev: Address = DEV.parse().unwrap();
    send(node, Some(m.usdc), ITestERC20::mintCall { to: dev, value: U256::from(2_000_000 * USDC) }.abi_encode(), 0);
    send(node, Some(m.usdc), ITestERC20::approveCall { spender: pool, value: U256::MAX }.abi_encode(), 0);
    let supply = ILendingPool::supplyCall {
        asset: m.usdc,
        amount: U256::from(1_000_000 * USDC),
        onBehalfOf: dev,
        referralCode: 0,
    };
    send(node, Some(pool), supply.abi_encode(), 0);
    Lending { pool, oracle }
}

/// A wallet of its own with 100 ETH (the test's seed, so its address is the same every run).
fn wallet(node: SocketAddr, name: &str) -> Wallet {
    let w = Wallet::derived(21, name);
    rpc(node, "anvil_setBalance", serde_json::json!([w.address(), format!("{:#x}", 100 * E18)]));
    w
}

/// Signs `data` to `to` from `w` and hands it to the node (mined at once while automine is on,
/// left pending when it is off); its hash.
fn submit(node: SocketAddr, w: &mut Wallet, to: Address, data: Vec<u8>, value: u128, tip_gwei: u128) -> B256 {
    let req = TxRequest {
        chain_id: 31337,
        to,
        data: data.into(),
        value: U256::from(value),
        gas_limit: 1_000_000,
        max_fee_per_gas: 100 * GWEI,
        max_priority_fee_per_gas: tip_gwei * GWEI,
    };
    let (raw, hash) = w.sign(&req).unwrap();
    assert_eq!(anvil::send_raw(node, &raw), hash);
    hash
}

/// `who` supplies `weth` WETH and borrows `usdc` USDC (each mined at once).
fn borrow(node: SocketAddr, m: &Market, l: &Lending, who: &mut Wallet, weth: u128, usdc: u128) {
    let me = who.address();
    let calls: Vec<(Address, Vec<u8>, u128)> = vec![
        (m.weth, IWETH9::depositCall {}.abi_encode(), weth),
        (m.weth, ITestERC20::approveCall { spender: l.pool, value: U256::MAX }.abi_encode(), 0),
        (
            l.pool,
            ILendingPool::supplyCall { asset: m.weth, amount: U256::from(weth), onBehalfOf: me, referralCode: 0 }
                .abi_encode(),
            0,
        ),
        (
            l.pool,
            ILendingPool::borrowCall {
                asset: m.usdc,
                amount: U256::from(usdc),
                interestRateMode: U256::from(2u8),
                referralCode: 0,
                onBehalfOf: me,
            }
            .abi_encode(),
            0,
        ),
    ];
    for (to, data, value) in calls {
        let h = submit(node, who, to, data, value, 1);
        anvil::receipt(node, &serde_json::json!(h));
    }
}

/// Block N+1: the oracle's owner posts ETH at 2,300 USD (Alice's health factor 1.2375 → 0.94875,
/// Bob's 1.65 → 1.265), then the rival repays 10,000 USDC of Alice's debt. Returns (N, Alice, the
/// update's hash, the rival).
fn block_with_update_and_rival(node: SocketAddr, m: &Market, l: &Lending) -> (u64, Address, B256, Address) {
    let (mut alice, mut bob, mut rival) = (wallet(node, "alice"), wallet(node, "bob"), wallet(node, "rival"));
    borrow(node, m, l, &mut alice, 10 * E18, 20_000 * USDC);
    borrow(node, m, l, &mut bob, 10 * E18, 15_000 * USDC);
    send(
        node,
        Some(m.usdc),
        ITestERC20::mintCall { to: rival.address(), value: U256::from(50_000 * USDC) }.abi_encode(),
        0,
    );
    let approve = ITestERC20::approveCall { spender: l.pool, value: U256::MAX }.abi_encode();
    anvil::receipt(node, &serde_json::json!(submit(node, &mut rival, m.usdc, approve, 0, 1)));

    rpc(node, "evm_setAutomine", serde_json::json!([false]));
    let n = block_number(node);
    let head = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{n:#x}"), false]));
    let ts = u64::from_str_radix(head["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let set = IPriceOracle::setAssetPriceCall { asset: m.weth, price: U256::from(2_300 * PRICE) };
    let tx = serde_json::json!({
        "from": DEV, "to": l.oracle, "data": anvil::hex(&set.abi_encode()), "gas": "0x30d40",
        "maxFeePerGas": format!("{:#x}", 100 * GWEI), "maxPriorityFeePerGas": format!("{:#x}", 10 * GWEI),
    });
    let update: B256 = rpc(node, "eth_sendTransaction", serde_json::json!([tx])).as_str().unwrap().parse().unwrap();
    let liquidate = ILendingPool::liquidationCallCall {
        collateralAsset: m.weth,
        debtAsset: m.usdc,
        user: alice.address(),
        debtToCover: U256::from(10_000 * USDC),
        receiveAToken: false,
    };
    submit(node, &mut rival, l.pool, liquidate.abi_encode(), 0, 1);
    rpc(node, "evm_mine", serde_json::json!([ts + 12]));
    let mined = rpc(node, "eth_getBlockByNumber", serde_json::json!([format!("{:#x}", n + 1), false]));
    assert_eq!(mined["transactions"].as_array().unwrap().len(), 2, "{mined}");
    assert_eq!(mined["transactions"][0], serde_json::json!(update), "the update first (higher tip)");
    for h in mined["transactions"].as_array().unwrap() {
        anvil::receipt(node, h);
    }
    (n, alice.address(), update, rival.address())
}

/// The scenario `xcrack fork` reads: the liquidation strategy alone, our dry-run wallet, the pool
/// and its borrowers from the pool's events since genesis.
fn scenario(m: &Market, l: &Lending, rpc_url: &str, block: u64) -> String {
    scenario_reading(m, l, &format!("rpc_url = \"{rpc_url}\""), block)
}

/// The scenario with `source` (a `rpc_url` or a `replay` line) in its `[fork]`.
fn scenario_reading(m: &Market, l: &Lending, source: &str, block: u64) -> String {
    format!(
        r#"name = "fork-lending"
seed = 1
duration = "1h"

[market.assets.ETH]
price = 3000.0
model = "gbm"
vol_annual = 0.0

[network]
chain_id = 31337

[strategies.micro_arbitrage]
enabled = false

[strategies.cross_dex]
enabled = false

[strategies.sandwich]
enabled = false

[strategies.liquidation]
enabled = true
flash_swaps = true

[account]
wallet = ["100 ETH", "300000 USDC"]
gas = "5 ETH"

[fork]
{source}
block = {block}
blocks = 1
weth = "{weth}"
quote = "{usdc}"

[[fork.pools]]
name = "uniswap_v2"
router = "{router}"
factory = "{factory}"

[fork.lending]
pool = "{pool}"
borrowers_from_block = 0
"#,
        weth = m.weth,
        usdc = m.usdc,
        router = m.router,
        factory = m.factory,
        pool = l.pool,
    )
}

fn load(text: &str) -> xcrack::config::RunSpec {
    let sources = xcrack::config::Sources {
        config_file: None,
        scenario: Some(("fork-lending.toml".into(), text.into())),
        env: Vec::new(),
        cli: Vec::new(),
    };
    xcrack::config::load(&sources, Path::new(".")).unwrap()
}

fn block_number(node: SocketAddr) -> u64 {
    let n = rpc(node, "eth_blockNumber", serde_json::json!([]));
    u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// `eth_call` of `data` to `to` at block `n` with ETH at 2,300 USD in the oracle (its price
/// mapping is slot 0): the node's own answer for the state our bundle runs on.
fn call_after_update(node: SocketAddr, m: &Market, l: &Lending, n: u64, to: Address, data: Vec<u8>) -> Vec<u8> {
    let slot = B256::from(mapping_slot(m.weth, 0));
    let value = B256::from(U256::from(2_300 * PRICE));
    let overrides =
        serde_json::json!({ l.oracle.to_string(): { "stateDiff": { slot.to_string(): value.to_string() } } });
    let out =
        rpc(node, "eth_call", serde_json::json!([{"to": to, "data": anvil::hex(&data)}, format!("{n:#x}"), overrides]));
    alloy_primitives::hex::decode(out.as_str().unwrap()).unwrap()
}

#[test]
fn a_fork_liquidates_as_the_node_computes_labels_the_rival_and_replays_offline() {
    let Some(mut node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let l = lending(node.addr, &m);
    let (n, alice, update, rival) = block_with_update_and_rival(node.addr, &m, &l);

    let text = scenario(&m, &l, &node.url(), n);
    let spec = load(&text);
    let fork = xcrack::engine::fork::run(&spec, xcrack::chain::rpc::RpcSource::http(node.addr)).unwrap();
    let lend = fork.lending.as_ref().expect("the liquidation strategy ran");
    assert_eq!(lend.symbols, ["WETH", "USDC"]);
    assert_eq!(lend.borrowers, 3, "the lender and both borrowers, from the pool's events");

    // One bundle for N+1: the update first, then our liquidation(s) of Alice; Bob stays healthy.
    let sent: Vec<_> = fork.would_send.iter().filter(|w| !w.withdrawn).collect();
    assert_eq!(sent.len(), 1, "{:#?}", fork.would_send);
    let w = sent[0];
    assert_eq!(w.target_block, n + 1);
    assert_eq!(keccak256(&w.txs[0]), update, "the oracle update leads the bundle");
    assert_eq!(w.victims, [update]);
    assert!(!lend.records.is_empty());
    for r in &lend.records {
        assert_eq!((r.block, r.borrower, r.outcome), (n + 1, alice, "not_sent"), "{r:?}");
        assert!(r.gross_base > 0, "{r:?}");
    }

    // Fork = node: the health factor and the liquidation's amounts are the node's own.
    let r = &lend.records[0];
    let data = call_after_update(
        node.addr,
        &m,
        &l,
        n,
        l.pool,
        ILendingPool::getUserAccountDataCall { user: alice }.abi_encode(),
    );
    let account = ILendingPool::getUserAccountDataCall::abi_decode_returns(&data).unwrap();
    assert_eq!(r.health_before, account.healthFactor, "Alice's health factor after the update, as the node has it");
    assert!(account.healthFactor < U256::from(950_000_000_000_000_000u128), "below 0.95: all of the debt may go");
    let calc = ILendingPool::calculateAvailableCollateralToLiquidateCall {
        collateralAsset: m.weth,
        debtAsset: m.usdc,
        debtToCover: r.debt_to_cover.min(U256::from(20_000 * USDC)),
        userCollateralBalance: U256::from(10 * E18),
    };
    let out = call_after_update(node.addr, &m, &l, n, l.pool, calc.abi_encode());
    let amounts = ILendingPool::calculateAvailableCollateralToLiquidateCall::abi_decode_returns(&out).unwrap();
    assert_eq!(
        (r.predicted_seized, r.predicted_repaid),
        (amounts.collateralAmount, amounts.debtAmountNeeded),
        "seized and repaid to the wei, as the node computes them"
    );

    // What actually happened: the rival's half, from its receipt, valued at the update's price.
    assert_eq!(lend.rivals.len(), 1, "{:#?}", lend.rivals);
    let x = &lend.rivals[0];
    let half = ILendingPool::calculateAvailableCollateralToLiquidateCall {
        collateralAsset: m.weth,
        debtAsset: m.usdc,
        debtToCover: U256::from(10_000 * USDC),
        userCollateralBalance: U256::from(10 * E18),
    };
    let out = call_after_update(node.addr, &m, &l, n, l.pool, half.abi_encode());
    let theirs = ILendingPool::calculateAvailableCollateralToLiquidateCall::abi_decode_returns(&out).unwrap();
    assert_eq!((x.block, x.borrower, x.liquidator), (n + 1, alice, rival));
    assert_eq!((x.repaid_raw, x.seized_raw), (U256::from(10_000 * USDC), theirs.collateralAmount));
    let bonus =
        (theirs.collateralAmount * U256::from(2_300 * PRICE) / U256::from(E18)).to::<i128>() - (10_000 * PRICE) as i128;
    assert_eq!(x.bonus_base, bonus, "seized value above repaid value at 2,300 USD");
    assert!(bonus > 0);
    assert_eq!(fork.records.len(), 0, "the sandwich strategy was off");
    assert_eq!(
        fork.counts.decision_requests, 0,
        "no RPC while deciding: the pin read the balances a liquidation moves"
    );

    // Through the CLI: recorded, then replayed with the node gone; only reads reached the node.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("fork-lending.toml");
    std::fs::write(&file, &text).unwrap();
    let file = file.display().to_string();
    let rec = tmp.path().join("rec.json");
    let live = tmp.path().join("live");
    let o = common::xcrack(
        &["fork", &file, "--record", rec.to_str().unwrap(), "--out", live.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recording: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    let methods: std::collections::BTreeSet<&str> =
        recording["calls"].as_array().unwrap().iter().map(|c| c["method"].as_str().unwrap()).collect();
    assert!(methods.contains("eth_getLogs"), "{methods:?}");
    let writes = ["eth_sendBundle", "eth_sendRawTransaction", "eth_sendTransaction"];
    assert!(
        methods
            .iter()
            .all(|m| !writes.contains(m) && (m.starts_with("eth_get") || ["eth_chainId", "eth_call"].contains(m))),
        "{methods:?}"
    );
    let report = live.join(format!("fork-lending-block-{n}"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    let s = &summary["liquidation"];
    assert_eq!((s["borrowers_watched"].as_u64(), s["bundles"].as_u64()), (Some(3), Some(1)), "{s}");
    assert_eq!((s["rival_liquidations"].as_u64(), s["our_borrowers_taken"].as_u64()), (Some(1), Some(1)), "{s}");
    assert!(s["predicted_net_usd"].as_f64().unwrap() > 0.0, "{s}");
    let opportunities = std::fs::read_to_string(report.join("liquidation_opportunities.csv")).unwrap();
    assert_eq!(opportunities.lines().count(), 2, "one (block, borrower) row: ours beside the rival's\n{opportunities}");
    assert!(opportunities.contains(&rival.to_string().to_lowercase()) || opportunities.contains(&rival.to_string()));
    let bundles = std::fs::read_to_string(report.join("bundles.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(bundles.lines().next().unwrap()).unwrap();
    assert_eq!(line["liquidations"][0]["borrower"], serde_json::json!(alice));
    assert!(line.get("front_in_raw").is_none(), "no sandwich fields on a liquidation bundle: {line}");

    node.stop();
    let replayed = tmp.path().join("replayed");
    let o = common::xcrack(
        &["fork", &file, "--replay", rec.to_str().unwrap(), "--out", replayed.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(files(&report), files(&replayed.join(format!("fork-lending-block-{n}"))), "byte-identical offline");
}

/// A pool that is not one, borrowers read from after the pin, a token the pool does not list:
/// each one clear error naming its key, exit 2, nothing written.
#[test]
fn a_wrong_lending_pool_is_named_by_its_key() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let l = lending(node.addr, &m);
    let n = block_number(node.addr);
    let head = rpc(node.addr, "eth_getBlockByNumber", serde_json::json!([format!("{n:#x}"), false]));
    let ts = u64::from_str_radix(head["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    rpc(node.addr, "evm_mine", serde_json::json!([ts + 12]));
    let text = scenario(&m, &l, &node.url(), n);
    let tmp = tempfile::tempdir().unwrap();
    let not_a_pool = text.replace(&format!("pool = \"{}\"", l.pool), &format!("pool = \"{}\"", l.oracle));
    let later = text.replace("borrowers_from_block = 0", &format!("borrowers_from_block = {}", n + 1));
    let other_quote = text.replace(&format!("quote = \"{}\"", m.usdc), &format!("quote = \"{}\"", l.oracle));
    for (i, (text, key, words)) in [
        (not_a_pool, "fork.lending.pool", "oracle()"),
        (later, "fork.lending.borrowers_from_block", "no lookahead"),
        (other_quote, "fork.", "quote"),
    ]
    .into_iter()
    .enumerate()
    {
        let file = tmp.path().join(format!("bad-{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = tmp.path().join(format!("out-{i}"));
        let o = common::xcrack(&["fork", file.to_str().unwrap(), "--out", out.to_str().unwrap()], tmp.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(key) && err.contains(words), "{i}: {err}");
        assert_eq!(err.lines().filter(|l| l.contains("error")).count(), 1, "one error: {err}");
        assert!(!out.exists(), "nothing written");
    }
}

/// Regenerates `scenarios/fork/anvil_lending.toml` and its recording `data/fork/anvil_lending.rec.json`
/// from anvil (by hand: `cargo test --test fork_lending -- --ignored`).
#[test]
#[ignore]
fn write_the_shipped_lending_fork_scenario_and_recording() {
    let Some(node) = anvil::anvil(&[]) else { return };
    let Some(m) = market(node.addr) else { return };
    let l = lending(node.addr, &m);
    let (n, ..) = block_with_update_and_rival(node.addr, &m, &l);
    let header = format!(
        "# Fork mode, offline, liquidations: the genuine Uniswap V2 market (npm @uniswap/v2-core 1.0.1,\n\
         # @uniswap/v2-periphery 1.1.0-beta.0) and xcrack's LendingPool and PriceOracle (Aave v3's liquidation ABI) on\n\
         # anvil (npm @foundry-rs/anvil 1.7.1). A lender and two borrowers; in block {n1} the oracle's owner posts ETH at\n\
         # 2,300 USD (Alice's health factor 1.2375 -> 0.94875) and a rival liquidates half of Alice's debt right behind it.\n\
         # Every RPC answer the run needs is in the recording (fork.replay), so this runs with no node:\n\
         #   xcrack fork scenarios/fork/anvil_lending.toml\n\
         # Written by `cargo test --test fork_lending -- --ignored` (anvil from tests/node), with the recording.\n",
        n1 = n + 1
    );
    let body = scenario_reading(&m, &l, "replay = \"../../data/fork/anvil_lending.rec.json\"", n)
        .replace("name = \"fork-lending\"", "name = \"anvil-lending\"\ndescription = \"Fork dry run of the liquidation strategy over a lending pool and genuine Uniswap V2 on anvil, replayed offline.\"");
    let repo = common::repo();
    let file = repo.join("scenarios/fork/anvil_lending.toml");
    std::fs::write(&file, header + &body).unwrap();
    let rec = repo.join("data/fork/anvil_lending.rec.json");
    common::record_fork(&file, &node.url(), &rec);
}

/// The shipped lending fork scenario runs from its recording with no node and no npm: the same
/// bytes twice, the summary as recorded (pinned below).
#[test]
fn the_shipped_lending_fork_scenario_runs_offline_from_its_recording() {
    let scenario = common::scenario("fork/anvil_lending.toml");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str| files(&common::fork_report(&scenario, tmp.path(), out, &[]));
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a, b, "byte-identical");
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"liquidations.csv") && names.contains(&"liquidation_opportunities.parquet"), "{names:?}");
    let md = &a.iter().find(|(n, _)| n == "summary.md").unwrap().1;
    insta::assert_snapshot!(String::from_utf8_lossy(md));
}

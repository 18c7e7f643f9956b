//! Relay conformance over real HTTP on a random loopback port: the Flashbots request/response shapes
//! (decimal strings vs JSON numbers), bundleHash, X-Flashbots-Signature rejections, revert handling,
//! block targeting and expiry, cancel/replace by replacementUuid, and ranking by payment per gas.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use serde_json::{Value, json};

use xcrack::chain::contracts::{ISearcherExecutor, IUniswapV2Router02, IWETH9};
use xcrack::chain::simchain::actor;
use xcrack::chain::world::{DexDeployment, deploy_dex_for};
use xcrack::chain::{SimChain, TxRequest, Wallet};
use xcrack::relay::rpc::{CallBundleParams, SendBundleParams, quantity};
use xcrack::relay::{
    BundleOutcome, ChainInbox, Relay, RelayClient, RelayError, RelayServer, RivalBid, auth, chain_port, http,
};

const E18: u128 = 1_000_000_000_000_000_000;
const GWEI: u128 = 1_000_000_000;
const BASE_FEE: u64 = 10 * GWEI as u64;

struct T {
    relay: Arc<Mutex<Relay>>,
    /// The test owns the chain; the relay's book borrows it to build blocks.
    chain: SimChain,
    inbox: ChainInbox,
    server: RelayServer,
    client: RelayClient,
    searcher: Wallet,
    /// The searcher's nonce at genesis (it deployed its executor).
    n0: u64,
    dex: DexDeployment,
}

fn setup() -> T {
    let mut chain = SimChain::new(1);
    let mut searcher = Wallet::derived(42, "searcher");
    let dex =
        deploy_dex_for(&mut chain, 6, &[(U256::from(100 * E18), U256::from(300_000_000_000u128))], searcher.address())
            .unwrap();
    chain.set_balance(searcher.address(), U256::from(10 * E18));
    chain.advance_block(1_700_000_012, BASE_FEE, actor("builder"));
    let n0 = chain.nonce(searcher.address());
    searcher.nonce = n0;
    let relay = Arc::new(Mutex::new(Relay::new(&chain, 12)));
    let (port, inbox) = chain_port();
    let server = RelayServer::start(relay.clone(), port, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = RelayClient::new(server.addr(), Wallet::derived(7, "flashbots-auth"));
    T { relay, chain, inbox, server, client, searcher, n0, dex }
}

impl T {
    fn head(&self) -> u64 {
        self.chain.block_number()
    }
    /// Runs `ask` (HTTP calls to the relay) on another thread while this one, the chain's owner,
    /// answers the eth_callBundle simulations it sends.
    fn served<R: Send>(&mut self, ask: impl FnOnce(SocketAddr) -> R + Send) -> R {
        let addr = self.server.addr();
        let (chain, inbox) = (&mut self.chain, &self.inbox);
        std::thread::scope(|s| {
            let asking = s.spawn(move || ask(addr));
            while !asking.is_finished() {
                inbox.serve_for(chain, Duration::from_millis(5));
            }
            asking.join().unwrap()
        })
    }
    fn sign(&mut self, to: Address, data: Vec<u8>, value: u128, tip: u128) -> (Bytes, B256) {
        let req = TxRequest {
            chain_id: 1,
            to,
            data: data.into(),
            value: U256::from(value),
            gas_limit: 300_000,
            max_fee_per_gas: 3 * u128::from(BASE_FEE) + tip,
            max_priority_fee_per_gas: tip,
        };
        self.searcher.sign(&req).unwrap()
    }
    fn deposit(&mut self, value: u128, tip: u128) -> (Bytes, B256) {
        let weth = self.dex.weth;
        self.sign(weth, IWETH9::depositCall {}.abi_encode(), value, tip)
    }
    /// Sells `eth` for USDC on the pool through the router (touches the pair).
    fn swap(&mut self, eth: u128, tip: u128) -> (Bytes, B256) {
        let call = IUniswapV2Router02::swapExactETHForTokensCall {
            amountOutMin: U256::ZERO,
            path: vec![self.dex.weth, self.dex.usdc],
            to: self.searcher.address(),
            deadline: U256::MAX,
        };
        let router = self.dex.venues[0].router;
        self.sign(router, call.abi_encode(), eth, tip)
    }
    /// An executor call with no hops that pays `bribe` wei to the coinbase from the value sent.
    fn bribe(&mut self, bribe: u128) -> (Bytes, B256) {
        let call = ISearcherExecutor::executeCall {
            hops: vec![],
            profitToken: self.dex.usdc,
            minProfit: U256::ZERO,
            coinbasePayment: U256::from(bribe),
        };
        let exec = self.dex.executor;
        self.sign(exec, call.abi_encode(), bribe, 0)
    }
    fn params(&self, txs: Vec<Bytes>, block: u64) -> SendBundleParams {
        SendBundleParams {
            txs,
            block_number: quantity(block),
            min_timestamp: None,
            max_timestamp: None,
            reverting_tx_hashes: vec![],
            replacement_uuid: None,
            builders: vec![],
        }
    }
    fn build(&mut self, rivals: &[RivalBid]) -> xcrack::relay::BlockBuild {
        let ts = self.chain.timestamp() + 12;
        self.relay.lock().unwrap().build_block(&mut self.chain, ts, BASE_FEE, actor("builder"), rivals)
    }
    fn outcome(&self, h: B256) -> BundleOutcome {
        self.relay.lock().unwrap().outcome(&h).cloned().unwrap()
    }
}

/// Posts a raw body with an optional signature header; returns the parsed JSON response.
fn raw_post(addr: SocketAddr, body: &[u8], sig: Option<&str>) -> Value {
    let headers: Vec<(&str, &str)> = sig.map(|s| vec![(auth::HEADER, s)]).unwrap_or_default();
    let (status, bytes) = http::post(addr, "/", &headers, body, Duration::from_secs(5)).unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn send_bundle_shape_and_bundle_hash() {
    let mut t = setup();
    let (a, ha) = t.deposit(E18, GWEI);
    let (b, hb) = t.deposit(E18, GWEI);
    let body = serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 7, "method": "eth_sendBundle",
        "params": [{ "txs": [a, b], "blockNumber": quantity(t.head() + 1) }]
    }))
    .unwrap();
    let sig = auth::sign(&Wallet::derived(7, "flashbots-auth"), &body).unwrap();
    let resp = raw_post(t.server.addr(), &body, Some(&sig));
    assert_eq!(resp["jsonrpc"], "2.0");
    assert_eq!(resp["id"], 7);
    // bundleHash = keccak256(txHash_0 ‖ txHash_1), the tx hashes being keccak of the raw bytes.
    assert_eq!(ha, keccak256(&a));
    let expect = keccak256([ha.as_slice(), hb.as_slice()].concat());
    assert_eq!(resp["result"]["bundleHash"], json!(expect));
    assert_eq!(resp["result"].as_object().unwrap().len(), 1);
    // The typed client agrees.
    let (c, hc) = t.deposit(E18, GWEI);
    let p = t.params(vec![c], t.head() + 1);
    assert_eq!(t.client.send_bundle(&p).unwrap(), keccak256(hc));
}

#[test]
fn call_bundle_shape_amounts_and_rollback() {
    let mut t = setup();
    let tip = 2 * GWEI;
    let (dep, dep_hash) = t.deposit(E18, tip);
    let (bribe, _) = t.bribe(E18 / 100);
    let (swap, _) = t.swap(E18 / 2, 0);
    let before = t.chain.balance(t.searcher.address());
    let p = CallBundleParams {
        txs: vec![dep, bribe, swap],
        block_number: quantity(t.head() + 1),
        state_block_number: "latest".into(),
        timestamp: None,
    };
    let body =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_callBundle", "params": [p]})).unwrap();
    let sig = auth::sign(&Wallet::derived(7, "flashbots-auth"), &body).unwrap();
    let v = t.served(|addr| raw_post(addr, &body, Some(&sig)));
    let r = &v["result"];
    // Wei amounts are decimal strings; gasUsed, totalGasUsed and stateBlockNumber are numbers.
    for k in ["bundleGasPrice", "coinbaseDiff", "ethSentToCoinbase", "gasFees"] {
        let s = r[k].as_str().unwrap_or_else(|| panic!("{k} must be a string: {r}"));
        assert!(s.chars().all(|c| c.is_ascii_digit()), "{k} = {s}");
    }
    assert!(r["totalGasUsed"].is_u64() && r["stateBlockNumber"].is_u64());
    assert_eq!(r["stateBlockNumber"].as_u64().unwrap(), t.head());
    let txs = r["results"].as_array().unwrap();
    assert_eq!(txs.len(), 3);
    let num = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
    let mut gas_total = 0;
    for x in txs {
        assert!(x["gasUsed"].is_u64());
        for k in ["coinbaseDiff", "ethSentToCoinbase", "gasFees", "gasPrice"] {
            assert!(x[k].is_string(), "{k}: {x}");
        }
        assert_eq!(num(&x["coinbaseDiff"]), num(&x["gasFees"]) + num(&x["ethSentToCoinbase"]));
        assert_eq!(x["fromAddress"], json!(t.searcher.address()));
        assert!(x["value"].is_string() && x.get("error").is_none());
        gas_total += x["gasUsed"].as_u64().unwrap();
    }
    assert_eq!(txs[0]["txHash"], json!(dep_hash));
    assert_eq!(num(&txs[0]["gasFees"]), u128::from(txs[0]["gasUsed"].as_u64().unwrap()) * tip);
    assert_eq!(num(&txs[1]["ethSentToCoinbase"]), E18 / 100, "the bribe reaches the coinbase");
    assert_eq!(r["totalGasUsed"].as_u64().unwrap(), gas_total);
    assert_eq!(num(&r["bundleGasPrice"]), num(&r["coinbaseDiff"]) / u128::from(gas_total));
    // Nothing of the simulation remains.
    assert_eq!(t.chain.balance(t.searcher.address()), before);
    assert_eq!(t.chain.nonce(t.searcher.address()), t.n0);
}

#[test]
fn signatures_missing_malformed_or_mismatched_are_refused() {
    let mut t = setup();
    let (a, _) = t.deposit(E18, GWEI);
    let body = serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle",
        "params": [{ "txs": [a], "blockNumber": quantity(t.head() + 1) }]
    }))
    .unwrap();
    let good = auth::sign(&Wallet::derived(7, "flashbots-auth"), &body).unwrap();
    let other = auth::sign(&Wallet::derived(8, "someone"), &body).unwrap();
    let (addr, _) = good.split_once(':').unwrap();
    let (_, other_sig) = other.split_once(':').unwrap();
    let cases = [
        (None, "missing"),
        (Some("0x1234".to_string()), "malformed"),
        (Some(format!("{addr}:0xdeadbeef")), "malformed"),
        (Some(format!("{addr}:{other_sig}")), "does not match"),
    ];
    for (sig, what) in cases {
        let v = raw_post(t.server.addr(), &body, sig.as_deref());
        assert_eq!(v["error"]["code"], -32001, "{what}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(what), "{what}: {v}");
        assert!(v.get("result").is_none());
    }
    // Signed over different bytes than were sent.
    let mut tampered = body.clone();
    tampered.push(b' ');
    let v = raw_post(t.server.addr(), &tampered, Some(&good));
    assert!(v["error"]["message"].as_str().unwrap().contains("does not match"));
    assert_eq!(t.relay.lock().unwrap().stats.received, 0, "nothing was accepted");
    assert!(raw_post(t.server.addr(), &body, Some(&good))["result"]["bundleHash"].is_string());
}

#[test]
fn reverting_tx_drops_the_bundle_unless_allowed() {
    let mut t = setup();
    // A deposit of more ETH than the wallet has… is invalid, not a revert; a revert is the router
    // refusing an expired deadline.
    let call = IUniswapV2Router02::swapExactETHForTokensCall {
        amountOutMin: U256::ZERO,
        path: vec![t.dex.weth, t.dex.usdc],
        to: t.searcher.address(),
        deadline: U256::ZERO,
    };
    let router = t.dex.venues[0].router;
    let (ok, _) = t.deposit(E18, GWEI);
    let (bad, bad_hash) = t.sign(router, call.abi_encode(), E18, GWEI);
    let strict = t.client.send_bundle(&t.params(vec![ok.clone(), bad.clone()], t.head() + 1)).unwrap();
    let build = t.build(&[]);
    assert!(build.included.is_empty());
    match t.outcome(strict) {
        BundleOutcome::Failed { reason, .. } => assert!(reason.contains("EXPIRED"), "{reason}"),
        o => panic!("{o:?}"),
    }
    assert_eq!(t.chain.nonce(t.searcher.address()), t.n0, "nothing landed");
    // Listed in revertingTxHashes: the bundle lands and the revert costs its gas.
    let mut p = t.params(vec![ok, bad], t.head() + 1);
    p.reverting_tx_hashes = vec![bad_hash];
    let lenient = t.client.send_bundle(&p).unwrap();
    let build = t.build(&[]);
    assert_eq!(build.included.len(), 1);
    let receipts = &build.included[0].1;
    assert!(receipts[0].success && !receipts[1].success && receipts[1].gas_used > 21_000);
    assert!(matches!(t.outcome(lenient), BundleOutcome::Included { .. }));
    assert_eq!(t.chain.nonce(t.searcher.address()), t.n0 + 2);
}

#[test]
fn bundles_land_only_in_their_block_and_expire_after_it() {
    let mut t = setup();
    let head = t.head();
    // The current block is not a valid target.
    let (a, _) = t.deposit(E18, GWEI);
    match t.client.send_bundle(&t.params(vec![a.clone()], head)) {
        Err(RelayError::Rpc(e)) => assert!(e.message.contains("not after the current block"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    let later = t.client.send_bundle(&t.params(vec![a.clone()], head + 2)).unwrap();
    assert!(t.build(&[]).included.is_empty(), "block head+1 is not its block");
    assert_eq!(t.outcome(later), BundleOutcome::Pending);
    assert_eq!(t.build(&[]).included.len(), 1, "block head+2 is");
    // A bundle whose block passes while it waits expires.
    let (b, _) = t.deposit(E18, GWEI);
    let head = t.head();
    let missed = t.client.send_bundle(&t.params(vec![b], head + 1)).unwrap();
    {
        // The block is built without it (e.g. the relay saw it too late): jump two blocks.
        let ts = t.chain.timestamp() + 12;
        t.chain.advance_block(ts, BASE_FEE, actor("builder"));
    }
    t.build(&[]);
    assert!(matches!(t.outcome(missed), BundleOutcome::Expired { .. }));
    // A timestamp window the block misses.
    let (c, _) = t.deposit(E18, GWEI);
    let mut p = t.params(vec![c], t.head() + 1);
    p.max_timestamp = Some(1);
    let windowed = t.client.send_bundle(&p).unwrap();
    t.build(&[]);
    assert!(matches!(t.outcome(windowed), BundleOutcome::Expired { .. }));
}

/// `flashbots_getBundleStatsV2`: the bundle's signer hears what became of it (pending, then
/// included at its block); anyone else, and an unknown hash, are told the relay does not know it.
#[test]
fn bundle_stats_tell_the_signer_what_became_of_a_bundle() {
    let mut t = setup();
    let (a, _) = t.deposit(E18, GWEI);
    let block = t.head() + 1;
    let hash = t.client.send_bundle(&t.params(vec![a], block)).unwrap();
    let stats = t.client.bundle_stats(hash, block).unwrap();
    assert_eq!(
        (stats["isSimulated"].as_bool(), stats["xcrackOutcome"]["state"].as_str()),
        (Some(false), Some("pending"))
    );
    assert_eq!(t.build(&[]).included.len(), 1);
    let stats = t.client.bundle_stats(hash, block).unwrap();
    assert_eq!(stats["isSimulated"], true, "{stats}");
    assert_eq!(stats["xcrackOutcome"]["state"], "included", "{stats}");
    assert_eq!(stats["xcrackOutcome"]["block"], quantity(block), "{stats}");
    let mut stranger = RelayClient::new(t.server.addr(), Wallet::derived(9, "stranger"));
    match stranger.bundle_stats(hash, block) {
        Err(RelayError::Rpc(e)) => assert!(e.message.contains("not known"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(t.client.bundle_stats(B256::repeat_byte(3), block), Err(RelayError::Rpc(_))));
}

/// The same bundle sent again for the same block (a searcher's retry after a timeout) is answered
/// with its hash and held once: counted as a duplicate, included once.
#[test]
fn a_bundle_sent_twice_is_held_once() {
    let mut t = setup();
    let (a, _) = t.deposit(E18, GWEI);
    let p = t.params(vec![a], t.head() + 1);
    let first = t.client.send_bundle(&p).unwrap();
    assert_eq!(t.client.send_bundle(&p).unwrap(), first);
    let stats = t.relay.lock().unwrap().stats.clone();
    assert_eq!((stats.received, stats.duplicates), (2, 1));
    assert_eq!(t.relay.lock().unwrap().pending_count(), 1);
    assert_eq!(t.build(&[]).included.len(), 1);
}

#[test]
fn cancel_and_replace_by_replacement_uuid() {
    let mut t = setup();
    let uuid = "b0b3f3e1-5d1c-4a7e-9c1e-000000000001";
    let (a, _) = t.deposit(E18, GWEI);
    let mut p = t.params(vec![a], t.head() + 1);
    p.replacement_uuid = Some(uuid.into());
    let first = t.client.send_bundle(&p).unwrap();
    t.client.cancel_bundle(uuid).unwrap();
    assert_eq!(t.outcome(first), BundleOutcome::Cancelled);
    assert!(t.build(&[]).included.is_empty());
    // Replace: the second bundle with the same uuid supersedes the first.
    t.searcher.nonce = t.n0;
    let (b, _) = t.deposit(E18, GWEI);
    let mut p1 = t.params(vec![b], t.head() + 1);
    p1.replacement_uuid = Some(uuid.into());
    let old = t.client.send_bundle(&p1).unwrap();
    // The same nonce, re-priced: the usual reason to replace.
    t.searcher.nonce = t.n0;
    let (c, _) = t.deposit(2 * E18, 2 * GWEI);
    let mut p2 = t.params(vec![c], t.head() + 1);
    p2.replacement_uuid = Some(uuid.into());
    let new = t.client.send_bundle(&p2).unwrap();
    assert_eq!(t.outcome(old), BundleOutcome::Replaced { by: new });
    let build = t.build(&[]);
    assert_eq!(build.included.iter().map(|(h, _)| *h).collect::<Vec<_>>(), vec![new]);
    // Another signer cannot cancel it.
    let mut stranger = RelayClient::new(t.server.addr(), Wallet::derived(9, "stranger"));
    stranger.cancel_bundle(uuid).unwrap();
    assert!(matches!(t.outcome(new), BundleOutcome::Included { .. }));
}

#[test]
fn builder_ranks_by_payment_per_gas_and_rivals_can_outbid() {
    let mut t = setup();
    let other = Wallet::derived(43, "second-searcher");
    t.chain.set_balance(other.address(), U256::from(10 * E18));
    // Two swaps on the same pool from two searchers: the better payer goes first.
    let (low, low_hash) = t.swap(E18, GWEI);
    let mut t2 = Wallet::derived(43, "second-searcher");
    let call = IUniswapV2Router02::swapExactETHForTokensCall {
        amountOutMin: U256::ZERO,
        path: vec![t.dex.weth, t.dex.usdc],
        to: other.address(),
        deadline: U256::MAX,
    };
    let req = TxRequest {
        chain_id: 1,
        to: t.dex.venues[0].router,
        data: call.abi_encode().into(),
        value: U256::from(E18),
        gas_limit: 300_000,
        max_fee_per_gas: 3 * u128::from(BASE_FEE) + 5 * GWEI,
        max_priority_fee_per_gas: 5 * GWEI,
    };
    let (high, high_hash) = t2.sign(&req).unwrap();
    let head = t.head();
    let b_low = t.client.send_bundle(&t.params(vec![low], head + 1)).unwrap();
    let b_high = t.client.send_bundle(&t.params(vec![high], head + 1)).unwrap();
    let build = t.build(&[]);
    let order: Vec<B256> = build.included.iter().map(|(h, _)| *h).collect();
    assert_eq!(order, vec![b_high, b_low]);
    assert_eq!(build.included[0].1[0].tx_hash, high_hash);
    assert_eq!(build.included[1].1[0].tx_hash, low_hash);
    // A rival bidding more per gas on the same pool takes the block; one on another pool does not.
    let (x, _) = t.swap(E18, GWEI);
    let outbid = t.client.send_bundle(&t.params(vec![x], t.head() + 1)).unwrap();
    let pair = t.dex.venues[0].pair;
    let build = t.build(&[RivalBid { pools: vec![pair], gas_price: 2 * GWEI }]);
    assert!(build.included.is_empty());
    assert_eq!(t.outcome(outbid), BundleOutcome::Outbid { block: t.head(), rival_gas_price: 2 * GWEI });
    t.searcher.nonce -= 1;
    let (y, _) = t.swap(E18, GWEI);
    let kept = t.client.send_bundle(&t.params(vec![y], t.head() + 1)).unwrap();
    t.build(&[RivalBid { pools: vec![actor("elsewhere")], gas_price: 100 * GWEI }]);
    assert!(matches!(t.outcome(kept), BundleOutcome::Included { .. }));
}

/// `xcrack relay` serves the same relay on a port and builds blocks on its own: a bundle sent over
/// HTTP lands in its block (afterwards its transaction's nonce is spent, so re-simulating it fails).
#[test]
fn cli_relay_serves_and_includes_bundles() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut searcher = Wallet::derived(5, "cli-searcher");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcrack"))
        .args(["relay", "--port", "0", "--set", "chain.block_time=1s", "--blocks", "4"])
        .args(["--fund", &searcher.address().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: SocketAddr = first.rsplit("http://").next().unwrap().parse().unwrap();
    let weth: Address = lines
        .next()
        .unwrap()
        .unwrap()
        .split("WETH ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    let mut client = RelayClient::new(addr, Wallet::derived(6, "auth"));
    let req = TxRequest {
        chain_id: 1,
        to: weth,
        data: IWETH9::depositCall {}.abi_encode().into(),
        value: U256::from(E18),
        gas_limit: 100_000,
        max_fee_per_gas: 1_000 * GWEI,
        max_priority_fee_per_gas: GWEI,
    };
    let (raw, _) = searcher.sign(&req).unwrap();
    let sim = |c: &mut RelayClient| {
        c.call_bundle(&CallBundleParams {
            txs: vec![raw.clone()],
            block_number: quantity(1 << 40),
            state_block_number: "latest".into(),
            timestamp: None,
        })
    };
    let head = sim(&mut client).unwrap().state_block_number;
    client
        .send_bundle(&SendBundleParams {
            txs: vec![raw.clone()],
            block_number: quantity(head + 1),
            min_timestamp: None,
            max_timestamp: None,
            reverting_tx_hashes: vec![],
            replacement_uuid: None,
            builders: vec![],
        })
        .unwrap();
    // Wait for the block (the relay builds one per second of wall time).
    let spent = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        matches!(sim(&mut client), Err(RelayError::Rpc(e)) if e.message.contains("NonceTooLow"))
    });
    assert!(spent, "the bundle's transaction should have been included");
    let _ = child.kill();
    let _ = child.wait();
}

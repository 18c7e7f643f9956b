//! Live mode end to end, offline on loopback: anvil runs the genuine Uniswap V2 market (npm) with
//! automine off and FIFO order; our relay mines its blocks there (`relay::upstream`); our executor
//! is deployed by a key made for the run and funded on the chain.
//!
//! - `xcrack live` refuses to start without a passing sign-off of its config (exit 4), and with
//!   one, starts: it reconciles (nonce, balances, journal), follows heads over anvil's WebSocket,
//!   reads the pending pool, sees a victim's swap, signs a sandwich, journals it and sends it to
//!   the relay; the relay lands it on anvil: our front-run, the victim, our back-run at the top of
//!   one block. The journal and the chain agree: the bundle is `included`, its transactions are
//!   the block's first three, ours signed by the run's key; the key's hex is in no output.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolCall;
use common::anvil::{self, rpc};
use common::uniswap::{E18, market};
use xcrack::chain::contracts::{self, ITestERC20, IUniswapV2Router02 as R, IWETH9};
use xcrack::chain::{TxRequest, Wallet};

/// `from` (impersonated) sends `data` to `to` (None: a deployment); mined at once (automine on).
fn send_from(node: SocketAddr, from: Address, to: Option<Address>, data: Vec<u8>, value: u128) -> serde_json::Value {
    let mut tx =
        serde_json::json!({"from": from, "data": anvil::hex(&data), "value": format!("{value:#x}"), "gas": "0x7a1200"});
    if let Some(to) = to {
        tx["to"] = serde_json::json!(to);
    }
    let hash = rpc(node, "eth_sendTransaction", serde_json::json!([tx]));
    anvil::receipt(node, &hash)
}

fn quantity(v: &serde_json::Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// anvil with the genuine market, our executor and wallet on it, the relay mining a block every
/// 1.5 s, and the live config beside a sign-off scenario.
struct Setup {
    node: common::anvil::Anvil,
    m: common::uniswap::Market,
    me: Address,
    key_hex: String,
    auth_hex: String,
    tmp: tempfile::TempDir,
    config: std::path::PathBuf,
    blocks: std::sync::mpsc::Receiver<u64>,
    stop: Arc<AtomicBool>,
    relay: Option<std::thread::JoinHandle<Vec<xcrack::relay::upstream::Mined>>>,
    /// The relay's state (its counts: bundles received, duplicates).
    relay_state: Arc<std::sync::Mutex<xcrack::relay::Relay>>,
    /// The second pool's (factory, router, pair), when there is one.
    second: Option<(Address, Address, Address)>,
    /// A Discord webhook stand-in on loopback, and what it received.
    webhook: String,
    alerts: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    _receiver: xcrack::relay::HttpServer,
}

const CONTROL_TOKEN: &str = "a-control-token-made-for-the-test";

/// A webhook receiver on loopback keeping each JSON body.
fn receiver() -> (xcrack::relay::HttpServer, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use http_body_util::BodyExt;
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    let service = move |req: hyper::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
            let mut r = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::new()));
            *r.status_mut() = hyper::StatusCode::NO_CONTENT;
            Ok::<_, std::convert::Infallible>(r)
        }
    };
    (xcrack::relay::HttpServer::start("127.0.0.1:0".parse().unwrap(), None, "test-webhook", service).unwrap(), got)
}

impl Setup {
    fn new() -> Option<Self> {
        Self::with(&[])
    }

    /// With `extra` anvil arguments.
    fn with(extra: &[&str]) -> Option<Self> {
        Self::build(extra, None)
    }

    /// With `extra` anvil arguments and, given its reserves, a second pool of the pair on a
    /// factory and router of its own.
    fn build(extra: &[&str], second_pool: Option<(u128, u128)>) -> Option<Self> {
        let mut args = vec!["--order", "fifo"];
        args.extend_from_slice(extra);
        let node = anvil::anvil(&args)?;
        let m = market(node.addr)?;
        let second = match second_pool {
            Some(r) => Some(common::uniswap::venue(node.addr, (m.weth, m.usdc), r)?),
            None => None,
        };
        let tmp = tempfile::tempdir().unwrap();

        // Keys made for the run: the searcher's and the relay-auth one.
        let mut key = [0u8; 32];
        rand08::RngCore::fill_bytes(&mut rand08::rngs::OsRng, &mut key);
        let me = Wallet::from_secret(key).expect("a valid key").address();
        let key_hex = alloy_primitives::hex::encode(key);
        let mut auth = [0u8; 32];
        rand08::RngCore::fill_bytes(&mut rand08::rngs::OsRng, &mut auth);
        let auth_hex = alloy_primitives::hex::encode(auth);

        // Our executor, deployed by our key, and our wallet: 50 WETH, 200,000 USDC, approved.
        rpc(node.addr, "anvil_setBalance", serde_json::json!([me, "0x56bc75e2d63100000"])); // 100 ETH
        rpc(node.addr, "anvil_impersonateAccount", serde_json::json!([me]));
        let deployed = send_from(node.addr, me, None, contracts::executor().bytecode.to_vec(), 0);
        let executor: Address = deployed["contractAddress"].as_str().unwrap().parse().unwrap();
        send_from(node.addr, me, Some(m.weth), IWETH9::depositCall {}.abi_encode(), 50 * E18);
        // The quote token's owner (anvil's dev account) mints ours.
        let mint = ITestERC20::mintCall { to: me, value: U256::from(200_000_000_000u64) }.abi_encode();
        anvil::send(node.addr, Some(m.usdc), mint, 0);
        for t in [m.weth, m.usdc] {
            let approve = ITestERC20::approveCall { spender: executor, value: U256::MAX }.abi_encode();
            send_from(node.addr, me, Some(t), approve, 0);
        }
        rpc(node.addr, "anvil_stopImpersonatingAccount", serde_json::json!([me]));
        for name in ["victim-1", "victim-2"] {
            let v = Wallet::derived(11, &format!("live-e2e/{name}")).address();
            rpc(node.addr, "anvil_setBalance", serde_json::json!([v, "0x3635c9adc5dea00000"])); // 1000 ETH
        }
        rpc(node.addr, "evm_setAutomine", serde_json::json!([false]));

        // The relay in front of anvil, mining a block every 1.5 s; each block's number told.
        let stop = Arc::new(AtomicBool::new(false));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (block_tx, blocks) = std::sync::mpsc::channel();
        let relay = std::thread::spawn({
            let (url, stop) = (node.url(), stop.clone());
            move || {
                let mut up = xcrack::relay::upstream::Upstream::start(
                    &url,
                    "127.0.0.1:0".parse().unwrap(),
                    Duration::from_millis(1500),
                )
                .unwrap();
                addr_tx.send((up.addr(), up.relay())).unwrap();
                let mut mined = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    // A node that is down (a test restarting it) is waited for.
                    match up.next_block() {
                        Ok(m) => {
                            let _ = block_tx.send(m.number);
                            mined.push(m);
                        }
                        Err(e) => {
                            eprintln!("relay: {e}");
                            std::thread::sleep(Duration::from_millis(300));
                        }
                    }
                }
                up.stop();
                mined
            }
        });
        let (relay_addr, relay_state): (SocketAddr, _) = addr_rx.recv().unwrap();
        let config = tmp.path().join("live.toml");
        let fixture = common::repo().join("scenarios/sandwich_fixture.toml");
        std::fs::write(
            &config,
            format!(
                r#"[network]
chain_id = 31337

[strategies.micro_arbitrage]
enabled = false

[strategies.cross_dex]
enabled = false

[strategies.sandwich]
enabled = true
min_profit_usd = 1.0

[keys]
searcher = {{ env = "LIVE_E2E_SEARCHER_KEY" }}
relay_auth = {{ env = "LIVE_E2E_AUTH_KEY" }}

[fork]
weth = "{weth}"
quote = "{usdc}"

[[fork.pools]]
name = "uniswap_v2"
router = "{router}"
pair = "{pair}"

[live]
node = "ws://{node}"
relays = ["http://{relay_addr}"]
executor = "{executor}"
journal = "journal.sqlite"
poll = "100ms"

[signoff]
scenarios = ["{fixture}"]
"#,
                weth = m.weth,
                usdc = m.usdc,
                router = m.router,
                pair = m.pair,
                node = node.addr,
                fixture = fixture.display(),
            ),
        )
        .unwrap();
        let (receiver, alerts) = receiver();
        let webhook = format!("http://{}/api/webhooks/1/secret", receiver.addr());
        Some(Setup {
            node,
            m,
            me,
            key_hex,
            auth_hex,
            tmp,
            config,
            blocks,
            stop,
            relay: Some(relay),
            relay_state,
            second,
            webhook,
            alerts,
            _receiver: receiver,
        })
    }

    /// `xcrack live --config … extra…`, its stdout piped.
    fn live(&self, extra: &[&str]) -> std::process::Child {
        let mut args = vec!["live", "--config", self.config.to_str().unwrap()];
        args.extend_from_slice(extra);
        std::process::Command::new(common::BIN)
            .args(&args)
            .current_dir(self.tmp.path())
            .env("LIVE_E2E_SEARCHER_KEY", format!("0x{}", self.key_hex))
            .env("LIVE_E2E_AUTH_KEY", &self.auth_hex)
            .env("LIVE_E2E_CONTROL", CONTROL_TOKEN)
            .env("LIVE_E2E_DISCORD", &self.webhook)
            .env("RUST_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn sign_off(&self) {
        let o = common::xcrack(&["signoff", "--config", self.config.to_str().unwrap()], self.tmp.path());
        assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }

    /// Waits for the next block the relay mines.
    fn next_block(&self) -> u64 {
        while self.blocks.try_recv().is_ok() {}
        self.blocks.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    /// `name`'s 100-ETH swap for USDC (3 % slippage) into anvil's pending pool: its hash.
    fn victim_swap(&self, name: &str) -> B256 {
        victim_swap(self.node.addr, &self.m, name, 100 * E18)
    }

    /// The run's stdout once it ended (the relay stopped), asserting it succeeded.
    fn succeeded(&mut self, child: std::process::Child, reader: std::thread::JoinHandle<String>) -> String {
        let o = child.wait_with_output().unwrap();
        let stdout = reader.join().unwrap();
        self.finish();
        assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
        stdout
    }

    /// The relay's blocks (stopping it).
    fn finish(&mut self) -> Vec<xcrack::relay::upstream::Mined> {
        self.stop.store(true, Ordering::SeqCst);
        self.relay.take().map(|r| r.join().unwrap()).unwrap_or_default()
    }

    /// (block, index in it) of a transaction.
    fn position(&self, hash: B256) -> (u64, u64) {
        let r = rpc(self.node.addr, "eth_getTransactionReceipt", serde_json::json!([hash]));
        (quantity(&r["blockNumber"]), quantity(&r["transactionIndex"]))
    }
}

/// `name`'s swap of `wei` for USDC (3 % slippage) into anvil's pending pool (at the victim's
/// pending nonce): its hash.
fn victim_swap(node: SocketAddr, m: &common::uniswap::Market, name: &str, wei: u128) -> B256 {
    let mut victim = Wallet::derived(11, &format!("live-e2e/{name}"));
    victim.nonce = quantity(&rpc(node, "eth_getTransactionCount", serde_json::json!([victim.address(), "pending"])));
    let amount = U256::from(wei);
    let quote = R::getAmountsOutCall { amountIn: amount, path: vec![m.weth, m.usdc] }.abi_encode();
    let out = rpc(node, "eth_call", serde_json::json!([{"to": m.router, "data": anvil::hex(&quote)}, "latest"]));
    let bytes = alloy_primitives::hex::decode(out.as_str().unwrap()).unwrap();
    let out = R::getAmountsOutCall::abi_decode_returns(&bytes).unwrap()[1];
    let swap = R::swapExactETHForTokensCall {
        amountOutMin: out * U256::from(97u8) / U256::from(100u8),
        path: vec![m.weth, m.usdc],
        to: victim.address(),
        deadline: U256::MAX,
    };
    let req = TxRequest {
        chain_id: 31337,
        to: m.router,
        data: swap.abi_encode().into(),
        value: amount,
        gas_limit: 300_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    let (raw, hash) = victim.sign(&req).unwrap();
    anvil::send_raw(node, &raw);
    hash
}

/// Reads a child's stdout on a thread: each line as it comes, and all of it at the end.
fn lines(child: &mut std::process::Child) -> (std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all += &line;
            all.push('\n');
        }
        all
    });
    (rx, reader)
}

/// The child's output once it ended; never hangs the suite: a run still going after `limit` is
/// killed (and its assertions fail).
fn ended_within(
    mut child: std::process::Child,
    reader: std::thread::JoinHandle<String>,
    limit: Duration,
) -> (std::process::Output, String) {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    (o, reader.join().unwrap())
}

fn wait_for(rx: &std::sync::mpsc::Receiver<String>, prefix: &str) {
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no line `{prefix}…`"));
        if line.starts_with(prefix) {
            return;
        }
    }
}

#[test]
fn live_mode_sandwiches_a_victim_on_anvil_through_the_relay() {
    let Some(mut s) = Setup::new() else { return };
    // No sign-off: refused before anything is read.
    let o = s.live(&["--go", "--blocks", "1"]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("sign-off") && err.contains("xcrack signoff --config"), "{err}");
    s.sign_off();

    // Live for five heads; the victim's swap reaches anvil's pool right after a block, once live
    // mode follows the chain (reconciled: the journal line is its last before the loop).
    let balances = |s: &Setup| -> [i128; 2] {
        [s.m.weth, s.m.usdc].map(|t| {
            let data = ITestERC20::balanceOfCall { owner: s.me }.abi_encode();
            let out = rpc(s.node.addr, "eth_call", serde_json::json!([{"to": t, "data": anvil::hex(&data)}, "latest"]));
            i128::from_str_radix(out.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
        })
    };
    let before = balances(&s);
    let mut child = s.live(&["--go", "--blocks", "5"]);
    let (rx, reader) = lines(&mut child);
    wait_for(&rx, "journal ");
    s.next_block();
    let victim_hash = s.victim_swap("victim-1");
    let o = child.wait_with_output().unwrap();
    let stdout = reader.join().unwrap();
    let mined = s.finish();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    let leaks = |t: &str| t.to_lowercase().contains(&s.key_hex) || t.to_lowercase().contains(&s.auth_hex);
    assert!(!leaks(&text), "a key's hex is in the output");
    assert!(text.contains("bundles sent 1, included 1"), "{text}");
    assert!(
        text.contains("pending: ") && !text.contains("pending: 0 by subscription"),
        "the victim came over the WebSocket: {text}"
    );
    println!("{stdout}");

    // The chain: our front-run, the victim, our back-run, the block's first three.
    let (block, index) = s.position(victim_hash);
    assert_eq!(index, 1, "the victim between our two");
    let b = rpc(s.node.addr, "eth_getBlockByNumber", serde_json::json!([format!("{block:#x}"), true]));
    let txs = b["transactions"].as_array().unwrap();
    let from = |i: usize| txs[i]["from"].as_str().unwrap().parse::<Address>().unwrap();
    assert_eq!((from(0), from(2)), (s.me, s.me), "front and back are ours");
    let landed = mined.iter().find(|x| x.number == block).expect("the relay mined it");
    assert_eq!(landed.included.len(), 1, "{landed:?}");

    // The journal agrees with the chain.
    let journal = xcrack::live::LiveJournal::open(&s.tmp.path().join("journal.sqlite")).unwrap();
    let entries = journal.entries().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0].state, entries[0].target_block), (xcrack::live::State::Included, block));
    let front: B256 = txs[0]["hash"].as_str().unwrap().parse().unwrap();
    assert_eq!(xcrack::relay::rpc::tx_hash(&entries[0].txs[0]), front);

    // The report agrees with the chain to the wei: our two transactions' receipts, and our token
    // flows summed = what our balances moved by over the run.
    let reports = s.tmp.path().join("reports");
    let dir = std::fs::read_dir(&reports).unwrap().next().unwrap().unwrap().path();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let bundles = report["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 1, "{report}");
    assert_eq!((bundles[0]["included"].as_bool(), bundles[0]["target_block"].as_u64()), (Some(true), Some(block)));
    let ours = bundles[0]["ours"].as_array().unwrap();
    assert_eq!(ours.len(), 2);
    for (t, i) in ours.iter().zip([0usize, 2]) {
        let hash = txs[i]["hash"].as_str().unwrap();
        assert_eq!(t["hash"].as_str(), Some(hash));
        let r = rpc(s.node.addr, "eth_getTransactionReceipt", serde_json::json!([hash]));
        assert_eq!(t["gas_used"].as_u64(), Some(quantity(&r["gasUsed"])));
        assert_eq!(t["effective_gas_price"].as_u64(), Some(quantity(&r["effectiveGasPrice"])));
    }
    let after = balances(&s);
    for (k, token) in [s.m.weth, s.m.usdc].iter().enumerate() {
        let flow: i128 = ours
            .iter()
            .flat_map(|t| t["flows"].as_array().unwrap().iter())
            .filter(|f| f[0].as_str().unwrap().parse::<Address>().unwrap() == *token)
            .map(|f| f[1].as_str().unwrap().parse::<i128>().unwrap())
            .sum();
        assert_eq!(flow, after[k] - before[k], "token {token}: report flows = balance change");
    }
    s.node.stop();
}

/// Paused at the start: a victim passes untouched (the bundle refused by the world, nothing
/// sent); the go file starts trading: the next victim is sandwiched; the control endpoint's
/// `POST /stop` ends the run, and the stop reaches the Discord webhook as an alert.
#[test]
fn live_mode_waits_for_go_and_stops_on_the_control_endpoint() {
    let Some(mut s) = Setup::new() else { return };
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        "poll = \"100ms\"",
        "poll = \"100ms\"\nmetrics = \"127.0.0.1:0\"\ncontrol_token_env = \"LIVE_E2E_CONTROL\"",
    ) + "\n[live.alerts]\ndiscord_webhook_env = \"LIVE_E2E_DISCORD\"\n";
    std::fs::write(&s.config, text).unwrap();
    s.sign_off();
    let mut child = s.live(&[]);
    let (rx, reader) = lines(&mut child);
    let metrics: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if let Some(rest) = line.strip_prefix("metrics on http://") {
            break rest.trim_end_matches("/metrics").parse().unwrap();
        }
    };
    wait_for(&rx, "paused: ");
    s.next_block();
    let first = s.victim_swap("victim-1");
    let mined_at = s.next_block();
    assert_eq!(s.position(first), (mined_at, 0), "paused: the victim mined alone, first in its block");
    std::fs::write(s.tmp.path().join("GO"), "").unwrap();
    s.next_block();
    let second = s.victim_swap("victim-2");
    let (block, index) = loop {
        let b = s.next_block();
        let r = rpc(s.node.addr, "eth_getTransactionReceipt", serde_json::json!([second]));
        if !r.is_null() {
            assert_eq!(quantity(&r["blockNumber"]), b);
            break s.position(second);
        }
    };
    assert_eq!(index, 1, "trading: the second victim sandwiched in block {block}");
    let (status, scraped) = common::http_get(metrics, "/metrics");
    assert_eq!(status, 200);
    let get = |name: &str| {
        scraped.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).map(str::to_string)
    };
    assert_eq!(get("xcrack_pending_transactions_total{verdict=\"passed\"}").as_deref(), Some("2"), "{scraped}");
    assert!(get("xcrack_nonce_next").is_some(), "{scraped}");
    let post = |auth: &str| {
        let headers = [("authorization", auth)];
        xcrack::relay::http::post(metrics, "/stop", &headers, b"{}", Duration::from_secs(5)).unwrap().0
    };
    assert_eq!(post("Bearer not-the-token-at-all"), 401);
    assert_eq!(post(&format!("Bearer {CONTROL_TOKEN}")), 200);
    let stdout = s.succeeded(child, reader);
    assert!(stdout.contains("stopped: the control endpoint asked"), "{stdout}");
    let alerts = s.alerts.lock().unwrap().clone();
    assert!(
        alerts.iter().any(|a| a["content"].as_str().is_some_and(|t| t.contains("emergency stop"))),
        "the stop alerted: {alerts:?}"
    );
    assert!(stdout.contains("bundles sent 1, included 1") && stdout.contains("refused while paused 1"), "{stdout}");
    s.node.stop();
}

/// A relay that answers every request with HTTP 500: the bundle is journaled before the send, the
/// send fails (bounded: one request per relay, no retry storm), the journal says `send_failed`, the
/// failure opens the risk gate's breaker (`breaker_failures = 1`), and the breaker reaches the
/// webhook as an alert; the run goes on to its last head.
#[test]
fn a_relay_answering_500_opens_the_breaker_and_alerts() {
    let Some(mut s) = Setup::new() else { return };
    let broken = {
        let service = |_req: hyper::Request<hyper::body::Incoming>| async {
            let mut r = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from_static(b"down")));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            Ok::<_, std::convert::Infallible>(r)
        };
        xcrack::relay::HttpServer::start("127.0.0.1:0".parse().unwrap(), None, "test-broken-relay", service).unwrap()
    };
    let text = std::fs::read_to_string(&s.config).unwrap();
    let relays = text.lines().find(|l| l.starts_with("relays = ")).unwrap().to_string();
    let text = text.replace(&relays, &format!("relays = [\"http://{}\"]", broken.addr()))
        + "\n[live.alerts]\ndiscord_webhook_env = \"LIVE_E2E_DISCORD\"\n";
    // And the pending pool read every look instead of the subscription.
    let text = text
        .replace("[keys]", "[safety]\nbreaker_failures = 1\n\n[keys]")
        .replace("poll = \"100ms\"", "poll = \"100ms\"\npending = \"poll\"");
    std::fs::write(&s.config, text).unwrap();
    s.sign_off();
    let mut child = s.live(&["--go", "--blocks", "4"]);
    let (rx, reader) = lines(&mut child);
    wait_for(&rx, "journal ");
    s.next_block();
    let victim = s.victim_swap("victim-1");
    let stdout = s.succeeded(child, reader);
    assert!(stdout.contains("bundles sent 0"), "{stdout}");
    assert_eq!(s.position(victim).1, 0, "the victim mined alone");
    let journal = xcrack::live::LiveJournal::open(&s.tmp.path().join("journal.sqlite")).unwrap();
    let entries = journal.entries().unwrap();
    assert_eq!(entries.len(), 1, "journaled before the send: {entries:?}");
    assert_eq!(entries[0].state, xcrack::live::State::SendFailed);
    assert!(entries[0].relay_answer.as_deref().is_some_and(|a| a.contains("500")), "{entries:?}");
    let alerts = s.alerts.lock().unwrap().clone();
    assert!(
        alerts.iter().any(|a| a["content"].as_str().is_some_and(|t| t.contains("circuit breaker"))),
        "the breaker alerted: {alerts:?}"
    );
    s.node.stop();
}

/// anvil interrupted mid-run and started again on its port from its state dump: live mode's
/// WebSocket is reopened, resubscribed, and every block from the first head to the last is handled
/// once — none missed across the gap, none twice. The silence (4 s down, blocks every 1.5 s
/// otherwise) is alerted once it passes `source_silent_after`.
#[test]
fn a_node_restarted_mid_run_loses_no_block() {
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("anvil-state.json");
    let Some(mut s) = Setup::with(&["--dump-state", state.to_str().unwrap()]) else { return };
    let text = std::fs::read_to_string(&s.config).unwrap()
        + "\n[live.alerts]\ndiscord_webhook_env = \"LIVE_E2E_DISCORD\"\nsource_silent_after = \"3s\"\n";
    std::fs::write(&s.config, text).unwrap();
    s.sign_off();
    let mut child = s.live(&["--go", "--blocks", "8"]);
    let (rx, reader) = lines(&mut child);
    wait_for(&rx, "journal ");
    s.next_block();
    s.next_block();
    let port = s.node.addr.port();
    s.node.interrupt();
    std::thread::sleep(Duration::from_millis(4000));
    s.node = anvil::anvil_at(port, &["--order", "fifo", "--load-state", state.to_str().unwrap()]).unwrap();
    rpc(s.node.addr, "evm_setAutomine", serde_json::json!([false]));
    let (o, stdout) = ended_within(child, reader, Duration::from_secs(60));
    s.finish();
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("heads 8,"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("blocks ")).unwrap();
    let (range, rest) = line.trim_start_matches("blocks ").split_once(", ").unwrap();
    let (first, last) = range.split_once("..=").unwrap();
    let (first, last): (u64, u64) = (first.parse().unwrap(), last.parse().unwrap());
    assert_eq!(last - first + 1, 8, "eight consecutive blocks, each once: {line}");
    assert!(rest.starts_with("reconnects ") && !rest.starts_with("reconnects 0"), "the WebSocket was reopened: {line}");
    let alerts = s.alerts.lock().unwrap().clone();
    let down: Vec<_> =
        alerts.iter().filter(|a| a["content"].as_str().is_some_and(|t| t.contains("source heads silent"))).collect();
    assert_eq!(down.len(), 1, "the silence alerted once: {alerts:?}");
    s.node.stop();
}

/// Another process signing with our key gets a transaction mined mid-run: the nonce ledger sees
/// the count move without a bundle of ours (a public transaction or one it never saw, by when it
/// read the pool) and the next sandwich signs with the nonce after it, lands, and is accounted.
#[test]
fn a_nonce_used_by_another_process_is_skipped_and_the_next_bundle_lands() {
    let Some(mut s) = Setup::new() else { return };
    s.sign_off();
    let mut child = s.live(&["--go", "--blocks", "7"]);
    let (rx, reader) = lines(&mut child);
    wait_for(&rx, "journal ");
    s.next_block();
    let mut other =
        Wallet::from_secret(alloy_primitives::hex::decode(&s.key_hex).unwrap().try_into().unwrap()).unwrap();
    other.nonce = quantity(&rpc(s.node.addr, "eth_getTransactionCount", serde_json::json!([s.me, "latest"])));
    let req = TxRequest {
        chain_id: 31337,
        to: s.me,
        data: Default::default(),
        value: U256::from(1u8),
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    let (raw, theirs) = other.sign(&req).unwrap();
    anvil::send_raw(s.node.addr, &raw);
    s.next_block();
    s.next_block();
    let victim = s.victim_swap("victim-1");
    let stdout = s.succeeded(child, reader);
    assert!(stdout.contains("bundles sent 1, included 1"), "{stdout}");
    assert_eq!(s.position(victim).1, 1, "sandwiched");
    let (mined_at, _) = s.position(theirs);
    assert!(mined_at < s.position(victim).0, "the other process's transaction came first");
    let line = stdout.lines().find(|l| l.starts_with("nonces: next ") && l.contains("used by")).unwrap();
    let num = |key: &str| -> u64 {
        let at = line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
        line[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    assert_eq!(num("used by our bundles "), 2, "{line}");
    assert_eq!(num("used by transactions we never signed "), 1, "{line}");
    assert_eq!(num("taken from us "), 0, "{line}");
    assert_eq!(num("nonces: next "), other.nonce + 2, "{line}");
    s.node.stop();
}

/// SIGTERM (what systemd and `docker stop` send) stops trading like the stop file: the run ends
/// cleanly at its next look, saying why.
#[test]
fn a_signal_stops_live_mode() {
    let Some(mut s) = Setup::new() else { return };
    s.sign_off();
    let mut child = s.live(&["--go"]);
    let (rx, reader) = lines(&mut child);
    wait_for(&rx, "journal ");
    s.next_block();
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let (o, stdout) = ended_within(child, reader, Duration::from_secs(30));
    s.finish();
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("stopped: a signal (SIGTERM or SIGINT) asked"), "{stdout}");
    s.node.stop();
}

/// `kill -9` of `xcrack live` at 100 random points (seeded) while victims keep arriving (one
/// 20-ETH swap after every block), each run restarted on the same journal; then one clean run to
/// settle it. Whatever the kills interrupted — before the journal write, between it and the
/// send, after the send, during settlement — the relay never received a bundle twice, every bundle
/// it received is in the journal, and our nonces on the chain are exactly those of the bundles
/// the journal says were included (none skipped, none stuck).
#[test]
fn kill_9_at_random_points_never_resends_nor_loses_a_bundle() {
    use rand08::{Rng, SeedableRng};
    let Some(mut s) = Setup::new() else { return };
    s.sign_off();
    let n0 = quantity(&rpc(s.node.addr, "eth_getTransactionCount", serde_json::json!([s.me, "latest"])));

    // Victims: one swap after every block the relay mines.
    let blocks = std::mem::replace(&mut s.blocks, std::sync::mpsc::channel().1);
    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = std::thread::spawn({
        let node = s.node.addr;
        let m = common::uniswap::Market {
            factory: s.m.factory,
            weth: s.m.weth,
            usdc: s.m.usdc,
            router: s.m.router,
            pair: s.m.pair,
        };
        let feeding = feeding.clone();
        move || {
            let mut sent = 0u64;
            while feeding.load(Ordering::SeqCst) {
                if blocks.recv_timeout(Duration::from_millis(200)).is_ok() {
                    victim_swap(node, &m, "victim-1", 20 * E18);
                    sent += 1;
                }
            }
            sent
        }
    });

    let (config, dir, key, auth) =
        (s.config.clone(), s.tmp.path().to_path_buf(), s.key_hex.clone(), s.auth_hex.clone());
    let live = |extra: &[&str]| {
        let mut c = std::process::Command::new(common::BIN);
        c.args(["live", "--config", config.to_str().unwrap(), "--go"])
            .args(extra)
            .current_dir(&dir)
            .env("LIVE_E2E_SEARCHER_KEY", format!("0x{key}"))
            .env("LIVE_E2E_AUTH_KEY", &auth)
            .env_remove("RUST_LOG");
        c
    };
    let seed = 14u64;
    let mut rng = rand08::rngs::StdRng::seed_from_u64(seed);
    let mut ended_early = 0;
    for _ in 0..100 {
        let mut child =
            live(&[]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..900)));
        if child.try_wait().unwrap().is_some() {
            ended_early += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    feeding.store(false, Ordering::SeqCst);
    let victims = feeder.join().unwrap();
    // One clean run settles what the last kills left open.
    let o = live(&["--blocks", "2"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    s.finish();
    assert_eq!(ended_early, 0, "no run ended on its own before its kill");

    let journal = xcrack::live::LiveJournal::open(&s.tmp.path().join("journal.sqlite")).unwrap();
    let entries = journal.entries().unwrap();
    let relay = s.relay_state.lock().unwrap();
    let at_relay: Vec<_> = entries
        .iter()
        .filter(|e| {
            let hashes: Vec<B256> = e.txs.iter().map(|t| xcrack::relay::rpc::tx_hash(t)).collect();
            relay.outcome(&xcrack::relay::rpc::bundle_hash(&hashes)).is_some()
        })
        .collect();
    println!(
        "seed {seed}: {victims} victims, {} bundles journaled, {} received by the relay, {} included; relay {:?}",
        entries.len(),
        relay.stats.received,
        entries.iter().filter(|e| e.state == xcrack::live::State::Included).count(),
        relay.stats
    );
    assert_eq!(relay.stats.duplicates, 0, "no bundle sent twice");
    assert_eq!(
        at_relay.len() as u64,
        relay.stats.received - relay.stats.duplicates,
        "every bundle the relay got is journaled"
    );
    assert!(relay.stats.received >= 5, "the runs sent bundles: {:?}", relay.stats);
    // Nothing open is left behind for a block already mined.
    let head = quantity(&rpc(s.node.addr, "eth_blockNumber", serde_json::json!([])));
    assert!(entries.iter().all(|e| !e.state.open() || e.target_block > head), "{entries:#?}");
    // Nonces: the chain's count moved only by our included bundles, each tx on the chain.
    let included: Vec<_> = entries.iter().filter(|e| e.state == xcrack::live::State::Included).collect();
    assert!(!included.is_empty(), "some bundles landed");
    let ours: u64 = included.iter().map(|e| e.txs.len() as u64 - 1).sum();
    let n = quantity(&rpc(s.node.addr, "eth_getTransactionCount", serde_json::json!([s.me, "latest"])));
    assert_eq!(n - n0, ours, "the chain's nonce count = our included transactions");
    for e in &included {
        for t in &e.txs {
            let r = rpc(s.node.addr, "eth_getTransactionReceipt", serde_json::json!([xcrack::relay::rpc::tx_hash(t)]));
            assert_eq!(quantity(&r["blockNumber"]), e.target_block);
        }
    }
    s.node.stop();
}

/// Two pools of the pair ten percent apart: live mode's cross-DEX strategy buys WETH where it is
/// cheap and sells it where it is dear in one executor transaction, sent as a bundle for the next
/// block; the relay includes it, our USDC grows by what the simulation predicted to the unit, and
/// the pools' prices come together.
#[test]
fn live_mode_arbitrages_two_pools_in_one_bundle() {
    let Some(mut s) = Setup::build(&[], Some((1_000 * E18, 3_300_000 * 1_000_000u128))) else { return };
    let (_, router_b, pair_b) = s.second.unwrap();
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace(
            "[strategies.cross_dex]\nenabled = false",
            "[strategies.cross_dex]\nenabled = true\nmin_profit_usd = 1.0\ngas_estimate = 160000",
        )
        .replace("[strategies.sandwich]\nenabled = true", "[strategies.sandwich]\nenabled = false")
        .replace(
            "[live]",
            &format!("[[fork.pools]]\nname = \"uniswap_v2_b\"\nrouter = \"{router_b}\"\npair = \"{pair_b}\"\n\n[live]"),
        )
        .replace("sandwich_fixture.toml", "cross_dex.toml");
    std::fs::write(&s.config, text).unwrap();
    s.sign_off();
    let usdc = s.m.usdc;
    let usdc_of = |node: SocketAddr, who: Address| {
        let data = ITestERC20::balanceOfCall { owner: who }.abi_encode();
        let out = rpc(node, "eth_call", serde_json::json!([{"to": usdc, "data": anvil::hex(&data)}, "latest"]));
        U256::from_str_radix(out.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let before = usdc_of(s.node.addr, s.me);
    let child = s.live(&["--go", "--blocks", "3"]);
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    s.finish();
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("included 1,"), "one arbitrage landed: {stdout}{}", String::from_utf8_lossy(&o.stderr));
    let journal = xcrack::live::LiveJournal::open(&s.tmp.path().join("journal.sqlite")).unwrap();
    let entries = journal.entries().unwrap();
    let landed: Vec<_> = entries.iter().filter(|e| e.state == xcrack::live::State::Included).collect();
    assert_eq!(landed.len(), 1, "{entries:?}");
    assert_eq!(landed[0].txs.len(), 1, "one executor transaction");
    assert!(
        landed[0].replacement_uuid.as_deref().is_some_and(|u| u.starts_with("cross-dex-0-1-block-")),
        "named, so a stop can cancel it: {:?}",
        landed[0].replacement_uuid
    );
    let gained = usdc_of(s.node.addr, s.me) - before;
    assert!(gained > U256::ZERO, "USDC gained: {gained}");
    let line = stdout.lines().find(|l| l.starts_with("net P&L")).unwrap();
    println!("{stdout}");
    assert!(!line.contains("-"), "{line}");
    s.node.stop();
}

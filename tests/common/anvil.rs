//! anvil (npm `@foundry-rs/anvil`, installed into `tests/node` by `.ci/run`) on a random loopback
//! port, stopped when dropped; JSON-RPC helpers; the genuine Uniswap V2 artifacts from npm.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes};

/// anvil's first unlocked development account.
pub const DEV: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

pub struct Anvil {
    child: Child,
    pub addr: SocketAddr,
}

impl Anvil {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks the node to exit as on Ctrl-C (SIGINT), so that a `--dump-state` file is written, and
    /// waits for it.
    pub fn interrupt(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// Stops the node now (the test goes on offline).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}

fn node_modules() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/node_modules")
}

/// Is the npm part at `rel` (under tests/node/node_modules) installed? Outside CI a missing part
/// skips the test; under CI it fails it.
pub fn installed(rel: &str) -> bool {
    let p = node_modules().join(rel);
    if p.exists() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{}: missing (.ci/run runs `npm ci` in tests/node)", p.display());
    eprintln!("skipped: {} missing; `npm ci` in tests/node installs it", p.display());
    false
}

/// anvil listening on a free loopback port (`extra` arguments added); `None` (skipped) when it is
/// not installed and this is not CI.
pub fn anvil(extra: &[&str]) -> Option<Anvil> {
    anvil_at(0, extra)
}

/// anvil on loopback port `port` (0: a free one), `extra` arguments added (e.g. a restart on the
/// port it had, from its `--dump-state` file).
pub fn anvil_at(port: u16, extra: &[&str]) -> Option<Anvil> {
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" };
    let os = if cfg!(target_os = "macos") { "darwin" } else { "linux" };
    let rel = format!("@foundry-rs/anvil-{os}-{arch}/bin/anvil");
    if !installed(&rel) {
        return None;
    }
    let mut child = Command::new(node_modules().join(rel))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("Listening on ") {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("anvil says where it listens");
    Some(Anvil { child, addr: addr.parse().unwrap() })
}

pub fn rpc(addr: SocketAddr, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, bytes) =
        xcrack::relay::http::post(addr, "/", &[], &serde_json::to_vec(&body).unwrap(), Duration::from_secs(10))
            .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

pub fn hex(data: &[u8]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(data))
}

/// The receipt of `hash` once mined (automine answers with the hash at once; on a loaded machine
/// the receipt may follow a moment later).
pub fn receipt(addr: SocketAddr, hash: &serde_json::Value) -> serde_json::Value {
    for _ in 0..100 {
        let receipt = rpc(addr, "eth_getTransactionReceipt", serde_json::json!([hash]));
        if !receipt.is_null() {
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            return receipt;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no receipt for {hash} within 10 s")
}

/// Sends a transaction from the dev account (anvil mines it at once) and returns its receipt.
pub fn send(addr: SocketAddr, to: Option<Address>, data: Vec<u8>, value: u128) -> serde_json::Value {
    let mut tx =
        serde_json::json!({"from": DEV, "data": hex(&data), "gas": "0x989680", "value": format!("{value:#x}")});
    if let Some(to) = to {
        tx["to"] = serde_json::json!(to);
    }
    let hash = rpc(addr, "eth_sendTransaction", serde_json::json!([tx]));
    receipt(addr, &hash)
}

/// Deploys `code` (creation code with its constructor arguments) from the dev account.
pub fn deploy(addr: SocketAddr, code: Vec<u8>) -> Address {
    send(addr, None, code, 0)["contractAddress"].as_str().unwrap().parse().unwrap()
}

/// Sends raw signed bytes; their hash.
pub fn send_raw(addr: SocketAddr, raw: &Bytes) -> B256 {
    rpc(addr, "eth_sendRawTransaction", serde_json::json!([hex(raw)])).as_str().unwrap().parse().unwrap()
}

/// The creation code of a genuine Uniswap artifact, e.g. `@uniswap/v2-core/build/UniswapV2Factory.json`.
pub fn npm_artifact(rel: &str) -> Option<Vec<u8>> {
    if !installed(rel) {
        return None;
    }
    let text = std::fs::read_to_string(node_modules().join(rel)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let code = json["bytecode"].as_str().unwrap().trim_start_matches("0x");
    Some(alloy_primitives::hex::decode(code).unwrap())
}

//! The live write-ahead journal in front of a relay sink, under faults.
//!
//! - `kill -9` at random points over 100 runs of a process sending bundles through
//!   `JournaledSink`: after every restart, zero bundles reach the relay twice, every bundle the
//!   relay got is in the journal (none lost), and the journaled nonces never repeat.
//! - A journal that cannot be written (disk full) stops the sink: the bundle is refused, and so is
//!   every one after it, with the reason.
//! - A bundle the journal already holds for that block is refused by hash, even from a new process.

use std::io::Write;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, U256};
use xcrack::chain::{TxRequest, Wallet};
use xcrack::execution::bundle_manager::BundleSink;
use xcrack::live::{JournaledSink, LiveJournal, State};
use xcrack::relay::rpc::SendBundleParams;

/// The relay as a file: one line per bundle it took (its hash), appended and synced before it
/// answers — what a relay that received the request knows, whatever happens to us after.
struct FileRelay(PathBuf);

impl BundleSink for FileRelay {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String> {
        let hashes: Vec<B256> = p.txs.iter().map(|t| xcrack::relay::rpc::tx_hash(t)).collect();
        let hash = xcrack::relay::rpc::bundle_hash(&hashes);
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.0).map_err(|e| e.to_string())?;
        // One write call for the whole line: a kill lands before or after it, never inside.
        f.write_all(format!("{hash}\n").as_bytes()).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        Ok(hash)
    }
    fn cancel(&mut self, _replacement_uuid: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Bundle `i`: one transaction of ours at nonce `i`, for block `1000 + i`.
fn bundle(w: &mut Wallet, i: u64) -> SendBundleParams {
    let req = TxRequest {
        chain_id: 31337,
        to: Address::repeat_byte(0x42),
        data: Bytes::new(),
        value: U256::from(i),
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    w.nonce = i;
    let (raw, _) = w.sign(&req).unwrap();
    SendBundleParams::for_block(vec![raw], 1000 + i)
}

const BUNDLES: u64 = 5000;

/// The process under test (started by the fault test below with XCRACK_LIVE_JOURNAL_DIR set):
/// reopens the journal, continues after the last bundle it journaled — never resending one left
/// `signed` — and sends the rest.
#[test]
#[ignore]
fn journal_child() {
    let Ok(dir) = std::env::var("XCRACK_LIVE_JOURNAL_DIR") else { return };
    let dir = Path::new(&dir);
    let journal = LiveJournal::open(&dir.join("journal.sqlite")).unwrap();
    let next = journal.entries().unwrap().iter().map(|e| e.target_block - 1000 + 1).max().unwrap_or(0);
    let mut sink = JournaledSink::new(FileRelay(dir.join("relay.log")), journal);
    let mut w = Wallet::derived(7, "live-journal-test");
    for i in next..BUNDLES {
        sink.send(&bundle(&mut w, i)).unwrap();
    }
}

#[test]
fn kill_9_at_random_points_never_sends_a_bundle_twice_or_loses_one() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Deterministic kill points (xorshift): 0–40 ms into each run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    for _ in 0..100 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut child = std::process::Command::new(&exe)
            .args(["journal_child", "--exact", "--ignored", "--test-threads=1", "--quiet"])
            .env("XCRACK_LIVE_JOURNAL_DIR", tmp.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(x % 40_000));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    // One clean run to the end.
    let done = std::process::Command::new(&exe)
        .args(["journal_child", "--exact", "--ignored", "--test-threads=1", "--quiet"])
        .env("XCRACK_LIVE_JOURNAL_DIR", tmp.path())
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stdout));
    assert!(killed >= 90, "the runs were killed mid-way: {killed} of 100");

    let relay = std::fs::read_to_string(tmp.path().join("relay.log")).unwrap();
    let got: Vec<&str> = relay.lines().collect();
    let unique: std::collections::BTreeSet<&str> = got.iter().copied().collect();
    assert_eq!(got.len(), unique.len(), "no bundle reached the relay twice");
    let journal = LiveJournal::open(&tmp.path().join("journal.sqlite")).unwrap();
    let entries = journal.entries().unwrap();
    let journaled: std::collections::BTreeSet<String> = entries.iter().map(|e| e.bundle_hash.to_string()).collect();
    let missing: Vec<&&str> = unique.iter().filter(|h| !journaled.contains(**h)).collect();
    assert!(missing.is_empty(), "every bundle the relay got is journaled; not: {missing:?}");
    assert_eq!(entries.len() as u64, BUNDLES, "each bundle journaled once");
    // A bundle journaled but not at the relay is one a kill stopped between the write and the
    // send: it stays `signed` (never resent), as does one the relay took before the answer was
    // written; every other one is `submitted`.
    for e in &entries {
        let at_relay = unique.contains(e.bundle_hash.to_string().as_str());
        assert!(e.state == State::Submitted && at_relay || e.state == State::Signed, "{e:?} at relay: {at_relay}");
    }
    let signed = entries.iter().filter(|e| e.state == State::Signed).count();
    eprintln!("killed {killed} of 100 runs; {signed} bundles left `signed` by a kill; relay got {}", unique.len());
    assert!(signed > 0, "some kills landed between the journal's write and the relay's answer");
    let w = Wallet::derived(7, "live-journal-test");
    assert_eq!(journal.last_nonce(w.address()).unwrap(), Some(BUNDLES - 1), "nonces journaled, none repeated");
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_sink() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = Wallet::derived(7, "live-journal-test");
    let journal = LiveJournal::open(&tmp.path().join("j.sqlite")).unwrap();
    let mut sink = JournaledSink::new(FileRelay(tmp.path().join("relay.log")), journal);
    sink.send(&bundle(&mut w, 0)).unwrap();
    // The same bundle again: refused by the journal, not at the relay twice.
    let e = sink.send(&bundle(&mut w, 0)).unwrap_err();
    assert!(e.contains("already journaled") && e.contains("submitted"), "{e}");
    // The disk fills up: the write before the send fails, nothing is sent, and nothing after.
    sink.journal().freeze_size().unwrap();
    let mut big = bundle(&mut w, 1);
    big.replacement_uuid = Some("x".repeat(64 * 1024));
    let e = sink.send(&big).unwrap_err();
    assert!(e.contains("journal cannot be written"), "{e}");
    let e = sink.send(&bundle(&mut w, 2)).unwrap_err();
    assert!(e.contains("journal cannot be written"), "stays stopped: {e}");
    assert!(sink.halted().is_some());
    let relay = std::fs::read_to_string(tmp.path().join("relay.log")).unwrap();
    assert_eq!(relay.lines().count(), 1, "only the first bundle reached the relay");

    // A new process over the same journal still refuses bundle 0.
    drop(sink);
    let mut again = JournaledSink::new(
        FileRelay(tmp.path().join("relay.log")),
        LiveJournal::open(&tmp.path().join("j.sqlite")).unwrap(),
    );
    let e = again.send(&bundle(&mut w, 0)).unwrap_err();
    assert!(e.contains("already journaled"), "{e}");
}

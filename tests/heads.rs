//! Following new heads over a WebSocket (`chain::heads`), against a scripted node on loopback whose
//! chain the test moves: heads in order; a dropped connection reopened, resubscribed and the blocks
//! mined meanwhile backfilled; a head that skips a number preceded by the block it skipped; a reorg
//! walked back to the block both branches share and announced before the new branch. Every block
//! once, in chain order.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use xcrack::chain::heads::{HeadEvent, HeadFollower};
use xcrack::chain::rpc::{BlockHead, Endpoint, Retry};

/// Block `n` of branch `branch`.
fn hash(n: u64, branch: u64) -> String {
    format!("0x{:060x}{branch:04x}", n + 1)
}

fn header(n: u64, branch: u64, parent_branch: u64) -> Value {
    json!({
        "number": format!("{n:#x}"), "hash": hash(n, branch), "parentHash": hash(n.saturating_sub(1), parent_branch),
        "timestamp": format!("{:#x}", 1_700_000_000 + 12 * n), "baseFeePerGas": "0x3b9aca00", "gasUsed": "0x0",
        "gasLimit": "0x1c9c380", "miner": format!("0x{:040x}", 0)
    })
}

#[derive(Default)]
struct Node {
    chain: BTreeMap<u64, Value>,
    /// Heads to push to the newest subscriber.
    push: VecDeque<Value>,
    /// Pending transactions' hashes to push to the newest `newPendingTransactions` subscriber.
    pending: VecDeque<String>,
    /// Close the newest connection.
    drop_it: bool,
    connections: usize,
}

fn serve(node: Arc<Mutex<Node>>) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let node = node.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                    let me = {
                        let mut n = node.lock().unwrap();
                        n.connections += 1;
                        n.connections
                    };
                    let mut tick = tokio::time::interval(Duration::from_millis(10));
                    let mut subscribed = false;
                    loop {
                        tokio::select! {
                            m = ws.next() => {
                                let Some(Ok(Message::Text(t))) = m else { return };
                                let req: Value = serde_json::from_str(t.as_str()).unwrap();
                                let answer = {
                                    let n = node.lock().unwrap();
                                    match req["method"].as_str().unwrap() {
                                        "eth_subscribe" if req["params"][0] == "newPendingTransactions" => json!("0xp1"),
                                        "eth_subscribe" => json!("0xs1"),
                                        "eth_blockNumber" => json!(format!("{:#x}", n.chain.keys().last().unwrap())),
                                        "eth_getBlockByNumber" => {
                                            let q = req["params"][0].as_str().unwrap().trim_start_matches("0x");
                                            n.chain.get(&u64::from_str_radix(q, 16).unwrap()).cloned().unwrap_or(Value::Null)
                                        }
                                        m => panic!("unexpected {m}"),
                                    }
                                };
                                subscribed |= req["method"] == "eth_subscribe";
                                let reply = json!({"jsonrpc": "2.0", "id": req["id"], "result": answer});
                                if ws.send(Message::text(reply.to_string())).await.is_err() {
                                    return;
                                }
                            }
                            _ = tick.tick() => {
                                let (close, push, pending) = {
                                    let mut n = node.lock().unwrap();
                                    if n.connections != me {
                                        (false, Vec::new(), Vec::new())
                                    } else if n.drop_it {
                                        n.drop_it = false;
                                        (true, Vec::new(), Vec::new())
                                    } else if subscribed {
                                        (false, n.push.drain(..).collect(), n.pending.drain(..).collect())
                                    } else {
                                        (false, Vec::new(), Vec::new())
                                    }
                                };
                                if close {
                                    let _ = ws.close(None).await;
                                    return;
                                }
                                let notes = push.into_iter().map(|h| ("0xs1", h)).chain(pending.into_iter().map(|h| ("0xp1", json!(h))));
                                for (sub, h) in notes {
                                    let note = json!({"jsonrpc": "2.0", "method": "eth_subscription",
                                        "params": {"subscription": sub, "result": h}});
                                    if ws.send(Message::text(note.to_string())).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn head(v: &Value) -> BlockHead {
    BlockHead {
        number: u64::from_str_radix(v["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
        hash: v["hash"].as_str().unwrap().parse().unwrap(),
        parent_hash: v["parentHash"].as_str().unwrap().parse().unwrap(),
        timestamp: 1_700_000_000,
        base_fee: 1_000_000_000,
        gas_used: 0,
        gas_limit: 30_000_000,
        coinbase: Default::default(),
    }
}

/// Follows until `enough` holds of everything seen so far.
fn pull(f: &mut HeadFollower, seen: &mut Vec<HeadEvent>, enough: &dyn Fn(&[HeadEvent]) -> bool) {
    for _ in 0..100 {
        seen.extend(f.next(Duration::from_millis(50)).unwrap());
        if enough(seen) {
            return;
        }
    }
    panic!("not reached: {seen:#?}");
}

fn blocks(v: &[HeadEvent]) -> Vec<(u64, String)> {
    v.iter()
        .filter_map(|e| match e {
            HeadEvent::Block(b) => Some((b.number, b.hash.to_string())),
            HeadEvent::Reorg { .. } => None,
        })
        .collect()
}

#[test]
fn heads_are_followed_through_a_reconnect_a_gap_and_a_reorg() {
    let node = Arc::new(Mutex::new(Node::default()));
    node.lock().unwrap().chain = (0..=3).map(|n| (n, header(n, 0, 0))).collect();
    let addr = serve(node.clone());
    let retry = Retry { attempts: 4, first_backoff: Duration::from_millis(20), timeout: Duration::from_secs(5) };
    let endpoint = Endpoint::parse(&format!("ws://{addr}")).unwrap();
    let mut f = HeadFollower::new(endpoint, retry, head(&header(0, 0, 0))).unwrap();
    let mut seen = Vec::new();

    // Subscribed at 3: what was mined since the known block comes first.
    pull(&mut f, &mut seen, &|s| blocks(s).len() >= 3);
    assert_eq!(blocks(&seen), (1..=3).map(|n| (n, hash(n, 0))).collect::<Vec<_>>());

    // The connection drops; 4..=6 are mined while we are away.
    {
        let mut n = node.lock().unwrap();
        for b in 4..=6 {
            n.chain.insert(b, header(b, 0, 0));
        }
        n.drop_it = true;
    }
    pull(&mut f, &mut seen, &|s| blocks(s).len() >= 6);
    assert_eq!(f.reconnects, 1, "one reconnect");

    // A head that skips 7: 7 is fetched first.
    {
        let mut n = node.lock().unwrap();
        for b in 7..=8 {
            n.chain.insert(b, header(b, 0, 0));
        }
        n.push.push_back(header(8, 0, 0));
    }
    pull(&mut f, &mut seen, &|s| blocks(s).len() >= 8);
    assert_eq!(blocks(&seen), (1..=8).map(|n| (n, hash(n, 0))).collect::<Vec<_>>(), "each block once, in order");

    // A reorg: 7' on 6, then 8' and 9'; the node announces 9'.
    {
        let mut n = node.lock().unwrap();
        n.chain.insert(7, header(7, 1, 0));
        n.chain.insert(8, header(8, 1, 1));
        n.chain.insert(9, header(9, 1, 1));
        n.push.push_back(header(9, 1, 1));
    }
    pull(&mut f, &mut seen, &|s| blocks(s).len() >= 11);
    let tail = &seen[seen.len() - 4..];
    match tail[0] {
        HeadEvent::Reorg { to, depth } => assert_eq!((to.number, to.hash.to_string(), depth), (6, hash(6, 0), 2)),
        other => panic!("the reorg first: {other:?}"),
    }
    assert_eq!(blocks(&tail[1..]), vec![(7, hash(7, 1)), (8, hash(8, 1)), (9, hash(9, 1))]);
    assert_eq!((f.head().number, f.head().hash.to_string()), (9, hash(9, 1)));
}

/// A real node: anvil's own `newHeads` over its WebSocket, blocks mined by the test.
#[test]
fn anvils_heads_arrive_in_order() {
    let Some(node) = common::anvil::anvil(&[]) else { return };
    let rpc = xcrack::chain::rpc::RpcSource::http(node.addr);
    let genesis = rpc.heads(&[0]).unwrap()[0];
    let endpoint = Endpoint::parse(&format!("ws://{}", node.addr)).unwrap();
    let mut f = HeadFollower::new(endpoint, Retry::default(), genesis).unwrap();
    let mut seen = Vec::new();
    pull(&mut f, &mut seen, &|_| true);
    for _ in 0..3 {
        common::anvil::rpc(node.addr, "evm_mine", serde_json::json!([]));
    }
    pull(&mut f, &mut seen, &|s| blocks(s).len() >= 3);
    let numbers: Vec<u64> = blocks(&seen).iter().map(|b| b.0).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(f.head(), rpc.heads(&[3]).unwrap()[0], "the header as the node serves it");
}

/// Pending transactions' hashes on the same connection: handed over in arrival order as soon as
/// they come (a wait for a head ends early), and again after a reconnect (resubscribed).
#[test]
fn pending_hashes_come_on_the_heads_connection_and_survive_a_reconnect() {
    let node = Arc::new(Mutex::new(Node::default()));
    node.lock().unwrap().chain = (0..=1).map(|n| (n, header(n, 0, 0))).collect();
    let addr = serve(node.clone());
    let retry = Retry { attempts: 4, first_backoff: Duration::from_millis(20), timeout: Duration::from_secs(5) };
    let endpoint = Endpoint::parse(&format!("ws://{addr}")).unwrap();
    let mut f = HeadFollower::new(endpoint, retry, head(&header(0, 0, 0))).unwrap().with_pending();
    let mut seen = Vec::new();
    pull(&mut f, &mut seen, &|s| !blocks(s).is_empty());
    let h = |i: u8| format!("0x{}", format!("{i:02x}").repeat(32));
    node.lock().unwrap().pending.extend([h(1), h(2), h(3)]);
    let mut hashes = Vec::new();
    let t = std::time::Instant::now();
    while hashes.len() < 3 && t.elapsed() < Duration::from_secs(5) {
        // A long wait for a head: pending hashes end it early.
        f.next(Duration::from_secs(2)).unwrap();
        hashes.extend(f.take_pending());
    }
    assert_eq!(hashes, [h(1), h(2), h(3)].map(|x| x.parse::<alloy_primitives::B256>().unwrap()));
    assert!(t.elapsed() < Duration::from_secs(2), "handed over without waiting out the head wait: {:?}", t.elapsed());
    node.lock().unwrap().drop_it = true;
    std::thread::sleep(Duration::from_millis(50));
    node.lock().unwrap().pending.push_back(h(4));
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        f.next(Duration::from_millis(50)).unwrap();
        let got = f.take_pending();
        if !got.is_empty() {
            assert_eq!(got, vec![h(4).parse::<alloy_primitives::B256>().unwrap()]);
            break;
        }
    }
    assert!(f.reconnects >= 1, "reopened and resubscribed");
    assert!(t.elapsed() < Duration::from_secs(5), "the pending subscription came back");
}

/// A head the node sends malformed is an error naming the field, never a panic.
#[test]
fn a_malformed_head_is_an_error_not_a_panic() {
    let node = Arc::new(Mutex::new(Node::default()));
    node.lock().unwrap().chain = (0..=1).map(|n| (n, header(n, 0, 0))).collect();
    let addr = serve(node.clone());
    let retry = Retry { attempts: 2, first_backoff: Duration::from_millis(20), timeout: Duration::from_secs(5) };
    let endpoint = Endpoint::parse(&format!("ws://{addr}")).unwrap();
    let mut f = HeadFollower::new(endpoint, retry, head(&header(0, 0, 0))).unwrap();
    let mut seen = Vec::new();
    pull(&mut f, &mut seen, &|s| !blocks(s).is_empty());
    let mut bad = header(2, 0, 0);
    bad["number"] = json!("zz");
    node.lock().unwrap().push.push_back(bad);
    let e = (0..100).find_map(|_| f.next(Duration::from_millis(50)).err()).expect("an error");
    assert!(e.to_string().contains("number"), "{e}");
}

//! Live mode's sinks: every bundle to each relay in Flashbots' `eth_sendBundle` and to each
//! builder in its own encoding (`[[live.builders]]`), on loopback receivers: Titan's
//! `eth_sendBundle` signed with the relay-auth key over exactly the bytes sent, bloXroute's
//! `blxr_submit_bundle` with the credential from its variable (and no Flashbots signature), and a
//! cancel reaching each in its own form.

use std::sync::{Arc, Mutex};

use alloy_primitives::{B256, Bytes};
use serde_json::Value;
use xcrack::chain::keys::KeySource;
use xcrack::config::live::BuilderSpec;
use xcrack::execution::bundle_manager::BundleSink;
use xcrack::relay::builders::Builder;
use xcrack::relay::rpc::SendBundleParams;

type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A receiver answering every request with a bundle hash; what it got (headers, body).
fn receiver() -> (xcrack::relay::HttpServer, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let service = move |req: hyper::Request<hyper::body::Incoming>| {
        let s = s.clone();
        async move {
            use http_body_util::BodyExt;
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            let body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
            s.lock().unwrap().push((headers, body));
            let answer = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"bundleHash":"{}"}}}}"#, B256::repeat_byte(9));
            Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                hyper::body::Bytes::from(answer),
            )))
        }
    };
    (xcrack::relay::HttpServer::start("127.0.0.1:0".parse().unwrap(), None, "test-receiver", service).unwrap(), seen)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[test]
fn each_relay_and_builder_gets_its_own_request() {
    let mut key = [0u8; 32];
    rand08::RngCore::fill_bytes(&mut rand08::rngs::OsRng, &mut key);
    let auth = xcrack::chain::Wallet::from_secret(key).unwrap();
    let auth_hex = alloy_primitives::hex::encode(key);
    // SAFETY: this test binary has one test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("LIVE_BUILDERS_AUTH", &auth_hex);
        std::env::set_var("LIVE_BUILDERS_BLXR", "account-id:secret-token");
    }
    let (flashbots, fb_seen) = receiver();
    let (titan, titan_seen) = receiver();
    let (bloxroute, blxr_seen) = receiver();
    let builders = vec![
        BuilderSpec { builder: Builder::Titan, url: format!("http://{}", titan.addr()), auth_env: None },
        BuilderSpec {
            builder: Builder::Bloxroute,
            url: format!("http://{}", bloxroute.addr()),
            auth_env: Some("LIVE_BUILDERS_BLXR".into()),
        },
    ];
    let mut relays = xcrack::live::relays::Relays::connect(
        &[format!("http://{}", flashbots.addr())],
        &builders,
        &KeySource::Env("LIVE_BUILDERS_AUTH".into()),
    )
    .unwrap();
    let txs = vec![Bytes::from_static(&[0x02, 0xf8, 0x01]), Bytes::from_static(&[0x02, 0xf8, 0x02])];
    let p = SendBundleParams {
        replacement_uuid: Some("0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001".into()),
        ..SendBundleParams::for_block(txs, 19_000_001)
    };
    assert_eq!(relays.send(&p).unwrap(), B256::repeat_byte(9));
    relays.cancel("0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001").unwrap();
    // Stats are asked of the Flashbots-compatible relay only (builders' own APIs offer none).
    let stats = relays.stats(B256::repeat_byte(9), 19_000_001);
    assert_eq!(stats.len(), 1, "{stats:?}");

    let json = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
    let fb = fb_seen.lock().unwrap().clone();
    let titan = titan_seen.lock().unwrap().clone();
    let blxr = blxr_seen.lock().unwrap().clone();
    assert_eq!((fb.len(), titan.len(), blxr.len()), (3, 2, 2), "a send and a cancel each, and the relay's stats");
    assert_eq!(json(&fb[2].1)["method"], "flashbots_getBundleStatsV2");

    // Flashbots and Titan: eth_sendBundle, signed by the relay-auth key over the bytes received.
    for (name, seen) in [("flashbots", &fb), ("titan", &titan)] {
        let (h, body) = &seen[0];
        let v = json(body);
        assert_eq!(v["method"], "eth_sendBundle", "{name}: {v}");
        assert_eq!(v["params"][0]["blockNumber"], "0x121eac1", "{name}");
        assert_eq!(v["params"][0]["replacementUuid"], "0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001", "{name}");
        let signer = xcrack::relay::auth::verify(header(h, xcrack::relay::auth::HEADER), body).unwrap();
        assert_eq!(signer, auth.address(), "{name}");
        assert_eq!(json(&seen[1].1)["method"], "eth_cancelBundle", "{name}");
    }
    // bloXroute: its own method and field names, hex without 0x, the credential as sent.
    let (h, body) = &blxr[0];
    let v = json(body);
    assert_eq!(v["method"], "blxr_submit_bundle", "{v}");
    assert_eq!(v["params"]["transaction"], serde_json::json!(["02f801", "02f802"]), "{v}");
    assert_eq!(v["params"]["uuid"], "0b7e2b9c-5b0f-4a43-9d55-3f1f5e0a0001");
    assert_eq!(header(h, "authorization"), Some("account-id:secret-token"));
    assert_eq!(header(h, xcrack::relay::auth::HEADER), None, "bloXroute is not sent the Flashbots signature");
    let cancel = json(&blxr[1].1);
    assert_eq!(
        (cancel["method"].as_str(), cancel["params"]["transaction"].clone()),
        (Some("blxr_submit_bundle"), serde_json::json!([]))
    );
}

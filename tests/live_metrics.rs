//! Live mode's `/metrics`, `/health` and alerts, on loopback.
//!
//! - `/metrics` serves the Prometheus text of what the journal of a real run (the sandwich
//!   fixture backtest) holds: events by kind, actions by decision, bundles by status — the same
//!   numbers as the journal — plus the decision-latency histogram, P&L and risk gauges.
//! - `/health` is 200 `ok` while every source speaks, 503 with each reason when one is silent too
//!   long, the breaker is open or we stopped.
//! - Alerts reach a Discord webhook and a Telegram bot (a local HTTP receiver standing in for both)
//!   in each one's JSON, once per condition until it clears; a receiver answering 500 is reported.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use xcrack::live::alerts::{Alert, AlertRules, Alerter, Channels};
use xcrack::live::metrics::{Health, LiveMetrics, serve};
use xcrack::relay::HttpServer;

use common::http_get as get;

fn post(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
    let (status, body) = xcrack::relay::http::post(addr, path, &headers, b"{}", Duration::from_secs(5)).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn metrics_and_health_are_served_from_the_journal() {
    let spec = common::spec("sandwich_fixture.toml", &[]);
    let run = xcrack::engine::sandwich::run(&spec).unwrap();
    let metrics = Arc::new(LiveMetrics::new(Duration::from_secs(30)));
    metrics.sync(&run.journal);
    metrics.sync(&run.journal); // nothing new: counted once
    metrics.observe_decision(Duration::from_micros(180));
    metrics.set_pnl(12.5);
    metrics.set_health(Health { lag_s: vec![("heads".into(), 3.0), ("pending".into(), 0.2)], ..Health::default() });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let control = xcrack::live::metrics::Control { token: "s3cret-token".into(), stop: stop.clone() };
    let mut server = serve(metrics.clone(), "127.0.0.1:0".parse().unwrap(), Some(control)).unwrap();

    let (status, text) = get(server.addr(), "/metrics");
    assert_eq!(status, 200);
    let pending = run.journal.events_seen[2];
    assert!(pending > 0);
    assert!(text.contains(&format!("xcrack_events_total{{kind=\"pending_tx\"}} {pending}")), "{text}");
    let executed =
        run.journal.actions.iter().filter(|a| a.decision == xcrack::engine::journal::Decision::Executed).count();
    assert!(text.contains(&format!("decision=\"executed\"}} {executed}")), "{text}");
    let included = run.journal.bundles.iter().filter(|b| b.status == xcrack::core::BundleStatus::Included).count();
    assert!(
        included > 0 && text.contains(&format!("xcrack_bundles_total{{status=\"included\"}} {included}")),
        "{text}"
    );
    assert!(text.contains("xcrack_decision_latency_seconds_count 1"), "{text}");
    assert!(text.contains("xcrack_pnl_quote 12.5"), "{text}");
    assert!(text.contains("xcrack_source_lag_seconds{source=\"heads\"} 3.0"), "{text}");
    assert!(text.ends_with("# EOF\n"));

    assert_eq!(get(server.addr(), "/health"), (200, r#"{"problems":[],"status":"ok"}"#.into()));
    metrics.set_health(Health { lag_s: vec![("heads".into(), 45.0)], breaker_open: true, stopped: None });
    let (status, body) = get(server.addr(), "/health");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("source heads silent for 45.0 s") && body.contains("circuit breaker"), "{body}");
    assert_eq!(get(server.addr(), "/nope").0, 404);

    // The control endpoint: a stop needs the bearer token.
    assert_eq!(post(server.addr(), "/stop", None).0, 401);
    assert_eq!(post(server.addr(), "/stop", Some("Bearer wrong-token!")).0, 401);
    assert!(!stop.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(post(server.addr(), "/stop", Some("Bearer s3cret-token")).0, 200);
    assert!(stop.load(std::sync::atomic::Ordering::SeqCst), "stop raised");
    server.stop();
}

/// What a receiver got: each request's path and JSON body.
type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A webhook receiver on loopback: every request's path and body, answered with `status`.
fn receiver(status: StatusCode) -> (HttpServer, Received) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let service = move |req: Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let path = req.uri().path().to_string();
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            seen.lock().unwrap().push((path, json));
            let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
            *r.status_mut() = status;
            Ok::<_, Infallible>(r)
        }
    };
    (HttpServer::start("127.0.0.1:0".parse().unwrap(), None, "test-webhooks", service).unwrap(), got)
}

#[test]
fn alerts_reach_discord_and_telegram_once_per_condition() {
    let (hooks, got) = receiver(StatusCode::NO_CONTENT);
    let base = format!("http://{}", hooks.addr());
    let channels = Channels {
        discord: Some(format!("{base}/api/webhooks/123/SECRET")),
        telegram: Some((format!("{base}/botTOKEN"), "-1001".into())),
    };
    let rules = AlertRules { source_silent_after: Duration::from_secs(30), pnl_below: Some(-100.0) };
    let mut alerter = Alerter::new(rules, channels);
    let quiet = Health { lag_s: vec![("heads".into(), 2.0)], ..Health::default() };
    assert!(alerter.check(&quiet, 5.0).is_empty());
    let bad = Health { lag_s: vec![("heads".into(), 40.0)], breaker_open: true, stopped: None };
    let fired = alerter.check(&bad, -150.0);
    assert_eq!(fired.len(), 3, "{fired:?}");
    assert!(fired.contains(&Alert::BreakerOpen));
    assert!(alerter.check(&bad, -150.0).is_empty(), "still true: not again");
    for a in &fired {
        assert!(alerter.send(a).is_empty(), "delivered");
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 6, "three alerts, two channels each");
    let discord: Vec<_> = got.iter().filter(|(p, _)| p == "/api/webhooks/123/SECRET").collect();
    let telegram: Vec<_> = got.iter().filter(|(p, _)| p == "/botTOKEN/sendMessage").collect();
    assert_eq!((discord.len(), telegram.len()), (3, 3));
    assert!(discord.iter().any(|(_, b)| b["content"].as_str().unwrap().contains("circuit breaker")));
    assert!(telegram.iter().all(|(_, b)| b["chat_id"] == "-1001" && b["text"].is_string()));
    assert!(telegram.iter().any(|(_, b)| b["text"].as_str().unwrap().contains("-150.00 is below the limit -100.00")));

    // Cleared, then true again: fires again.
    assert!(alerter.check(&quiet, 5.0).is_empty());
    assert_eq!(alerter.check(&Health { breaker_open: true, ..quiet.clone() }, 5.0), vec![Alert::BreakerOpen]);

    // A receiver that fails is reported per channel, without the token in the message.
    let (broken, _) = receiver(StatusCode::INTERNAL_SERVER_ERROR);
    let mut failing = Alerter::new(
        AlertRules { source_silent_after: Duration::from_secs(30), pnl_below: None },
        Channels { discord: Some(format!("http://{}/api/webhooks/1/SECRET", broken.addr())), telegram: None },
    );
    let failures = failing.send(&Alert::EmergencyStop("operator".into()));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("HTTP 500") && !failures[0].contains("SECRET"), "{failures:?}");
}

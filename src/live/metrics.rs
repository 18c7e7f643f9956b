//! Live mode's metrics and health: counters, gauges and a decision-latency histogram in a
//! prometheus-client registry, served as Prometheus text on `/metrics` beside `/health` (our hyper
//! server, `relay::HttpServer`). The run's journal is the source of the counts: `sync` adds what
//! it gained since the last call (events by kind, actions by decision, bundles by outcome), so the
//! metrics never disagree with the journal a report is built from.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::journal::{Decision, EVENT_KINDS, Journal};
use crate::relay::HttpServer;

type Labels = Vec<(&'static str, String)>;

/// What `/health` says: fine while every source spoke within `max_lag` and nothing stopped us.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// Seconds since each source (heads, pending, relays) last delivered.
    pub lag_s: Vec<(String, f64)>,
    pub breaker_open: bool,
    pub stopped: Option<String>,
}

pub struct LiveMetrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    actions: Family<Labels, Counter>,
    bundles: Family<Labels, Counter>,
    decision_latency: Histogram,
    pnl: Gauge<f64, AtomicU64>,
    breaker: Gauge,
    source_lag: Family<Labels, Gauge<f64, AtomicU64>>,
    pending: Family<Labels, Counter>,
    nonce_next: Gauge,
    /// How much of the journal `sync` has counted.
    synced: Mutex<Synced>,
    health: Mutex<Health>,
    max_lag_s: f64,
}

#[derive(Default)]
struct Synced {
    events: [u64; EVENT_KINDS.len()],
    actions: usize,
    bundles: usize,
}

impl LiveMetrics {
    /// Metrics whose health turns bad when a source has been silent for more than `max_lag`.
    pub fn new(max_lag: Duration) -> Self {
        let mut registry = Registry::with_prefix("xcrack");
        let events = Family::<Labels, Counter>::default();
        registry.register("events", "Events the strategies saw, by kind", events.clone());
        let actions = Family::<Labels, Counter>::default();
        registry.register(
            "actions",
            "Actions the strategies asked for, by strategy, kind and decision",
            actions.clone(),
        );
        let bundles = Family::<Labels, Counter>::default();
        registry.register(
            "bundles",
            "Bundle news by status (submitted, included, not included, failed, ...)",
            bundles.clone(),
        );
        // 10 µs … ~330 ms.
        let decision_latency = Histogram::new(exponential_buckets(1e-5, 2.0, 16));
        registry.register(
            "decision_latency_seconds",
            "Event seen to action decided (strategy, risk gate, simulation)",
            decision_latency.clone(),
        );
        let pnl = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "pnl_quote",
            "Net P&L so far in the quote currency, net of fees, gas and bribes",
            pnl.clone(),
        );
        let breaker = Gauge::default();
        registry.register("risk_breaker_open", "1 while the risk gate's circuit breaker is open", breaker.clone());
        let source_lag = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register("source_lag_seconds", "Seconds since each source last delivered", source_lag.clone());
        let pending = Family::<Labels, Counter>::default();
        registry.register(
            "pending_transactions",
            "Pending transactions by the filter's verdict before any signer recovery",
            pending.clone(),
        );
        let nonce_next = Gauge::default();
        registry.register("nonce_next", "The nonce our next bundle takes (the nonce ledger's)", nonce_next.clone());
        LiveMetrics {
            registry,
            events,
            actions,
            bundles,
            decision_latency,
            pnl,
            breaker,
            source_lag,
            pending,
            nonce_next,
            synced: Mutex::new(Synced::default()),
            health: Mutex::new(Health::default()),
            max_lag_s: max_lag.as_secs_f64(),
        }
    }

    /// Counts what `journal` gained since the last call (a run whose world does not count as it
    /// goes; the live world does, through `record_*`).
    pub fn sync(&self, journal: &Journal) {
        let mut s = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        for (i, kind) in EVENT_KINDS.iter().enumerate() {
            let new = journal.events_seen[i].saturating_sub(s.events[i]);
            if new > 0 {
                self.events.get_or_create(&vec![("kind", kind.to_string())]).inc_by(new);
            }
            s.events[i] = journal.events_seen[i];
        }
        for a in journal.actions.iter().skip(s.actions) {
            self.record_action(a.strategy, a.kind, a.decision);
        }
        s.actions = journal.actions.len();
        for b in journal.bundles.iter().skip(s.bundles) {
            self.record_bundle(b.status);
        }
        s.bundles = journal.bundles.len();
    }

    /// One pending transaction through the filter, by its verdict.
    pub fn record_pending(&self, verdict: &'static str) {
        self.pending.get_or_create(&vec![("verdict", verdict.to_string())]).inc();
    }

    /// The nonce our next bundle takes.
    pub fn set_nonce_next(&self, nonce: u64) {
        self.nonce_next.set(nonce.min(i64::MAX as u64) as i64);
    }

    /// One event the strategies hear.
    pub fn record_event(&self, e: &crate::core::Event) {
        let kind = EVENT_KINDS[crate::engine::journal::event_kind(e)];
        self.events.get_or_create(&vec![("kind", kind.to_string())]).inc();
    }

    /// One action and what became of it.
    pub fn record_action(&self, strategy: u16, kind: &str, decision: Decision) {
        let decision = match decision {
            Decision::Executed => "executed".to_string(),
            Decision::Skipped(r) => format!("skipped:{}", r.as_str()),
            Decision::Refused(r) => format!("refused:{}", r.as_str()),
        };
        let labels = vec![("strategy", strategy.to_string()), ("kind", kind.to_string()), ("decision", decision)];
        self.actions.get_or_create(&labels).inc();
    }

    /// One bundle's news.
    pub fn record_bundle(&self, status: crate::core::BundleStatus) {
        self.bundles.get_or_create(&vec![("status", status.as_str().to_string())]).inc();
    }

    pub fn observe_decision(&self, took: Duration) {
        self.decision_latency.observe(took.as_secs_f64());
    }

    pub fn set_pnl(&self, quote: f64) {
        self.pnl.set(quote);
    }

    /// The state `/health` and the alerts read: each source's lag, the breaker, a stop.
    pub fn set_health(&self, h: Health) {
        self.breaker.set(i64::from(h.breaker_open));
        for (source, lag) in &h.lag_s {
            self.source_lag.get_or_create(&vec![("source", source.clone())]).set(*lag);
        }
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = h;
    }

    pub fn health(&self) -> Health {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `/health`: 200 and `ok`, or 503 and every reason it is not.
    pub fn health_report(&self) -> (bool, serde_json::Value) {
        let h = self.health();
        let mut problems: Vec<String> = h
            .lag_s
            .iter()
            .filter(|(_, lag)| *lag > self.max_lag_s)
            .map(|(s, lag)| format!("source {s} silent for {lag:.1} s (limit {:.1} s)", self.max_lag_s))
            .collect();
        if h.breaker_open {
            problems.push("the risk gate's circuit breaker is open".into());
        }
        if let Some(why) = &h.stopped {
            problems.push(format!("stopped: {why}"));
        }
        let ok = problems.is_empty();
        (ok, serde_json::json!({"status": if ok { "ok" } else { "degraded" }, "problems": problems}))
    }

    /// The registry in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The authenticated control endpoint: `POST /stop` with `Authorization: Bearer <token>` raises
/// `stop` (live mode then stops trading and cancels what is outstanding, as for the stop file).
#[derive(Clone)]
pub struct Control {
    pub token: String,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Control {
    /// Compares the presented token in time independent of where it differs.
    fn allows(&self, header: Option<&hyper::header::HeaderValue>) -> bool {
        let Some(presented) = header.and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let (a, b) = (presented.as_bytes(), self.token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// `/metrics` and `/health` on `addr` until stopped, and `POST /stop` when `control` is given.
pub fn serve(metrics: Arc<LiveMetrics>, addr: SocketAddr, control: Option<Control>) -> std::io::Result<HttpServer> {
    let service = move |req: hyper::Request<hyper::body::Incoming>| {
        let metrics = metrics.clone();
        let control = control.clone();
        async move {
            let reply = |status: StatusCode, kind: &'static str, body: String| {
                let mut r = Response::new(Full::new(Bytes::from(body)));
                *r.status_mut() = status;
                r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(kind));
                r
            };
            Ok::<_, std::convert::Infallible>(match (req.method(), req.uri().path(), control) {
                (&Method::GET, "/metrics", _) => reply(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    metrics.encode(),
                ),
                (&Method::GET, "/health", _) => {
                    let (ok, body) = metrics.health_report();
                    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                    reply(status, "application/json", body.to_string())
                }
                (&Method::POST, "/stop", Some(c)) => {
                    if c.allows(req.headers().get(hyper::header::AUTHORIZATION)) {
                        c.stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        tracing::warn!(target: "xcrack::live", "stop requested on the control endpoint");
                        reply(StatusCode::OK, "application/json", r#"{"stopping":true}"#.into())
                    } else {
                        reply(
                            StatusCode::UNAUTHORIZED,
                            "application/json",
                            r#"{"error":"bad or missing bearer token"}"#.into(),
                        )
                    }
                }
                _ => reply(StatusCode::NOT_FOUND, "text/plain", "GET /metrics or /health; POST /stop\n".into()),
            })
        }
    };
    HttpServer::start(addr, None, "xcrack-metrics", service)
}

//! One summary shape for every strategy, read from any report's `summary.json`: what each
//! strategy made, what that is net of, what it did, and whether the wallet reconciles. The
//! console prints it after every run (with what the journal says each strategy's actions became,
//! and the combined P&L); `xcrack bench --scenarios` tabulates it for every shipped scenario.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::engine::driver::Decision;
use crate::engine::journal::Journal;

pub struct Headline {
    /// The strategy's registration index (the journal's `strategy`).
    pub index: u16,
    pub strategy: String,
    pub net: f64,
    pub currency: String,
    pub net_of: String,
    pub activity: String,
    pub exact: String,
    pub wallet_reconciled: bool,
}

pub fn headlines(s: &Value) -> Vec<Headline> {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let currency = s["pnl"]["currency"].as_str().unwrap_or("").to_string();
    let net_of = s["pnl"]["net_of"].as_str().unwrap_or("").split(" (").next().unwrap_or("");
    let net_of = net_of.strip_prefix("net of ").unwrap_or(net_of).to_string();
    // Every strategy on one wallet: each family's section, in registration order.
    if let Some(sections) = s.get("sections") {
        let mut rows = headlines(&sections["market"]);
        for (key, index) in [("sandwich", crate::sim::all::SANDWICH), ("liquidation", crate::sim::all::LIQUIDATION)] {
            rows.extend(headlines(&sections[key]).into_iter().map(|h| Headline { index, ..h }));
        }
        return rows;
    }
    if s.get("bundles").is_some() {
        let b = &s["bundles"];
        let same = u(&s["pnl"]["predicted_equals_realised"]);
        return vec![Headline {
            index: 0,
            strategy: "sandwich".into(),
            net: f(&s["pnl"]["net"]),
            currency,
            net_of,
            activity: format!("{} of {} bundles included", u(&b["included"]), u(&b["submitted"])),
            exact: format!("{same} of {}", same + u(&s["pnl"]["predicted_differs"])),
            wallet_reconciled: s["wallet"]["matches"].as_bool() == Some(true),
        }];
    }
    if s.get("bundles_included").is_some() {
        let included = u(&s["liquidations_by_outcome"]["included"]);
        return vec![Headline {
            index: 0,
            strategy: "liquidation".into(),
            net: f(&s["pnl"]["net"]),
            currency,
            net_of,
            activity: format!(
                "{included} liquidations in {} of {} bundles",
                u(&s["bundles_included"]),
                u(&s["bundles_submitted"])
            ),
            exact: "simulated to the wei before sending".into(),
            wallet_reconciled: s["wallet_matches"].as_bool() == Some(true),
        }];
    }
    let trades = u(&s["trades"]["count"]);
    let atomic = &s["atomic_arbitrage"];
    let wallet_reconciled = s["chain"]["wallet"]["matches"].as_bool() == Some(true);
    s["strategies"]
        .as_array()
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, x)| x["enabled"].as_bool() == Some(true))
        .map(|(i, x)| {
            let id = x["id"].as_str().unwrap_or("").to_string();
            let exact = if id == "cross_dex" {
                format!("{} of {} atomic", u(&atomic["exact"]), u(&atomic["trades"]))
            } else {
                "— (CEX legs fill at the book)".to_string()
            };
            Headline {
                index: i as u16,
                strategy: id,
                net: f(&x["net_pnl"]),
                currency: currency.clone(),
                net_of: net_of.clone(),
                activity: format!("actions: {} ({trades} trades in the run)", u(&x["actions"])),
                exact,
                wallet_reconciled,
            }
        })
        .collect()
}

/// The console's summary of one run: a row per strategy (net P&L and what it is net of; its
/// actions carried out, skipped and refused by the risk gate, from the journal), the combined P&L,
/// and where the report is.
pub fn console(run: &str, secs: f64, summary: &Value, journal: &Journal, detail: &str, dir: &Path) -> String {
    let rows = headlines(summary);
    let mut out = String::new();
    let span = match secs {
        s if s >= 3600.0 => format!("{:.1} h", s / 3600.0),
        s if s >= 60.0 => format!("{:.0} min", s / 60.0),
        s => format!("{s:.0} s"),
    };
    let _ = writeln!(out, "== {run}: {span} simulated ==");
    let _ = writeln!(
        out,
        "  {:<16} {:>16}  {:>8} {:>8} {:>8} {:>8}  net of",
        "strategy", "net P&L", "actions", "carried", "skipped", "refused"
    );
    for h in &rows {
        let mine = journal.actions.iter().filter(|a| a.strategy == h.index);
        let (mut done, mut skipped, mut refused, mut n) = (0, 0, 0, 0);
        for a in mine {
            n += 1;
            match a.decision {
                Decision::Executed => done += 1,
                Decision::Skipped(_) => skipped += 1,
                Decision::Refused(_) => refused += 1,
            }
        }
        let pnl = format!("{:.2} {}", h.net, h.currency);
        let _ =
            writeln!(out, "  {:<16} {pnl:>16}  {n:>8} {done:>8} {skipped:>8} {refused:>8}  {}", h.strategy, h.net_of);
        let _ = writeln!(out, "  {:<16} {}; {}", "", h.activity, h.exact);
    }
    // The run's own total: every strategy's net P&L adds up to it.
    let total = summary["pnl"]["net"].as_f64().unwrap_or(0.0);
    let currency = summary["pnl"]["currency"].as_str().unwrap_or("");
    let _ = writeln!(out, "  {:<16} {:>16}  (all strategies)", "combined", format!("{total:.2} {currency}"));
    if !detail.is_empty() {
        let _ = writeln!(out, "  {detail}");
    }
    let reconciled = if rows.iter().all(|h| h.wallet_reconciled) { "yes" } else { "NO" };
    let _ = writeln!(out, "  wallet on chain = books: {reconciled}; report in {}", dir.display());
    out
}

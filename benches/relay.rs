//! Relay load over loopback (bounded: 4 clients × 2,500 signed eth_sendBundle requests), without
//! and with 50 idle connections held open. Prints requests/s and latency percentiles; the README's
//! relay table comes from this.

use xcrack::bench::relay_load;

fn main() {
    for idle in [0, 50] {
        let r = relay_load(4, 2_500, idle);
        eprintln!(
            "relay/send_bundle: 4 clients, {idle} idle connections: {:.0} requests/s, p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            r.requests_per_s, r.p50_us, r.p99_us, r.max_us
        );
    }
}

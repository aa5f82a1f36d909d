//! Prometheus metrics of one peer's API, in the text exposition format (version 0.0.4).
//!
//! Hand-written rather than through a global recorder: each router owns its counters, so
//! several peers in one process (tests, `passcom demo`) keep separate numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → latency histogram.
    latency: BTreeMap<String, Histogram>,
    /// reason → refused purchases.
    refused: BTreeMap<String, u64>,
    purchases_confirmed: u64,
}

/// Counters and histograms of one API instance.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Gauges read from the node (and the accounts database) at scrape time.
#[derive(Debug, Default)]
pub struct NodeGauges {
    /// Live tickets sold by this peer.
    pub tickets_sold: u64,
    /// Tickets sold by this peer then cancelled.
    pub tickets_cancelled: u64,
    /// Tickets known from every seller.
    pub tickets_known: u64,
    /// Open carts.
    pub holds: u64,
    /// Hand-overs granted and not yet taken.
    pub outbox: u64,
    /// Purchases waiting for seats.
    pub pending: u64,
    /// Reachable peers.
    pub reachable: u64,
    /// Sum of the vector clock: events applied.
    pub events_applied: u64,
    /// Traveler sessions stored, lapsed ones not yet purged included.
    pub sessions_stored: u64,
}

impl Metrics {
    /// Records one served request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let h = m.latency.entry(route.to_owned()).or_default();
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// Records a purchase outcome: confirmed, or refused for `reason`.
    pub fn observe_purchase(&self, refused: Option<&str>) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match refused {
            None => m.purchases_confirmed += 1,
            Some(r) => *m.refused.entry(r.to_owned()).or_default() += 1,
        }
    }

    /// The exposition text, with the node's gauges.
    pub fn render(&self, g: &NodeGauges) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "passcom_tickets_sold",
            "Live tickets sold by this peer.",
            g.tickets_sold,
        );
        gauge(
            "passcom_tickets_cancelled",
            "Tickets sold by this peer and cancelled.",
            g.tickets_cancelled,
        );
        gauge(
            "passcom_tickets_known",
            "Tickets of every seller known to this peer.",
            g.tickets_known,
        );
        gauge("passcom_holds_open", "Carts holding seats.", g.holds);
        gauge(
            "passcom_handovers_pending",
            "Seat hand-overs granted and not yet taken.",
            g.outbox,
        );
        gauge(
            "passcom_purchases_pending",
            "Purchases waiting for seats from other peers.",
            g.pending,
        );
        gauge(
            "passcom_peers_reachable",
            "Peers this one can reach.",
            g.reachable,
        );
        gauge(
            "passcom_events_applied",
            "Events applied, summed over origins.",
            g.events_applied,
        );
        gauge(
            "passcom_sessions_stored",
            "Traveler sessions stored (lapsed ones are purged when presented and at login).",
            g.sessions_stored,
        );

        let _ = writeln!(
            out,
            "# HELP passcom_purchases_confirmed_total Purchases answered with a ticket through this API."
        );
        let _ = writeln!(out, "# TYPE passcom_purchases_confirmed_total counter");
        let _ = writeln!(
            out,
            "passcom_purchases_confirmed_total {}",
            m.purchases_confirmed
        );
        let _ = writeln!(
            out,
            "# HELP passcom_purchases_refused_total Purchases refused, by reason."
        );
        let _ = writeln!(out, "# TYPE passcom_purchases_refused_total counter");
        for (reason, n) in &m.refused {
            let _ = writeln!(
                out,
                "passcom_purchases_refused_total{{reason=\"{}\"}} {n}",
                esc(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP passcom_http_requests_total HTTP requests served."
        );
        let _ = writeln!(out, "# TYPE passcom_http_requests_total counter");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "passcom_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(method),
                esc(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP passcom_http_request_duration_seconds Time to answer HTTP requests."
        );
        let _ = writeln!(
            out,
            "# TYPE passcom_http_request_duration_seconds histogram"
        );
        for (route, h) in &m.latency {
            let r = esc(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "passcom_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "passcom_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "passcom_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "passcom_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", "/api/routes", 200, Duration::from_millis(3));
        m.observe_request("GET", "/api/routes", 404, Duration::from_millis(30));
        m.observe_purchase(Some("sold_out"));
        m.observe_purchase(None);
        let text = m.render(&NodeGauges {
            tickets_sold: 7,
            ..Default::default()
        });
        assert!(text.contains("passcom_tickets_sold 7"));
        assert!(text.contains("passcom_purchases_refused_total{reason=\"sold_out\"} 1"));
        assert!(text.contains("status=\"404\"} 1"));
        assert!(text.contains("route=\"/api/routes\",le=\"0.005\"} 1"));
        assert!(text.contains("route=\"/api/routes\",le=\"0.05\"} 2"));
        assert!(
            text.contains("passcom_http_request_duration_seconds_count{route=\"/api/routes\"} 2")
        );
    }
}

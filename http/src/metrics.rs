//! Prometheus metrics of one peer, through `prometheus-client`, in the OpenMetrics text format.
//!
//! Two registries make one exposition: the API's own ([`Metrics`], one per router: requests,
//! latency, purchases, and gauges read from the node at scrape time) and the peer's libp2p
//! registry (connections, bandwidth, identify, gossipsub mesh and scores), which the network
//! layer owns. Neither is global, so several peers in one process (tests, `passcom demo`) keep
//! separate numbers.

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Labels as (name, value) pairs, in the order they are printed.
type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Counters, histograms and gauges of one API instance, in a registry of its own.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    refused: Family<Labels, Counter>,
    confirmed: Counter,
    gauges: Gauges,
}

/// The gauges set from [`NodeGauges`] at each scrape.
#[derive(Default)]
struct Gauges {
    tickets_sold: Gauge,
    tickets_cancelled: Gauge,
    tickets_known: Gauge,
    holds: Gauge,
    outbox: Gauge,
    pending: Gauge,
    reachable: Gauge,
    events_applied: Gauge,
    sessions_stored: Gauge,
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, every name under `passcom_`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let latency: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let refused = Family::<Labels, Counter>::default();
        let confirmed = Counter::default();
        let gauges = Gauges::default();
        let r = registry.sub_registry_with_prefix("passcom");
        let g = &gauges;
        for (name, help, gauge) in [
            (
                "tickets_sold",
                "Live tickets sold by this peer",
                &g.tickets_sold,
            ),
            (
                "tickets_cancelled",
                "Tickets sold by this peer and cancelled",
                &g.tickets_cancelled,
            ),
            (
                "tickets_known",
                "Tickets of every seller known to this peer",
                &g.tickets_known,
            ),
            ("holds_open", "Carts holding seats", &g.holds),
            (
                "handovers_pending",
                "Seat hand-overs granted and not yet taken",
                &g.outbox,
            ),
            (
                "purchases_pending",
                "Purchases waiting for seats from other peers",
                &g.pending,
            ),
            ("peers_reachable", "Peers this one can reach", &g.reachable),
            (
                "events_applied",
                "Events applied, summed over origins",
                &g.events_applied,
            ),
            (
                "sessions_stored",
                "Traveler sessions stored (lapsed ones are purged when presented and at login)",
                &g.sessions_stored,
            ),
        ] {
            // Gauges share their value through an Arc: the clone registered is the one set.
            r.register(name, help, gauge.clone());
        }
        r.register(
            "purchases_confirmed",
            "Purchases answered with a ticket through this API",
            confirmed.clone(),
        );
        r.register(
            "purchases_refused",
            "Purchases refused, by reason",
            refused.clone(),
        );
        r.register("http_requests", "HTTP requests served", requests.clone());
        r.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            refused,
            confirmed,
            gauges,
        }
    }

    /// Records one served request; `route` is the route template, never the raw path (which
    /// would let clients create unbounded label sets).
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(took.as_secs_f64());
    }

    /// Records a purchase outcome: confirmed, or refused for `reason`.
    pub fn observe_purchase(&self, refused: Option<&str>) {
        match refused {
            None => {
                self.confirmed.inc();
            }
            Some(r) => {
                self.refused
                    .get_or_create(&vec![("reason", r.to_owned())])
                    .inc();
            }
        }
    }

    /// The exposition text: this API's metrics with the node's gauges `g`, then `libp2p`'s
    /// (the peer's registry), if any.
    pub fn render(&self, g: &NodeGauges, libp2p: Option<&Registry>) -> String {
        let set = |gauge: &Gauge, v: u64| {
            gauge.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        let gs = &self.gauges;
        set(&gs.tickets_sold, g.tickets_sold);
        set(&gs.tickets_cancelled, g.tickets_cancelled);
        set(&gs.tickets_known, g.tickets_known);
        set(&gs.holds, g.holds);
        set(&gs.outbox, g.outbox);
        set(&gs.pending, g.pending);
        set(&gs.reachable, g.reachable);
        set(&gs.events_applied, g.events_applied);
        set(&gs.sessions_stored, g.sessions_stored);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        if let Some(r) = libp2p {
            let _ = encode_registry(&mut out, r);
        }
        let _ = encode_eof(&mut out);
        out
    }
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
        let text = m.render(
            &NodeGauges {
                tickets_sold: 7,
                ..Default::default()
            },
            None,
        );
        assert!(text.contains("passcom_tickets_sold 7"), "{text}");
        assert!(
            text.contains("passcom_purchases_confirmed_total 1"),
            "{text}"
        );
        assert!(text.contains("passcom_purchases_refused_total{reason=\"sold_out\"} 1"));
        assert!(text.contains("status=\"404\"} 1"));
        assert!(
            text.contains("{le=\"0.005\",route=\"/api/routes\"} 1"),
            "{text}"
        );
        assert!(text.contains("{le=\"0.05\",route=\"/api/routes\"} 2"));
        assert!(
            text.contains("passcom_http_request_duration_seconds_count{route=\"/api/routes\"} 2")
        );
        assert!(text.contains("# HELP passcom_tickets_sold Live tickets sold by this peer.\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn two_instances_keep_their_own_numbers() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.observe_purchase(None);
        a.observe_purchase(None);
        let g = NodeGauges::default();
        assert!(
            a.render(&g, None)
                .contains("passcom_purchases_confirmed_total 2")
        );
        assert!(
            b.render(&g, None)
                .contains("passcom_purchases_confirmed_total 0")
        );
    }
}

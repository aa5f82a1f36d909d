//! How answers are printed: the API's JSON under `--json`, readable tables otherwise.

use super::Conn;
use passcom_http::admin::StatusDto;
use passcom_http::api::dto::{RoutesDto, TicketDto};
use serde::Serialize;

pub(super) fn out(conn: &Conn, v: &impl Serialize, text: impl FnOnce() -> String) {
    let text = if conn.json {
        serde_json::to_string_pretty(v).unwrap_or_default()
    } else {
        text()
    };
    // A closed pipe (`passcom tickets | head`) is not an error worth a panic.
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

pub(super) fn money(cents: u64) -> String {
    format!("R$ {}.{:02}", cents / 100, cents % 100)
}

/// Lays out rows under headers, each column as wide as its widest cell.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut s = line(&head);
    for r in rows {
        s.push('\n');
        s.push_str(&line(r));
    }
    s
}

/// A local time from the API (`2026-12-01T07:00-04:00`) as `2026-12-01 07:00 -04:00`: the
/// wall-clock time a traveler reads at the airport, and its offset from UTC.
pub(super) fn local_time(s: &str) -> String {
    match s.get(..16) {
        Some(clock) if s.len() > 16 => format!("{} {}", clock.replacen('T', " ", 1), &s[16..]),
        _ => s.to_owned(),
    }
}

/// An optional field of a ticket's leg (absent once the flight left the catalog) as text.
pub(super) fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

pub(super) fn ticket_legs_table(t: &TicketDto) -> String {
    let rows: Vec<Vec<String>> = t
        .legs
        .iter()
        .map(|l| {
            vec![
                format!("  {}", l.flight),
                or_dash(&l.airline),
                format!("{}→{}", or_dash(&l.origin), or_dash(&l.destination)),
                l.departure_local
                    .as_deref()
                    .map(local_time)
                    .unwrap_or_else(|| "-".into()),
                l.seat.clone(),
                money(l.fare_cents),
            ]
        })
        .collect();
    table(
        &[
            "  flight",
            "airline",
            "route",
            "departs (local)",
            "seat",
            "fare",
        ],
        &rows,
    )
}

pub(super) fn routes_text(r: &RoutesDto) -> String {
    let head = format!("{} → {} on {} by {}", r.from, r.to, r.date, r.sort);
    if r.itineraries.is_empty() {
        return format!("{head}: no itinerary; try another --date or more --max-legs");
    }
    let mut rows = Vec::new();
    for (i, it) in r.itineraries.iter().enumerate() {
        for (j, l) in it.legs.iter().enumerate() {
            let dur = it.duration_ms / 60_000;
            // The itinerary's number, price and duration on its first leg's line only.
            let first = |s: String| if j == 0 { s } else { String::new() };
            rows.push(vec![
                first(format!("{}", i + 1)),
                first(money(it.price_cents)),
                first(format!("{}h{:02}", dur / 60, dur % 60)),
                l.flight.clone(),
                l.airline.clone(),
                format!("{}→{}", l.origin, l.destination),
                local_time(&l.departure_local),
                local_time(&l.arrival_local)
                    .get(11..)
                    .unwrap_or("")
                    .to_owned(),
                format!("{}+{}", l.seats.here, l.seats.partners),
            ]);
        }
    }
    format!(
        "{head}\n{}\n(times are local at each airport, with their UTC offset; seats: sellable here + at partners)",
        table(
            &[
                "#", "price", "time", "flight", "airline", "route", "departs", "arrives", "seats"
            ],
            &rows
        )
    )
}

pub(super) fn partition_line(st: &StatusDto) -> String {
    let connected: Vec<&str> = st
        .connected
        .iter()
        .map(|c| c.airline.as_deref().unwrap_or("subscriber"))
        .collect();
    let cut = if st.cut_off_from_all {
        "everyone".to_owned()
    } else if st.partitioned.is_empty() {
        "nobody".to_owned()
    } else {
        st.partitioned.join(", ")
    };
    format!(
        "{}: partitioned from {cut}; connected to {}",
        st.airline,
        if connected.is_empty() {
            "nobody".to_owned()
        } else {
            connected.join(", ")
        }
    )
}

pub(super) fn status_text(st: &StatusDto) -> String {
    let mut s = format!("airline   {}\npeer id   {}\n", st.airline, st.peer_id);
    s.push_str(&format!(
        "network   {}\n",
        partition_line(st)
            .split_once(": ")
            .map(|x| x.1)
            .unwrap_or("")
    ));
    if !st.hung_up.is_empty() {
        // Kept out by `passcom hangup` until a dial or heal names them.
        let out: Vec<String> = st
            .hung_up
            .iter()
            .map(|c| format!("{} ({})", c.airline.as_deref().unwrap_or("?"), c.peer_id))
            .collect();
        s.push_str(&format!("hung up   {}\n", out.join(", ")));
    }
    let airlines: Vec<&str> = st.roster.keys().map(String::as_str).collect();
    s.push_str(&format!(
        "roster    {}: {}\n",
        if st.roster_closed {
            "closed"
        } else {
            "open (first key heard wins)"
        },
        airlines.join(", ")
    ));
    let clock: Vec<String> = st.clock.iter().map(|(k, n)| format!("{k}={n}")).collect();
    s.push_str(&format!("clock     {}\n", clock.join(" ")));
    s.push_str(&format!(
        "holds {} · pending purchases {} · tickets known {} · hand-overs pending {}\n\n",
        st.holds,
        st.pending_purchases,
        st.tickets_known,
        st.handovers.len()
    ));
    let rows: Vec<Vec<String>> = st
        .pools
        .iter()
        .map(|p| {
            let n = &p.seats;
            vec![
                p.flight.clone(),
                format!("{}→{}", p.origin, p.destination),
                p.departure_utc.replace('T', " "),
                n.here.to_string(),
                n.partners.to_string(),
                n.moving.to_string(),
                n.held.to_string(),
                n.sold.to_string(),
            ]
        })
        .collect();
    s.push_str("escrow pools of the next flights:\n");
    s.push_str(&table(
        &[
            "flight",
            "route",
            "departs (UTC)",
            "here",
            "partners",
            "moving",
            "held",
            "sold",
        ],
        &rows,
    ));
    s
}

//! Calendar dates and instants as the API and the CLI write them: `YYYY-MM-DD` days and
//! `YYYY-MM-DDTHH:MM[:SS][Z]` UTC instants, converted to and from ms since the Unix epoch
//! (small enough for hand-written code), and the same instants in an airport's local time,
//! `YYYY-MM-DDTHH:MM-04:00`, through `jiff` and its bundled copy of the tz database (time
//! zones are not: Brazil's offsets changed as recently as 2019, and airlines outside Brazil
//! would bring summer time).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use passcom_crdt::Millis;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Midnight UTC of a `YYYY-MM-DD` date, in ms since the epoch.
///
/// Errors: a message naming the expected format when `s` is not a real date.
pub fn parse_date(s: &str) -> Result<Millis, String> {
    let bad = || format!("{s:?} is not a date; write it as YYYY-MM-DD, for example 2026-12-01");
    let parts: Vec<&str> = s.trim().split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * DAY_MS)
}

/// An instant written `YYYY-MM-DDTHH:MM`, with optional `:SS` and a trailing `Z` (always
/// UTC), or a plain integer of ms since the epoch.
///
/// Errors: a message naming the expected format.
pub fn parse_instant(s: &str) -> Result<Millis, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || {
        format!(
            "{s:?} is not a time; write it as YYYY-MM-DDTHH:MM in UTC, for example 2026-12-01T14:30"
        )
    };
    let (date, time) = s.split_once(['T', ' ']).ok_or_else(bad)?;
    let day = parse_date(date).map_err(|_| bad())?;
    let time = time.strip_suffix('Z').unwrap_or(time);
    let parts: Vec<&str> = time.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<i64>().map_err(|_| bad());
    let (h, m) = (num(parts[0])?, num(parts[1])?);
    let sec = if parts.len() == 3 { num(parts[2])? } else { 0 };
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(day + ((h * 60 + m) * 60 + sec) * 1000)
}

/// The UTC date of an instant, `YYYY-MM-DD`.
pub fn format_date(at: Millis) -> String {
    passcom_node::demo::utc_date(at)
}

/// The UTC instant as `YYYY-MM-DDTHH:MMZ` (minutes are the schedule's resolution).
pub fn format_instant(at: Millis) -> String {
    let in_day = at.rem_euclid(DAY_MS) / 60_000;
    format!("{}T{:02}:{:02}Z", format_date(at), in_day / 60, in_day % 60)
}

/// The time zone named `name` (IANA, such as `America/Manaus`), or UTC when the name is empty
/// or unknown to the bundled tz database: a catalog without zones still shows every time,
/// in UTC, rather than failing.
pub fn zone(name: &str) -> TimeZone {
    if name.is_empty() {
        return TimeZone::UTC;
    }
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// The name of a zone as the API reports it: its IANA name, `UTC` for the fallback.
pub fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("UTC").to_owned()
}

/// The instant `at` as local time in `tz`: `YYYY-MM-DDTHH:MM±HH:MM` (RFC 3339 to the minute,
/// with the offset in force then), so the wall-clock time and the instant are both readable.
pub fn format_local(at: Millis, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(at) {
        Ok(ts) => ts
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%dT%H:%M%:z")
            .to_string(),
        // Outside jiff's range (years beyond ±9999): no flight is there; say it in UTC.
        Err(_) => format_instant(at),
    }
}

/// The local day `date` (midnight UTC of a `YYYY-MM-DD`, as [`parse_date`] gives it) in
/// `tz`: its first instant and the first instant of the next local day, ms since the epoch.
pub fn local_day(date: Millis, tz: &TimeZone) -> (Millis, Millis) {
    let bounds = || -> Result<(Millis, Millis), jiff::Error> {
        let day = Timestamp::from_millisecond(date)?
            .to_zoned_datetime(TimeZone::UTC)
            .date();
        let start = day.to_zoned_datetime(tz.clone())?.timestamp();
        let end = day.tomorrow()?.to_zoned_datetime(tz.clone())?.timestamp();
        Ok((start.as_millisecond(), end.as_millisecond()))
    };
    bounds().unwrap_or((date, date + DAY_MS))
}

/// Today's date in `tz` at the instant `now`, as midnight UTC of that date (the form
/// [`parse_date`] gives, so the two compare).
pub fn local_today(now: Millis, tz: &TimeZone) -> Millis {
    match Timestamp::from_millisecond(now) {
        Ok(ts) => {
            let d = ts.to_zoned_datetime(tz.clone()).date();
            days_from_civil(d.year().into(), d.month().into(), d.day().into()) * DAY_MS
        }
        Err(_) => now.div_euclid(DAY_MS) * DAY_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_follow_the_airports_zone() {
        // 2026-12-01 11:00 UTC is 07:00 in Manaus (UTC-4), 08:00 in São Paulo (UTC-3, no
        // summer time since 2019), 06:00 in Rio Branco (UTC-5).
        let t = parse_instant("2026-12-01T11:00Z").unwrap();
        assert_eq!(
            format_local(t, &zone("America/Manaus")),
            "2026-12-01T07:00-04:00"
        );
        assert_eq!(
            format_local(t, &zone("America/Sao_Paulo")),
            "2026-12-01T08:00-03:00"
        );
        assert_eq!(
            format_local(t, &zone("America/Rio_Branco")),
            "2026-12-01T06:00-05:00"
        );
        // São Paulo still had summer time in December 2018 (UTC-2).
        let old = parse_instant("2018-12-01T11:00Z").unwrap();
        assert_eq!(
            format_local(old, &zone("America/Sao_Paulo")),
            "2018-12-01T09:00-02:00"
        );
        // No zone, or an unknown one: UTC, said as such.
        assert_eq!(format_local(t, &zone("")), "2026-12-01T11:00+00:00");
        assert_eq!(zone_name(&zone("Mars/Olympus")), "UTC");
        assert_eq!(zone_name(&zone("America/Manaus")), "America/Manaus");
    }

    #[test]
    fn a_local_day_runs_from_local_midnight_to_local_midnight() {
        let day = parse_date("2026-12-01").unwrap();
        let (start, end) = local_day(day, &zone("America/Manaus"));
        assert_eq!(format_instant(start), "2026-12-01T04:00Z");
        assert_eq!(format_instant(end), "2026-12-02T04:00Z");
        // At 02:00 UTC on the 2nd it is still the 1st in Manaus.
        let now = parse_instant("2026-12-02T02:00Z").unwrap();
        assert_eq!(local_today(now, &zone("America/Manaus")), day);
        assert_eq!(local_today(now, &TimeZone::UTC), day + DAY_MS);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2026-12-01"), Ok(1_796_083_200_000));
        assert_eq!(
            parse_date("2000-02-29").map(format_date),
            Ok("2000-02-29".into())
        );
        assert!(parse_date("2001-02-29").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("26-12-01").is_err());
        assert!(parse_date("tomorrow").is_err());
        let t = parse_instant("2026-12-01T14:30Z").unwrap();
        assert_eq!(format_instant(t), "2026-12-01T14:30Z");
        assert_eq!(parse_instant("2026-12-01 14:30:15").unwrap(), t + 15_000);
        assert_eq!(parse_instant("1234").unwrap(), 1234);
        assert!(parse_instant("2026-12-01T25:00").is_err());
    }
}

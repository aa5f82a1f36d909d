//! Calendar dates and instants as the API and the CLI write them: `YYYY-MM-DD` days and
//! `YYYY-MM-DDTHH:MM[:SS][Z]` UTC instants, converted to and from ms since the Unix epoch.
//! (Small enough not to warrant a date-time crate.)

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

#[cfg(test)]
mod tests {
    use super::*;

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

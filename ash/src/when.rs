//! Points in time as people type them: RFC 3339 (`2026-11-21T09:00:00Z`) or an age relative
//! to now (`90s`, `15m`, `2h`, `7d`, `1w`).

use chrono::{DateTime, Duration, Utc};

/// Parses `text` as a time, relative ages counted back from `now`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let bad = || {
        format!("'{text}' is neither an RFC 3339 time (2026-11-21T09:00:00Z) nor an age like 90s, 15m, 2h, 7d or 1w")
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    now.checked_sub_signed(age).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn reads_rfc3339_with_any_offset() {
        assert_eq!(parse("2026-11-21T13:00:00+01:00", now()).unwrap(), now());
    }

    #[test]
    fn reads_ages_back_from_now() {
        assert_eq!(parse("2h", now()).unwrap(), now() - Duration::hours(2));
        assert_eq!(parse("90s", now()).unwrap(), now() - Duration::seconds(90));
        assert_eq!(parse("1w", now()).unwrap(), now() - Duration::days(7));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "h",
            "2",
            "2y",
            "-2h",
            "yesterday",
            "99999999999999999999d",
        ] {
            assert!(parse(bad, now()).is_err(), "{bad}");
        }
    }
}

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

/// A length of time as people type it: `90s`, `15m`, `2h`, `7d`, `1w`; in seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a length of time like 90s, 15m, 2h, 7d or 1w");
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_secs).filter(|s| *s > 0).ok_or_else(bad)
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
    fn lengths_of_time() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("soon").is_err());
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

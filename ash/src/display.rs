//! Text for people: neutralised agent-supplied strings, durations, times and table cells.

use chrono::{DateTime, Local, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Makes text safe to print on a terminal: every invisible, format, separator, tag, control
/// or unassigned character (by Unicode category, see `agentd_proto::text`) is shown as a `\u{..}`
/// escape instead of being obeyed or dropped, so agent text cannot move the cursor, recolour
/// the screen, reorder what the operator reads or hide part of itself. Newlines are kept.
pub fn clean(text: &str) -> String {
    agentd_proto::text::escape_hidden(text, true).0
}

/// Whether `clean` would change `text`: the views say so when it does.
pub fn has_hidden(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && agentd_proto::text::is_hidden(c))
}

/// Like `clean`, and on one line: newlines become `\n`.
pub fn one_line(text: &str) -> String {
    clean(text).replace('\n', "\\n")
}

/// How many terminal columns `text` takes: a CJK character or an emoji takes two.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// The tool, with its subject type when it is not a plain tool call.
pub fn tool_cell(v: &agentd_proto::RequestView) -> String {
    match v.subject {
        agentd_proto::SubjectType::Tool => one_line(&v.tool),
        subject => format!("{} ({subject})", one_line(&v.tool)),
    }
}

/// Cuts `text` to at most `width` terminal columns, ending in `…` when cut.
/// `text` cut to `width` columns when the table goes to a terminal (`width` is the terminal's
/// width, `Some`), whole when it goes to a pipe or a file: a script reading the table gets
/// every character.
pub fn fit(text: &str, max: usize, terminal: Option<usize>) -> String {
    match terminal {
        Some(_) => ellipsize(text, max),
        None => text.to_string(),
    }
}

pub fn ellipsize(text: &str, width: usize) -> String {
    if self::width(text) <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` padded with spaces to `width` terminal columns.
pub fn pad(text: &str, width: usize) -> String {
    let short = width.saturating_sub(self::width(text));
    format!("{text}{}", " ".repeat(short))
}

/// The clock times are shown on: the machine's local time, or UTC (for screens that must
/// read the same on every machine, such as the queue's snapshot tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Zone {
    #[default]
    Local,
    Utc,
}

impl Zone {
    /// `t` as `13:48:58` on this clock.
    pub fn hms(self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Local => t.with_timezone(&Local).format("%H:%M:%S").to_string(),
            Zone::Utc => t.format("%H:%M:%S").to_string(),
        }
    }
}

/// Time left until `deadline`, compact: `4m12s`, `12s`, `1h02m`, or `expired`.
pub fn remaining(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (deadline - now).num_milliseconds();
    if secs <= 0 {
        return "expired".into();
    }
    // Round up, so a request with 0.4 s left still shows 1s rather than 0s.
    compact_secs((secs + 999) / 1000)
}

/// A duration in whole seconds, compact: `45s`, `4m12s`, `1h02m`, `2d03h`.
pub fn compact_secs(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A creation time for a table: `13:48:58` today, `11-20 13:48` before.
pub fn clock(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local);
    if local.date_naive() == now.with_timezone(&Local).date_naive() {
        local.format("%H:%M:%S").to_string()
    } else {
        local.format("%m-%d %H:%M").to_string()
    }
}

/// RFC 3339 with second precision and `Z`, for people and JSON alike.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(clean("a\u{1b}[2Jb\r\u{7}"), "a\\u{1b}[2Jb\\u{d}\\u{7}");
        assert_eq!(one_line("a\nb"), "a\\nb");
    }

    #[test]
    fn bidi_overrides_and_zero_width_characters_are_shown() {
        assert_eq!(clean("rm \u{202E}fdp.exe"), "rm \\u{202e}fdp.exe");
        assert_eq!(clean("a\u{200B}b\u{2066}c"), "a\\u{200b}b\\u{2066}c");
        assert_eq!(clean("é ü 日本"), "é ü 日本");
    }

    #[test]
    fn every_hidden_character_is_escaped_by_category() {
        assert_eq!(clean("git\u{200b}status"), "git\\u{200b}status");
        for c in [
            '\u{AD}',
            '\u{34F}',
            '\u{115F}',
            '\u{180E}',
            '\u{2028}',
            '\u{206A}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{FE0F}',
            '\u{E0041}',
        ] {
            let shown = clean(&format!("a{c}b"));
            assert_eq!(shown, format!("a\\u{{{:x}}}b", c as u32));
            assert!(has_hidden(&format!("a{c}b")));
        }
        assert!(!has_hidden("plain\ntext"));
    }

    #[test]
    fn ellipsis_keeps_the_width() {
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abc", 4), "abc");
        assert_eq!(ellipsize("äöüß", 3), "äö…");
    }

    #[test]
    fn remaining_time_is_compact_and_rounds_up() {
        let now = Utc::now();
        assert_eq!(remaining(now + Duration::seconds(252), now), "4m12s");
        assert_eq!(remaining(now + Duration::milliseconds(400), now), "1s");
        assert_eq!(remaining(now + Duration::seconds(3720), now), "1h02m");
        assert_eq!(remaining(now - Duration::seconds(1), now), "expired");
        assert_eq!(compact_secs(2 * 86_400 + 3 * 3600), "2d03h");
    }
}

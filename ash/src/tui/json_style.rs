//! Syntax colouring for pretty-printed JSON: keys, strings, numbers and literals each get a
//! colour. serde_json escapes control characters but not invisible or format ones (zero-width
//! spaces, bidi controls, tags), which a terminal would drop or obey: those are escaped here,
//! as every other view escapes them.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

const KEY: Color = Color::Cyan;
const STRING: Color = Color::Green;
const NUMBER: Color = Color::Magenta;
const LITERAL: Color = Color::Yellow;

/// Pretty-prints `json_text` (falling back to the text itself) as coloured lines.
pub fn lines(json_text: &str) -> Vec<Line<'static>> {
    let pretty = serde_json::from_str::<serde_json::Value>(json_text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json_text.to_string());
    crate::display::clean(&pretty).lines().map(line).collect()
}

fn line(text: &str) -> Line<'static> {
    let mut spans = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut plain = String::new();
    let flush = |plain: &mut String, spans: &mut Vec<Span<'static>>| {
        if !plain.is_empty() {
            spans.push(Span::raw(std::mem::take(plain)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            flush(&mut plain, &mut spans);
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            let s: String = chars[start..i].iter().collect();
            let is_key = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            spans.push(Span::styled(
                s,
                Style::new().fg(if is_key { KEY } else { STRING }),
            ));
        } else if c == '-' || c.is_ascii_digit() {
            flush(&mut plain, &mut spans);
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "+-.".contains(chars[i]))
            {
                i += 1;
            }
            spans.push(Span::styled(
                chars[start..i].iter().collect::<String>(),
                Style::new().fg(NUMBER),
            ));
        } else if let Some(word) = ["true", "false", "null"]
            .into_iter()
            .find(|w| chars[i..].iter().take(w.len()).copied().eq(w.chars()))
        {
            flush(&mut plain, &mut spans);
            spans.push(Span::styled(word, Style::new().fg(LITERAL)));
            i += word.len();
        } else {
            plain.push(c);
            i += 1;
        }
    }
    flush(&mut plain, &mut spans);
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours(line: &Line<'_>) -> Vec<(String, Option<Color>)> {
        line.spans
            .iter()
            .map(|s| (s.content.to_string(), s.style.fg))
            .collect()
    }

    #[test]
    fn keys_strings_numbers_and_literals_get_their_colours() {
        let lines = lines(r#"{"cmd":"rm -rf /","n":-1.5e3,"ok":true,"x":null}"#);
        assert_eq!(lines.len(), 6);
        assert_eq!(
            colours(&lines[1]),
            vec![
                ("  ".into(), None),
                ("\"cmd\"".into(), Some(KEY)),
                (": ".into(), None),
                ("\"rm -rf /\"".into(), Some(STRING)),
                (",".into(), None),
            ]
        );
        assert_eq!(colours(&lines[2])[3], ("-1500.0".into(), Some(NUMBER)));
        assert_eq!(colours(&lines[3])[3], ("true".into(), Some(LITERAL)));
        assert_eq!(colours(&lines[4])[3], ("null".into(), Some(LITERAL)));
    }

    #[test]
    fn escaped_quotes_stay_inside_their_string() {
        let lines = lines(r#"{"a":"say \"hi\": now"}"#);
        let c = colours(&lines[1]);
        assert_eq!(c[3], (r#""say \"hi\": now""#.into(), Some(STRING)));
    }

    #[test]
    fn escape_sequences_arrive_escaped() {
        let lines = lines("{\"a\":\"\\u001b[2J\"}");
        let text: String = lines[1]
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("\\u001b[2J"), "{text:?}");
    }
}

//! Tables for people: every column sized to its content except the last, which gets what the
//! terminal has left and is cut with an ellipsis (or left out when too little is left).
//! Widths are terminal columns, so wide characters (CJK, emoji) keep the columns aligned.

use crate::display::{ellipsize, pad, width as display_width};

/// Below this many columns the last column is left out rather than shown as a stub.
const MIN_LAST: usize = 6;
const GAP: &str = "  ";

/// The width to fit: `$COLUMNS`, else the terminal's, else none (output is not a terminal).
pub fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        return Some(cols);
    }
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        crossterm::terminal::size().ok().map(|(w, _)| w as usize)
    } else {
        None
    }
}

/// Renders `headers` and `rows` (each as long as `headers`); `width` limits each line.
pub fn render(headers: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let fixed_cols = headers.len().saturating_sub(1);
    let widths: Vec<usize> = (0..fixed_cols)
        .map(|i| {
            rows.iter()
                .map(|r| display_width(&r[i]))
                .chain([display_width(headers[i])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fixed: usize = widths.iter().map(|w| w + GAP.len()).sum();
    let last_width = match width {
        None => Some(usize::MAX),
        Some(total) => total.checked_sub(fixed).filter(|w| *w >= MIN_LAST),
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            line.push_str(&pad(cell, *w));
            line.push_str(GAP);
        }
        if let (Some(lw), Some(last)) = (last_width, row.get(fixed_cols)) {
            line.push_str(&ellipsize(last, lw));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec!["a".into(), "long value".into(), "x".repeat(50)],
            vec!["bbbb".into(), "v".into(), "short".into()],
        ]
    }

    #[test]
    fn columns_line_up_and_the_last_is_cut_to_fit() {
        let out = render(&["ONE", "TWO", "LAST"], &rows(), Some(30));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "ONE   TWO         LAST");
        assert!(lines[1].starts_with("a     long value  xxxx"));
        assert!(lines[1].ends_with('…'));
        assert_eq!(lines[1].chars().count(), 30);
        assert_eq!(lines[2], "bbbb  v           short");
    }

    #[test]
    fn the_last_column_goes_when_there_is_no_room() {
        let out = render(&["ONE", "TWO", "LAST"], &rows(), Some(20));
        assert!(!out.contains("LAST") && !out.contains("short"), "{out}");
    }

    #[test]
    fn nothing_is_cut_off_a_terminal() {
        let out = render(&["ONE", "TWO", "LAST"], &rows(), None);
        assert!(out.contains(&"x".repeat(50)));
    }

    #[test]
    fn wide_characters_keep_the_columns_aligned() {
        let rows = vec![
            vec![
                "クロード".into(),
                "🚀deploy".into(),
                "本番へのデプロイ".repeat(4),
            ],
            vec!["codex".into(), "ls".into(), "short".into()],
        ];
        let out = render(&["AGENT", "TOOL", "SUMMARY"], &rows, Some(40));
        let lines: Vec<&str> = out.lines().collect();
        // Each column starts at the same terminal column on every line.
        let at = |line: &str, cell: &str| crate::display::width(&line[..line.find(cell).unwrap()]);
        assert_eq!(at(lines[1], "🚀deploy"), at(lines[2], "ls"));
        assert_eq!(at(lines[0], "SUMMARY"), at(lines[1], "本番"));
        // The cut last column fits the width in terminal columns, not in characters.
        assert!(crate::display::width(lines[1]) <= 40, "{}", lines[1]);
        assert!(lines[1].ends_with('…'));
    }
}

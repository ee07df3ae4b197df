//! How text an agent sent is shown to people: every character that is invisible, a format
//! control, a separator other than the plain space, a tag, unassigned or private is written
//! out as a `\u{..}` escape, so agent text can neither hide part of itself nor steer a terminal.
//!
//! Characters are classified by their Unicode properties (general category and
//! Default_Ignorable_Code_Point, from ICU4X's compiled Unicode data), not by a hand list, so
//! a character the list would have missed (U+115F, U+3164, tag characters) is caught too.

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};

/// Whether `c` is shown escaped: controls (Cc), format characters (Cf, which includes bidi
/// controls, zero-width characters, U+00AD and the tag block), surrogates, private-use and
/// unassigned code points, line and paragraph separators, every space separator but U+0020,
/// and every default-ignorable code point (variation selectors, Hangul fillers, U+034F).
pub fn is_hidden(c: char) -> bool {
    if c == ' ' {
        return false;
    }
    if c.is_ascii_graphic() {
        return false;
    }
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    matches!(
        category,
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    ) || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// `text` with every hidden character escaped as `\u{..}` (newlines kept when
/// `keep_newlines`), and whether anything was escaped.
pub fn escape_hidden(text: &str, keep_newlines: bool) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if is_hidden(c) && !(keep_newlines && c == '\n') {
            out.extend(c.escape_unicode());
            escaped = true;
        } else {
            out.push(c);
        }
    }
    (out, escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_format_separator_and_tag_characters_are_hidden() {
        for c in [
            '\u{1b}',
            '\u{7}',
            '\r',
            '\n',
            '\u{7f}',
            '\u{85}',
            '\u{AD}',
            '\u{34F}',
            '\u{115F}',
            '\u{180E}',
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2028}',
            '\u{2029}',
            '\u{2066}',
            '\u{206A}',
            '\u{206F}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{A0}',
            '\u{2007}',
            '\u{3000}',
            '\u{E000}',
            '\u{10FFFF}',
        ] {
            assert!(is_hidden(c), "U+{:04X} is not hidden", c as u32);
        }
    }

    #[test]
    fn ordinary_text_is_shown_as_it_is() {
        for text in [
            "git status",
            "é ü 日本語",
            "rm -rf ~/x",
            "Ωmega ß ∑",
            "😀",
            "a\tb",
        ] {
            let (out, escaped) = escape_hidden(text, true);
            if text.contains('\t') {
                assert_eq!(out, "a\\u{9}b");
                continue;
            }
            assert_eq!(out, text);
            assert!(!escaped);
        }
    }

    #[test]
    fn escapes_are_visible_and_newlines_kept_on_request() {
        assert_eq!(
            escape_hidden("git\u{200b}status", true),
            ("git\\u{200b}status".to_string(), true)
        );
        assert_eq!(escape_hidden("a\nb", true).0, "a\nb");
        assert_eq!(escape_hidden("a\nb", false).0, "a\\u{a}b");
    }
}

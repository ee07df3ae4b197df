//! Request IDs given by people: a full UUID or a unique prefix of one, as git takes hashes.

use uuid::Uuid;

/// A request ID as typed: lower-cased, dashes allowed where a UUID has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPrefix(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdPrefixError {
    #[error("request ID must not be empty")]
    Empty,
    #[error("'{0}' is not a request ID: IDs are UUIDs (hex digits and dashes)")]
    NotHex(String),
    #[error("'{0}' is longer than a request ID")]
    TooLong(String),
}

impl IdPrefix {
    pub fn parse(text: &str) -> Result<Self, IdPrefixError> {
        let t = text.trim().to_ascii_lowercase();
        if t.is_empty() {
            return Err(IdPrefixError::Empty);
        }
        if !t.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(IdPrefixError::NotHex(text.to_string()));
        }
        if t.len() > 36 {
            return Err(IdPrefixError::TooLong(text.to_string()));
        }
        Ok(IdPrefix(t))
    }

    /// Whether `id` starts with this prefix, compared on the hyphenated form; a prefix typed
    /// without dashes also matches.
    pub fn matches(&self, id: &Uuid) -> bool {
        let mut buf = Uuid::encode_buffer();
        let hyphenated = id.hyphenated().encode_lower(&mut buf);
        if hyphenated.starts_with(&self.0) {
            return true;
        }
        let mut buf = Uuid::encode_buffer();
        id.simple().encode_lower(&mut buf).starts_with(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix in the hyphenated form IDs are stored in: a prefix typed without dashes gets
    /// them where a UUID has them.
    pub fn hyphenated(&self) -> String {
        if self.0.contains('-') {
            return self.0.clone();
        }
        let mut out = String::with_capacity(36);
        for (i, c) in self.0.chars().enumerate() {
            if matches!(i, 8 | 12 | 16 | 20) {
                out.push('-');
            }
            out.push(c);
        }
        out
    }
}

/// The short form people see in tables: the first 8 hex digits.
pub fn short(id: &Uuid) -> String {
    let mut buf = Uuid::encode_buffer();
    id.simple().encode_lower(&mut buf)[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_prefixes_with_and_without_dashes() {
        let id = Uuid::parse_str("7f3a2c1e-1111-4222-8333-444455556666").unwrap();
        for p in ["7", "7F3A", "7f3a2c1e-11", "7f3a2c1e11", &id.to_string()] {
            assert!(IdPrefix::parse(p).unwrap().matches(&id), "{p}");
        }
        assert!(!IdPrefix::parse("7f3b").unwrap().matches(&id));
    }

    #[test]
    fn undashed_prefixes_get_their_dashes_back() {
        let p = |t: &str| IdPrefix::parse(t).unwrap().hyphenated();
        assert_eq!(p("7f3a"), "7f3a");
        assert_eq!(p("7f3a2c1e1"), "7f3a2c1e-1");
        assert_eq!(p("7f3a2c1e11114222"), "7f3a2c1e-1111-4222");
        assert_eq!(p("7f3a2c1e-11"), "7f3a2c1e-11");
        let id = Uuid::new_v4();
        assert_eq!(p(&id.simple().to_string()), id.to_string());
    }

    #[test]
    fn refuses_what_cannot_be_an_id() {
        assert_eq!(IdPrefix::parse(" "), Err(IdPrefixError::Empty));
        assert!(matches!(
            IdPrefix::parse("xyz"),
            Err(IdPrefixError::NotHex(_))
        ));
        assert!(matches!(
            IdPrefix::parse(&"a".repeat(37)),
            Err(IdPrefixError::TooLong(_))
        ));
    }

    #[test]
    fn short_ids_are_eight_hex_digits() {
        let id = Uuid::parse_str("7f3a2c1e-1111-4222-8333-444455556666").unwrap();
        assert_eq!(short(&id), "7f3a2c1e");
    }
}

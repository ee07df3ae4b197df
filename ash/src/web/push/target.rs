//! Where `--push` sends: an ntfy topic, written `ntfy://[USER:PASSWORD@|TOKEN@]SERVER/TOPIC`
//! (HTTPS) or as the plain address of the topic, `https://ntfy.sh/TOPIC`.

use base64::Engine;
use percent_encoding::percent_decode_str;

/// An ntfy topic and how to sign in to its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The server's root, no trailing slash: `https://ntfy.sh`.
    pub server: String,
    pub topic: String,
    /// The `Authorization` header's value, when the address carries credentials.
    pub auth: Option<String>,
    /// Whether the server is this machine (never reached through a proxy).
    pub local: bool,
}

impl Target {
    /// The topic's address without credentials, for the terminal.
    pub fn shown(&self) -> String {
        format!("{}/{}", self.server, self.topic)
    }
}

/// Reads a `--push` address; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("--push {}: {why}", redact(text));
    let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no server in it"))?;
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    let scheme = match url.scheme() {
        "ntfy" | "https" => "https",
        // A topic's messages and the credentials would cross the network in the clear.
        "http" if loopback => "http",
        "http" => return Err(bad("http:// would send the credentials and the requests in the clear; use https:// or ntfy://")),
        other => return Err(bad(&format!("{other}:// is not ntfy://, https:// or http://"))),
    };
    let server = match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    let topic = url.path().trim_start_matches('/');
    if !is_topic(topic) {
        return Err(bad(
            "the path must be one topic name: letters, digits, - and _, at most 64",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a topic's address has no ?query or #fragment"));
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let user = decode(url.username());
    let auth = match (user.is_empty(), url.password().map(decode)) {
        (true, None) => None,
        // `TOKEN@server` and `:TOKEN@server`: an access token.
        (false, None) => Some(format!("Bearer {user}")),
        (true, Some(token)) => Some(format!("Bearer {token}")),
        (false, Some(password)) => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )),
    };
    Ok(Target {
        server,
        topic: topic.to_string(),
        auth,
        local: loopback,
    })
}

/// ntfy's topic names.
fn is_topic(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The address with anything that may be a credential (all before the last `@` but the
/// scheme) replaced, for error messages.
fn redact(text: &str) -> String {
    let Some(at) = text.rfind('@') else {
        return text.to_string();
    };
    let scheme = text
        .find("://")
        .map(|i| i + 3)
        .or_else(|| text.find(':').map(|i| i + 1))
        .filter(|&end| end <= at)
        .unwrap_or(0);
    format!("{}…@{}", &text[..scheme], &text[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ntfy_form_is_https_with_a_token_or_a_password() {
        let t = parse("ntfy://tk_abc@ntfy.example.net/agent-queue").unwrap();
        assert_eq!(t.server, "https://ntfy.example.net");
        assert_eq!(t.topic, "agent-queue");
        assert_eq!(t.auth.as_deref(), Some("Bearer tk_abc"));
        let t = parse("ntfy://:tk_abc@ntfy.example.net:8443/q").unwrap();
        assert_eq!(t.server, "https://ntfy.example.net:8443");
        assert_eq!(t.auth.as_deref(), Some("Bearer tk_abc"));
        let t = parse("ntfy://phil:p%40ss@ntfy.example.net/q").unwrap();
        // base64("phil:p@ss")
        assert_eq!(t.auth.as_deref(), Some("Basic cGhpbDpwQHNz"));
    }

    #[test]
    fn the_plain_form_is_the_topics_address() {
        let t = parse("https://ntfy.sh/mytopic_42").unwrap();
        assert_eq!(
            (t.server.as_str(), t.topic.as_str(), t.auth.as_deref()),
            ("https://ntfy.sh", "mytopic_42", None)
        );
        assert_eq!(t.shown(), "https://ntfy.sh/mytopic_42");
        let t = parse("http://127.0.0.1:9000/t").unwrap();
        assert_eq!(t.server, "http://127.0.0.1:9000");
    }

    #[test]
    fn what_is_refused_says_why_and_hides_the_credentials() {
        for (bad, why) in [
            ("http://ntfy.example.net/t", "in the clear"),
            ("ftp://ntfy.sh/t", "is not ntfy://"),
            ("https://ntfy.sh/", "one topic name"),
            ("https://ntfy.sh/a/b", "one topic name"),
            ("https://ntfy.sh/a%20b", "one topic name"),
            ("https://ntfy.sh/t?auth=x", "no ?query"),
            ("ntfy:///t", "no server"),
            ("not a url", "--push not a url"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = parse("http://user:secret@ntfy.example.net/t").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(e.starts_with("--push http://…@ntfy.example.net/t"), "{e}");
        // A typo in the scheme still hides the token.
        let e = parse("ntfy:tk_secret@ntfy.example.net/q").unwrap_err();
        assert!(!e.contains("tk_secret"), "{e}");
        assert!(e.starts_with("--push ntfy:…@ntfy.example.net/q"), "{e}");
    }
}

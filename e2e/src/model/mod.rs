//! A scripted model server on 127.0.0.1 for driving the real agent runtimes in tests: it
//! speaks Anthropic Messages, OpenAI Responses and Gemini's generateContent, answers each turn
//! with the test's next tool calls (then with text), and records what the runtime sent: the
//! tools it offered and every tool result the model was told.

mod anthropic;
mod gemini;
mod openai;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One tool call the model makes: the tool's name as the runtime offers it, and its arguments.
#[derive(Clone, Debug)]
pub struct Call {
    pub name: String,
    pub args: Value,
}

impl Call {
    pub fn new(name: &str, args: Value) -> Call {
        Call {
            name: name.to_string(),
            args,
        }
    }
}

/// What a runtime told the model about one of the model's tool calls.
#[derive(Clone, Debug)]
pub struct ToolResult {
    /// The call's id as the model gave it (`agentd_call_<turn>_<n>`).
    pub id: String,
    /// The output or error text, as sent.
    pub text: String,
}

/// One request the runtime sent: its path and JSON body.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
struct Script {
    turns: Vec<Vec<Call>>,
    /// Conversations whose first user message holds the key get these turns instead (a
    /// sub-agent's, whose task the main conversation's turns wrote).
    keyed: Vec<(String, Vec<Vec<Call>>)>,
    final_text: String,
    requests: Vec<Recorded>,
    results: BTreeMap<String, String>,
    tools: BTreeSet<String>,
    /// Tool searches asked again because they found nothing yet (see `next`).
    searches_again: usize,
}

/// How often, and how far apart, a tool search that found nothing is asked again.
const SEARCH_AGAIN: usize = 40;
const SEARCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

type Shared = Arc<Mutex<Script>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Script> {
    // A panicking handler must not hide what was recorded from the test that reads it.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The id the model gives the `n`th call of its `turn`th tool-calling turn.
pub(crate) fn call_id(turn: usize, n: usize) -> String {
    format!("agentd_call_{turn}_{n}")
}

/// Whether `id` is one of the ids this server gave.
pub(crate) fn is_ours(id: &str) -> bool {
    id.starts_with("agentd_call_")
}

/// What a provider's request says, read by its module.
pub(crate) struct Turn {
    /// How many of our tool-calling turns the conversation already holds.
    pub done: usize,
    /// The tools offered, by name.
    pub tools: Vec<String>,
    /// Tool results in the conversation, by call id.
    pub results: Vec<(String, String)>,
    /// Whether the reply is streamed.
    pub stream: bool,
    /// The text of the conversation's first user message (its task).
    pub task: String,
}

/// What to answer: tool calls (with their ids) or text.
pub(crate) enum Reply {
    Calls(Vec<(String, Call)>),
    Text(String),
}

/// A running model server; it stops when dropped.
pub struct ModelServer {
    addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl ModelServer {
    /// Starts a server that answers the `n`th tool-calling turn with `turns[n]` and, after the
    /// last, with `final_text`.
    pub async fn start(turns: Vec<Vec<Call>>, final_text: &str) -> std::io::Result<ModelServer> {
        let shared: Shared = Arc::new(Mutex::new(Script {
            turns,
            final_text: final_text.to_string(),
            ..Script::default()
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            // The server ends with the test; an error here shows as the runtime failing.
            let _ = axum::serve(listener, app).await;
        });
        Ok(ModelServer { addr, shared, task })
    }

    /// Replaces the main script (for a call whose arguments name a path of the test's own).
    pub fn set_turns(&self, turns: Vec<Vec<Call>>) {
        lock(&self.shared).turns = turns;
    }

    /// Conversations whose first user message contains `key` (a sub-agent's task, say) are
    /// answered with `turns` instead of the main script.
    pub fn script_for(&self, key: &str, turns: Vec<Vec<Call>>) {
        lock(&self.shared).keyed.push((key.to_string(), turns));
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every tool result received, by call id, in id order.
    pub fn results(&self) -> BTreeMap<String, String> {
        lock(&self.shared).results.clone()
    }

    /// The names of every tool the runtime offered the model.
    pub fn tools(&self) -> BTreeSet<String> {
        lock(&self.shared).tools.clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&shared).requests.push(Recorded {
        path: uri.to_string(),
        body: json.clone(),
    });
    if method != Method::POST {
        // Model lists and the like: nothing to offer, which every runtime takes as "use the
        // configured model".
        return (StatusCode::NOT_FOUND, "{}").into_response();
    }
    if path.ends_with("/count_tokens") || path.ends_with(":countTokens") {
        let body = if path.ends_with(":countTokens") {
            r#"{"totalTokens": 10}"#
        } else {
            r#"{"input_tokens": 10}"#
        };
        return json_response(body.to_string());
    }
    if path.ends_with("/messages") {
        let turn = anthropic::read(&json);
        let reply = next(&shared, &turn);
        return anthropic::answer(&reply, turn.stream);
    }
    if path.ends_with("/responses") {
        let turn = openai::read(&json);
        let (reply, again) = search_again(&shared, &turn);
        if again {
            // What the search looks for is still starting (an MCP server): give it a moment.
            tokio::time::sleep(SEARCH_PAUSE).await;
        }
        let reply = reply.unwrap_or_else(|| next(&shared, &turn));
        return openai::answer(&reply);
    }
    if path.contains(":streamGenerateContent") || path.contains(":generateContent") {
        let turn = gemini::read(&json);
        let reply = next(&shared, &turn);
        return gemini::answer(&reply, path.contains(":stream"), &json);
    }
    (StatusCode::NOT_FOUND, "{}").into_response()
}

/// A tool search that found nothing (Codex searches only the MCP tools already started, and a
/// server may still be starting on a busy machine) is asked again, as a model would, instead
/// of going on to call a tool not yet offered. Returns the repeated search, if it is one.
fn search_again(shared: &Shared, turn: &Turn) -> (Option<Reply>, bool) {
    let mut script = lock(shared);
    let Some(last) = turn.done.checked_sub(1) else {
        return (None, false);
    };
    let index = last.saturating_sub(script.searches_again);
    let is_search = script
        .turns
        .get(index)
        .is_some_and(|calls| calls.len() == 1 && calls[0].name == "tool_search");
    let found_nothing = turn
        .results
        .iter()
        .any(|(id, text)| *id == call_id(last, 0) && text.trim() == "[]");
    if !(is_search && found_nothing) || script.searches_again >= SEARCH_AGAIN {
        return (None, false);
    }
    script.searches_again += 1;
    let calls = script.turns[index].clone();
    for (id, text) in &turn.results {
        script.results.insert(id.clone(), text.clone());
    }
    let reply = Reply::Calls(
        calls
            .into_iter()
            .enumerate()
            .map(|(n, call)| (call_id(turn.done, n), call))
            .collect(),
    );
    (Some(reply), true)
}

/// Records what `turn` carries and picks the answer: the next scripted calls when the
/// runtime offers tools (side requests such as titles and checks offer none), else text.
fn next(shared: &Shared, turn: &Turn) -> Reply {
    let mut script = lock(shared);
    for (id, text) in &turn.results {
        script.results.insert(id.clone(), text.clone());
    }
    script.tools.extend(turn.tools.iter().cloned());
    let turns = script
        .keyed
        .iter()
        .find(|(key, _)| turn.task.contains(key.as_str()))
        .map_or(&script.turns, |(_, turns)| turns);
    // Turns asked again (a tool search) do not move the script on.
    let index = turn.done.saturating_sub(script.searches_again);
    match turns.get(index) {
        Some(calls) if !turn.tools.is_empty() => Reply::Calls(
            calls
                .iter()
                .enumerate()
                .map(|(n, call)| (call_id(turn.done, n), call.clone()))
                .collect(),
        ),
        _ => Reply::Text(script.final_text.clone()),
    }
}

pub(crate) fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Server-sent events, each `(event name, data)`; a `None` name writes `data:` only.
pub(crate) fn sse(events: Vec<(Option<&str>, Value)>) -> Response {
    let mut body = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            body.push_str(&format!("event: {name}\n"));
        }
        body.push_str(&format!("data: {data}\n\n"));
    }
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The text of a tool result however a provider wrapped it: a string as is, text blocks
/// joined, anything else as JSON.
pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item.get("text") {
                Some(Value::String(s)) => s.clone(),
                _ => text_of(item),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

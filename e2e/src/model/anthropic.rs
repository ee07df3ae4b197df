//! Anthropic Messages (`POST /v1/messages`), as Claude Code speaks it: tool calls are
//! `tool_use` blocks, results come back as `tool_result` blocks; replies stream as SSE.

use axum::response::Response;
use serde_json::{json, Value};

use super::{is_ours, json_response, sse, text_of, Reply, Turn};

pub(crate) fn read(body: &Value) -> Turn {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let mut done = 0;
    let mut results = Vec::new();
    for message in &messages {
        let blocks = message["content"].as_array().cloned().unwrap_or_default();
        if message["role"] == "assistant"
            && blocks
                .iter()
                .any(|b| b["type"] == "tool_use" && b["id"].as_str().is_some_and(is_ours))
        {
            done += 1;
        }
        for block in blocks.iter().filter(|b| b["type"] == "tool_result") {
            if let Some(id) = block["tool_use_id"].as_str().filter(|id| is_ours(id)) {
                results.push((id.to_string(), text_of(&block["content"])));
            }
        }
    }
    let mut tools: Vec<String> = body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !tools.is_empty() {
        tools.extend(deferred(&body.to_string()));
    }
    let task = messages
        .iter()
        .find(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    Turn {
        done,
        tools,
        results,
        stream: body["stream"].as_bool().unwrap_or(false),
        task,
    }
}

pub(crate) fn answer(reply: &Reply, stream: bool) -> Response {
    let (blocks, stop) = match reply {
        Reply::Calls(calls) => (
            calls
                .iter()
                .map(|(id, call)| {
                    json!({"type": "tool_use", "id": id, "name": call.name, "input": call.args})
                })
                .collect::<Vec<_>>(),
            "tool_use",
        ),
        Reply::Text(text) => (vec![json!({"type": "text", "text": text})], "end_turn"),
    };
    let usage = json!({"input_tokens": 10, "output_tokens": 10});
    if !stream {
        return json_response(
            json!({
                "id": "msg_agentd", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": blocks, "stop_reason": stop,
                "stop_sequence": null, "usage": usage,
            })
            .to_string(),
        );
    }
    let mut events = vec![(
        Some("message_start"),
        json!({"type": "message_start", "message": {
            "id": "msg_agentd", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": usage,
        }}),
    )];
    for (index, block) in blocks.iter().enumerate() {
        let (start, delta) = match block["type"].as_str() {
            Some("tool_use") => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            ),
            _ => (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            ),
        };
        events.push((
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        events.push((
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
        events.push((
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push((
        Some("message_delta"),
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 10}}),
    ));
    events.push((Some("message_stop"), json!({"type": "message_stop"})));
    sse(events)
}

/// The tools Claude Code offers only by name until the model loads them with `ToolSearch`:
/// listed one a line after "The following deferred tools are now available via ToolSearch".
fn deferred(body: &str) -> Vec<String> {
    const MARK: &str = "deferred tools are now available via ToolSearch";
    let Some(at) = body.find(MARK) else {
        return Vec::new();
    };
    // `body` is JSON text, so the listing's newlines are written `\n`.
    body[at..]
        .split("\\n")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_string)
        .collect()
}

//! OpenAI Responses (`POST /v1/responses`), as Codex speaks it: tool calls are
//! `function_call` items with their arguments as a JSON string, results come back as
//! `function_call_output` items; replies stream as SSE.

use axum::response::Response;
use serde_json::{json, Value};

use super::{is_ours, sse, text_of, Reply, Turn};

pub(crate) fn read(body: &Value) -> Turn {
    let items = body["input"].as_array().cloned().unwrap_or_default();
    let mut turns = std::collections::BTreeSet::new();
    let mut results = Vec::new();
    for item in &items {
        let id = item["call_id"].as_str().unwrap_or_default();
        if !is_ours(id) {
            continue;
        }
        match item["type"].as_str() {
            // Several calls of one turn share the turn's number in their ids.
            Some("function_call") | Some("custom_tool_call") | Some("tool_search_call") => {
                turns.insert(id.rsplit_once('_').map(|(turn, _)| turn.to_string()));
            }
            Some("function_call_output") | Some("custom_tool_call_output") => {
                results.push((id.to_string(), text_of(&item["output"])));
            }
            Some("tool_search_output") => {
                results.push((id.to_string(), item["tools"].to_string()));
            }
            _ => {}
        }
    }
    let tools = body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    t["name"]
                        .as_str()
                        .or(t["type"].as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    // The task is the first user message after the runtime's own context messages.
    let task = items
        .iter()
        .filter(|i| i["role"] == "user")
        .map(|i| text_of(&i["content"]))
        .collect::<Vec<_>>()
        .join("\n");
    Turn {
        done: turns.len(),
        tools,
        results,
        stream: true,
        task,
    }
}

pub(crate) fn answer(reply: &Reply) -> Response {
    let items: Vec<Value> = match reply {
        Reply::Calls(calls) => calls
            .iter()
            .map(|(id, call)| match call.name.as_str() {
                // Codex's own tool search is a tool of its own kind on the wire, run by Codex.
                "tool_search" => json!({"type": "tool_search_call", "id": format!("ts_{id}"),
                       "call_id": id, "status": "completed", "execution": "client",
                       "arguments": call.args}),
                // A tool of a namespace (an MCP server's `mcp__server`, Codex's `collaboration`)
                // is written NAMESPACE__TOOL.
                name if name.contains("__") => {
                    let (namespace, tool) = name.rsplit_once("__").unwrap_or(("", name));
                    json!({"type": "function_call", "id": format!("fc_{id}"), "call_id": id,
                           "namespace": namespace, "name": tool,
                           "arguments": call.args.to_string()})
                }
                _ => json!({"type": "function_call", "id": format!("fc_{id}"), "call_id": id,
                       "name": call.name, "arguments": call.args.to_string()}),
            })
            .collect(),
        Reply::Text(text) => vec![json!({
            "type": "message", "id": "msg_agentd", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        })],
    };
    let mut events = vec![(
        Some("response.created"),
        json!({"type": "response.created", "response": {"id": "resp_agentd"}}),
    )];
    for (index, item) in items.iter().enumerate() {
        events.push((
            Some("response.output_item.added"),
            json!({"type": "response.output_item.added", "output_index": index, "item": item}),
        ));
        events.push((
            Some("response.output_item.done"),
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ));
    }
    events.push((
        Some("response.completed"),
        json!({"type": "response.completed", "response": {
            "id": "resp_agentd", "output": items,
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": 20},
        }}),
    ));
    sse(events)
}

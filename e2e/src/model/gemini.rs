//! Gemini's `generateContent` and `streamGenerateContent?alt=sse`, as Gemini CLI speaks them:
//! tool calls are `functionCall` parts, results come back as `functionResponse` parts.

use axum::response::Response;
use serde_json::{json, Value};

use super::{is_ours, json_response, sse, text_of, Reply, Turn};

pub(crate) fn read(body: &Value) -> Turn {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let mut done = 0;
    let mut results = Vec::new();
    for content in &contents {
        let parts = content["parts"].as_array().cloned().unwrap_or_default();
        if content["role"] == "model"
            && parts
                .iter()
                .any(|p| p["functionCall"]["id"].as_str().is_some_and(is_ours))
        {
            done += 1;
        }
        for part in &parts {
            let response = &part["functionResponse"];
            if let Some(id) = response["id"].as_str().filter(|id| is_ours(id)) {
                results.push((id.to_string(), text_of(&response["response"])));
            }
        }
    }
    let tools = body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .flat_map(|t| {
                    t["functionDeclarations"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|f| f["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // Gemini CLI opens with a context message; the task is in the user messages after it.
    let task = contents
        .iter()
        .filter(|c| c["role"] == "user")
        .take(2)
        .map(|c| text_of(&c["parts"]))
        .collect::<Vec<_>>()
        .join("\n");
    Turn {
        done,
        tools,
        results,
        stream: true,
        task,
    }
}

pub(crate) fn answer(reply: &Reply, stream: bool, request: &Value) -> Response {
    let parts: Vec<Value> = match reply {
        Reply::Calls(calls) => calls
            .iter()
            .map(|(id, call)| json!({"functionCall": {"id": id, "name": call.name, "args": call.args}}))
            .collect(),
        // A request for JSON (Gemini CLI's own checks: routing, who speaks next) gets JSON of
        // the schema it gives, saying as little as possible.
        Reply::Text(_) if request["generationConfig"]["responseMimeType"] == "application/json" => {
            let schema = &request["generationConfig"]["responseJsonSchema"];
            let schema = match schema.is_null() {
                true => &request["generationConfig"]["responseSchema"],
                false => schema,
            };
            vec![json!({"text": sample(schema).to_string()})]
        }
        Reply::Text(text) => vec![json!({"text": text})],
    };
    let chunk = json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20},
        "modelVersion": "gemini-2.5-pro",
    });
    match stream {
        true => sse(vec![(None, chunk)]),
        false => json_response(chunk.to_string()),
    }
}

/// A value of `schema` (an OpenAPI-style schema as Gemini takes it): every property, the
/// smallest value of each type, and for a choice the one that ends the turn ("user") if offered.
fn sample(schema: &Value) -> Value {
    if let Some(choices) = schema["enum"].as_array() {
        let user = choices.iter().find(|c| *c == "user");
        return user.or(choices.first()).cloned().unwrap_or(Value::Null);
    }
    let kind = schema["type"]
        .as_str()
        .unwrap_or("OBJECT")
        .to_ascii_uppercase();
    match kind.as_str() {
        "STRING" => json!("done"),
        "INTEGER" | "NUMBER" => json!(1),
        "BOOLEAN" => json!(false),
        "ARRAY" => json!([]),
        _ => Value::Object(
            schema["properties"]
                .as_object()
                .map(|props| props.iter().map(|(k, v)| (k.clone(), sample(v))).collect())
                .unwrap_or_default(),
        ),
    }
}

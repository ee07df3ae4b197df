//! `ash mcp`: an MCP server on stdin/stdout (the official Rust SDK, `rmcp`) with one tool,
//! `approve`, for Claude Code's headless permission prompts: `claude -p
//! --permission-prompt-tool mcp__agentd__approve`. Claude Code calls it with
//! `{tool_name, input, tool_use_id}` when it would ask a person; it asks agentd, waits, and
//! answers with the JSON text Claude Code expects: `{"behavior": "allow", "updatedInput":
//! {...}}` or `{"behavior": "deny", "message": "..."}`. It fails closed like the hooks.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Value};

use super::hook::{self, Answer, Call};
use crate::outcome::SUCCESS;
use crate::Globals;

/// The tool's name; Claude Code names it `mcp__SERVER__approve`.
pub const TOOL: &str = "approve";

#[derive(clap::Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    hook: hook::Args,
}

#[derive(Clone)]
struct Approver {
    globals: Arc<Globals>,
    args: Arc<hook::Args>,
    /// One session per server process, which Claude Code starts once a run: session grants
    /// made on one of its calls cover the rest of that run.
    session: String,
}

pub async fn run(globals: &Globals, args: McpArgs) -> anyhow::Result<u8> {
    let server = Approver {
        globals: Arc::new(globals.clone()),
        args: Arc::new(args.hook),
        session: format!("mcp-{}", uuid::Uuid::new_v4()),
    };
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("the MCP client did not start the session: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP session ended badly: {e}"))?;
    Ok(SUCCESS)
}

fn schema() -> serde_json::Map<String, Value> {
    let v = json!({
        "type": "object",
        "properties": {
            "tool_name": { "type": "string", "description": "The tool Claude Code wants to run" },
            "input": { "type": "object", "description": "Its arguments" },
            "tool_use_id": { "type": "string" },
        },
        "required": ["tool_name", "input"],
    });
    match v {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

impl ServerHandler for Approver {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            TOOL,
            "Ask the operator (through agentd) whether Claude Code may run a tool call; answers the permission-prompt JSON Claude Code expects",
            schema(),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != TOOL {
            return Err(ErrorData::invalid_params(
                format!("no tool named {:?}; this server has {TOOL:?}", request.name),
                None,
            ));
        }
        let arguments = request.arguments.unwrap_or_default();
        let answer = match call_of(&arguments, self.args.agent.as_deref(), &self.session) {
            Err(why) => hook::failure(&self.args, format!("malformed permission request: {why}")),
            Ok(call) => hook::ask(&self.globals, &self.args, call).await,
        };
        let input = arguments.get("input").cloned().unwrap_or(Value::Null);
        let text = match answer {
            Answer::Allow(_, edited) => {
                json!({ "behavior": "allow", "updatedInput": edited.unwrap_or(input) })
            }
            Answer::Deny(why) | Answer::Undecided(why) => {
                json!({ "behavior": "deny", "message": why })
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text.to_string())]).into())
    }
}

/// The call Claude Code asks about.
fn call_of(
    arguments: &serde_json::Map<String, Value>,
    agent: Option<&str>,
    session: &str,
) -> Result<Call, String> {
    let tool = arguments
        .get("tool_name")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("no tool_name")?
        .to_string();
    let input = arguments.get("input").cloned().ok_or("no input")?;
    let cwd = std::env::var("CLAUDE_PROJECT_DIR").ok().or_else(|| {
        std::env::current_dir()
            .ok()
            .and_then(|d| d.to_str().map(String::from))
    });
    Ok(Call {
        summary: hook::summary(&tool, &input, cwd.as_deref(), &[]),
        agent: agent.unwrap_or("claude-code").to_string(),
        tool,
        tool_input: input,
        session: Some(session.to_string()),
        cwd,
    })
}

//! A small MCP server over stdio for Strata's tests (`tests/mcp.rs`), on rmcp's server side.
//! Its tools: `echo` (read-only), `add` (JSON result), `fail` (answers `isError`), `slow`
//! (sleeps; for timeouts and cancellation), `delete_file` (annotated destructive; deletes
//! nothing), `big` (a long text), `env` (a variable of its environment), `cwd` (its working
//! directory), `exit` (ends the process, as a crash would).
//!
//! Flags: `--fail-at-start` prints to stderr and exits 3 before the handshake; `--hang`
//! never answers it. Run it as an agent's server:
//! `command = ["target/debug/examples/mcp_test_server"]`.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerInfo, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Value};

struct TestServer;

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn tools() -> Vec<Tool> {
    let string = |name: &str| {
        schema(json!({
            "type": "object",
            "properties": { name: { "type": "string" } },
            "required": [name],
        }))
    };
    vec![
        Tool::new("echo", "Echo the text back.", string("text"))
            .with_annotations(ToolAnnotations::new().read_only(true)),
        Tool::new(
            "add",
            "Add two numbers.",
            schema(json!({
                "type": "object",
                "properties": { "a": { "type": "number" }, "b": { "type": "number" } },
                "required": ["a", "b"],
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true)),
        Tool::new("fail", "Always fails.", schema(json!({"type": "object"}))),
        Tool::new(
            "slow",
            "Answer after some seconds.",
            schema(json!({
                "type": "object",
                "properties": { "seconds": { "type": "number" } },
                "required": ["seconds"],
            })),
        ),
        Tool::new(
            "delete_file",
            "Delete a file (pretends to).",
            string("path"),
        )
        .with_annotations(ToolAnnotations::new().read_only(false).destructive(true)),
        Tool::new(
            "big",
            "A text of the given length.",
            schema(json!({
                "type": "object",
                "properties": { "bytes": { "type": "integer" } },
                "required": ["bytes"],
            })),
        ),
        Tool::new(
            "env",
            "A variable of the server's environment.",
            string("name"),
        ),
        Tool::new(
            "cwd",
            "The server's working directory.",
            schema(json!({"type": "object"})),
        ),
        Tool::new(
            "exit",
            "End the server process.",
            schema(json!({"type": "object"})),
        ),
    ]
}

fn text(value: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(value)])
}

impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let string = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default();
        let number = |key: &str| args.get(key).and_then(Value::as_f64).unwrap_or_default();
        Ok(match request.name.as_ref() {
            "echo" => text(string("text")),
            "add" => text(json!({ "sum": number("a") + number("b") }).to_string()),
            "fail" => CallToolResult::error(vec![ContentBlock::text("the fail tool always fails")]),
            "slow" => {
                let wait = Duration::from_secs_f64(number("seconds").clamp(0.0, 3600.0));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => text("done"),
                    _ = context.ct.cancelled() => text("cancelled"),
                }
            }
            "delete_file" => text(format!("deleted {}", string("path"))),
            "big" => text("x".repeat(number("bytes").clamp(0.0, 1e8) as usize)),
            "env" => text(json!({ "value": std::env::var(string("name")).ok() }).to_string()),
            "cwd" => text(
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ),
            "exit" => {
                eprintln!("exiting as asked");
                std::process::exit(7);
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool named {other}"),
                    None,
                ))
            }
        })
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--fail-at-start") {
        eprintln!("test server: refusing to start (--fail-at-start)");
        std::process::exit(3);
    }
    if args.iter().any(|a| a == "--hang") {
        eprintln!("test server: hanging (--hang)");
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    eprintln!("test server: ready on stdio");
    match TestServer.serve(rmcp::transport::stdio()).await {
        Ok(running) => {
            let _ = running.waiting().await;
        }
        Err(e) => {
            eprintln!("test server: handshake failed: {e}");
            std::process::exit(1);
        }
    }
}

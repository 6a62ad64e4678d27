//! A loopback OpenAI-compatible server that streams exactly the pieces a test scripts
//! (and may cut the connection after them): for checks that must see a pattern split
//! across deltas, and for cut streams.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use strata::config::{Config, ProviderKind, ProviderProfile};
use strata::runtime::catalog::{Capability, ModelSpec};

/// How the scripted stream ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// finish_reason "stop" and a usage chunk, then [DONE].
    Finished,
    /// The connection drops after the pieces.
    Cut,
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => serde_json::json!({ "content": c }),
        None => serde_json::json!({}),
    };
    let body = serde_json::json!({
        "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }]
    });
    format!("data: {body}\n\n")
}

/// Starts the server; returns its base URL (`http://127.0.0.1:PORT/v1`).
pub async fn start(pieces: Vec<String>, ending: Ending) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let pieces = pieces.clone();
            async move {
                let mut parts: Vec<Result<String, std::io::Error>> =
                    pieces.iter().map(|p| Ok(chunk(Some(p), None))).collect();
                match ending {
                    Ending::Finished => {
                        parts.push(Ok(chunk(None, Some("stop"))));
                        let usage = serde_json::json!({
                            "id": "x", "object": "chat.completion.chunk", "created": 0,
                            "model": "scripted", "choices": [],
                            "usage": { "prompt_tokens": 11, "completion_tokens": pieces.len(),
                                       "total_tokens": 11 + pieces.len() }
                        });
                        parts.push(Ok(format!("data: {usage}\n\n")));
                        parts.push(Ok("data: [DONE]\n\n".into()));
                    }
                    Ending::Cut => parts.push(Err(std::io::Error::other("cut"))),
                }
                // One piece at a time, so each is its own delta.
                let stream = futures::stream::iter(parts).then(|p| async move {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    p
                });
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

use futures::StreamExt as _;

/// A config with one OpenAI-compatible provider `scripted` serving `scripted/model`.
pub fn config(base_url: &str) -> Config {
    let mut providers = BTreeMap::new();
    providers.insert(
        "scripted".to_string(),
        ProviderProfile {
            kind: ProviderKind::Openai,
            base_url: Some(base_url.to_string()),
            api_key_env: None,
            api_key_file: None,
            timeout_secs: Some(30),
        },
    );
    Config {
        providers,
        models: vec![ModelSpec {
            id: "scripted/model".into(),
            name: String::new(),
            provider: "scripted".into(),
            family: None,
            context_window: 4096,
            input_price: 1.0,
            output_price: 2.0,
            capabilities: vec![Capability::Chat],
            default: false,
            remote_name: Some("model".into()),
            files: vec![],
        }],
        max_retries: Some(0),
        ..Config::default()
    }
}

/// A `config.toml` in `dir` for the binary: the OpenAI-compatible provider `s` at `url`
/// serving `s/m`, no retries.
pub fn write_config(dir: &std::path::Path, url: &str) {
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "max_retries = 0\n[providers.s]\nkind = \"openai\"\nbase_url = \"{url}\"\n\
             [[models]]\nid = \"s/m\"\nprovider = \"s\"\ncapabilities = [\"chat\"]\n"
        ),
    )
    .unwrap();
}

// --- a model that calls a tool ----------------------------------------------------

/// The requests a scripted model received.
pub type Seen = Arc<Mutex<Vec<Value>>>;

fn sse(body: Value) -> String {
    format!("data: {body}\n\n")
}

fn tool_chunk(delta: Value, finish: Option<&str>) -> String {
    sse(json!({
        "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }]
    }))
}

/// A model that calls `tool` with `arguments` until a tool result follows the newest
/// question, then answers "Result: " and that result.
pub async fn tool_calling(tool: &'static str, arguments: Value) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let log = log.clone();
            let arguments = arguments.clone();
            async move {
                log.lock().unwrap().push(body.clone());
                // A tool result of this turn (after the newest question) is answered from.
                let last_tool = body["messages"].as_array().and_then(|m| {
                    m.iter()
                        .rev()
                        .take_while(|m| m["role"] != "user")
                        .find(|m| m["role"] == "tool")
                        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
                });
                let mut parts = Vec::new();
                match last_tool {
                    None => {
                        parts.push(tool_chunk(
                            json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function",
                                "function": { "name": tool, "arguments": arguments.to_string() } }] }),
                            None,
                        ));
                        parts.push(tool_chunk(json!({}), Some("tool_calls")));
                    }
                    Some(result) => {
                        parts.push(tool_chunk(json!({ "content": format!("Result: {result}") }), None));
                        parts.push(tool_chunk(json!({}), Some("stop")));
                    }
                }
                parts.push(sse(json!({
                    "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                    "choices": [], "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 }
                })));
                parts.push("data: [DONE]\n\n".into());
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(parts.concat()))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), seen)
}

//! Tool calls: a local model's call text (`parse_call`), JSON-Schema constraints turned
//! into expressions that must compile (`schema_regex`), and streamed call pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::runtime::providers::tool_calls::{parse_call, schema_regex};
use strata::runtime::types::{ToolCall, ToolCallAssembler};

fuzz_target!(|text: &str| {
    if let Some((_, arguments)) = parse_call(text) {
        assert!(serde_json::from_str::<serde_json::Value>(&arguments).is_ok());
    }
    if let Ok(schema) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(expression) = schema_regex(&schema) {
            assert!(regex::Regex::new(&expression).is_ok(), "{expression}");
        }
    }
    // The text cut into streamed pieces on NUL bytes, alternating between two calls.
    let mut calls = ToolCallAssembler::default();
    for (i, piece) in text.split('\0').enumerate() {
        if i % 5 == 4 {
            calls.push_whole(ToolCall {
                id: String::new(),
                name: "f".into(),
                arguments: piece.into(),
            });
        } else {
            calls.push((i % 2) as u32, Some("id"), (i < 2).then_some("f"), piece);
        }
    }
    let _ = calls.finish();
});

//! Chat templates from a model's metadata: compiled and rendered with tools and tool calls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::runtime::providers::chat_template::ChatTemplate;
use strata::runtime::types::{Message, ToolCall, ToolDef};

fuzz_target!(|source: &str| {
    let Ok(template) = ChatTemplate::new(source, "<s>", "</s>") else {
        return;
    };
    let mut call = Message::assistant("");
    call.tool_calls.push(ToolCall {
        id: "c1".into(),
        name: "t".into(),
        arguments: "{\"a\": [1, {\"b\": null}]}".into(),
    });
    let tools = [ToolDef {
        name: "t".into(),
        description: "d".into(),
        parameters: serde_json::json!({"type": "object"}),
    }];
    let _ = template.render(&[Message::system("s"), Message::user("u"), call], &tools);
    let _ = template.render(&[], &[]);
});

//! Strata's messages in rig's terms and back: the orchestrator hands rig-agent's run state
//! machine rig messages and turns the requests it asks for into Strata chat requests.

use rig_core::completion::{Message as RigMessage, Usage as RigUsage};
use rig_core::message::{AssistantContent, CallId, ToolName, ToolResultContent, UserContent};

use crate::runtime::types::{Message, Role, ToolCall, Usage};

/// A tool name rig accepts (it refuses empty ones).
fn tool_name(name: &str) -> ToolName {
    ToolName::new(name)
        .or_else(|_| ToolName::new("unnamed_tool"))
        .expect("a non-empty literal is a valid tool name")
}

/// A Strata message as rig sees it. A tool message needs the tool's name, which Strata
/// keeps on the assistant's call: `calls` are the calls of the turn it answers.
pub fn to_rig(message: &Message, calls: &[ToolCall]) -> RigMessage {
    match message.role {
        Role::System => RigMessage::System {
            content: message.content.clone(),
        },
        Role::User => RigMessage::user(message.content.clone()),
        Role::Assistant => {
            let mut content = Vec::new();
            if !message.content.is_empty() || message.tool_calls.is_empty() {
                content.push(AssistantContent::text(message.content.clone()));
            }
            for call in &message.tool_calls {
                let arguments = serde_json::from_str(&call.arguments)
                    .unwrap_or(serde_json::Value::String(call.arguments.clone()));
                content.push(AssistantContent::tool_call(
                    call.id.clone(),
                    tool_name(&call.name),
                    arguments,
                ));
            }
            RigMessage::from(content)
        }
        Role::Tool => {
            let id = message.tool_call_id.clone().unwrap_or_default();
            let name = calls
                .iter()
                .find(|c| c.id == id)
                .map_or("tool", |c| c.name.as_str());
            RigMessage::tool_result(
                CallId::from_wire(id),
                tool_name(name),
                message.content.clone(),
            )
        }
    }
}

/// A conversation as rig messages (tool results find their tool's name).
pub fn conversation_to_rig(messages: &[Message]) -> Vec<RigMessage> {
    let mut calls: Vec<ToolCall> = Vec::new();
    messages
        .iter()
        .map(|m| {
            if m.role == Role::Assistant {
                calls = m.tool_calls.clone();
            }
            to_rig(m, &calls)
        })
        .collect()
}

/// Rig messages back as Strata messages (a user message with several tool results
/// becomes one tool message per result).
pub fn from_rig(message: &RigMessage) -> Vec<Message> {
    match message {
        RigMessage::System { content } => vec![Message::system(content.clone())],
        RigMessage::User { content } => {
            let mut out = Vec::new();
            let mut text = String::new();
            for item in content {
                match item {
                    UserContent::Text(t) => text.push_str(&t.text),
                    UserContent::ToolResult(result) => {
                        let body: Vec<String> = result
                            .content
                            .iter()
                            .map(|c| match c {
                                ToolResultContent::Text(t) => t.text.clone(),
                                ToolResultContent::Json { value } => value.to_string(),
                                ToolResultContent::Image(_) => "[image]".into(),
                            })
                            .collect();
                        let mut m = Message::new(Role::Tool, body.join("\n"));
                        m.tool_call_id = Some(result.call.wire().into_owned());
                        out.push(m);
                    }
                    _ => text.push_str("[attachment]"),
                }
            }
            if !text.is_empty() || out.is_empty() {
                out.insert(0, Message::user(text));
            }
            out
        }
        RigMessage::Assistant(assistant) => {
            let mut m = Message::assistant(String::new());
            for item in &assistant.content {
                match item {
                    AssistantContent::Text(t) => m.content.push_str(&t.text),
                    AssistantContent::ToolCall(call) => m.tool_calls.push(ToolCall {
                        id: call.id.wire().into_owned(),
                        name: call.function.name.to_string(),
                        arguments: call.function.invalid_arguments.clone().unwrap_or_else(|| {
                            serde_json::Value::Object(call.function.arguments.clone()).to_string()
                        }),
                    }),
                    _ => {}
                }
            }
            vec![m]
        }
    }
}

/// The assistant content of a model answer, for rig's `ModelTurn`.
pub fn answer_content(text: &str, calls: &[ToolCall]) -> Vec<AssistantContent> {
    let answer = Message {
        tool_calls: calls.to_vec(),
        ..Message::assistant(text)
    };
    match to_rig(&answer, &[]) {
        RigMessage::Assistant(a) => a.content,
        _ => vec![AssistantContent::text(text)],
    }
}

/// Token counts in rig's terms.
pub fn usage_to_rig(usage: Usage) -> RigUsage {
    let mut u = RigUsage::new();
    u.input_tokens = Some(usage.input_tokens as u64);
    u.output_tokens = Some(usage.output_tokens as u64);
    u.total_tokens = Some(usage.input_tokens as u64 + usage.output_tokens as u64);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_with_tool_calls_survives_the_round_trip() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "add".into(),
            arguments: r#"{"a":1,"b":2}"#.into(),
        };
        let mut asked = Message::assistant("let me add");
        asked.tool_calls = vec![call.clone()];
        let mut result = Message::new(Role::Tool, "3");
        result.tool_call_id = Some("call_1".into());
        let conversation = vec![
            Message::user("what is 1+2?"),
            asked.clone(),
            result.clone(),
            Message::assistant("3"),
        ];
        let back: Vec<Message> = conversation_to_rig(&conversation)
            .iter()
            .flat_map(from_rig)
            .collect();
        assert_eq!(back, conversation);
        // The tool result carries the tool's name from the call it answers.
        let RigMessage::User { content } = &conversation_to_rig(&conversation)[2] else {
            panic!("a tool result is a user message in rig");
        };
        let UserContent::ToolResult(r) = &content[0] else {
            panic!("expected a tool result");
        };
        assert_eq!(r.name.as_str(), "add");
    }

    #[test]
    fn unparsable_arguments_are_kept_as_written() {
        let call = ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: "{not json".into(),
        };
        let content = answer_content("", std::slice::from_ref(&call));
        let back = from_rig(&RigMessage::from(content));
        assert!(back[0].tool_calls[0].arguments.contains("not json"));
    }
}

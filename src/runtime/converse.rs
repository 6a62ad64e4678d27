//! Reads Converse-style message lists: `[{role, content}]` or `{system, messages}`, where
//! content is a string or a list of `{"text": …}` blocks (tool use blocks included).

use serde_json::Value;

use super::types::{Message, Role, ToolCall};

/// A message list that could not be understood; `at` says where.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct ConverseError {
    pub at: String,
    pub problem: String,
}

fn err(at: impl Into<String>, problem: impl Into<String>) -> ConverseError {
    ConverseError {
        at: at.into(),
        problem: problem.into(),
    }
}

/// The system prompt and messages of a Converse document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    pub system: Option<String>,
    pub messages: Vec<Message>,
}

/// Parses a Converse document from JSON text.
pub fn parse(text: &str) -> Result<Conversation, ConverseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        err(
            format!("line {} column {}", e.line(), e.column()),
            format!("not valid JSON: {e}"),
        )
    })?;
    let (system, list) = match &value {
        Value::Array(list) => (None, list.as_slice()),
        Value::Object(obj) => {
            let system = match obj.get("system") {
                None | Some(Value::Null) => None,
                Some(v) => Some(text_of(v, "system")?),
            };
            let list = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or_else(|| err("top level", "expected a `messages` array"))?;
            (system, list.as_slice())
        }
        _ => {
            return Err(err(
                "top level",
                "expected an array of messages or an object with `messages`",
            ))
        }
    };
    let mut conversation = Conversation {
        system,
        messages: Vec::new(),
    };
    for (i, item) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&at, "missing `role`"))?;
        let role = match role {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => {
                return Err(err(
                    &at,
                    format!("unknown role `{other}` (use system, user, assistant or tool)"),
                ))
            }
        };
        let content = item.get("content").unwrap_or(&Value::Null);
        let mut message = Message::new(role, text_of(content, &at)?);
        message.tool_calls = tool_calls_of(content, &at)?;
        if let Some(id) = item.get("tool_call_id").and_then(Value::as_str) {
            message.tool_call_id = Some(id.to_string());
        } else if let Some(id) = tool_result_id(content) {
            message.role = Role::Tool;
            message.tool_call_id = Some(id);
        }
        if role == Role::System && conversation.messages.is_empty() && conversation.system.is_none()
        {
            conversation.system = Some(message.content);
        } else {
            conversation.messages.push(message);
        }
    }
    Ok(conversation)
}

/// The text of a content value: a string, or the `text` of each block joined.
fn text_of(content: &Value, at: &str) -> Result<String, ConverseError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut parts = Vec::new();
            for (j, block) in blocks.iter().enumerate() {
                if let Some(t) = block.as_str() {
                    parts.push(t.to_string());
                } else if let Some(t) = block.get("text").and_then(Value::as_str) {
                    parts.push(t.to_string());
                } else if let Some(result) = block.get("toolResult") {
                    let inner = result.get("content").unwrap_or(&Value::Null);
                    parts.push(
                        text_of(inner, at)
                            .or_else(|_| Ok::<_, ConverseError>(inner.to_string()))?,
                    );
                } else if let Some(json) = block.get("json") {
                    parts.push(json.to_string());
                } else if block.get("toolUse").is_none() {
                    return Err(err(
                        format!("{at}.content[{j}]"),
                        "expected a string or a {\"text\": …} block",
                    ));
                }
            }
            Ok(parts.join("\n"))
        }
        _ => Err(err(at, "content must be a string or a list of blocks")),
    }
}

fn tool_calls_of(content: &Value, at: &str) -> Result<Vec<ToolCall>, ConverseError> {
    let Some(blocks) = content.as_array() else {
        return Ok(Vec::new());
    };
    blocks
        .iter()
        .filter_map(|b| b.get("toolUse"))
        .map(|t| {
            Ok(ToolCall {
                id: t
                    .get("toolUseId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                name: t
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(at, "toolUse block without `name`"))?
                    .to_string(),
                arguments: t
                    .get("input")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            })
        })
        .collect()
}

fn tool_result_id(content: &Value) -> Option<String> {
    content.as_array()?.iter().find_map(|b| {
        b.get("toolResult")?
            .get("toolUseId")?
            .as_str()
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_list_and_converse_blocks() {
        let c = parse(r#"[{"role":"system","content":"Be brief."},{"role":"user","content":[{"text":"Hi"},{"text":"there"}]}]"#).unwrap();
        assert_eq!(c.system.as_deref(), Some("Be brief."));
        assert_eq!(c.messages, vec![Message::user("Hi\nthere")]);
        let c =
            parse(r#"{"system":[{"text":"S"}],"messages":[{"role":"assistant","content":"A"}]}"#)
                .unwrap();
        assert_eq!(c.system.as_deref(), Some("S"));
        assert_eq!(c.messages[0].role, Role::Assistant);
    }

    #[test]
    fn tool_use_and_results() {
        let c = parse(r#"[{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"calc","input":{"x":1}}}]},
                         {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"2"}]}}]}]"#)
        .unwrap();
        assert_eq!(c.messages[0].tool_calls[0].name, "calc");
        assert_eq!(c.messages[0].tool_calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(c.messages[1].role, Role::Tool);
        assert_eq!(c.messages[1].tool_call_id.as_deref(), Some("t1"));
        assert_eq!(c.messages[1].content, "2");
    }

    #[test]
    fn errors_say_where() {
        assert!(parse("[{\"role\":\"bot\",\"content\":\"x\"}]")
            .unwrap_err()
            .to_string()
            .starts_with("messages[0]: unknown role `bot`"));
        assert!(parse("{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert!(parse("[{\"content\":\"x\"}]")
            .unwrap_err()
            .to_string()
            .contains("missing `role`"));
    }
}

//! Tool calls for local models, which have no native tool calling. The tools are described
//! in the system prompt (whatever the chat template knows of tools) with the one form a call
//! takes, `<tool_call>` + `{"name": …, "arguments": …}` + `</tool_call>`; the model chooses
//! between answering and calling with how it starts (`<tool` starts a call); the call
//! itself is then generated under a constraint compiled at run time from
//! the tools' JSON Schemas (objects, required properties, strings, numbers, integers,
//! booleans, enums, arrays) into a regular expression that kalosm's `RegexParser` enforces
//! token by token, so it always names a tool the model has, with arguments of the right
//! shape.

use serde_json::Value;

use crate::runtime::types::{Message, Role, ToolDef};

/// What opens a call in the model's text.
pub const CALL_OPEN: &str = "<tool_call>";
/// How the model shows it is calling: an answer that starts so is generated as a call
/// (small models write `<tool_response>` or `<tools>` as often as `<tool_call>`).
pub const CALL_INTENT: &str = "<tool";
/// What closes it.
pub const CALL_CLOSE: &str = "</tool_call>";

/// One JSON string character (no raw control characters; the usual escapes).
const STRING_CHAR: &str = r#"([^"\\\x00-\x1f]|\\["\\/bfnrt])"#;
const INTEGER: &str = r"-?(0|[1-9][0-9]{0,15})";
/// Arguments of a schema this compiler does not know: any one-line object.
const ANY_OBJECT: &str = r"\{[^\n]{0,400}\}";

/// `text` as a JSON string literal, escaped for a regular expression.
fn literal(text: &str) -> String {
    regex::escape(&Value::String(text.to_string()).to_string())
}

/// The longest expression [`schema_regex`] builds (schemas come from agent files and MCP
/// servers: nested optional members would otherwise grow it exponentially).
const MAX_SCHEMA_REGEX: usize = 64 * 1024;
/// How deep schemas may nest.
const MAX_SCHEMA_DEPTH: usize = 32;

/// The regular expression of the JSON a schema allows, written with `": "` and `", "`
/// between members (object properties in the schema's order, required ones first). It
/// always compiles with the `regex` crate: a schema whose expression would not (too
/// large, too deeply nested, `minLength` over `maxLength`) is an error.
pub fn schema_regex(schema: &Value) -> Result<String, String> {
    let expression = schema_part(schema, 0)?;
    regex::Regex::new(&expression).map_err(|e| match e {
        regex::Error::CompiledTooBig(_) => "the schema's expression is too large".to_string(),
        _ => "the schema's expression does not compile".to_string(),
    })?;
    Ok(expression)
}

/// Refuses an expression longer than [`MAX_SCHEMA_REGEX`].
fn bounded(expression: String) -> Result<String, String> {
    if expression.len() > MAX_SCHEMA_REGEX {
        return Err("the schema's expression is too large".into());
    }
    Ok(expression)
}

fn schema_part(schema: &Value, depth: usize) -> Result<String, String> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(format!("a schema nested more than {MAX_SCHEMA_DEPTH} deep"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let options = values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(literal(s)),
                Value::Number(_) | Value::Bool(_) | Value::Null => {
                    Ok(regex::escape(&v.to_string()))
                }
                _ => Err(format!("an enum of {v} is not supported")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return bounded(format!("({})", options.join("|")));
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // `["string", "null"]`: the first type that is not null.
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => return Err("a schema without a type".into()),
    };
    bounded(match kind {
        "string" => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            match schema.get("maxLength").and_then(Value::as_u64) {
                Some(max) if max < min => {
                    return Err(format!(
                        "a string with minLength {min} over maxLength {max}"
                    ))
                }
                Some(max) => format!(r#""{STRING_CHAR}{{{min},{max}}}""#),
                None if min > 0 => format!(r#""{STRING_CHAR}{{{min},}}""#),
                None => format!(r#""{STRING_CHAR}*""#),
            }
        }
        "integer" => INTEGER.into(),
        "number" => format!(r"{INTEGER}(\.[0-9]{{1,12}})?"),
        "boolean" => "(true|false)".into(),
        "null" => "null".into(),
        "array" => {
            let item = match schema.get("items") {
                Some(items) => schema_part(items, depth + 1)?,
                None => return Err("an array without items".into()),
            };
            if item.len().saturating_mul(2) > MAX_SCHEMA_REGEX {
                return Err("the schema's expression is too large".into());
            }
            format!(r"\[({item}(, {item})*)?\]")
        }
        "object" => object_regex(schema, depth)?,
        other => return Err(format!("the type {other} is not supported")),
    })
}

fn object_regex(schema: &Value, depth: usize) -> Result<String, String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let (mut must, mut optional) = (Vec::new(), Vec::new());
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let member = format!("{}: {}", literal(name), schema_part(property, depth + 1)?);
            if required.contains(&name.as_str()) {
                must.push(member);
            } else {
                optional.push(member);
            }
        }
    }
    // Optional members follow in order, each present or not: `tail[i]` is the length of
    // `rest(i)`, so the size is known (and refused when too large) before it is built.
    let mut tail = vec![0usize; optional.len() + 1];
    for i in (0..optional.len()).rev() {
        tail[i] = tail[i + 1].saturating_add(optional[i].len() + 5);
    }
    let size = if !must.is_empty() {
        must.iter()
            .fold(tail[0], |n, m| n.saturating_add(m.len() + 2))
    } else {
        (0..optional.len()).fold(4usize, |n, i| {
            n.saturating_add(optional[i].len() + 1)
                .saturating_add(tail[i + 1])
        })
    };
    if size > MAX_SCHEMA_REGEX {
        return Err("the schema's expression is too large".into());
    }
    let rest = |from: usize| -> String {
        optional[from..]
            .iter()
            .map(|m| format!("(, {m})?"))
            .collect()
    };
    // An object that declares no properties and does not close itself takes any members.
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    if must.is_empty() && optional.is_empty() && !closed {
        return Ok(ANY_OBJECT.into());
    }
    let body = if !must.is_empty() {
        must.join(", ") + &rest(0)
    } else if optional.is_empty() {
        String::new()
    } else {
        let starts: Vec<String> = (0..optional.len())
            .map(|i| optional[i].clone() + &rest(i + 1))
            .collect();
        format!("({})?", starts.join("|"))
    };
    bounded(format!(r"\{{{body}\}}"))
}

/// The regular expression of one call to any of `tools`, after `<tool_call>\n`: the JSON
/// object naming the tool with its arguments, then the closing tag. A tool whose schema
/// this compiler does not know takes any one-line object as arguments.
pub fn call_regex(tools: &[ToolDef]) -> String {
    calls_regex(tools, |t| {
        schema_regex(&t.parameters).unwrap_or_else(|e| {
            tracing::warn!("tool `{}`: {e}; its arguments are not constrained", t.name);
            ANY_OBJECT.into()
        })
    })
}

/// `call_regex` with every tool's arguments any one-line object (for schemas whose
/// expression is too large for the parser's automaton).
pub fn loose_call_regex(tools: &[ToolDef]) -> String {
    calls_regex(tools, |_| ANY_OBJECT.into())
}

fn calls_regex(tools: &[ToolDef], arguments: impl Fn(&ToolDef) -> String) -> String {
    let options: Vec<String> = tools
        .iter()
        .map(|t| {
            let arguments = arguments(t);
            format!(
                r#"\{{"name": {}, "arguments": {arguments}\}}"#,
                literal(&t.name)
            )
        })
        .collect();
    format!(r"({})\n{}", options.join("|"), regex::escape(CALL_CLOSE))
}

/// The tool name and JSON arguments of a call the constraint produced.
pub fn parse_call(raw: &str) -> Option<(String, String)> {
    let json = raw.trim().trim_end_matches(CALL_CLOSE).trim();
    let value: Value = serde_json::from_str(json).ok()?;
    let name = value.get("name")?.as_str()?.to_string();
    let arguments = value.get("arguments").cloned().unwrap_or(Value::Null);
    Some((name, arguments.to_string()))
}

/// What the system prompt says about the tools when the chat template does not: each
/// tool with its arguments' schema, and the form of a call.
pub fn instructions(tools: &[ToolDef]) -> String {
    let mut text = String::from(
        "You can call tools. To call one, reply with nothing but the call:\n\
         <tool_call>\n{\"name\": \"TOOL\", \"arguments\": {…}}\n</tool_call>\n\
         To answer without a tool, just write the answer.\nTools:",
    );
    for tool in tools {
        text.push_str(&format!(
            "\n- {}: {} Arguments: {}",
            tool.name, tool.description, tool.parameters
        ));
    }
    text
}

/// The conversation with the tools in it, for any chat template: the tools described in
/// the system message, the model's own calls written as it writes them, and tool results
/// as user messages that say which tool returned what (a role every template accepts).
pub fn in_prompt(messages: &[Message], tools: &[ToolDef]) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    let start = usize::from(messages.first().is_some_and(|m| m.role == Role::System));
    if !tools.is_empty() {
        let described = instructions(tools);
        match messages.first() {
            Some(first) if first.role == Role::System => out.push(Message {
                content: format!("{}\n\n{described}", first.content),
                ..first.clone()
            }),
            _ => out.push(Message::system(described)),
        }
    } else if let Some(first) = messages.first().filter(|_| start == 1) {
        out.push(first.clone());
    }
    for m in &messages[start..] {
        match m.role {
            Role::Assistant if !m.tool_calls.is_empty() => {
                let mut content = m.content.clone();
                for call in &m.tool_calls {
                    // As the constraint writes it: the name first.
                    let arguments: Value =
                        serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
                    let json = format!(
                        "{{\"name\": {}, \"arguments\": {arguments}}}",
                        Value::String(call.name.clone())
                    );
                    if !content.is_empty() {
                        content.push('\n');
                    }
                    content.push_str(&format!("{CALL_OPEN}\n{json}\n{CALL_CLOSE}"));
                }
                out.push(Message::assistant(content));
            }
            // Small models read a result best as a plain statement with what to do next
            // (in `<tool_response>` tags SmolLM2 only echoes it back).
            Role::Tool => {
                let tool = m
                    .tool_call_id
                    .as_deref()
                    .and_then(|id| {
                        messages
                            .iter()
                            .flat_map(|m| &m.tool_calls)
                            .find(|c| c.id == id)
                    })
                    .map_or("tool", |c| c.name.as_str());
                out.push(Message::user(format!(
                    "The tool {tool} returned:\n{}\nAnswer the question with it, or call \
                     another tool if you need more.",
                    m.content
                )));
            }
            _ => out.push(m.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(schema: Value, text: &str) -> bool {
        let re = regex::Regex::new(&format!("^{}$", schema_regex(&schema).unwrap())).unwrap();
        re.is_match(text)
    }

    #[test]
    fn objects_with_required_and_optional_properties() {
        let schema = json!({
            "type": "object",
            "properties": {
                "order_id": { "type": "string" },
                "verbose": { "type": "boolean" },
            },
            "required": ["order_id"],
        });
        assert!(matches(schema.clone(), r#"{"order_id": "A1001"}"#));
        assert!(matches(
            schema.clone(),
            r#"{"order_id": "A\"1", "verbose": true}"#
        ));
        assert!(
            !matches(schema.clone(), r#"{"verbose": true}"#),
            "required missing"
        );
        assert!(!matches(schema.clone(), r#"{"order_id": 5}"#), "wrong type");
        assert!(
            !matches(schema, r#"{"order_id": "a", "other": 1}"#),
            "unknown key"
        );
        let optional = json!({ "type": "object", "properties": {
            "a": { "type": "integer" }, "b": { "type": "number" } } });
        for ok in [
            r#"{}"#,
            r#"{"a": -3}"#,
            r#"{"b": 0.5}"#,
            r#"{"a": 1, "b": 2}"#,
        ] {
            assert!(matches(optional.clone(), ok), "{ok}");
        }
        assert!(!matches(optional, r#"{"a": 01}"#));
    }

    #[test]
    fn enums_arrays_and_limits() {
        let schema = json!({ "type": "object", "required": ["unit", "tags"], "properties": {
            "unit": { "enum": ["c", "f"] },
            "tags": { "type": "array", "items": { "type": "string", "maxLength": 3 } } } });
        assert!(matches(schema.clone(), r#"{"unit": "c", "tags": []}"#));
        assert!(matches(
            schema.clone(),
            r#"{"unit": "f", "tags": ["ab", "xyz"]}"#
        ));
        assert!(!matches(schema.clone(), r#"{"unit": "k", "tags": []}"#));
        assert!(!matches(schema, r#"{"unit": "c", "tags": ["long"]}"#));
        assert!(schema_regex(&json!({ "type": "array" })).is_err());
        assert!(schema_regex(&json!({ "oneOf": [] })).is_err());
    }

    #[test]
    fn a_call_names_one_of_the_tools_and_parses_back() {
        let tools = [
            ToolDef {
                name: "lookup_order".into(),
                description: "Look up an order.".into(),
                parameters: json!({ "type": "object", "required": ["order_id"],
                    "properties": { "order_id": { "type": "string" } } }),
            },
            ToolDef {
                name: "odd".into(),
                description: String::new(),
                parameters: json!({ "oneOf": [] }),
            },
        ];
        let re = regex::Regex::new(&format!("^{}$", call_regex(&tools))).unwrap();
        let call =
            "{\"name\": \"lookup_order\", \"arguments\": {\"order_id\": \"A1\"}}\n</tool_call>";
        assert!(re.is_match(call));
        assert!(!re.is_match(&call.replace("lookup_order", "drop_table")));
        assert!(re.is_match("{\"name\": \"odd\", \"arguments\": {\"x\": [1]}}\n</tool_call>"));
        assert_eq!(
            parse_call(call),
            Some(("lookup_order".into(), r#"{"order_id":"A1"}"#.into()))
        );
        assert_eq!(parse_call("not json"), None);
    }

    #[test]
    fn templates_without_tools_see_calls_and_results_as_text() {
        let tools = [ToolDef {
            name: "t".into(),
            description: "Does t.".into(),
            parameters: json!({ "type": "object" }),
        }];
        let mut call = Message::assistant("");
        call.tool_calls.push(crate::runtime::types::ToolCall {
            id: "c1".into(),
            name: "t".into(),
            arguments: r#"{"a":1}"#.into(),
        });
        let mut result = Message::user("42");
        result.role = Role::Tool;
        result.tool_call_id = Some("c1".into());
        let out = in_prompt(
            &[
                Message::system("Be brief."),
                Message::user("q"),
                call,
                result,
            ],
            &tools,
        );
        assert_eq!(out.len(), 4);
        assert!(out[0].content.starts_with("Be brief.") && out[0].content.contains("- t: Does t."));
        assert_eq!(
            out[2].content,
            "<tool_call>\n{\"name\": \"t\", \"arguments\": {\"a\":1}}\n</tool_call>"
        );
        assert!(out[2].tool_calls.is_empty());
        assert_eq!(out[3].role, Role::User);
        assert!(out[3].content.starts_with("The tool t returned:\n42\n"));
    }
}

//! Renders a conversation with the model's own chat template (the Jinja template stored in
//! the GGUF file), the way Hugging Face transformers does, tools included.

use minijinja::{context, Environment, ErrorKind};

use crate::runtime::types::{Message, ToolDef};

/// A compiled chat template with the model's special tokens.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source` (as found under `tokenizer.chat_template`).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // Templates are written for Python's Jinja: allow its string methods, and trim
        // whitespace around blocks the way transformers compiles them.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        // A format chrono cannot read is an error (its `to_string` would panic).
        env.add_function(
            "strftime_now",
            |format: String| -> Result<String, minijinja::Error> {
                use std::fmt::Write;
                let mut out = String::new();
                write!(out, "{}", chrono::Local::now().format(&format)).map_err(|_| {
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("strftime_now: `{format}` is not a valid date format"),
                    )
                })?;
                Ok(out)
            },
        );
        env.add_template_owned("chat", neutralize_generation_blocks(source))?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// The prompt text for `messages`, ending with the assistant's turn opener.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[ToolDef],
    ) -> Result<String, minijinja::Error> {
        let messages: Vec<minijinja::Value> = messages
            .iter()
            .map(|m| {
                let tool_calls: Vec<minijinja::Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let arguments: serde_json::Value = serde_json::from_str(&c.arguments)
                            .unwrap_or(serde_json::Value::String(c.arguments.clone()));
                        context! { id => c.id, type => "function",
                            function => context! { name => c.name, arguments => minijinja::Value::from_serialize(&arguments) } }
                    })
                    .collect();
                if tool_calls.is_empty() {
                    context! { role => m.role.as_str(), content => m.content, tool_call_id => m.tool_call_id }
                } else {
                    context! { role => m.role.as_str(), content => m.content, tool_calls => tool_calls }
                }
            })
            .collect();
        let tools: Option<Vec<minijinja::Value>> = (!tools.is_empty()).then(|| {
            tools
                .iter()
                .map(|t| {
                    context! { type => "function", function => context! {
                    name => t.name, description => t.description,
                    parameters => minijinja::Value::from_serialize(&t.parameters) } }
                })
                .collect()
        });
        let template = self.env.get_template("chat")?;
        template.render(context! {
            messages,
            tools,
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
    }
}

/// Replaces transformers' `{% generation %}` markers (which only tag assistant text and
/// which minijinja does not know) with an always-true block.
fn neutralize_generation_blocks(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        // The closing `%}` starts after the opening `{%` (in `{%}` they overlap).
        let body_start = open + 2;
        let Some(len) = rest[body_start..].find("%}") else {
            break;
        };
        let end = body_start + len + 2;
        let tag = &rest[open..end];
        let keyword = rest[body_start..body_start + len]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        out.push_str(&rest[..open]);
        match keyword {
            "generation" => out.push_str(&tag.replacen("generation", "if true", 1)),
            "endgeneration" => out.push_str(&tag.replacen("endgeneration", "endif", 1)),
            _ => out.push_str(tag),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::types::ToolCall;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml_with_generation_prompt() {
        let t = ChatTemplate::new(CHATML, "", "<|im_end|>").unwrap();
        let text = t
            .render(&[Message::system("Be brief."), Message::user("Hi")], &[])
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn passes_tools_and_tool_calls_to_the_template() {
        let src = "{% if tools %}TOOLS:{% for t in tools %}{{ t.function.name }}{% endfor %};{% endif %}{% for m in messages %}{% if m.tool_calls %}{% for c in m.tool_calls %}CALL {{ c.function.name }}({{ c.function.arguments.city }});{% endfor %}{% else %}{{ m.role }}:{{ m.content|trim }};{% endif %}{% endfor %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        let mut call = Message::assistant("");
        call.tool_calls.push(ToolCall {
            id: "1".into(),
            name: "weather".into(),
            arguments: r#"{"city":"Oslo"}"#.into(),
        });
        let tools = [ToolDef {
            name: "weather".into(),
            description: "d".into(),
            parameters: serde_json::json!({}),
        }];
        let text = t.render(&[Message::user(" Hi "), call], &tools).unwrap();
        assert_eq!(text, "TOOLS:weather;user:Hi;CALL weather(Oslo);");
    }

    #[test]
    fn generation_blocks_and_exceptions() {
        let src = "{%- generation -%}x{%- endgeneration -%}{% if messages|length > 1 %}{{ raise_exception('one only') }}{% endif %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&[Message::user("a")], &[]).unwrap(), "x");
        let err = t
            .render(&[Message::user("a"), Message::user("b")], &[])
            .unwrap_err();
        assert!(err.to_string().contains("one only"), "{err}");
    }

    #[test]
    fn malformed_templates_are_errors_not_panics() {
        for source in [
            "{%}",
            "{%",
            "%}{%}{%",
            "{%-}",
            "{% generation %}",
            "{% endgeneration %}",
            "{%}{% endgeneration %}{%",
            "{{",
            "{{ }}",
            "{% for m in messages %}",
            "{% if true %}{% endfor %}",
            "{{ messages[ }}",
            "{% raw %}",
            "{# unclosed",
            "{{ 'a' | nosuchfilter }}",
        ] {
            let compiled = std::panic::catch_unwind(|| ChatTemplate::new(source, "", ""));
            let compiled = compiled.unwrap_or_else(|_| panic!("compiling {source:?} panicked"));
            match compiled {
                Err(_) => {}
                // Some parse lazily: rendering must then fail cleanly (or succeed).
                Ok(t) => {
                    let _ = t.render(&[Message::user("hi")], &[]);
                }
            }
        }
        assert!(ChatTemplate::new("{%}", "", "").is_err());
    }

    #[test]
    fn bad_date_formats_are_errors_not_panics() {
        let t = ChatTemplate::new("{{ strftime_now('%Q %Y') }}", "", "").unwrap();
        let err = t.render(&[Message::user("hi")], &[]).unwrap_err();
        assert!(err.to_string().contains("not a valid date format"), "{err}");
        let t = ChatTemplate::new("{{ strftime_now('%Y') }}", "", "").unwrap();
        assert_eq!(t.render(&[], &[]).unwrap().len(), 4);
    }

    #[test]
    fn runaway_templates_end_with_an_error() {
        let source = "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}";
        if let Ok(t) = ChatTemplate::new(source, "", "") {
            assert!(t.render(&[Message::user("hi")], &[]).is_err());
        }
    }
}

//! The request and event types every provider speaks: a Converse-style message list in,
//! a stream of text / tool-call deltas, usage and a stop reason out.

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    /// The name chat templates and OpenAI-style APIs use for this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text, possibly invalid).
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// A function the model may call, described by a JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON schema of the arguments object.
    #[serde(default = "empty_object_schema")]
    pub parameters: serde_json::Value,
}

fn empty_object_schema() -> serde_json::Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// Sampling parameters. `None` means the provider's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Penalty (> 1 discourages) on tokens seen in the last 64; local models only.
    /// Unset: 1.1 when sampling, none when greedy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
}

impl Params {
    /// Temperature 0 (greedy decoding): the same request always gives the same answer.
    pub fn is_deterministic(&self) -> bool {
        self.temperature == Some(0.0)
    }
}

/// A chat request as a provider receives it (after input guardrails).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model's name at its provider (catalog id without the provider prefix).
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub params: Params,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef>,
    /// Whether the model must call one of `tools` (OpenAI's `tool_choice`).
    #[serde(default, skip_serializing_if = "ToolChoice::is_auto")]
    pub tool_choice: ToolChoice,
}

/// Whether a model with tools must call one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model chooses between answering and calling.
    #[default]
    Auto,
    /// The model must call a tool.
    Required,
    /// The model must call this tool.
    Tool(String),
    /// The model must answer without a tool.
    None,
}

impl ToolChoice {
    pub fn is_auto(&self) -> bool {
        *self == ToolChoice::Auto
    }
}

impl ChatRequest {
    /// The full message list with the system prompt first, as templates expect it.
    pub fn all_messages(&self) -> Vec<Message> {
        let mut all = Vec::with_capacity(self.messages.len() + 1);
        if let Some(system) = self.system.as_deref().filter(|s| !s.is_empty()) {
            all.push(Message::system(system));
        }
        all.extend(self.messages.iter().cloned());
        all
    }
}

/// Tokens a chat template adds around each message (role markers, separators).
pub const PER_MESSAGE_TOKENS: u32 = 6;

/// A message's tokens estimated at four characters a token (tool calls included), for
/// models whose tokenizer Strata does not have. The one estimate every count falls back to.
pub fn estimate_tokens(m: &Message) -> u32 {
    let tool_text: usize = m
        .tool_calls
        .iter()
        .map(|c| c.name.chars().count() + c.arguments.chars().count())
        .sum();
    ((m.content.chars().count() + tool_text) as u32).div_ceil(4) + PER_MESSAGE_TOKENS
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// `max_tokens` was reached.
    MaxTokens,
    /// A stop sequence was produced.
    StopSequence,
    /// The model asked for tools.
    ToolUse,
    /// A guardrail or the provider's content filter intervened.
    ContentFiltered,
    /// The caller cancelled.
    Cancelled,
    /// The stream broke before the model finished.
    Incomplete,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ToolUse => "tool_use",
            StopReason::ContentFiltered => "content_filtered",
            StopReason::Cancelled => "cancelled",
            StopReason::Incomplete => "incomplete",
        }
    }
}

/// What a check did, as the invocation record keeps it: its strongest action per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Hold,
    Mask,
    Review,
    Block,
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A piece of answer text.
    TextDelta { text: String },
    /// A piece of a tool call, as a provider streams it; `index` groups the pieces of one
    /// call. Callers never see pieces: they get each call whole, as `ToolCall`.
    ToolCallDelta {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default)]
        arguments: String,
    },
    /// A whole tool call, after its checks (sent by the pipeline, not providers).
    ToolCall(ToolCall),
    /// Token counts (usually once, at the end).
    Usage(Usage),
    /// Generation ended.
    Stop { reason: StopReason },
    /// A check masked or blocked part of the call (sent by the pipeline, not providers).
    Intervention {
        check: String,
        action: Action,
        detail: String,
    },
}

/// An embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    pub model: String,
    pub inputs: Vec<String>,
}

/// Embedding vectors, one per input, in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResponse {
    pub vectors: Vec<Vec<f32>>,
    pub usage: Usage,
}

/// Assembles streamed tool-call deltas into whole calls.
#[derive(Debug, Default, Clone)]
pub struct ToolCallAssembler {
    calls: Vec<(u32, ToolCall)>,
}

impl ToolCallAssembler {
    pub fn push(&mut self, index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) {
        let pos = match self.calls.iter().position(|(i, _)| *i == index) {
            Some(pos) => pos,
            None => {
                self.calls.push((
                    index,
                    ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    },
                ));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[pos].1;
        // OpenAI sends the id and name once; some servers (llama-cpp-python) repeat them
        // whole in every piece: a repeat is not appended.
        if let Some(id) = id.filter(|id| *id != call.id) {
            call.id.push_str(id);
        }
        if let Some(name) = name.filter(|name| *name != call.name) {
            call.name.push_str(name);
        }
        call.arguments.push_str(arguments);
    }

    /// A call that arrived whole, after the calls so far.
    pub fn push_whole(&mut self, call: ToolCall) {
        // Indexes come from the server: one at u32::MAX must not overflow.
        let index = self
            .calls
            .iter()
            .map(|(i, _)| i.saturating_add(1))
            .max()
            .unwrap_or(0);
        self.calls.push((index, call));
    }

    pub fn finish(self) -> Vec<ToolCall> {
        self.calls.into_iter().map(|(_, c)| c).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_tool_call_deltas_assemble_into_whole_calls() {
        let mut calls = ToolCallAssembler::default();
        assert!(calls.is_empty());
        // Two calls streamed in turns; ids and names arrive split across pieces.
        calls.push(0, Some("call_"), Some("get_"), "");
        calls.push(1, Some("call_b"), Some("sum"), "{\"a\":");
        calls.push(0, Some("a1"), Some("weather"), "{\"city\":");
        calls.push(1, None, None, " 1, \"b\": 2}");
        calls.push(0, None, None, "\"Oslo\"}");
        assert!(!calls.is_empty());
        assert_eq!(
            calls.finish(),
            vec![
                ToolCall {
                    id: "call_a1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Oslo"}"#.into(),
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "sum".into(),
                    arguments: r#"{"a": 1, "b": 2}"#.into(),
                },
            ]
        );
    }

    #[test]
    fn ids_and_names_repeated_whole_in_every_piece_are_kept_once() {
        let mut calls = ToolCallAssembler::default();
        calls.push(0, Some("call_1"), Some("lookup_order"), "{\"order_id\": ");
        calls.push(0, Some("call_1"), Some("lookup_order"), "\"A1\"}");
        let done = calls.finish();
        assert_eq!(done[0].id, "call_1");
        assert_eq!(done[0].name, "lookup_order");
        assert_eq!(done[0].arguments, r#"{"order_id": "A1"}"#);
    }

    #[test]
    fn calls_keep_the_order_they_started_in_whatever_their_index() {
        let mut calls = ToolCallAssembler::default();
        calls.push(3, Some("x"), Some("late"), "{}");
        calls.push(1, Some("y"), Some("early"), "{");
        calls.push(3, None, None, "");
        calls.push(1, None, None, "}");
        let done = calls.finish();
        let names: Vec<&str> = done.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["late", "early"]);
        assert_eq!(done[1].arguments, "{}");
        assert_eq!(done[0].arguments, "{}");
    }
}

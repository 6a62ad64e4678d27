//! An agent's configuration: the model, its instructions and parameters, and the slots for
//! tools, knowledge bases and a guardrail that later features fill. A session holds one;
//! a plain chat is a run of the built-in default agent (no tools).

use serde::{Deserialize, Serialize};

use crate::runtime::types::{Params, ToolChoice, ToolDef};

/// Answer length cap of new sessions (editable per session); small local models
/// otherwise ramble until the context is full.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// What a run of this agent sends and may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Catalog id of the model.
    pub model: String,
    /// The system prompt.
    #[serde(default, rename = "system")]
    pub instructions: Option<String>,
    #[serde(default)]
    pub params: Params,
    /// Tools the model may call (empty: a plain chat).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef>,
    /// Knowledge bases whose passages ground the answers, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knowledge_bases: Vec<String>,
    /// Passages retrieved per question from the knowledge bases (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_top_k: Option<usize>,
    /// The guardrail (NAME or NAME@VERSION) whose checks apply to every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    /// Model calls one run may make (tool round trips count); 1 without tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<usize>,
    /// Which of a run's model calls must call a tool.
    #[serde(default, skip_serializing_if = "AgentToolChoice::is_auto")]
    pub tool_choice: AgentToolChoice,
}

/// Which of a run's model calls must call a tool. Written `auto`, `required`, `first` or
/// `first:TOOL` in agent files and stored sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AgentToolChoice {
    /// Every call chooses between answering and calling.
    #[default]
    Auto,
    /// The run's first model call must call a tool (a lookup before any answer: small
    /// models otherwise answer from what they imagine); later calls choose.
    First,
    /// The run's first model call must call this tool; later calls choose.
    FirstTool(String),
    /// Every model call must call a tool (the run ends at its step limit).
    Required,
}

impl TryFrom<String> for AgentToolChoice {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Ok(match text.as_str() {
            "auto" => AgentToolChoice::Auto,
            "first" => AgentToolChoice::First,
            "required" => AgentToolChoice::Required,
            other => match other.strip_prefix("first:") {
                Some(tool) if !tool.trim().is_empty() => {
                    AgentToolChoice::FirstTool(tool.trim().to_string())
                }
                _ => {
                    return Err(format!(
                        "\"{text}\" is not a tool choice: auto, first, first:TOOL or required"
                    ))
                }
            },
        })
    }
}

impl From<AgentToolChoice> for String {
    fn from(choice: AgentToolChoice) -> String {
        match choice {
            AgentToolChoice::Auto => "auto".into(),
            AgentToolChoice::First => "first".into(),
            AgentToolChoice::FirstTool(tool) => format!("first:{tool}"),
            AgentToolChoice::Required => "required".into(),
        }
    }
}

impl AgentToolChoice {
    pub fn is_auto(&self) -> bool {
        *self == AgentToolChoice::Auto
    }

    /// What the model call at step `index` of a run is asked.
    pub fn for_step(&self, index: u32) -> ToolChoice {
        match self {
            AgentToolChoice::Auto => ToolChoice::Auto,
            AgentToolChoice::First if index <= 1 => ToolChoice::Required,
            AgentToolChoice::FirstTool(tool) if index <= 1 => ToolChoice::Tool(tool.clone()),
            AgentToolChoice::First | AgentToolChoice::FirstTool(_) => ToolChoice::Auto,
            AgentToolChoice::Required => ToolChoice::Required,
        }
    }

    /// The tool it names, if any.
    pub fn tool(&self) -> Option<&str> {
        match self {
            AgentToolChoice::FirstTool(tool) => Some(tool),
            _ => None,
        }
    }
}

impl AgentConfig {
    /// The built-in default agent on `model`: no instructions, no tools.
    pub fn default_for(model: &str) -> AgentConfig {
        AgentConfig {
            model: model.to_string(),
            instructions: None,
            params: Params {
                max_tokens: Some(DEFAULT_MAX_TOKENS),
                ..Params::default()
            },
            tools: Vec::new(),
            knowledge_bases: Vec::new(),
            knowledge_top_k: None,
            guardrail: None,
            max_turns: None,
            tool_choice: AgentToolChoice::Auto,
        }
    }

    /// How many model calls a run of this agent may make.
    pub fn turn_budget(&self) -> usize {
        self.max_turns
            .unwrap_or(if self.tools.is_empty() { 1 } else { 8 })
            .max(1)
    }
}

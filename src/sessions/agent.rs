//! An agent's configuration: the model, its instructions and parameters, and the slots for
//! tools, knowledge bases and a guardrail that later features fill. A session holds one;
//! a plain chat is a run of the built-in default agent (no tools).

use serde::{Deserialize, Serialize};

use crate::runtime::types::{Params, ToolDef};

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
        }
    }

    /// How many model calls a run of this agent may make.
    pub fn turn_budget(&self) -> usize {
        self.max_turns
            .unwrap_or(if self.tools.is_empty() { 1 } else { 8 })
            .max(1)
    }
}

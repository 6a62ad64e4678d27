//! The checks of a call (guardrails implement them): one on the request before the model,
//! one on the answer while it streams (allow / hold / mask / block), one on each tool call.
//! This module holds the contract only; `release` applies it to a stream.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::types::{Action, ChatRequest, ToolCall};

/// A check's answer about the request.
#[derive(Debug, Clone, PartialEq)]
pub enum InputDecision {
    Allow,
    /// The check rewrote the request (e.g. masked an email); it goes on.
    Masked {
        detail: String,
    },
    /// Stop the call; `reason` is shown to the user and recorded.
    Block {
        reason: String,
    },
}

/// A span of the answer to replace, in byte offsets of the text the check was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSpan {
    pub start: usize,
    pub end: usize,
    /// What stands in its place (e.g. `{EMAIL}`).
    pub placeholder: String,
}

/// A check's answer about the answer text so far.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputDecision {
    /// Everything may be shown.
    Allow,
    /// Keep the last `chars` characters back until more text arrives (a pattern may be
    /// starting there). Ignored at the end of the stream.
    Hold { chars: usize },
    /// Replace these spans (none may start before the text already released).
    Mask(Vec<MaskSpan>),
    /// Stop the answer; nothing unreleased is shown or stored.
    Block { reason: String },
    /// The answer waits for a person's approval (the response-approval workflow). Before
    /// the end it holds everything unreleased; at the end the held answer is kept back from
    /// the caller's stream and returned as needing review.
    Review { reason: String },
}

/// Where in the call a check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Input,
    Output,
    ToolCall,
}

/// One check's decision on one stage of a call, with the time it took in total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDecision {
    pub check: String,
    pub stage: Stage,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How often it ran (output checks run once per streamed piece).
    pub calls: u32,
    /// Time spent in the check, all calls together, in microseconds.
    pub time_us: u64,
}

/// A check around model calls. Every method has an allowing default, so a check
/// implements only the stages it cares about.
#[async_trait]
pub trait Check: Send + Sync {
    /// Name shown in records, events and messages.
    fn name(&self) -> &str;

    /// A digest of the check's configuration (version, thresholds, word lists): part of
    /// the response-cache key, so a changed check never lets an old answer through.
    fn config_digest(&self) -> String;

    /// Runs before the model; may rewrite the request or block it.
    async fn check_input(&self, _request: &mut ChatRequest) -> InputDecision {
        InputDecision::Allow
    }

    /// Runs on the answer so far (`text`, with earlier masks applied); the first
    /// `released` bytes were already shown and cannot change. `end` is true once, when
    /// the stream has ended: the whole answer, nothing more to wait for.
    async fn check_output(&self, _text: &str, _released: usize, _end: bool) -> OutputDecision {
        OutputDecision::Allow
    }

    /// The message shown in place of what this check blocked at `stage` (a guardrail's
    /// blocked-input or blocked-output message); None shows the reason instead.
    fn blocked_message(&self, _stage: Stage) -> Option<String> {
        None
    }

    /// Runs on each tool call before it reaches the caller; masks apply to the arguments.
    async fn check_tool_call(&self, _call: &ToolCall) -> OutputDecision {
        OutputDecision::Allow
    }
}

/// The checks of one call.
pub type Checks = Vec<Arc<dyn Check>>;

/// Collects decisions: one entry per check and stage, keeping the strongest action.
#[derive(Debug, Default, Clone)]
pub struct DecisionLog {
    pub entries: Vec<CheckDecision>,
}

impl DecisionLog {
    pub fn note(
        &mut self,
        check: &str,
        stage: Stage,
        action: Action,
        detail: Option<String>,
        time: std::time::Duration,
    ) {
        let time_us = time.as_micros() as u64;
        match self
            .entries
            .iter_mut()
            .find(|e| e.check == check && e.stage == stage)
        {
            Some(e) => {
                e.calls += 1;
                e.time_us += time_us;
                if action > e.action {
                    e.action = action;
                    e.detail = detail;
                }
            }
            None => self.entries.push(CheckDecision {
                check: check.to_string(),
                stage,
                action,
                detail,
                calls: 1,
                time_us,
            }),
        }
    }
}

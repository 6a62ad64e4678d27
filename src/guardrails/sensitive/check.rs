//! `SensitiveInfoCheck`: blocks or anonymizes sensitive values on the request, the
//! streamed answer and tool-call arguments (the `runtime::checks` contract). Not
//! responsible for detecting them (`detectors`, `pending`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::detectors::contains;
use super::{find, pending_from, EntityType, Finding};
use crate::runtime::checks::{Check, InputDecision, MaskSpan, OutputDecision};
use crate::runtime::types::{ChatRequest, Role, ToolCall};

/// What to do with a sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveAction {
    /// Stop the request, answer or tool call.
    Block,
    /// Replace the value with its placeholder (`{EMAIL}`, …).
    Anonymize,
}

/// Blocks or anonymizes sensitive values, per type; types without an action pass.
#[derive(Debug, Clone)]
pub struct SensitiveInfoCheck {
    actions: BTreeMap<EntityType, SensitiveAction>,
    min_confidence: f32,
}

/// The configuration's version, part of the digest: bump it when detection changes.
const VERSION: &str = "sensitive-info-v1";

impl SensitiveInfoCheck {
    /// A check with the given action per type.
    pub fn new(actions: impl IntoIterator<Item = (EntityType, SensitiveAction)>) -> Self {
        SensitiveInfoCheck {
            actions: actions.into_iter().collect(),
            min_confidence: 0.0,
        }
    }

    /// A check that anonymizes every type.
    pub fn anonymize_all() -> Self {
        Self::new(EntityType::ALL.map(|e| (e, SensitiveAction::Anonymize)))
    }

    /// Sets (or replaces) one type's action.
    pub fn with_action(mut self, entity: EntityType, action: SensitiveAction) -> Self {
        self.actions.insert(entity, action);
        self
    }

    /// Ignores findings below this confidence.
    pub fn with_min_confidence(mut self, min: f32) -> Self {
        self.min_confidence = min;
        self
    }

    /// The findings this check acts on, each with its action.
    fn findings(&self, text: &str) -> Vec<(Finding, SensitiveAction)> {
        self.act_on(find(text))
    }

    fn act_on(&self, found: Vec<Finding>) -> Vec<(Finding, SensitiveAction)> {
        found
            .into_iter()
            .filter(|f| f.confidence >= self.min_confidence)
            .filter_map(|f| self.actions.get(&f.entity).map(|a| (f, *a)))
            .collect()
    }

    /// Spans to mask: anonymized findings not inside another one (masks cannot nest).
    fn spans(findings: &[&Finding]) -> Vec<MaskSpan> {
        findings
            .iter()
            .filter(|f| {
                !findings
                    .iter()
                    .any(|o| contains(o, f) && (o.start, o.end) != (f.start, f.end))
            })
            .map(|f| MaskSpan {
                start: f.start,
                end: f.end,
                placeholder: f.entity.placeholder().to_string(),
            })
            .collect()
    }

    fn block_reason(where_: &str, f: &Finding) -> String {
        format!("{where_} contains {}", f.entity.describe())
    }

    /// Masks or blocks one text (a message or tool arguments); Ok(None) when untouched.
    fn rewrite(
        &self,
        text: &str,
        where_: &str,
    ) -> Result<Option<(String, Vec<EntityType>)>, String> {
        let findings = self.findings(text);
        if let Some((f, _)) = findings.iter().find(|(_, a)| *a == SensitiveAction::Block) {
            return Err(Self::block_reason(where_, f));
        }
        if findings.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&Finding> = findings.iter().map(|(f, _)| f).collect();
        let mut spans = Self::spans(&refs);
        spans.sort_by_key(|s| std::cmp::Reverse(s.start));
        let mut out = text.to_string();
        for s in &spans {
            out.replace_range(s.start..s.end, &s.placeholder);
        }
        Ok(Some((
            out,
            findings.iter().map(|(f, _)| f.entity).collect(),
        )))
    }
}

#[async_trait]
impl Check for SensitiveInfoCheck {
    fn name(&self) -> &str {
        "sensitive_info"
    }

    fn config_digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(VERSION.as_bytes());
        for (e, a) in &self.actions {
            h.update(format!("|{e:?}={a:?}").as_bytes());
        }
        h.update(format!("|min={}", self.min_confidence).as_bytes());
        hex::encode(h.finalize())
    }

    async fn check_input(&self, request: &mut ChatRequest) -> InputDecision {
        let mut masked: Vec<EntityType> = Vec::new();
        for m in request
            .messages
            .iter_mut()
            .filter(|m| matches!(m.role, Role::User | Role::Tool))
        {
            match self.rewrite(&m.content, "the request") {
                Err(reason) => return InputDecision::Block { reason },
                Ok(Some((text, kinds))) => {
                    m.content = text;
                    masked.extend(kinds);
                }
                Ok(None) => {}
            }
        }
        if masked.is_empty() {
            return InputDecision::Allow;
        }
        let count = masked.len();
        masked.sort();
        masked.dedup();
        let kinds: Vec<&str> = masked.iter().map(|e| e.placeholder()).collect();
        InputDecision::Masked {
            detail: format!("masked {count} value(s): {}", kinds.join(", ")),
        }
    }

    async fn check_output(&self, text: &str, released: usize, end: bool) -> OutputDecision {
        // Before the end, the unfinished tail is left alone and held back; findings that
        // end before it are final.
        // Only the line holding `released` and what follows can still change: no value
        // but a PEM block spans a line break, and an open PEM block is never released.
        // Scanning from there keeps a long answer from being rescanned whole per piece.
        let from = text[..released].rfind('\n').map_or(0, |i| i + 1);
        let window = &text[from..];
        let mut found = find(window);
        let pending = if end {
            text.len()
        } else {
            pending_from(window, &found)
                .map_or(text.len(), |p| p + from)
                .max(released)
        };
        for f in &mut found {
            f.start += from;
            f.end += from;
        }
        let findings: Vec<(Finding, SensitiveAction)> = self
            .act_on(found)
            .into_iter()
            .filter(|(f, _)| f.end > released && f.end <= pending)
            .collect();
        if let Some((f, _)) = findings
            .iter()
            .find(|(f, a)| *a == SensitiveAction::Block || f.start < released)
        {
            return OutputDecision::Block {
                reason: Self::block_reason("the answer", f),
            };
        }
        let refs: Vec<&Finding> = findings.iter().map(|(f, _)| f).collect();
        let spans = Self::spans(&refs);
        if !spans.is_empty() {
            return OutputDecision::Mask(spans);
        }
        if end || pending >= text.len() {
            return OutputDecision::Allow;
        }
        OutputDecision::Hold {
            chars: text[pending..].chars().count(),
        }
    }

    async fn check_tool_call(&self, call: &ToolCall) -> OutputDecision {
        let findings = self.findings(&call.arguments);
        if let Some((f, _)) = findings.iter().find(|(_, a)| *a == SensitiveAction::Block) {
            return OutputDecision::Block {
                reason: Self::block_reason(&format!("the arguments of {}", call.name), f),
            };
        }
        let refs: Vec<&Finding> = findings.iter().map(|(f, _)| f).collect();
        let spans = Self::spans(&refs);
        if spans.is_empty() {
            OutputDecision::Allow
        } else {
            OutputDecision::Mask(spans)
        }
    }
}

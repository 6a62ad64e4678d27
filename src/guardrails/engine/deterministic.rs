//! The deterministic policies of a guardrail: filtered words, sensitive values and custom
//! regex entities found in a text, merged into hits, their rows, and masking. Not
//! responsible for the detectors themselves (`words`, `sensitive`) or scoring by meaning.

use super::{verdict_of, Guardrail, Item, PolicyAssessment, PolicyKind, Source};
use crate::guardrails::policy::PolicyAction;
use crate::guardrails::sensitive::{self, EntityType, SensitiveAction};

/// A sensitive value or filtered word found by the deterministic policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub policy: PolicyKind,
    pub start: usize,
    pub end: usize,
    pub label: String,
    pub action: PolicyAction,
    pub placeholder: String,
}

/// Characters of a streamed answer held back while custom regex entities are on: a custom
/// match longer than this that began in released text stops the answer instead.
pub const CUSTOM_HOLD: usize = 64;

impl Guardrail {
    /// Filtered words and sensitive values in `text`, each with its action.
    pub fn deterministic(&self, text: &str) -> Vec<Hit> {
        self.scan(text, false).0
    }

    /// The hits of `text` and, for a streamed text (`streaming`), where a word or value may
    /// still be arriving at its end (hold from there). One pass of the detectors serves both.
    pub fn scan(&self, text: &str, streaming: bool) -> (Vec<Hit>, Option<usize>) {
        let mut hits = Vec::new();
        if let Some(words) = &self.words {
            let action = self.policy.word_filters.action;
            hits.extend(words.scan(text).into_iter().map(|m| Hit {
                policy: PolicyKind::WordFilter,
                start: m.start,
                end: m.end,
                label: if m.profanity {
                    "profanity".into()
                } else {
                    m.word
                },
                action,
                placeholder: "{WORD}".into(),
            }));
        }
        let found = if !self.entity_actions.is_empty() || streaming && !self.custom.is_empty() {
            sensitive::find(text)
        } else {
            Vec::new()
        };
        if !self.entity_actions.is_empty() {
            for f in &found {
                if let Some((_, a)) = self.entity_actions.iter().find(|(e, _)| *e == f.entity) {
                    hits.push(Hit {
                        policy: PolicyKind::SensitiveInformation,
                        start: f.start,
                        end: f.end,
                        label: entity_name(f.entity),
                        action: sensitive_action(*a),
                        placeholder: f.entity.placeholder().to_string(),
                    });
                }
            }
        }
        for (name, re, action) in &self.custom {
            for m in re.find_iter(text).filter(|m| !m.is_empty()) {
                hits.push(Hit {
                    policy: PolicyKind::SensitiveInformation,
                    start: m.start(),
                    end: m.end(),
                    label: name.clone(),
                    action: sensitive_action(*action),
                    placeholder: format!("{{{}}}", name.to_uppercase()),
                });
            }
        }
        // Overlaps become one span (masks cannot nest): the earliest hit's label and
        // placeholder over both, with the stronger action (block over review over mask).
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let mut kept: Vec<Hit> = Vec::new();
        for h in hits {
            match kept.last_mut() {
                Some(k) if h.start < k.end => {
                    k.end = k.end.max(h.end);
                    if strength(h.action) > strength(k.action) {
                        k.action = h.action;
                    }
                }
                _ => kept.push(h),
            }
        }
        let pending = if streaming {
            self.pending_start(text, &found)
        } else {
            None
        };
        (kept, pending)
    }

    /// Where a value or word may still be arriving at the end of a streamed `text` whose
    /// sensitive findings are `found`.
    fn pending_start(&self, text: &str, found: &[sensitive::Finding]) -> Option<usize> {
        let mut start: Option<usize> = None;
        let mut earliest = |i: Option<usize>| {
            if let Some(i) = i {
                start = Some(start.map_or(i, |s: usize| s.min(i)));
            }
        };
        if let Some(w) = &self.words {
            earliest(w.pending_start(text));
        }
        if !self.entity_actions.is_empty() || !self.custom.is_empty() {
            earliest(sensitive::pending_from(text, found));
        }
        // A custom pattern may hold spaces or any script: keep its longest plausible match
        // (`CUSTOM_HOLD` characters) back until more text shows whether it matches.
        if !self.custom.is_empty() {
            earliest(
                text.char_indices()
                    .rev()
                    .nth(CUSTOM_HOLD - 1)
                    .map(|(i, _)| i)
                    .or(Some(0)),
            );
        }
        start
    }

    /// Whether custom regex entities are on (their matches may span one line break).
    pub fn has_custom_entities(&self) -> bool {
        !self.custom.is_empty()
    }

    /// A user-facing reason for a filtered word or sensitive value, which never repeats a
    /// custom word (the list may hold secret code names).
    pub fn hit_reason(hit: &Hit) -> String {
        match hit.policy {
            PolicyKind::WordFilter if hit.label == "profanity" => "word filter (profanity)".into(),
            PolicyKind::WordFilter => "word filter (a custom word)".into(),
            _ => format!("sensitive information ({})", hit.label),
        }
    }

    /// Rows for the deterministic policies from their hits.
    pub fn deterministic_rows(
        &self,
        hits: &[Hit],
        source: Source,
        took: u64,
    ) -> Vec<PolicyAssessment> {
        let mut rows = Vec::new();
        for (kind, on, action) in [
            (
                PolicyKind::WordFilter,
                self.words.is_some(),
                self.policy.word_filters.action,
            ),
            (
                PolicyKind::SensitiveInformation,
                !self.entity_actions.is_empty() || !self.custom.is_empty(),
                PolicyAction::Anonymize,
            ),
        ] {
            if !on {
                continue;
            }
            let name = match kind {
                PolicyKind::WordFilter => "word_filters",
                _ => "sensitive_information",
            };
            let mut row = PolicyAssessment::new(kind, name, action);
            row.time_us = took;
            // A row that matched shows the strongest action of its hits.
            let mut strongest: Option<PolicyAction> = None;
            for h in hits.iter().filter(|h| h.policy == kind) {
                row.verdict = row.verdict.max(verdict_of(h.action, source));
                if strongest.is_none_or(|a| strength(h.action) > strength(a)) {
                    strongest = Some(h.action);
                }
                row.items.push(Item {
                    start: h.start,
                    end: h.end,
                    label: h.label.clone(),
                    score: None,
                });
            }
            row.action = strongest.unwrap_or(action);
            rows.push(row);
        }
        rows
    }
}

/// How strongly an action acts, for merging overlapping hits.
fn strength(a: PolicyAction) -> u8 {
    match a {
        PolicyAction::Anonymize => 0,
        PolicyAction::Review => 1,
        PolicyAction::Block => 2,
    }
}

fn sensitive_action(a: SensitiveAction) -> PolicyAction {
    match a {
        SensitiveAction::Block => PolicyAction::Block,
        SensitiveAction::Anonymize => PolicyAction::Anonymize,
    }
}

/// An entity type's name as policy files spell it (`credit_card`).
pub fn entity_name(e: EntityType) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| format!("{e:?}"))
}

/// `text` with every anonymizing hit replaced by its placeholder.
pub fn mask(text: &str, hits: &[Hit]) -> String {
    let mut out = text.to_string();
    let mut spans: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.action == PolicyAction::Anonymize)
        .collect();
    spans.sort_by_key(|h| std::cmp::Reverse(h.start));
    for h in spans {
        out.replace_range(h.start..h.end, &h.placeholder);
    }
    out
}

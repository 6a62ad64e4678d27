//! A guardrail as the checks of one call: the request is assessed before the model (masked
//! or blocked); the answer is assessed while it streams (filtered words and secrets held
//! until whole and masked or blocked, sentences scored by meaning as they complete,
//! review and grounding holding the answer to its end). Each change of the per-policy
//! assessments is sent to the caller for the live panel.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::engine::{
    ApplyContext, FinalAction, Guardrail, Hit, PolicyAssessment, PolicyKind, Source, Verdict,
};
use super::policy::PolicyAction;
use crate::runtime::checks::{Check, InputDecision, MaskSpan, OutputDecision, Stage};
use crate::runtime::types::{ChatRequest, Role, ToolCall};

/// The assessments of one side of a call so far (for the live panel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailUpdate {
    /// `name@version`.
    pub guardrail: String,
    pub source: Source,
    pub rows: Vec<PolicyAssessment>,
    /// The final action once the side is done (None while the answer streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<FinalAction>,
}

#[derive(Default)]
struct State {
    ctx: ApplyContext,
    output_rows: BTreeMap<(PolicyKind, String), PolicyAssessment>,
    /// Sentences already scored by meaning (by text, so masks do not shift them).
    scored: HashSet<String>,
    /// A policy asked for review while the answer streamed.
    review: Option<String>,
}

/// One call's guardrail check.
pub struct GuardrailCheck {
    guardrail: Arc<Guardrail>,
    name: String,
    state: Mutex<State>,
    updates: Option<UnboundedSender<GuardrailUpdate>>,
}

impl GuardrailCheck {
    /// A check for one call; `updates` receives each change of the assessments.
    pub fn new(
        guardrail: Arc<Guardrail>,
        updates: Option<UnboundedSender<GuardrailUpdate>>,
    ) -> Self {
        GuardrailCheck {
            name: format!("guardrail:{}", guardrail.label),
            guardrail,
            state: Mutex::new(State::default()),
            updates,
        }
    }

    /// Grounding sources for this call (knowledge-base passages, a file).
    pub fn with_sources(self, sources: Vec<String>) -> Self {
        self.lock().ctx.sources = sources;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, source: Source, rows: Vec<PolicyAssessment>, action: Option<FinalAction>) {
        if let Some(tx) = &self.updates {
            let _ = tx.send(GuardrailUpdate {
                guardrail: self.guardrail.label.clone(),
                source,
                rows,
                action,
            });
        }
    }

    /// Merges output rows and sends the panel the whole picture.
    fn note_output(&self, rows: Vec<PolicyAssessment>, action: Option<FinalAction>) {
        let all = {
            let mut state = self.lock();
            merge_rows(&mut state.output_rows, rows);
            state.output_rows.values().cloned().collect()
        };
        self.send(Source::Output, all, action);
    }
}

#[async_trait]
impl Check for GuardrailCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn config_digest(&self) -> String {
        self.guardrail.digest().to_string()
    }

    fn blocked_message(&self, stage: Stage) -> Option<String> {
        let source = match stage {
            Stage::Input => Source::Input,
            _ => Source::Output,
        };
        Some(self.guardrail.blocked_message(source).to_string())
    }

    async fn check_input(&self, request: &mut ChatRequest) -> InputDecision {
        // The newest user message and what tools returned after it (where injected
        // instructions hide) get every policy. Earlier turns get the deterministic ones:
        // values found there are masked (whatever their action: it is history, not the new
        // request), so a secret sent before the guardrail was attached never reaches the
        // model again.
        let last_user = request.messages.iter().rposition(|m| m.role == Role::User);
        let Some(last_user) = last_user else {
            return InputDecision::Allow;
        };
        let query = request.messages[last_user].content.clone();
        self.lock().ctx.query = Some(query);
        let ctx = self.lock().ctx.clone();
        let mut rows: BTreeMap<(PolicyKind, String), PolicyAssessment> = BTreeMap::new();
        let mut masked = 0usize;
        let mut blocked: Option<String> = None;
        for m in request.messages[..last_user]
            .iter_mut()
            .filter(|m| matches!(m.role, Role::User | Role::Tool))
        {
            let hits = self.guardrail.deterministic(&m.content);
            if !hits.is_empty() {
                let all: Vec<Hit> = hits
                    .into_iter()
                    .map(|h| Hit {
                        action: PolicyAction::Anonymize,
                        ..h
                    })
                    .collect();
                m.content = super::engine::mask(&m.content, &all);
                masked += 1;
            }
        }
        for m in request.messages[last_user..]
            .iter_mut()
            .filter(|m| matches!(m.role, Role::User | Role::Tool))
        {
            let assessment = match self.guardrail.apply(Source::Input, &m.content, &ctx).await {
                Ok(a) => a,
                Err(e) => {
                    // A guardrail that cannot run must not let the request through.
                    self.send(Source::Input, Vec::new(), Some(FinalAction::Blocked));
                    return InputDecision::Block {
                        reason: format!("the guardrail could not run: {e}"),
                    };
                }
            };
            merge_rows(&mut rows, assessment.assessments);
            match assessment.action {
                FinalAction::Blocked => {
                    blocked = assessment.blocked_by;
                    break;
                }
                FinalAction::Anonymized => {
                    masked += 1;
                    m.content = assessment.output;
                }
                _ => {}
            }
        }
        let rows: Vec<PolicyAssessment> = rows.into_values().collect();
        let action = if blocked.is_some() {
            FinalAction::Blocked
        } else if masked > 0 {
            FinalAction::Anonymized
        } else {
            FinalAction::None
        };
        let mut items: Vec<String> = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Anonymized)
            .flat_map(|r| r.items.iter().map(|i| i.label.clone()))
            .collect();
        items.sort();
        items.dedup();
        self.send(Source::Input, rows, Some(action));
        match blocked {
            Some(by) => InputDecision::Block { reason: by },
            None if masked > 0 => InputDecision::Masked {
                detail: if items.is_empty() {
                    "masked values in earlier turns".into()
                } else {
                    format!("masked {}", items.join(", "))
                },
            },
            None => InputDecision::Allow,
        }
    }

    async fn check_output(&self, text: &str, released: usize, end: bool) -> OutputDecision {
        let g = &self.guardrail;
        let started = Instant::now();
        // 1. Words and sensitive values: only the line holding `released` onward can
        // still change (as in the sensitive-information check).
        let mut from = text[..released].rfind('\n').map_or(0, |i| i + 1);
        if g.has_custom_entities() && from > 0 {
            // Custom patterns may span one line break: start a line earlier.
            from = text[..from - 1].rfind('\n').map_or(0, |i| i + 1);
        }
        // A long line is not rescanned whole per piece: `SCAN_BACK` bytes before the
        // released point suffice (a longer value that began before them and is still
        // growing is found starting in released text, which blocks the answer).
        let floor = floor_char(text, released.saturating_sub(SCAN_BACK));
        from = from.max(floor);
        let window = &text[from..];
        let (mut hits, held) = g.scan(window, !end);
        let mut pending = if end {
            text.len()
        } else {
            held.map_or(text.len(), |p| p + from).max(released)
        };
        for h in &mut hits {
            h.start += from;
            h.end += from;
        }
        // Never release part of a value: a hit across the hold point is held from its start
        // (it may still grow, so it is not masked yet).
        for h in &hits {
            if h.start < pending && h.end > pending && h.start >= released {
                pending = h.start;
            }
        }
        hits.retain(|h| h.end > released && h.end <= pending);
        let took = started.elapsed().as_micros() as u64;
        // Hits held for review stay in the (held) text and are found again on every piece:
        // the panel counts them once, at the end.
        let acted: Vec<Hit> = hits
            .iter()
            .filter(|h| end || h.action != PolicyAction::Review)
            .cloned()
            .collect();
        if !acted.is_empty() || end {
            let rows = g.deterministic_rows(&acted, Source::Output, took);
            self.note_output(rows, None);
        }
        if let Some(h) = hits
            .iter()
            .find(|h| h.action == PolicyAction::Block || h.start < released)
        {
            self.note_output(Vec::new(), Some(FinalAction::Blocked));
            return OutputDecision::Block {
                reason: Guardrail::hit_reason(h),
            };
        }
        if let Some(h) = hits.iter().find(|h| h.action == PolicyAction::Review) {
            self.lock().review.get_or_insert(Guardrail::hit_reason(h));
        }
        let spans: Vec<MaskSpan> = hits
            .iter()
            .filter(|h| h.action == PolicyAction::Anonymize)
            .map(|h| MaskSpan {
                start: h.start,
                end: h.end,
                placeholder: h.placeholder.clone(),
            })
            .collect();
        if !spans.is_empty() {
            return OutputDecision::Mask(spans);
        }

        // 2. Meaning: complete sentences not scored yet.
        let mut boundary = text.len();
        if g.scores_by_meaning(Source::Output) {
            if !end {
                if let Some(u) = crate::text::unfinished_from(text) {
                    boundary = u.max(released);
                }
            }
            // Whole sentences only: from the start of the one holding `released` (the
            // deterministic window above may begin mid-sentence).
            let sem_from = crate::text::sentence_start(text, released).min(boundary);
            let todo: Vec<(usize, usize)> = crate::text::pieces(&text[sem_from..boundary])
                .into_iter()
                .map(|(s, e)| (s + sem_from, e + sem_from))
                .filter(|(s, e)| !self.lock().scored.contains(&text[*s..*e]))
                .collect();
            if !todo.is_empty() {
                let mut memo = super::embed::Memo::default();
                let rows = match g.semantic(Source::Output, text, &todo, &mut memo).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        return OutputDecision::Block {
                            reason: format!("the guardrail could not run: {e}"),
                        }
                    }
                };
                {
                    let mut state = self.lock();
                    for (s, e) in &todo {
                        state.scored.insert(text[*s..*e].to_string());
                    }
                }
                let flagged = rows
                    .iter()
                    .filter(|r| r.verdict > Verdict::Pass)
                    .max_by_key(|r| r.verdict)
                    .cloned();
                self.note_output(rows, None);
                if let Some(row) = flagged {
                    if row.verdict == Verdict::Blocked {
                        self.note_output(Vec::new(), Some(FinalAction::Blocked));
                        return OutputDecision::Block {
                            reason: row.describe(),
                        };
                    }
                    self.lock().review.get_or_insert(row.describe());
                }
            } else if end {
                self.note_output(g.semantic_rows_idle(Source::Output), None);
            }
        }

        // 3. The end: grounding, relevance and review.
        let ctx = self.lock().ctx.clone();
        if !end {
            if g.holds_whole_answer(&ctx) {
                return OutputDecision::Hold {
                    chars: text[released..].chars().count(),
                };
            }
            let hold_from = pending.min(boundary).max(released);
            return if hold_from < text.len() {
                OutputDecision::Hold {
                    chars: text[hold_from..].chars().count(),
                }
            } else {
                OutputDecision::Allow
            };
        }
        let rows = match g
            .grounding(text, &ctx, &mut super::embed::Memo::default())
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                return OutputDecision::Block {
                    reason: format!("the guardrail could not run: {e}"),
                }
            }
        };
        let failed = rows
            .iter()
            .filter(|r| r.verdict > Verdict::Pass)
            .max_by_key(|r| r.verdict)
            .cloned();
        self.note_output(rows, None);
        if let Some(row) = &failed {
            if row.verdict == Verdict::Blocked {
                self.note_output(Vec::new(), Some(FinalAction::Blocked));
                return OutputDecision::Block {
                    reason: row.describe(),
                };
            }
            self.lock().review.get_or_insert(row.describe());
        }
        if g.policy.review.all_outputs {
            self.lock()
                .review
                .get_or_insert("every answer waits for approval".into());
        }
        let review = self.lock().review.clone();
        match review {
            Some(reason) => {
                self.note_output(Vec::new(), Some(FinalAction::NeedsReview));
                OutputDecision::Review { reason }
            }
            None => {
                let anonymized = self
                    .lock()
                    .output_rows
                    .values()
                    .any(|r| r.verdict == Verdict::Anonymized);
                self.note_output(
                    Vec::new(),
                    Some(if anonymized {
                        FinalAction::Anonymized
                    } else {
                        FinalAction::None
                    }),
                );
                OutputDecision::Allow
            }
        }
    }

    async fn check_tool_call(&self, call: &ToolCall) -> OutputDecision {
        let hits = self.guardrail.deterministic(&call.arguments);
        if let Some(h) = hits.iter().find(|h| h.action != PolicyAction::Anonymize) {
            return OutputDecision::Block {
                reason: format!(
                    "the arguments of {}: {}",
                    call.name,
                    Guardrail::hit_reason(h)
                ),
            };
        }
        let spans: Vec<MaskSpan> = hits
            .iter()
            .map(|h| MaskSpan {
                start: h.start,
                end: h.end,
                placeholder: json_safe(&call.arguments, h.start, &h.placeholder),
            })
            .collect();
        if spans.is_empty() {
            OutputDecision::Allow
        } else {
            OutputDecision::Mask(spans)
        }
    }
}

/// Rows of the same policy merged into one (strongest verdict, best score, items added).
fn merge_rows(
    into: &mut BTreeMap<(PolicyKind, String), PolicyAssessment>,
    rows: Vec<PolicyAssessment>,
) {
    for row in rows {
        let key = (row.policy, row.name.clone());
        match into.get_mut(&key) {
            Some(r) => r.merge(row),
            None => {
                into.insert(key, row);
            }
        }
    }
}

/// How far before the released point the output check looks again.
const SCAN_BACK: usize = 512;

/// The char boundary at or before `i`.
fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A placeholder that keeps JSON arguments valid: quoted when the value it replaces is
/// not inside a JSON string (a bare number such as a card number).
fn json_safe(arguments: &str, start: usize, placeholder: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(arguments).is_err() {
        return placeholder.to_string();
    }
    let mut inside = false;
    let mut escaped = false;
    for c in arguments[..start].chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => inside = !inside,
            _ => {}
        }
    }
    if inside {
        placeholder.to_string()
    } else {
        format!("\"{placeholder}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::json_safe;
    use super::GuardrailCheck;
    use crate::guardrails::engine::Guardrail;
    use crate::guardrails::policy::Policy;
    use crate::runtime::checks::{Check, DecisionLog};
    use crate::runtime::release::Releaser;
    use std::sync::Arc;

    /// The custom-pattern hold (the last 64 characters) can fall inside a finished URL:
    /// the URL is then held whole, never released in part (which would block the answer).
    #[tokio::test]
    async fn a_hold_point_inside_a_value_holds_the_whole_value() {
        let policy = "name = \"p\"\n[sensitive_information]\nurl = \"anonymize\"\n\
            [[sensitive_information.regex]]\nname = \"t\"\npattern = \"TCK-[0-9]{6}\"\n\
            action = \"anonymize\"\n";
        let g = Guardrail::compile("p", Policy::parse(policy, "t").unwrap(), None)
            .await
            .unwrap();
        let checks: Vec<Arc<dyn Check>> = vec![Arc::new(GuardrailCheck::new(Arc::new(g), None))];
        let text = "Please see https://docs.example.com/page/0476. After that, carry on with \
            the rest of the steps in the usual order, as described.";
        let mut r = Releaser::default();
        let mut log = DecisionLog::default();
        let mut shown = String::new();
        let bytes: Vec<usize> = (1..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .collect();
        let mut start = 0;
        for end in bytes.chunks(3).filter_map(|c| c.last().copied()) {
            let (out, _) = r
                .push(&text[start..end], false, &checks, &mut log)
                .await
                .unwrap();
            shown.push_str(&out);
            start = end;
        }
        let (out, _) = r.push("", true, &checks, &mut log).await.unwrap();
        shown.push_str(&out);
        assert!(shown.starts_with("Please see {URL}. After that"), "{shown}");
    }

    #[test]
    fn placeholders_keep_json_arguments_valid() {
        let args = r#"{"card": 4111111111111111, "note": "pay 4111111111111111"}"#;
        let bare = args.find("4111").unwrap();
        let quoted = args.rfind("4111").unwrap();
        assert_eq!(json_safe(args, bare, "{CREDIT_CARD}"), "\"{CREDIT_CARD}\"");
        assert_eq!(json_safe(args, quoted, "{CREDIT_CARD}"), "{CREDIT_CARD}");
        assert_eq!(json_safe("not json 4111", 9, "{X}"), "{X}");
    }
}

//! A compiled guardrail and ApplyGuardrail: every policy of one version assessed on a
//! text (an input or an output), with matched items and their spans, scores against
//! thresholds, each policy's time, the final action and the masked text. The policies
//! run in `deterministic` (words, sensitive values), `semantic` (content filters, denied
//! topics) and `grounding` (grounding, relevance); the streaming check (`check.rs`) uses
//! the same pieces on a growing answer.

mod deterministic;
mod grounding;
mod semantic;

use std::sync::Arc;
use std::time::Instant;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::embed::{EmbeddingCache, Memo};
use super::policy::{Policy, PolicyAction};
use super::sensitive::{EntityType, SensitiveAction};
use super::words::WordFilter;
pub use deterministic::{entity_name, mask, Hit, CUSTOM_HOLD};

/// Which side of a call a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Input,
    Output,
}

/// The kinds of policy, as assessments name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    ContentFilter,
    DeniedTopic,
    WordFilter,
    SensitiveInformation,
    Grounding,
    Relevance,
    Review,
}

/// One policy's outcome; ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not applicable here (no source for grounding, direction off).
    Skipped,
    Pass,
    Anonymized,
    NeedsReview,
    Blocked,
}

/// A matched item: where, what and how sure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub start: usize,
    pub end: usize,
    /// Entity type, word, or the exemplar it was nearest to.
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// One policy's assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyAssessment {
    pub policy: PolicyKind,
    /// Category, topic name, or the policy kind again.
    pub name: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    pub action: PolicyAction,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    pub time_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PolicyAssessment {
    fn new(policy: PolicyKind, name: &str, action: PolicyAction) -> PolicyAssessment {
        PolicyAssessment {
            policy,
            name: name.to_string(),
            verdict: Verdict::Pass,
            score: None,
            threshold: None,
            action,
            items: Vec::new(),
            time_us: 0,
            note: None,
        }
    }

    /// "denied topic `investment advice` (0.71 ≥ 0.50)": what a blocked message names.
    pub fn describe(&self) -> String {
        let kind = match self.policy {
            PolicyKind::ContentFilter => "content filter",
            PolicyKind::DeniedTopic => "denied topic",
            PolicyKind::WordFilter => "word filter",
            PolicyKind::SensitiveInformation => "sensitive information",
            PolicyKind::Grounding => "grounding check",
            PolicyKind::Relevance => "relevance check",
            PolicyKind::Review => "review",
        };
        let mut s = match self.policy {
            PolicyKind::ContentFilter | PolicyKind::DeniedTopic => {
                format!("{kind} `{}`", self.name)
            }
            _ => kind.to_string(),
        };
        if let (Some(score), Some(t)) = (self.score, self.threshold) {
            let cmp = if matches!(self.policy, PolicyKind::Grounding | PolicyKind::Relevance) {
                "<"
            } else {
                "≥"
            };
            s.push_str(&format!(" ({score:.2} {cmp} {t:.2})"));
        } else if !self.items.is_empty() {
            // Custom words are never repeated in reasons (the list may hold code names).
            let mut labels: Vec<&str> = self
                .items
                .iter()
                .map(|i| match self.policy {
                    PolicyKind::WordFilter if i.label != "profanity" => "a custom word",
                    _ => i.label.as_str(),
                })
                .collect();
            labels.sort();
            labels.dedup();
            s.push_str(&format!(" ({})", labels.join(", ")));
        }
        s
    }

    /// Merges a later assessment of the same policy (streaming): strongest verdict, best
    /// score, items and time added up.
    pub fn merge(&mut self, other: PolicyAssessment) {
        if other.verdict > self.verdict {
            self.verdict = other.verdict;
        }
        self.score = match (self.score, other.score) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.threshold = self.threshold.or(other.threshold);
        self.items.extend(other.items);
        self.time_us += other.time_us;
        if other.note.is_some() {
            self.note = other.note;
        }
    }
}

/// What ApplyGuardrail decided overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    None,
    Anonymized,
    Blocked,
    NeedsReview,
}

/// The result of ApplyGuardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub guardrail: String,
    pub source: Source,
    pub action: FinalAction,
    /// The text to use: masked, or the blocked message.
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    pub assessments: Vec<PolicyAssessment>,
    pub time_us: u64,
}

/// What grounding and relevance are checked against.
#[derive(Debug, Clone, Default)]
pub struct ApplyContext {
    pub query: Option<String>,
    pub sources: Vec<String>,
}

/// One guardrail version, ready to run.
pub struct Guardrail {
    /// `name@3` or `name@draft`.
    pub label: String,
    pub policy: Policy,
    words: Option<WordFilter>,
    entity_actions: Vec<(EntityType, SensitiveAction)>,
    custom: Vec<(String, Regex, SensitiveAction)>,
    categories: Vec<semantic::CategoryFilter>,
    topics: Vec<semantic::TopicFilter>,
    /// Embeds texts (exemplars and sources cached); None when no policy scores by meaning.
    cache: Option<Arc<EmbeddingCache>>,
    digest: String,
}

impl std::fmt::Debug for Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guardrail")
            .field("label", &self.label)
            .finish()
    }
}

/// The engine's version, part of every digest: bump it when scoring changes.
const ENGINE_VERSION: &str = "guardrail-engine-v1";

impl Guardrail {
    /// Compiles a policy; policies that score by meaning embed their exemplars through
    /// `cache` (computed once per text and model, then reused).
    pub async fn compile(
        label: &str,
        policy: Policy,
        cache: Option<Arc<EmbeddingCache>>,
    ) -> Result<Guardrail, String> {
        let words = WordFilter::new(&policy.word_filters.words, policy.word_filters.profanity);
        let entity_actions = policy.sensitive_information.actions();
        let mut custom = Vec::new();
        for r in &policy.sensitive_information.regex {
            let re = Regex::new(&r.pattern)
                .map_err(|e| format!("entity {:?}: the regex does not compile: {e}", r.name))?;
            custom.push((r.name.clone(), re, r.action));
        }
        let (categories, topics, cache) = if policy.needs_embeddings() {
            let cache = cache.ok_or_else(|| {
                format!("guardrail {label} scores by meaning and needs an embeddings model")
            })?;
            let (categories, topics) = semantic::filters(&policy, &cache).await?;
            (categories, topics, Some(cache))
        } else {
            (Vec::new(), Vec::new(), None)
        };
        let mut h = Sha256::new();
        h.update(ENGINE_VERSION.as_bytes());
        h.update(policy.to_toml().as_bytes());
        if let Some(c) = &cache {
            h.update(c.embedder().model().as_bytes());
        }
        Ok(Guardrail {
            label: label.to_string(),
            policy,
            words,
            entity_actions,
            custom,
            categories,
            topics,
            cache,
            digest: hex::encode(h.finalize()),
        })
    }

    /// Changes whenever the policy, the engine or the embeddings model does.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The message shown instead of a blocked input or output.
    pub fn blocked_message(&self, source: Source) -> &str {
        match source {
            Source::Input => &self.policy.blocked_input_message,
            Source::Output => &self.policy.blocked_output_message,
        }
    }

    /// Whether answers wait for their end (review or grounding): nothing is released early.
    pub fn holds_whole_answer(&self, ctx: &ApplyContext) -> bool {
        self.policy.may_review()
            || self.policy.grounding.is_some_and(|g| {
                g.relevance_threshold.is_some() && ctx.query.is_some()
                    || g.grounding_threshold.is_some() && !ctx.sources.is_empty()
            })
    }

    /// ApplyGuardrail: every policy on a whole text.
    pub async fn apply(
        &self,
        source: Source,
        text: &str,
        ctx: &ApplyContext,
    ) -> Result<Assessment, String> {
        let started = Instant::now();
        let t = Instant::now();
        let hits = self.deterministic(text);
        let mut rows = self.deterministic_rows(&hits, source, t.elapsed().as_micros() as u64);
        let spans = crate::text::pieces(text);
        // One memo for the whole assessment: each sentence is embedded once.
        let mut memo = Memo::default();
        rows.extend(self.semantic(source, text, &spans, &mut memo).await?);
        if source == Source::Output {
            rows.extend(self.grounding(text, ctx, &mut memo).await?);
            if self.policy.review.all_outputs {
                let mut row =
                    PolicyAssessment::new(PolicyKind::Review, "all_outputs", PolicyAction::Review);
                row.verdict = Verdict::NeedsReview;
                row.note = Some("every answer waits for approval".into());
                rows.push(row);
            }
        }
        Ok(self.conclude(source, text, &hits, rows, started))
    }

    /// The final action and output text from the rows (and the hits to mask).
    pub fn conclude(
        &self,
        source: Source,
        text: &str,
        hits: &[Hit],
        rows: Vec<PolicyAssessment>,
        started: Instant,
    ) -> Assessment {
        let worst = rows.iter().max_by_key(|r| r.verdict);
        let verdict = worst.map_or(Verdict::Pass, |r| r.verdict);
        let (action, output, blocked_by) = match verdict {
            Verdict::Blocked => (
                FinalAction::Blocked,
                self.blocked_message(source).to_string(),
                worst.map(PolicyAssessment::describe),
            ),
            v => {
                let masked = mask(text, hits);
                let action = match v {
                    Verdict::NeedsReview => FinalAction::NeedsReview,
                    Verdict::Anonymized => FinalAction::Anonymized,
                    _ if masked != text => FinalAction::Anonymized,
                    _ => FinalAction::None,
                };
                let by = (action == FinalAction::NeedsReview)
                    .then(|| worst.map(PolicyAssessment::describe))
                    .flatten();
                (action, masked, by)
            }
        };
        Assessment {
            guardrail: self.label.clone(),
            source,
            action,
            output,
            blocked_by,
            assessments: rows,
            time_us: started.elapsed().as_micros() as u64,
        }
    }
}

/// A matched policy's verdict: review applies to outputs; on inputs it blocks.
fn verdict_of(action: PolicyAction, source: Source) -> Verdict {
    match (action, source) {
        (PolicyAction::Block, _) | (PolicyAction::Review, Source::Input) => Verdict::Blocked,
        (PolicyAction::Review, Source::Output) => Verdict::NeedsReview,
        (PolicyAction::Anonymize, _) => Verdict::Anonymized,
    }
}

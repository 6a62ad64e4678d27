//! A compiled guardrail and ApplyGuardrail: every policy of one version assessed on a
//! text (an input or an output), with matched items and their spans, scores against
//! thresholds, each policy's time, the final action and the masked text. The streaming
//! check (`check.rs`) uses the same pieces on a growing answer.

use std::sync::Arc;
use std::time::Instant;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::classify::{self, ExemplarSet};
use super::embed::{ExemplarCache, Memo};
use super::policy::{Category, DeniedTopic, FilterStrength, Policy, PolicyAction, Strength};
use super::sensitive::{self, EntityType, SensitiveAction};
use super::words::WordFilter;

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

struct CategoryFilter {
    category: Category,
    strength: FilterStrength,
    set: ExemplarSet,
}

/// A model-based policy: a content category or a denied topic.
enum Filter<'a> {
    Category(&'a CategoryFilter),
    Topic(&'a TopicFilter),
}

struct TopicFilter {
    topic: DeniedTopic,
    set: ExemplarSet,
    threshold: f32,
}

/// One guardrail version, ready to run.
pub struct Guardrail {
    /// `name@3` or `name@draft`.
    pub label: String,
    pub policy: Policy,
    words: Option<WordFilter>,
    entity_actions: Vec<(EntityType, SensitiveAction)>,
    custom: Vec<(String, Regex, SensitiveAction)>,
    categories: Vec<CategoryFilter>,
    topics: Vec<TopicFilter>,
    /// Embeds texts (exemplars and sources cached); None when no policy scores by meaning.
    cache: Option<Arc<ExemplarCache>>,
    digest: String,
}

impl std::fmt::Debug for Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guardrail")
            .field("label", &self.label)
            .finish()
    }
}

/// Characters of a streamed answer held back while custom regex entities are on: a custom
/// match longer than this that began in released text stops the answer instead.
pub const CUSTOM_HOLD: usize = 64;

/// The engine's version, part of every digest: bump it when scoring changes.
const ENGINE_VERSION: &str = "guardrail-engine-v1";

impl Guardrail {
    /// Compiles a policy; policies that score by meaning embed their exemplars through
    /// `cache` (computed once per text and model, then reused).
    pub async fn compile(
        label: &str,
        policy: Policy,
        cache: Option<Arc<ExemplarCache>>,
    ) -> Result<Guardrail, String> {
        let words = WordFilter::new(&policy.word_filters.words, policy.word_filters.profanity);
        let entity_actions = policy.sensitive_information.actions();
        let mut custom = Vec::new();
        for r in &policy.sensitive_information.regex {
            let re = Regex::new(&r.pattern)
                .map_err(|e| format!("entity {:?}: the regex does not compile: {e}", r.name))?;
            custom.push((r.name.clone(), re, r.action));
        }
        let mut categories = Vec::new();
        let mut topics = Vec::new();
        let cache = if policy.needs_embeddings() {
            let cache = cache.ok_or_else(|| {
                format!("guardrail {label} scores by meaning and needs an embeddings model")
            })?;
            for (category, strength) in policy.content_filters.active() {
                let texts = classify::builtin_exemplars(category)?;
                categories.push(CategoryFilter {
                    category,
                    strength,
                    set: embed_set(&cache, texts.positive, texts.benign).await?,
                });
            }
            let contrast = if policy.denied_topics.is_empty() {
                Vec::new()
            } else {
                classify::topic_contrast()?
            };
            for topic in &policy.denied_topics {
                let mut positive = vec![topic.definition.clone()];
                positive.extend(topic.examples.iter().cloned());
                let mut benign = topic.allowed_examples.clone();
                benign.extend(contrast.iter().cloned());
                topics.push(TopicFilter {
                    topic: topic.clone(),
                    set: embed_set(&cache, positive, benign).await?,
                    threshold: topic.threshold.unwrap_or(classify::TOPIC_THRESHOLD),
                });
            }
            Some(cache)
        } else {
            None
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

    /// Whether any policy scores by meaning in this direction.
    pub fn scores_by_meaning(&self, source: Source) -> bool {
        !self.active_filters(source).is_empty()
    }

    /// The content filters and denied topics on for a direction, each with its row as it
    /// stands before anything is scored (name, action, threshold). One list serves the
    /// scoring, the idle rows the panel shows, and the share of the embedding time.
    fn active_filters(&self, source: Source) -> Vec<(PolicyAssessment, Filter<'_>)> {
        let mut out = Vec::new();
        for c in &self.categories {
            let strength = strength_for(c.strength, source);
            if let Some(threshold) = classify::category_threshold(c.category, strength) {
                let mut row = PolicyAssessment::new(
                    PolicyKind::ContentFilter,
                    c.category.as_str(),
                    c.strength.action,
                );
                row.threshold = Some(threshold);
                out.push((row, Filter::Category(c)));
            }
        }
        for t in self.topics.iter().filter(|t| topic_on(&t.topic, source)) {
            let mut row =
                PolicyAssessment::new(PolicyKind::DeniedTopic, &t.topic.name, t.topic.action);
            row.threshold = Some(t.threshold);
            out.push((row, Filter::Topic(t)));
        }
        out
    }

    /// Whether answers wait for their end (review or grounding): nothing is released early.
    pub fn holds_whole_answer(&self, ctx: &ApplyContext) -> bool {
        self.policy.may_review()
            || self.policy.grounding.is_some_and(|g| {
                g.relevance_threshold.is_some() && ctx.query.is_some()
                    || g.grounding_threshold.is_some() && !ctx.sources.is_empty()
            })
    }

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

    /// Scores `spans` of `text` against the content filters and denied topics of one
    /// direction: a row per active category and topic, flagged items being the spans that
    /// passed the threshold.
    pub async fn semantic(
        &self,
        source: Source,
        text: &str,
        spans: &[(usize, usize)],
        memo: &mut Memo,
    ) -> Result<Vec<PolicyAssessment>, String> {
        let active = self.active_filters(source);
        if active.is_empty() || spans.is_empty() {
            return Ok(active.into_iter().map(|(row, _)| row).collect());
        }
        let cache = self
            .cache
            .as_ref()
            .ok_or("the guardrail has no embeddings model")?;
        let started = Instant::now();
        // Placeholders of masked values (`{CREDIT_CARD}`) say nothing about meaning and pull
        // sentences towards fraud exemplars: they are left out, and a piece with nothing
        // else is not scored.
        let kept: Vec<((usize, usize), String)> = spans
            .iter()
            .map(|(s, e)| ((*s, *e), classify::for_meaning(&text[*s..*e])))
            .filter(|(_, t)| t.chars().filter(|c| c.is_alphabetic()).count() >= 3)
            .collect();
        let spans: Vec<(usize, usize)> = kept.iter().map(|(s, _)| *s).collect();
        let spans = spans.as_slice();
        let texts: Vec<String> = kept.into_iter().map(|(_, t)| t).collect();
        let vecs = memo.vectors(cache.embedder().as_ref(), &texts).await?;
        let embed_us = started.elapsed().as_micros() as u64;
        let share = embed_us / active.len() as u64;
        let mut rows = Vec::new();
        for (row, filter) in active {
            let t = Instant::now();
            let mut row = match filter {
                Filter::Category(c) => score_spans(row, spans, &vecs, |(s, e), v| {
                    let sim = c.set.similarity(v);
                    let label = c.set.positive_texts.get(sim.nearest).cloned();
                    let heuristic = (c.category == Category::PromptAttack)
                        .then(|| classify::attack_heuristic(&text[s..e]))
                        .flatten();
                    match heuristic {
                        Some((h, _, _)) if h > sim.score => (h, "attack phrasing".into()),
                        _ => (sim.score, label.unwrap_or_default()),
                    }
                }),
                Filter::Topic(topic) => score_spans(row, spans, &vecs, |_, v| {
                    (topic.set.similarity(v).score, topic.topic.name.clone())
                }),
            };
            if !row.items.is_empty() {
                row.verdict = verdict_of(row.action, source);
            }
            row.time_us = share + t.elapsed().as_micros() as u64;
            rows.push(row);
        }
        Ok(rows)
    }

    /// The model-based rows before anything was scored (so the panel lists them).
    pub fn semantic_rows_idle(&self, source: Source) -> Vec<PolicyAssessment> {
        self.active_filters(source)
            .into_iter()
            .map(|(row, _)| row)
            .collect()
    }

    /// Grounding of `answer` in the sources and its relevance to the query (outputs).
    pub async fn grounding(
        &self,
        answer: &str,
        ctx: &ApplyContext,
        memo: &mut Memo,
    ) -> Result<Vec<PolicyAssessment>, String> {
        let Some(g) = self.policy.grounding else {
            return Ok(Vec::new());
        };
        let cache = self
            .cache
            .as_ref()
            .ok_or("the guardrail has no embeddings model")?;
        let embed = cache.embedder().as_ref();
        let mut rows = Vec::new();
        let spans = classify::pieces(answer);
        let sentences: Vec<String> = spans
            .iter()
            .map(|(s, e)| answer[*s..*e].to_string())
            .collect();
        if let Some(threshold) = g.grounding_threshold {
            let t = Instant::now();
            let mut row = PolicyAssessment::new(PolicyKind::Grounding, "grounding", g.action);
            row.threshold = Some(threshold);
            if ctx.sources.is_empty() {
                row.verdict = Verdict::Skipped;
                row.note = Some("no grounding source given".into());
            } else if !sentences.is_empty() {
                let source = ctx.sources.join("\n");
                let passages: Vec<String> = classify::pieces(&source)
                    .iter()
                    .map(|(s, e)| source[*s..*e].to_string())
                    .collect();
                // Sources (knowledge-base passages, documents) come back call after call:
                // their vectors are cached like exemplars.
                let source_vecs = cache.vectors(&passages).await?;
                let answer_vecs = memo.vectors(embed, &sentences).await?;
                let mut total = 0f32;
                let mut weight = 0f32;
                for ((sentence, v), (s, e)) in sentences.iter().zip(&answer_vecs).zip(&spans) {
                    let support = classify::support(sentence, v, &source, &source_vecs);
                    let w = sentence.len() as f32;
                    total += support * w;
                    weight += w;
                    if support < threshold {
                        row.items.push(Item {
                            start: *s,
                            end: *e,
                            label: "unsupported".into(),
                            score: Some(support),
                        });
                    }
                }
                let score = if weight > 0.0 { total / weight } else { 1.0 };
                row.score = Some(score);
                if score < threshold {
                    row.verdict = verdict_of(g.action, Source::Output);
                }
            }
            row.time_us = t.elapsed().as_micros() as u64;
            rows.push(row);
        }
        if let Some(threshold) = g.relevance_threshold {
            let t = Instant::now();
            let mut row = PolicyAssessment::new(PolicyKind::Relevance, "relevance", g.action);
            row.threshold = Some(threshold);
            match &ctx.query {
                None => {
                    row.verdict = Verdict::Skipped;
                    row.note = Some("no query given".into());
                }
                Some(query) if !sentences.is_empty() => {
                    let query_vec = memo.vectors(embed, std::slice::from_ref(query)).await?;
                    let answer_vecs = memo.vectors(embed, &sentences).await?;
                    let score = classify::relevance(&query_vec[0], &answer_vecs);
                    row.score = Some(score);
                    if score < threshold {
                        row.verdict = verdict_of(g.action, Source::Output);
                    }
                }
                Some(_) => {}
            }
            row.time_us = t.elapsed().as_micros() as u64;
            rows.push(row);
        }
        Ok(rows)
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
        let spans = classify::pieces(text);
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

/// Scores each span with `score` (its score and the label of what it matched): the row's
/// score is the best, its items the spans at or above the row's threshold.
fn score_spans(
    mut row: PolicyAssessment,
    spans: &[(usize, usize)],
    vecs: &[Arc<Vec<f32>>],
    score: impl Fn((usize, usize), &[f32]) -> (f32, String),
) -> PolicyAssessment {
    let threshold = row.threshold.unwrap_or(f32::INFINITY);
    let mut best = 0f32;
    for (span, v) in spans.iter().zip(vecs) {
        let (s, label) = score(*span, v);
        best = best.max(s);
        if s >= threshold {
            row.items.push(Item {
                start: span.0,
                end: span.1,
                label,
                score: Some(s),
            });
        }
    }
    row.score = Some(best);
    row
}

async fn embed_set(
    cache: &ExemplarCache,
    positive: Vec<String>,
    benign: Vec<String>,
) -> Result<ExemplarSet, String> {
    let pos = cache.vectors(&positive).await?;
    let neg = if benign.is_empty() {
        Vec::new()
    } else {
        cache.vectors(&benign).await?
    };
    Ok(ExemplarSet {
        positive: pos,
        positive_texts: positive,
        benign: neg,
    })
}

fn strength_for(f: FilterStrength, source: Source) -> Strength {
    match source {
        Source::Input => f.input,
        Source::Output => f.output,
    }
}

fn topic_on(t: &DeniedTopic, source: Source) -> bool {
    match source {
        Source::Input => t.input,
        Source::Output => t.output,
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

//! The model-based policies of a guardrail: content filters and denied topics, their
//! exemplars embedded at compile time and text spans scored against them. Not
//! responsible for grounding and relevance (`grounding`) or the embeddings cache (`embed`).

use std::sync::Arc;
use std::time::Instant;

use regex::Regex;

use super::{verdict_of, Guardrail, Item, PolicyAssessment, PolicyKind, Source};
use crate::guardrails::classify::{self, ExemplarSet};
use crate::guardrails::embed::{EmbeddingCache, Memo};
use crate::guardrails::policy::{Category, DeniedTopic, FilterStrength, Policy, Strength};

pub(super) struct CategoryFilter {
    category: Category,
    strength: FilterStrength,
    set: ExemplarSet,
    /// The attack-phrasing rules (the prompt-attack category; empty for the others).
    attacks: &'static [(Regex, f32)],
}

/// A model-based policy: a content category or a denied topic.
enum Filter<'a> {
    Category(&'a CategoryFilter),
    Topic(&'a TopicFilter),
}

pub(super) struct TopicFilter {
    topic: DeniedTopic,
    set: ExemplarSet,
    threshold: f32,
}

/// The content filters and denied topics of `policy`, their exemplars embedded through
/// `cache`.
pub(super) async fn filters(
    policy: &Policy,
    cache: &EmbeddingCache,
) -> Result<(Vec<CategoryFilter>, Vec<TopicFilter>), String> {
    let mut categories = Vec::new();
    let mut topics = Vec::new();
    for (category, strength) in policy.content_filters.active() {
        let texts = classify::builtin_exemplars(category)?;
        let attacks = match category {
            Category::PromptAttack => classify::attack_patterns()?,
            _ => &[],
        };
        categories.push(CategoryFilter {
            category,
            strength,
            set: embed_set(cache, texts.positive, texts.benign).await?,
            attacks,
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
            set: embed_set(cache, positive, benign).await?,
            threshold: topic.threshold.unwrap_or(classify::TOPIC_THRESHOLD),
        });
    }
    Ok((categories, topics))
}

impl Guardrail {
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
                    let heuristic = classify::attack_heuristic(c.attacks, &text[s..e]);
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
    cache: &EmbeddingCache,
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

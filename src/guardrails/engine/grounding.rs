//! Grounding and relevance of an answer: its sentences scored for support in the given
//! sources and for closeness to the query. Not responsible for the scores' formulas
//! (`classify::support`, `classify::relevance`) or the other policies.

use std::time::Instant;

use super::{
    verdict_of, ApplyContext, Guardrail, Item, PolicyAssessment, PolicyKind, Source, Verdict,
};
use crate::guardrails::classify;
use crate::guardrails::embed::Memo;

impl Guardrail {
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
        let spans = crate::text::pieces(answer);
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
                let passages: Vec<String> = crate::text::pieces(&source)
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
}

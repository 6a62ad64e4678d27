//! Scores one answer with a job's metrics: the deterministic ones on the text, embedding
//! similarity with the local embedding model, model-graded ones (a rubric, groundedness
//! against the item's context) by a judge model whose call is a run like any other (its
//! reasoning is kept), and the operational ones from the call itself.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::dataset::Item;
use super::metrics;
use super::spec::{Metric, NamedMetric, JUDGE_MAX_TOKENS};
use super::store::ItemResult;
use super::EvalError;
use crate::orchestrator::oneshot::OneShot;
use crate::orchestrator::{Orchestrator, NO_GUARDRAIL};
use crate::runtime::context::Caller;
use crate::runtime::embeddings::{cosine, Embedder};
use crate::sessions::AgentConfig;

/// A job's metrics, compiled once.
pub struct Scorer {
    metrics: Vec<NamedMetric>,
    regexes: BTreeMap<String, regex::Regex>,
    schemas: BTreeMap<String, jsonschema::Validator>,
}

/// What scoring one answer found.
#[derive(Debug, Default)]
pub struct Scores {
    pub scores: BTreeMap<String, f64>,
    pub notes: BTreeMap<String, String>,
}

impl Scorer {
    pub fn new(metrics: Vec<NamedMetric>) -> Result<Scorer, EvalError> {
        let mut regexes = BTreeMap::new();
        let mut schemas = BTreeMap::new();
        for m in &metrics {
            match &m.metric {
                Metric::Regex { pattern } => {
                    let re = regex::Regex::new(pattern).map_err(|e| {
                        EvalError::Spec(format!("metric `{}`: bad pattern: {e}", m.label))
                    })?;
                    regexes.insert(m.label.clone(), re);
                }
                Metric::JsonSchema { schema } => {
                    let v = metrics::compile_schema(schema).map_err(|e| {
                        EvalError::Spec(format!("metric `{}`: bad schema: {e}", m.label))
                    })?;
                    schemas.insert(m.label.clone(), v);
                }
                _ => {}
            }
        }
        Ok(Scorer {
            metrics,
            regexes,
            schemas,
        })
    }

    /// Whether scoring calls models (a judge or an embedding model).
    pub fn calls_models(&self) -> bool {
        self.metrics.iter().any(|m| m.metric.model().is_some())
    }

    /// Scores `result` (its output and call figures) for `item`.
    pub async fn score(
        &self,
        orchestrator: &Orchestrator,
        origin: &str,
        item: &Item,
        result: &ItemResult,
        cancel: &CancellationToken,
    ) -> Scores {
        let mut out = Scores::default();
        let output = result.output.as_str();
        let failed = result.failed();
        for m in &self.metrics {
            let label = m.label.clone();
            let reference = item.reference.as_deref();
            if m.metric.needs_reference() && reference.is_none() {
                continue;
            }
            let reference = reference.unwrap_or_default();
            // A failed call has no answer: its quality scores are 0.
            if failed && m.metric.higher_is_better() {
                out.scores.insert(label.clone(), 0.0);
                out.notes.insert(label, "the call failed".into());
                continue;
            }
            let score = match &m.metric {
                Metric::ExactMatch => metrics::exact_match(output, reference),
                Metric::Contains => metrics::contains(output, reference),
                Metric::Regex { .. } => match self.regexes.get(&label) {
                    Some(re) => metrics::regex_match(output, re),
                    None => continue,
                },
                Metric::JsonValid => metrics::json_valid(output),
                Metric::JsonSchema { .. } => match self.schemas.get(&label) {
                    Some(v) => {
                        let (score, error) = metrics::json_schema(output, v);
                        if let Some(e) = error {
                            out.notes.insert(label.clone(), e);
                        }
                        score
                    }
                    None => continue,
                },
                Metric::TokenF1 => metrics::token_f1(output, reference),
                Metric::RougeL => metrics::rouge_l(output, reference),
                Metric::Bleu => metrics::bleu(output, reference),
                Metric::EmbeddingSimilarity { model } => {
                    match similarity(orchestrator, model, output, reference).await {
                        Ok(s) => s,
                        Err(e) => {
                            out.notes.insert(label, e);
                            continue;
                        }
                    }
                }
                Metric::Rubric { rubric, judge } => {
                    let ask =
                        rubric_prompt(&result.prompt, output, item.reference.as_deref(), rubric);
                    match grade(orchestrator, judge, origin, ask, cancel).await {
                        Ok(graded) => graded.note(&mut out, &label),
                        Err(e) => {
                            out.notes.insert(label, e);
                            continue;
                        }
                    }
                }
                Metric::Groundedness { judge } => {
                    let Some(context) = item.context.as_deref() else {
                        continue;
                    };
                    let ask = groundedness_prompt(context, output);
                    match grade(orchestrator, judge, origin, ask, cancel).await {
                        Ok(graded) => graded.note(&mut out, &label),
                        Err(e) => {
                            out.notes.insert(label, e);
                            continue;
                        }
                    }
                }
                Metric::Latency => {
                    out.scores.insert("latency_ms".into(), result.latency_ms);
                    continue;
                }
                Metric::Ttft => {
                    if let Some(t) = result.ttft_ms {
                        out.scores.insert("ttft_ms".into(), t);
                    }
                    continue;
                }
                Metric::Tokens => {
                    out.scores
                        .insert("input_tokens".into(), result.usage.input_tokens as f64);
                    out.scores
                        .insert("output_tokens".into(), result.usage.output_tokens as f64);
                    continue;
                }
                Metric::Cost => {
                    out.scores.insert("cost_usd".into(), result.cost_usd);
                    continue;
                }
                Metric::Errors => {
                    out.scores
                        .insert("errors".into(), if failed { 1.0 } else { 0.0 });
                    continue;
                }
            };
            out.scores.insert(label, score);
        }
        out
    }
}

/// Cosine similarity of the output's and the reference's embeddings.
async fn similarity(
    orchestrator: &Orchestrator,
    model: &str,
    output: &str,
    reference: &str,
) -> Result<f64, String> {
    if output.trim().is_empty() || reference.trim().is_empty() {
        return Ok(0.0);
    }
    let vectors = Embedder::new(orchestrator.runtime().clone(), model)
        .embed(vec![output.to_string(), reference.to_string()])
        .await
        .map_err(|e| format!("embedding with {model} failed: {e}"))?;
    match vectors.as_slice() {
        [a, b] => Ok(cosine(a, b) as f64),
        _ => Err(format!("{model} returned no embeddings")),
    }
}

/// The judge's instructions (the same for every model-graded metric).
const JUDGE_SYSTEM: &str = "You are a strict, fair grader. Think briefly about the answer, \
then end with one line `SCORE: N`, where N is a whole number from 1 (worst) to 5 (best).";

fn rubric_prompt(question: &str, answer: &str, reference: Option<&str>, rubric: &str) -> String {
    let reference = reference
        .map(|r| format!("Reference answer:\n{r}\n\n"))
        .unwrap_or_default();
    format!(
        "Grade the answer to the question by this rubric.\n\nRubric:\n{rubric}\n\n\
         Question:\n{question}\n\n{reference}Answer:\n{answer}\n\n\
         Give your reasoning, then `SCORE: N` (1 to 5)."
    )
}

fn groundedness_prompt(context: &str, answer: &str) -> String {
    format!(
        "Is every claim of the answer supported by the context? 5: all of it, 1: none of \
         it or it contradicts the context.\n\nContext:\n{context}\n\nAnswer:\n{answer}\n\n\
         Give your reasoning, then `SCORE: N` (1 to 5)."
    )
}

/// A judge's verdict: the score mapped to 0..1 ((N - 1) / 4) and its reasoning.
struct Graded {
    score: f64,
    reasoning: String,
}

impl Graded {
    /// Keeps the reasoning as the column's note; returns the score.
    fn note(self, out: &mut Scores, label: &str) -> f64 {
        out.notes.insert(label.to_string(), self.reasoning);
        self.score
    }
}

/// Asks a judge for its verdict.
async fn grade(
    orchestrator: &Orchestrator,
    judge: &str,
    origin: &str,
    question: String,
    cancel: &CancellationToken,
) -> Result<Graded, String> {
    let mut agent = AgentConfig::default_for(judge);
    agent.instructions = Some(JUDGE_SYSTEM.into());
    agent.params.temperature = Some(0.0);
    agent.params.max_tokens = Some(JUDGE_MAX_TOKENS);
    agent.guardrail = Some(NO_GUARDRAIL.into());
    let shot = OneShot {
        agent,
        history: Vec::new(),
        question,
        origin: format!("{origin}:judge"),
        caller: Caller::Eval,
        tags: vec!["judge".into()],
        use_cache: None,
        cancel: cancel.clone(),
    };
    let done = orchestrator
        .run_once(shot, |_| {})
        .await
        .map_err(|e| format!("the judge {judge} could not run: {e}"))?;
    if let Some(e) = &done.outcome.error {
        return Err(format!("the judge {judge} failed: {}", e.message));
    }
    let text = done.outcome.answer.content;
    match parse_score(&text) {
        Some(n) => Ok(Graded {
            score: (n - 1.0) / 4.0,
            reasoning: text.trim().to_string(),
        }),
        None => Err(format!(
            "the judge {judge} gave no `SCORE: N` line: {}",
            crate::eval::clip(text.trim(), 200)
        )),
    }
}

/// The last `SCORE: N` (or `Score: N/5`) in a judge's answer, N from 1 to 5.
pub fn parse_score(text: &str) -> Option<f64> {
    let lower = text.to_lowercase();
    let at = lower.rfind("score")?;
    let rest = lower[at + "score".len()..].trim_start_matches([' ', ':', '*', '=', '\t']);
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let n: f64 = digits.parse().ok()?;
    (1.0..=5.0).contains(&n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_scores_are_read_from_the_last_score_line() {
        assert_eq!(parse_score("Good answer.\nSCORE: 4"), Some(4.0));
        assert_eq!(parse_score("score 2 at first... **Score:** 5/5"), Some(5.0));
        assert_eq!(parse_score("SCORE: 9"), None);
        assert_eq!(parse_score("no number here"), None);
        assert_eq!(parse_score("Score: 3.5"), Some(3.5));
    }
}

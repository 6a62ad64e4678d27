//! Scoring a run again with the metrics of the evaluation item it came from: a run opened
//! from an item in the debugger and forked with a change (another model, instructions, a
//! tool result) is scored the way the job scored the item, beside the item's own scores.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::dataset::Item;
use super::score::Scorer;
use super::{EvalError, Evals};
use crate::sessions::MessageStatus;
use crate::store::Id;

/// Which answer of a job: the model (its index in the job) and the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    pub job: Id,
    pub model_index: usize,
    pub item: usize,
}

/// An item's scores as the job gave them, and a run's on the same metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Rescored {
    pub before: BTreeMap<String, f64>,
    pub after: BTreeMap<String, f64>,
    pub notes: BTreeMap<String, String>,
}

impl Rescored {
    /// `metric before → after` for each metric, on one line.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .after
            .iter()
            .map(|(metric, after)| match self.before.get(metric) {
                Some(before) => format!("{metric} {before:.2} → {after:.2}"),
                None => format!("{metric} {after:.2}"),
            })
            .collect();
        if parts.is_empty() {
            "no metric applies".into()
        } else {
            parts.join(" · ")
        }
    }
}

impl Evals {
    /// Scores the answer of `run` as the job scored `item` (its metrics, reference and
    /// judges); the item's own scores come with it.
    pub async fn rescore(&self, item: ItemRef, run: Id) -> Result<Rescored, EvalError> {
        let job = self
            .jobs
            .get(item.job)?
            .ok_or_else(|| EvalError::NoJob(item.job.to_string()))?;
        let original = self
            .jobs
            .results(item.job)?
            .into_iter()
            .find(|r| r.model_index == item.model_index && r.item == item.item)
            .ok_or_else(|| {
                EvalError::Spec(format!(
                    "job {} has no answer of model {} to item {}",
                    item.job, item.model_index, item.item
                ))
            })?;
        let orchestrator = &self.orchestrator;
        let stored = orchestrator
            .runs
            .get(run)?
            .ok_or_else(|| EvalError::Spec(format!("no run {run}")))?;
        let answer = orchestrator
            .sessions
            .message(stored.session, stored.answer_message)?
            .ok_or_else(|| EvalError::Spec(format!("the answer of run {run} is gone")))?;
        // The fork's own answer and figures (tokens, cost, time) are what is scored.
        let mut result = original.clone();
        result.output = answer.content.clone();
        result.run = run;
        result.error = stored.error.clone();
        result.usage = answer.usage.unwrap_or(stored.usage);
        result.cost_usd = answer.cost_usd;
        result.latency_ms = answer.latency_ms.unwrap_or_default();
        result.ttft_ms = None;
        result.status = match answer.status {
            MessageStatus::Complete => "complete".into(),
            _ => "error".into(),
        };
        result.scores.clear();
        result.notes.clear();
        let dataset_item = Item {
            line: original.line,
            id: original.item_id.clone(),
            prompt: original.prompt.clone(),
            history: Vec::new(),
            system: None,
            reference: original.reference.clone(),
            context: None,
            tags: original.tags.clone(),
            fields: Default::default(),
        };
        let scorer = Scorer::new(job.spec.resolved_metrics()?)?;
        let scores = scorer
            .score(
                orchestrator,
                &super::origin(&job),
                &dataset_item,
                &result,
                &CancellationToken::new(),
            )
            .await;
        Ok(Rescored {
            before: original.scores,
            after: scores.scores,
            notes: scores.notes,
        })
    }
}

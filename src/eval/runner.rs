//! The job runner, shared by evaluations and batches: every (model, item) pair not yet
//! done becomes a one-off run through the orchestrator, at most `concurrency` at once;
//! each finished item is scored and stored before the next progress report, so a job cut
//! off by a signal or a crash resumes without recomputing what finished. Cancelled calls
//! are not stored (they run again on resume).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::dataset::{Dataset, Item};
use super::score::Scorer;
use super::store::{ItemResult, Job, JobKind, JobStatus, JobStore};
use super::EvalError;
use crate::orchestrator::events::RunErrorKind;
use crate::orchestrator::oneshot::OneShot;
use crate::orchestrator::Orchestrator;
use crate::runtime::context::Caller;
use crate::sessions::AgentConfig;
use crate::store::now_micros;

/// Where a running job stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Items finished, this run and before it.
    pub done: usize,
    pub total: usize,
    /// Items finished with an error (of `done`).
    pub failed: usize,
    /// Items that were already done when this run began.
    pub resumed: usize,
    /// Time this run has taken so far.
    pub elapsed: Duration,
}

impl Progress {
    /// Items per second in this run (resumed items excluded).
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        (self.done - self.resumed) as f64 / secs
    }

    /// Estimated time left at this run's rate.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (rate > 0.0).then(|| Duration::from_secs_f64((self.total - self.done) as f64 / rate))
    }
}

/// What a running job reports.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// The job (new or resumed) is about to run its remaining items.
    Started { job: Box<Job>, progress: Progress },
    /// One item finished (stored).
    Item {
        result: Box<ItemResult>,
        progress: Progress,
    },
}

/// One model call of a job.
#[derive(Debug, Clone, Copy)]
struct Task {
    model_index: usize,
    item_index: usize,
}

/// Runs a job's remaining items.
pub struct Runner {
    orchestrator: Orchestrator,
    jobs: JobStore,
}

impl Runner {
    pub fn new(orchestrator: Orchestrator, jobs: JobStore) -> Runner {
        Runner { orchestrator, jobs }
    }

    /// Runs every item of `job` not stored yet; returns the job as it ended (done, or
    /// cancelled when `cancel` fired).
    pub async fn run(
        &self,
        mut job: Job,
        dataset: &Dataset,
        cancel: CancellationToken,
        mut report: impl FnMut(JobEvent) + Send,
    ) -> Result<Job, EvalError> {
        let scorer = Arc::new(Scorer::new(job.spec.resolved_metrics()?)?);
        let template = job.spec.template.clone();
        let kept = self.jobs.kept(job.id)?;
        let already: std::collections::HashSet<(usize, usize)> =
            kept.iter().map(|r| (r.model_index, r.item)).collect();
        let failed_before = kept.iter().filter(|r| r.failed()).count();
        job.status = JobStatus::Running;
        self.jobs.touch(&mut job)?;
        let started = Instant::now();
        let mut progress = Progress {
            done: already.len(),
            total: job.total(),
            failed: failed_before,
            resumed: already.len(),
            elapsed: Duration::ZERO,
        };
        report(JobEvent::Started {
            job: Box::new(job.clone()),
            progress: progress.clone(),
        });
        // One stream of tasks per model, merged, so every model makes progress from the
        // start; a local model answers one call at a time (more in flight would only
        // queue inside it and count the wait as latency), a remote one up to the job's
        // bound; one gate keeps the job's bound over all of them.
        let concurrency = job.spec.concurrency();
        let gate = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let shared = Arc::new(job.clone());
        let streams = (0..job.spec.models.len()).map(|model_index| {
            let local = self
                .orchestrator
                .runtime()
                .catalog
                .get(&job.spec.models[model_index])
                .is_ok_and(|s| s.is_local());
            let tasks: Vec<Task> = (0..dataset.items.len())
                .filter(|i| !already.contains(&(model_index, *i)))
                .map(|item_index| Task {
                    model_index,
                    item_index,
                })
                .collect();
            let (shared, scorer, cancel, template, gate) = (
                shared.clone(),
                scorer.clone(),
                cancel.clone(),
                template.clone(),
                gate.clone(),
            );
            let orchestrator = self.orchestrator.clone();
            futures::stream::iter(tasks)
                .map(move |task| {
                    let (shared, scorer, cancel, template, gate, orchestrator) = (
                        shared.clone(),
                        scorer.clone(),
                        cancel.clone(),
                        template.clone(),
                        gate.clone(),
                        orchestrator.clone(),
                    );
                    let item = dataset.items[task.item_index].clone();
                    async move {
                        let _permit = gate.acquire_owned().await.ok()?;
                        if cancel.is_cancelled() {
                            return None;
                        }
                        run_task(
                            &orchestrator,
                            &shared,
                            &scorer,
                            template.as_deref(),
                            task,
                            &item,
                            &cancel,
                        )
                        .await
                    }
                })
                .buffer_unordered(if local { 1 } else { concurrency })
                .boxed()
        });
        let mut results = futures::stream::select_all(streams);
        let mut store_error = None;
        while let Some(result) = results.next().await {
            let Some(result) = result else { continue };
            if let Err(e) = self.jobs.put_result(&result).await {
                // Storage failing stops the job: nothing more would be kept.
                store_error = Some(e);
                cancel.cancel();
                continue;
            }
            progress.done += 1;
            progress.failed += usize::from(result.failed());
            progress.elapsed = started.elapsed();
            report(JobEvent::Item {
                result: Box::new(result),
                progress: progress.clone(),
            });
        }
        drop(results);
        job.elapsed_ms += started.elapsed().as_secs_f64() * 1000.0;
        job.status = if progress.done >= progress.total {
            JobStatus::Done
        } else {
            JobStatus::Cancelled
        };
        self.jobs.touch(&mut job)?;
        self.jobs.flush()?;
        match store_error {
            Some(e) => Err(e.into()),
            None => Ok(job),
        }
    }
}

/// Deletes the session of a run that is not kept.
fn discard(orchestrator: &Orchestrator, session: crate::store::Id) {
    if let Err(e) = orchestrator.delete_session(session) {
        tracing::warn!("could not delete the discarded run's session {session}: {e}");
    }
}

/// The question sent for an item: its prompt, through the job's template if any.
pub fn render_prompt(template: Option<&str>, item: &Item) -> Result<String, String> {
    let Some(template) = template else {
        return Ok(item.prompt.clone());
    };
    let mut fields = item.fields.clone();
    fields.insert("prompt".into(), item.prompt.clone().into());
    fields.insert(
        "context".into(),
        item.context.clone().unwrap_or_default().into(),
    );
    fields.insert(
        "reference".into(),
        item.reference.clone().unwrap_or_default().into(),
    );
    fields.insert("tags".into(), item.tags.clone().into());
    let env = minijinja::Environment::new();
    env.render_str(template, serde_json::Value::Object(fields))
        .map_err(|e| format!("the template failed on this line: {e}"))
}

/// Runs one (model, item) pair and scores it; `None` when it was cancelled (it runs
/// again on resume).
async fn run_task(
    orchestrator: &Orchestrator,
    job: &Job,
    scorer: &Scorer,
    template: Option<&str>,
    task: Task,
    item: &Item,
    cancel: &CancellationToken,
) -> Option<ItemResult> {
    let model = job.spec.models[task.model_index].clone();
    let origin = super::origin(job);
    let mut agent = AgentConfig::default_for(&model);
    agent.params = job.spec.params();
    if agent.params.max_tokens.is_none() {
        agent.params.max_tokens = Some(crate::sessions::DEFAULT_MAX_TOKENS);
    }
    agent.instructions = item.system.clone().or_else(|| job.spec.system.clone());
    agent.guardrail = job.spec.guardrail.clone();
    let mut result = ItemResult {
        job: job.id,
        model_index: task.model_index,
        model: model.clone(),
        item: task.item_index,
        line: item.line,
        item_id: item.id.clone(),
        tags: item.tags.clone(),
        prompt: String::new(),
        reference: item.reference.clone(),
        output: String::new(),
        status: "error".into(),
        error: None,
        usage: Default::default(),
        usage_estimated: false,
        cost_usd: 0.0,
        latency_ms: 0.0,
        ttft_ms: None,
        scores: Default::default(),
        notes: Default::default(),
        session: Default::default(),
        run: Default::default(),
        finished_us: 0,
    };
    let started = Instant::now();
    match render_prompt(template, item) {
        Err(e) => result.error = Some(e),
        Ok(prompt) => {
            result.prompt = prompt.clone();
            let shot = OneShot {
                agent,
                history: item.history.clone(),
                question: prompt,
                origin: origin.clone(),
                caller: match job.kind {
                    JobKind::Eval => Caller::Eval,
                    JobKind::Batch => Caller::Batch,
                },
                tags: item.tags.clone(),
                use_cache: Some(job.spec.cache),
                cancel: cancel.clone(),
            };
            match orchestrator.run_once(shot, |_| {}).await {
                Err(e) => result.error = Some(e.to_string()),
                Ok(done) => {
                    let answer = &done.outcome.answer;
                    if done
                        .outcome
                        .error
                        .as_ref()
                        .is_some_and(|e| e.kind == RunErrorKind::Cancelled)
                    {
                        // Not kept: the item runs again on resume, in a new session.
                        discard(orchestrator, done.session);
                        return None;
                    }
                    result.session = done.session;
                    result.run = done.outcome.run;
                    result.status = answer.status.as_str().into();
                    result.error = done.outcome.error.as_ref().map(|e| e.message.clone());
                    result.output = if result.error.is_some() && answer.status.as_str() == "error" {
                        String::new()
                    } else {
                        answer.content.clone()
                    };
                    result.usage = answer.usage.unwrap_or_default();
                    result.usage_estimated = answer.usage_estimated;
                    result.cost_usd = answer.cost_usd;
                    result.ttft_ms = done.ttft_ms;
                    result.latency_ms = answer.latency_ms.unwrap_or_default();
                }
            }
        }
    }
    // The model calls' time; a call that never reached a model counts its whole run.
    if result.latency_ms <= 0.0 {
        result.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    }
    let scores = scorer
        .score(orchestrator, &origin, item, &result, cancel)
        .await;
    if cancel.is_cancelled() && scorer.calls_models() {
        // A judge cut short would leave a wrong score: the item runs again on resume.
        discard(orchestrator, result.session);
        return None;
    }
    result.scores = scores.scores;
    result.notes = scores.notes;
    result.finished_us = now_micros();
    Some(result)
}

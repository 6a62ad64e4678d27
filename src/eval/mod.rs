//! Evaluation jobs and batch inference: a dataset (JSONL) run through one or more models
//! with bounded concurrency, every call a run of the orchestrator, every item's output
//! and scores stored in sled as it finishes (resumable), summaries per model and metric,
//! exports, and paired comparisons of two jobs. Model comparisons' votes live here too.
//! Headless: the CLI and the TUI are its clients.

pub mod batch;
pub mod dataset;
pub mod metrics;
pub mod report;
pub mod rescore;
pub mod runner;
pub mod score;
pub mod spec;
pub mod stats;
pub mod store;
pub mod template;
pub mod votes;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::orchestrator::Orchestrator;
use crate::store::{now_micros, Id, StoreError};
use dataset::Dataset;
use runner::{JobEvent, Runner};
use spec::EvalSpec;
use store::{Job, JobKind, JobStatus, JobStore};

/// Why a job could not be defined, started or read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The job file or flags are wrong.
    #[error("{0}")]
    Spec(String),
    /// The dataset cannot be used.
    #[error("{0}")]
    Dataset(String),
    #[error("no job {0}; `strata eval list` shows them")]
    NoJob(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A job ready to run: new, or found unfinished with the same fingerprint.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub job: Job,
    pub dataset: Dataset,
    /// Items already done (a resumed job).
    pub resumed: usize,
}

/// The evaluation service: jobs, their results and runs.
#[derive(Clone)]
pub struct Evals {
    orchestrator: Orchestrator,
    pub jobs: JobStore,
    pub votes: votes::VoteStore,
}

impl Evals {
    pub fn new(orchestrator: Orchestrator) -> Evals {
        let store = orchestrator.runtime().store.clone();
        Evals {
            orchestrator,
            jobs: JobStore::new(store.clone()),
            votes: votes::VoteStore::new(store),
        }
    }

    /// Marks jobs left running by a process that died as interrupted. Call once when a
    /// process opens the database, before it runs any job.
    pub fn recover(&self) -> Result<(), StoreError> {
        let interrupted = self.jobs.mark_interrupted()?;
        if interrupted > 0 {
            tracing::info!("marked {interrupted} evaluation job(s) interrupted");
        }
        Ok(())
    }

    pub fn orchestrator(&self) -> &Orchestrator {
        &self.orchestrator
    }

    /// Reads the dataset and makes the job, or finds the unfinished one with the same
    /// spec and data (unless `fresh`).
    pub fn prepare(
        &self,
        kind: JobKind,
        spec: EvalSpec,
        fresh: bool,
    ) -> Result<Prepared, EvalError> {
        spec.validate()?;
        for model in &spec.models {
            self.orchestrator
                .runtime()
                .chat_model(Some(model))
                .map_err(|e| EvalError::Spec(format!("`models`: {e}")))?;
        }
        let dataset = Dataset::load(&spec.dataset)?;
        let fingerprint = fingerprint(kind, &spec, &dataset);
        if !fresh {
            if let Some(job) = self.jobs.resumable(&fingerprint)? {
                let resumed = self.jobs.done(job.id)?.len();
                return Ok(Prepared {
                    job,
                    dataset,
                    resumed,
                });
            }
        }
        let now = now_micros();
        let job = Job {
            id: Id::new(),
            kind,
            items: dataset.items.len(),
            bad_lines: dataset.bad.clone(),
            spec,
            fingerprint,
            dataset_sha256: dataset.sha256.clone(),
            status: JobStatus::Running,
            created_us: now,
            updated_us: now,
            elapsed_ms: 0.0,
        };
        self.jobs.save(&job)?;
        Ok(Prepared {
            job,
            dataset,
            resumed: 0,
        })
    }

    /// Runs what is left of a prepared job.
    pub async fn run(
        &self,
        prepared: Prepared,
        cancel: CancellationToken,
        report: impl FnMut(JobEvent) + Send,
    ) -> Result<Job, EvalError> {
        Runner::new(self.orchestrator.clone(), self.jobs.clone())
            .run(prepared.job, &prepared.dataset, cancel, report)
            .await
    }

    /// A job by id, a unique start or end of it, or its name (the newest of that name).
    pub fn find(&self, reference: &str) -> Result<Job, EvalError> {
        let jobs = self.jobs.list()?;
        if let Some(job) = jobs.iter().find(|j| j.spec.name == reference) {
            return Ok(job.clone());
        }
        let matches: Vec<&Job> = jobs
            .iter()
            .filter(|j| {
                let id = j.id.to_string();
                !reference.is_empty() && (id.starts_with(reference) || id.ends_with(reference))
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EvalError::NoJob(reference.to_string())),
            _ => Err(EvalError::Spec(format!(
                "`{reference}` matches {} jobs; give more of the id",
                matches.len()
            ))),
        }
    }

    /// Deletes a job, its results and the sessions its runs (judges' included) live in.
    pub fn delete(&self, job: &Job) -> Result<(), EvalError> {
        let sessions = &self.orchestrator.sessions;
        for s in sessions.made_by(&origin(job))? {
            crate::orchestrator::delete_session(sessions, s.id)?;
        }
        self.jobs.delete(job.id)?;
        Ok(())
    }

    /// The models a job calls: its own, its judges, its embedding model.
    pub fn models_needed(job: &Job) -> Result<Vec<String>, EvalError> {
        let mut models = job.spec.models.clone();
        for m in job.spec.resolved_metrics()? {
            if let Some(model) = m.metric.model() {
                if !models.iter().any(|x| x == model) {
                    models.push(model.to_string());
                }
            }
        }
        Ok(models)
    }
}

/// Same kind, spec and dataset bytes: the same job (how many calls run at once does
/// not change what the job computes).
fn fingerprint(kind: JobKind, spec: &EvalSpec, dataset: &Dataset) -> String {
    let spec = EvalSpec {
        concurrency: None,
        ..spec.clone()
    };
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&kind).unwrap_or_default());
    h.update(serde_json::to_vec(&spec).unwrap_or_default());
    h.update(dataset.sha256.as_bytes());
    hex::encode(h.finalize())
}

/// What a job's sessions are marked with (`eval:ID`, `batch:ID`; judges add `:judge`).
pub fn origin(job: &Job) -> String {
    let kind = match job.kind {
        JobKind::Eval => "eval",
        JobKind::Batch => "batch",
    };
    format!("{kind}:{}", job.id)
}

/// `text` cut to `max` characters with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

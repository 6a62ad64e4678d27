//! Evaluation and batch jobs in sled: `eval_jobs` (job id → the job: its spec, status,
//! counts) and `eval_results` (job id + model index + item index → one item's output and
//! scores), written as each item finishes, so an interrupted job resumes where it stopped.

use serde::{Deserialize, Serialize};

use super::dataset::BadLine;
use super::spec::EvalSpec;
use crate::runtime::types::Usage;
use crate::store::{now_micros, Id, Store, StoreError};

const JOBS: &str = "eval_jobs";
const RESULTS: &str = "eval_results";

/// What a job is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Scored against references with metrics.
    Eval,
    /// Outputs only (model invocation jobs).
    Batch,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Done,
    /// Stopped by the user; the next run of the same file resumes it.
    Cancelled,
    /// The process ended while it ran; the next run of the same file resumes it.
    Interrupted,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Interrupted => "interrupted",
        }
    }
}

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: Id,
    pub kind: JobKind,
    pub spec: EvalSpec,
    /// sha256 of the kind, the spec and the dataset: the same file on the same data is
    /// the same job (and resumes).
    pub fingerprint: String,
    /// sha256 of the dataset file.
    #[serde(default)]
    pub dataset_sha256: String,
    pub status: JobStatus,
    /// Usable dataset lines.
    pub items: usize,
    /// Lines that could not be used, with why.
    #[serde(default)]
    pub bad_lines: Vec<BadLine>,
    pub created_us: u64,
    pub updated_us: u64,
    /// Wall time spent running, over every resume (ms).
    #[serde(default)]
    pub elapsed_ms: f64,
}

impl Job {
    /// Model calls the job makes (items × models).
    pub fn total(&self) -> usize {
        self.items * self.spec.models.len()
    }
}

/// One item's answer from one model, and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub job: Id,
    /// Index of the model in the job's `models`.
    pub model_index: usize,
    pub model: String,
    /// Index of the item among the dataset's usable lines.
    pub item: usize,
    /// The item's line in the file and its id.
    pub line: usize,
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The question as sent (after the template).
    pub prompt: String,
    /// The line's reference answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub output: String,
    /// How the answer ended (`complete`, `blocked`, `error`, …).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub usage: Usage,
    #[serde(default)]
    pub usage_estimated: bool,
    pub cost_usd: f64,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Score per column (a metric that did not apply, e.g. no reference, is absent).
    #[serde(default)]
    pub scores: std::collections::BTreeMap<String, f64>,
    /// Per column: why a score is what it is (a judge's reasoning, a schema error).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub notes: std::collections::BTreeMap<String, String>,
    /// The session and run the answer lives in.
    pub session: Id,
    pub run: Id,
    pub finished_us: u64,
}

impl ItemResult {
    /// Whether the call failed (no usable answer; a guardrail's block is an answer).
    pub fn failed(&self) -> bool {
        self.error.is_some() && self.status != "blocked"
    }

    /// Whether the call never produced an answer (a network error, a refusal): an
    /// interrupted job tries it again when it resumes.
    pub fn retryable(&self) -> bool {
        self.status == "error"
    }
}

fn result_key(job: Id, model: usize, item: usize) -> Vec<u8> {
    let mut key = job.as_bytes().to_vec();
    key.extend_from_slice(&(model as u32).to_be_bytes());
    key.extend_from_slice(&(item as u32).to_be_bytes());
    key
}

/// The jobs and their results.
#[derive(Clone)]
pub struct JobStore {
    store: Store,
}

impl JobStore {
    pub fn new(store: Store) -> JobStore {
        JobStore { store }
    }

    /// Jobs left running by a process that died become interrupted. Call once at start.
    pub fn mark_interrupted(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        for mut job in self.list()? {
            if job.status == JobStatus::Running {
                job.status = JobStatus::Interrupted;
                self.save(&job)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    pub fn save(&self, job: &Job) -> Result<(), StoreError> {
        self.store.put(JOBS, job.id.as_bytes(), job)
    }

    pub fn get(&self, id: Id) -> Result<Option<Job>, StoreError> {
        self.store.get(JOBS, id.as_bytes(), "evaluation job")
    }

    /// Every job, newest first.
    pub fn list(&self) -> Result<Vec<Job>, StoreError> {
        self.store.latest(JOBS, usize::MAX, "evaluation job")
    }

    /// The newest unfinished job with this fingerprint (to resume).
    pub fn resumable(&self, fingerprint: &str) -> Result<Option<Job>, StoreError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|j| j.fingerprint == fingerprint && j.status != JobStatus::Done))
    }

    /// Stores one item's result, on disk when it returns (a kill right after keeps it).
    pub async fn put_result(&self, result: &ItemResult) -> Result<(), StoreError> {
        self.store.put(
            RESULTS,
            &result_key(result.job, result.model_index, result.item),
            result,
        )?;
        self.store.flush_async().await
    }

    /// Every stored result of a job, by model then item.
    pub fn results(&self, job: Id) -> Result<Vec<ItemResult>, StoreError> {
        self.store
            .scan_prefix(RESULTS, job.as_bytes(), "evaluation result")
    }

    /// The results a job keeps when it resumes: calls that never produced an answer are
    /// left out (a resumed job tries them again).
    pub fn kept(&self, job: Id) -> Result<Vec<ItemResult>, StoreError> {
        let mut results = self.results(job)?;
        results.retain(|r| !r.retryable());
        Ok(results)
    }

    /// Which (model, item) pairs of a job are done (see `kept`).
    pub fn done(&self, job: Id) -> Result<std::collections::HashSet<(usize, usize)>, StoreError> {
        Ok(self
            .kept(job)?
            .iter()
            .map(|r| (r.model_index, r.item))
            .collect())
    }

    /// Deletes a job and its results (the sessions its runs live in are the caller's).
    pub fn delete(&self, id: Id) -> Result<(), StoreError> {
        let results = self.store.tree(RESULTS)?;
        for key in results.scan_prefix(id.as_bytes()).keys() {
            results.remove(key?)?;
        }
        self.store.tree(JOBS)?.remove(id.as_bytes())?;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// Touches the job's update time.
    pub fn touch(&self, job: &mut Job) -> Result<(), StoreError> {
        job.updated_us = now_micros();
        self.save(job)
    }
}

//! Evaluation work the UI asks for instead of doing it on its own task: listing jobs,
//! loading one job's results (summary, drill-down, charts), saving a job file written in
//! the TUI (checked before it is kept), running a job file or a stored job again (its
//! progress streams back while other screens are in use; it stops with its cancel token
//! and resumes when run again), deleting a job, the paired comparison of two jobs, and
//! the compare view's votes. Answers go to an `Outbox<EvalMsg>`.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::outbox::Outbox;
use crate::eval::report::{self, ModelSummary};
use crate::eval::runner::{JobEvent, Progress};
use crate::eval::spec::{EvalSpec, Metric};
use crate::eval::stats;
use crate::eval::store::{ItemResult, Job, JobKind};
use crate::eval::votes::{self, PairTally};
use crate::eval::Evals;
use crate::orchestrator::Orchestrator;
use crate::store::Id;

/// One piece of evaluation work.
#[derive(Debug, Clone)]
pub enum EvalJob {
    List,
    /// A job with its results.
    Load {
        id: Id,
        seq: u64,
    },
    /// Run (or resume) a job file.
    Run {
        path: PathBuf,
        cancel: CancellationToken,
    },
    /// The compare view's votes, tallied.
    Votes,
    /// Check a job file written in the TUI and keep it in `dir` as `NAME.toml`, NAME
    /// being the job's (it is not kept when it does not check).
    Save {
        dir: PathBuf,
        text: String,
    },
    /// Run a stored job again from its definition (an unfinished one resumes).
    Resume {
        id: Id,
        cancel: CancellationToken,
    },
    /// Delete a job, its results and its runs.
    Delete {
        id: Id,
    },
    /// The paired comparison of two jobs, as text.
    Compare {
        a: Id,
        b: Id,
    },
}

/// A job in the list: itself and how many of its items are done.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job: Job,
    pub done: usize,
}

/// Bins of the latency histogram.
const LATENCY_BINS: usize = 8;

/// A tag and a metric's mean over its items, per model.
pub type TagMeans = (String, Vec<f64>);

/// A job with its results, their summary and what the charts show (worked out off the
/// UI task).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub job: Job,
    pub results: Vec<ItemResult>,
    pub summaries: Vec<ModelSummary>,
    /// Dataset items answered, in order (item index).
    pub items: Vec<usize>,
    /// Latency histogram: each bin's lower edge (ms) and its count per model.
    pub latency_bins: Vec<(f64, Vec<usize>)>,
    /// The first quality metric, and its mean per tag per model.
    pub by_tag: Option<(String, Vec<TagMeans>)>,
}

impl Loaded {
    pub fn new(job: Job, results: Vec<ItemResult>) -> Loaded {
        let summaries = report::summarize(&job, &results);
        let mut items: Vec<usize> = results.iter().map(|r| r.item).collect();
        items.sort_unstable();
        items.dedup();
        let models = job.spec.models.len();
        let all: Vec<f64> = results.iter().map(|r| r.latency_ms).collect();
        let bins = stats::histogram(&all, LATENCY_BINS);
        let width = bins.get(1).map_or(f64::INFINITY, |b| b.0 - bins[0].0);
        let latency_bins = bins
            .iter()
            .enumerate()
            .map(|(bin, (low, _))| {
                let last = bin + 1 == bins.len();
                let counts = (0..models)
                    .map(|m| {
                        results
                            .iter()
                            .filter(|r| r.model_index == m && r.latency_ms >= *low)
                            .filter(|r| last || r.latency_ms < low + width)
                            .count()
                    })
                    .collect();
                (*low, counts)
            })
            .collect();
        let column = summaries
            .first()
            .and_then(|s| {
                s.columns
                    .iter()
                    .find(|c| !Metric::lower_is_better(&c.column) && c.count > 0)
            })
            .map(|c| c.column.clone());
        let by_tag = column.map(|column| {
            let per_model: Vec<Vec<(String, f64)>> = (0..models)
                .map(|m| report::by_tag(&results, m, &column))
                .collect();
            let mut tags: Vec<String> = Vec::new();
            for (tag, _) in per_model.iter().flatten() {
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            let rows = tags
                .into_iter()
                .map(|tag| {
                    let means = per_model
                        .iter()
                        .map(|m| m.iter().find(|(t, _)| *t == tag).map_or(0.0, |(_, v)| *v))
                        .collect();
                    (tag, means)
                })
                .collect();
            (column, rows)
        });
        Loaded {
            job,
            results,
            summaries,
            items,
            latency_bins,
            by_tag,
        }
    }
}

/// The answers.
#[derive(Debug, Clone)]
pub enum EvalMsg {
    List(Result<Vec<JobRow>, String>),
    Loaded {
        seq: u64,
        result: Result<Box<Loaded>, String>,
    },
    /// A run began (new or resumed).
    Started {
        job: Box<Job>,
        progress: Progress,
    },
    /// A run's progress after an item.
    Progress {
        job: Id,
        progress: Progress,
    },
    /// A run ended: the job as it ended, or why it could not run.
    Finished {
        path: PathBuf,
        result: Result<Box<Job>, String>,
    },
    Votes(Result<Vec<PairTally>, String>),
    /// A job file was checked and kept (where), or why not (`text` as written, to edit
    /// again).
    Saved {
        dir: PathBuf,
        text: String,
        result: Result<PathBuf, String>,
    },
    Deleted {
        name: String,
        result: Result<(), String>,
    },
    /// The comparison's title and lines, or why it cannot be made.
    Compared(Result<(String, Vec<String>), String>),
}

/// Starts the work off the UI task.
pub fn run(job: EvalJob, orchestrator: &Orchestrator, tx: &Outbox<EvalMsg>) {
    let orchestrator = orchestrator.clone();
    let tx = tx.clone();
    let send = move |m: EvalMsg| {
        let _ = tx.send(m);
    };
    match job {
        EvalJob::List => {
            tokio::task::spawn_blocking(move || {
                let result = list(&orchestrator).map_err(|e| e.to_string());
                send(EvalMsg::List(result));
            });
        }
        EvalJob::Load { id, seq } => {
            tokio::task::spawn_blocking(move || {
                let result = (|| {
                    let evals = Evals::new(orchestrator);
                    let job = evals
                        .jobs
                        .get(id)?
                        .ok_or_else(|| crate::eval::EvalError::NoJob(id.to_string()))?;
                    let results = evals.jobs.results(id)?;
                    Ok::<_, crate::eval::EvalError>(Box::new(Loaded::new(job, results)))
                })()
                .map_err(|e| e.to_string());
                send(EvalMsg::Loaded { seq, result });
            });
        }
        EvalJob::Votes => {
            tokio::task::spawn_blocking(move || {
                let store = votes::VoteStore::new(orchestrator.runtime().store.clone());
                send(EvalMsg::Votes(store.tally().map_err(|e| e.to_string())));
            });
        }
        EvalJob::Save { dir, text } => {
            tokio::task::spawn_blocking(move || {
                let result = save(&dir, &text);
                send(EvalMsg::Saved { dir, text, result });
            });
        }
        EvalJob::Delete { id } => {
            tokio::task::spawn_blocking(move || {
                let evals = Evals::new(orchestrator);
                let (name, result) = match evals.jobs.get(id) {
                    Ok(Some(job)) => (
                        job.spec.name.clone(),
                        evals.delete(&job).map_err(|e| e.to_string()),
                    ),
                    Ok(None) => (id.to_string(), Err("it is gone already".into())),
                    Err(e) => (id.to_string(), Err(e.to_string())),
                };
                send(EvalMsg::Deleted { name, result });
            });
        }
        EvalJob::Compare { a, b } => {
            tokio::task::spawn_blocking(move || {
                send(EvalMsg::Compared(compare(&Evals::new(orchestrator), a, b)));
            });
        }
        EvalJob::Resume { id, cancel } => {
            tokio::spawn(async move {
                let evals = Evals::new(orchestrator.clone());
                let job = {
                    let evals = evals.clone();
                    tokio::task::spawn_blocking(move || evals.jobs.get(id))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                        .and_then(|j| j.ok_or_else(|| format!("job {id} is gone")))
                };
                let path =
                    PathBuf::from(job.as_ref().map_or("job".into(), |j| j.spec.name.clone()));
                let result = match job {
                    Ok(job) => run_spec(orchestrator, job.kind, job.spec, cancel, &send).await,
                    Err(e) => Err(e),
                };
                send(EvalMsg::Finished {
                    path,
                    result: result.map(Box::new),
                });
            });
        }
        EvalJob::Run { path, cancel } => {
            tokio::spawn(async move {
                let result = run_file(orchestrator, &path, cancel, &send).await;
                send(EvalMsg::Finished {
                    path,
                    result: result.map(Box::new),
                });
            });
        }
    }
}

fn list(orchestrator: &Orchestrator) -> Result<Vec<JobRow>, crate::eval::EvalError> {
    let jobs = crate::eval::store::JobStore::new(orchestrator.runtime().store.clone());
    jobs.list()?
        .into_iter()
        .map(|job| {
            let done = jobs.done(job.id)?.len();
            Ok(JobRow { job, done })
        })
        .collect()
}

/// Writes `text` as `dir/NAME.toml` once it checks as a job file (NAME is the job's),
/// never over another file.
fn save(dir: &std::path::Path, text: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    // Checked where it will live (a relative dataset path is taken from its folder).
    let trial = dir.join(format!(".new-job-{}.toml", std::process::id()));
    std::fs::write(&trial, text).map_err(|e| format!("cannot write {}: {e}", trial.display()))?;
    let checked = EvalSpec::load(&trial)
        .map_err(|e| e.to_string())
        .and_then(|spec| {
            crate::knowledge::spec::check_name(&spec.name).map_err(|_| {
                format!(
                    "`name = {:?}` cannot name a file: use letters, digits, `.`, `_` or `-`",
                    spec.name
                )
            })?;
            let path = dir.join(format!("{}.toml", spec.name));
            if path.exists() {
                return Err(format!(
                    "{} exists already: change `name` in the file",
                    path.display()
                ));
            }
            Ok(path)
        });
    let result = checked.and_then(|path| {
        std::fs::rename(&trial, &path)
            .map(|()| path)
            .map_err(|e| e.to_string())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&trial);
    }
    result.map_err(|e| e.replace(&trial.display().to_string(), "the job file"))
}

/// Two jobs compared item by item (the text `strata eval compare` prints).
fn compare(evals: &Evals, a: Id, b: Id) -> Result<(String, Vec<String>), String> {
    let get = |id: Id| {
        evals
            .jobs
            .get(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("job {id} is gone"))
    };
    let (a, b) = (get(a)?, get(b)?);
    let ra = evals.jobs.results(a.id).map_err(|e| e.to_string())?;
    let rb = evals.jobs.results(b.id).map_err(|e| e.to_string())?;
    let pairs = report::compare(&a, &ra, &b, &rb)?;
    let mut lines = Vec::new();
    if a.dataset_sha256 != b.dataset_sha256 {
        lines.push(format!("Note: {}", report::DIFFERENT_DATASETS));
    }
    lines.extend(report::compare_lines(&a, &b, &pairs, 200));
    Ok((format!("{} vs {}", a.spec.name, b.spec.name), lines))
}

async fn run_file(
    orchestrator: Orchestrator,
    path: &std::path::Path,
    cancel: CancellationToken,
    send: &(impl Fn(EvalMsg) + Send + Sync),
) -> Result<Job, String> {
    let p = path.to_path_buf();
    let spec = tokio::task::spawn_blocking(move || EvalSpec::load(&p))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    run_spec(orchestrator, JobKind::Eval, spec, cancel, send).await
}

/// Runs a job definition: the unfinished job of the same definition and data resumes.
async fn run_spec(
    orchestrator: Orchestrator,
    kind: JobKind,
    spec: EvalSpec,
    cancel: CancellationToken,
    send: &(impl Fn(EvalMsg) + Send + Sync),
) -> Result<Job, String> {
    let evals = Evals::new(orchestrator.clone());
    let prepared = {
        let evals = evals.clone();
        tokio::task::spawn_blocking(move || evals.prepare(kind, spec, false))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    // Local models must be downloaded first (the chat's picker or `strata models pull`).
    let runtime = orchestrator.runtime();
    for model in &Evals::models_needed(&prepared.job).map_err(|e| e.to_string())? {
        crate::runtime::pull::require_downloaded(runtime, model)?;
    }
    evals
        .run(prepared, cancel, |event| match event {
            JobEvent::Started { job, progress } => send(EvalMsg::Started { job, progress }),
            JobEvent::Item { result, progress } => send(EvalMsg::Progress {
                job: result.job,
                progress,
            }),
        })
        .await
        .map_err(|e| e.to_string())
}

//! Evaluation work the UI asks for instead of doing it on its own task: listing jobs,
//! loading one job's results (summary, drill-down, charts), running a job file (its
//! progress streams back while other screens are in use; it stops with its cancel token
//! and resumes when run again), and the compare view's votes. Answers come back as
//! `Msg::Eval`.

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::app::Msg;
use crate::eval::runner::{JobEvent, Progress};
use crate::eval::spec::EvalSpec;
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
}

/// A job in the list: itself and how many of its items are done.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job: Job,
    pub done: usize,
}

/// The answers.
#[derive(Debug, Clone)]
pub enum EvalMsg {
    List(Result<Vec<JobRow>, String>),
    Loaded {
        seq: u64,
        result: Result<(Box<Job>, Vec<ItemResult>), String>,
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
}

/// Starts the work off the UI task.
pub fn run(job: EvalJob, orchestrator: &Orchestrator, tx: &UnboundedSender<Msg>) {
    let orchestrator = orchestrator.clone();
    let tx = tx.clone();
    let send = move |m: EvalMsg| {
        let _ = tx.send(Msg::Eval(m));
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
                    Ok::<_, crate::eval::EvalError>((Box::new(job), results))
                })()
                .map_err(|e| e.to_string());
                send(EvalMsg::Loaded { seq, result });
            });
        }
        EvalJob::Votes => {
            tokio::task::spawn_blocking(move || {
                let store = votes::VoteStore::new(orchestrator.runtime().store.clone());
                let result = store
                    .list()
                    .map(|v| votes::tally(&v))
                    .map_err(|e| e.to_string());
                send(EvalMsg::Votes(result));
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

async fn run_file(
    orchestrator: Orchestrator,
    path: &std::path::Path,
    cancel: CancellationToken,
    send: &(impl Fn(EvalMsg) + Send + Sync),
) -> Result<Job, String> {
    let evals = Evals::new(orchestrator.clone());
    let prepared = {
        let evals = evals.clone();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let spec = EvalSpec::load(&path)?;
            evals.prepare(JobKind::Eval, spec, false)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
    };
    // Local models must be downloaded first (the chat's picker or `strata models pull`).
    let runtime = orchestrator.runtime();
    let scorer = crate::eval::score::Scorer::new(
        prepared
            .job
            .spec
            .resolved_metrics()
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    for model in prepared.job.spec.models.iter().chain(&scorer.models()) {
        let spec = runtime.catalog.get(model).map_err(|e| e.to_string())?;
        if spec.is_local() && !spec.is_downloaded(&runtime.paths.model_dir) {
            return Err(format!(
                "{model} is not downloaded: `strata models pull {model}` (or pick it in the chat)"
            ));
        }
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

//! Batch inference output: one JSONL line per input line, in input order (lines that
//! could not be read are there too, with their error), and the batch's totals.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::store::{ItemResult, Job};

/// A batch's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSummary {
    pub job: String,
    pub status: String,
    pub items: usize,
    pub ok: usize,
    pub failed: usize,
    pub bad_lines: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Wall time over every run of the job.
    pub elapsed_ms: f64,
}

pub fn summarize(job: &Job, results: &[ItemResult]) -> BatchSummary {
    let failed = results.iter().filter(|r| r.failed()).count();
    BatchSummary {
        job: job.id.to_string(),
        status: job.status.as_str().into(),
        items: job.items,
        ok: results.len() - failed,
        failed,
        bad_lines: job.bad_lines.len(),
        input_tokens: results.iter().map(|r| r.usage.input_tokens as u64).sum(),
        output_tokens: results.iter().map(|r| r.usage.output_tokens as u64).sum(),
        cost_usd: results.iter().map(|r| r.cost_usd).sum(),
        elapsed_ms: job.elapsed_ms,
    }
}

/// Writes the output file (through a temporary file, so a reader never sees half).
pub fn write_output(path: &Path, job: &Job, results: &[ItemResult]) -> std::io::Result<()> {
    let mut lines: Vec<(usize, serde_json::Value)> = results
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({
                "id": r.item_id,
                "line": r.line,
                "model": r.model,
                "output": r.output,
                "status": r.status,
                "input_tokens": r.usage.input_tokens,
                "output_tokens": r.usage.output_tokens,
                "cost_usd": r.cost_usd,
                "latency_ms": r.latency_ms,
                "ttft_ms": r.ttft_ms,
                "run_id": r.run.to_string(),
            });
            if let Some(e) = &r.error {
                v["error"] = e.clone().into();
            }
            (r.line, v)
        })
        .collect();
    lines.extend(job.bad_lines.iter().map(|b| {
        (
            b.line,
            serde_json::json!({ "line": b.line, "status": "bad_input", "error": b.error }),
        )
    }));
    lines.sort_by_key(|(line, _)| *line);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
    for (_, v) in &lines {
        writeln!(tmp, "{v}")?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

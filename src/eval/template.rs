//! A new evaluation job's file before the user finishes it in `$EDITOR`: the dataset,
//! models and metrics picked in the TUI's form filled in, every other setting written out
//! commented with what it does. `EvalSpec::load` checks it like any job file.

use std::path::Path;

/// The metrics a job can name without settings, with what each measures.
pub const METRICS: [(&str, &str); 10] = [
    (
        "exact_match",
        "the answer equals the reference (normalised)",
    ),
    ("contains", "the answer contains the reference"),
    ("token_f1", "word overlap with the reference"),
    ("rouge_l", "longest common word sequence"),
    ("bleu", "n-gram precision against the reference"),
    ("embedding_similarity", "meaning, by cosine of embeddings"),
    ("json_valid", "the answer parses as JSON"),
    ("latency", "time to the whole answer"),
    ("tokens", "tokens in and out"),
    ("cost", "what the call cost"),
];

/// The job file: `name`, the dataset (absolute, so the file can live anywhere), the
/// models and metrics, and the rest commented.
pub fn job_file(name: &str, dataset: &Path, models: &[String], metrics: &[String]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| quote(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"# A new evaluation job: check it, save and quit; it is checked, saved and run.
# Reference: README, "Evaluation"; an example: examples/capitals.toml.
name = {name}
# JSONL: one item per line, with `prompt` (or `messages`), `reference`, `id`, `tags`.
dataset = {dataset}
models = [{models}]
metrics = [{metrics}]
# Metrics with settings are tables, e.g.
#   {{ name = "regex", pattern = "^[A-Z]" }}
#   {{ name = "rubric", rubric = "Is the answer polite?", judge = "local/smollm2-135m" }}

# system = "Answer briefly."
# template = "Question: {{{{ prompt }}}}"   # minijinja; any field of the line
temperature = 0.0
# max_tokens = 256
# seed = 1
# concurrency = 4            # calls in flight at once
# guardrail = "NAME"         # on every call
# cache = false              # answer repeated identical calls from the cache
"#,
        name = quote(name),
        dataset = quote(&dataset.display().to_string()),
        models = list(models),
        metrics = list(metrics),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::spec::EvalSpec;

    #[test]
    fn the_file_loads_as_a_job() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.jsonl");
        std::fs::write(&data, "{\"prompt\": \"2+2\", \"reference\": \"4\"}\n").unwrap();
        let text = job_file(
            "sums",
            &data,
            &["local/smollm2-135m".into()],
            &["exact_match".into(), "latency".into()],
        );
        let file = dir.path().join("sums.toml");
        std::fs::write(&file, &text).unwrap();
        let spec = EvalSpec::load(&file).unwrap();
        assert_eq!(spec.name, "sums");
        assert_eq!(spec.dataset, data);
        assert_eq!(spec.metrics.len(), 2);
        assert!(
            text.contains("# template = \"Question: {{ prompt }}\""),
            "{text}"
        );
        for (m, _) in METRICS {
            let text = job_file("x", &data, &["local/smollm2-135m".into()], &[m.into()]);
            std::fs::write(&file, &text).unwrap();
            EvalSpec::load(&file).unwrap_or_else(|e| panic!("{m}: {e}"));
        }
    }
}

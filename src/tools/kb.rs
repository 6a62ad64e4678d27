//! The `kb_search` built-in: hybrid retrieval over named knowledge bases, the passages
//! returned with their sources (file, heading, lines) as JSON. Not responsible for syncing
//! bases, citations in answers, or the grounded prompt (the knowledge module is).

use std::sync::Arc;

use serde_json::{json, Value};

use super::ToolOutcome;
use crate::knowledge::cite;
use crate::knowledge::retrieve::Query;
use crate::knowledge::Knowledge;

/// Passages returned when the call does not say.
pub const DEFAULT_K: usize = 5;
pub const MAX_K: usize = 20;

pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What to search for", "minLength": 1},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "description": "How many passages (default 5)"}
        },
        "required": ["query"],
        "additionalProperties": false
    })
}

/// `kb_search` over fixed bases.
#[derive(Clone)]
pub struct KbSearch {
    knowledge: Arc<Knowledge>,
    bases: Vec<String>,
}

impl std::fmt::Debug for KbSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KbSearch")
            .field("bases", &self.bases)
            .finish()
    }
}

impl KbSearch {
    pub fn new(knowledge: Arc<Knowledge>, bases: Vec<String>) -> Result<KbSearch, String> {
        if bases.is_empty() {
            return Err("kb_search needs at least one knowledge base".into());
        }
        Ok(KbSearch { knowledge, bases })
    }

    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    pub async fn run(&self, args: Value) -> ToolOutcome {
        let Some(text) = args.get("query").and_then(Value::as_str) else {
            return ToolOutcome::failure("give the text to search for as `query` (a string)");
        };
        let k = args
            .get("k")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_K, |k| (k as usize).clamp(1, MAX_K));
        let hits = match self
            .knowledge
            .retrieve(&self.bases, &Query::new(text, k))
            .await
        {
            Ok(h) => h,
            Err(e) => return ToolOutcome::failure(format!("search failed: {e}")),
        };
        let passages: Vec<Value> = cite::sources(&hits)
            .into_iter()
            .map(|s| {
                json!({
                    "n": s.number,
                    "base": s.base,
                    "source": s.location(),
                    "title": s.title,
                    "heading": s.heading.join(" > "),
                    "score": s.score,
                    "text": s.text,
                })
            })
            .collect();
        ToolOutcome::success(json!({"query": text, "passages": passages}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Paths};
    use crate::runtime::Runtime;

    #[tokio::test]
    async fn a_missing_base_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::with_config(Paths::under(dir.path()), Config::default()).unwrap();
        let knowledge = Arc::new(Knowledge::new(Arc::new(runtime)));
        assert!(KbSearch::new(knowledge.clone(), vec![]).is_err());
        let tool = KbSearch::new(knowledge, vec!["notes".into()]).unwrap();
        let outcome = tool.run(json!({"query": "tomatoes"})).await;
        assert!(!outcome.ok);
        let seen = outcome.observation();
        assert!(seen.contains("no knowledge base `notes`"), "{seen}");
    }
}

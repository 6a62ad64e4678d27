//! Configuration: where Strata keeps its files (XDG dirs with overrides) and the user's
//! `config.toml` (provider profiles, extra catalog models, defaults).

pub mod models;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use models::ModelSpec;

/// The env var that points at a config file.
pub const CONFIG_ENV: &str = "STRATA_CONFIG";
/// The env var that overrides the data dir.
pub const DATA_DIR_ENV: &str = "STRATA_DATA_DIR";
/// The env var that overrides the model cache dir.
pub const CACHE_DIR_ENV: &str = "STRATA_CACHE_DIR";

/// Where things live on disk.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file (it may not exist).
    pub config_file: PathBuf,
    /// Directory for user themes and keymaps.
    pub config_dir: PathBuf,
    /// The sled database and other data.
    pub data_dir: PathBuf,
    /// Downloaded model files.
    pub model_dir: PathBuf,
    /// Logs.
    pub state_dir: PathBuf,
}

impl Paths {
    /// Resolves paths from flags, then env vars, then XDG defaults.
    pub fn resolve(config: Option<&Path>, data_dir: Option<&Path>) -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "strata");
        let home_fallback = || PathBuf::from(".strata");
        let config_dir = dirs
            .as_ref()
            .map(|d| d.config_dir().to_path_buf())
            .unwrap_or_else(home_fallback);
        let config_file = config
            .map(Path::to_path_buf)
            .or_else(|| env_path(CONFIG_ENV))
            .unwrap_or_else(|| config_dir.join("config.toml"));
        let data_dir = data_dir
            .map(Path::to_path_buf)
            .or_else(|| env_path(DATA_DIR_ENV))
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(|| home_fallback().join("data"));
        let model_dir = env_path(CACHE_DIR_ENV)
            .or_else(|| dirs.as_ref().map(|d| d.cache_dir().join("models")))
            .unwrap_or_else(|| home_fallback().join("models"));
        let state_dir = dirs
            .as_ref()
            .and_then(|d| d.state_dir().map(Path::to_path_buf))
            .unwrap_or_else(|| data_dir.join("state"));
        Paths {
            config_file,
            config_dir,
            data_dir,
            model_dir,
            state_dir,
        }
    }

    /// Paths rooted in one directory (tests, benchmarks, portable installs).
    pub fn under(root: &Path) -> Paths {
        Paths {
            config_file: root.join("config.toml"),
            config_dir: root.to_path_buf(),
            data_dir: root.join("data"),
            model_dir: root.join("models"),
            state_dir: root.join("state"),
        }
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A provider profile: `[providers.NAME]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderProfile {
    /// `openai` (any OpenAI-compatible endpoint) or `local` (in-process).
    pub kind: ProviderKind,
    /// Base URL of an OpenAI-compatible API, e.g. `http://127.0.0.1:11434/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The *name* of the env var that holds the API key (the key never goes on disk).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// A file holding the API key, as an alternative to the env var.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Request timeout for the first byte, in seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Provider families.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Local,
}

/// The parsed `config.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Model used when none is named.
    #[serde(default)]
    pub default_model: Option<String>,
    /// Answer identical deterministic requests from the response cache.
    #[serde(default)]
    pub cache_responses: bool,
    /// Answer length cap for `strata invoke` / `strata -p` when `--max-tokens` is not given
    /// (default: the model's own limit).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Guardrail (NAME or NAME@VERSION) of new sessions and of headless calls that name
    /// none.
    #[serde(default)]
    pub guardrail: Option<String>,
    /// How many times a throttled or failed call is retried.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Where model files go (overrides the XDG cache dir).
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderProfile>,
    /// Extra catalog entries, or overrides of built-in ones by id.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// Encryption at rest of the data dir.
    #[serde(default)]
    pub encryption: EncryptionConfig,
    /// What runs local chat models: `strata` (the CPU engine, for the architectures it
    /// covers; default) or `kalosm` (kalosm's Llama, for comparison).
    #[serde(default)]
    pub local_engine: LocalEngine,
}

/// What runs local chat models (`local_engine` in the config, `STRATA_LOCAL_ENGINE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalEngine {
    /// Strata's CPU engine (`src/engine`); kalosm runs what it does not cover.
    #[default]
    Strata,
    /// kalosm's Llama on candle.
    Kalosm,
}

/// `[encryption]`: the switch that encrypts a data dir on its next open (as
/// `strata init --encrypt` does), and where its key-encryption key comes from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    #[serde(default)]
    pub enabled: bool,
    /// `file:PATH` (made when missing), `env:VAR` or `passphrase`; default
    /// `file:<config dir>/data.key`.
    #[serde(default)]
    pub key: Option<String>,
}

impl EncryptionConfig {
    /// The key source named, or the default key file in `config_dir`.
    pub fn source(
        &self,
        config_dir: &Path,
    ) -> Result<crate::store::keyring::KeySource, crate::store::keyring::KeyError> {
        match &self.key {
            Some(text) => text.parse(),
            None => Ok(crate::store::keyring::KeySource::File {
                path: config_dir.join("data.key"),
            }),
        }
    }
}

/// A config file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: `{key}` {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: bad value for `{key}`: {message}\n  fix the file or point --config / {CONFIG_ENV} at another one")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

impl Config {
    /// Loads the config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses config text; errors name the file, line, column and key.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = parse_toml(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            key: e.key,
            message: e.message,
        })?;
        config.validate(path)
    }

    /// Checks what the types cannot: a usable `max_tokens`, model file names that stay in
    /// the model's directory, and `api_key_env` naming a variable rather than holding a key.
    fn validate(self, path: &Path) -> Result<Config, ConfigError> {
        if self.max_tokens == Some(0) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: "max_tokens".into(),
                message: "must be at least 1 (or left out for no cap)".into(),
            });
        }
        for (i, model) in self.models.iter().enumerate() {
            if let Err(message) = model.check_paths() {
                let bad_file = model
                    .files
                    .iter()
                    .position(|f| models::check_file_name(&f.name).is_err());
                let key = match bad_file {
                    Some(j) => format!("models[{i}].files[{j}].name"),
                    None => format!("models[{i}].id"),
                };
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    key,
                    message,
                });
            }
        }
        for (name, profile) in &self.providers {
            let Some(var) = &profile.api_key_env else {
                continue;
            };
            let valid = var
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            // Never echo the value: it may be the key itself.
            let problem = if !valid {
                "must be the NAME of an environment variable (letters, digits, _), like OPENAI_API_KEY, not the key itself"
            } else if looks_like_a_key(var) {
                "looks like an API key, not the NAME of an environment variable (like OPENAI_API_KEY): put the key in that variable (or in `api_key_file`), name the variable here, and rotate the key if this file was shared"
            } else {
                continue;
            };
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: format!("providers.{name}.api_key_env"),
                message: problem.into(),
            });
        }
        Ok(self)
    }

    /// The provider profiles, built-in ones first, patched by the user's.
    pub fn provider_profiles(&self) -> BTreeMap<String, ProviderProfile> {
        let mut profiles = builtin_profiles();
        for (name, profile) in &self.providers {
            profiles.insert(name.clone(), profile.clone());
        }
        profiles
    }
}

/// Built-in profiles: the local runtime, OpenAI and a local Ollama.
pub fn builtin_profiles() -> BTreeMap<String, ProviderProfile> {
    let mut profiles = BTreeMap::new();
    profiles.insert(
        "local".to_string(),
        ProviderProfile {
            kind: ProviderKind::Local,
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            timeout_secs: None,
        },
    );
    profiles.insert(
        "openai".to_string(),
        ProviderProfile {
            kind: ProviderKind::Openai,
            base_url: Some("https://api.openai.com/v1".to_string()),
            api_key_env: Some("OPENAI_API_KEY".to_string()),
            api_key_file: None,
            timeout_secs: None,
        },
    );
    profiles.insert(
        "ollama".to_string(),
        ProviderProfile {
            kind: ProviderKind::Openai,
            base_url: Some("http://127.0.0.1:11434/v1".to_string()),
            api_key_env: None,
            api_key_file: None,
            timeout_secs: None,
        },
    );
    profiles
}

/// Whether a value that is a valid env var name is more likely a pasted key: a vendor key
/// prefix, or a long random-looking run (env var names are words: `OPENAI_API_KEY`).
fn looks_like_a_key(value: &str) -> bool {
    const KEY_PREFIXES: &[&str] = &[
        "sk_",
        "pk_",
        "rk_",
        "whsec_",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "glpat",
        "xox",
        "AKIA",
        "ASIA",
        "AIza",
        "hf_",
        "gsk_",
        "r8_",
        "npm_",
        "shpat_",
    ];
    if value.len() > 64 {
        return true;
    }
    // A prefix followed by words (`ASIA_PACIFIC_API_KEY`) is a name; followed by one
    // random run, or by anything with digits, it is a key.
    let prefixed_key = KEY_PREFIXES.iter().any(|p| {
        value
            .strip_prefix(p)
            .is_some_and(|rest| !rest.contains('_') || rest.chars().any(|c| c.is_ascii_digit()))
    });
    if value.len() >= 16 && prefixed_key {
        return true;
    }
    let random_segment = value.split('_').any(|segment| {
        let has = |f: fn(&char) -> bool| segment.chars().any(|c| f(&c));
        let (upper, lower, digit) = (
            has(char::is_ascii_uppercase),
            has(char::is_ascii_lowercase),
            has(char::is_ascii_digit),
        );
        let mixed = digit && (upper || lower) || upper && lower;
        segment.len() >= 32 || segment.len() >= 16 && mixed
    });
    random_segment || value.len() >= 24 && entropy_bits_per_char(value) >= 4.3
}

/// Shannon entropy of `text`'s characters, in bits per character.
fn entropy_bits_per_char(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = text.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// 1-based line and column of a byte offset.
/// Where and why a TOML text failed to deserialize: 1-based line and column, the key
/// path (`providers.openai.base_url`; `(syntax)` for a syntax error) and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct TomlError {
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

/// Deserializes TOML text into `T`, naming the line, column and key of the first problem.
/// Every TOML file Strata reads (config, guardrail policies) goes through here.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| {
        let (line, column) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
        TomlError {
            line,
            column,
            key: String::from("(syntax)"),
            message: e.message().to_string(),
        }
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = line_col(text, inner.span().map(|s| s.start).unwrap_or(0));
        TomlError {
            line,
            column,
            key,
            message: inner.message().to_string(),
        }
    })
}

/// The 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profiles_and_patches_builtins() {
        let text = r#"
default_model = "ollama/llama3.2"
[providers.vllm]
kind = "openai"
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "VLLM_KEY"
[providers.ollama]
kind = "openai"
base_url = "http://10.0.0.5:11434/v1"
"#;
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        let profiles = config.provider_profiles();
        assert_eq!(
            profiles["vllm"].api_key_env.as_deref(),
            Some("VLLM_KEY"),
            "user profile kept"
        );
        assert_eq!(
            profiles["ollama"].base_url.as_deref(),
            Some("http://10.0.0.5:11434/v1")
        );
        assert!(profiles.contains_key("openai"), "built-ins stay");
        assert_eq!(config.default_model.as_deref(), Some("ollama/llama3.2"));
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let text =
            "cache_responses = true\n[providers.x]\nkind = \"openai\"\ntimeout_secs = \"soon\"\n";
        let err = Config::parse(text, Path::new("/etc/strata.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/etc/strata.toml:4:"), "{msg}");
        assert!(msg.contains("providers.x.timeout_secs"), "{msg}");
    }

    #[test]
    fn a_key_pasted_into_api_key_env_is_refused_without_echo() {
        let text = "[providers.x]\nkind = \"openai\"\napi_key_env = \"sk-secret-123\"\n";
        let msg = Config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("providers.x.api_key_env"), "{msg}");
        assert!(!msg.contains("sk-secret-123"), "{msg}");
        let msg = Config::parse("max_tokens = 0\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`max_tokens` must be at least 1"), "{msg}");
    }

    #[test]
    fn key_shaped_api_key_env_values_are_refused_and_never_echoed() {
        let keys = [
            "sk_live_51H8xYzAbCdEfGhIjKlMnOpQr",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "AKIAIOSFODNN7EXAMPLE",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
            "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
            "gsk_abcdefghijklmnopqrstuvwxyz0123456789",
            "knmLjDAOaSURzi6jrAwsCHgEiCe0DdNn",
            "Z8CTBPO7OZNPLAKEJMCY",
            "a9847592964f54e3b8e0bb2f2c804aa80413fc5a",
            &"A".repeat(80),
            "sk-proj-abc123",
            "Bearer abc",
        ];
        for key in keys {
            let text = format!("[providers.x]\nkind = \"openai\"\napi_key_env = \"{key}\"\n");
            let msg = Config::parse(&text, Path::new("c.toml"))
                .expect_err(key)
                .to_string();
            assert!(msg.contains("providers.x.api_key_env"), "{msg}");
            assert!(!msg.contains(key), "the key was echoed: {msg}");
            // Nor any long piece of it.
            assert!(!msg.contains(&key[..12.min(key.len())]), "{msg}");
        }
        for name in [
            "ASIA_PACIFIC_API_KEY",
            "AKIA_ROTATED_KEY_NAME",
            "OPENAI_API_KEY",
            "AZURE_OPENAI_API_KEY",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "MY_COMPANY_PRODUCTION_LLM_GATEWAY_KEY",
            "OPENROUTER_API_KEY_WORK_ACCOUNT_2024",
            "my_key",
            "PATH_TO_KEY",
            "_PRIVATE",
        ] {
            let text = format!("[providers.x]\nkind = \"openai\"\napi_key_env = \"{name}\"\n");
            Config::parse(&text, Path::new("c.toml"))
                .unwrap_or_else(|e| panic!("{name} is a plain variable name: {e}"));
        }
    }

    #[test]
    fn an_unquoted_key_is_not_echoed_by_the_syntax_error() {
        let key = "sk_live_51H8xYzAbCdEfGhIjKlMnOpQr";
        let text = format!("[providers.x]\nkind = \"openai\"\napi_key_env = {key}\n");
        let msg = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("c.toml:3:"), "{msg}");
        assert!(!msg.contains(key), "the key was echoed: {msg}");
    }

    #[test]
    fn model_file_names_that_leave_the_model_directory_are_refused() {
        let model = |name: &str| {
            format!(
                "[[models]]\nid = \"local/evil\"\nprovider = \"local\"\n[[models.files]]\nname = \"ok.json\"\nsources = []\n[[models.files]]\nname = '{name}'\nsources = [{{ url = \"http://127.0.0.1/x\" }}]\n"
            )
        };
        for bad in [
            "/etc/cron.d/x",
            "../../.bashrc",
            "sub/x.gguf",
            "..",
            ".",
            "",
            "a\\b",
        ] {
            let msg = Config::parse(&model(bad), Path::new("c.toml"))
                .expect_err(bad)
                .to_string();
            assert!(
                msg.starts_with("c.toml: `models[0].files[1].name`"),
                "{msg}"
            );
            assert!(msg.contains("`local/evil`"), "{msg}");
            assert!(msg.contains(&format!("`{}`", bad.escape_debug())), "{msg}");
        }
        let config = Config::parse(&model("model.gguf"), Path::new("c.toml")).unwrap();
        assert_eq!(config.models[0].files[1].name, "model.gguf");
        let msg = Config::parse(
            "[[models]]\nid = \"..\"\nprovider = \"local\"\n[[models.files]]\nname = \"a.gguf\"\nsources = []\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("`models[0].id`") && msg.contains("`..`"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_key_and_syntax_errors_are_located() {
        let err = Config::parse("\n\ncache_respnses = true\n", Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("c.toml:3:"), "{msg}");
        assert!(msg.contains("cache_respnses"), "{msg}");
        let err = Config::parse("a = = 1", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("c.toml:1:"), "{err}");
    }
}

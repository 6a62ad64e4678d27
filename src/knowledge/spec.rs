//! What a knowledge base is made of: its sources (folders, files, http(s) URLs), the globs
//! that pick files, how documents are cut into chunks, and the model that embeds them.
//! Validation here gives errors that name the input; nothing here touches the disk but
//! the existence check of a source path.

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// The default embeddings model (in-process, through kalosm).
pub const DEFAULT_EMBEDDING: &str = "local/all-minilm-l6-v2";

/// A knowledge base's definition, as `kb create` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbSpec {
    pub name: String,
    /// Absolute paths (folders or files) and http(s) URLs.
    pub sources: Vec<String>,
    /// Only files whose path (relative to their source folder) or name matches one of
    /// these; empty takes every file.
    #[serde(default)]
    pub include: Vec<String>,
    /// Files matching any of these are left out.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub chunking: Chunking,
    /// Catalog id of the embeddings model.
    pub embedding: String,
}

/// How documents become chunks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Chunking {
    pub strategy: Strategy,
    /// Target chunk size in bytes of text.
    pub size: usize,
    /// Bytes a chunk repeats from the one before (fixed-size cuts and long sections).
    pub overlap: usize,
}

impl Default for Chunking {
    fn default() -> Chunking {
        Chunking {
            strategy: Strategy::Structure,
            size: 1000,
            overlap: 150,
        }
    }
}

/// Where chunk boundaries fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Fixed-size windows with overlap, ignoring the document's structure.
    Fixed,
    /// Markdown and HTML split at headings (the heading path is kept), source code at
    /// top-level items, plain text at paragraphs; long sections get fixed windows.
    Structure,
}

/// A definition that cannot be used, naming the input and what to do.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error(
        "`{0}` is not a usable knowledge base name: use 1 to 64 letters, digits, `.`, `_` or `-`"
    )]
    BadName(String),
    #[error("a knowledge base needs at least one --source (a folder, a file or an http(s) URL)")]
    NoSources,
    #[error("source {0} does not exist; check the path (relative paths are taken from the current folder)")]
    MissingSource(String),
    #[error("glob `{glob}` is not valid: {reason}")]
    BadGlob { glob: String, reason: String },
    #[error("chunk size {0} is too small; use at least 100 bytes")]
    SmallChunks(usize),
    #[error("overlap {overlap} must be less than half the chunk size {size}")]
    BigOverlap { overlap: usize, size: usize },
}

/// Whether a source is a URL rather than a path.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

impl KbSpec {
    /// Checks the name, globs and chunk sizes (not the sources: see `check_sources`).
    pub fn validate(&self) -> Result<(), SpecError> {
        check_name(&self.name)?;
        if self.sources.is_empty() {
            return Err(SpecError::NoSources);
        }
        glob_set(&self.include)?;
        glob_set(&self.exclude)?;
        if self.chunking.size < 100 {
            return Err(SpecError::SmallChunks(self.chunking.size));
        }
        if self.chunking.overlap.saturating_mul(2) >= self.chunking.size {
            return Err(SpecError::BigOverlap {
                overlap: self.chunking.overlap,
                size: self.chunking.size,
            });
        }
        Ok(())
    }

    /// Every path source exists (URLs are checked when fetched).
    pub fn check_sources(&self) -> Result<(), SpecError> {
        for source in self.sources.iter().filter(|s| !is_url(s)) {
            if !Path::new(source).exists() {
                return Err(SpecError::MissingSource(source.clone()));
            }
        }
        Ok(())
    }
}

/// Globs compiled into one set (`None` for none); a bad one is named in the error.
pub fn glob_set(patterns: &[String]) -> Result<Option<GlobSet>, SpecError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(Glob::new(p).map_err(|e| SpecError::BadGlob {
            glob: p.clone(),
            reason: e.kind().to_string(),
        })?);
    }
    set.build().map(Some).map_err(|e| SpecError::BadGlob {
        glob: patterns.join(", "),
        reason: e.to_string(),
    })
}

/// A glob set matches a path as given or by its file name.
pub fn glob_matches(set: &GlobSet, path: &Path) -> bool {
    set.is_match(path) || path.file_name().is_some_and(|n| set.is_match(n))
}

/// Knowledge base names are used in keys, file names and commands.
pub fn check_name(name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(SpecError::BadName(name.to_string()))
    }
}

/// A source path made absolute (so a base keeps working from any folder); URLs as given.
pub fn absolute_source(source: &str) -> String {
    if is_url(source) {
        return source.to_string();
    }
    let path = crate::tilde::expand_home(source);
    let absolute = if path.is_absolute() {
        path.clone()
    } else {
        std::env::current_dir()
            .map(|d| d.join(&path))
            .unwrap_or_else(|_| path.clone())
    };
    std::fs::canonicalize(&absolute)
        .unwrap_or(absolute)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KbSpec {
        KbSpec {
            name: "docs".into(),
            sources: vec!["/tmp".into()],
            include: vec!["*.md".into()],
            exclude: vec![],
            chunking: Chunking::default(),
            embedding: DEFAULT_EMBEDDING.into(),
        }
    }

    #[test]
    fn bad_definitions_name_the_input() {
        assert!(spec().validate().is_ok());
        let mut s = spec();
        s.name = "my docs".into();
        assert_eq!(s.validate(), Err(SpecError::BadName("my docs".into())));
        let mut s = spec();
        s.include = vec!["[".into()];
        assert!(s.validate().unwrap_err().to_string().contains("`[`"));
        let mut s = spec();
        s.chunking.overlap = 600;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.sources = vec!["/no/such/dir".into()];
        assert!(s
            .check_sources()
            .unwrap_err()
            .to_string()
            .contains("/no/such/dir"));
    }
}

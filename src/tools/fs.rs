//! The file built-ins `read_file` and `list_dir`, confined to a root: no way out by `..`, an
//! absolute path or a symbolic link. Not responsible for writing files or watching them.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use super::{ToolError, ToolOutcome};

/// Bytes `read_file` returns per call by default.
pub const DEFAULT_MAX_READ: usize = 64 * 1024;
/// Entries `list_dir` returns at most.
pub const MAX_ENTRIES: usize = 1000;

/// A directory the file tools may not leave (held canonical).
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    pub fn new(root: &Path) -> Result<Root, String> {
        let path = root.canonicalize().map_err(|e| {
            format!(
                "the file tools' root `{}` cannot be opened: {e}",
                root.display()
            )
        })?;
        if !path.is_dir() {
            return Err(format!(
                "the file tools' root `{}` is not a directory",
                root.display()
            ));
        }
        Ok(Root { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The real path of `relative` under the root. Refused: absolute paths, `..` that
    /// climbs above the root, and anything (a symbolic link on the way) that resolves
    /// outside it. A missing path is an error that says so.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, String> {
        let given = Path::new(relative);
        let mut depth = 0usize;
        for component in given.components() {
            match component {
                Component::Normal(_) => depth += 1,
                Component::CurDir => {}
                Component::ParentDir if depth == 0 => {
                    return Err(format!(
                        "`{relative}` leads outside the tool's root (`..`); give a path inside it"
                    ))
                }
                Component::ParentDir => depth -= 1,
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "`{relative}` is an absolute path; give a path relative to the tool's root (e.g. `notes/a.md`)"
                    ))
                }
            }
        }
        let real = self.path.join(given).canonicalize().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("there is no `{relative}` under the root; list_dir shows what is there")
            } else {
                format!("cannot open `{relative}`: {e}")
            }
        })?;
        if !real.starts_with(&self.path) {
            return Err(format!(
                "`{relative}` resolves outside the tool's root (through a symbolic link); refused"
            ));
        }
        Ok(real)
    }
}

pub fn read_file_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Path relative to the root", "minLength": 1},
            "offset": {"type": "integer", "minimum": 0, "description": "Byte to start at (default 0)"}
        },
        "required": ["path"],
        "additionalProperties": false
    })
}

pub fn list_dir_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Directory relative to the root (default: the root)"}
        },
        "additionalProperties": false
    })
}

/// `read_file`: a text file's bytes from an offset, at most `max_bytes` of them.
#[derive(Debug, Clone)]
pub struct ReadFile {
    root: Root,
    max_bytes: usize,
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    #[serde(default)]
    offset: u64,
}

impl ReadFile {
    pub fn new(root: Root, max_bytes: usize) -> Result<ReadFile, ToolError> {
        if max_bytes == 0 {
            return Err(ToolError::Config(
                "read_file needs a size limit above 0 bytes".into(),
            ));
        }
        Ok(ReadFile { root, max_bytes })
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub async fn run(&self, args: Value) -> ToolOutcome {
        let args: ReadArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(e) => return ToolOutcome::failure(format!("invalid arguments: {e}")),
        };
        let tool = self.clone();
        tokio::task::spawn_blocking(move || tool.read(&args))
            .await
            .unwrap_or_else(|e| ToolOutcome::failure(format!("reading failed: {e}")))
    }

    fn read(&self, args: &ReadArgs) -> ToolOutcome {
        let path = match self.root.resolve(&args.path) {
            Ok(p) => p,
            Err(e) => return ToolOutcome::failure(e),
        };
        let name = &args.path;
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => return ToolOutcome::failure(format!("cannot open `{name}`: {e}")),
        };
        if meta.is_dir() {
            return ToolOutcome::failure(format!(
                "`{name}` is a directory; use list_dir to see its entries"
            ));
        }
        if !meta.is_file() {
            return ToolOutcome::failure(format!("`{name}` is not a regular file"));
        }
        let size = meta.len();
        if args.offset > size {
            return ToolOutcome::failure(format!(
                "offset {} is past the end of `{name}` ({size} bytes)",
                args.offset
            ));
        }
        let mut bytes = Vec::new();
        let read = crate::confine::open_inside(&path, self.root.path()).and_then(|mut f| {
            f.seek(SeekFrom::Start(args.offset))?;
            f.take(self.max_bytes as u64 + 1).read_to_end(&mut bytes)
        });
        if let Err(e) = read {
            return ToolOutcome::failure(format!("cannot read `{name}`: {e}"));
        }
        let truncated = bytes.len() > self.max_bytes;
        bytes.truncate(self.max_bytes);
        if bytes.contains(&0) {
            return ToolOutcome::failure(format!(
                "`{name}` looks like a binary file ({size} bytes); read_file shows text only"
            ));
        }
        let mut text = if truncated {
            // Cut on a character boundary.
            let valid = match std::str::from_utf8(&bytes) {
                Ok(_) => bytes.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => bytes.len(),
            };
            bytes.truncate(valid);
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        if truncated {
            let next = args.offset + bytes.len() as u64;
            text.push_str(&format!(
                "\n[shown: bytes {}..{next} of {size}; call read_file with offset {next} for more]",
                args.offset
            ));
        }
        ToolOutcome::text(text).with_truncated(truncated)
    }
}

/// `list_dir`: a directory's entries (name, kind, size), sorted by name.
#[derive(Debug, Clone)]
pub struct ListDir {
    root: Root,
}

#[derive(Deserialize)]
struct ListArgs {
    #[serde(default)]
    path: Option<String>,
}

impl ListDir {
    pub fn new(root: Root) -> ListDir {
        ListDir { root }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub async fn run(&self, args: Value) -> ToolOutcome {
        let args: ListArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(e) => return ToolOutcome::failure(format!("invalid arguments: {e}")),
        };
        let tool = self.clone();
        tokio::task::spawn_blocking(move || tool.list(args.path.as_deref().unwrap_or(".")))
            .await
            .unwrap_or_else(|e| ToolOutcome::failure(format!("listing failed: {e}")))
    }

    fn list(&self, relative: &str) -> ToolOutcome {
        let relative = if relative.is_empty() { "." } else { relative };
        let path = match self.root.resolve(relative) {
            Ok(p) => p,
            Err(e) => return ToolOutcome::failure(e),
        };
        if !path.is_dir() {
            return ToolOutcome::failure(format!(
                "`{relative}` is not a directory; use read_file to read a file"
            ));
        }
        let reader = match std::fs::read_dir(&path) {
            Ok(r) => r,
            Err(e) => return ToolOutcome::failure(format!("cannot list `{relative}`: {e}")),
        };
        let mut entries: Vec<(String, &'static str, Option<u64>)> = Vec::new();
        for entry in reader.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Not followed: a link is shown as a link.
            let (kind, size) = match entry.path().symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => ("symlink", None),
                Ok(m) if m.is_dir() => ("dir", None),
                Ok(m) if m.is_file() => ("file", Some(m.len())),
                Ok(_) => ("other", None),
                Err(_) => ("unknown", None),
            };
            entries.push((name, kind, size));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let total = entries.len();
        let truncated = total > MAX_ENTRIES;
        entries.truncate(MAX_ENTRIES);
        let entries: Vec<Value> = entries
            .into_iter()
            .map(|(name, kind, size)| match size {
                Some(size) => json!({"name": name, "kind": kind, "size": size}),
                None => json!({"name": name, "kind": kind}),
            })
            .collect();
        ToolOutcome::success(json!({"path": relative, "total": total, "entries": entries}))
            .with_truncated(truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/x.txt"), "x").unwrap();
        let root = Root::new(dir.path()).unwrap();
        assert!(root.resolve("a/x.txt").is_ok());
        assert!(root.resolve("a/../a/x.txt").is_ok());
        assert!(root.resolve("./a").is_ok());
        assert!(root.resolve("..").unwrap_err().contains("outside"));
        assert!(root.resolve("a/../../x").unwrap_err().contains("outside"));
        assert!(root
            .resolve("/etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(root
            .resolve("a/missing")
            .unwrap_err()
            .contains("there is no"));
    }

    #[tokio::test]
    async fn a_large_file_is_cut_with_a_way_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.txt"), "é".repeat(100)).unwrap();
        let tool = ReadFile::new(Root::new(dir.path()).unwrap(), 51).unwrap();
        let outcome = tool.run(json!({"path": "big.txt"})).await;
        assert!(outcome.ok && outcome.truncated);
        let text = outcome.content.as_str().unwrap();
        assert!(text.starts_with(&"é".repeat(25)), "{text}");
        assert!(text.contains("offset 50"), "{text}");
        let rest = tool.run(json!({"path": "big.txt", "offset": 150})).await;
        assert_eq!(rest.content, json!("é".repeat(25)));
        assert!(!rest.truncated);
    }

    #[tokio::test]
    async fn directories_and_binaries_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("b.bin"), [0u8, 1, 2]).unwrap();
        let tool = ReadFile::new(Root::new(dir.path()).unwrap(), 100).unwrap();
        let o = tool.run(json!({"path": "d"})).await;
        assert!(o.observation().contains("is a directory"));
        let o = tool.run(json!({"path": "b.bin"})).await;
        assert!(o.observation().contains("binary"));
        let list = ListDir::new(Root::new(dir.path()).unwrap());
        let o = list.run(json!({"path": "b.bin"})).await;
        assert!(o.observation().contains("not a directory"));
    }
}

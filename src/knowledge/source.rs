//! Finding and reading a base's documents: folders walked with include/exclude globs
//! (hidden folders, `target` and `node_modules` left out, symlinks followed only while
//! they stay inside the folder), single files, and http(s) URLs. Reading decides what is
//! text: binary and unreadable files are skipped with a reason, invalid UTF-8 is decoded
//! lossily and flagged, files over `LARGE` bytes are streamed in pieces instead of read
//! whole, and files over `MAX_FILE` bytes or pages over `MAX_PAGE` bytes are refused.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chunk::{self, Chunk, DocKind};
use super::spec::{glob_matches, glob_set, is_url, Chunking, KbSpec, SpecError};

/// Files above this size are streamed in pieces (and cut as plain text).
pub const LARGE: u64 = 8 * 1024 * 1024;
/// The largest file a base ingests; larger ones are skipped with a reason.
pub const MAX_FILE: u64 = 256 * 1024 * 1024;
/// A streamed piece.
const PIECE: usize = 1024 * 1024;
/// The most a URL may return; reading stops there.
pub const MAX_PAGE: usize = 32 * 1024 * 1024;

/// A document to ingest.
#[derive(Debug, Clone)]
pub struct Found {
    /// Absolute path or URL: the document's identity in the base.
    pub key: String,
    pub path: Option<PathBuf>,
    pub kind: Option<DocKind>,
    pub size: u64,
    pub mtime: Option<i64>,
    /// The canonical folder a walk found it in: reading it must stay there.
    pub root: Option<PathBuf>,
}

/// A document left out of a sync, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

/// A document read and cut into chunks.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub title: Option<String>,
    pub hash: String,
    pub lossy: bool,
    pub chunks: Vec<Chunk>,
}

/// Every document of a base's sources, in a stable order.
pub fn discover(spec: &KbSpec) -> Result<(Vec<Found>, Vec<Skipped>), SpecError> {
    let include = glob_set(&spec.include)?;
    let exclude = glob_set(&spec.exclude)?;
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for source in &spec.sources {
        if is_url(source) {
            found.push(Found {
                key: source.clone(),
                path: None,
                kind: None,
                size: 0,
                mtime: None,
                root: None,
            });
            continue;
        }
        let root = Path::new(source);
        if !root.exists() {
            return Err(SpecError::MissingSource(source.clone()));
        }
        if root.is_file() {
            let name = Path::new(root.file_name().unwrap_or_default());
            if exclude.as_ref().is_some_and(|e| glob_matches(e, name)) {
                continue;
            }
            push_file(root, None, &mut found, &mut skipped);
            continue;
        }
        // Symlinks are followed, but only to places inside the folder: one that leads
        // out (to `~/.ssh`, `/etc`) is skipped and listed.
        let inside = match root.canonicalize() {
            Ok(inside) => inside,
            Err(e) => {
                skipped.push(Skipped {
                    key: source.clone(),
                    reason: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        let mut walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_name().to_string_lossy().starts_with('.')
                        || (e.file_type().is_dir()
                            && matches!(
                                e.file_name().to_str(),
                                Some("target" | "node_modules" | "__pycache__")
                            )))
            });
        while let Some(entry) = walker.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    skipped.push(Skipped {
                        key: e.path().map_or(source.clone(), |p| p.display().to_string()),
                        reason: format!("unreadable: {e}"),
                    });
                    continue;
                }
            };
            if entry.path_is_symlink() {
                if let Some(reason) = leaves(entry.path(), &inside) {
                    skipped.push(Skipped {
                        key: entry.path().display().to_string(),
                        reason,
                    });
                    if entry.file_type().is_dir() {
                        walker.skip_current_dir();
                    }
                    continue;
                }
            }
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            if include.as_ref().is_some_and(|i| !glob_matches(i, relative))
                || exclude.as_ref().is_some_and(|e| glob_matches(e, relative))
            {
                continue;
            }
            push_file(entry.path(), Some(&inside), &mut found, &mut skipped);
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found.dedup_by(|a, b| a.key == b.key);
    Ok((found, skipped))
}

/// Why a symlink found in a folder walk is not followed: its target resolves outside the
/// folder (`inside`, canonical), or cannot be resolved at all. None when it stays inside.
fn leaves(link: &Path, inside: &Path) -> Option<String> {
    match link.canonicalize() {
        Ok(target) if target.starts_with(inside) => None,
        Ok(target) => Some(format!(
            "a symlink to {}, outside the source folder (not followed)",
            target.display()
        )),
        Err(e) => Some(format!("a symlink that cannot be resolved: {e}")),
    }
}

fn push_file(path: &Path, root: Option<&Path>, found: &mut Vec<Found>, skipped: &mut Vec<Skipped>) {
    let key = path.display().to_string();
    let kind = DocKind::of_path(&key);
    if kind.is_none() {
        skipped.push(Skipped {
            key,
            reason: "binary format (by its extension)".into(),
        });
        return;
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE => skipped.push(Skipped {
            key,
            reason: too_large(MAX_FILE),
        }),
        Ok(meta) => found.push(Found {
            key,
            path: Some(path.to_path_buf()),
            kind,
            size: meta.len(),
            mtime: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64),
            root: root.map(Path::to_path_buf),
        }),
        Err(e) => skipped.push(Skipped {
            key,
            reason: format!("unreadable: {e}"),
        }),
    }
}

/// The reason a document over `limit` bytes is refused.
fn too_large(limit: u64) -> String {
    let size = if limit >= 1 << 20 {
        format!("{} MB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    format!("larger than {size}, the most a knowledge base reads of one document")
}

fn hex_sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether bytes look binary (a NUL in the first 8 KB).
fn looks_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|&b| b == 0)
}

/// Reads and chunks a file; `Err` is the reason to skip it.
pub fn read_file(found: &Found, chunking: &Chunking) -> Result<Parsed, String> {
    let path = found.path.as_ref().ok_or("not a file")?;
    let kind = found.kind.unwrap_or(DocKind::Text);
    if found.size > MAX_FILE {
        return Err(too_large(MAX_FILE));
    }
    let file = match &found.root {
        Some(root) => crate::confine::open_inside(path, root),
        None => std::fs::File::open(path),
    }
    .map_err(|e| format!("unreadable: {e}"))?;
    if found.size > LARGE {
        return stream_file(file, chunking);
    }
    // The file may have grown since it was listed: read no more than the limit.
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unreadable: {e}"))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large(MAX_FILE));
    }
    parse_bytes(&bytes, kind, chunking)
}

/// Chunks a document's bytes (a file read whole or a fetched page).
pub fn parse_bytes(bytes: &[u8], kind: DocKind, chunking: &Chunking) -> Result<Parsed, String> {
    if looks_binary(bytes) {
        return Err("binary content (NUL bytes)".into());
    }
    let text = String::from_utf8_lossy(bytes);
    let lossy = matches!(text, std::borrow::Cow::Owned(_));
    let out = chunk::chunk(kind, &text, chunking);
    Ok(Parsed {
        title: out.title,
        hash: hex_sha(bytes),
        lossy,
        chunks: out.chunks,
    })
}

/// A large file read in pieces (cut at a line end), hashed as it goes, as plain text.
fn stream_file(file: std::fs::File, chunking: &Chunking) -> Result<Parsed, String> {
    // The file may have grown since it was listed: read no more than the limit.
    let mut file = file.take(MAX_FILE + 1);
    let mut hasher = Sha256::new();
    let mut chunks = Vec::new();
    let mut carry: Vec<u8> = Vec::new();
    let mut offset = 0usize;
    let mut line = 1usize;
    let mut lossy = false;
    let mut buf = vec![0u8; PIECE];
    let mut first = true;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("unreadable: {e}"))?;
        if first && looks_binary(&buf[..n]) {
            return Err("binary content (NUL bytes)".into());
        }
        first = false;
        if (offset + carry.len() + n) as u64 > MAX_FILE {
            return Err(too_large(MAX_FILE));
        }
        hasher.update(&buf[..n]);
        carry.extend_from_slice(&buf[..n]);
        let cut = if n == 0 {
            carry.len()
        } else {
            match carry.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                // No line end in 4 MB: cut before a character that starts there, not
                // inside one.
                None if carry.len() > 4 * PIECE => (1..=4)
                    .map(|back| carry.len() - back)
                    .find(|&i| carry[i] & 0xC0 != 0x80)
                    .unwrap_or(carry.len()),
                None => continue,
            }
        };
        let piece: Vec<u8> = carry.drain(..cut).collect();
        let text = String::from_utf8_lossy(&piece);
        lossy |= matches!(text, std::borrow::Cow::Owned(_));
        chunks.extend(chunk::chunk_piece(&text, offset, line, chunking));
        offset += piece.len();
        line += piece.iter().filter(|&&b| b == b'\n').count();
        if n == 0 {
            break;
        }
    }
    Ok(Parsed {
        title: None,
        hash: hex::encode(hasher.finalize()),
        lossy,
        chunks,
    })
}

/// Fetches and chunks a URL; `Err` is the reason to skip it.
pub async fn fetch_url(url: &str, chunking: &Chunking) -> Result<(Parsed, DocKind, u64), String> {
    fetch_url_within(url, chunking, MAX_PAGE).await
}

/// `fetch_url` with a cap on the body: it is read piece by piece, and reading stops as
/// soon as it passes `max` bytes (or at once when the server announces more).
async fn fetch_url_within(
    url: &str,
    chunking: &Chunking,
    max: usize,
) -> Result<(Parsed, DocKind, u64), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot fetch: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let kind = DocKind::of_content_type(&content_type, url)
        .ok_or_else(|| format!("not a text page (content type {content_type})"))?;
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large(max as u64));
    }
    let mut bytes = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| format!("cannot fetch: {e}"))?;
        if bytes.len() + piece.len() > max {
            return Err(too_large(max as u64));
        }
        bytes.extend_from_slice(&piece);
    }
    let size = bytes.len() as u64;
    let chunking = *chunking;
    let read = tokio::task::spawn_blocking(move || parse_bytes(&bytes, kind, &chunking))
        .await
        .map_err(|e| format!("reading failed: {e}"))??;
    Ok((read, kind, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::spec::{Strategy, DEFAULT_EMBEDDING};

    #[test]
    fn globs_hidden_folders_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("docs/deep")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join("docs/a.md"), "# A\n\ntext").unwrap();
        std::fs::write(d.join("docs/deep/b.md"), "# B\n\ntext").unwrap();
        std::fs::write(d.join("docs/draft.md"), "# D").unwrap();
        std::fs::write(d.join("docs/logo.png"), [0u8, 1, 2]).unwrap();
        std::fs::write(d.join(".git/c.md"), "# C").unwrap();
        let spec = KbSpec {
            name: "t".into(),
            sources: vec![d.display().to_string()],
            include: vec!["*.md".into(), "*.png".into()],
            exclude: vec!["draft*".into()],
            chunking: Chunking::default(),
            embedding: DEFAULT_EMBEDDING.into(),
        };
        let (found, skipped) = discover(&spec).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|f| {
                f.key
                    .strip_prefix(&d.display().to_string())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["/docs/a.md", "/docs/deep/b.md"]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].key.ends_with("logo.png"));
    }

    #[test]
    fn binary_lossy_and_streamed_files() {
        let c = Chunking {
            strategy: Strategy::Structure,
            size: 400,
            overlap: 50,
        };
        assert!(parse_bytes(b"abc\0def", DocKind::Text, &c).is_err());
        let lossy = parse_bytes(b"caf\xe9 au lait", DocKind::Text, &c).unwrap();
        assert!(lossy.lossy);
        assert!(lossy.chunks[0].text.contains('\u{FFFD}'));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let line = "a log line with some words in it\n";
        let body = line.repeat((LARGE as usize / line.len()) + 1000);
        std::fs::write(&path, &body).unwrap();
        let found = Found {
            key: path.display().to_string(),
            path: Some(path),
            kind: Some(DocKind::Text),
            size: body.len() as u64,
            mtime: None,
            root: None,
        };
        let read = read_file(&found, &c).unwrap();
        assert_eq!(read.hash, hex_sha(body.as_bytes()));
        let last = read.chunks.last().unwrap();
        assert_eq!(&body[last.bytes.clone()], last.text);
        let lines = body.lines().count();
        assert_eq!(last.lines.1, lines);
        let mid = &read.chunks[read.chunks.len() / 2];
        assert_eq!(&body[mid.bytes.clone()], mid.text);
        assert_eq!(
            body[..mid.bytes.start].matches('\n').count() + 1,
            mid.lines.0
        );
    }

    fn folder_spec(dir: &Path) -> KbSpec {
        KbSpec {
            name: "t".into(),
            sources: vec![dir.display().to_string()],
            include: vec![],
            exclude: vec![],
            chunking: Chunking::default(),
            embedding: DEFAULT_EMBEDDING.into(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_folder_are_skipped_and_listed() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "# Secret\n\nkey").unwrap();
        std::fs::create_dir(outside.path().join("dir")).unwrap();
        std::fs::write(outside.path().join("dir/more.md"), "# More").unwrap();
        let root = tempfile::tempdir().unwrap();
        let d = root.path();
        std::fs::create_dir(d.join("docs")).unwrap();
        std::fs::write(d.join("docs/a.md"), "# A").unwrap();
        symlink(outside.path().join("secret.md"), d.join("docs/secret.md")).unwrap();
        symlink(outside.path().join("dir"), d.join("linked-dir")).unwrap();
        symlink(d.join("docs/a.md"), d.join("alias.md")).unwrap();
        symlink(d.join("docs"), d.join("docs-again")).unwrap();
        symlink(d.join("nowhere.md"), d.join("dangling.md")).unwrap();

        let (found, skipped) = discover(&folder_spec(d)).unwrap();
        let keys: Vec<&str> = found
            .iter()
            .map(|f| f.key.strip_prefix(&d.display().to_string()).unwrap())
            .collect();
        // Links that stay inside the folder are followed.
        assert_eq!(keys, ["/alias.md", "/docs-again/a.md", "/docs/a.md"]);
        let skipped: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| {
                let key = s.key.strip_prefix(&d.display().to_string()).unwrap();
                (key, s.reason.as_str())
            })
            .collect();
        let keys: Vec<&str> = skipped.iter().map(|(key, _)| *key).collect();
        assert_eq!(
            keys,
            [
                "/dangling.md",
                "/docs/secret.md",
                "/docs-again/secret.md",
                "/linked-dir"
            ]
        );
        for (key, reason) in &skipped[1..] {
            assert!(
                reason.contains("outside the source folder"),
                "{key}: {reason}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_link_out_after_the_walk_is_not_read() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "# Secret\n\nkey").unwrap();
        let root = tempfile::tempdir().unwrap();
        let d = root.path();
        std::fs::create_dir(d.join("docs")).unwrap();
        std::fs::write(d.join("docs/a.md"), "# A\n\nfine").unwrap();
        let (found, _) = discover(&folder_spec(d)).unwrap();
        let chunking = Chunking::default();
        assert!(read_file(&found[0], &chunking).is_ok());
        // Between the walk and the read, the file becomes a link out of the folder.
        std::fs::remove_file(d.join("docs/a.md")).unwrap();
        symlink(outside.path().join("secret.md"), d.join("docs/a.md")).unwrap();
        let err = read_file(&found[0], &chunking).unwrap_err();
        assert!(err.contains("outside"), "{err}");
    }

    #[test]
    fn files_over_the_limit_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("small.txt"), "fine").unwrap();
        // A sparse file: the size is there without the disk space.
        let huge = std::fs::File::create(dir.path().join("huge.txt")).unwrap();
        huge.set_len(MAX_FILE + 1).unwrap();
        let (found, skipped) = discover(&folder_spec(dir.path())).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].key.ends_with("small.txt"));
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].key.ends_with("huge.txt"));
        assert!(
            skipped[0].reason.contains("larger than 256 MB"),
            "{skipped:?}"
        );
    }

    /// A page that never ends is refused once it passes the cap, without reading on.
    #[tokio::test]
    async fn a_url_over_the_cap_is_refused_without_reading_it_all() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        const PIECE_SENT: usize = 64 * 1024;
        const TOTAL: usize = 256 * 1024 * 1024;
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let app = axum::Router::new().route(
            "/big.txt",
            axum::routing::get(move || {
                let counter = counter.clone();
                async move {
                    let pieces = futures::stream::iter(0..TOTAL / PIECE_SENT).map(move |_| {
                        counter.fetch_add(PIECE_SENT, Ordering::SeqCst);
                        Ok::<_, std::io::Error>(vec![b'a'; PIECE_SENT])
                    });
                    (
                        [(axum::http::header::CONTENT_TYPE, "text/plain")],
                        axum::body::Body::from_stream(pieces),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let cap = 1024 * 1024;
        let url = format!("http://{addr}/big.txt");
        let chunking = Chunking::default();
        let fetch = fetch_url_within(&url, &chunking, cap);
        let err = tokio::time::timeout(Duration::from_secs(20), fetch)
            .await
            .expect("the fetch stops at the cap")
            .expect_err("a page over the cap is refused");
        assert!(err.contains("larger than 1 MB"), "{err}");
        // The server gets to send what the socket buffers hold, not the whole page.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = sent.load(Ordering::SeqCst);
        assert!(sent < TOTAL / 4, "{sent} of {TOTAL} bytes were sent");
    }
}

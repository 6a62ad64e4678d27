//! A provider's streamed answer: a loopback server answers every chat call with the
//! fuzzer's bytes as its server-sent-event body, and the whole invoke pipeline (SSE
//! parsing, chunk handling, tool-call assembly, the record) must end in an answer or an
//! error, never a panic or a hang.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use strata::config::{Config, Paths, ProviderKind, ProviderProfile};
use strata::runtime::catalog::{Capability, ModelSpec};
use strata::runtime::invoke::InvokeRequest;
use strata::runtime::types::{ChatRequest, Message, Params};
use strata::runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Harness {
    tokio: tokio::runtime::Runtime,
    strata: Runtime,
    body: Arc<Mutex<Vec<u8>>>,
    _dir: tempfile::TempDir,
}

/// Answers each connection with the current body as an event stream.
async fn serve(listener: tokio::net::TcpListener, body: Arc<Mutex<Vec<u8>>>) {
    while let Ok((mut socket, _)) = listener.accept().await {
        let body = body.lock().unwrap().clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The headers, then as many body bytes as they announce.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request).to_lowercase();
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let head = text.find("\r\n\r\n").map_or(0, |i| i + 4);
            let mut have = request.len() - head;
            while have < length {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => have += n,
                }
            }
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
                .await;
            let _ = socket.write_all(&body).await;
            let _ = socket.shutdown().await;
        });
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        let body = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        tokio.spawn(serve(listener, body.clone()));
        let mut providers = BTreeMap::new();
        providers.insert(
            "f".to_string(),
            ProviderProfile {
                kind: ProviderKind::Openai,
                base_url: Some(url),
                api_key_env: None,
                api_key_file: None,
                timeout_secs: Some(5),
            },
        );
        let config = Config {
            providers,
            models: vec![ModelSpec {
                id: "f/m".into(),
                name: String::new(),
                provider: "f".into(),
                family: None,
                context_window: 4096,
                input_price: 0.0,
                output_price: 0.0,
                capabilities: vec![Capability::Chat, Capability::Tools],
                default: false,
                remote_name: Some("m".into()),
                files: vec![],
            }],
            max_retries: Some(0),
            ..Config::default()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let strata = Runtime::with_config(Paths::under(dir.path()), config).expect("runtime");
        Harness {
            tokio,
            strata,
            body,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    *h.body.lock().unwrap() = data.to_vec();
    let request = InvokeRequest {
        model: "f/m".into(),
        chat: ChatRequest {
            model: String::new(),
            system: None,
            messages: vec![Message::user("hi")],
            params: Params::default(),
            tools: vec![],
            tool_choice: Default::default(),
        },
        use_cache: None,
        context: Default::default(),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let _ = h.tokio.block_on(h.strata.invoke(request, |_| {}, cancel));
});

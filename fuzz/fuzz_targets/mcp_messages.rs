//! MCP messages: a stand-in server answers each of Strata's requests with the next line
//! of the fuzzer's input (its `__ID__` replaced by the request's id), so the handshake,
//! the tool list (names, schemas, annotations) and a call's result all come from the
//! fuzzer. Starting, listing and calling must end in tools or an error, never a panic.
//! Short timeouts: a reply the client does not take (a wrong id) stalls both sides until
//! then, which bounds the pace at a few runs a second.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use strata::tools::mcp::{McpServer, McpServerConfig};

/// Answers each request (a line with an id) with the next line of the file in $1.
const RESPONDER: &str = r#"exec 3<"$1"
while IFS= read -r req; do
  case $req in *'"id"'*)
    id=$(printf '%s' "$req" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
    IFS= read -r resp <&3 || exit 0
    printf '%s\n' "$resp" | sed "s/__ID__/${id:-0}/g";;
  esac
done"#;

fn tokio() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write");
    file.write_all(b"\n").expect("write");
    let path = file.path().display().to_string();
    let mut config = McpServerConfig::new(
        "fuzz",
        vec![
            "/bin/sh".into(),
            "-c".into(),
            RESPONDER.into(),
            "sh".into(),
            path,
        ],
        std::env::temp_dir(),
    );
    config.start_timeout = Duration::from_millis(300);
    config.call_timeout = Duration::from_millis(300);
    config.max_output = 4096;
    tokio().block_on(async {
        let started = McpServer::start(&config).await;
        if std::env::var_os("FUZZ_MCP_DEBUG").is_some() {
            eprintln!("{started:?}");
        }
        if let Ok(server) = started {
            if let Some(tool) = server.tools().first().map(|t| t.name.clone()) {
                let cancel = tokio_util::sync::CancellationToken::new();
                let outcome = server
                    .call(&tool, serde_json::json!({"text": "hi"}), cancel)
                    .await;
                if std::env::var_os("FUZZ_MCP_DEBUG").is_some() {
                    eprintln!("{outcome:?}");
                }
            }
        }
    });
});

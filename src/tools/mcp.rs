//! MCP servers as tools: a server declared in an agent file is started over stdio (its own
//! process group, no shell, a cleaned environment plus the variables the file sets, the
//! agent file's folder as working dir, stderr captured for the log and for error messages),
//! initialized, asked for its tools (filtered by the file's `tools` list), and each of them
//! becomes a [`Binding::Mcp`](super::Binding::Mcp) whose calls go to `tools/call` with a
//! timeout, cancellation and an output cap. The server lives as long as any of its tools:
//! the last one dropped kills its process group, and the process is reaped.
//!
//! Not responsible for approvals (the tools' annotations are read here; `agents::toolset`
//! turns them into the agent's approval set), for naming tools apart from other tools (the
//! toolset refuses two tools with one name), or for any transport but stdio.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::unistd::Pid;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientCapabilities, ClientInfo, ClientRequest, ContentBlock, Implementation, ResourceContents,
    ServerResult,
};
use rmcp::service::{PeerRequestOptions, RoleClient, RunningService, ServiceError};
use rmcp::ServiceExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::command::{isolated_command, kill_group, spawn, DEFAULT_MAX_OUTPUT, STDERR_TAIL};
use super::ToolOutcome;

/// How long a server may take to start, answer the handshake and list its tools.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// A call's timeout when the configuration gives none.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a failed start waits for the process to exit and its stderr to end.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// Longest stderr line written to the log.
const LOG_LINE: usize = 1000;

/// How to start one MCP server.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerConfig {
    /// The server's name in the agent file (used in messages).
    pub name: String,
    /// The program and its arguments. A program with a `/` is used as is (the agent file's
    /// loader made it absolute); a bare name is looked up on `PATH`.
    pub command: Vec<String>,
    /// Variables set for the server on top of the cleaned environment ([`super::command::PASSED_ENV`]).
    pub env: BTreeMap<String, String>,
    /// The server's working directory.
    pub working_dir: PathBuf,
    /// Only these of its tools (the server's names, or the names they are exposed as).
    pub tools: Option<Vec<String>>,
    /// A `tools/call`'s timeout.
    pub call_timeout: Duration,
    /// Start, handshake and tool listing together.
    pub start_timeout: Duration,
    /// Bytes of a call's result kept; the rest is cut and the outcome marked truncated.
    pub max_output: usize,
}

impl McpServerConfig {
    pub fn new(
        name: impl Into<String>,
        command: Vec<String>,
        working_dir: impl Into<PathBuf>,
    ) -> McpServerConfig {
        McpServerConfig {
            name: name.into(),
            command,
            env: BTreeMap::new(),
            working_dir: working_dir.into(),
            tools: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }

    /// The command as the user wrote it, for messages.
    fn shown(&self) -> String {
        self.command.join(" ")
    }

    fn check(&self) -> Result<(), String> {
        match self.command.first() {
            None => Err("needs a program to run (`command = [\"mcp-server-x\"]`)".into()),
            Some(p) if p.trim().is_empty() => Err("its program is empty".into()),
            Some(_) if self.call_timeout.is_zero() || self.start_timeout.is_zero() => {
                Err("needs timeouts above 0".into())
            }
            Some(_) if self.max_output == 0 => Err("needs an output limit above 0".into()),
            Some(_) => Ok(()),
        }
    }
}

/// One tool as its server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpToolInfo {
    /// The name the server knows it by.
    pub name: String,
    /// The name the model calls it by ([`exposed_name`] of `name`).
    pub exposed: String,
    pub description: String,
    /// The JSON Schema of its arguments.
    pub input_schema: Value,
    /// `readOnlyHint`: it does not change its environment.
    pub read_only: Option<bool>,
    /// `destructiveHint`: it may destroy or overwrite things.
    pub destructive: Option<bool>,
}

impl McpToolInfo {
    /// Whether the server says the tool may be destructive: `destructiveHint = true` on a
    /// tool not marked read-only (the spec's meaning; an unannotated tool is not counted).
    pub fn is_destructive(&self) -> bool {
        self.read_only != Some(true) && self.destructive == Some(true)
    }
}

/// The name a server's tool is exposed under: the server's own name when function-calling
/// APIs accept it (`^[a-zA-Z0-9_-]{1,64}$`), else with each other character replaced by `_`
/// and cut at 64 characters (`files.read` → `files_read`).
pub fn exposed_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// A running MCP server: the client connection, the process and the tools it listed.
/// Dropping it closes the connection and kills the server's process group.
pub struct McpServer {
    name: String,
    shown: String,
    max_output: usize,
    call_timeout: Duration,
    tools: Vec<McpToolInfo>,
    // Closed before the process is killed (fields drop in order).
    client: RunningService<RoleClient, ClientInfo>,
    process: Process,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("name", &self.name)
            .field("command", &self.shown)
            .field("pid", &self.process.pid)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// Starts the server, does the MCP handshake and lists its tools (those the
    /// configuration names, or all). The error says which server, which command, what went
    /// wrong (with the end of its stderr) and what to do.
    pub async fn start(config: &McpServerConfig) -> Result<Arc<McpServer>, String> {
        let shown = config.shown();
        let about = format!("MCP server `{}` (`{shown}`)", config.name);
        config.check().map_err(|e| format!("{about}: {e}"))?;
        let (process, stdout, stdin) = Process::spawn(config)
            .await
            .map_err(|e| format!("{about}: {}", cannot_start(&config.command[0], &e)))?;

        let info = ClientInfo::new(
            ClientCapabilities::default(),
            Implementation::new("strata", env!("CARGO_PKG_VERSION")),
        );
        let started = async {
            let client = info
                .serve((stdout, stdin))
                .await
                .map_err(|e| Failure::Handshake(e.to_string()))?;
            let listed = client
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| Failure::Listing(e.to_string()))?;
            Ok::<_, Failure>((client, listed))
        };
        let (client, listed) = match tokio::time::timeout(config.start_timeout, started).await {
            Ok(Ok(done)) => done,
            Ok(Err(failure)) => return Err(process.start_failed(&about, failure).await),
            Err(_) => {
                let failure = Failure::TimedOut(config.start_timeout);
                return Err(process.start_failed(&about, failure).await);
            }
        };

        let mut tools: Vec<McpToolInfo> = listed
            .into_iter()
            .map(|tool| {
                let annotations = tool.annotations.as_ref();
                McpToolInfo {
                    exposed: exposed_name(&tool.name),
                    name: tool.name.to_string(),
                    description: tool
                        .description
                        .as_deref()
                        .or(tool.title.as_deref())
                        .unwrap_or_default()
                        .to_string(),
                    input_schema: Value::Object((*tool.input_schema).clone()),
                    read_only: annotations.and_then(|a| a.read_only_hint),
                    destructive: annotations.and_then(|a| a.destructive_hint),
                }
            })
            .collect();
        if let Some(wanted) = &config.tools {
            let unknown: Vec<&str> = wanted
                .iter()
                .filter(|w| !tools.iter().any(|t| &t.name == *w || &t.exposed == *w))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "{about} has no tool {} (named in its `tools` list); its tools are: {}",
                    unknown
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if names.is_empty() {
                        "(none)".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
            }
            tools.retain(|t| wanted.iter().any(|w| *w == t.name || *w == t.exposed));
        }
        tracing::info!(
            server = %config.name,
            command = %shown,
            pid = ?process.pid,
            tools = ?tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            "MCP server started"
        );
        Ok(Arc::new(McpServer {
            name: config.name.clone(),
            shown,
            max_output: config.max_output,
            call_timeout: config.call_timeout,
            tools,
            client,
            process,
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The command it was started with, as written.
    pub fn command(&self) -> &str {
        &self.shown
    }

    /// The server's process id (its process group's too).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid
    }

    /// The tools it listed (after the configuration's filter).
    pub fn tools(&self) -> &[McpToolInfo] {
        &self.tools
    }

    /// Each listed tool as a binding that calls it on this server.
    pub fn bindings(self: &Arc<Self>) -> Vec<McpTool> {
        (0..self.tools.len())
            .map(|index| McpTool {
                server: self.clone(),
                index,
            })
            .collect()
    }

    /// Calls `tool` (the server's name for it) with `args`: the result's text (JSON when
    /// it parses), or a failed outcome saying what went wrong; never panics.
    pub async fn call(&self, tool: &str, args: Value, cancel: CancellationToken) -> ToolOutcome {
        let mut params = CallToolRequestParams::new(tool.to_string());
        match args {
            Value::Object(map) => params = params.with_arguments(map),
            Value::Null => {}
            other => {
                return ToolOutcome::failure(format!(
                    "the arguments for `{tool}` must be a JSON object, not {other}"
                ))
            }
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let options = PeerRequestOptions::with_timeout(self.call_timeout);
        let handle = match self
            .client
            .peer()
            .send_cancellable_request(request, options)
            .await
        {
            Ok(handle) => handle,
            Err(e) => return self.call_failed(tool, e).await,
        };
        let (id, peer) = (handle.id.clone(), handle.peer.clone());
        let answer = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                let notice = CancelledNotificationParam::new(Some(id), Some("cancelled by the user".into()));
                // Best effort: a server that does not read it is stopped with the agent.
                let _ = tokio::time::timeout(EXIT_GRACE, peer.notify_cancelled(notice)).await;
                return ToolOutcome::failure(format!(
                    "cancelled; MCP server `{}` was asked to stop `{tool}`",
                    self.name
                ));
            }
            answer = handle.await_response() => answer,
        };
        match answer {
            Ok(ServerResult::CallToolResult(result)) => result_outcome(tool, result, self.max_output),
            Ok(_) => ToolOutcome::failure(format!(
                "MCP server `{}` answered the call of `{tool}` with something that is not a tool result",
                self.name
            )),
            Err(e) => self.call_failed(tool, e).await,
        }
    }

    async fn call_failed(&self, tool: &str, error: ServiceError) -> ToolOutcome {
        let message = match error {
            ServiceError::Timeout { timeout } => format!(
                "`{tool}` timed out after {} s (MCP server `{}` was asked to cancel it)",
                timeout.as_secs_f64(),
                self.name
            ),
            ServiceError::McpError(e) => format!(
                "MCP server `{}` refused the call of `{tool}`: {} (JSON-RPC error {})",
                self.name, e.message, e.code.0
            ),
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                let status = self.process.wait_exit(EXIT_GRACE).await;
                let how = match status {
                    Some(status) => {
                        self.process.wait_stderr(EXIT_GRACE).await;
                        format!(" ({})", describe_exit(status))
                    }
                    None => String::new(),
                };
                with_stderr(
                    format!(
                        "MCP server `{}` (`{}`) is no longer running{how}; its tools cannot be \
                         called until the agent runs again",
                        self.name, self.shown
                    ),
                    &self.process.stderr_tail(),
                )
            }
            other => format!(
                "calling `{tool}` on MCP server `{}` failed: {other}",
                self.name
            ),
        };
        ToolOutcome::failure(message)
    }
}

/// One tool of a running server: what [`Binding::Mcp`](super::Binding::Mcp) runs. Clones
/// share the server, which lives while any of them does.
#[derive(Debug, Clone)]
pub struct McpTool {
    server: Arc<McpServer>,
    index: usize,
}

impl McpTool {
    pub fn server(&self) -> &Arc<McpServer> {
        &self.server
    }

    pub fn info(&self) -> &McpToolInfo {
        &self.server.tools[self.index]
    }

    /// Calls the tool on its server (arguments already checked against its schema).
    pub async fn run(&self, args: Value, cancel: CancellationToken) -> ToolOutcome {
        self.server.call(&self.info().name, args, cancel).await
    }
}

/// Why a start failed, before the process's exit and stderr are added.
enum Failure {
    Handshake(String),
    Listing(String),
    TimedOut(Duration),
}

/// A started server process: its group is killed when this is dropped.
struct Process {
    pid: Option<u32>,
    group: Option<Pid>,
    exit: watch::Receiver<Option<ExitStatus>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: watch::Receiver<bool>,
}

impl Process {
    async fn spawn(
        config: &McpServerConfig,
    ) -> std::io::Result<(
        Process,
        tokio::process::ChildStdout,
        tokio::process::ChildStdin,
    )> {
        let mut command = isolated_command(
            std::path::Path::new(&config.command[0]),
            &config.command[1..],
            &config.working_dir,
            &[],
        );
        command.envs(&config.env);
        let mut child = spawn(&mut command).await?;
        let pid = child.id();
        let group = pid.and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            kill_group(group);
            return Err(std::io::Error::other(
                "its stdin or stdout could not be opened",
            ));
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, stderr_done) = watch::channel(false);
        if let Some(pipe) = child.stderr.take() {
            let tail = stderr.clone();
            let name = config.name.clone();
            tokio::spawn(async move {
                log_stderr(pipe, &name, &tail).await;
                let _ = done_tx.send(true);
            });
        } else {
            let _ = done_tx.send(true);
        }
        // The child is waited for here, so a server that exits is reaped at once; if the
        // runtime goes first, the task's drop kills it (kill_on_drop).
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                let _ = exit_tx.send(Some(status));
            }
        });
        Ok((
            Process {
                pid,
                group,
                exit,
                stderr,
                stderr_done,
            },
            stdout,
            stdin,
        ))
    }

    /// The exit status, waiting at most `within` for it.
    async fn wait_exit(&self, within: Duration) -> Option<ExitStatus> {
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(within, exit.wait_for(Option::is_some)).await;
        let status = *exit.borrow();
        status
    }

    /// Waits at most `within` for the stderr reader to reach the end (the process ended).
    async fn wait_stderr(&self, within: Duration) {
        let mut done = self.stderr_done.clone();
        let _ = tokio::time::timeout(within, done.wait_for(|d| *d)).await;
    }

    fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        let start = tail.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&tail[start..]).trim().to_string()
    }

    /// The message of a failed start: the process is stopped, and its exit (when it ended
    /// by itself) and the end of its stderr are added, with what to do.
    async fn start_failed(self, about: &str, failure: Failure) -> String {
        let exited = match failure {
            Failure::TimedOut(_) => None,
            _ => self.wait_exit(EXIT_GRACE).await,
        };
        kill_group(self.group);
        self.wait_stderr(EXIT_GRACE).await;
        let message = match (failure, exited) {
            (_, Some(status)) => format!(
                "{about} {} before it finished starting; run the command by hand to see why",
                describe_exit(status)
            ),
            (Failure::TimedOut(t), None) => format!(
                "{about} did not finish the MCP handshake and list its tools within {} s and \
                 was stopped; check that the command starts an MCP server on stdio",
                t.as_secs_f64()
            ),
            (Failure::Handshake(e), None) => format!(
                "{about} failed the MCP handshake ({e}); check that the command starts an MCP \
                 server on stdio"
            ),
            (Failure::Listing(e), None) => {
                format!("{about} could not list its tools ({e})")
            }
        };
        with_stderr(message, &self.stderr_tail())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The whole group: a server started by a launcher (uvx, npx) has children.
        kill_group(self.group);
    }
}

/// Reads the server's stderr to its end: each line to the log, the end kept for messages.
async fn log_stderr(mut pipe: impl AsyncRead + Unpin, server: &str, tail: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let log = |line: &[u8]| {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if !text.is_empty() {
            let cut: String = text.chars().take(LOG_LINE).collect();
            tracing::debug!(target: "strata::mcp", server, "stderr: {cut}");
        }
    };
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Ok(mut tail) = tail.lock() {
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 2 * STDERR_TAIL {
                let cut = tail.len() - STDERR_TAIL;
                tail.drain(..cut);
            }
        }
        for &byte in &buf[..n] {
            if byte == b'\n' || line.len() >= 4 * LOG_LINE {
                log(&line);
                line.clear();
            }
            if byte != b'\n' {
                line.push(byte);
            }
        }
    }
    log(&line);
}

/// Why a program could not be started, and what to do about it.
fn cannot_start(program: &str, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound if !program.contains('/') => format!(
            "cannot start `{program}`: it is not on PATH. Install it (a Python server: `pip \
             install {program}`, or `command = [\"uvx\", \"{program}\", …]`; a Node one: \
             `command = [\"npx\", \"-y\", \"PACKAGE\"]`) or give its full path in `command`"
        ),
        std::io::ErrorKind::NotFound => {
            format!("cannot start `{program}`: no such file; fix the path in `command`")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot start `{program}`: permission denied (is it executable? `chmod +x {program}`)"
        ),
        _ => format!("cannot start `{program}`: {error}"),
    }
}

fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

fn with_stderr(message: String, stderr: &str) -> String {
    if stderr.is_empty() {
        message
    } else {
        format!("{message}; its stderr (end): {stderr}")
    }
}

/// A `tools/call` result as an outcome: the text parts joined (JSON when the whole parses),
/// the structured content when there is no text, cut at `max` bytes; `isError` makes it a
/// failure whose message is the server's text.
fn result_outcome(tool: &str, result: CallToolResult, max: usize) -> ToolOutcome {
    let parts: Vec<String> = result.content.iter().map(describe_block).collect();
    let text = parts.join("\n");
    let (text, truncated) = cut(text, max);
    if result.is_error == Some(true) {
        let message = if text.trim().is_empty() {
            format!("`{tool}` reported an error without a message")
        } else {
            text.trim().to_string()
        };
        return ToolOutcome::failure(message).with_truncated(truncated);
    }
    if text.trim().is_empty() {
        return match result.structured_content {
            Some(structured) => {
                let rendered = structured.to_string();
                if rendered.len() > max {
                    let (text, _) = cut(rendered, max);
                    ToolOutcome::text(text).with_truncated(true)
                } else {
                    ToolOutcome::success(structured)
                }
            }
            None => ToolOutcome::success(Value::Null),
        };
    }
    if !truncated {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            return ToolOutcome::success(value);
        }
    }
    ToolOutcome::text(text.trim_end()).with_truncated(truncated)
}

/// A content block as the text the model reads (media are described, not inlined).
fn describe_block(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(t) => t.text.clone(),
        ContentBlock::Image(i) => format!(
            "[image ({}, {} bytes of base64) not shown]",
            i.mime_type,
            i.data.len()
        ),
        ContentBlock::Audio(a) => format!(
            "[audio ({}, {} bytes of base64) not shown]",
            a.mime_type,
            a.data.len()
        ),
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            ResourceContents::BlobResourceContents { uri, .. } => {
                format!("[binary resource {uri} not shown]")
            }
            _ => "[a resource of a kind Strata does not show]".to_string(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource link: {}]", link.uri),
        _ => "[content of a kind Strata does not show]".to_string(),
    }
}

/// `text` cut to at most `max` bytes at a character boundary; `true` when it was cut.
fn cut(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_made_callable() {
        assert_eq!(exposed_name("get_current_time"), "get_current_time");
        assert_eq!(exposed_name("files.read/all"), "files_read_all");
        assert_eq!(exposed_name(&"x".repeat(100)).len(), 64);
        assert_eq!(exposed_name("été"), "_t_");
    }

    #[test]
    fn results_become_outcomes() {
        let ok = CallToolResult::success(vec![ContentBlock::text("{\"a\": 1}")]);
        assert_eq!(result_outcome("t", ok, 100).content, json!({"a": 1}));

        let two = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        assert_eq!(result_outcome("t", two, 100).observation(), "a\nb");

        let err = CallToolResult::error(vec![ContentBlock::text("no such zone")]);
        let outcome = result_outcome("t", err, 100);
        assert!(!outcome.ok);
        assert_eq!(outcome.observation(), "error: no such zone");

        let silent = CallToolResult::error(vec![]);
        assert_eq!(
            result_outcome("t", silent, 100).observation(),
            "error: `t` reported an error without a message"
        );

        let big = CallToolResult::success(vec![ContentBlock::text("é".repeat(100))]);
        let outcome = result_outcome("t", big, 11);
        assert!(outcome.truncated && outcome.ok);
        assert_eq!(outcome.content, json!("ééééé"));

        let mut structured = CallToolResult::success(vec![]);
        structured.structured_content = Some(json!({"n": 2}));
        assert_eq!(
            result_outcome("t", structured, 100).content,
            json!({"n": 2})
        );

        let image = CallToolResult::success(vec![ContentBlock::image("AAAA", "image/png")]);
        assert_eq!(
            result_outcome("t", image, 100).observation(),
            "[image (image/png, 4 bytes of base64) not shown]"
        );
    }

    #[test]
    fn destructive_means_annotated_and_not_read_only() {
        let tool = |read_only, destructive| McpToolInfo {
            name: "t".into(),
            exposed: "t".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
            read_only,
            destructive,
        };
        assert!(tool(None, Some(true)).is_destructive());
        assert!(tool(Some(false), Some(true)).is_destructive());
        assert!(!tool(Some(true), Some(true)).is_destructive());
        assert!(!tool(None, None).is_destructive());
        assert!(!tool(None, Some(false)).is_destructive());
    }

    #[tokio::test]
    async fn a_missing_program_is_a_clear_error() {
        let config = McpServerConfig::new(
            "nope",
            vec!["strata-no-such-mcp-server".into()],
            std::env::temp_dir(),
        );
        let err = McpServer::start(&config)
            .await
            .expect_err("no such program");
        assert!(err.contains("MCP server `nope`"), "{err}");
        assert!(err.contains("not on PATH"), "{err}");
        assert!(
            err.contains("pip install strata-no-such-mcp-server"),
            "{err}"
        );

        let empty = McpServerConfig::new("e", vec![], std::env::temp_dir());
        assert!(McpServer::start(&empty).await.is_err());
    }
}

//! Command tools: an executable run without a shell, the arguments JSON on its stdin, its
//! stdout read back as JSON (or text), in a cleaned environment and its own process group,
//! which a timeout, cancellation or oversize output kills whole. Not responsible for
//! sandboxing beyond that (file system and network access are the program's own).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::ToolOutcome;

/// Environment variables a command gets when set here (besides the ones it names).
pub const PASSED_ENV: &[&str] = &["PATH", "HOME", "LANG", "TZ", "TMPDIR"];
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;
/// Bytes of stderr kept (the end) for error messages.
pub const STDERR_TAIL: usize = 2000;
/// How long the stderr reader is waited for after the command ended.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// A command tool's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandTool {
    /// The executable and its fixed arguments (`["./x.sh", "--flag"]`). A program with a
    /// `/` is resolved against `base_dir`; a bare name is looked up on PATH.
    pub program_and_args: Vec<String>,
    /// Where the tool was defined (its spec file's directory).
    pub base_dir: PathBuf,
    /// More environment variables passed through by name (values from this process).
    pub env_names: Vec<String>,
    /// The working directory, relative to `base_dir` (default: `base_dir`).
    pub working_dir: Option<PathBuf>,
    pub timeout: Duration,
    /// Bytes of stdout read at most; beyond that the command is killed.
    pub max_output: usize,
}

impl CommandTool {
    pub fn new(program_and_args: Vec<String>, base_dir: impl Into<PathBuf>) -> CommandTool {
        CommandTool {
            program_and_args,
            base_dir: base_dir.into(),
            env_names: Vec::new(),
            working_dir: None,
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }

    /// Whether the configuration can run at all.
    pub fn check(&self) -> Result<(), String> {
        match self.program_and_args.first() {
            None => {
                return Err(
                    "a command tool needs a program to run (`command = [\"./tool.sh\"]`)".into(),
                )
            }
            Some(p) if p.trim().is_empty() => {
                return Err("a command tool's program is empty".into())
            }
            Some(_) => {}
        }
        if self.timeout.is_zero() || self.max_output == 0 {
            return Err("a command tool needs a timeout and an output limit above 0".into());
        }
        if let Some(bad) = self
            .env_names
            .iter()
            .find(|n| n.is_empty() || n.contains('=') || n.contains('\0'))
        {
            return Err(format!("`{bad}` is not an environment variable name"));
        }
        Ok(())
    }

    fn base(&self) -> PathBuf {
        std::path::absolute(&self.base_dir).unwrap_or_else(|_| self.base_dir.clone())
    }

    /// The program as it will be started.
    pub fn program(&self) -> PathBuf {
        let program = self.program_and_args.first().map_or("", String::as_str);
        if program.contains('/') {
            self.base().join(program)
        } else {
            PathBuf::from(program)
        }
    }

    fn working_dir(&self) -> PathBuf {
        match &self.working_dir {
            Some(dir) => self.base().join(dir),
            None => self.base(),
        }
    }

    /// Runs the command with `args` on stdin.
    pub async fn run(&self, args: Value, cancel: CancellationToken) -> ToolOutcome {
        if let Err(e) = self.check() {
            return ToolOutcome::failure(e);
        }
        let shown = self.program_and_args[0].clone();
        let program = self.program();
        let mut command = isolated_command(
            &program,
            &self.program_and_args[1..],
            &self.working_dir(),
            &self.env_names,
        );
        let mut child = match spawn(&mut command).await {
            Ok(c) => c,
            Err(e) => {
                return ToolOutcome::failure(format!(
                    "cannot start `{shown}` ({}): {e}",
                    program.display()
                ))
            }
        };
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let input = serde_json::to_vec(&args).unwrap_or_default();
        let stdin = child.stdin.take().map(|mut stdin| {
            tokio::spawn(async move {
                // A command that does not read its input is fine (a broken pipe here).
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            })
        });
        let stderr = child
            .stderr
            .take()
            .map(|stderr| tokio::spawn(read_tail(stderr, STDERR_TAIL)));
        let stdout = child.stdout.take();

        enum End {
            Exited(std::io::Result<ExitStatus>, Vec<u8>, bool),
            TimedOut,
            Cancelled,
        }
        let max = self.max_output;
        let end = {
            let work = async {
                let (out, truncated) = match stdout {
                    Some(stdout) => read_capped(stdout, max).await,
                    None => (Vec::new(), false),
                };
                if truncated {
                    // Stop it now: nobody reads the rest.
                    kill_group(group);
                }
                (out, truncated, child.wait().await)
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => End::Cancelled,
                _ = tokio::time::sleep(self.timeout) => End::TimedOut,
                (out, truncated, status) = work => End::Exited(status, out, truncated),
            }
        };
        // The group is killed before the child is reaped, while its id is still taken.
        let end = match end {
            End::Exited(status, out, truncated) => End::Exited(status, out, truncated),
            other => {
                kill_group(group);
                let _ = child.wait().await;
                other
            }
        };
        if let Some(task) = stdin {
            task.abort();
        }
        let stderr = match stderr {
            Some(task) => {
                let abort = task.abort_handle();
                match tokio::time::timeout(STDERR_GRACE, task).await {
                    Ok(Ok(tail)) => tail,
                    _ => {
                        abort.abort();
                        String::new()
                    }
                }
            }
            None => String::new(),
        };
        let with_stderr = |message: String| {
            if stderr.is_empty() {
                message
            } else {
                format!("{message}; stderr (end): {stderr}")
            }
        };
        match end {
            End::Cancelled => ToolOutcome::failure(with_stderr(format!(
                "cancelled; `{shown}` and its child processes were stopped"
            ))),
            End::TimedOut => ToolOutcome::failure(with_stderr(format!(
                "`{shown}` timed out after {} s and was stopped with its child processes",
                self.timeout.as_secs_f64()
            ))),
            End::Exited(Err(e), _, _) => {
                ToolOutcome::failure(format!("waiting for `{shown}` failed: {e}"))
            }
            End::Exited(Ok(status), out, truncated) => {
                let content = output(out, truncated);
                if truncated {
                    // Killed for its output: what it wrote up to the cap is the result.
                    ToolOutcome::success(content).with_truncated(true)
                } else if status.success() {
                    ToolOutcome::success(content)
                } else {
                    let how = match (status.code(), status.signal()) {
                        (Some(code), _) => format!("`{shown}` exited with status {code}"),
                        (None, Some(signal)) => format!("`{shown}` was killed by signal {signal}"),
                        _ => format!("`{shown}` failed ({status})"),
                    };
                    ToolOutcome::failure(with_stderr(how)).with_content(content)
                }
            }
        }
    }
}

/// Stdout as JSON when it parses (whole), else as text; nothing is `Null`.
fn output(mut bytes: Vec<u8>, truncated: bool) -> Value {
    if !truncated {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            return value;
        }
    } else if let Err(e) = std::str::from_utf8(&bytes) {
        if e.error_len().is_none() {
            bytes.truncate(e.valid_up_to());
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end();
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_string())
    }
}

/// Spawns, retrying briefly while the program file is still open for writing somewhere
/// (ETXTBSY: a script just written, its descriptor inherited by a concurrent fork).
pub(super) async fn spawn(
    command: &mut tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 5 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20 * tries)).await;
            }
            other => return other,
        }
    }
}

pub(super) fn kill_group(group: Option<Pid>) {
    if let Some(group) = group {
        // Gone already (ESRCH) is fine.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// Reads at most `max` bytes; `true` when there was more.
async fn read_capped(mut reader: impl AsyncRead + Unpin, max: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return (out, false),
            Ok(n) => {
                let room = max - out.len();
                if n > room {
                    out.extend_from_slice(&buf[..room]);
                    return (out, true);
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Reads to the end, keeping the last `keep` bytes as trimmed text.
async fn read_tail(mut reader: impl AsyncRead + Unpin, keep: usize) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    String::from_utf8_lossy(&tail).trim().to_string()
}

/// A program run the way tools run: no shell, in `dir`, with a cleaned environment
/// ([`PASSED_ENV`] plus the variables named in `pass`, when set), stdin, stdout and stderr
/// piped, in a process group of its own (so cancelling kills all of it), killed on drop.
pub(super) fn isolated_command(
    program: &std::path::Path,
    args: &[String],
    dir: &std::path::Path,
    pass: &[String],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in PASSED_ENV
        .iter()
        .copied()
        .chain(pass.iter().map(String::as_str))
    {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_needs_a_program() {
        assert!(CommandTool::new(vec![], "/tmp").check().is_err());
        assert!(CommandTool::new(vec![" ".into()], "/tmp").check().is_err());
        let mut tool = CommandTool::new(vec!["x".into()], "/tmp");
        tool.env_names = vec!["A=B".into()];
        assert!(tool.check().is_err());
    }

    #[test]
    fn programs_resolve_against_the_base_dir() {
        let tool = CommandTool::new(vec!["./bin/x.sh".into()], "/srv/tools");
        assert_eq!(tool.program(), PathBuf::from("/srv/tools/./bin/x.sh"));
        let tool = CommandTool::new(vec!["python3".into()], "/srv/tools");
        assert_eq!(tool.program(), PathBuf::from("python3"));
        let tool = CommandTool::new(vec!["/bin/echo".into()], "/srv/tools");
        assert_eq!(tool.program(), PathBuf::from("/bin/echo"));
    }

    #[test]
    fn output_is_json_when_it_parses() {
        assert_eq!(
            output(b"{\"a\": 1}\n".to_vec(), false),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            output(b"hello\n".to_vec(), false),
            Value::String("hello".into())
        );
        assert_eq!(
            output(b"{\"a\": 1".to_vec(), true),
            Value::String("{\"a\": 1".into())
        );
        assert_eq!(output(Vec::new(), false), Value::Null);
    }

    #[tokio::test]
    async fn stderr_keeps_its_end() {
        let data = format!("{}END", "x".repeat(10_000));
        assert_eq!(read_tail(data.as_bytes(), 5).await, "xxEND");
    }
}

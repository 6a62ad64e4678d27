//! Approvals asked on the terminal while `strata agent run` waits: the call is shown on
//! stderr and one line of stdin answers it (approve, approve for the session, edit the
//! arguments, deny with a reason, give the result, or leave it for `agent resume`).

use std::io::{BufRead, Write};

use async_trait::async_trait;

use crate::orchestrator::approval::{ApprovalRequest, Approver, Decision};

/// Asks on stderr, reads stdin (off the async workers).
pub struct TerminalApprover;

#[async_trait]
impl Approver for TerminalApprover {
    async fn decide(&self, request: ApprovalRequest) -> Option<Decision> {
        tokio::task::spawn_blocking(move || ask(&request))
            .await
            .ok()
            .flatten()
    }
}

fn read_line(prompt: &str) -> Option<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
    }
}

fn ask(request: &ApprovalRequest) -> Option<Decision> {
    eprintln!(
        "\n? {}({})\n  {}",
        request.call.name, request.call.arguments, request.reason
    );
    loop {
        let answer = read_line(
            "  [y] approve  [a] always (this session)  [e] edit arguments  [n] deny  \
             [r] give the result  [p] pause (resume later) > ",
        )?;
        let decision = match answer.trim() {
            "y" | "Y" | "yes" => Decision::Approve,
            "a" | "A" => Decision::ApproveAlways,
            "e" | "E" => Decision::EditArgs(read_line("  arguments (JSON object) > ")?),
            "n" | "N" | "no" => Decision::Deny(read_line("  reason (the model reads it) > ")?),
            "r" | "R" => Decision::Result(read_line("  result (JSON or text) > ")?),
            "p" | "P" | "" => return None,
            other => {
                eprintln!("  {other:?} is not one of y, a, e, n, r, p");
                continue;
            }
        };
        match decision.check() {
            Ok(()) => return Some(decision),
            Err(e) => eprintln!("  {e}"),
        }
    }
}

//! The `http_get` built-in: GET to an allowlist of hosts (exact match, http/https only,
//! redirects followed only to allowed hosts), the body streamed up to a cap, with a timeout.
//! Not responsible for other methods, cookies, or credentials.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::{json, Value};

use super::ToolOutcome;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 5;

pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "An http:// or https:// URL on an allowed host", "minLength": 1}
        },
        "required": ["url"],
        "additionalProperties": false
    })
}

/// `http_get` with its allowlist and a client that follows redirects only to it.
#[derive(Debug, Clone)]
pub struct HttpGet {
    hosts: Arc<BTreeSet<String>>,
    max_bytes: usize,
    timeout: Duration,
    client: reqwest::Client,
}

impl HttpGet {
    /// Hosts are names (`example.com`, `127.0.0.1`), matched exactly, any port.
    pub fn new(hosts: &[String], max_bytes: usize, timeout: Duration) -> Result<HttpGet, String> {
        let mut allowed = BTreeSet::new();
        for host in hosts {
            let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
            if host.is_empty() || host.contains('/') || host.contains('@') {
                return Err(format!(
                    "http_get hosts are host names (`example.com`), not URLs or paths: `{host}`"
                ));
            }
            allowed.insert(host);
        }
        if allowed.is_empty() {
            return Err("http_get needs at least one allowed host".into());
        }
        if max_bytes == 0 || timeout.is_zero() {
            return Err("http_get needs a size limit and a timeout above 0".into());
        }
        let hosts = Arc::new(allowed);
        let policy_hosts = hosts.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if allowed_url(&policy_hosts, attempt.url()).is_ok() {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("http_get cannot start an HTTP client: {e}"))?;
        Ok(HttpGet {
            hosts,
            max_bytes,
            timeout,
            client,
        })
    }

    pub fn hosts(&self) -> Vec<String> {
        self.hosts.iter().cloned().collect()
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether the tool would fetch `url` (`Err` says why not).
    pub fn check_url(&self, url: &str) -> Result<Url, String> {
        let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a valid URL ({e})"))?;
        allowed_url(&self.hosts, &parsed)?;
        Ok(parsed)
    }

    pub async fn run(&self, args: Value) -> ToolOutcome {
        let Some(url) = args.get("url").and_then(Value::as_str) else {
            return ToolOutcome::failure("give the URL to fetch as `url` (a string)");
        };
        let url = match self.check_url(url) {
            Ok(u) => u,
            Err(e) => return ToolOutcome::failure(e),
        };
        let response = match self.client.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) => return ToolOutcome::failure(self.describe(&url, &e)),
        };
        let status = response.status();
        let final_url = response.url().to_string();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            return ToolOutcome::failure(format!(
                "the server answered {status}, redirecting to `{location}`, which is not on an allowed host ({}); not followed",
                self.hosts().join(", ")
            ));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut response = response;
        let mut body: Vec<u8> = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.max_bytes - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return ToolOutcome::failure(self.describe(&url, &e)),
            }
        }
        // Dropping the response closes the connection mid-body when truncated.
        drop(response);
        if truncated {
            let valid = match std::str::from_utf8(&body) {
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                _ => body.len(),
            };
            body.truncate(valid);
        }
        let content = json!({
            "url": final_url,
            "status": status.as_u16(),
            "content_type": content_type,
            "body": String::from_utf8_lossy(&body),
        });
        if status.is_success() {
            ToolOutcome::success(content).with_truncated(truncated)
        } else {
            ToolOutcome::failure(format!("the server answered {status}"))
                .with_content(content)
                .with_truncated(truncated)
        }
    }

    fn describe(&self, url: &Url, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return format!(
                "fetching `{url}` timed out after {} s",
                self.timeout.as_secs_f64()
            );
        }
        if e.is_redirect() {
            return format!("fetching `{url}` failed: {}", chain(e));
        }
        format!("cannot fetch `{url}`: {}", chain(e))
    }
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn allowed_url(hosts: &BTreeSet<String>, url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{url}` is not an http:// or https:// URL; http_get fetches only those"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs with credentials in them (user:password@) are refused".into());
    }
    let host = url
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    if hosts.contains(&host) {
        Ok(())
    } else {
        Err(format!(
            "host `{host}` is not allowed; http_get may fetch only from: {}",
            hosts.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool() -> HttpGet {
        HttpGet::new(&["Example.com".into()], 100, DEFAULT_TIMEOUT).unwrap()
    }

    #[test]
    fn only_listed_hosts_and_web_schemes() {
        let t = tool();
        assert!(t.check_url("https://example.com/a?b").is_ok());
        assert!(t.check_url("http://EXAMPLE.com:8080/").is_ok());
        assert!(t.check_url("https://example.com./").is_ok());
        assert!(t
            .check_url("https://sub.example.com/")
            .unwrap_err()
            .contains("not allowed"));
        assert!(t
            .check_url("https://example.com.evil.net/")
            .unwrap_err()
            .contains("not allowed"));
        assert!(t
            .check_url("ftp://example.com/")
            .unwrap_err()
            .contains("http://"));
        assert!(t
            .check_url("file:///etc/passwd")
            .unwrap_err()
            .contains("http://"));
        assert!(t
            .check_url("https://u:p@example.com/")
            .unwrap_err()
            .contains("credentials"));
        assert!(t
            .check_url("example.com")
            .unwrap_err()
            .contains("not a valid URL"));
    }

    #[test]
    fn the_allowlist_is_host_names() {
        assert!(HttpGet::new(&[], 10, DEFAULT_TIMEOUT).is_err());
        assert!(HttpGet::new(&["https://a.com/".into()], 10, DEFAULT_TIMEOUT).is_err());
    }
}

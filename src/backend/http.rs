//! The one HTTP transport: authentication header, TLS settings, a client-side request rate
//! limit, retries with exponential backoff and jitter that honour `Retry-After` (seconds or an
//! HTTP date), and error messages that carry the method, URL, status and the server's own
//! words — from any of Konnect's three error shapes or Kong's.
//!
//! The HTTP library sits behind one small seam, [`HttpClient`]: send a request, get back the
//! status, headers and body ([`Answer`]) or why there was none ([`NoAnswer`]). Production sends
//! through reqwest ([`Transport::new`]); unit tests script the answers
//! ([`Transport::with_client`]) and check the policy here — retries, `Retry-After`, redirects,
//! error messages — and the paging of [`super::remote`] in milliseconds, without a server.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub use reqwest::Method;
use serde_json::Value;

use super::pacing::{Pacer, RateHeaders};
use super::{Stats, TargetError};

/// How requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time.
    pub base: Duration,
    /// Longest single wait.
    pub max_delay: Duration,
    /// Give up retrying once this much time has passed since the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(15),
            max_total: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The default policy; `PLUGSYNC_RETRY_BASE_MS` (undocumented, for tests of faults) sets
    /// the first backoff, so a suite can run a whole retry schedule in well under a second.
    pub fn from_env() -> Self {
        let mut policy = RetryPolicy::default();
        if let Some(ms) = std::env::var("PLUGSYNC_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            policy.base = Duration::from_millis(ms.max(1));
        }
        policy
    }
}

/// Connection settings.
/// Where the transport tells people that it is retrying: `(first, line)`, where `first` is
/// true for the first retry of a request (shown by default; the later ones with `-v`).
#[derive(Clone)]
pub struct RetryNotice(pub Arc<NoticeFn>);

/// The function behind a [`RetryNotice`].
pub type NoticeFn = dyn Fn(bool, &str) + Send + Sync;

impl std::fmt::Debug for RetryNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryNotice")
    }
}

/// Attempts for a connection refused before the target ever answered in this run: nothing
/// listens there (a wrong address, a server not started), which waiting rarely fixes. A
/// connection dropped later, mid-apply, gets the full policy.
pub const FIRST_CONTACT_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// Told about each retry (none: silent).
    pub notice: Option<RetryNotice>,
    /// Header name and value that authenticate (`Authorization: Bearer …`, `Kong-Admin-Token`).
    pub auth: Option<(String, String)>,
    pub timeout: Duration,
    pub tls_skip_verify: bool,
    /// PEM bundle of extra trusted CAs.
    pub ca_cert: Option<Vec<u8>>,
    /// Client-side requests per second, a hard cap (0 = none).
    pub rps: f64,
    /// Pace adaptively from this rate (Konnect's default, 30): rise while the server allows,
    /// fall on 429s, follow its rate-limit headers (see [`super::pacing`]). `None` with a
    /// cap: start at the cap. `None` without one: unpaced.
    pub adaptive_start: Option<f64>,
    pub retry: RetryPolicy,
}

/// The headers of an [`Answer`]: names in lower case, values as sent.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub Vec<(String, Vec<u8>)>);

impl Headers {
    /// `name: value` pairs (any case for the name), for tests and scripted answers.
    pub fn of(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    /// The headers whose values are visible ASCII (as `HeaderValue::to_str` reads them).
    fn texts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|(k, v)| {
            v.iter()
                .all(|&b| b == b'\t' || (32..127).contains(&b))
                .then(|| std::str::from_utf8(v).ok())
                .flatten()
                .map(|v| (k.as_str(), v))
        })
    }

    /// The first value of `name` (lower case), if it is visible ASCII.
    fn text(&self, name: &str) -> Option<&str> {
        self.texts().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The first value of `name` (lower case), any bytes shown lossily.
    fn lossy(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).to_string())
    }
}

/// What the server answered to one request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Headers,
    /// The whole body, at most [`MAX_BODY`] bytes, or why it could not be read. A redirect's body
    /// is not read (it is never used).
    pub body: Result<String, BodyError>,
}

/// Why a request got no answer at all.
#[derive(Debug, Clone)]
pub struct NoAnswer {
    /// What happened (`could not connect: …`, `timed out: …`).
    pub message: String,
    /// The connection was refused or could not be made (nothing listens there).
    pub connect: bool,
}

/// The seam between the transport's policy and the HTTP library: one request out, one answer
/// (or none) back. No retries, no interpretation.
pub trait HttpClient: Send + Sync {
    /// Sends `method url` with `body` as JSON.
    fn send(&self, method: &Method, url: &str, body: Option<&Value>) -> Result<Answer, NoAnswer>;

    /// Waits before a retry or for the pace. Scripted clients record it instead.
    fn sleep(&self, wait: Duration) {
        std::thread::sleep(wait);
    }
}

/// [`HttpClient`] over reqwest's blocking client: production's.
struct Reqwest(Client);

impl HttpClient for Reqwest {
    fn send(&self, method: &Method, url: &str, body: Option<&Value>) -> Result<Answer, NoAnswer> {
        let mut req = self.0.request(method.clone(), url);
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send() {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = Headers(
                    resp.headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                        .collect(),
                );
                let body = if (300..400).contains(&status) {
                    Ok(String::new())
                } else {
                    read_body(resp, MAX_BODY)
                };
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => Err(NoAnswer {
                message: describe_reqwest_error(&e),
                connect: e.is_connect(),
            }),
        }
    }
}

/// A blocking HTTP client with retries, shared by the worker threads of an apply.
pub struct Transport {
    client: Box<dyn HttpClient>,
    retry: RetryPolicy,
    /// The shared pace of every worker thread (none: unpaced).
    pacer: Option<Mutex<Pacer>>,
    requests: AtomicU64,
    retries: AtomicU64,
    seed: AtomicU64,
    unreachable: Mutex<Option<String>>,
    /// Whether the target has answered at all in this run.
    answered: AtomicBool,
    notice: Option<RetryNotice>,
}

impl Transport {
    /// Builds the client: reqwest, with the settings' token, timeout and TLS.
    pub fn new(settings: &HttpSettings) -> Result<Transport, TargetError> {
        let mut headers = HeaderMap::new();
        if let Some((name, value)) = &settings.auth {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TargetError::Config(format!("invalid auth header name: {e}")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                TargetError::Config("the token holds characters an HTTP header cannot carry".into())
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("plugsync/", env!("CARGO_PKG_VERSION")))
            .timeout(if settings.timeout.is_zero() {
                Duration::from_secs(30)
            } else {
                settings.timeout
            })
            .danger_accept_invalid_certs(settings.tls_skip_verify)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &settings.ca_cert {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| TargetError::Config(format!("cannot read --ca-cert: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| TargetError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport::with_client(settings, Box::new(Reqwest(client))))
    }

    /// A transport that sends through `client` with the settings' retries and pace (the
    /// token, timeout and TLS settings are the client's business).
    pub fn with_client(settings: &HttpSettings, client: Box<dyn HttpClient>) -> Transport {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Transport {
            client,
            retry: settings.retry.clone(),
            pacer: (settings.rps > 0.0 || settings.adaptive_start.is_some()).then(|| {
                let cap = (settings.rps > 0.0).then_some(settings.rps);
                let start = settings.adaptive_start.or(cap).unwrap_or(30.0);
                Mutex::new(Pacer::new(start, cap, true, Instant::now()))
            }),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            seed: AtomicU64::new(nanos | 1),
            unreachable: Mutex::new(None),
            answered: AtomicBool::new(false),
            notice: settings.notice.clone(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    fn pace(&self) {
        if let Some(lock) = &self.pacer {
            let wait = lock
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .slot(Instant::now());
            if !wait.is_zero() {
                self.client.sleep(wait);
            }
        }
    }

    /// Feeds an answer's status and rate-limit headers to the shared pace; a change worth
    /// telling goes to the notice (shown with `-v`).
    fn observe(&self, status: u16, headers: &Headers, retry_after: Option<Duration>) {
        let Some(lock) = &self.pacer else {
            return;
        };
        let parsed = RateHeaders::parse(headers.texts());
        let told = {
            let mut pacer = lock.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if status == 429 {
                pacer.on_throttled(retry_after, &parsed, now)
            } else {
                pacer.on_response(&parsed, now)
            }
        };
        if let (Some(line), Some(n)) = (told, &self.notice) {
            (n.0)(false, &line);
        }
    }

    /// The current pace, requests a second (none: unpaced).
    pub fn pace_rate(&self) -> Option<f64> {
        self.pacer
            .as_ref()
            .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).rate())
    }

    /// A random fraction in [0, 1) (xorshift; jitter needs no more).
    fn jitter(&self) -> f64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends a request, retrying 429, 500, 502, 503, 504, connection errors, timeouts and
    /// bodies cut short. Returns the status and the parsed JSON body (`Null` when empty).
    ///
    /// Redirects are never followed (they are reported); a body over [`MAX_BODY`] is refused.
    /// Once one request has given up on a retryable failure the target counts as
    /// unreachable, and every later request fails at once (see [`Transport::unreachable`]).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), TargetError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            if let Some(why) = self.unreachable() {
                return Err(TargetError::Transport {
                    method: method.to_string(),
                    url: url.to_string(),
                    message: format!("not sent: the target is unreachable ({why})"),
                });
            }
            attempt += 1;
            self.pace();
            self.requests.fetch_add(1, Ordering::Relaxed);
            let api = |status: u16, message: String| TargetError::Api {
                method: method.to_string(),
                url: url.to_string(),
                status,
                message,
            };
            let transport = |message: String| TargetError::Transport {
                method: method.to_string(),
                url: url.to_string(),
                message,
            };
            let mut max_attempts = self.retry.max_attempts;
            let (retryable, retry_after, err) = match self.client.send(&method, url, body) {
                Ok(resp) => {
                    self.answered.store(true, Ordering::Relaxed);
                    let status = resp.status;
                    let retry_after = parse_retry_after(&resp.headers);
                    self.observe(status, &resp.headers, retry_after);
                    if (300..400).contains(&status) {
                        // Konnect and Kong never redirect API calls; following one would send
                        // the token, and a body of resolved secrets, wherever it points.
                        let location = resp.headers.lossy("location").unwrap_or_default();
                        return Err(api(
                            status,
                            format!(
                                "the server redirects to `{}`; plugsync does not follow redirects (they would carry the token and the request body elsewhere): use the final address as the target",
                                clean_text(&location, 300)
                            ),
                        ));
                    }
                    match resp.body {
                        Err(BodyError::TooLarge(declared)) => {
                            return Err(transport(format!(
                                "the answer is larger than {} MiB{}; refused",
                                MAX_BODY / (1024 * 1024),
                                declared
                                    .map(|n| format!(" (Content-Length: {n})"))
                                    .unwrap_or_default()
                            )))
                        }
                        // A body cut short or slower than the timeout is no answer at all: it
                        // is retried like a dropped connection, never read as data.
                        Err(BodyError::Read(e)) => (
                            true,
                            None,
                            transport(format!("the {status} answer was cut short: {e}")),
                        ),
                        Ok(text) if (200..300).contains(&status) => {
                            let v = if text.trim().is_empty() {
                                Value::Null
                            } else {
                                serde_json::from_str(&text).map_err(|e| {
                                    api(status, format!("the response is not JSON: {e}"))
                                })?
                            };
                            return Ok((status, v));
                        }
                        Ok(text) => (
                            matches!(status, 429 | 500 | 502 | 503 | 504),
                            retry_after,
                            api(status, error_message(status, &text)),
                        ),
                    }
                }
                Err(e) => {
                    if e.connect && !self.answered.load(Ordering::Relaxed) {
                        max_attempts = max_attempts.min(FIRST_CONTACT_ATTEMPTS);
                    }
                    (true, None, transport(e.message))
                }
            };
            let with_tail = |err: TargetError| {
                if attempt == 1 {
                    return err;
                }
                let tail = format!(
                    " (gave up after {attempt} attempts over {:.1}s)",
                    started.elapsed().as_secs_f64()
                );
                match err {
                    TargetError::Api {
                        method,
                        url,
                        status,
                        message,
                    } => TargetError::Api {
                        method,
                        url,
                        status,
                        message: message + &tail,
                    },
                    TargetError::Transport {
                        method,
                        url,
                        message,
                    } => TargetError::Transport {
                        method,
                        url,
                        message: message + &tail,
                    },
                    other => other,
                }
            };
            if !retryable {
                return Err(err);
            }
            if attempt >= max_attempts {
                return Err(self.give_up(with_tail(err)));
            }
            let backoff = self
                .retry
                .base
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(self.retry.max_delay);
            // Full jitter on the backoff; a server's Retry-After is a floor.
            let mut wait = backoff.mul_f64(0.5 + self.jitter() / 2.0);
            if let Some(ra) = retry_after {
                wait = wait.max(ra.min(self.retry.max_delay * 4));
            }
            if started.elapsed() + wait > self.retry.max_total {
                return Err(self.give_up(with_tail(err)));
            }
            if let Some(n) = &self.notice {
                (n.0)(
                    attempt == 1,
                    &format!(
                        "retrying in {:.1}s (attempt {} of {max_attempts}): {err}",
                        wait.as_secs_f64(),
                        attempt + 1
                    ),
                );
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            self.client.sleep(wait);
        }
    }

    /// Called when `err` exhausted its retries. When it says the target is gone — no answer
    /// at all, or a gateway's 502, 503 or 504 — the target counts as unreachable from now
    /// on. A 500 or 429 that persists for one request does not stop the others.
    fn give_up(&self, err: TargetError) -> TargetError {
        let gone = match &err {
            TargetError::Transport { .. } => true,
            TargetError::Api { status, .. } => matches!(status, 502..=504),
            TargetError::Config(_) => false,
        };
        if gone {
            let mut dead = self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
            if dead.is_none() {
                *dead = Some(err.to_string());
            }
        }
        err
    }

    /// Why the target counts as unreachable: the error of the first request that gave up
    /// after all its retries without an answer (or with a gateway's 502, 503, 504). A run
    /// stops there instead of retrying every later step in turn.
    pub fn unreachable(&self) -> Option<String> {
        self.unreachable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The largest response body plugsync reads: a page of 1,000 custom plugins at Kong's limit
/// of 100 KB of Lua each, JSON-escaped, fits.
pub const MAX_BODY: u64 = 512 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone)]
pub enum BodyError {
    /// Over the limit (with the declared length, if any).
    TooLarge(Option<u64>),
    /// The body could not be read whole (cut short, timed out, reset).
    Read(String),
}

/// Reads a whole body, at most `limit` bytes.
fn read_body(resp: Response, limit: u64) -> Result<String, BodyError> {
    use std::io::Read;
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge(declared));
    }
    let mut buf = Vec::new();
    resp.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| BodyError::Read(describe_io_error(&e)))?;
    if buf.len() as u64 > limit {
        return Err(BodyError::TooLarge(declared));
    }
    if declared.is_some_and(|n| n != buf.len() as u64) {
        return Err(BodyError::Read(format!(
            "{} of {} bytes",
            buf.len(),
            declared.unwrap_or_default()
        )));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn describe_io_error(e: &std::io::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg = format!("{msg}: {s_text}");
        }
        source = s.source();
    }
    if msg.to_ascii_lowercase().contains("timed out") || e.kind() == std::io::ErrorKind::TimedOut {
        format!("timed out: {msg}")
    } else {
        msg
    }
}

/// Server text made safe for a terminal: control characters (escape sequences, carriage
/// returns, bells, newlines) become spaces, and it is cut to `max` characters.
pub fn clean_text(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

/// `Retry-After` in seconds or as an HTTP date.
fn parse_retry_after(headers: &Headers) -> Option<Duration> {
    retry_after_value(headers.text("retry-after")?, SystemTime::now())
}

/// Parses a `Retry-After` value relative to `now`.
pub fn retry_after_value(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The server's message from an error body: Konnect's core-entity shape
/// (`{code, message, details: [{field, messages}]}`), its platform shape
/// (`{status, title, detail, invalid_parameters}`), its gateway 401 shape
/// (`{message, status}`), Kong's (`{code, name, message, fields}`), or the raw text.
///
/// The result is safe to print: control characters are replaced and it is at most 2,000
/// characters long.
pub fn error_message(status: u16, text: &str) -> String {
    clean_text(error_message_raw(status, text).trim(), 2000)
}

fn error_message_raw(status: u16, text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        let t = text.trim();
        return if t.is_empty() {
            status_text(status).to_string()
        } else {
            t.chars().take(500).collect()
        };
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let mut parts = Vec::new();
    if let Some(details) = v.get("details").and_then(Value::as_array) {
        let head = s("message").unwrap_or_default();
        let items: Vec<String> = details
            .iter()
            .map(|d| {
                let msgs: Vec<String> = d
                    .get("messages")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                match d.get("field").and_then(Value::as_str) {
                    Some(f) if !f.is_empty() => format!("{f}: {}", msgs.join(", ")),
                    _ => msgs.join(", "),
                }
            })
            .filter(|m| !m.is_empty())
            .collect();
        parts.push(if items.is_empty() {
            head
        } else {
            format!("{head}: {}", items.join("; "))
        });
    } else if let Some(detail) = s("detail") {
        let mut m = match s("title") {
            Some(t) => format!("{t}: {detail}"),
            None => detail,
        };
        if let Some(params) = v.get("invalid_parameters").and_then(Value::as_array) {
            let items: Vec<String> = params
                .iter()
                .map(|p| {
                    format!(
                        "{}: {}",
                        p.get("field").and_then(Value::as_str).unwrap_or("?"),
                        p.get("reason").and_then(Value::as_str).unwrap_or("invalid")
                    )
                })
                .collect();
            if !items.is_empty() {
                m = format!("{m} ({})", items.join("; "));
            }
        }
        parts.push(m);
    } else if let Some(m) = s("message") {
        parts.push(m);
    } else {
        parts.push(text.chars().take(500).collect());
    }
    parts.join(" ")
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        409 => "conflict",
        429 => "too many requests",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_error_shape() {
        let cases = [
            (
                400,
                r#"{"code":3,"message":"validation error","details":[{"@type":"x","type":"ERROR_TYPE_FIELD","field":"config.window","messages":["required field missing"]}]}"#,
                "validation error: config.window: required field missing",
            ),
            (
                400,
                r#"{"code":3,"message":"data constraint error","details":[{"type":"ERROR_TYPE_REFERENCE","field":"name","messages":["name (type: unique) constraint failed"]}]}"#,
                "data constraint error: name: name (type: unique) constraint failed",
            ),
            (
                401,
                r#"{"message":"Unauthorized","status":401}"#,
                "Unauthorized",
            ),
            (
                400,
                r#"{"status":400,"title":"Bad Request","detail":"Request contains unknown property","instance":"konnect:trace:1","invalid_parameters":[{"field":"id","reason":"property id should not exist"}]}"#,
                "Bad Request: Request contains unknown property (id: property id should not exist)",
            ),
            (
                400,
                r#"{"code":2,"name":"schema violation","message":"schema violation (config.foo: required field missing)","fields":{"config":{"foo":"required field missing"}}}"#,
                "schema violation (config.foo: required field missing)",
            ),
            (502, "<html>bad gateway</html>", "<html>bad gateway</html>"),
            (503, "", "service unavailable"),
        ];
        for (status, body, want) in cases {
            assert_eq!(error_message(status, body), want);
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after_value("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after_value("0.5", now),
            Some(Duration::from_millis(500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(retry_after_value(&date, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(retry_after_value(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after_value("soon", now), None);
    }
}

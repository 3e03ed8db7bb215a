//! The `*.test.yaml` format: read with positions, so every mistake is reported as
//! `FILE:LINE:COL`.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::lua::{SimRequest, SimUpstream};
use crate::state::yaml::{self, Node, NodeValue, Pos};

/// A problem in a test file, at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.column,
            self.message
        )
    }
}

/// One test file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    pub path: PathBuf,
    pub plugin: String,
    pub plugin_pos: Pos,
    pub cases: Vec<Case>,
}

/// One case: a request, the upstream's answer, and what to expect.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub pos: Pos,
    pub config: Option<Json>,
    pub config_pos: Pos,
    pub request: SimRequest,
    pub upstream: SimUpstream,
    pub expect: Expect,
}

/// What a header must be.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderExpect {
    /// `~`: not sent.
    Absent,
    /// One value (a repeated header matches its values joined with `, `).
    Value(String),
    /// Exactly these values, in order.
    Values(Vec<String>),
}

/// Expectations on the request that reaches the upstream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpectRequest {
    pub method: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub headers: Vec<(String, HeaderExpect)>,
    pub body: Option<String>,
    pub json: Option<Json>,
}

/// Expectations on the response the client receives.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpectResponse {
    pub status: Option<u16>,
    pub headers: Vec<(String, HeaderExpect)>,
    pub body: Option<String>,
    pub json: Option<Json>,
    pub source: Option<String>,
}

/// A log line that must have been written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectLog {
    pub level: Option<String>,
    pub contains: String,
}

/// `expect:`; every key optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// `None`: not checked; `Some(None)` (`~`): no request may reach the upstream.
    pub upstream_request: Option<Option<ExpectRequest>>,
    pub response: Option<ExpectResponse>,
    pub logs: Vec<ExpectLog>,
    /// `None`: no phase may raise (not written); `Some(None)` (`~`): the same, said explicitly;
    /// `Some(Some(text))`: a phase raised an error containing `text`.
    pub error: Option<Option<String>>,
}

/// The log levels of `kong.log.*` and `ngx.log`.
pub const LEVELS: &[&str] = &[
    "stderr", "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];

struct Reader<'a> {
    file: &'a Path,
}

type R<T> = Result<T, FileError>;

impl Reader<'_> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> FileError {
        FileError {
            file: self.file.to_path_buf(),
            pos,
            message: message.into(),
        }
    }

    /// The entries of a mapping, refusing keys outside `allowed`.
    fn map<'n>(&self, node: &'n Node, what: &str, allowed: &[&str]) -> R<Vec<(&'n str, &'n Node)>> {
        let NodeValue::Map(entries) = &node.value else {
            return Err(self.err(
                node.pos,
                format!("{what} must be a mapping, not {}", node.kind()),
            ));
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let key = k
                .as_str()
                .ok_or_else(|| self.err(k.pos, format!("keys of {what} must be strings")))?;
            if !allowed.contains(&key) {
                return Err(self.err(
                    k.pos,
                    format!(
                        "unknown key `{key}` in {what} (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            out.push((key, v));
        }
        Ok(out)
    }

    fn string(&self, node: &Node, what: &str) -> R<String> {
        match &node.value {
            NodeValue::Str { value, .. } => Ok(value.clone()),
            _ => Err(self.err(
                node.pos,
                format!("{what} must be a string, not {}", node.kind()),
            )),
        }
    }

    /// A scalar as text (headers may be written as numbers or booleans).
    fn scalar_text(&self, node: &Node, what: &str) -> R<String> {
        match &node.value {
            NodeValue::Str { value, .. } => Ok(value.clone()),
            NodeValue::Int(i) => Ok(i.to_string()),
            NodeValue::Float(f) => Ok(f.to_string()),
            NodeValue::Bool(b) => Ok(b.to_string()),
            _ => Err(self.err(
                node.pos,
                format!("{what} must be a string, not {}", node.kind()),
            )),
        }
    }

    fn status(&self, node: &Node, what: &str) -> R<u16> {
        match node.value {
            NodeValue::Int(i) if (100..=599).contains(&i) => Ok(i as u16),
            _ => Err(self.err(
                node.pos,
                format!("{what} must be an HTTP status (an integer from 100 to 599)"),
            )),
        }
    }

    fn json(&self, node: &Node) -> R<Json> {
        node.to_json().map_err(|(pos, m)| self.err(pos, m))
    }

    /// Request or upstream headers: name → value or list of values.
    fn headers(&self, node: &Node, what: &str) -> R<Vec<(String, String)>> {
        let NodeValue::Map(entries) = &node.value else {
            return Err(self.err(
                node.pos,
                format!("{what} must be a mapping of header names to values"),
            ));
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = self.scalar_text(k, "a header name")?;
            match &v.value {
                NodeValue::Seq(items) => {
                    for item in items {
                        out.push((name.clone(), self.scalar_text(item, "a header value")?));
                    }
                }
                _ => out.push((name, self.scalar_text(v, "a header value")?)),
            }
        }
        Ok(out)
    }

    /// Expected headers: name → value, list of values, or `~` (absent).
    fn expect_headers(&self, node: &Node, what: &str) -> R<Vec<(String, HeaderExpect)>> {
        let NodeValue::Map(entries) = &node.value else {
            return Err(self.err(
                node.pos,
                format!("{what} must be a mapping of header names to values"),
            ));
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = self.scalar_text(k, "a header name")?;
            let e = match &v.value {
                NodeValue::Null => HeaderExpect::Absent,
                NodeValue::Seq(items) => HeaderExpect::Values(
                    items
                        .iter()
                        .map(|i| self.scalar_text(i, "a header value"))
                        .collect::<R<_>>()?,
                ),
                _ => HeaderExpect::Value(self.scalar_text(v, "a header value")?),
            };
            out.push((name, e));
        }
        Ok(out)
    }

    fn request(&self, node: &Node) -> R<SimRequest> {
        let mut r = SimRequest::default();
        let mut json_body = None;
        let mut body_pos = None;
        for (k, v) in self.map(
            node,
            "`request`",
            &[
                "method",
                "path",
                "headers",
                "body",
                "json",
                "client_ip",
                "scheme",
                "consumer",
            ],
        )? {
            match k {
                "method" => {
                    let m = self.string(v, "`method`")?;
                    if m.is_empty() || !m.chars().all(|c| c.is_ascii_uppercase()) {
                        return Err(self.err(
                            v.pos,
                            "`method` must be an HTTP method in capitals (GET, POST, …)",
                        ));
                    }
                    r.method = m;
                }
                "path" => {
                    let p = self.string(v, "`path`")?;
                    if !p.starts_with('/') {
                        return Err(self.err(v.pos, "`path` must start with `/`"));
                    }
                    let (path, query) = p.split_once('?').unwrap_or((&p, ""));
                    r.raw_path = path.to_string();
                    r.query = query.to_string();
                }
                "headers" => r.headers = self.headers(v, "`headers`")?,
                "body" => {
                    r.body = self.string(v, "`body`")?;
                    body_pos = Some(v.pos);
                }
                "json" => json_body = Some((self.json(v)?, v.pos)),
                "client_ip" => r.client_ip = self.string(v, "`client_ip`")?,
                "scheme" => {
                    let s = self.string(v, "`scheme`")?;
                    if s != "http" && s != "https" {
                        return Err(self.err(v.pos, "`scheme` must be http or https"));
                    }
                    r.scheme = s;
                }
                "consumer" => {
                    if !matches!(v.value, NodeValue::Map(_)) {
                        return Err(self.err(
                            v.pos,
                            "`consumer` must be a mapping (the consumer entity, e.g. { id: …, username: … })",
                        ));
                    }
                    r.consumer = Some(self.json(v)?);
                }
                _ => unreachable!("keys are checked"),
            }
        }
        if let Some((json, pos)) = json_body {
            if body_pos.is_some() {
                return Err(self.err(pos, "give either `body` or `json`, not both"));
            }
            r.body = json.to_string();
            if !r
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                r.headers
                    .push(("Content-Type".into(), "application/json".into()));
            }
        }
        Ok(r)
    }

    fn upstream(&self, node: &Node) -> R<SimUpstream> {
        let mut u = SimUpstream::default();
        let mut has_body = false;
        for (k, v) in self.map(node, "`upstream`", &["status", "headers", "body", "json"])? {
            match k {
                "status" => u.status = self.status(v, "`status`")?,
                "headers" => u.headers = self.headers(v, "`headers`")?,
                "body" => {
                    u.body = self.string(v, "`body`")?;
                    has_body = true;
                }
                "json" => {
                    if has_body {
                        return Err(self.err(v.pos, "give either `body` or `json`, not both"));
                    }
                    u.body = self.json(v)?.to_string();
                    if !u
                        .headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                    {
                        u.headers
                            .push(("Content-Type".into(), "application/json".into()));
                    }
                }
                _ => unreachable!("keys are checked"),
            }
        }
        Ok(u)
    }

    fn expect_request(&self, node: &Node) -> R<ExpectRequest> {
        let mut e = ExpectRequest::default();
        for (k, v) in self.map(
            node,
            "`expect.upstream_request`",
            &["method", "path", "query", "headers", "body", "json"],
        )? {
            match k {
                "method" => e.method = Some(self.string(v, "`method`")?),
                "path" => e.path = Some(self.string(v, "`path`")?),
                "query" => e.query = Some(self.scalar_text(v, "`query`")?),
                "headers" => e.headers = self.expect_headers(v, "`headers`")?,
                "body" => e.body = Some(self.string(v, "`body`")?),
                "json" => e.json = Some(self.json(v)?),
                _ => unreachable!("keys are checked"),
            }
        }
        Ok(e)
    }

    fn expect_response(&self, node: &Node) -> R<ExpectResponse> {
        let mut e = ExpectResponse::default();
        for (k, v) in self.map(
            node,
            "`expect.response`",
            &["status", "headers", "body", "json", "source"],
        )? {
            match k {
                "status" => e.status = Some(self.status(v, "`status`")?),
                "headers" => e.headers = self.expect_headers(v, "`headers`")?,
                "body" => e.body = Some(self.string(v, "`body`")?),
                "json" => e.json = Some(self.json(v)?),
                "source" => {
                    let s = self.string(v, "`source`")?;
                    if !["service", "exit", "error"].contains(&s.as_str()) {
                        return Err(self.err(v.pos, "`source` must be service, exit or error"));
                    }
                    e.source = Some(s);
                }
                _ => unreachable!("keys are checked"),
            }
        }
        Ok(e)
    }

    fn expect_logs(&self, node: &Node) -> R<Vec<ExpectLog>> {
        let NodeValue::Seq(items) = &node.value else {
            return Err(self.err(
                node.pos,
                "`expect.logs` must be a list of { level, contains }",
            ));
        };
        let mut out = Vec::new();
        for item in items {
            let mut level = None;
            let mut contains = None;
            for (k, v) in self.map(item, "a log expectation", &["level", "contains"])? {
                match k {
                    "level" => {
                        let l = self.string(v, "`level`")?;
                        if !LEVELS.contains(&l.as_str()) {
                            return Err(self.err(
                                v.pos,
                                format!("`level` must be one of: {}", LEVELS.join(", ")),
                            ));
                        }
                        level = Some(l);
                    }
                    "contains" => contains = Some(self.scalar_text(v, "`contains`")?),
                    _ => unreachable!("keys are checked"),
                }
            }
            let contains =
                contains.ok_or_else(|| self.err(item.pos, "a log expectation needs `contains`"))?;
            out.push(ExpectLog { level, contains });
        }
        Ok(out)
    }

    fn expect(&self, node: &Node) -> R<Expect> {
        let mut e = Expect::default();
        for (k, v) in self.map(
            node,
            "`expect`",
            &["upstream_request", "response", "logs", "error"],
        )? {
            match k {
                "upstream_request" => {
                    e.upstream_request = Some(match v.value {
                        NodeValue::Null => None,
                        _ => Some(self.expect_request(v)?),
                    })
                }
                "response" => e.response = Some(self.expect_response(v)?),
                "logs" => e.logs = self.expect_logs(v)?,
                "error" => {
                    e.error = Some(match v.value {
                        NodeValue::Null => None,
                        _ => Some(self.scalar_text(v, "`error`")?),
                    })
                }
                _ => unreachable!("keys are checked"),
            }
        }
        Ok(e)
    }

    fn case(&self, node: &Node) -> R<Case> {
        let mut name = None;
        let mut case = Case {
            name: String::new(),
            pos: node.pos,
            config: None,
            config_pos: node.pos,
            request: SimRequest::default(),
            upstream: SimUpstream::default(),
            expect: Expect::default(),
        };
        for (k, v) in self.map(
            node,
            "a case",
            &["name", "config", "request", "upstream", "expect"],
        )? {
            match k {
                "name" => name = Some(self.scalar_text(v, "`name`")?),
                "config" => {
                    case.config_pos = v.pos;
                    case.config = match v.value {
                        NodeValue::Null => None,
                        NodeValue::Map(_) => Some(self.json(v)?),
                        _ => {
                            return Err(self.err(
                                v.pos,
                                format!("`config` must be a mapping, not {}", v.kind()),
                            ))
                        }
                    };
                }
                "request" => case.request = self.request(v)?,
                "upstream" => case.upstream = self.upstream(v)?,
                "expect" => case.expect = self.expect(v)?,
                _ => unreachable!("keys are checked"),
            }
        }
        case.name = name.ok_or_else(|| self.err(node.pos, "a case needs a `name`"))?;
        Ok(case)
    }
}

/// Reads a test file from its text.
pub fn parse(path: &Path, text: &str) -> Result<TestFile, FileError> {
    let r = Reader { file: path };
    let root = yaml::parse(text).map_err(|e| r.err(e.pos, e.message))?;
    let mut plugin = None;
    let mut cases = None;
    for (k, v) in r.map(&root, "a test file", &["plugin", "cases"])? {
        match k {
            "plugin" => plugin = Some((r.string(v, "`plugin`")?, v.pos)),
            "cases" => {
                let NodeValue::Seq(items) = &v.value else {
                    return Err(r.err(v.pos, "`cases` must be a list"));
                };
                if items.is_empty() {
                    return Err(r.err(v.pos, "`cases` is empty"));
                }
                let list = items.iter().map(|c| r.case(c)).collect::<R<Vec<_>>>()?;
                let mut seen = std::collections::BTreeMap::new();
                for c in &list {
                    if let Some(first) = seen.insert(c.name.clone(), c.pos) {
                        return Err(r.err(
                            c.pos,
                            format!(
                                "case `{}` is named twice (first at line {})",
                                c.name, first.line
                            ),
                        ));
                    }
                }
                cases = Some(list);
            }
            _ => unreachable!("keys are checked"),
        }
    }
    let (plugin, plugin_pos) = plugin.ok_or_else(|| {
        r.err(
            root.pos,
            "a test file needs `plugin` (a custom plugin declared in the state)",
        )
    })?;
    let cases = cases.ok_or_else(|| r.err(root.pos, "a test file needs `cases`"))?;
    Ok(TestFile {
        path: path.to_path_buf(),
        plugin,
        plugin_pos,
        cases,
    })
}

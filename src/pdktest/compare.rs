//! Expected against actual: every difference as a field, the expected value and the actual one.

use serde_json::Value as Json;

use super::file::{Expect, HeaderExpect};
use crate::lua::Exchange;

/// One difference.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mismatch {
    /// Where: `response.status`, `upstream_request.headers.X-Team`, `logs[0]`, `error`, …
    pub field: String,
    /// The expected value, as written in a test file (strings quoted as JSON).
    pub expected: String,
    /// The actual value, or a phrase in parentheses (`(absent)`, `(not sent)`).
    pub actual: String,
}

fn quote(s: &str) -> String {
    Json::String(s.to_string()).to_string()
}

fn push(out: &mut Vec<Mismatch>, field: String, expected: String, actual: String) {
    out.push(Mismatch {
        field,
        expected,
        actual,
    });
}

fn values_of<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn headers(
    out: &mut Vec<Mismatch>,
    prefix: &str,
    expected: &[(String, HeaderExpect)],
    actual: &[(String, String)],
) {
    for (name, e) in expected {
        let got = values_of(actual, name);
        let field = format!("{prefix}.headers.{name}");
        let shown = match got.len() {
            0 => "(absent)".to_string(),
            1 => quote(got[0]),
            _ => Json::from(got.clone()).to_string(),
        };
        match e {
            HeaderExpect::Absent => {
                if !got.is_empty() {
                    push(out, field, "(absent)".into(), shown);
                }
            }
            HeaderExpect::Value(v) => {
                if got.is_empty() || got.join(", ") != *v {
                    push(out, field, quote(v), shown);
                }
            }
            HeaderExpect::Values(vs) => {
                if got != vs.iter().map(String::as_str).collect::<Vec<_>>() {
                    push(out, field, Json::from(vs.clone()).to_string(), shown);
                }
            }
        }
    }
}

/// `expected` is a subset of `actual`: objects may hold more keys; arrays match element by
/// element and in length; scalars are equal (numbers by value).
fn json_subset(out: &mut Vec<Mismatch>, field: &str, expected: &Json, actual: Option<&Json>) {
    let Some(actual) = actual else {
        push(out, field.into(), expected.to_string(), "(absent)".into());
        return;
    };
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            for (k, v) in e {
                json_subset(out, &format!("{field}.{k}"), v, a.get(k));
            }
        }
        (Json::Array(e), Json::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_subset(out, &format!("{field}[{i}]"), ev, Some(av));
            }
        }
        (Json::Number(e), Json::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => push(out, field.into(), e.to_string(), a.to_string()),
    }
}

fn json_body(out: &mut Vec<Mismatch>, field: &str, expected: &Json, body: &str) {
    match serde_json::from_str::<Json>(body) {
        Ok(actual) => json_subset(out, field, expected, Some(&actual)),
        Err(_) => push(
            out,
            field.into(),
            expected.to_string(),
            format!("(not JSON) {}", quote(body)),
        ),
    }
}

/// Compares what a case expects with what happened. `Err` is a failure to run the handler at
/// all (it does not load, Kong would refuse it, the budget ran out): then only `error` can match.
pub fn compare(expect: &Expect, actual: &Result<Exchange, String>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let x = match actual {
        Ok(x) => x,
        Err(message) => {
            match &expect.error {
                Some(Some(want)) if message.contains(want.as_str()) => {}
                Some(Some(want)) => push(&mut out, "error".into(), quote(want), quote(message)),
                _ => push(&mut out, "error".into(), "(none)".into(), quote(message)),
            }
            if expect.upstream_request.is_some()
                || expect.response.is_some()
                || !expect.logs.is_empty()
            {
                push(
                    &mut out,
                    "request".into(),
                    "(the phases run)".into(),
                    "(the handler did not run)".into(),
                );
            }
            return out;
        }
    };

    match &expect.error {
        Some(Some(want)) => match &x.error {
            Some(got) if got.contains(want.as_str()) => {}
            Some(got) => push(&mut out, "error".into(), quote(want), quote(got)),
            None => push(&mut out, "error".into(), quote(want), "(none)".into()),
        },
        _ => {
            if let Some(got) = &x.error {
                let phase = x.error_phase.as_deref().unwrap_or("?");
                push(
                    &mut out,
                    "error".into(),
                    "(none)".into(),
                    format!("{} (in {phase})", quote(got)),
                );
            }
        }
    }

    match (&expect.upstream_request, &x.upstream_request) {
        (None, _) => {}
        (Some(None), None) => {}
        (Some(None), Some(sent)) => push(
            &mut out,
            "upstream_request".into(),
            "(not sent)".into(),
            format!("{} {}", sent.method, sent.path),
        ),
        (Some(Some(_)), None) => push(
            &mut out,
            "upstream_request".into(),
            "(sent)".into(),
            format!(
                "(not sent: the response came from {})",
                match x.response.source.as_str() {
                    "exit" => "kong.response.exit",
                    "error" => "an error",
                    other => other,
                }
            ),
        ),
        (Some(Some(e)), Some(sent)) => {
            let p = "upstream_request";
            let scalar = |out: &mut Vec<Mismatch>, name: &str, want: &Option<String>, got: &str| {
                if let Some(w) = want {
                    if w != got {
                        push(out, format!("{p}.{name}"), quote(w), quote(got));
                    }
                }
            };
            scalar(&mut out, "method", &e.method, &sent.method);
            scalar(&mut out, "path", &e.path, &sent.path);
            scalar(&mut out, "query", &e.query, &sent.query);
            headers(&mut out, p, &e.headers, &sent.headers);
            scalar(&mut out, "body", &e.body, &sent.body);
            if let Some(j) = &e.json {
                json_body(&mut out, &format!("{p}.json"), j, &sent.body);
            }
        }
    }

    if let Some(e) = &expect.response {
        let p = "response";
        let r = &x.response;
        if let Some(s) = e.status {
            if s != r.status {
                push(
                    &mut out,
                    format!("{p}.status"),
                    s.to_string(),
                    r.status.to_string(),
                );
            }
        }
        headers(&mut out, p, &e.headers, &r.headers);
        if let Some(b) = &e.body {
            if *b != r.body {
                push(&mut out, format!("{p}.body"), quote(b), quote(&r.body));
            }
        }
        if let Some(j) = &e.json {
            json_body(&mut out, &format!("{p}.json"), j, &r.body);
        }
        if let Some(s) = &e.source {
            if *s != r.source {
                push(&mut out, format!("{p}.source"), quote(s), quote(&r.source));
            }
        }
    }

    for (i, want) in expect.logs.iter().enumerate() {
        let found = x.logs.iter().any(|l| {
            want.level.as_ref().is_none_or(|lv| *lv == l.level)
                && l.message.contains(&want.contains)
        });
        if !found {
            let expected = match &want.level {
                Some(l) => format!("[{l}] containing {}", quote(&want.contains)),
                None => format!("a line containing {}", quote(&want.contains)),
            };
            let actual = if x.logs.is_empty() {
                "(nothing logged)".to_string()
            } else {
                x.logs
                    .iter()
                    .map(|l| format!("[{}] {}", l.level, quote(&l.message)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            push(&mut out, format!("logs[{i}]"), expected, actual);
        }
    }
    out
}

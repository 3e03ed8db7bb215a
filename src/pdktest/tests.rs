//! The test-file reader and the comparison.

use std::path::Path;

use serde_json::json;

use super::compare::compare;
use super::file::{parse, HeaderExpect};
use crate::lua::{Exchange, SimResponse};

#[test]
fn the_issue_example_reads() {
    let text = r#"
plugin: request-tagger
cases:
  - name: tags every request
    config: { header: X-Team, value: platform }
    request:
      method: GET
      path: /anything?x=1
      headers: { Accept: "*/*" }
      body: ""
    upstream:
      status: 200
      headers: { Content-Type: text/plain }
      body: ok
    expect:
      upstream_request: { method: GET, path: /anything, headers: { X-Team: platform }, body: "" }
      response: { status: 200, headers: { X-Team: ~ }, body: ok }
      logs: [ { level: err, contains: "bad token" } ]
      error: ~
"#;
    let f = parse(Path::new("t.test.yaml"), text).expect("parses");
    assert_eq!(f.plugin, "request-tagger");
    let c = &f.cases[0];
    assert_eq!((c.pos.line, c.pos.column), (4, 5));
    assert_eq!(c.request.raw_path, "/anything");
    assert_eq!(c.request.query, "x=1");
    assert_eq!(c.upstream.body, "ok");
    assert_eq!(
        c.config,
        Some(json!({"header": "X-Team", "value": "platform"}))
    );
    let up = c.expect.upstream_request.clone().unwrap().unwrap();
    assert_eq!(
        up.headers,
        [("X-Team".to_string(), HeaderExpect::Value("platform".into()))]
    );
    let resp = c.expect.response.clone().unwrap();
    assert_eq!(resp.headers, [("X-Team".to_string(), HeaderExpect::Absent)]);
    assert_eq!(c.expect.error, Some(None));
    assert_eq!(c.expect.logs[0].level.as_deref(), Some("err"));
}

#[test]
fn mistakes_have_positions() {
    let err = |t: &str| parse(Path::new("t.test.yaml"), t).unwrap_err().to_string();
    assert_eq!(
        err("plugin: p\ncases:\n  - name: a\n    request: { path: nope }\n"),
        "t.test.yaml:4:22: `path` must start with `/`"
    );
    assert_eq!(
        err("plugin: p\ncases:\n  - name: a\n  - name: a\n"),
        "t.test.yaml:4:5: case `a` is named twice (first at line 3)"
    );
    assert_eq!(
        err("plugin: p\ncases:\n  - name: a\n    expect: { logs: [ { level: loud, contains: x } ] }\n"),
        "t.test.yaml:4:32: `level` must be one of: stderr, emerg, alert, crit, err, warn, notice, info, debug"
    );
    assert_eq!(err("cases: []\n"), "t.test.yaml:1:8: `cases` is empty");
    assert_eq!(
        err("plugin: p\ncases:\n  - name: a\n    request: { body: x, json: {} }\n"),
        "t.test.yaml:4:31: give either `body` or `json`, not both"
    );
}

fn exchange(body: &str, error: Option<&str>) -> Exchange {
    Exchange {
        upstream_request: None,
        response: SimResponse {
            status: 200,
            headers: vec![
                ("Set-Cookie".into(), "a".into()),
                ("set-cookie".into(), "b".into()),
            ],
            body: body.into(),
            source: "exit".into(),
        },
        logs: vec![],
        error: error.map(String::from),
        error_phase: error.map(|_| "access".to_string()),
        phases: vec![],
    }
}

#[test]
fn json_is_a_subset_match_and_headers_join() {
    let f = parse(
        Path::new("t"),
        "plugin: p\ncases:\n  - name: a\n    expect:\n      response: { json: { a: { b: 1 }, l: [1, 2] }, headers: { Set-Cookie: [a, b] } }\n      upstream_request: { path: / }\n",
    )
    .unwrap();
    let e = &f.cases[0].expect;
    let ok = Ok(exchange(r#"{"a":{"b":1.0,"c":2},"l":[1,2],"x":0}"#, None));
    let m = compare(e, &ok);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].field, "upstream_request");
    assert_eq!(
        m[0].actual,
        "(not sent: the response came from kong.response.exit)"
    );
    let bad = Ok(exchange(r#"{"a":{"b":2},"l":[1]}"#, Some("boom")));
    let fields: Vec<String> = compare(e, &bad).into_iter().map(|m| m.field).collect();
    assert_eq!(
        fields,
        [
            "error",
            "upstream_request",
            "response.json.a.b",
            "response.json.l"
        ]
    );
}

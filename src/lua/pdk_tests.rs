//! The PDK stand-in of `plugsync test`: phases, Kong's semantics for the functions it implements,
//! and clear refusals for the rest.

use serde_json::json;

use super::{run_request, Exchange, ProfileName, SandboxError, SimRequest, SimUpstream};

fn handler(phases: &str) -> String {
    format!("local H = {{ PRIORITY = 1000, VERSION = \"1.0.0\" }}\n{phases}\nreturn H\n")
}

fn run_with(
    phases: &str,
    conf: serde_json::Value,
    req: SimRequest,
    up: SimUpstream,
) -> Result<Exchange, SandboxError> {
    run_request(
        &handler(phases),
        ProfileName::Kong310,
        &[],
        &conf,
        &req,
        &up,
    )
}

fn run(phases: &str) -> Exchange {
    run_with(
        phases,
        json!({}),
        SimRequest::default(),
        SimUpstream::default(),
    )
    .expect("the handler runs")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn phases_run_in_kongs_order() {
    let x = run(r#"
      for _, p in ipairs { "rewrite", "access", "header_filter", "body_filter", "log" } do
        H[p] = function() kong.log.info(p, " ", ngx.get_phase()) end
      end"#);
    assert_eq!(
        x.phases,
        ["rewrite", "access", "header_filter", "body_filter", "log"]
    );
    let lines: Vec<_> = x.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        lines,
        [
            "rewrite rewrite",
            "access access",
            "header_filter header_filter",
            "body_filter body_filter",
            "body_filter body_filter",
            "log log"
        ]
    );
    assert!(x.error.is_none());
    assert_eq!(x.response.source, "service");
}

#[test]
fn request_reads_and_upstream_setters() {
    let req = SimRequest {
        method: "POST".into(),
        raw_path: "/a//b/./c".into(),
        query: "x=1&y=2&x=3&flag".into(),
        headers: vec![
            ("Host".into(), "api.example.com:8000".into()),
            ("X-Token".into(), "abc".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: r#"{"n":1}"#.into(),
        ..SimRequest::default()
    };
    let x = run_with(
        r#"
      function H:access(conf)
        local q = kong.request.get_query()
        assert(kong.request.get_method() == "POST")
        assert(kong.request.get_path() == "/a/b/c", kong.request.get_path())
        assert(kong.request.get_raw_path() == "/a//b/./c")
        assert(kong.request.get_raw_query() == "x=1&y=2&x=3&flag")
        assert(q.x[1] == "1" and q.x[2] == "3" and q.flag == true)
        assert(kong.request.get_query_arg("x") == "1")
        assert(kong.request.get_host() == "api.example.com")
        assert(kong.request.get_header("x_token") == "abc")
        assert(kong.request.get_headers()["X-Token"] == "abc")
        assert(ngx.req.get_headers()["x-token"] == "abc")
        assert(ngx.var.request_method == "POST" and ngx.var.http_x_token == "abc")
        assert(ngx.var.arg_y == "2")
        local body = kong.request.get_body()
        assert(body.n == 1)
        kong.service.request.set_header("X-Team", conf.team)
        kong.service.request.clear_header("X-Token")
        kong.service.request.add_header("X-Multi", "a")
        kong.service.request.add_header("X-Multi", "b")
        kong.service.request.set_path("/v2/items")
        kong.service.request.set_query({ b = "2", a = "1 1" })
        kong.service.request.set_method("PUT")
        kong.service.request.set_body({ n = 2 })
      end"#,
        json!({"team": "platform"}),
        req,
        SimUpstream::default(),
    )
    .unwrap();
    assert_eq!(x.error, None);
    let sent = x.upstream_request.expect("proxied");
    assert_eq!(sent.method, "PUT");
    assert_eq!(sent.path, "/v2/items");
    assert_eq!(sent.query, "a=1%201&b=2");
    assert_eq!(header(&sent.headers, "x-team"), Some("platform"));
    assert_eq!(header(&sent.headers, "x-token"), None);
    assert_eq!(
        sent.headers
            .iter()
            .filter(|(n, _)| n == "X-Multi")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(sent.body, r#"{"n":2}"#);
}

#[test]
fn exit_short_circuits_with_a_json_body() {
    let x = run(r#"
      function H:rewrite() kong.response.set_header("X-Early", "1") end
      function H:access()
        kong.response.exit(401, { message = "bad token" }, { ["WWW-Authenticate"] = "Bearer" })
        error("never reached")
      end
      function H:header_filter() kong.response.set_header("X-Source", kong.response.get_source()) end
      function H:log() kong.log.warn("status ", kong.response.get_status(), " ", tostring(kong.service.response.get_status())) end"#);
    assert_eq!(x.error, None);
    assert!(x.upstream_request.is_none());
    assert_eq!(x.response.status, 401);
    assert_eq!(x.response.source, "exit");
    assert_eq!(x.response.body, r#"{"message":"bad token"}"#);
    assert_eq!(
        header(&x.response.headers, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        header(&x.response.headers, "www-authenticate"),
        Some("Bearer")
    );
    assert_eq!(header(&x.response.headers, "x-early"), Some("1"));
    assert_eq!(header(&x.response.headers, "x-source"), Some("exit"));
    assert_eq!(x.logs[0].message, "status 401 nil");
    assert_eq!(x.phases, ["rewrite", "access", "header_filter", "log"]);
}

#[test]
fn exit_in_rewrite_skips_access_and_exit_inside_pcall_still_ends_the_phase() {
    let x = run(r#"
      function H:rewrite() pcall(kong.response.exit, 403, "no") end
      function H:access() kong.log.err("access ran") end"#);
    assert_eq!(x.response.status, 403);
    assert_eq!(x.response.body, "no");
    assert!(x.logs.is_empty());
}

#[test]
fn upstream_answer_header_filter_and_service_response() {
    let up = SimUpstream {
        status: 201,
        headers: vec![
            ("Content-Type".into(), "text/plain".into()),
            ("X-Internal".into(), "secret".into()),
        ],
        body: "created".into(),
    };
    let x = run_with(
        r#"
      function H:access() kong.response.set_header("X-Access", "a") end
      function H:header_filter()
        assert(kong.service.response.get_status() == 201)
        assert(kong.service.response.get_header("x-internal") == "secret")
        assert(kong.response.get_header("X-Access") == "a")
        kong.response.clear_header("X-Internal")
        kong.response.add_header("X-Via", "plugsync")
        kong.response.set_status(202)
        ngx.header["X-Ngx"] = "yes"
      end"#,
        json!({}),
        SimRequest::default(),
        up,
    )
    .unwrap();
    assert_eq!(x.error, None);
    assert_eq!(x.response.status, 202);
    assert_eq!(x.response.body, "created");
    assert_eq!(header(&x.response.headers, "x-internal"), None);
    assert_eq!(header(&x.response.headers, "x-access"), Some("a"));
    assert_eq!(header(&x.response.headers, "x-via"), Some("plugsync"));
    assert_eq!(header(&x.response.headers, "x-ngx"), Some("yes"));
}

#[test]
fn body_filter_sees_one_chunk_then_eof() {
    let up = SimUpstream {
        body: "hello world".into(),
        ..SimUpstream::default()
    };
    let x = run_with(
        r#"
      function H:body_filter()
        local body = kong.response.get_raw_body()
        if body then kong.response.set_raw_body(body:upper()) end
      end"#,
        json!({}),
        SimRequest::default(),
        up.clone(),
    )
    .unwrap();
    assert_eq!(x.response.body, "HELLO WORLD");

    let x = run_with(
        r#"
      function H:body_filter()
        local chunk, eof = ngx.arg[1], ngx.arg[2]
        if eof then ngx.arg[1] = chunk .. "!" else ngx.arg[1] = chunk:gsub("o", "0") end
      end"#,
        json!({}),
        SimRequest::default(),
        up,
    )
    .unwrap();
    assert_eq!(x.response.body, "hell0 w0rld!");
}

#[test]
fn a_phase_error_is_captured_and_answered_with_500() {
    let x = run(r#"
      function H:access() local t = nil; return t.field end
      function H:log() kong.log.notice("logged anyway") end"#);
    let err = x.error.expect("an error");
    assert!(
        err.contains("attempt to index local 't' (a nil value)"),
        "{err}"
    );
    assert_eq!(x.error_phase.as_deref(), Some("access"));
    assert_eq!(x.response.status, 500);
    assert_eq!(x.response.source, "error");
    assert!(x.upstream_request.is_none());
    assert_eq!(x.logs[0].message, "logged anyway");
}

#[test]
fn unimplemented_pdk_functions_refuse_in_a_phase_but_not_at_load() {
    let x = run(r#"
      kong.cache:get("loaded at the top level")
      function H:access() local v = kong.cache:get("k"); return v end"#);
    assert_eq!(
        x.error.as_deref(),
        Some("[string \"handler\"]:4: not available offline: kong.cache.get")
    );
    let x = run(r#"function H:access() ngx.re.match("a", "a") end"#);
    assert!(x
        .error
        .unwrap()
        .ends_with("not available offline: ngx.re.match"));
}

#[test]
fn phase_checks_follow_kong() {
    let x = run(r#"function H:header_filter() kong.service.request.set_header("X", "1") end"#);
    assert!(x
        .error
        .unwrap()
        .ends_with("function cannot be called in header_filter phase"));
    let x = run(r#"function H:access() kong.response.get_raw_body() end"#);
    assert!(x
        .error
        .unwrap()
        .ends_with("function cannot be called in access phase"));
}

#[test]
fn logs_ctx_client_and_helpers() {
    let req = SimRequest {
        client_ip: "10.1.2.3".into(),
        headers: vec![("Authorization".into(), "Basic YWxpY2U6c2VjcmV0".into())],
        ..SimRequest::default()
    };
    let x = run_with(
        r#"
      function H:access()
        local auth = kong.request.get_header("Authorization")
        local user, pass = ngx.decode_base64(auth:sub(7)):match("^(.-):(.*)$")
        kong.client.authenticate({ id = "c1", username = user })
        kong.ctx.shared.user = user
        kong.ctx.plugin.pass_len = #pass
        ngx.ctx.seen = true
        kong.log("plain ", 1, " ", true)
        ngx.log(ngx.ERR, "from ngx")
        kong.log.inspect({ a = 1 })
        assert(ngx.encode_base64("alice:secret") == "YWxpY2U6c2VjcmV0")
        assert(ngx.escape_uri("a b/c") == "a%20b%2Fc" and ngx.unescape_uri("a%20b") == "a b")
      end
      function H:log()
        kong.log.info(kong.client.get_ip(), " ", kong.client.get_consumer().username, " ",
          kong.ctx.shared.user, " ", kong.ctx.plugin.pass_len, " ", tostring(ngx.ctx.seen))
      end"#,
        json!({}),
        req,
        SimUpstream::default(),
    )
    .unwrap();
    assert_eq!(x.error, None);
    let got: Vec<(String, String)> = x
        .logs
        .iter()
        .map(|l| (l.level.clone(), l.message.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("notice".to_string(), "plain 1 true".to_string()),
            ("err".into(), "from ngx".into()),
            ("debug".into(), r#"{"a":1}"#.into()),
            ("info".into(), "10.1.2.3 alice alice 6 true".into()),
        ]
    );
}

#[test]
fn config_nulls_are_nil_and_load_errors_are_errors() {
    let x = run_with(
        r#"function H:access(conf) if conf.optional then error("null is truthy") end end"#,
        json!({"optional": null}),
        SimRequest::default(),
        SimUpstream::default(),
    )
    .unwrap();
    assert_eq!(x.error, None);
    let err = run_request(
        "return { PRIORITY = 1, VERSION = \"latest\" }",
        ProfileName::Kong310,
        &[],
        &json!({}),
        &SimRequest::default(),
        &SimUpstream::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "VERSION field does not follow the x.y.z format"
    );
}

#[test]
fn the_budget_holds_inside_phases() {
    let err = run_with(
        r#"function H:access() while true do pcall(function() end) end end"#,
        json!({}),
        SimRequest::default(),
        SimUpstream::default(),
    )
    .unwrap_err();
    assert_eq!(err, SandboxError::Budget);
}

#[test]
fn sandbox_protection_still_applies_in_phases() {
    let x = run(r#"function H:access() leaked = 1 end"#);
    assert_eq!(
        x.error.as_deref(),
        Some("Cannot modify _G.leaked. Protected by the sandbox.")
    );
}

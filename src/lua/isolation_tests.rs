//! Evaluations on one thread share a prepared LuaJIT state (`sandbox::Sandbox::pooled`): these
//! tests run two evaluations back to back on the same state and show that nothing the first one
//! writes — globals, library tables, `kong.*`/`ngx.*` stand-ins, required modules, the budget,
//! the memory cap, the forbidden-module note — reaches the second.

use super::sandbox::states_created_on_this_thread;
use super::*;
use crate::schema::Builtin;

/// A schema that returns a valid table after `body`.
fn schema(body: &str) -> String {
    format!(
        "{body}\nreturn {{ name = \"iso\", fields = {{ {{ config = {{ type = \"record\", fields = {{}} }} }} }} }}"
    )
}

/// Runs `body` as a schema that ends by raising the string it builds, and returns that string.
fn schema_probe(body: &str) -> String {
    match evaluate_schema(body) {
        Err(SandboxError::Runtime { message }) => message,
        other => panic!("expected the probe's error, got {other:?}\n{body}"),
    }
}

/// The same for a handler of `profile`.
fn handler_probe(profile: ProfileName, extra: &[String], body: &str) -> String {
    match load_handler(body, profile, extra) {
        Err(SandboxError::Runtime { message }) => message,
        other => panic!("expected the probe's error, got {other:?}\n{body}"),
    }
}

/// Runs `first`, then `second` on the same thread, and checks that the second reused the state
/// the first one left (so the isolation below is not a fresh state's).
fn on_one_state<T>(first: impl FnOnce(), second: impl FnOnce() -> T) -> T {
    first();
    let before = states_created_on_this_thread();
    let out = second();
    assert_eq!(
        states_created_on_this_thread(),
        before,
        "the second evaluation must reuse the first one's state"
    );
    out
}

/// What a fresh environment reads for the values the tests below overwrite.
const LIBRARY_PROBE: &str = r#"
    error(table.concat({
      type(tostring), type(pairs), tostring(_G.type == type), type(require),
      string.upper("a"), ("b"):upper(), tostring(string.find("abc", "b")), type(string.rep),
      table.concat({ 1, 2 }, "+"), tostring(math.pi > 3.14 and math.pi < 3.15),
      tostring(math.floor(2.5)), tostring(bit.band(6, 3)), tostring(os.time ~= nil),
      type(coroutine.wrap), type(io.type),
      tostring(rawequal), tostring(_G.leaked), tostring(string.leaked),
    }, ","), 0)
"#;
const LIBRARY_FRESH: &str =
    "function,function,true,function,A,B,2,function,1+2,true,2,2,true,function,function,nil,nil,nil";

#[test]
fn globals_and_library_tables_do_not_leak_between_schema_evaluations() {
    // Kong lets a chunk overwrite existing keys of its environment: the first evaluation does so
    // everywhere it can, then succeeds; the second sees a fresh environment.
    let vandal = schema(
        r#"tostring = nil
           _G.pairs = 42
           type = function() return "x" end
           string.upper = function() return "hacked" end
           string.find = nil
           string.rep = nil
           table.concat = function() return "hacked" end
           math.pi = 3
           math.floor = nil
           bit.band = nil
           os.time = nil
           coroutine.wrap = nil
           io.type = nil
           _G.require = nil"#,
    );
    let found = on_one_state(
        || {
            evaluate_schema(&vandal).expect("overwriting existing keys is allowed");
        },
        || schema_probe(LIBRARY_PROBE),
    );
    assert_eq!(found, LIBRARY_FRESH);
}

#[test]
fn protected_tables_stay_protected_on_a_reused_state() {
    let cases = [
        (
            "leaked = 1",
            "Cannot modify _G.leaked. Protected by the sandbox.",
        ),
        (
            "string.leaked = 1",
            "Cannot modify _G.string.leaked. Protected by the sandbox.",
        ),
        (
            "table.leaked = 1",
            "Cannot modify _G.table.leaked. Protected by the sandbox.",
        ),
        (
            "_G.math.leaked = 1",
            "Cannot modify _G.math.leaked. Protected by the sandbox.",
        ),
    ];
    assert_eq!(schema_probe(LIBRARY_PROBE), LIBRARY_FRESH);
    for (write, message) in cases {
        // Each write fails the same way on the state the previous one ran on.
        let err = on_one_state(|| {}, || evaluate_schema(&schema(write)).unwrap_err());
        assert_eq!(
            err,
            SandboxError::Runtime {
                message: message.into()
            },
            "{write}"
        );
    }
    // A caught refusal changes nothing either.
    let found = on_one_state(
        || {
            evaluate_schema(&schema(
                "pcall(function() leaked = 1 end) pcall(function() string.leaked = 1 end)",
            ))
            .expect("caught");
        },
        || schema_probe(LIBRARY_PROBE),
    );
    assert_eq!(found, LIBRARY_FRESH);
}

#[test]
fn kong_and_ngx_stand_ins_do_not_leak_between_handler_evaluations() {
    let profile = DEFAULT_PROFILE;
    let vandal = r#"
        kong.log.err = 5
        kong.log = nil
        kong.request.get_header = "hacked"
        kong.ctx.shared.leaked = "shared"
        kong.ctx.plugin.leaked = "plugin"
        kong.version = "0.0"
        ngx.leaked = "ngx"
        ngx.var.leaked = "var"
        ngx.ctx.leaked = "ctx"
        ngx.header["X-Leaked"] = "header"
        ngx.HTTP_OK = 999
        ngx.re.match = nil
        kong = nil
        return { PRIORITY = 1, VERSION = "1.0.0" }
    "#;
    let probe = r#"
        error(table.concat({
          type(kong), type(kong.log), type(kong.log.err), type(kong.request.get_header),
          tostring(kong.ctx.shared.leaked), tostring(kong.ctx.plugin.leaked),
          tostring(kong.version), tostring(ngx.leaked), tostring(ngx.var.leaked),
          tostring(ngx.ctx.leaked), tostring(ngx.header["X-Leaked"]), tostring(ngx.HTTP_OK),
          type(ngx.re.match),
        }, ","), 0)
    "#;
    let found = on_one_state(
        || {
            load_handler(vandal, profile, &[]).expect("handler loads");
        },
        || handler_probe(profile, &[], probe),
    );
    assert_eq!(
        found,
        "table,table,function,function,nil,nil,3.10.0.0,nil,nil,nil,nil,200,function"
    );
    // kong.log is still callable and still protected on the reused state.
    let err = on_one_state(
        || {},
        || load_handler("kong.log('x') kong.log.leaked = 1 return {}", profile, &[]).unwrap_err(),
    );
    assert_eq!(
        err.kong_message("handler"),
        "handler load failure (Cannot modify _G.kong.log.leaked. Protected by the sandbox.)"
    );
}

#[test]
fn required_modules_do_not_leak_between_evaluations() {
    let profile = DEFAULT_PROFILE;
    let vandal = r#"
        local cjson = require "cjson"
        cjson.encode = nil
        cjson.leaked = "cjson"
        require("cjson.safe").null = "hacked"
        local meta = require "kong.meta"
        meta.version = "9.9.9"
        require("bit").band = nil
        require("bit").leaked = "bit"
        require("resty.http").leaked = "stub"
        return { PRIORITY = 1, VERSION = "1.0.0" }
    "#;
    let probe = r#"
        local cjson = require "cjson"
        error(table.concat({
          type(cjson.encode), type(cjson.leaked),
          tostring(require("cjson.safe").null == ngx.null), require("kong.meta").version,
          type(require("bit").band), tostring(require("bit").leaked),
          tostring(require("resty.http").leaked),
        }, ","), 0)
    "#;
    let found = on_one_state(
        || {
            load_handler(vandal, profile, &[]).expect("handler loads");
        },
        || handler_probe(profile, &[], probe),
    );
    // An absorbing stub answers any field with another stub (`table`), never the old string.
    assert_eq!(
        found,
        "function,table,true,3.10.0,function,nil,<plugin sandbox stub>"
    );

    // The typedefs module of a schema, and the builtin markers its fields carry.
    let vandal = schema(
        r#"local typedefs = require "kong.db.schema.typedefs"
           typedefs.host = nil
           typedefs.port = "hacked"
           require("bit").leaked = 1"#,
    );
    let evaluated = on_one_state(
        || {
            evaluate_schema(&vandal).expect("schema");
        },
        || {
            evaluate_schema(
                r#"local typedefs = require "kong.db.schema.typedefs"
                   assert(require("bit").leaked == nil, "bit leaked")
                   return { name = "iso-typedefs", fields = { { config = { type = "record",
                     fields = { { host = typedefs.host }, { port = typedefs.port } } } } } }"#,
            )
            .expect("the second schema sees fresh typedefs")
        },
    );
    let config = evaluated.field("config").expect("config");
    assert_eq!(
        config.field("host").expect("host").builtins,
        [Builtin::Host]
    );
    assert_eq!(
        config.field("port").expect("port").ty,
        crate::schema::FieldType::Integer
    );
}

#[test]
fn the_budget_and_the_memory_cap_start_afresh_on_a_reused_state() {
    // 12 million instructions each: two of them would spend one budget (20 million).
    let busy = |n: usize| schema(&format!("local x = {n} for i = 1, 12000000 do end"));
    on_one_state(
        || {
            evaluate_schema(&busy(1)).expect("within the budget");
        },
        || evaluate_schema(&busy(2)).expect("a fresh budget"),
    );
    // The first evaluation holds 20 MB of strings while the collector runs (so it will not run
    // again soon) and leaves them as garbage; the second asks for 20 MiB at once (a preallocated
    // array of 2.5 million slots). Both fit the 32 MiB cap only if the first one's garbage is
    // not counted against the second.
    on_one_state(
        || {
            evaluate_schema(&schema(
                "local t = {} for i = 1, 200 do t[i] = string.rep('x', 100000 + i) end",
            ))
            .expect("within the cap");
        },
        || evaluate_schema(&schema("local t = table.new(2500000, 0)")).expect("a fresh cap"),
    );
}

#[test]
fn a_spent_budget_or_memory_is_not_carried_into_the_next_evaluation() {
    let cases = [
        ("while true do end", SandboxError::Budget),
        (
            "local t = {} for i = 1, 1e9 do t[i] = i end",
            SandboxError::Memory,
        ),
    ];
    for (hostile, expected) in cases {
        assert_eq!(evaluate_schema(&schema(hostile)), Err(expected));
        // The spent state is closed, never shelved: the next evaluation runs normally.
        let found = schema_probe(LIBRARY_PROBE);
        assert_eq!(found, LIBRARY_FRESH, "after {hostile}");
    }
}

#[test]
fn the_forbidden_module_is_noted_per_evaluation() {
    let profile = DEFAULT_PROFILE;
    let first = on_one_state(
        || {
            // A refusal that is caught still notes the module name.
            load_handler("pcall(require, 'inspect') return {}", profile, &[]).expect("caught");
        },
        || load_handler("require 'lfs' return {}", profile, &[]).unwrap_err(),
    );
    assert!(
        matches!(&first, SandboxError::ForbiddenModule { name, .. } if name == "lfs"),
        "{first:?}"
    );
    let second = on_one_state(
        || {},
        || load_handler("require 'ltn12' return {}", profile, &[]).unwrap_err(),
    );
    assert!(
        matches!(&second, SandboxError::ForbiddenModule { name, .. } if name == "ltn12"),
        "{second:?}"
    );
}

#[test]
fn environments_and_require_lists_are_kept_apart() {
    // The schema environment, two handler profiles and an extra `require`, interleaved on one
    // thread: each evaluation sees its own environment.
    let probe = "error(type(kong) .. ',' .. type(kong and kong.cache), 0)";
    for _ in 0..2 {
        assert_eq!(schema_probe(probe), "nil,nil");
        assert_eq!(
            handler_probe(ProfileName::Kong310, &[], probe),
            "table,table"
        );
        assert_eq!(handler_probe(ProfileName::Strict, &[], probe), "table,nil");
        let extra = vec!["my.module".to_string()];
        assert_eq!(
            handler_probe(
                ProfileName::Kong310,
                &extra,
                "error(tostring(require('my.module')), 0)"
            ),
            "<plugin sandbox stub>"
        );
        assert!(matches!(
            load_handler("require 'my.module' return {}", ProfileName::Kong310, &[]),
            Err(SandboxError::ForbiddenModule { .. })
        ));
    }
}

#[test]
fn math_random_starts_where_a_new_state_starts() {
    let probe =
        "error(math.random(1, 1000000) .. ',' .. math.random() .. ',' .. math.random(7), 0)";
    let fresh = std::thread::spawn(move || schema_probe(probe))
        .join()
        .expect("probe thread");
    let first = schema_probe(probe);
    let second = on_one_state(|| {}, || schema_probe(probe));
    assert_eq!(first, fresh);
    assert_eq!(second, fresh);
}

//! Tests of the sandbox against `testdata/lua`: valid plugins, every typedef, hostile files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::schema::model::PatternErr;
use crate::schema::{Builtin, EntityCheck, Field, FieldType, PluginSchema};

/// A safety bound, not a benchmark: a hostile file must end well before this.
const SAFETY_BOUND: Duration = Duration::from_secs(2);

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lua")
}

fn read(relative: &str) -> String {
    let path = testdata().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn eval(source: &str) -> Result<PluginSchema, SandboxError> {
    evaluate_schema(source)
}

fn valid_schema(plugin: &str) -> PluginSchema {
    let source = read(&format!("valid/{plugin}/schema.lua"));
    eval(&source).unwrap_or_else(|e| panic!("{plugin}: {e}"))
}

/// The field at a dotted path through records (`config.redis.port`).
fn field<'a>(schema: &'a PluginSchema, path: &str) -> &'a Field {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let mut current = schema
        .field(first)
        .unwrap_or_else(|| panic!("no field {first}"));
    for part in parts {
        current = current
            .field(part)
            .unwrap_or_else(|| panic!("no field {part} in {path}"));
    }
    current
}

fn names(fields: &[(String, Field)]) -> Vec<&str> {
    fields.iter().map(|(n, _)| n.as_str()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn json_strings(items: &[&str]) -> Vec<Value> {
    items.iter().map(|s| json!(s)).collect()
}

/// Runs `f` (on this thread, as evaluations do) and checks it ended within [`SAFETY_BOUND`] of
/// this thread's CPU time — the sandbox's budget is CPU time, so a loaded test machine does not
/// turn a bound into a flake — and within the sandbox's wall-clock backstop.
fn within_bound<T>(what: &str, f: impl FnOnce() -> T) -> T {
    within(SAFETY_BOUND, what, f)
}

/// [`within_bound`] with another CPU-time bound.
fn within<T>(bound: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let cpu = cpu_time::ThreadTime::now();
    let result = f();
    let (elapsed, used) = (started.elapsed(), cpu.elapsed());
    assert!(used < bound, "{what} took {used:?} of CPU time");
    assert!(
        elapsed < WALL_LIMIT + SAFETY_BOUND,
        "{what} took {elapsed:?} of wall-clock time"
    );
    result
}

// The typedefs stand-in spells Kong's protocol lists in Lua; these tests hold them equal to
// the crate's (`schema::protocols`).
const HTTP_PROTOCOLS: &[&str] = &crate::schema::protocols::PLUGIN_DEFAULT;
const ALL_PROTOCOLS: &[&str] = &crate::schema::protocols::ALL;

// ----- valid plugins -----

#[test]
fn every_valid_plugin_evaluates_and_loads() {
    let mut plugins: Vec<_> = std::fs::read_dir(testdata().join("valid"))
        .expect("testdata/lua/valid")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    plugins.sort();
    assert!(plugins.len() >= 6, "{plugins:?}");
    for plugin in &plugins {
        let schema = valid_schema(plugin);
        assert_eq!(&schema.name, plugin);
        assert_eq!(schema.config().map(|c| c.ty), Some(FieldType::Record));
        let handler = read(&format!("valid/{plugin}/handler.lua"));
        let info = load_handler(&handler, crate::lua::DEFAULT_PROFILE, &[])
            .unwrap_or_else(|e| panic!("{plugin}: {e}"));
        assert!(info.returned_table, "{plugin}");
        assert!(
            info.priority.is_some() && info.version.is_some(),
            "{plugin}: {info:?}"
        );
        assert!(syntax_errors(&handler).is_empty(), "{plugin}");
        assert!(schema_findings(&read(&format!("valid/{plugin}/schema.lua"))).is_empty());
    }
}

#[test]
fn rate_guard() {
    let s = valid_schema("rate-guard");
    assert_eq!(names(&s.fields), ["protocols", "config"]);
    let protocols = field(&s, "protocols");
    assert_eq!(protocols.ty, FieldType::Set);
    assert_eq!(protocols.required, Some(true));
    assert_eq!(protocols.default, Some(json!(HTTP_PROTOCOLS)));
    let elements = protocols.elements.as_deref().expect("elements");
    assert_eq!(
        elements.validators.one_of,
        Some(json_strings(HTTP_PROTOCOLS))
    );

    let config = field(&s, "config");
    assert_eq!(
        names(&config.fields),
        [
            "second",
            "minute",
            "hour",
            "day",
            "limit_by",
            "header_name",
            "path",
            "policy",
            "fault_tolerant",
            "redis",
            "hide_client_headers",
            "error_code",
            "error_message"
        ]
    );
    let second = field(&s, "config.second");
    assert_eq!(second.ty, FieldType::Number);
    assert_eq!(second.validators.gt, Some(0.0));
    assert_eq!(
        second.description.as_deref(),
        Some("The number of HTTP requests that can be made per second.")
    );
    let limit_by = field(&s, "config.limit_by");
    assert_eq!(limit_by.default, Some(json!("consumer")));
    assert_eq!(
        limit_by.validators.one_of,
        Some(json_strings(&[
            "consumer",
            "credential",
            "ip",
            "service",
            "header",
            "path"
        ]))
    );
    assert_eq!(
        field(&s, "config.header_name").builtins,
        [Builtin::HeaderName]
    );
    let path = field(&s, "config.path");
    assert_eq!(path.validators.starts_with.as_deref(), Some("/"));
    assert_eq!(
        path.validators.match_none,
        Some(vec![PatternErr {
            pattern: "//".into(),
            err: "must not have empty segments".into()
        }])
    );
    assert_eq!(path.builtins, [Builtin::Path]);
    assert_eq!(field(&s, "config.policy").validators.len_min, Some(0));

    let redis = field(&s, "config.redis");
    assert_eq!(redis.required, None);
    assert!(redis.is_required());
    assert_eq!(field(&s, "config.redis.host").builtins, [Builtin::Host]);
    let port = field(&s, "config.redis.port");
    assert_eq!(port.ty, FieldType::Integer);
    assert_eq!(port.validators.between, Some((0.0, 65535.0)));
    assert_eq!(port.default, Some(json!(6379)));
    let password = field(&s, "config.redis.password");
    assert!(password.referenceable && password.encrypted);
    let timeout = field(&s, "config.redis.timeout");
    assert_eq!(timeout.validators.between, Some((0.0, 2_147_483_646.0)));
    assert_eq!(timeout.default, Some(json!(2000)));
    assert_eq!(
        field(&s, "config.fault_tolerant").default,
        Some(json!(true))
    );

    assert_eq!(
        config.entity_checks,
        [EntityCheck::AtLeastOneOf(strings(&[
            "second", "minute", "hour", "day"
        ]))]
    );
    let mut if_match = Field::new(FieldType::String);
    if_match.validators.eq = Some(json!("redis"));
    let mut then_match = Field::new(FieldType::String);
    then_match.required = Some(true);
    assert_eq!(
        s.entity_checks[0],
        EntityCheck::Conditional {
            if_field: "config.policy".into(),
            if_match: Box::new(if_match),
            then_field: "config.redis.host".into(),
            then_match: Box::new(then_match),
            then_err: None,
        }
    );
    assert_eq!(s.entity_checks.len(), 2);
    assert!(!s.has_check_function);
}

#[test]
fn header_stamp() {
    let s = valid_schema("header-stamp");
    assert_eq!(names(&s.fields), ["consumer", "protocols", "config"]);
    let consumer = field(&s, "consumer");
    assert_eq!(consumer.ty, FieldType::Foreign);
    assert_eq!(consumer.reference.as_deref(), Some("consumers"));
    assert_eq!(consumer.validators.eq, Some(Value::Null));

    assert_eq!(
        field(&s, "config.http_method")
            .validators
            .r#match
            .as_deref(),
        Some("^%u+$")
    );
    let headers = field(&s, "config.add.headers");
    assert_eq!(headers.ty, FieldType::Array);
    assert_eq!(headers.default, Some(json!([])));
    assert_eq!(
        headers
            .elements
            .as_deref()
            .and_then(|e| e.validators.r#match.as_deref()),
        Some("^[^:]+:.*$")
    );
    let rename = field(&s, "config.rename");
    assert_eq!(rename.ty, FieldType::Map);
    assert_eq!(rename.default, Some(json!({})));
    let keys = rename.keys.as_deref().expect("keys");
    assert_eq!(
        (keys.ty, keys.builtins.as_slice()),
        (FieldType::String, &[Builtin::HeaderName][..])
    );
    let values = rename.values.as_deref().expect("values");
    assert_eq!(values.required, Some(true));
    assert_eq!(values.builtins, [Builtin::HeaderName]);
    let stamp = field(&s, "config.stamp");
    assert_eq!(stamp.default, Some(json!("X-Stamped-By")));
    assert_eq!(
        stamp.validators.match_none,
        Some(vec![PatternErr {
            pattern: "^[Hh]ost$".into(),
            err: "cannot stamp the Host header".into()
        }])
    );
}

#[test]
fn http_audit() {
    let s = valid_schema("http-audit");
    let protocols = field(&s, "protocols");
    assert_eq!(
        protocols
            .elements
            .as_deref()
            .and_then(|e| e.validators.one_of.clone()),
        Some(json_strings(ALL_PROTOCOLS))
    );
    let group = field(&s, "consumer_group");
    assert_eq!(group.reference.as_deref(), Some("consumer_groups"));
    assert_eq!(group.validators.eq, Some(Value::Null));

    let endpoint = field(&s, "config.http_endpoint");
    assert_eq!(endpoint.builtins, [Builtin::Url]);
    assert_eq!(endpoint.required, Some(true));
    assert!(endpoint.encrypted && endpoint.referenceable);
    assert!(!endpoint.has_custom_validator);

    let queue = field(&s, "config.queue");
    assert_eq!(
        names(&queue.fields),
        [
            "max_batch_size",
            "max_coalescing_delay",
            "max_entries",
            "max_bytes",
            "max_retry_time",
            "initial_retry_delay",
            "max_retry_delay",
            "concurrency_limit"
        ]
    );
    let batch = field(&s, "config.queue.max_batch_size");
    assert_eq!(
        (batch.default.clone(), batch.validators.between),
        (Some(json!(1)), Some((1.0, 1e6)))
    );
    assert_eq!(
        field(&s, "config.queue.initial_retry_delay").default,
        Some(json!(0.01))
    );
    assert_eq!(field(&s, "config.queue.max_bytes").default, None);

    let lua_code = field(&s, "config.custom_fields_by_lua");
    assert_eq!(lua_code.ty, FieldType::Map);
    assert_eq!(
        lua_code.keys.as_deref().and_then(|k| k.validators.len_min),
        Some(1)
    );
    assert_eq!(
        lua_code.values.as_deref().map(|v| v.builtins.clone()),
        Some(vec![Builtin::LuaCode])
    );

    let headers = field(&s, "config.headers");
    let keys = headers.keys.as_deref().expect("keys");
    assert_eq!(keys.builtins, [Builtin::HeaderName]);
    assert_eq!(keys.validators.match_none.as_ref().map(Vec::len), Some(2));
    assert_eq!(field(&s, "config.tags").default, Some(json!(["audit"])));
    assert_eq!(field(&s, "config.sample_rate").default, Some(json!(1)));
    assert_eq!(
        field(&s, "config").entity_checks,
        [EntityCheck::CustomEntityCheck {
            field_sources: strings(&["retry_count", "queue"]),
            custom_fn: Some(0),
            run_with_missing: false,
            run_with_invalid: false,
        }]
    );
}

#[test]
fn ip_gate() {
    let s = valid_schema("ip-gate");
    assert_eq!(
        field(&s, "protocols").default,
        Some(json!(["http", "https", "tcp", "tls", "grpc", "grpcs"]))
    );
    let allow = field(&s, "config.allow");
    assert_eq!(
        allow.elements.as_deref().map(|e| e.builtins.clone()),
        Some(vec![Builtin::IpOrCidr])
    );
    let status = field(&s, "config.status");
    assert_eq!(
        (status.required, status.validators.between),
        (Some(false), Some((100.0, 599.0)))
    );
    assert_eq!(
        field(&s, "config.mode").validators.not_one_of,
        Some(json_strings(&["audit-only"]))
    );
    assert_eq!(
        s.entity_checks,
        [
            EntityCheck::AtLeastOneOf(strings(&["config.allow", "config.deny"])),
            EntityCheck::MutuallyRequired(strings(&["config.status", "config.message"])),
        ]
    );
}

#[test]
fn cors_lite() {
    let s = valid_schema("cors-lite");
    let origins = field(&s, "config.origins");
    let element = origins.elements.as_deref().expect("elements");
    assert!(element.has_custom_validator);
    assert!(element.builtins.is_empty());
    let methods = field(&s, "config.methods");
    let all = [
        "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    assert_eq!(methods.default, Some(json!(all)));
    assert_eq!(field(&s, "config.max_age").validators.gt, Some(-1.0));
    assert_eq!(field(&s, "config.credentials").default, Some(json!(false)));

    let mut if_match = Field::new(FieldType::Boolean);
    if_match.validators.eq = Some(json!(true));
    let mut then_match = Field::new(FieldType::Array);
    then_match.validators.len_min = Some(1);
    assert_eq!(
        field(&s, "config").entity_checks,
        [EntityCheck::Conditional {
            if_field: "credentials".into(),
            if_match: Box::new(if_match),
            then_field: "origins".into(),
            then_match: Box::new(then_match),
            then_err: Some("credentials need explicit origins".into()),
        }]
    );
}

#[test]
fn statsd_mini() {
    let s = valid_schema("statsd-mini");
    let host = field(&s, "config.host");
    assert_eq!(
        (host.default.clone(), host.builtins.as_slice()),
        (Some(json!("localhost")), &[Builtin::Host][..])
    );
    let port = field(&s, "config.port");
    assert_eq!(
        (port.default.clone(), port.validators.between),
        (Some(json!(8125)), Some((0.0, 65535.0)))
    );
    let metrics = field(&s, "config.metrics");
    assert_eq!(metrics.required, Some(true));
    assert_eq!(
        metrics.default,
        Some(json!([
            { "name": "request_count", "stat_type": "counter", "sample_rate": 1 },
            { "name": "latency", "stat_type": "timer" },
            { "name": "unique_users", "stat_type": "set", "consumer_identifier": "custom_id" },
        ]))
    );
    let metric = metrics.elements.as_deref().expect("elements");
    assert_eq!(
        names(&metric.fields),
        ["name", "stat_type", "sample_rate", "consumer_identifier"]
    );
    let mut stat_types = Field::new(FieldType::String);
    stat_types.validators.one_of = Some(json_strings(&["counter", "gauge"]));
    let mut sample_rate = Field::new(FieldType::Number);
    sample_rate.required = Some(true);
    let mut unique = Field::new(FieldType::String);
    unique.validators.eq = Some(json!("unique_users"));
    assert_eq!(
        metric.entity_checks,
        [
            EntityCheck::Conditional {
                if_field: "stat_type".into(),
                if_match: Box::new(stat_types),
                then_field: "sample_rate".into(),
                then_match: Box::new(sample_rate),
                then_err: None,
            },
            EntityCheck::ConditionalAtLeastOneOf {
                if_field: "name".into(),
                if_match: Box::new(unique),
                then_at_least_one_of: strings(&["consumer_identifier"]),
                then_err: Some("unique_users needs a consumer identifier".into()),
                else_match: None,
                else_then_at_least_one_of: None,
                else_then_err: None,
            },
        ]
    );
    let udp = field(&s, "config.udp_packet_size");
    assert_eq!(
        (udp.default.clone(), udp.validators.between),
        (Some(json!(0)), Some((0.0, 65507.0)))
    );
    let tags = field(&s, "config.extra_tags");
    assert_eq!(tags.ty, FieldType::Set);
    assert_eq!(
        tags.elements
            .as_deref()
            .and_then(|e| e.validators.r#match.as_deref()),
        Some("^[%w_%.%-]+:[%w_%.%-]+$")
    );
}

#[test]
fn set_header() {
    let s = valid_schema("set-header");
    let name = field(&s, "config.name");
    assert_eq!(name.required, Some(true));
    assert_eq!(
        name.description.as_deref(),
        Some("The name of the header to set.")
    );
    assert_eq!(field(&s, "protocols").default, Some(json!(HTTP_PROTOCOLS)));
}

#[test]
fn valid_handlers() {
    let expected: &[(&str, f64, &str, &[&str])] = &[
        ("cors-lite", 2000.0, "2.1.3", &["access", "header_filter"]),
        ("header-stamp", 801.0, "0.3.1", &["access", "header_filter"]),
        ("http-audit", 12.0, "2.0.0", &["log"]),
        ("ip-gate", 990.0, "1.0.0", &["access", "preread"]),
        ("rate-guard", 910.0, "1.2.0", &["access"]),
        ("set-header", 500.0, "1.0,0", &["access"]),
        ("statsd-mini", 11.0, "3.0.0", &["log"]),
    ];
    for (plugin, priority, version, phases) in expected {
        let info = load_handler(
            &read(&format!("valid/{plugin}/handler.lua")),
            crate::lua::DEFAULT_PROFILE,
            &[],
        )
        .unwrap_or_else(|e| panic!("{plugin}: {e}"));
        assert_eq!(
            info,
            HandlerInfo {
                priority: Some(*priority),
                priority_type: Some("number"),
                version: Some(version.to_string()),
                version_type: Some("string"),
                phases: strings(phases),
                returned_table: true,
                returned_type: "table",
                kong_error: None,
            },
            "{plugin}"
        );
    }
}

// ----- typedefs -----

const TYPEDEFS: &[&str] = &[
    "http_method",
    "protocol",
    "host",
    "redis_host",
    "host_with_optional_port",
    "wildcard_host",
    "ip",
    "ip_or_cidr",
    "cidr_v4",
    "cidr",
    "port",
    "path",
    "url",
    "cookie_name",
    "header_name",
    "timeout",
    "uuid",
    "auto_timestamp_s",
    "auto_timestamp_ms",
    "no_route",
    "no_service",
    "no_consumer",
    "no_consumer_group",
    "name",
    "utf8_name",
    "sni",
    "redis_server_name",
    "certificate",
    "key",
    "tag",
    "tags",
    "capability",
    "protocols",
    "protocols_http",
    "protocols_http_and_ws",
    "sources",
    "no_sources",
    "destinations",
    "no_destinations",
    "methods",
    "no_methods",
    "hosts",
    "no_hosts",
    "router_path",
    "router_paths",
    "no_paths",
    "headers",
    "no_headers",
    "semantic_version",
    "pem",
    "jwk",
    "queue",
    "propagation",
    "lua_code",
    "ttl",
];

/// A schema whose config holds `{ <name> = typedefs.<name> <call> }` for each name.
fn typedefs_schema(entries: &[String]) -> String {
    format!(
        "local typedefs = require \"kong.db.schema.typedefs\"\n\
         return {{ name = \"typedefs\", fields = {{ {{ config = {{ type = \"record\", fields = {{\n{}\n}} }} }} }} }}",
        entries.join(",\n")
    )
}

fn assert_endpoints(f: &Field, eq_null: bool) {
    assert_eq!(f.ty, FieldType::Set);
    assert_eq!(f.validators.eq.is_some(), eq_null);
    let record = f.elements.as_deref().expect("elements");
    assert_eq!(record.ty, FieldType::Record);
    assert_eq!(names(&record.fields), ["ip", "port"]);
    assert_eq!(
        record.field("ip").map(|i| i.builtins.clone()),
        Some(vec![Builtin::IpOrCidr])
    );
    assert_eq!(
        record.entity_checks,
        [EntityCheck::AtLeastOneOf(strings(&["ip", "port"]))]
    );
}

fn assert_string_builtin(f: &Field, builtin: Builtin) {
    assert_eq!(f.ty, FieldType::String);
    assert_eq!(f.builtins, [builtin]);
    assert!(!f.has_custom_validator);
}

fn check_typedef(name: &str, f: &Field) {
    use FieldType as T;
    match name {
        "http_method" => assert_eq!(
            (f.ty, f.validators.r#match.as_deref()),
            (T::String, Some("^%u+$"))
        ),
        "protocol" => assert_eq!(f.validators.one_of, Some(json_strings(ALL_PROTOCOLS))),
        "host" | "redis_host" => assert_string_builtin(f, Builtin::Host),
        "host_with_optional_port" => assert_string_builtin(f, Builtin::HostWithOptionalPort),
        "wildcard_host" => assert_string_builtin(f, Builtin::WildcardHost),
        "ip" => assert_string_builtin(f, Builtin::Ip),
        "ip_or_cidr" => assert_string_builtin(f, Builtin::IpOrCidr),
        "cidr_v4" | "cidr" => assert_string_builtin(f, Builtin::CidrV4),
        "port" => assert_eq!(
            (f.ty, f.validators.between),
            (T::Integer, Some((0.0, 65535.0)))
        ),
        "path" => {
            assert_string_builtin(f, Builtin::Path);
            assert_eq!(f.validators.starts_with.as_deref(), Some("/"));
            assert_eq!(f.validators.match_none.as_ref().map(Vec::len), Some(1));
        }
        "url" => assert_string_builtin(f, Builtin::Url),
        "cookie_name" => assert_string_builtin(f, Builtin::CookieName),
        "header_name" => assert_string_builtin(f, Builtin::HeaderName),
        "timeout" => assert_eq!(
            (f.ty, f.validators.between),
            (T::Integer, Some((0.0, 2_147_483_646.0)))
        ),
        "uuid" => assert!(f.ty == T::String && f.validators.uuid && f.auto),
        "auto_timestamp_s" => assert!(f.ty == T::Integer && f.validators.timestamp && f.auto),
        "auto_timestamp_ms" => assert!(f.ty == T::Number && f.validators.timestamp && f.auto),
        "no_route" | "no_service" | "no_consumer" | "no_consumer_group" => {
            let reference = match name {
                "no_route" => "routes",
                "no_service" => "services",
                "no_consumer" => "consumers",
                _ => "consumer_groups",
            };
            assert_eq!(f.ty, T::Foreign);
            assert_eq!(f.reference.as_deref(), Some(reference));
            assert_eq!(f.validators.eq, Some(Value::Null));
        }
        "name" => assert_eq!(f.validators.r#match.as_deref(), Some("^[%w%.%-%_~]+$")),
        "utf8_name" => assert_string_builtin(f, Builtin::Utf8Name),
        "sni" | "redis_server_name" => assert_string_builtin(f, Builtin::Sni),
        "certificate" | "key" => assert_string_builtin(f, Builtin::Pem),
        "tag" => {
            assert_string_builtin(f, Builtin::Tag);
            assert_eq!(f.required, Some(true));
        }
        "tags" => {
            assert_eq!(f.ty, T::Set);
            assert_eq!(
                f.elements.as_deref().map(|e| e.builtins.clone()),
                Some(vec![Builtin::Tag])
            );
        }
        "capability" => assert_eq!(*f, Field::new(T::String)),
        "protocols" | "protocols_http" | "protocols_http_and_ws" => {
            let allowed: &[&str] = match name {
                "protocols" => ALL_PROTOCOLS,
                "protocols_http" => HTTP_PROTOCOLS,
                _ => &crate::schema::protocols::HTTP_AND_WS,
            };
            assert_eq!((f.ty, f.required), (T::Set, Some(true)));
            assert_eq!(f.default, Some(json!(HTTP_PROTOCOLS)));
            assert_eq!(
                f.elements
                    .as_deref()
                    .and_then(|e| e.validators.one_of.clone()),
                Some(json_strings(allowed))
            );
        }
        "sources" | "destinations" => assert_endpoints(f, false),
        "no_sources" | "no_destinations" => assert_endpoints(f, true),
        "methods" | "no_methods" => {
            assert_eq!(f.ty, T::Set);
            assert_eq!(f.validators.eq.is_some(), name == "no_methods");
            assert_eq!(
                f.elements
                    .as_deref()
                    .and_then(|e| e.validators.r#match.as_deref()),
                Some("^%u+$")
            );
        }
        "hosts" | "no_hosts" => {
            assert_eq!(f.ty, T::Array);
            assert_eq!(f.validators.eq.is_some(), name == "no_hosts");
            let element = f.elements.as_deref().expect("elements");
            assert_eq!(element.validators.match_all.as_ref().map(Vec::len), Some(1));
            assert_eq!(
                element
                    .validators
                    .match_any
                    .as_ref()
                    .map(|m| m.patterns.len()),
                Some(3)
            );
        }
        "router_path" => {
            assert_string_builtin(f, Builtin::RouterPath);
            assert_eq!(
                f.validators.match_any.as_ref().map(|m| m.patterns.clone()),
                Some(strings(&["^/", "^~/"]))
            );
        }
        "router_paths" | "no_paths" => {
            assert_eq!(f.ty, T::Array);
            assert_eq!(f.validators.eq.is_some(), name == "no_paths");
            assert_eq!(
                f.elements.as_deref().map(|e| e.builtins.clone()),
                Some(vec![Builtin::RouterPath])
            );
        }
        "headers" | "no_headers" => {
            assert_eq!(f.ty, T::Map);
            assert_eq!(f.validators.eq.is_some(), name == "no_headers");
            assert_eq!(
                f.keys.as_deref().map(|k| k.builtins.clone()),
                Some(vec![Builtin::HeaderName])
            );
            assert_eq!(f.values.as_deref().map(|v| v.ty), Some(T::Array));
        }
        "semantic_version" => {
            assert_eq!(f.ty, T::String);
            assert!(f.builtins.is_empty());
            assert_eq!(
                f.validators.match_any.as_ref().map(|m| m.patterns.len()),
                Some(2)
            );
            assert_eq!(
                f.validators.match_none,
                Some(vec![PatternErr {
                    pattern: "%.%.".into(),
                    err: "must not have empty version segments".into()
                }])
            );
        }
        "pem" => {
            assert_eq!((f.ty, f.required), (T::Record, Some(false)));
            assert_eq!(names(&f.fields), ["private_key", "public_key"]);
            let private = f.field("private_key").expect("private_key");
            assert!(private.referenceable && private.encrypted);
            assert!(f.builtins.is_empty() && !f.has_custom_validator);
            assert_eq!(
                f.entity_checks,
                [EntityCheck::AtLeastOneOf(strings(&[
                    "private_key",
                    "public_key"
                ]))]
            );
        }
        "jwk" => {
            assert_eq!((f.ty, f.required), (T::Record, Some(false)));
            assert_eq!(f.fields.len(), 25);
            assert_eq!(f.field("kid").and_then(|k| k.required), Some(true));
            assert_eq!(f.field("x5t#S256").map(|k| k.ty), Some(T::String));
            assert_eq!(f.field("x5c").map(|k| k.ty), Some(T::Array));
        }
        "queue" => {
            assert_eq!(f.ty, T::Record);
            assert_eq!(f.fields.len(), 8);
            let limit = f.field("concurrency_limit").expect("concurrency_limit");
            assert_eq!(limit.validators.one_of, Some(vec![json!(-1), json!(1)]));
            assert_eq!(limit.default, Some(json!(1)));
        }
        "propagation" => {
            assert_eq!(
                names(&f.fields),
                ["extract", "clear", "inject", "default_format"]
            );
            let clear = f
                .field("clear")
                .and_then(|c| c.elements.as_deref())
                .expect("clear");
            assert_eq!(clear.builtins, [Builtin::HeaderName]);
            assert_eq!(
                f.field("default_format").and_then(|d| d.required),
                Some(true)
            );
        }
        "lua_code" => {
            assert_eq!(f.ty, T::Map);
            assert_eq!(
                f.values.as_deref().map(|v| v.builtins.clone()),
                Some(vec![Builtin::LuaCode])
            );
        }
        "ttl" => assert_eq!((f.ty, f.validators.between), (T::Number, Some((0.0, 1e8)))),
        other => panic!("no expectation for typedef {other}"),
    }
}

#[test]
fn every_typedef_evaluates_with_its_attributes() {
    let entries: Vec<String> = TYPEDEFS
        .iter()
        .map(|n| format!("{{ [\"{n}\"] = typedefs.{n} }}"))
        .collect();
    let schema = eval(&typedefs_schema(&entries)).expect("typedefs schema");
    let config = schema.config().expect("config");
    assert_eq!(names(&config.fields), TYPEDEFS);
    for (name, f) in &config.fields {
        check_typedef(name, f);
    }
}

#[test]
fn typedef_calls_override_keys_and_keep_the_rest() {
    let entries = [
        "{ a = typedefs.port { default = 8125 } }",
        "{ b = typedefs.port }",
        "{ c = typedefs.host { required = true, default = \"localhost\" } }",
        "{ d = typedefs.header_name { custom_validator = function(v) return true end } }",
        "{ e = typedefs.timeout() }",
        "{ f = typedefs.protocols_http { default = { \"https\" } } }",
    ]
    .map(String::from);
    let s = eval(&typedefs_schema(&entries)).expect("overrides");
    let a = field(&s, "config.a");
    assert_eq!(
        (a.default.clone(), a.validators.between),
        (Some(json!(8125)), Some((0.0, 65535.0)))
    );
    assert_eq!(
        field(&s, "config.b").default,
        None,
        "the typedef itself is unchanged"
    );
    let c = field(&s, "config.c");
    assert_eq!(
        (c.required, c.default.clone()),
        (Some(true), Some(json!("localhost")))
    );
    assert_eq!(c.builtins, [Builtin::Host]);
    let d = field(&s, "config.d");
    assert!(d.has_custom_validator && d.builtins.is_empty());
    assert_eq!(
        field(&s, "config.e").validators.between,
        Some((0.0, 2_147_483_646.0))
    );
    let f = field(&s, "config.f");
    assert_eq!(
        (f.default.clone(), f.required),
        (Some(json!(["https"])), Some(true))
    );
}

#[test]
fn unknown_typedef_is_a_clear_error() {
    let err = eval(&read("invalid/schema/unknown_typedef.lua")).unwrap_err();
    assert_eq!(
        err,
        SandboxError::Runtime {
            message: "[string \"schema\"]:2: schema typedef error: definition portt does not exist"
                .into()
        }
    );
}

#[test]
fn null_defaults_and_json_fields() {
    let s = eval(
        r#"return { name = "n", fields = { { config = { type = "record", fields = {
            { body = { type = "json", json_schema = { inline = { type = "object" } } } },
            { labels = { type = "map", keys = { type = "string" }, values = { type = "string" }, default = {} } },
            { limits = { type = "record", fields = { { a = { type = "number" } } }, default = {} } },
            { ratio = { type = "number", default = 2.5 } },
            { codes = { type = "set", elements = { type = "integer" }, default = { 200, 201 } } },
        } } } } }"#,
    )
    .expect("schema");
    assert_eq!(
        field(&s, "config.body").json_schema,
        Some(json!({ "inline": { "type": "object" } }))
    );
    assert_eq!(field(&s, "config.labels").default, Some(json!({})));
    assert_eq!(field(&s, "config.limits").default, Some(json!({})));
    assert_eq!(field(&s, "config.ratio").default, Some(json!(2.5)));
    assert_eq!(field(&s, "config.codes").default, Some(json!([200, 201])));
}

#[test]
fn top_level_check_and_shorthands_are_refused_field_shorthands_accepted() {
    let err = eval(
        r#"return { name = "c", check = function() return true end,
            shorthand_fields = { { old = { type = "string", func = function(v) return { new = v } end } } },
            fields = { { config = { type = "record", fields = { { new = { type = "string" } } } } } } }"#,
    )
    .unwrap_err();
    assert_eq!(
        err.kong_message("schema"),
        "schema validation error (2 schema violations (check: unknown field; shorthand_fields: unknown field))"
    );
    let s = eval(
        r#"return { name = "c",
            fields = { { config = { type = "record", fields = { { new = { type = "string" } } },
              shorthand_fields = { { older = { type = "string", func = function(v) return {} end } } } } } } }"#,
    )
    .expect("schema");
    assert_eq!(names(&field(&s, "config").fields), ["new"]);
}

// ----- hostile and invalid files -----

#[derive(Debug)]
enum Expect {
    /// Kong accepts it on create (what breaks later is a load or validation matter).
    Valid,
    /// Kong's create-time validation error containing this text.
    Kong(&'static str),
    Budget,
    Memory,
    Forbidden(&'static str),
    /// Runtime error whose message contains this text.
    Runtime(&'static str),
    /// Metaschema error with exactly this message.
    Meta(&'static str),
    Syntax(usize),
}

const INVALID_SCHEMAS: &[(&str, Expect)] = &[
    ("array_without_elements_no_default", Expect::Valid),
    ("array_without_elements", Expect::Kong("default = \"error in schema prevents from validating this field\"")),
    ("attribute_wrong_type", Expect::Valid),
    ("collectgarbage_call", Expect::Runtime("attempt to call global 'collectgarbage' (a nil value)")),
    ("concat_bomb", Expect::Memory),
    ("config_not_record", Expect::Meta("config: must be a record (got a field of type 'map')")),
    ("cyclic_record", Expect::Meta("fields are nested more than 32 levels deep")),
    ("debug_lib", Expect::Runtime("attempt to index global 'debug' (a nil value)")),
    ("default_wrong_type", Expect::Kong("default = \"expected an integer\"")),
    ("match_all_not_array", Expect::Kong("match_all = \"expected an array\"")),
    ("match_none_without_pattern", Expect::Kong("match_none = {\n        {\n          pattern = \"required field missing\"")),
    ("unique_across_ws_alone", Expect::Kong("[\"@entity\"] = {\n        \"failed conditional validation given value of field 'unique_across_ws'\"\n      },\n      unique = \"required field missing\"")),
    ("default_breaks_validator", Expect::Kong("{\n      default = \"length must be at least 1\"\n    },\n    {\n      default = \"expected one of: a, b\"\n    }")),
    ("deprecation_incomplete", Expect::Kong("deprecation = {\n        removal_in_version = \"required field missing\"")),
    ("dofile_call", Expect::Runtime("attempt to call global 'dofile' (a nil value)")),
    ("field_entry_two_keys", Expect::Kong("schema violation (fields.1: length must be 1)")),
    ("fields_not_array", Expect::Kong("schema violation (fields: expected an array)")),
    ("function_field", Expect::Meta("config.hook: entities cannot have function types")),
    ("getfenv_escape", Expect::Runtime("attempt to call global 'getfenv' (a nil value)")),
    ("io_open", Expect::Runtime("attempt to call field 'open' (a nil value)")),
    ("json_without_schema", Expect::Valid),
    ("load_chunk", Expect::Runtime("attempt to call global 'load' (a nil value)")),
    ("loadstring_chunk", Expect::Runtime("attempt to call global 'loadstring' (a nil value)")),
    ("loop_forever", Expect::Budget),
    ("loop_in_coroutine", Expect::Budget),
    ("loop_in_pcall", Expect::Budget),
    ("map_without_values", Expect::Valid),
    ("missing_config", Expect::Valid),
    ("missing_fields", Expect::Meta("error in schema definition: no 'fields' table")),
    ("missing_name", Expect::Kong("missing name")),
    ("missing_type", Expect::Kong("type = \"required field missing\"")),
    ("name_not_string", Expect::Kong("invalid name")),
    ("new_top_level_field", Expect::Meta("settings: cannot create a new field")),
    ("newproxy_gc", Expect::Runtime("attempt to call global 'newproxy' (a nil value)")),
    ("os_execute", Expect::Runtime("attempt to call field 'execute' (a nil value)")),
    ("pattern_bomb", Expect::Runtime("pattern matching on a 20000-byte subject with 5 quantifier(s) is more than the plugin sandbox allows")),
    ("protocols_wrong_type", Expect::Meta("protocols: cannot change type in a specialized field (Kong declares it as set of string)")),
    ("record_without_fields", Expect::Valid),
    ("recurse_forever", Expect::Runtime("stack overflow")),
    ("recurse_metamethod", Expect::Runtime("attempt to call global 'setmetatable' (a nil value)")),
    ("require_other", Expect::Forbidden("resty.openssl")),
    ("require_package", Expect::Runtime("attempt to index global 'package' (a nil value)")),
    ("returns_nothing", Expect::Kong("expected table, got nil")),
    ("setfenv_escape", Expect::Runtime("attempt to call global 'setfenv' (a nil value)")),
    ("string_dump", Expect::Runtime("attempt to call field 'dump' (a nil value)")),
    ("string_rep_bomb", Expect::Runtime("string.rep: a result of 1073741824 bytes is more than the plugin sandbox allows")),
    ("string_rep_method_bomb", Expect::Runtime("string.rep: a result of 1500000000 bytes")),
    ("stub_default", Expect::Runtime("attempt to index global 'kong' (a nil value)")),
    ("syntax_error", Expect::Syntax(6)),
    ("table_bomb", Expect::Memory),
    ("unknown_attribute", Expect::Kong("requried = \"unknown field\"")),
    ("unknown_type", Expect::Kong("type = \"expected one of: array, set, string")),
    ("unknown_typedef", Expect::Runtime("schema typedef error: definition portt does not exist")),
];

fn assert_expected(what: &str, result: Result<(), SandboxError>, expect: &Expect) {
    if let Expect::Valid = expect {
        assert!(
            result.is_ok(),
            "{what}: expected Kong to accept it, got {result:?}"
        );
        return;
    }
    let err = match result {
        Ok(()) => panic!("{what}: evaluated, expected {expect:?}"),
        Err(e) => e,
    };
    let ok = match (expect, &err) {
        (Expect::Budget, SandboxError::Budget) | (Expect::Memory, SandboxError::Memory) => true,
        // A memory bomb on a loaded machine can spend its wall-clock budget before it reaches
        // the memory cap: either way it ends, quickly, in a clear error.
        (Expect::Memory, SandboxError::Budget) => true,
        (Expect::Forbidden(n), SandboxError::ForbiddenModule { name, .. }) => name == n,
        (Expect::Runtime(text), SandboxError::Runtime { message }) => message.contains(text),
        (Expect::Meta(text), SandboxError::Metaschema { message }) => {
            message == text || (text.starts_with("fields are nested") && message.ends_with(text))
        }
        (Expect::Syntax(line), SandboxError::Syntax { line: l, .. }) => l == line,
        (Expect::Kong(text), SandboxError::Validation { message }) => message.contains(text),
        _ => false,
    };
    assert!(ok, "{what}: expected {expect:?}, got {err:?}");
}

#[test]
fn every_hostile_or_invalid_schema_ends_in_its_error() {
    let mut files: Vec<String> = std::fs::read_dir(testdata().join("invalid/schema"))
        .expect("testdata/lua/invalid/schema")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut covered: Vec<String> = INVALID_SCHEMAS
        .iter()
        .map(|(n, _)| format!("{n}.lua"))
        .collect();
    covered.sort();
    assert_eq!(
        files, covered,
        "every invalid schema file has an expectation"
    );
    let failures: Vec<String> = INVALID_SCHEMAS
        .iter()
        .filter_map(|(name, expect)| {
            let source = read(&format!("invalid/schema/{name}.lua"));
            let result = within_bound(name, || eval(&source).map(|_| ()));
            std::panic::catch_unwind(|| assert_expected(name, result, expect))
                .err()
                .map(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| name.to_string())
                })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hostile_handlers_end_in_their_error() {
    let cases = [
        ("loop_forever", Expect::Budget),
        ("table_bomb", Expect::Memory),
        (
            "os_execute_top_level",
            Expect::Runtime(
                "[string \"handler\"]:2: attempt to call field 'execute' (a nil value)",
            ),
        ),
        ("syntax_error", Expect::Syntax(5)),
    ];
    for (name, expect) in &cases {
        let source = read(&format!("invalid/handler/{name}.lua"));
        let result = within_bound(name, || {
            load_handler(&source, crate::lua::DEFAULT_PROFILE, &[]).map(|_| ())
        });
        assert_expected(name, result, expect);
    }
}

#[test]
fn odd_handlers_load_and_describe_themselves() {
    let info = load_handler(
        &read("invalid/handler/bad_shape.lua"),
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .expect("loads");
    assert!(!info.returned_table);
    assert_eq!(
        info.kong_error.as_deref(),
        Some("expected table, got string")
    );
    let info = load_handler(
        &read("invalid/handler/string_priority.lua"),
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .expect("loads");
    assert_eq!(
        (
            info.priority,
            info.priority_type,
            info.version,
            info.version_type
        ),
        (None, Some("string"), None, Some("number"))
    );
    let info = load_handler(
        &read("invalid/handler/init_worker.lua"),
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .expect("loads");
    assert_eq!(info.phases, ["access", "init_worker"]);
    let err = load_handler(
        &read("invalid/handler/requires.lua"),
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.kong_message("handler"),
        "handler load failure ([string \"handler\"]:5: require 'kong.plugins.x' not allowed within sandbox)"
    );
}

#[test]
fn budget_and_memory_survive_every_way_of_catching() {
    let cases = [
        (
            "xpcall(function() while true do end end, function(e) return e end) while true do end",
            Expect::Budget,
        ),
        (
            "local f = coroutine.wrap(function() while true do end end) f()",
            Expect::Budget,
        ),
        (
            "while true do local ok = pcall(error, 'x') end",
            Expect::Budget,
        ),
        (
            "local function f() return f() end return f()",
            Expect::Budget,
        ),
        (
            "while true do pcall(function() local t = {} for i = 1, 1e9 do t[i] = i end end) end",
            Expect::Memory,
        ),
        (
            "local s = string.rep('ab', 4 * 1024 * 1024) return s .. s .. s .. s .. s",
            Expect::Memory,
        ),
        (
            "local t = {} for i = 1, 200001 do t[i] = i end table.sort(t)",
            Expect::Runtime("table.sort: more than 100000 elements"),
        ),
        (
            "return ('x'):rep(100):gsub('x-x-x-x-x-y', '')",
            Expect::Runtime("pattern matching on a 100-byte subject"),
        ),
    ];
    for (source, expect) in &cases {
        let result = within_bound(source, || eval(source).map(|_| ()));
        assert_expected(source, result, expect);
    }
}

#[test]
fn the_environment_holds_only_safe_libraries() {
    let probe = r#"
        local names = { "io", "os", "debug", "package", "ffi", "jit", "dofile", "loadfile", "load",
          "loadstring", "collectgarbage", "gcinfo", "getfenv", "setfenv", "newproxy", "module",
          "getmetatable", "setmetatable", "rawget", "ngx", "kong" }
        local out = {}
        for _, n in ipairs(names) do out[#out + 1] = n .. "=" .. type(_G[n]) end
        out[#out + 1] = "dump=" .. type(string.dump)
        out[#out + 1] = "metadump=" .. type(("").dump)
        out[#out + 1] = "execute=" .. type(os.execute)
        out[#out + 1] = "iotype=" .. type(io.type)
        out[#out + 1] = "print=" .. tostring((print("hello")))
        error(table.concat(out, ","), 0)
    "#;
    let err = eval(probe).unwrap_err();
    assert_eq!(
        err,
        SandboxError::Runtime {
            message:
                "io=table,os=table,debug=nil,package=nil,ffi=nil,jit=table,dofile=nil,loadfile=nil,\
                      load=nil,loadstring=nil,collectgarbage=nil,gcinfo=nil,getfenv=nil,\
                      setfenv=nil,newproxy=nil,module=nil,getmetatable=nil,setmetatable=nil,\
                      rawget=nil,ngx=nil,kong=nil,dump=nil,metadump=nil,execute=nil,\
                      iotype=function,print=nil"
                    .into()
        }
    );
}

#[test]
fn bytecode_is_never_loaded_from_user_files() {
    let err = eval("\x1bLua\x51\x00\x01\x04\x08\x04\x08\x00").unwrap_err();
    assert!(
        matches!(&err, SandboxError::Syntax { message, .. } if message.contains("binary")),
        "{err:?}"
    );
}

#[test]
fn handler_stubs_absorb_top_level_code() {
    let info = load_handler(
        r#"local kong = kong
           local cjson = require "cjson.safe"
           local log = kong.log.err
           local enc = cjson.encode({}) .. "x"
           local ok = pcall(require, "resty.lrucache")
           local v = ngx.var.request_uri
           local b = bit.bor(1, 2) + os.time() + (table.new(0, 4).x or 1)
           local meta = require("kong.meta").version
           local ok2, err = pcall(function() ngx.timer.at(0, print) end)
           local http = require("resty.http").new()
           local compat = kong.version_num >= 3000000
           return { PRIORITY = ngx.HTTP_OK, VERSION = kong.version, access = function() end }"#,
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .expect("loads");
    assert_eq!(info.priority, Some(200.0));
    assert_eq!(info.version.as_deref(), Some("3.10.0.0"));
}

#[test]
fn schema_errors_name_the_path() {
    let cases = [
        (
            r#"return { name = "x", fields = { { config = { type = "record", fields = {
                 { r = { type = "record", fields = { { p = { type = "integer", between = { 1, 2, 3 } } } } } } } } } } }"#,
            "config.r.p.between: length must be 2",
        ),
        (
            r#"return { name = "x", fields = { { config = { type = "record", fields = {
                 { l = { type = "array", elements = { type = "string", match_all = { { err = "e" } } } } } } } } } }"#,
            "config.l.elements.match_all[1].pattern: required field missing",
        ),
        (
            r#"return { name = "x", fields = { { config = { type = "record", fields = {
                 { s = { type = "string", description = "short" } } } } } } }"#,
            "config.s.description: length must be at least 10",
        ),
        (
            r#"return { name = "x", fields = { { config = { type = "record", fields = {} } } },
                 entity_checks = { { at_least_one = { "config.a" } } } }"#,
            "entity_checks[1].at_least_one: unknown field",
        ),
        (
            r#"return { name = "x", fields = { { config = { type = "record", fields = {
                 { m = { type = "map", keys = { type = "integer" }, values = { type = "string" } } } } } } } }"#,
            "config.m.keys: map keys must be strings in an entity schema",
        ),
        (
            r#"return { name = "x", version = 2, fields = { { config = { type = "record", fields = {} } } } }"#,
            "version: unknown field",
        ),
        (
            r#"return { name = "x", fields = { { config = { type = "record", fields = {
                 { mode = { type = "string", one_of = { "a", "b" }, default = "c" } } } } } } }"#,
            "config.mode.default: expected one of: a, b",
        ),
    ];
    for (source, message) in cases {
        // Kong's create-time metaschema names the attribute in its own error tree; the
        // load-time checks name the full path.
        let err = eval(source).unwrap_err();
        let attribute = message
            .split(':')
            .next()
            .and_then(|path| path.rsplit('.').next())
            .unwrap_or_default();
        match &err {
            SandboxError::Metaschema { message: m } => assert_eq!(m, message),
            SandboxError::Validation { message: m } => {
                assert!(m.contains(attribute), "{source}: {m}")
            }
            other => panic!("{source}: {other:?}"),
        }
    }
}

#[test]
fn evaluations_run_in_parallel_threads() {
    let sources: Vec<String> = ["rate-guard", "statsd-mini", "http-audit"]
        .iter()
        .map(|p| read(&format!("valid/{p}/schema.lua")))
        .collect();
    let expected: Vec<PluginSchema> = sources.iter().map(|s| eval(s).expect("schema")).collect();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..5 {
                    for (source, want) in sources.iter().zip(&expected) {
                        assert_eq!(&eval(source).expect("schema"), want);
                    }
                }
                let hostile = read("invalid/schema/loop_forever.lua");
                assert_eq!(eval(&hostile), Err(SandboxError::Budget));
            });
        }
    });
}

/// Throughput check for release builds:
/// `cargo test --release --lib lua::tests::throughput -- --ignored`.
#[test]
#[ignore]
fn throughput() {
    let source = read("valid/statsd-mini/schema.lua");
    let started = Instant::now();
    for _ in 0..1000 {
        eval(&source).expect("schema");
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "1000 evaluations took {elapsed:?}"
    );
}

#[test]
fn static_checks_on_testdata() {
    let at = |findings: Vec<Finding>| -> Vec<(Check, usize, usize)> {
        findings
            .iter()
            .map(|f| (f.rule, f.line, f.column))
            .collect()
    };
    let none: &[String] = &[];
    let handler = |name: &str| read(&format!("invalid/handler/{name}.lua"));
    let schema = |name: &str| read(&format!("invalid/schema/{name}.lua"));
    assert_eq!(
        at(handler_findings(
            &handler("timers"),
            crate::lua::DEFAULT_PROFILE,
            none
        )),
        [
            (Check::Timer, 2, 18),
            (Check::Timer, 7, 3),
            (Check::Timer, 8, 3)
        ]
    );
    assert_eq!(
        at(handler_findings(
            &handler("filesystem"),
            crate::lua::DEFAULT_PROFILE,
            none
        )),
        [
            (Check::Filesystem, 4, 13),
            (Check::Filesystem, 6, 3),
            (Check::Filesystem, 7, 15),
            (Check::Filesystem, 8, 3)
        ]
    );
    assert_eq!(
        at(handler_findings(
            &handler("init_worker"),
            crate::lua::DEFAULT_PROFILE,
            none
        )),
        [(Check::InitWorker, 8, 18)]
    );
    assert_eq!(
        at(handler_findings(
            &handler("init_worker_table"),
            crate::lua::DEFAULT_PROFILE,
            none
        )),
        [(Check::InitWorker, 4, 3)]
    );
    assert_eq!(
        at(handler_findings(
            &handler("requires"),
            crate::lua::DEFAULT_PROFILE,
            &["cjson.safe".to_string()]
        )),
        [(Check::Require, 5, 13)]
    );
    assert_eq!(
        at(syntax_errors(&handler("syntax_error"))),
        [(Check::LuaSyntax, 5, 1)]
    );
    assert_eq!(
        at(syntax_errors(&schema("syntax_error"))),
        [(Check::LuaSyntax, 6, 34)]
    );
    assert_eq!(
        at(schema_findings(&schema("require_other"))),
        [(Check::Require, 2, 17)]
    );
    assert_eq!(
        at(schema_findings(&schema("os_execute"))),
        [(Check::Filesystem, 2, 1)]
    );
    assert_eq!(
        at(schema_findings(&schema("io_open"))),
        [(Check::Filesystem, 2, 11)]
    );
    assert_eq!(
        at(schema_findings(&schema("dofile_call"))),
        [(Check::Filesystem, 2, 8)]
    );
    assert!(syntax_errors(&schema("loop_forever")).is_empty());
}

#[test]
fn deep_nesting_in_evaluated_files_is_a_syntax_error() {
    let source = format!("return {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = within_bound("deep parens", || eval(&source)).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Syntax { message, .. } if message.contains("too many syntax levels")),
        "{err:?}"
    );
}

#[test]
fn errors_know_their_line() {
    assert_eq!(
        eval(&read("invalid/schema/syntax_error.lua"))
            .unwrap_err()
            .line(),
        Some(6)
    );
    assert_eq!(
        eval(&read("invalid/schema/os_execute.lua"))
            .unwrap_err()
            .line(),
        Some(2)
    );
    assert_eq!(
        eval(&read("invalid/schema/loop_forever.lua"))
            .unwrap_err()
            .line(),
        None
    );
    assert_eq!(
        eval(&read("invalid/schema/missing_name.lua"))
            .unwrap_err()
            .line(),
        None
    );
    let raised = SandboxError::Runtime {
        message: "string.rep: too large".into(),
    };
    assert_eq!(raised.line(), None);
    // A refused require reached through an alias fails at load, on its own line.
    let refused = load_handler(
        "local a = 1\nlocal r = require\nlocal x = r('inspect')\nreturn { PRIORITY = 1, VERSION = '1.0.0' }",
        ProfileName::default(),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(refused, SandboxError::ForbiddenModule { .. }),
        "{refused:?}"
    );
    assert_eq!(refused.line(), Some(3));
}

#[test]
fn handlers_cannot_set_metatables_in_kongs_sandbox() {
    // Kong's handler environment has no setmetatable (reference §2.4): class-style handlers
    // built with it fail at create time, with Kong's message.
    let err = load_handler(
        r#"local Base = { PRIORITY = 700, VERSION = "2.0.0" }
           Base.__index = Base
           local Handler = setmetatable({}, Base)
           return Handler"#,
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.kong_message("handler"),
        "handler load failure ([string \"handler\"]:3: attempt to call global 'setmetatable' (a nil value))"
    );
    // Plain tables with methods are what streamed handlers use.
    let info = load_handler(
        r#"local Handler = { PRIORITY = 700, VERSION = "2.0.0" }
           function Handler:access(conf) end
           function Handler:log(conf) end
           function Handler.helper() end
           return Handler"#,
        crate::lua::DEFAULT_PROFILE,
        &[],
    )
    .expect("loads");
    assert_eq!(info.priority, Some(700.0));
    assert_eq!(info.phases, ["access", "helper", "log"]);
}

// ----- hostile Lua on LuaJIT (issue 13's Lua cases) -----

fn hostile_schema(body: &str) -> Result<(), SandboxError> {
    eval(&format!("{body}\nreturn {{ name = \"h\", fields = {{ {{ config = {{ type = \"record\", fields = {{}} }} }} }} }}")).map(|_| ())
}

#[test]
fn pattern_recursion_is_bounded_before_it_overflows_the_stack() {
    for n in [20_000usize, 100_000] {
        let source = format!("string.find('', string.rep('a*', {n}))");
        let err = within(Duration::from_secs(1), &source, || hostile_schema(&source)).unwrap_err();
        assert!(
            err.to_string()
                .contains("quantifiers is more than the plugin sandbox allows"),
            "{n}: {err:?}"
        );
    }
}

#[test]
fn unbounded_c_loops_end_quickly() {
    for source in [
        "local s = string.rep('', 2^31 - 1)",
        "local s = string.rep('', 2^31 - 1, 'x')",
        "local t = {} table.insert(t, -2^31 + 1, 1)",
        "local t = {} table.remove(t, -2^31 + 1)",
        "local t = {} for i = 1, 300000 do t[i] = i end for i = 1, 200 do table.maxn(t) end",
    ] {
        let _ = within(Duration::from_millis(1500), source, || {
            hostile_schema(source)
        });
    }
}

#[test]
fn a_schema_list_of_many_entries_is_an_error_not_a_panic() {
    let entries: String = (0..9000).map(|i| format!("\"v{i}\",")).collect();
    let source = format!(
        "return {{ name = \"big\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {{ m = {{ type = \"string\", one_of = {{ {entries} }} }} }} }} }} }} }} }}"
    );
    let result = std::panic::catch_unwind(|| eval(&source));
    let err = result.expect("the evaluation does not panic").unwrap_err();
    assert!(
        err.to_string().contains("more than 4000 entries"),
        "{err:?}"
    );
}

#[test]
fn evaluation_is_deterministic() {
    let source = "local r = math.random(1, 1000000)\nreturn { name = 'r' .. r, fields = { { config = { type = 'record', fields = {} } } } }";
    let first = eval(source).expect("schema").name;
    for _ in 0..5 {
        assert_eq!(eval(source).expect("schema").name, first);
    }
}

#[test]
fn ordinary_pattern_work_on_bodies_is_allowed() {
    let body = "x".repeat(300);
    for source in [
        format!("local s = ' {body} ' local t = s:match('^%s*(.-)%s*$') assert(#t == 300)"),
        format!("local s = '{body}' local t = s:gsub('%s+', ' ') "),
        format!("local s = '{{{{a}}}} {body}' local t = s:gsub('{{{{(.-)}}}}', 'v')"),
    ] {
        within(Duration::from_secs(1), &source, || hostile_schema(&source))
            .unwrap_or_else(|e| panic!("{source}: {e}"));
    }
}

#[test]
fn shorthand_fields_are_applied_as_kong_applies_them() {
    custom::install();
    let schema = eval(
        r#"return { name = "sh", fields = { { config = { type = "record",
            fields = {
              { timeout = { type = "integer", default = 1000 } },
              { redis = { type = "record", fields = { { host = { type = "string" } }, { port = { type = "integer", default = 6379 } } } } },
            },
            shorthand_fields = {
              { old_timeout = { type = "integer", func = function(v) return { timeout = v } end } },
              { redis_host = { type = "string", func = function(v) return { redis = { host = v } } end } },
              { opaque = { type = "string", func = function(v) return { timeout = #v } end } },
            } } } } }"#,
    )
    .expect("schema");
    let config = serde_json::json!({ "old_timeout": 5, "redis_host": "cache.internal" });
    let filled = crate::schema::validate::process_config(&schema, Some(&config)).expect("valid");
    assert_eq!(filled["timeout"], 5);
    assert_eq!(filled["redis"]["host"], "cache.internal");
    assert_eq!(filled["redis"]["port"], 6379);
    assert!(filled.get("old_timeout").is_none());
    // The function runs in the sandbox: it may compute, not only move.
    let filled = crate::schema::validate::process_config(
        &schema,
        Some(&serde_json::json!({ "opaque": "abc" })),
    )
    .expect("valid");
    assert_eq!(filled["timeout"], 3);
    // The value must pass the shorthand's own type first; then only that error is reported.
    let err = crate::schema::validate::process_config(
        &schema,
        Some(&serde_json::json!({ "old_timeout": "soon", "timeout": "bad" })),
    )
    .unwrap_err();
    assert_eq!(
        err.iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect::<Vec<_>>(),
        [("config.old_timeout", "expected an integer")]
    );
}

#[test]
fn deprecated_shorthands_must_agree_with_the_fields_that_replace_them() {
    custom::install();
    let schema = eval(
        r#"return { name = "dep", fields = { { config = { type = "record",
            fields = {
              { new_a = { type = "string" } },
              { new_c = { type = "string", default = "abc" } },
            },
            shorthand_fields = {
              { old_a = { type = "string",
                  deprecation = { message = "use new_a", removal_in_version = "4.0",
                                  replaced_with = { { path = { "new_a" } } } },
                  func = function(v) return { new_a = v } end } },
              { old_c = { type = "string",
                  deprecation = { message = "use new_c", removal_in_version = "4.0",
                                  replaced_with = { { path = { "new_c" } } } },
                  func = function(v) return { new_c = v } end } },
            } } } } }"#,
    )
    .expect("schema");
    let check =
        |config: serde_json::Value| crate::schema::validate::process_config(&schema, Some(&config));
    let err = check(json!({ "old_a": "x", "new_a": "y" })).unwrap_err();
    assert_eq!(
        err[0].message,
        "both deprecated and new field are used but their values mismatch: old_a = x vs new_a = y"
    );
    assert_eq!(err[0].path, "config.old_a");
    let filled = check(json!({ "old_a": "x", "new_a": "x" })).expect("agreeing values");
    assert_eq!(filled["new_a"], "x");
    // An explicit null through a deprecated shorthand lands as null: no default fills it.
    let filled = check(json!({ "old_c": null })).expect("valid");
    assert_eq!(filled["new_c"], Value::Null);
    assert!(filled.get("old_c").is_none());
}

/// A schema's own functions run as Kong runs them on an instance write.
mod custom_functions {
    use super::*;
    use crate::schema::validate::{process_config, FieldError};

    const SCHEMA: &str = r#"
local function even(v)
  if v % 2 ~= 0 then return nil, "must be even" end
  return true
end
local function spin(v)
  while true do end
end
return {
  name = "customs",
  fields = {
    { config = {
        type = "record",
        fields = {
          { count = { type = "integer", custom_validator = even } },
          { sized = { type = "integer", default = 4, custom_validator = even } },
          { quiet = { type = "integer", custom_validator = function(v) return v < 10 end } },
          { styled = { type = "integer", err = "pick a small number",
                       custom_validator = function(v) return v < 10, "too big" end } },
          { boom = { type = "string", custom_validator = function(v) error("no " .. v) end } },
          { spin = { type = "string", custom_validator = spin } },
          { tags = { type = "array", elements = { type = "string",
                     custom_validator = function(v) return v:sub(1, 1) ~= "_", "no leading _" end } } },
          { low = { type = "integer" } },
          { high = { type = "integer" } },
        },
        entity_checks = {
          { custom_entity_check = { field_sources = { "low", "high" },
              fn = function(e)
                -- Unset fields arrive as ngx.null, as in Kong: a check guards against them.
                if type(e.low) ~= "number" or type(e.high) ~= "number" then return true end
                if e.low > e.high then return nil, "low must not exceed high" end
                return true
              end } },
          { custom_entity_check = { field_sources = { "count" },
              fn = function(e) return e.count ~= 13, "unlucky" end } },
        },
    } },
  },
}
"#;

    fn check(config: Value) -> Vec<(String, String)> {
        custom::install();
        let schema = eval(SCHEMA).expect("schema");
        match process_config(&schema, Some(&config)) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|FieldError { path, message }| (path, message))
                .collect(),
        }
    }

    fn one(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.to_string(), message.to_string())]
    }

    #[test]
    fn a_custom_validator_fails_the_field_with_its_message() {
        assert_eq!(check(json!({"count": 4})), vec![]);
        assert_eq!(
            check(json!({"count": 3})),
            one("config.count", "must be even")
        );
        // A default runs through the validator like any value (and evaluating the schema for
        // the first call, which checks defaults, calls nothing).
        assert_eq!(
            check(json!({"sized": 5})),
            one("config.sized", "must be even")
        );
        // No message: Kong's `failed validating: %s`; a field's `err` replaces either.
        assert_eq!(
            check(json!({"quiet": 12})),
            one("config.quiet", "failed validating: 12")
        );
        assert_eq!(
            check(json!({"styled": 12})),
            one("config.styled", "pick a small number")
        );
        assert_eq!(
            check(json!({"tags": ["ok", "_hidden"]})),
            one("config.tags.2", "no leading _")
        );
    }

    #[test]
    fn a_function_that_raises_or_spins_fails_instead_of_passing() {
        let raised = check(json!({"boom": "way"}));
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert!(
            raised[0]
                .1
                .starts_with("the schema's custom_validator raised an error: ")
                && raised[0].1.contains("no way"),
            "{raised:?}"
        );
        let spun = check(json!({"spin": "x"}));
        assert_eq!(spun.len(), 1, "{spun:?}");
        assert!(spun[0].1.contains("execution budget"), "{spun:?}");
        // The budget is per call: the next validation runs normally.
        assert_eq!(
            check(json!({"count": 3})),
            one("config.count", "must be even")
        );
    }

    #[test]
    fn a_custom_entity_check_sees_its_fields_and_follows_kongs_run_rules() {
        assert_eq!(check(json!({"low": 1, "high": 2})), vec![]);
        assert_eq!(
            check(json!({"low": 5, "high": 2})),
            one("config.@entity", "low must not exceed high")
        );
        // Unset fields are filled with null before the checks run, so the function sees them
        // (this one returns early).
        assert_eq!(check(json!({})), vec![]);
        assert_eq!(check(json!({"low": 5})), vec![]);
        assert_eq!(
            check(json!({"count": 13})),
            one("config.count", "must be even"),
            "the field's own error skips the check on it"
        );
        assert_eq!(check(json!({"count": 12})), vec![]);
        // A field with an error of its own: the check is skipped.
        assert_eq!(
            check(json!({"low": "x", "high": 2})),
            one("config.low", "expected an integer")
        );
    }
}

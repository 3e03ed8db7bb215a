//! Instance-level fields (`protocols`, scope bindings), whole-plugin validation and
//! single-field validation.

use serde_json::json;

use super::*;
use crate::schema::validate::{
    default_protocols, validate_instance_fields, validate_plugin, validate_value,
};

fn with_top(mut s: PluginSchema, name: &str, field: Field) -> PluginSchema {
    s.fields.push((name.to_string(), field));
    s
}

/// `typedefs.protocols_http`.
fn protocols_http() -> Field {
    set(string().with(|v| v.one_of = Some(strings(&["grpc", "grpcs", "http", "https"]))))
        .req()
        .def(json!(["grpc", "grpcs", "http", "https"]))
}

/// `typedefs.no_consumer`.
fn no_consumer() -> Field {
    let mut f = Field::new(FieldType::Foreign);
    f.reference = Some("consumers".to_string());
    f.validators.eq = Some(json!(null));
    f
}

#[test]
fn default_protocols_from_schema_or_kong() {
    let plain = schema(vec![]);
    assert_eq!(
        default_protocols(&plain),
        json!(["grpc", "grpcs", "http", "https"])
    );
    let custom = with_top(
        schema(vec![]),
        "protocols",
        protocols_http().def(json!(["https"])),
    );
    assert_eq!(default_protocols(&custom), json!(["https"]));
}

#[test]
fn protocols_validation() {
    let http = with_top(schema(vec![]), "protocols", protocols_http());
    let plain = schema(vec![]);
    type Case<'a> = (
        &'a PluginSchema,
        Option<serde_json::Value>,
        Vec<(&'a str, &'a str)>,
    );
    let cases: Vec<Case> = vec![
        (&http, None, vec![]),
        (&http, Some(json!(["http", "https"])), vec![]),
        (&http, Some(json!(["http", "tcp"])), vec![("protocols.2", "expected one of: grpc, grpcs, http, https")]),
        (&http, Some(json!("http")), vec![("protocols", "expected a set")]),
        (&http, Some(json!(null)), vec![("protocols", "required field missing")]),
        (&plain, None, vec![]),
        (&plain, Some(json!(["tcp", "ws"])), vec![]),
        (
            &plain,
            Some(json!(["smtp"])),
            vec![(
                "protocols.1",
                "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss",
            )],
        ),
    ];
    for (s, protocols, want) in cases {
        let got = pairs(&validate_instance_fields(s, protocols.as_ref(), &[]));
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want, "{protocols:?}");
    }
}

#[test]
fn scope_bindings() {
    let s = with_top(schema(vec![]), "consumer", no_consumer());
    assert_eq!(
        validate_instance_fields(&s, None, &["route", "service"]),
        vec![]
    );
    assert_eq!(
        pairs(&validate_instance_fields(&s, None, &["consumer", "route"])),
        vec![("consumer".to_string(), "value must be null".to_string())]
    );
    let custom = with_top(
        schema(vec![]),
        "service",
        no_consumer().err("not on services"),
    );
    assert_eq!(
        pairs(&validate_instance_fields(&custom, None, &["service"])),
        vec![("service".to_string(), "not on services".to_string())]
    );
}

#[test]
fn whole_plugin() {
    let s = with_top(
        with_top(
            plugin(
                record(vec![("a", string().req())]),
                vec![EntityCheck::AtLeastOneOf(names(&["config.a", "route"]))],
            ),
            "protocols",
            protocols_http(),
        ),
        "consumer",
        no_consumer(),
    );
    assert_eq!(
        validate_plugin(&s, Some(&json!({"a": "x"})), None, &["route"]),
        Ok(json!({"a": "x"}))
    );
    let errs =
        validate_plugin(&s, Some(&json!({})), Some(&json!(["udp"])), &["consumer"]).unwrap_err();
    assert_eq!(
        pairs(&errs),
        vec![
            (
                "@entity".to_string(),
                "at least one of these fields must be non-empty: 'config.a', 'route'".to_string()
            ),
            ("config.a".to_string(), "required field missing".to_string()),
            ("consumer".to_string(), "value must be null".to_string()),
            (
                "protocols.1".to_string(),
                "expected one of: grpc, grpcs, http, https".to_string()
            ),
        ]
    );
    // A bound route satisfies the check.
    let errs = validate_plugin(&s, Some(&json!({})), None, &["route"]).unwrap_err();
    assert_eq!(
        pairs(&errs),
        vec![("config.a".to_string(), "required field missing".to_string())]
    );
    // process_config leaves instance fields alone.
    let errs = process_config(&s, Some(&json!({}))).unwrap_err();
    assert_eq!(
        pairs(&errs),
        vec![
            (
                "@entity".to_string(),
                "at least one of these fields must be non-empty: 'config.a', 'route'".to_string()
            ),
            ("config.a".to_string(), "required field missing".to_string()),
        ]
    );
}

#[test]
fn single_field_validation() {
    let port = integer().with(|v| v.between = Some((0.0, 65535.0)));
    assert_eq!(validate_value(&port, &json!(80), "config.port"), vec![]);
    assert_eq!(
        pairs(&validate_value(&port, &json!(-1), "config.port")),
        vec![(
            "config.port".to_string(),
            "value should be between 0 and 65535".to_string()
        )]
    );
    assert_eq!(validate_value(&port, &json!(null), "x"), vec![]);
    let r = record(vec![("n", integer().req()), ("d", integer().def(json!(1)))]);
    assert_eq!(
        pairs(&validate_value(&r, &json!({"d": "x"}), "")),
        vec![
            ("d".to_string(), "expected an integer".to_string()),
            ("n".to_string(), "required field missing".to_string()),
        ]
    );
    assert_eq!(
        pairs(&validate_value(&r, &json!(null), "r")),
        vec![("r".to_string(), "required field missing".to_string())]
    );
}

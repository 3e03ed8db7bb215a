//! Library tests of the local control plane: CRUD of every kind, validation, uniqueness,
//! nesting, tags, pagination, the simulated data plane, persistence and durability.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;

const HANDLER: &str = r#"return { PRIORITY = 10, VERSION = "1.0.0" }"#;

/// A `schema.lua` named `name` whose config record has `fields` (Lua source).
fn schema_lua(name: &str, fields: &str) -> String {
    format!(
        r#"return {{ name = "{name}", fields = {{ {{ protocols = require("kong.db.schema.typedefs").protocols_http }}, {{ config = {{ type = "record", fields = {{ {fields} }} }} }} }} }}"#
    )
}

const CACHE_FIELDS: &str = r#"{ header = { type = "string", required = true } }, { ttl = { type = "integer", default = 30 } }, { note = { type = "string" } }"#;

fn custom(name: &str, fields: &str) -> Value {
    json!({"name": name, "handler": HANDLER, "schema": schema_lua(name, fields)})
}

fn open() -> (ControlPlanes, String) {
    let planes = ControlPlanes::open(":memory:").expect("open");
    let cp = planes.default_id();
    (planes, cp)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn fields_of(e: &CpError) -> Vec<(String, String)> {
    match e {
        CpError::Invalid { fields, .. } => fields
            .iter()
            .map(|f| (f.path.clone(), f.message.clone()))
            .collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn all(planes: &ControlPlanes, cp: &str, kind: Kind, q: ListQuery) -> Vec<Value> {
    let mut out = Vec::new();
    let mut q = ListQuery {
        size: if q.size == 0 { 100 } else { q.size },
        ..q
    };
    loop {
        let page = planes.list(cp, kind, &q).expect("list");
        out.extend(page.data);
        match page.offset {
            Some(o) => q.offset = Some(o),
            None => return out,
        }
    }
}

#[test]
fn kinds_and_tag_filters_parse() {
    for k in Kind::ALL {
        assert_eq!(Kind::from_path(k.path()), Some(k));
    }
    assert_eq!(Kind::from_path("nope"), None);
    assert_eq!(
        TagFilter::parse("a,b").unwrap(),
        TagFilter::All(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        TagFilter::parse("a/b").unwrap(),
        TagFilter::Any(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        TagFilter::parse("a").unwrap(),
        TagFilter::All(vec!["a".into()])
    );
    for bad in ["", "a,", "a,b/c", "/"] {
        assert!(
            matches!(TagFilter::parse(bad), Err(CpError::BadRequest { .. })),
            "{bad}"
        );
    }
}

#[test]
fn control_planes_default_create_list_get() {
    let (planes, cp) = open();
    let (items, total) = planes.list_control_planes(Some("default"), 10, 1).unwrap();
    assert_eq!((items.len(), total), (1, 1));
    assert_eq!(items[0]["id"], cp.as_str());
    assert!(items[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let other = planes
        .create_control_plane(&json!({"name": "staging", "labels": {"env": "ci"}}))
        .unwrap();
    assert_eq!(other["labels"]["env"], "ci");
    assert_eq!(
        planes.get_control_plane(&id_of(&other)).unwrap()["name"],
        "staging"
    );
    assert!(matches!(
        planes.create_control_plane(&json!({"name": "staging"})),
        Err(CpError::Unique { .. })
    ));
    assert!(matches!(
        planes.create_control_plane(&json!({"name": "x", "id": "y"})),
        Err(CpError::Invalid { .. })
    ));
    assert!(matches!(
        planes.get_control_plane("nope"),
        Err(CpError::NotFound { .. })
    ));
    let (items, total) = planes.list_control_planes(None, 1, 2).unwrap();
    assert_eq!((items[0]["name"].as_str(), total), (Some("staging"), 2));
    // Entities are per control plane.
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    assert!(planes
        .get(&id_of(&other), Kind::CustomPlugin, "cache", None)
        .is_err());
    assert!(planes
        .list("nope", Kind::Plugin, &ListQuery::default())
        .is_err());
}

#[test]
fn custom_plugin_crud_by_id_and_name() {
    let (planes, cp) = open();
    let created = planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let id = id_of(&created);
    for key in [
        "id",
        "name",
        "handler",
        "schema",
        "tags",
        "created_at",
        "updated_at",
    ] {
        assert!(created.get(key).is_some(), "{key}");
    }
    assert_eq!(created["tags"], Value::Null);
    assert_eq!(
        planes.get(&cp, Kind::CustomPlugin, &id, None).unwrap(),
        created
    );
    assert_eq!(
        planes.get(&cp, Kind::CustomPlugin, "cache", None).unwrap(),
        created
    );

    // PUT by name updates in place.
    let mut body = custom("cache", CACHE_FIELDS);
    body["tags"] = json!(["team-a"]);
    let updated = planes
        .upsert(&cp, Kind::CustomPlugin, "cache", body, None)
        .unwrap();
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["tags"], json!(["team-a"]));
    assert_eq!(updated["created_at"], created["created_at"]);

    // PUT by name of an absent plugin creates it; the body's name may be left out.
    let mut body = custom("stamp", CACHE_FIELDS);
    body.as_object_mut().unwrap().remove("name");
    let stamp = planes
        .upsert(&cp, Kind::CustomPlugin, "stamp", body, None)
        .unwrap();
    assert_eq!(stamp["name"], "stamp");

    // PUT by an absent id creates it with that id.
    let fixed = "0b6a3c9e-2f4d-4a51-9c1e-6f0f2d4a7b11";
    let made = planes
        .upsert(
            &cp,
            Kind::CustomPlugin,
            fixed,
            custom("third", CACHE_FIELDS),
            None,
        )
        .unwrap();
    assert_eq!(made["id"], fixed);
    assert_eq!(
        planes.get(&cp, Kind::CustomPlugin, "third", None).unwrap()["id"],
        fixed
    );

    // Uniqueness and validation.
    let e = planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap_err();
    assert!(
        matches!(&e, CpError::Unique { field, .. } if field == "name"),
        "{e:?}"
    );
    let mut wrong = custom("cache", CACHE_FIELDS);
    wrong["name"] = json!("other");
    let e = planes
        .create(&cp, Kind::CustomPlugin, wrong, None)
        .unwrap_err();
    assert!(
        fields_of(&e)
            .iter()
            .any(|(p, m)| p == "@entity" && m == "name must be equal to schema.name")
            || e.to_string().contains("name must be equal to schema.name"),
        "{e:?}"
    );
    let e = planes
        .create(
            &cp,
            Kind::CustomPlugin,
            json!({"name": "x", "handler": HANDLER, "schema": "return {"}),
            None,
        )
        .unwrap_err();
    assert!(fields_of(&e).iter().any(|(p, _)| p == "schema"), "{e:?}");
    let e = planes
        .create(
            &cp,
            Kind::CustomPlugin,
            json!({"name": "x", "bogus": 1}),
            None,
        )
        .unwrap_err();
    let f = fields_of(&e);
    assert!(
        f.contains(&("bogus".into(), "unknown field".into())),
        "{f:?}"
    );
    assert!(
        f.contains(&("handler".into(), "required field missing".into())),
        "{f:?}"
    );
    assert!(matches!(
        planes.create(&cp, Kind::CustomPlugin, json!([1]), None),
        Err(CpError::BadRequest { .. })
    ));

    // Delete by name and by id; deleting a missing one is fine.
    planes
        .delete(&cp, Kind::CustomPlugin, "stamp", None)
        .unwrap();
    planes.delete(&cp, Kind::CustomPlugin, fixed, None).unwrap();
    planes.delete(&cp, Kind::CustomPlugin, fixed, None).unwrap();
    assert!(matches!(
        planes.get(&cp, Kind::CustomPlugin, "stamp", None),
        Err(CpError::NotFound {
            kind: Kind::CustomPlugin,
            ..
        })
    ));
    let names: Vec<Value> = all(&planes, &cp, Kind::CustomPlugin, ListQuery::default())
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("cache")]);
}

#[test]
fn instances_fill_defaults_and_nulls() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let inst = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "X-Cache"}}),
            None,
        )
        .unwrap();
    assert_eq!(
        inst["config"],
        json!({"header": "X-Cache", "ttl": 30, "note": null})
    );
    assert_eq!(inst["enabled"], true);
    assert_eq!(inst["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    for key in [
        "id",
        "name",
        "instance_name",
        "config",
        "enabled",
        "protocols",
        "service",
        "route",
        "consumer",
        "consumer_group",
        "condition",
        "ordering",
        "partials",
        "tags",
        "created_at",
        "updated_at",
    ] {
        assert!(inst.get(key).is_some(), "{key} missing");
    }
    for key in [
        "instance_name",
        "service",
        "route",
        "consumer",
        "consumer_group",
        "condition",
        "ordering",
        "partials",
        "tags",
    ] {
        assert_eq!(inst[key], Value::Null, "{key}");
    }
    assert_eq!(
        planes.get(&cp, Kind::Plugin, &id_of(&inst), None).unwrap(),
        inst
    );
    // Plugins are addressed by id only.
    assert!(planes.get(&cp, Kind::Plugin, "cache", None).is_err());
}

#[test]
fn invalid_instances_are_refused_with_field_paths() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let e = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"ttl": "x"}}),
            None,
        )
        .unwrap_err();
    let f = fields_of(&e);
    assert!(
        f.contains(&("config.header".into(), "required field missing".into())),
        "{f:?}"
    );
    assert!(f.iter().any(|(p, _)| p == "config.ttl"), "{f:?}");
    if let CpError::Invalid { message, .. } = &e {
        assert!(message.starts_with("2 schema violations ("), "{message}");
    }
    let e = planes
        .create(&cp, Kind::Plugin, json!({"name": "nope"}), None)
        .unwrap_err();
    assert_eq!(
        fields_of(&e),
        vec![(
            "name".to_string(),
            "plugin 'nope' not enabled; add it to the 'plugins' configuration property".to_string()
        )]
    );
    let e = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}, "protocols": ["tcp"]}),
            None,
        )
        .unwrap_err();
    assert!(
        fields_of(&e)
            .iter()
            .any(|(p, _)| p.starts_with("protocols")),
        "{e:?}"
    );
    let e = planes
        .create(&cp, Kind::Plugin, json!({"name": "cache", "config": {"header": "h"}, "service": {"id": "0b6a3c9e-2f4d-4a51-9c1e-6f0f2d4a7b11"}}), None)
        .unwrap_err();
    assert!(
        fields_of(&e).iter().any(|(p, m)| p == "service"
            && m.contains("does not reference an existing 'services' entity")),
        "{e:?}"
    );
    let e = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}, "enabled": "yes", "extra": 1}),
            None,
        )
        .unwrap_err();
    let f = fields_of(&e);
    assert!(
        f.contains(&("enabled".into(), "expected a boolean".into())),
        "{f:?}"
    );
    assert!(
        f.contains(&("extra".into(), "unknown field".into())),
        "{f:?}"
    );
    // Nothing was written, nothing was sent.
    assert!(all(&planes, &cp, Kind::Plugin, ListQuery::default()).is_empty());
    assert!(planes.dp_log(&cp).unwrap().len() == 1);
}

#[test]
fn instance_uniqueness_and_put_with_id() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let fixed = "5d0e0a52-8b8a-4d55-a4f1-3f1a2a7a9c01";
    let body = json!({"name": "cache", "instance_name": "edge-cache", "config": {"header": "h"}});
    let put = planes
        .upsert(&cp, Kind::Plugin, fixed, body.clone(), None)
        .unwrap();
    assert_eq!(put["id"], fixed);
    assert_eq!(put["instance_name"], "edge-cache");
    // The same PUT again is an update of the same entity.
    let again = planes.upsert(&cp, Kind::Plugin, fixed, body, None).unwrap();
    assert_eq!(again["created_at"], put["created_at"]);
    assert_eq!(
        all(&planes, &cp, Kind::Plugin, ListQuery::default()).len(),
        1
    );

    // Same (name, scope) → refused; same instance_name → refused.
    let e = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&e, CpError::Unique { field, message } if field == "name" && message.starts_with("UNIQUE violation")),
        "{e:?}"
    );
    let svc = planes
        .create(
            &cp,
            Kind::Service,
            json!({"name": "svc", "host": "example.com"}),
            None,
        )
        .unwrap();
    let e = planes
        .create(&cp, Kind::Plugin, json!({"name": "cache", "instance_name": "edge-cache", "service": {"id": id_of(&svc)}, "config": {"header": "h"}}), None)
        .unwrap_err();
    assert!(
        matches!(&e, CpError::Unique { field, .. } if field == "instance_name"),
        "{e:?}"
    );
    // A taken id on POST, a malformed id on PUT.
    let e = planes
        .create(&cp, Kind::Plugin, json!({"id": fixed, "name": "cache", "service": {"id": "svc"}, "config": {"header": "h"}}), None)
        .unwrap_err();
    assert!(
        matches!(&e, CpError::Unique { field, .. } if field == "id"),
        "{e:?}"
    );
    assert!(planes
        .upsert(
            &cp,
            Kind::Plugin,
            "not-a-uuid",
            json!({"name": "cache"}),
            None
        )
        .is_err());
    // Body id must match the path id.
    let e = planes
        .upsert(
            &cp,
            Kind::Plugin,
            fixed,
            json!({"id": "0b6a3c9e-2f4d-4a51-9c1e-6f0f2d4a7b11", "name": "cache"}),
            None,
        )
        .unwrap_err();
    assert!(matches!(e, CpError::BadRequest { .. }), "{e:?}");
}

#[test]
fn nested_paths_bind_the_parent() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let svc = planes
        .create(
            &cp,
            Kind::Service,
            json!({"name": "svc", "url": "https://api.example.com:8443/v1"}),
            None,
        )
        .unwrap();
    assert_eq!(
        (
            svc["protocol"].as_str(),
            svc["host"].as_str(),
            svc["port"].as_i64(),
            svc["path"].as_str()
        ),
        (
            Some("https"),
            Some("api.example.com"),
            Some(8443),
            Some("/v1")
        )
    );
    let sid = id_of(&svc);
    let route = planes
        .create(
            &cp,
            Kind::Route,
            json!({"name": "r1", "paths": ["/a"]}),
            Some((Kind::Service, "svc")),
        )
        .unwrap();
    assert_eq!(route["service"], json!({"id": sid}));
    let inst = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            Some((Kind::Service, "svc")),
        )
        .unwrap();
    assert_eq!(inst["service"], json!({"id": sid}));
    let on_route = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            Some((Kind::Route, "r1")),
        )
        .unwrap();
    assert_eq!(on_route["route"], json!({"id": id_of(&route)}));
    let global = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            None,
        )
        .unwrap();

    let nested = all(
        &planes,
        &cp,
        Kind::Plugin,
        ListQuery {
            parent: Some((Kind::Service, sid.clone())),
            ..Default::default()
        },
    );
    assert_eq!(nested, vec![inst.clone()]);
    assert_eq!(
        all(&planes, &cp, Kind::Plugin, ListQuery::default()).len(),
        3
    );
    assert!(planes
        .get(
            &cp,
            Kind::Plugin,
            &id_of(&inst),
            Some((Kind::Service, &sid))
        )
        .is_ok());
    assert!(matches!(
        planes.get(
            &cp,
            Kind::Plugin,
            &id_of(&global),
            Some((Kind::Service, &sid))
        ),
        Err(CpError::NotFound { .. })
    ));
    assert!(matches!(
        planes.create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache"}),
            Some((Kind::Service, "missing"))
        ),
        Err(CpError::NotFound {
            kind: Kind::Service,
            ..
        })
    ));
    // A nested delete of an instance bound elsewhere deletes nothing.
    planes
        .delete(
            &cp,
            Kind::Plugin,
            &id_of(&global),
            Some((Kind::Service, &sid)),
        )
        .unwrap();
    assert!(planes.get(&cp, Kind::Plugin, &id_of(&global), None).is_ok());

    // Deleting a service that routes use is refused; deleting the route deletes its plugins.
    assert!(matches!(
        planes.delete(&cp, Kind::Service, "svc", None),
        Err(CpError::InUse { .. })
    ));
    planes.delete(&cp, Kind::Route, "r1", None).unwrap();
    assert!(planes
        .get(&cp, Kind::Plugin, &id_of(&on_route), None)
        .is_err());
    planes.delete(&cp, Kind::Service, &sid, None).unwrap();
    assert!(planes.get(&cp, Kind::Plugin, &id_of(&inst), None).is_err());
    assert_eq!(
        all(&planes, &cp, Kind::Plugin, ListQuery::default()),
        vec![global]
    );
}

#[test]
fn scopes_crud_by_name() {
    let (planes, cp) = open();
    // Services: defaults, by name, PUT by name creates, PATCH merges, unique names.
    let svc = planes
        .create(
            &cp,
            Kind::Service,
            json!({"name": "svc", "host": "a.example"}),
            None,
        )
        .unwrap();
    assert_eq!(
        (
            svc["port"].as_i64(),
            svc["protocol"].as_str(),
            svc["retries"].as_i64(),
            svc["path"].clone()
        ),
        (Some(80), Some("http"), Some(5), Value::Null)
    );
    assert_eq!(planes.get(&cp, Kind::Service, "svc", None).unwrap(), svc);
    let put = planes
        .upsert(
            &cp,
            Kind::Service,
            "svc2",
            json!({"host": "b.example"}),
            None,
        )
        .unwrap();
    assert_eq!(put["name"], "svc2");
    let patched = planes
        .patch(&cp, Kind::Service, "svc2", json!({"port": 8080}), None)
        .unwrap();
    assert_eq!(
        (patched["port"].as_i64(), patched["host"].as_str()),
        (Some(8080), Some("b.example"))
    );
    assert!(matches!(
        planes.create(
            &cp,
            Kind::Service,
            json!({"name": "svc", "host": "c"}),
            None
        ),
        Err(CpError::Unique { .. })
    ));
    let e = planes
        .create(&cp, Kind::Service, json!({"port": 99999}), None)
        .unwrap_err();
    let f = fields_of(&e);
    assert!(
        f.contains(&("host".into(), "required field missing".into())),
        "{f:?}"
    );
    assert!(f.iter().any(|(p, _)| p == "port"), "{f:?}");
    assert!(matches!(
        planes.upsert(
            &cp,
            Kind::Service,
            "svc",
            json!({"name": "other", "host": "x"}),
            None
        ),
        Err(CpError::BadRequest { .. })
    ));

    // Routes.
    let route = planes
        .create(
            &cp,
            Kind::Route,
            json!({"name": "r", "paths": ["/x"], "service": {"id": id_of(&svc)}}),
            None,
        )
        .unwrap();
    assert_eq!(route["protocols"], json!(["http", "https"]));
    assert_eq!(
        planes.get(&cp, Kind::Route, "r", None).unwrap()["id"],
        route["id"]
    );
    let e = planes
        .create(&cp, Kind::Route, json!({"name": "bare"}), None)
        .unwrap_err();
    assert!(
        matches!(&e, CpError::Invalid { entity, .. } if !entity.is_empty()),
        "{e:?}"
    );
    let e = planes
        .create(
            &cp,
            Kind::Route,
            json!({"paths": ["/y"], "service": {"id": "nope"}}),
            None,
        )
        .unwrap_err();
    assert!(fields_of(&e).iter().any(|(p, _)| p == "service"), "{e:?}");
    // Paths are router paths as Kong checks them (`typedefs.router_path`), regexes by PCRE2.
    let e = planes
        .create(
            &cp,
            Kind::Route,
            json!({"paths": ["/ok", "y", "/a//b", "~/v(\\d+"]}),
            None,
        )
        .unwrap_err();
    assert_eq!(
        fields_of(&e),
        [
            (
                "paths.2".to_string(),
                "should start with: / (fixed path) or ~/ (regex path)".to_string()
            ),
            (
                "paths.3".to_string(),
                "must not have empty segments".to_string()
            ),
            (
                "paths.4".to_string(),
                "invalid regex: '/v(\\d+' (PCRE returned: pcre2_compile() failed: missing closing parenthesis in \"/v(\\d+\")".to_string()
            ),
        ]
    );

    // Consumers by username; custom_id unique too.
    let alice = planes
        .create(
            &cp,
            Kind::Consumer,
            json!({"username": "alice", "custom_id": "a1"}),
            None,
        )
        .unwrap();
    assert_eq!(
        planes.get(&cp, Kind::Consumer, "alice", None).unwrap(),
        alice
    );
    assert!(
        matches!(planes.create(&cp, Kind::Consumer, json!({"username": "bob", "custom_id": "a1"}), None), Err(CpError::Unique { field, .. }) if field == "custom_id")
    );
    assert!(matches!(
        planes.create(&cp, Kind::Consumer, json!({}), None),
        Err(CpError::Invalid { .. })
    ));
    let bob = planes
        .upsert(&cp, Kind::Consumer, "bob", json!({}), None)
        .unwrap();
    assert_eq!(bob["username"], "bob");

    // Consumer groups.
    let group = planes
        .create(
            &cp,
            Kind::ConsumerGroup,
            json!({"name": "gold", "tags": ["t"]}),
            None,
        )
        .unwrap();
    assert_eq!(
        planes.get(&cp, Kind::ConsumerGroup, "gold", None).unwrap(),
        group
    );
    assert!(matches!(
        planes.create(&cp, Kind::ConsumerGroup, json!({}), None),
        Err(CpError::Invalid { .. })
    ));

    // Deletes by name.
    planes
        .delete(&cp, Kind::ConsumerGroup, "gold", None)
        .unwrap();
    planes.delete(&cp, Kind::Consumer, "alice", None).unwrap();
    assert!(planes.get(&cp, Kind::Consumer, "alice", None).is_err());
    assert!(planes
        .get(&cp, Kind::ConsumerGroup, &id_of(&group), None)
        .is_err());
}

#[test]
fn service_tls_fields_are_checked_like_kong() {
    let (planes, cp) = open();
    // `client_certificate` is a foreign key to certificates, which this server does not keep.
    let e = planes
        .upsert(
            &cp,
            Kind::Service,
            "svc",
            json!({"host": "a", "client_certificate": {"id": 365, "junk": [1]}}),
            None,
        )
        .unwrap_err();
    assert_eq!(
        fields_of(&e),
        vec![(
            "client_certificate".into(),
            "expected a record with an 'id' string".into()
        )]
    );
    let id = "5f2a9c3e-1b7d-4e8a-9c0f-3a6b8d2e4f10";
    let e = planes
        .create(
            &cp,
            Kind::Service,
            json!({"host": "a", "client_certificate": {"id": id}}),
            None,
        )
        .unwrap_err();
    assert!(
        fields_of(&e)[0]
            .1
            .contains("does not reference an existing 'certificates' entity"),
        "{e:?}"
    );
    // `tls_sans` is a record of two string arrays and nothing else.
    let e = planes
        .create(
            &cp,
            Kind::Service,
            json!({"host": "a", "tls_sans": {"dnsnames": [1], "other": []}}),
            None,
        )
        .unwrap_err();
    let mut f = fields_of(&e);
    f.sort();
    assert_eq!(
        f,
        vec![
            ("tls_sans.dnsnames.1".into(), "expected a string".into()),
            ("tls_sans.other".into(), "unknown field".into()),
        ]
    );
    let ok = planes
        .create(
            &cp,
            Kind::Service,
            json!({"host": "a", "tls_sans": {"dnsnames": ["a.example"], "uris": null}}),
            None,
        )
        .unwrap();
    assert_eq!(ok["tls_sans"]["dnsnames"], json!(["a.example"]));
}

#[test]
fn patch_merges_config() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let inst = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h", "ttl": 5}}),
            None,
        )
        .unwrap();
    let patched = planes
        .patch(
            &cp,
            Kind::Plugin,
            &id_of(&inst),
            json!({"config": {"note": "n"}, "enabled": false}),
            None,
        )
        .unwrap();
    assert_eq!(
        patched["config"],
        json!({"header": "h", "ttl": 5, "note": "n"})
    );
    assert_eq!(patched["enabled"], false);
    assert!(matches!(
        planes.patch(
            &cp,
            Kind::Plugin,
            "5d0e0a52-8b8a-4d55-a4f1-3f1a2a7a9c01",
            json!({}),
            None
        ),
        Err(CpError::NotFound { .. })
    ));
}

#[test]
fn tag_filters_and_or() {
    let (planes, cp) = open();
    for (name, tags) in [
        ("s1", json!(["a", "b"])),
        ("s2", json!(["a"])),
        ("s3", json!(["b", "c"])),
        ("s4", Value::Null),
    ] {
        planes
            .create(
                &cp,
                Kind::Service,
                json!({"name": name, "host": "h", "tags": tags}),
                None,
            )
            .unwrap();
    }
    let names = |filter: &str| -> Vec<String> {
        all(
            &planes,
            &cp,
            Kind::Service,
            ListQuery {
                tags: Some(TagFilter::parse(filter).unwrap()),
                ..Default::default()
            },
        )
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
    };
    assert_eq!(names("a,b"), vec!["s1"]);
    assert_eq!(names("a/c"), vec!["s1", "s2", "s3"]);
    assert_eq!(names("b"), vec!["s1", "s3"]);
    assert_eq!(names("a,a"), vec!["s1", "s2"]);
    assert!(names("zzz").is_empty());
    let e = planes
        .create(
            &cp,
            Kind::Service,
            json!({"name": "bad", "host": "h", "tags": ["x,y"]}),
            None,
        )
        .unwrap_err();
    assert!(fields_of(&e).iter().any(|(p, _)| p == "tags.1"), "{e:?}");
    // name filter
    let by_name = all(
        &planes,
        &cp,
        Kind::Service,
        ListQuery {
            name_eq: Some("s3".into()),
            ..Default::default()
        },
    );
    assert_eq!(by_name.len(), 1);
}

#[test]
fn pagination_over_2500_instances() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let start = std::time::Instant::now();
    let mut made = BTreeSet::new();
    for i in 0..2500 {
        let inst = planes
            .create(&cp, Kind::Plugin, json!({"name": "cache", "instance_name": format!("i{i}"), "consumer": null, "config": {"header": format!("h{i}")}, "tags": ["bulk"]}), None)
            .map(|v| id_of(&v));
        match inst {
            Ok(id) => {
                made.insert(id);
            }
            // (name, scope) is unique: later instances need their own consumer.
            Err(CpError::Unique { .. }) => {
                let c = planes
                    .create(
                        &cp,
                        Kind::Consumer,
                        json!({"username": format!("c{i}")}),
                        None,
                    )
                    .unwrap();
                let inst = planes
                    .create(&cp, Kind::Plugin, json!({"name": "cache", "instance_name": format!("i{i}"), "consumer": {"id": id_of(&c)}, "config": {"header": format!("h{i}")}, "tags": ["bulk"]}), None)
                    .unwrap();
                made.insert(id_of(&inst));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let writes = start.elapsed();
    let start = std::time::Instant::now();
    let mut q = ListQuery {
        size: 1000,
        tags: Some(TagFilter::parse("bulk").unwrap()),
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = planes.list(&cp, Kind::Plugin, &q).unwrap();
        pages.push(page.data.len());
        let done = page.offset.is_none();
        for item in page.data {
            assert!(made.remove(&id_of(&item)), "duplicate or unknown {item}");
        }
        if done {
            break;
        }
        q.offset = page.offset;
    }
    eprintln!(
        "2500 instance creates (+2499 consumers) in {writes:?}; 3 pages in {:?}",
        start.elapsed()
    );
    assert_eq!(pages, vec![1000, 1000, 500]);
    assert!(made.is_empty(), "missed {}", made.len());
    assert!(matches!(
        planes.list(
            &cp,
            Kind::Plugin,
            &ListQuery {
                size: 10,
                offset: Some("garbage".into()),
                ..Default::default()
            }
        ),
        Err(CpError::BadRequest { .. })
    ));
}

#[test]
fn delete_in_use_is_refused() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let inst = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            None,
        )
        .unwrap();
    let e = planes
        .delete(&cp, Kind::CustomPlugin, "cache", None)
        .unwrap_err();
    assert!(
        matches!(&e, CpError::InUse { message } if message.contains("cache")),
        "{e:?}"
    );
    // Renaming it is refused as well.
    let id = id_of(&planes.get(&cp, Kind::CustomPlugin, "cache", None).unwrap());
    assert!(matches!(
        planes.upsert(
            &cp,
            Kind::CustomPlugin,
            &id,
            custom("cache2", CACHE_FIELDS),
            None
        ),
        Err(CpError::InUse { .. })
    ));
    planes
        .delete(&cp, Kind::Plugin, &id_of(&inst), None)
        .unwrap();
    planes
        .delete(&cp, Kind::CustomPlugin, "cache", None)
        .unwrap();
    assert!(matches!(
        planes.create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            None
        ),
        Err(CpError::Invalid { .. })
    ));
}

#[test]
fn breaking_schema_update_is_rejected_by_the_data_plane() {
    let (planes, cp) = open();
    planes
        .create(&cp, Kind::CustomPlugin, custom("other", CACHE_FIELDS), None)
        .unwrap();
    planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "other", "config": {"header": "h"}}),
            None,
        )
        .unwrap();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    planes
        .create(
            &cp,
            Kind::Service,
            json!({"name": "svc", "host": "h"}),
            None,
        )
        .unwrap();
    planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}, "service": {"id": "svc"}}),
            None,
        )
        .unwrap();
    let inst = planes
        .create(
            &cp,
            Kind::Plugin,
            json!({"name": "cache", "config": {"header": "h"}}),
            None,
        )
        .unwrap();
    let good = planes.nodes(&cp).unwrap()["items"][0]["config_hash"].clone();
    assert_eq!(
        planes.expected_config_hash(&cp).unwrap()["expected_hash"],
        good
    );
    let log = planes.dp_log(&cp).unwrap();
    assert_eq!(log.len(), 6);
    assert!(log
        .iter()
        .all(|e| e["accepted"] == true && e["error"].is_null()));
    assert_eq!(log[5]["config_hash"], good);

    // A required field without default: the write is accepted (no re-validation) …
    let fields =
        format!(r#"{CACHE_FIELDS}, {{ region = {{ type = "string", required = true }} }}"#);
    planes
        .upsert(
            &cp,
            Kind::CustomPlugin,
            "cache",
            custom("cache", &fields),
            None,
        )
        .unwrap();
    assert_eq!(
        planes.get(&cp, Kind::Plugin, &id_of(&inst), None).unwrap(),
        inst
    );

    // … and the payload is rejected: both instances of `cache` (entries 2 and 3) are named.
    let log = planes.dp_log(&cp).unwrap();
    let last = log.last().unwrap();
    assert_eq!(last["seq"], 7);
    assert_eq!(last["accepted"], false);
    assert_eq!(
        last["error"],
        "bad config received from Control Plane in 'plugins': - in entry 2 of 'plugins': in 'config': in 'region': required field missing - in entry 3 of 'plugins': in 'config': in 'region': required field missing"
    );
    let expected = planes.expected_config_hash(&cp).unwrap()["expected_hash"].clone();
    assert_eq!(last["config_hash"], expected);
    assert_ne!(expected, good);
    let node = planes.nodes(&cp).unwrap()["items"][0].clone();
    assert_eq!(
        node["config_hash"], good,
        "the node keeps its last good config"
    );
    let status = &node["compatibility_status"];
    assert_eq!(status["state"], "COMPATIBILITY_STATE_INCOMPATIBLE");
    assert_eq!(status["issues"][0]["description"], last["error"]);
    assert_eq!(
        status["issues"][0]["affected_resources"][1],
        json!({"id": id_of(&inst), "type": "plugin"})
    );

    // Unrelated writes keep being rejected while the instances are stale.
    planes
        .create(&cp, Kind::Consumer, json!({"username": "u"}), None)
        .unwrap();
    assert_eq!(
        planes.dp_log(&cp).unwrap().last().unwrap()["accepted"],
        false
    );

    // Fixing the instances makes the next payload acceptable.
    for inst in all(
        &planes,
        &cp,
        Kind::Plugin,
        ListQuery {
            name_eq: Some("cache".into()),
            ..Default::default()
        },
    ) {
        planes
            .patch(
                &cp,
                Kind::Plugin,
                &id_of(&inst),
                json!({"config": {"region": "eu"}}),
                None,
            )
            .unwrap();
    }
    let last = planes.dp_log(&cp).unwrap().last().unwrap().clone();
    assert_eq!(last["accepted"], true, "{last}");
    let node = planes.nodes(&cp).unwrap()["items"][0].clone();
    assert_eq!(
        node["config_hash"],
        planes.expected_config_hash(&cp).unwrap()["expected_hash"]
    );
    assert_eq!(
        node["compatibility_status"]["state"],
        "COMPATIBILITY_STATE_FULLY_COMPATIBLE"
    );
}

#[test]
fn expected_hash_tracks_content_not_order() {
    let (a, cpa) = open();
    let (b, cpb) = open();
    let empty = a.expected_config_hash(&cpa).unwrap()["expected_hash"].clone();
    assert_eq!(
        empty,
        b.expected_config_hash(&cpb).unwrap()["expected_hash"]
    );
    let svc = a
        .create(&cpa, Kind::Service, json!({"name": "s", "host": "h"}), None)
        .unwrap();
    assert_ne!(
        a.expected_config_hash(&cpa).unwrap()["expected_hash"],
        empty
    );
    a.delete(&cpa, Kind::Service, &id_of(&svc), None).unwrap();
    assert_eq!(
        a.expected_config_hash(&cpa).unwrap()["expected_hash"],
        empty
    );
}

#[test]
fn plugin_schema_is_kongs_json_form() {
    let (planes, cp) = open();
    let fields = r#"{ header = { type = "string", required = true, one_of = { "a", "b" } } }, { ttl = { type = "integer", default = 30, between = { 1, 3600 } } }, { redis = { type = "record", fields = { { host = { type = "string" } } } } }"#;
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", fields), None)
        .unwrap();
    let schema = planes.plugin_schema(&cp, "cache").unwrap();
    let config = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f.get("config"))
        .unwrap()
        .clone();
    assert_eq!(config["type"], "record");
    assert_eq!(config["required"], true);
    let sub = config["fields"].as_array().unwrap();
    assert_eq!(
        sub[0]["header"],
        json!({"type": "string", "required": true, "one_of": ["a", "b"]})
    );
    assert_eq!(
        sub[1]["ttl"],
        json!({"type": "integer", "default": 30, "between": [1, 3600]})
    );
    assert_eq!(sub[2]["redis"]["required"], true);
    assert_eq!(
        sub[2]["redis"]["fields"][0]["host"],
        json!({"type": "string"})
    );
    assert!(matches!(
        planes.plugin_schema(&cp, "nope"),
        Err(CpError::NotFound { .. })
    ));
}

/// Group commit: concurrent writers share syncs of the log, each is answered once durable, and
/// one failing write does not fail the others written beside it.
#[test]
fn concurrent_writers_share_log_syncs_and_a_failing_one_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let path = path.to_str().unwrap();
    let planes = ControlPlanes::open(path).unwrap();
    let cp = planes.default_id();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let before = planes.sync.commits();
    let (threads, each): (usize, usize) = (8, 25);
    let results: Vec<Vec<Result<Value, CpError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (planes, cp) = (&planes, &cp);
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            // Every fifth write of thread 0 is invalid (tags not an array).
                            let tags = if t == 0 && i % 5 == 0 {
                                json!(7)
                            } else {
                                json!([format!("t{t}")])
                            };
                            planes.create(
                                cp,
                                Kind::Consumer,
                                json!({"username": format!("u{t}-{i}"), "tags": tags}),
                                None,
                            )
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed = results.iter().flatten().filter(|r| r.is_err()).count();
    let errors: Vec<_> = results
        .iter()
        .flatten()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert_eq!(
        failed,
        each.div_ceil(5),
        "only the invalid writes fail: {:?}",
        &errors[..3]
    );
    for r in results.iter().flatten().filter(|r| r.is_err()) {
        assert!(!matches!(r, Err(CpError::Storage { .. })), "{r:?}");
    }
    let written = threads * each - failed;
    // At most one commit per write attempt (a batch holding only failing writes still commits);
    // how many share one depends on how the writers overlap, which the machine's load decides
    // (the benchmarks measure it).
    let syncs = planes.sync.commits() - before;
    assert!(
        syncs >= 1 && syncs <= (threads * each) as u64,
        "{syncs} syncs"
    );
    drop(planes);
    let planes = ControlPlanes::open(path).unwrap();
    let found = all(&planes, &cp, Kind::Consumer, ListQuery::default());
    assert_eq!(found.len(), written);
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/local.db");
    let path = path.to_str().unwrap();
    let (cp, inst, hash, node, log) = {
        let planes = ControlPlanes::open(path).unwrap();
        let cp = planes.default_id();
        planes
            .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
            .unwrap();
        let inst = planes
            .create(
                &cp,
                Kind::Plugin,
                json!({"name": "cache", "config": {"header": "h"}, "tags": ["x"]}),
                None,
            )
            .unwrap();
        let fields =
            format!(r#"{CACHE_FIELDS}, {{ region = {{ type = "string", required = true }} }}"#);
        planes
            .upsert(
                &cp,
                Kind::CustomPlugin,
                "cache",
                custom("cache", &fields),
                None,
            )
            .unwrap();
        (
            cp.clone(),
            inst,
            planes.expected_config_hash(&cp).unwrap(),
            planes.nodes(&cp).unwrap()["items"][0].clone(),
            planes.dp_log(&cp).unwrap(),
        )
    };
    let planes = ControlPlanes::open(path).unwrap();
    assert_eq!(planes.default_id(), cp);
    assert_eq!(planes.list_control_planes(None, 10, 1).unwrap().1, 1);
    assert_eq!(
        planes.get(&cp, Kind::Plugin, &id_of(&inst), None).unwrap(),
        inst
    );
    assert_eq!(planes.expected_config_hash(&cp).unwrap(), hash);
    let again = planes.nodes(&cp).unwrap()["items"][0].clone();
    assert_eq!(again["config_hash"], node["config_hash"]);
    assert_eq!(again["compatibility_status"], node["compatibility_status"]);
    assert_eq!(planes.dp_log(&cp).unwrap(), log);
    // The reloaded verdicts still apply to the next payload.
    planes
        .create(&cp, Kind::Consumer, json!({"username": "u"}), None)
        .unwrap();
    let last = planes.dp_log(&cp).unwrap().last().unwrap().clone();
    assert_eq!(
        (last["seq"].as_i64(), last["accepted"].as_bool()),
        (Some(4), Some(false))
    );
    let tagged = planes
        .list(
            &cp,
            Kind::Plugin,
            &ListQuery {
                size: 10,
                tags: Some(TagFilter::parse("x").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(tagged.data.len(), 1);
}

/// Env var that turns [`durability_writer_child`] into a writer for [`acknowledged_writes_survive_kill_9`].
const CHILD_DB: &str = "PLUGSYNC_CP_TEST_CHILD_DB";

/// Not a test on its own: the child process of [`acknowledged_writes_survive_kill_9`]. Writes
/// consumers forever, printing each acknowledged id.
#[test]
#[ignore = "child process of acknowledged_writes_survive_kill_9"]
fn durability_writer_child() {
    use std::io::Write;
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let planes = ControlPlanes::open(&path).unwrap();
    let cp = planes.default_id();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let c = planes
            .create(
                &cp,
                Kind::Consumer,
                json!({"username": format!("u{i}")}),
                None,
            )
            .unwrap();
        writeln!(out, "ACK {}", id_of(&c)).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.db");
    let path = path.to_str().unwrap().to_string();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "controlplane::tests::durability_writer_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.to_string());
            if acked.len() == 150 {
                child.kill().unwrap(); // SIGKILL on Unix
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(acked.len(), 150);
    let planes = ControlPlanes::open(&path).unwrap();
    let cp = planes.default_id();
    for id in &acked {
        assert!(
            planes.get(&cp, Kind::Consumer, id, None).is_ok(),
            "lost acknowledged write {id}"
        );
    }
    // The data plane state reloads consistently: one payload per committed write.
    let log = planes.dp_log(&cp).unwrap();
    let consumers = all(
        &planes,
        &cp,
        Kind::Consumer,
        ListQuery {
            size: 1000,
            ..Default::default()
        },
    );
    assert_eq!(log.len(), consumers.len());
    assert_eq!(
        log.last().unwrap()["config_hash"],
        planes.expected_config_hash(&cp).unwrap()["expected_hash"]
    );
}

/// Throughput on a file-backed store (WAL, `synchronous=FULL`): run with
/// `cargo test --lib controlplane::tests::perf_file_backed -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, prints timings"]
fn perf_file_backed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perf.db");
    let planes = ControlPlanes::open(path.to_str().unwrap()).unwrap();
    let cp = planes.default_id();
    planes
        .create(&cp, Kind::CustomPlugin, custom("cache", CACHE_FIELDS), None)
        .unwrap();
    let start = std::time::Instant::now();
    let mut groups = Vec::new();
    for i in 0..2500 {
        let g = planes
            .create(
                &cp,
                Kind::ConsumerGroup,
                json!({"name": format!("g{i}")}),
                None,
            )
            .unwrap();
        groups.push(id_of(&g));
    }
    let scopes = start.elapsed();
    let start = std::time::Instant::now();
    for (i, g) in groups.iter().enumerate() {
        planes
            .create(&cp, Kind::Plugin, json!({"name": "cache", "consumer_group": {"id": g}, "config": {"header": format!("h{i}")}}), None)
            .unwrap();
    }
    let instances = start.elapsed();
    let start = std::time::Instant::now();
    let fields =
        format!(r#"{CACHE_FIELDS}, {{ region = {{ type = "string", required = true }} }}"#);
    planes
        .upsert(
            &cp,
            Kind::CustomPlugin,
            "cache",
            custom("cache", &fields),
            None,
        )
        .unwrap();
    let schema_update = start.elapsed();
    let start = std::time::Instant::now();
    for i in 0..200 {
        planes
            .create(
                &cp,
                Kind::Consumer,
                json!({"username": format!("u{i}")}),
                None,
            )
            .unwrap();
    }
    let while_rejected = start.elapsed();
    let start = std::time::Instant::now();
    let mut q = ListQuery {
        size: 1000,
        ..Default::default()
    };
    let mut n = 0;
    loop {
        let page = planes.list(&cp, Kind::Plugin, &q).unwrap();
        n += page.data.len();
        if page.offset.is_none() {
            break;
        }
        q.offset = page.offset;
    }
    let listing = start.elapsed();
    let start = std::time::Instant::now();
    drop(planes);
    let reopened = ControlPlanes::open(path.to_str().unwrap()).unwrap();
    let reopen = start.elapsed();
    assert_eq!(n, 2500);
    assert_eq!(
        reopened.dp_log(&cp).unwrap().len(),
        1 + 2500 + 2500 + 1 + 200
    );
    eprintln!(
        "2500 group creates: {scopes:?}; 2500 instance creates: {instances:?}; breaking schema update over 2500 instances: {schema_update:?}; 200 writes while rejected: {while_rejected:?}; list 2500 (3 pages): {listing:?}; reopen: {reopen:?}"
    );
}

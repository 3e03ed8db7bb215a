//! `plugsync serve` end to end: the real binary on an ephemeral port, spoken to over HTTP the
//! way Konnect and Admin API clients speak to it.

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{plugsync, root, Server};

/// The `@type` of Konnect's error details.
const DETAIL_TYPE: &str = "type.googleapis.com/kong.admin.model.v1.ErrorDetail";

/// An HTTP client with a timeout, so a hung server fails the test instead of hanging it.
fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the http client")
}

/// Sends a request; the status and the JSON body (`null` when empty).
fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().expect("send the request");
    let status = response.status();
    let text = response.text().expect("read the response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not json ({e}): {text}"))
    };
    (status, body)
}

/// Sends a request that must answer `expected`; its JSON body.
fn expect(request: RequestBuilder, expected: u16) -> Value {
    let (status, body) = send(request);
    assert_eq!(status.as_u16(), expected, "unexpected answer: {body}");
    body
}

const HANDLER: &str =
    "return { PRIORITY = 1000, VERSION = \"1.0.0\", access = function(self, conf) end }\n";

/// A schema named `name` with `config.greeting` (required), `config.times` (default 1,
/// between 1 and 10), `config.suffix` (optional, no default), and `extra` fields.
fn schema(name: &str, extra: &str) -> String {
    format!(
        r#"return {{
  name = "{name}",
  fields = {{
    {{ protocols = require("kong.db.schema.typedefs").protocols_http }},
    {{ config = {{ type = "record", fields = {{
      {{ greeting = {{ type = "string", required = true }} }},
      {{ times = {{ type = "integer", default = 1, between = {{ 1, 10 }} }} }},
      {{ suffix = {{ type = "string" }} }},{extra}
    }} }} }},
  }},
}}
"#
    )
}

/// A custom plugin body named `name`.
fn custom_plugin(name: &str) -> Value {
    json!({"name": name, "handler": HANDLER, "schema": schema(name, "")})
}

/// The store's answer is a Konnect validation-type error: 400, code 3, typed details.
fn assert_konnect_400(body: &Value, message: &str) {
    assert_eq!(body["code"], 3, "{body}");
    assert_eq!(body["message"], message, "{body}");
    let details = body["details"].as_array().expect("details is an array");
    assert!(!details.is_empty(), "{body}");
    for d in details {
        assert_eq!(d["@type"], DETAIL_TYPE, "{body}");
        assert!(
            d["messages"].as_array().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

/// Every page of a list, following `next`; the entities.
fn list_all(c: &Client, first: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = Some(first.to_string());
    while let Some(u) = url {
        let page = expect(c.get(&u), 200);
        all.extend(page["data"].as_array().expect("data").iter().cloned());
        url = page["next"].as_str().map(str::to_string);
    }
    all
}

/// Runs `f(i)` for `i` in `0..n` on eight threads.
fn parallel(n: usize, f: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                f(i);
            });
        }
    });
}

#[test]
fn custom_plugins_are_created_read_replaced_and_deleted_by_id_and_name() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let created = expect(
        c.post(s.v2("/custom-plugins"))
            .json(&custom_plugin("greeter")),
        201,
    );
    let id = created["id"].as_str().expect("an id").to_string();
    assert_eq!(created["name"], "greeter");
    assert_eq!(created["handler"], HANDLER);
    assert_eq!(created["tags"], Value::Null);
    assert!(created["created_at"].is_i64(), "{created}");

    assert_eq!(
        expect(c.get(s.v2(&format!("/custom-plugins/{id}"))), 200),
        created
    );
    assert_eq!(
        expect(c.get(s.v2("/custom-plugins/greeter")), 200)["id"],
        id.as_str()
    );

    let v2_handler = HANDLER.replace("1.0.0", "1.0.1");
    let mut body = custom_plugin("greeter");
    body["handler"] = json!(v2_handler);
    let by_id = expect(
        c.put(s.v2(&format!("/custom-plugins/{id}"))).json(&body),
        200,
    );
    assert_eq!(by_id["id"], id.as_str());
    assert_eq!(by_id["handler"], v2_handler.as_str());

    body["tags"] = json!(["team-a"]);
    let by_name = expect(c.put(s.v2("/custom-plugins/greeter")).json(&body), 200);
    assert_eq!(by_name["id"], id.as_str());
    assert_eq!(by_name["tags"], json!(["team-a"]));

    // PUT to a client-chosen id creates it, and repeating it changes nothing.
    let chosen = uuid::Uuid::new_v4().to_string();
    let url = s.v2(&format!("/custom-plugins/{chosen}"));
    let first = expect(c.put(&url).json(&custom_plugin("hello")), 200);
    assert_eq!(first["id"], chosen.as_str());
    expect(c.put(&url).json(&custom_plugin("hello")), 200);
    assert_eq!(list_all(&c, &s.v2("/custom-plugins")).len(), 2);

    expect(c.delete(s.v2("/custom-plugins/hello")), 204);
    expect(c.delete(s.v2(&format!("/custom-plugins/{id}"))), 204);
    let missing = expect(c.get(s.v2("/custom-plugins/greeter")), 404);
    assert_eq!(missing["code"], 5);
    assert_eq!(missing["message"], "not found");
    expect(c.delete(s.v2(&format!("/custom-plugins/{id}"))), 204);
    assert!(list_all(&c, &s.v2("/custom-plugins")).is_empty());
}

#[test]
fn custom_plugins_breaking_the_rules_are_refused_with_konnect_errors() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let url = s.v2("/custom-plugins");

    let mismatch = json!({"name": "other", "handler": HANDLER, "schema": schema("greeter", "")});
    let body = expect(c.post(&url).json(&mismatch), 400);
    assert_konnect_400(&body, "validation error");
    assert!(
        body.to_string()
            .contains("name must be equal to schema.name"),
        "{body}"
    );

    let huge = format!("{HANDLER}-- {}\n", "x".repeat(102_400));
    let too_big = json!({"name": "greeter", "handler": huge, "schema": schema("greeter", "")});
    assert_konnect_400(
        &expect(c.post(&url).json(&too_big), 400),
        "validation error",
    );

    let bad_lua =
        json!({"name": "greeter", "handler": "return {", "schema": schema("greeter", "")});
    assert_konnect_400(
        &expect(c.post(&url).json(&bad_lua), 400),
        "validation error",
    );

    expect(c.post(&url).json(&custom_plugin("greeter")), 201);
    let duplicate = expect(c.post(&url).json(&custom_plugin("greeter")), 400);
    assert_konnect_400(&duplicate, "data constraint error");
    assert_eq!(duplicate["details"][0]["type"], "ERROR_TYPE_REFERENCE");
    assert_eq!(duplicate["details"][0]["field"], "name");

    // Nothing refused was stored.
    assert_eq!(list_all(&c, &url).len(), 1);
}

#[test]
fn instances_fill_defaults_and_bind_to_services_routes_and_consumers() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    expect(
        c.post(s.v2("/custom-plugins"))
            .json(&custom_plugin("greeter")),
        201,
    );
    let service = expect(
        c.post(s.v2("/services"))
            .json(&json!({"name": "svc", "host": "example.com", "port": 80, "protocol": "http"})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let route = expect(
        c.post(s.v2("/routes"))
            .json(&json!({"name": "r", "paths": ["/r"], "service": {"id": service}})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let consumer = expect(
        c.post(s.v2("/consumers"))
            .json(&json!({"username": "alice"})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let global = expect(
        c.post(s.v2("/plugins"))
            .json(&json!({"name": "greeter", "config": {"greeting": "hi"}})),
        201,
    );
    assert_eq!(global["config"]["greeting"], "hi");
    assert_eq!(global["config"]["times"], 1, "default filled: {global}");
    assert_eq!(global["config"]["suffix"], Value::Null, "{global}");
    assert!(global["config"].as_object().unwrap().contains_key("suffix"));
    assert_eq!(global["service"], Value::Null);
    assert_eq!(global["enabled"], true);

    let mut nested = Vec::new();
    for (path, id, key) in [
        ("services", &service, "service"),
        ("routes", &route, "route"),
        ("consumers", &consumer, "consumer"),
    ] {
        let instance = expect(
            c.post(s.v2(&format!("/{path}/{id}/plugins")))
                .json(&json!({"name": "greeter", "config": {"greeting": key}})),
            201,
        );
        assert_eq!(instance[key]["id"], id.as_str(), "{instance}");
        assert_eq!(instance["config"]["times"], 1);
        let listed = expect(c.get(s.v2(&format!("/{path}/{id}/plugins"))), 200);
        let ids: Vec<&Value> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["id"])
            .collect();
        assert_eq!(
            ids,
            vec![&instance["id"]],
            "only the {key}'s plugin is listed"
        );
        let pid = instance["id"].as_str().unwrap().to_string();
        expect(c.get(s.v2(&format!("/{path}/{id}/plugins/{pid}"))), 200);
        nested.push((path, id.clone(), pid));
    }
    assert_eq!(list_all(&c, &s.v2("/plugins")).len(), 4);

    // An invalid config is refused with the path of each bad field.
    let global_id = global["id"].as_str().unwrap().to_string();
    let invalid = expect(
        c.put(s.v2(&format!("/plugins/{global_id}")))
            .json(&json!({"name": "greeter", "config": {"times": 50}})),
        400,
    );
    assert_konnect_400(&invalid, "validation error");
    let fields: BTreeSet<&str> = invalid["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(fields.contains("config.times"), "{invalid}");
    assert!(fields.contains("config.greeting"), "{invalid}");

    // A custom plugin in use cannot be deleted.
    let in_use = expect(c.delete(s.v2("/custom-plugins/greeter")), 400);
    assert_konnect_400(&in_use, "data constraint error");
    expect(c.get(s.v2("/custom-plugins/greeter")), 200);

    expect(c.delete(s.v2(&format!("/plugins/{global_id}"))), 204);
    for (path, id, pid) in nested {
        expect(c.delete(s.v2(&format!("/{path}/{id}/plugins/{pid}"))), 204);
    }
    expect(c.delete(s.v2("/custom-plugins/greeter")), 204);
}

#[test]
fn lists_page_through_2500_instances_1000_at_a_time() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    for p in 0..10 {
        expect(
            c.post(s.v2("/custom-plugins"))
                .json(&custom_plugin(&format!("p{p}"))),
            201,
        );
    }
    let services: Vec<Mutex<String>> = (0..250).map(|_| Mutex::new(String::new())).collect();
    parallel(250, |i| {
        let body = expect(
            c.post(s.v2("/services"))
                .json(&json!({"name": format!("s{i}"), "host": "example.com"})),
            201,
        );
        *services[i].lock().unwrap() = body["id"].as_str().unwrap().to_string();
    });
    parallel(2500, |i| {
        let service = services[i / 10].lock().unwrap().clone();
        expect(
            c.post(s.v2(&format!("/services/{service}/plugins")))
                .json(&json!({"name": format!("p{}", i % 10), "config": {"greeting": "x"}})),
            201,
        );
    });

    let mut ids = HashSet::new();
    let mut sizes = Vec::new();
    let mut url = Some(s.v2("/plugins?size=1000"));
    while let Some(u) = url {
        let page = expect(c.get(&u), 200);
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        ids.extend(data.iter().map(|p| p["id"].as_str().unwrap().to_string()));
        url = page["next"].as_str().map(str::to_string);
        if let Some(next) = &url {
            assert!(next.starts_with(&s.base), "next is a URI: {next}");
            assert!(page["offset"].is_string(), "{}", page["offset"]);
        } else {
            assert_eq!(page["offset"], Value::Null);
        }
    }
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert_eq!(ids.len(), 2500, "every instance exactly once");

    // The Admin API pages the same store with relative `next` paths.
    let first = expect(c.get(s.url("/plugins?size=1000")), 200);
    let next = first["next"].as_str().expect("a next page");
    assert!(next.starts_with("/plugins?offset="), "{next}");
    assert_eq!(
        expect(c.get(s.url(next)), 200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1000
    );

    for bad in ["size=0", "size=1001", "size=ten"] {
        let body = expect(c.get(s.v2(&format!("/plugins?{bad}"))), 400);
        assert_eq!(body["details"][0]["field"], "size", "{body}");
        let body = expect(c.get(s.url(&format!("/plugins?{bad}"))), 400);
        assert_eq!(body["name"], "invalid size", "{body}");
    }
    expect(c.get(s.v2("/plugins?offset=not-an-offset")), 400);
}

#[test]
fn tag_filters_match_all_with_commas_and_any_with_slashes() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    for (name, tags) in [
        ("a", json!(["a"])),
        ("ab", json!(["a", "b"])),
        ("b", json!(["b"])),
        ("c", json!(["c"])),
    ] {
        expect(
            c.post(s.v2("/services"))
                .json(&json!({"name": name, "host": "example.com", "tags": tags})),
            201,
        );
    }
    let names = |url: String| -> BTreeSet<String> {
        list_all(&c, &url)
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names(s.v2("/services?tags=a,b")), set(&["ab"]));
    assert_eq!(names(s.v2("/services?tags=a/b")), set(&["a", "ab", "b"]));
    assert_eq!(names(s.url("/services?tags=a%2Cb")), set(&["ab"]));
    assert_eq!(names(s.url("/services?tags=c")), set(&["c"]));
    // A filtered page of one keeps its filter in `next`.
    let page = expect(c.get(s.v2("/services?tags=a/b&size=1")), 200);
    let next = page["next"].as_str().expect("a next page");
    assert!(next.contains("tags=a%2Fb"), "{next}");
}

#[test]
fn a_token_is_required_in_either_header() {
    let s = Server::start(":memory:", &["--token", "s3cret-token"]);
    let c = client();
    let konnect = expect(c.get(s.url("/v2/control-planes")), 401);
    assert_eq!(konnect, json!({"message": "Unauthorized", "status": 401}));
    let admin = expect(c.get(s.url("/custom-plugins")), 401);
    assert_eq!(admin, json!({"message": "Unauthorized"}));
    expect(c.get(s.url("/_plugsync/dp-log")), 401);
    expect(
        c.get(s.url("/custom-plugins"))
            .header("Authorization", "Bearer wrong"),
        401,
    );
    expect(
        c.get(s.url("/custom-plugins"))
            .header("Kong-Admin-Token", "s3cret-token-and-more"),
        401,
    );

    expect(
        c.get(s.url("/v2/control-planes"))
            .bearer_auth("s3cret-token"),
        200,
    );
    expect(
        c.get(s.v2("/custom-plugins")).bearer_auth("s3cret-token"),
        200,
    );
    expect(
        c.get(s.url("/custom-plugins"))
            .header("Kong-Admin-Token", "s3cret-token"),
        200,
    );
    expect(
        c.post(s.url("/custom-plugins"))
            .header("Kong-Admin-Token", "s3cret-token")
            .json(&custom_plugin("greeter")),
        201,
    );
    thread::sleep(Duration::from_millis(50));
    assert!(
        !s.stderr.lock().unwrap().contains("s3cret"),
        "the token is never logged"
    );
}

#[test]
fn the_admin_api_shape_answers_the_same_store_with_kong_errors() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let created = expect(
        c.post(s.v2("/custom-plugins"))
            .json(&custom_plugin("greeter")),
        201,
    );
    let read = expect(c.get(s.url("/custom-plugins/greeter")), 200);
    assert_eq!(read, created);
    let list = expect(c.get(s.url("/custom-plugins")), 200);
    assert_eq!(list["data"], json!([created]));
    assert_eq!(list["next"], Value::Null);
    assert!(
        list.get("offset").is_none(),
        "Kong omits offset on the last page: {list}"
    );

    let violation = expect(
        c.post(s.url("/plugins"))
            .json(&json!({"name": "greeter", "config": {}})),
        400,
    );
    assert_eq!(violation["code"], 2);
    assert_eq!(violation["name"], "schema violation");
    assert_eq!(
        violation["message"],
        "schema violation (config.greeting: required field missing)"
    );
    assert_eq!(
        violation["fields"]["config"]["greeting"],
        "required field missing"
    );

    let duplicate = expect(
        c.post(s.url("/custom-plugins"))
            .json(&custom_plugin("greeter")),
        409,
    );
    assert_eq!(duplicate["code"], 5);
    assert_eq!(duplicate["name"], "unique constraint violation");

    assert_eq!(
        expect(c.get(s.url("/custom-plugins/nope")), 404),
        json!({"message": "Not found"})
    );
    assert_eq!(
        expect(c.get(s.url("/no/such/path/here")), 404),
        json!({"message": "Not found"})
    );

    let patched = expect(
        c.patch(s.url("/custom-plugins/greeter"))
            .json(&json!({"tags": ["x"]})),
        200,
    );
    assert_eq!(patched["tags"], json!(["x"]));
    assert_eq!(patched["handler"], HANDLER);
    assert_eq!(
        expect(c.get(s.v2("/custom-plugins/greeter")), 200)["tags"],
        json!(["x"])
    );
    expect(
        c.patch(s.v2("/custom-plugins/greeter"))
            .json(&json!({"tags": []})),
        405,
    );

    let schema_json = expect(c.get(s.url("/schemas/plugins/greeter")), 200);
    assert!(schema_json["fields"].is_array(), "{schema_json}");
    assert_eq!(
        expect(c.get(s.v2("/schemas/plugins/greeter")), 200),
        schema_json
    );
    assert_eq!(
        expect(c.get(s.url("/schemas/plugins/nope")), 404),
        json!({"message": "No plugin named 'nope'"})
    );
    assert_eq!(expect(c.get(s.v2("/schemas/plugins/nope")), 404)["code"], 5);
}

#[test]
fn malformed_requests_are_refused_in_the_dialect_of_the_path() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let json_type = ("Content-Type", "application/json");
    let broken = expect(
        c.post(s.v2("/services"))
            .header(json_type.0, json_type.1)
            .body("{not json"),
        400,
    );
    assert_eq!(broken["code"], 3);
    assert!(
        broken["message"].as_str().unwrap().contains("json"),
        "{broken}"
    );
    let admin = expect(
        c.post(s.url("/services"))
            .header(json_type.0, json_type.1)
            .body("{not json"),
        400,
    );
    assert!(
        admin["message"].as_str().unwrap().contains("json"),
        "{admin}"
    );
    let wrong_type = expect(
        c.post(s.v2("/services"))
            .header("Content-Type", "text/plain")
            .body("{}"),
        400,
    );
    assert!(
        wrong_type["message"]
            .as_str()
            .unwrap()
            .contains("content type"),
        "{wrong_type}"
    );
    expect(
        c.post(s.v2("/services")).header(json_type.0, json_type.1),
        400,
    );
    expect(c.get(s.v2("/no-such-kind")), 404);
    expect(c.get(s.v2("/custom-plugins/x/plugins")), 404);

    // A body over the limit is refused from its Content-Length, before it is read.
    let addr = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let path = format!("/v2/control-planes/{}/core-entities/services", s.cp);
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        9 * 1024 * 1024
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("read the status line");
    assert_eq!(&head, b"HTTP/1.1 413");
}

#[test]
fn a_breaking_schema_update_is_accepted_and_the_data_plane_rejects_the_next_payload() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    expect(
        c.post(s.v2("/custom-plugins"))
            .json(&custom_plugin("greeter")),
        201,
    );
    expect(
        c.post(s.v2("/plugins"))
            .json(&json!({"name": "greeter", "config": {"greeting": "hi"}})),
        201,
    );
    let log = expect(c.get(s.url("/_plugsync/dp-log")), 200);
    let last = log
        .as_array()
        .unwrap()
        .last()
        .expect("payloads were sent")
        .clone();
    assert_eq!(last["accepted"], true, "{log}");
    let nodes_url = s.url(&format!("/v2/control-planes/{}/nodes", s.cp));
    let hash_url = s.url(&format!("/v2/control-planes/{}/expected-config-hash", s.cp));
    let expected = expect(c.get(&hash_url), 200)["expected_hash"].clone();
    assert_eq!(
        expect(c.get(&nodes_url), 200)["items"][0]["config_hash"],
        expected
    );

    let mut breaking = custom_plugin("greeter");
    breaking["schema"] = json!(schema(
        "greeter",
        "\n      { level = { type = \"string\", required = true } },"
    ));
    expect(c.put(s.v2("/custom-plugins/greeter")).json(&breaking), 200);
    expect(
        c.post(s.v2("/services"))
            .json(&json!({"name": "after", "host": "example.com"})),
        201,
    );

    let log = expect(
        c.get(s.url(&format!("/_plugsync/dp-log?control_plane_id={}", s.cp))),
        200,
    );
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["accepted"], false, "{log}");
    let error = last["error"].as_str().expect("a rejection message");
    assert!(error.contains("required field missing"), "{error}");
    assert!(error.contains("level"), "{error}");

    let node = expect(c.get(&nodes_url), 200)["items"][0].clone();
    assert!(
        node["compatibility_status"]
            .to_string()
            .contains("required field missing"),
        "{node}"
    );
    let expected = expect(c.get(&hash_url), 200)["expected_hash"].clone();
    assert_ne!(
        node["config_hash"], expected,
        "the node kept its last good config"
    );
    expect(c.get(s.url("/_plugsync/dp-log?control_plane_id=nope")), 404);
}

#[test]
fn control_planes_are_listed_filtered_created_and_kept_apart() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let list = expect(
        c.get(s.url("/v2/control-planes"))
            .query(&[("filter[name][eq]", "default")]),
        200,
    );
    assert_eq!(list["meta"]["page"]["total"], 1, "{list}");
    assert_eq!(list["data"][0]["id"], s.cp.as_str());
    assert_eq!(list["data"][0]["name"], "default");

    let staging = expect(
        c.post(s.url("/v2/control-planes"))
            .json(&json!({"name": "staging"})),
        201,
    );
    let staging_id = staging["id"].as_str().unwrap().to_string();
    assert_eq!(
        expect(
            c.get(s.url(&format!("/v2/control-planes/{staging_id}"))),
            200
        )["name"],
        "staging"
    );
    let all = expect(c.get(s.url("/v2/control-planes")), 200);
    assert_eq!(all["meta"]["page"]["total"], 2, "{all}");
    expect(
        c.post(s.url("/v2/control-planes"))
            .json(&json!({"name": "staging"})),
        409,
    );
    let missing = expect(c.get(s.url("/v2/control-planes/nope")), 404);
    assert_eq!(missing["status"], 404, "{missing}");
    expect(c.get(s.url("/v2/control-planes?page[size]=0")), 400);
    // A filter is `filter[field]` or `filter[field][op]`; a bare `filter` is not one.
    expect(c.get(s.url("/v2/control-planes?filter=default")), 400);
    expect(c.get(s.url("/v2/control-planes?filter[nope][eq]=x")), 400);

    expect(
        c.post(s.v2_of(&staging_id, "/custom-plugins"))
            .json(&custom_plugin("greeter")),
        201,
    );
    assert_eq!(
        list_all(&c, &s.v2_of(&staging_id, "/custom-plugins")).len(),
        1
    );
    assert!(list_all(&c, &s.v2("/custom-plugins")).is_empty());
    assert!(list_all(&c, &s.url("/custom-plugins")).is_empty());
    expect(
        c.get(s.url(&format!(
            "/v2/control-planes/{staging_id}/expected-config-hash"
        ))),
        200,
    );
}

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/local.db");
    let data = data.to_str().unwrap();
    let s = Server::start(data, &[]);
    let c = client();
    let created = expect(
        c.post(s.v2("/custom-plugins"))
            .json(&custom_plugin("greeter")),
        201,
    );
    let cp = s.cp.clone();
    s.stop();

    let s = Server::start(data, &[]);
    assert_eq!(s.cp, cp, "the default control plane keeps its id");
    assert_eq!(expect(c.get(s.v2("/custom-plugins/greeter")), 200), created);
}

#[test]
fn every_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("local.db");
    let data = data.to_str().unwrap();
    let mut s = Server::start(data, &[]);
    let acked = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let url = s.v2("/services");
    thread::scope(|scope| {
        for writer in 0..4 {
            let (acked, stop, url) = (&acked, &stop, &url);
            scope.spawn(move || {
                let c = client();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("w{writer}-{i}");
                    let body = json!({"name": name, "host": "example.com"});
                    match c.post(url).json(&body).send() {
                        Ok(r) if r.status() == 201 => acked.lock().unwrap().push(name),
                        _ => break,
                    }
                }
            });
        }
        let start = Instant::now();
        while acked.lock().unwrap().len() < 40 && start.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(5));
        }
        s.child.kill().expect("kill -9 the server");
        s.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
    });
    drop(s);
    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() >= 40,
        "only {} writes were acknowledged",
        acked.len()
    );

    let s = Server::start(data, &[]);
    let stored: HashSet<String> = list_all(&client(), &s.v2("/services?size=1000"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// What a faulty server answered one request: a status and the fault label, or a dropped
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Status(u16, String),
    Dropped,
}

/// Creates services `f0..f39` one by one; the answers.
fn forty_writes(s: &Server) -> Vec<Answer> {
    let c = client();
    (0..40)
        .map(|i| {
            let body = json!({"name": format!("f{i}"), "host": "example.com"});
            match c.post(s.v2("/services")).json(&body).send() {
                Ok(r) => {
                    let status = r.status().as_u16();
                    if status == 429 {
                        let retry = r.headers().get("retry-after").expect("429 has Retry-After");
                        assert!(retry.to_str().unwrap().parse::<u64>().unwrap() >= 1);
                    }
                    let label = r
                        .headers()
                        .get("x-plugsync-fault")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    Answer::Status(status, label)
                }
                Err(_) => Answer::Dropped,
            }
        })
        .collect()
}

#[test]
fn fault_rate_one_answers_only_faults_before_and_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("local.db");
    let data = data.to_str().unwrap();
    let faulty = ["--fault-rate", "1", "--fault-seed", "42"];
    let s = Server::start(data, &faulty);
    let answers = forty_writes(&s);
    drop(s);

    assert!(answers.contains(&Answer::Dropped), "{answers:?}");
    for answer in &answers {
        if let Answer::Status(status, label) = answer {
            assert!([429, 500, 503].contains(status), "not a fault: {answer:?}");
            assert!(label.ends_with("-commit"), "{answer:?}");
        }
    }

    // After-commit faults wrote; before-commit faults did not.
    let s = Server::start(data, &[]);
    let stored: HashSet<String> = list_all(&client(), &s.v2("/services"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    let mut seen = (false, false);
    for (i, answer) in answers.iter().enumerate() {
        if let Answer::Status(_, label) = answer {
            let written = stored.contains(&format!("f{i}"));
            if label.ends_with("after-commit") {
                seen.0 = true;
                assert!(written, "f{i} ({label}) was not written");
            } else {
                seen.1 = true;
                assert!(!written, "f{i} ({label}) was written");
            }
        }
    }
    assert_eq!(seen, (true, true), "both kinds of fault: {answers:?}");
    drop(s);

    // The same seed gives the same faults.
    let again = Server::start(":memory:", &faulty);
    assert_eq!(forty_writes(&again), answers);
}

#[test]
fn the_rate_limit_answers_429_with_retry_after() {
    let s = Server::start(":memory:", &["--rate-limit", "5"]);
    let c = client();
    let statuses: Vec<u16> = (0..20)
        .map(|_| {
            let r = c.get(s.v2("/custom-plugins")).send().unwrap();
            if r.status() == 429 {
                assert!(r.headers().contains_key("retry-after"));
            }
            r.status().as_u16()
        })
        .collect();
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
}

#[test]
fn a_non_loopback_listen_address_requires_a_token() {
    let output = plugsync(&root())
        .env_remove("PLUGSYNC_SERVE_TOKEN")
        .args(["serve", "--listen", "0.0.0.0:0", "--data", ":memory:"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("non-loopback"), "{stderr}");
    assert!(stderr.contains("--token"), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// The local control plane runs a schema's own `custom_validator` on every instance write, as
/// Kong does, and answers a refusal with Kong's body.
#[test]
fn instance_writes_run_the_schemas_custom_validator() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let extra = r#"
      { code = { type = "string", custom_validator = function(v)
          return v == v:upper(), "must be upper case" end } },"#;
    expect(
        c.post(s.url("/custom-plugins")).json(&json!({
            "name": "coded", "handler": HANDLER, "schema": schema("coded", extra),
        })),
        201,
    );
    let refused = expect(
        c.post(s.url("/plugins")).json(&json!({
            "name": "coded", "config": {"greeting": "hi", "code": "abc"},
        })),
        400,
    );
    assert_eq!(
        refused["message"], "schema violation (config.code: must be upper case)",
        "{refused}"
    );
    assert_eq!(refused["fields"]["config"]["code"], "must be upper case");
    expect(
        c.post(s.url("/plugins")).json(&json!({
            "name": "coded", "config": {"greeting": "hi", "code": "ABC"},
        })),
        201,
    );
}

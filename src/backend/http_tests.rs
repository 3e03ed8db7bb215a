//! The HTTP backend's policy on scripted answers, without a server: a [`Script`] plays the
//! server through the [`HttpClient`] seam, records what was sent and how long the transport
//! chose to wait, and never sleeps. Retries (429, 5xx, `Retry-After`, gone targets), redirects,
//! error messages, and the paging of Konnect (`offset`), Kong (`next` and `offset`) and
//! Konnect's plugin schemas (`page.next`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{
    Answer, BodyError, Headers, HttpClient, HttpSettings, Method, NoAnswer, RetryPolicy, Transport,
};
use super::{Backend, HttpBackend, Kind, RemoteFlavor, TargetError};

/// A scripted server: answers in order; panics when asked more than the script holds.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Result<Answer, NoAnswer>>>,
    /// `METHOD URL` of every request sent, in order.
    sent: Mutex<Vec<String>>,
    /// Every wait the transport asked for.
    slept: Mutex<Vec<Duration>>,
}

impl Script {
    fn new() -> Arc<Script> {
        Arc::new(Script::default())
    }

    fn push(&self, answer: Result<Answer, NoAnswer>) {
        self.answers.lock().unwrap().push_back(answer);
    }

    /// Answers `status` with `body` and `headers`.
    fn answer(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.push(Ok(Answer {
            status,
            headers: Headers::of(headers),
            body: Ok(body.to_string()),
        }));
    }

    fn json(&self, status: u16, body: Value) {
        self.answer(status, &[], &body.to_string());
    }

    fn refused(&self) {
        self.push(Err(NoAnswer {
            message: "could not connect: Connection refused".into(),
            connect: true,
        }));
    }

    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }

    fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }

    fn exhausted(&self) -> bool {
        self.answers.lock().unwrap().is_empty()
    }
}

impl HttpClient for Arc<Script> {
    fn send(&self, method: &Method, url: &str, _body: Option<&Value>) -> Result<Answer, NoAnswer> {
        self.sent.lock().unwrap().push(format!("{method} {url}"));
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("the script has no answer left for {method} {url}"))
    }

    fn sleep(&self, wait: Duration) {
        self.slept.lock().unwrap().push(wait);
    }
}

/// Settings with the default retry policy, unpaced.
fn settings() -> HttpSettings {
    HttpSettings {
        retry: RetryPolicy::default(),
        ..HttpSettings::default()
    }
}

fn transport(script: &Arc<Script>) -> Transport {
    Transport::with_client(&settings(), Box::new(Arc::clone(script)))
}

const URL: &str = "http://cp.test/plugins";

fn api_error(err: TargetError) -> (u16, String) {
    match err {
        TargetError::Api {
            status, message, ..
        } => (status, message),
        other => panic!("not an API error: {other:?}"),
    }
}

#[test]
fn a_503_is_retried_and_the_second_answer_returned() {
    let script = Script::new();
    script.answer(503, &[], "");
    script.json(200, json!({"ok": true}));
    let t = transport(&script);
    let (status, body) = t.send(Method::GET, URL, None).unwrap();
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(script.sent().len(), 2);
    let stats = t.stats();
    assert_eq!((stats.requests, stats.retries), (2, 1));
    // The first backoff: the base (200 ms) with jitter, between half and all of it.
    let slept = script.slept();
    assert_eq!(slept.len(), 1);
    assert!(
        slept[0] >= Duration::from_millis(100) && slept[0] <= Duration::from_millis(200),
        "{slept:?}"
    );
}

#[test]
fn every_retryable_status_is_retried_and_no_other() {
    for status in [429, 500, 502, 503, 504] {
        let script = Script::new();
        script.answer(status, &[], "");
        script.json(200, json!({}));
        assert!(transport(&script).send(Method::GET, URL, None).is_ok());
        assert_eq!(script.sent().len(), 2, "{status} is retried");
    }
    for status in [400, 401, 403, 404, 409, 501] {
        let script = Script::new();
        script.answer(status, &[], "");
        let err = transport(&script).send(Method::GET, URL, None).unwrap_err();
        assert_eq!(api_error(err).0, status);
        assert_eq!(script.sent().len(), 1, "{status} is not retried");
        assert!(script.slept().is_empty());
    }
}

#[test]
fn retry_after_in_seconds_is_a_floor_on_the_wait() {
    let script = Script::new();
    script.answer(429, &[("Retry-After", "7")], "");
    script.json(200, json!({}));
    transport(&script).send(Method::GET, URL, None).unwrap();
    assert_eq!(script.slept(), vec![Duration::from_secs(7)]);
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let script = Script::new();
    let when = std::time::SystemTime::now() + Duration::from_secs(30);
    let date = httpdate::fmt_http_date(when);
    script.answer(503, &[("retry-after", date.as_str())], "");
    script.json(200, json!({}));
    transport(&script).send(Method::GET, URL, None).unwrap();
    let slept = script.slept();
    assert!(
        slept[0] > Duration::from_secs(25) && slept[0] <= Duration::from_secs(30),
        "{slept:?}"
    );
}

#[test]
fn a_long_retry_after_is_capped_at_four_times_the_longest_wait() {
    let script = Script::new();
    script.answer(429, &[("Retry-After", "3600")], "");
    script.json(200, json!({}));
    transport(&script).send(Method::GET, URL, None).unwrap();
    assert_eq!(script.slept(), vec![Duration::from_secs(60)]);
}

#[test]
fn backoff_doubles_until_the_attempts_run_out_and_the_target_is_then_unreachable() {
    let script = Script::new();
    let policy = RetryPolicy::default();
    for _ in 0..policy.max_attempts {
        script.answer(502, &[], "<html>bad gateway</html>");
    }
    let t = transport(&script);
    let (status, message) = api_error(t.send(Method::GET, URL, None).unwrap_err());
    assert_eq!(status, 502);
    assert!(
        message.starts_with("<html>bad gateway</html> (gave up after 8 attempts over "),
        "{message}"
    );
    let slept = script.slept();
    assert_eq!(slept.len(), 7);
    for (i, wait) in slept.iter().enumerate() {
        let backoff = (policy.base * (1 << i)).min(policy.max_delay);
        assert!(
            *wait >= backoff / 2 && *wait <= backoff,
            "retry {i}: {wait:?} against {backoff:?}"
        );
    }
    // A gateway's 502 after every retry: the target is gone, and later requests are not sent.
    assert!(t.unreachable().is_some());
    let err = t.send(Method::GET, URL, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("not sent: the target is unreachable"),
        "{err}"
    );
    assert_eq!(script.sent().len(), 8);
}

#[test]
fn a_persistent_500_gives_up_without_marking_the_target_unreachable() {
    let script = Script::new();
    for _ in 0..8 {
        script.answer(500, &[], r#"{"message":"An unexpected error occurred"}"#);
    }
    let t = transport(&script);
    let (_, message) = api_error(t.send(Method::GET, URL, None).unwrap_err());
    assert!(message.starts_with("An unexpected error occurred (gave up after 8 attempts"));
    assert!(t.unreachable().is_none());
}

#[test]
fn a_refused_first_contact_gets_three_attempts_only() {
    let script = Script::new();
    for _ in 0..3 {
        script.refused();
    }
    let t = transport(&script);
    let err = t.send(Method::GET, URL, None).unwrap_err();
    assert!(matches!(err, TargetError::Transport { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("could not connect: Connection refused (gave up after 3 attempts"),
        "{err}"
    );
    assert!(script.exhausted());
    assert!(t.unreachable().is_some());
}

#[test]
fn a_refused_connection_after_an_answer_gets_the_full_policy() {
    let script = Script::new();
    script.json(200, json!({}));
    for _ in 0..4 {
        script.refused();
    }
    script.json(200, json!({"second": true}));
    let t = transport(&script);
    t.send(Method::GET, URL, None).unwrap();
    let (_, body) = t.send(Method::PUT, URL, Some(&json!({}))).unwrap();
    assert_eq!(body, json!({"second": true}));
    assert_eq!(t.stats().retries, 4);
}

#[test]
fn a_body_cut_short_is_retried_like_a_dropped_connection() {
    let script = Script::new();
    script.push(Ok(Answer {
        status: 200,
        headers: Headers::default(),
        body: Err(BodyError::Read("10 of 20 bytes".into())),
    }));
    script.json(200, json!({"whole": true}));
    let (_, body) = transport(&script).send(Method::GET, URL, None).unwrap();
    assert_eq!(body, json!({"whole": true}));
}

#[test]
fn a_body_over_the_limit_is_refused_not_retried() {
    let script = Script::new();
    script.push(Ok(Answer {
        status: 200,
        headers: Headers::default(),
        body: Err(BodyError::TooLarge(Some(1 << 40))),
    }));
    let err = transport(&script).send(Method::GET, URL, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("the answer is larger than 512 MiB (Content-Length: 1099511627776); refused"),
        "{err}"
    );
    assert_eq!(script.sent().len(), 1);
}

#[test]
fn a_redirect_is_reported_and_not_followed() {
    let script = Script::new();
    script.answer(302, &[("Location", "https://elsewhere.test/\u{1b}[2J")], "");
    let (status, message) = api_error(transport(&script).send(Method::GET, URL, None).unwrap_err());
    assert_eq!(status, 302);
    assert!(
        message.starts_with("the server redirects to `https://elsewhere.test/ [2J`;"),
        "{message}"
    );
    assert_eq!(script.sent().len(), 1);
}

#[test]
fn a_2xx_body_that_is_not_json_is_an_error_and_an_empty_one_is_null() {
    let script = Script::new();
    script.answer(200, &[], "<html>maintenance</html>");
    script.answer(204, &[], "");
    let t = transport(&script);
    let (status, message) = api_error(t.send(Method::GET, URL, None).unwrap_err());
    assert_eq!(status, 200);
    assert!(message.starts_with("the response is not JSON"), "{message}");
    assert_eq!(
        t.send(Method::DELETE, URL, None).unwrap(),
        (204, Value::Null)
    );
}

#[test]
fn error_messages_come_from_each_server_shape() {
    let cases = [
        (
            json!({"code": 3, "message": "validation error", "details": [{"field": "config.window", "messages": ["required field missing"]}]}),
            "validation error: config.window: required field missing",
        ),
        (
            json!({"status": 400, "title": "Bad Request", "detail": "Request contains unknown property", "invalid_parameters": [{"field": "id", "reason": "property id should not exist"}]}),
            "Bad Request: Request contains unknown property (id: property id should not exist)",
        ),
        (
            json!({"code": 2, "name": "schema violation", "message": "schema violation (name: required)", "fields": {}}),
            "schema violation (name: required)",
        ),
    ];
    for (body, want) in cases {
        let script = Script::new();
        script.json(400, body);
        let err = transport(&script)
            .send(Method::PUT, URL, Some(&json!({})))
            .unwrap_err();
        assert_eq!(err.to_string(), format!("PUT {URL}: 400 {want}"));
    }
    let script = Script::new();
    script.answer(404, &[], "");
    let err = transport(&script).send(Method::GET, URL, None).unwrap_err();
    assert_eq!(err.to_string(), format!("GET {URL}: 404 not found"));
}

/// A Kong Admin API backend (connecting sends nothing) over `script`.
fn kong(script: &Arc<Script>) -> HttpBackend {
    let client = Arc::clone(script);
    HttpBackend::connect_with(
        "http://kong.test:8001",
        RemoteFlavor::Kong { workspace: None },
        &settings(),
        move |s| Ok(Transport::with_client(s, Box::new(client))),
    )
    .unwrap()
}

/// Every item of every page of `kind`.
fn list(backend: &HttpBackend, kind: Kind, tags: Option<&str>) -> Result<Vec<Value>, TargetError> {
    let mut items = Vec::new();
    backend.for_each_page(kind, tags, &mut |page| {
        items.extend(page);
        Ok(())
    })?;
    Ok(items)
}

#[test]
fn kong_pages_are_followed_by_offset_until_next_is_null() {
    let script = Script::new();
    script.json(
        200,
        json!({"data": [{"id": "a"}, {"id": "b"}], "next": "/plugins?offset=b2Zm&size=1000", "offset": "b2Zm"}),
    );
    script.json(200, json!({"data": [{"id": "c"}], "next": null}));
    let backend = kong(&script);
    let items = list(&backend, Kind::Plugin, None).unwrap();
    assert_eq!(
        items,
        vec![json!({"id": "a"}), json!({"id": "b"}), json!({"id": "c"})]
    );
    assert_eq!(
        script.sent(),
        vec![
            "GET http://kong.test:8001/plugins?size=1000",
            "GET http://kong.test:8001/plugins?size=1000&offset=b2Zm",
        ]
    );
}

#[test]
fn konnect_pages_are_followed_by_offset_with_the_tag_filter_kept() {
    let script = Script::new();
    // connect: the control plane by name.
    script.json(200, json!({"data": [{"id": "cp-1", "name": "prod"}]}));
    script.json(200, json!({"data": [{"id": "a"}], "offset": "o1"}));
    // With a tag filter a page may be empty and still point on.
    script.json(200, json!({"data": [], "offset": "o2"}));
    script.json(200, json!({"data": [{"id": "b"}], "offset": ""}));
    let client = Arc::clone(&script);
    let backend = HttpBackend::connect_with(
        "https://eu.api.konghq.test/",
        RemoteFlavor::Konnect {
            control_plane_id: None,
            control_plane_name: Some("prod".into()),
        },
        &settings(),
        move |s| Ok(Transport::with_client(s, Box::new(client))),
    )
    .unwrap();
    assert_eq!(backend.info().control_plane, "prod");
    let items = list(&backend, Kind::CustomPlugin, Some("team-a")).unwrap();
    assert_eq!(items, vec![json!({"id": "a"}), json!({"id": "b"})]);
    let base = "https://eu.api.konghq.test/v2/control-planes/cp-1/core-entities/custom-plugins";
    assert_eq!(
        script.sent(),
        vec![
            "GET https://eu.api.konghq.test/v2/control-planes?filter%5Bname%5D%5Beq%5D=prod"
                .to_string(),
            format!("GET {base}?size=1000&tags=team-a"),
            format!("GET {base}?size=1000&tags=team-a&offset=o1"),
            format!("GET {base}?size=1000&tags=team-a&offset=o2"),
        ]
    );
}

#[test]
fn a_page_without_a_data_array_is_an_error_not_an_empty_list() {
    let script = Script::new();
    script.answer(200, &[], r#"{"message": "maintenance"}"#);
    let err = list(&kong(&script), Kind::Plugin, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("the answer is not a list (no array `data`)"),
        "{err}"
    );
}

#[test]
fn paging_that_loops_or_never_ends_is_refused() {
    let script = Script::new();
    script.json(200, json!({"data": [{"id": "a"}], "offset": "x"}));
    script.json(200, json!({"data": [{"id": "b"}], "offset": "x"}));
    let err = list(&kong(&script), Kind::Plugin, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("the list's pages loop (offset `x` came back)"),
        "{err}"
    );

    let script = Script::new();
    script.json(200, json!({"data": [], "offset": "y"}));
    let err = list(&kong(&script), Kind::Plugin, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("an empty page that points to a next one"),
        "{err}"
    );
}

#[test]
fn konnect_plugin_schemas_follow_the_page_next_cursor() {
    let script = Script::new();
    // connect: the control plane by id.
    script.json(200, json!({"id": "cp-1", "name": "prod"}));
    script.json(
        200,
        json!({"items": [{"name": "one"}], "page": {"next": "/v2/control-planes/cp-1/core-entities/plugin-schemas?page%5Bafter%5D=c1&page%5Bsize%5D=1000"}}),
    );
    script.json(
        200,
        json!({"items": [{"name": "two"}], "page": {"next": null}}),
    );
    let client = Arc::clone(&script);
    let backend = HttpBackend::connect_with(
        "https://konnect.test",
        RemoteFlavor::Konnect {
            control_plane_id: Some("cp-1".into()),
            control_plane_name: None,
        },
        &settings(),
        move |s| Ok(Transport::with_client(s, Box::new(client))),
    )
    .unwrap();
    let schemas = backend.list_plugin_schemas().unwrap();
    assert_eq!(
        schemas,
        vec![json!({"name": "one"}), json!({"name": "two"})]
    );
    let base = "https://konnect.test/v2/control-planes/cp-1/core-entities/plugin-schemas";
    assert_eq!(
        script.sent(),
        vec![
            "GET https://konnect.test/v2/control-planes/cp-1".to_string(),
            format!("GET {base}?page%5Bsize%5D=1000"),
            format!("GET {base}?page%5Bsize%5D=1000&page%5Bafter%5D=c1"),
        ]
    );
}

#[test]
fn a_delete_of_an_entity_already_gone_succeeds() {
    let script = Script::new();
    script.json(404, json!({"message": "Not found"}));
    kong(&script).delete(Kind::Plugin, "p-1").unwrap();
    assert_eq!(
        script.sent(),
        vec!["DELETE http://kong.test:8001/plugins/p-1"]
    );
}

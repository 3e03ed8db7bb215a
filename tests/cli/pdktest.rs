//! `plugsync test`: the examples' tests, plugins of our own (header, auth rejection, body,
//! logging), a wrong expectation that must fail readably, invalid files, and the report formats.

use super::{root, run_plugsync};

#[test]
fn the_quickstart_plugins_pass_their_tests() {
    let (code, out, err) = run_plugsync(&root(), &["test", "-s", "examples/quickstart"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS  request-tagger: tags every request  (examples/quickstart/tests/request-tagger.test.yaml:4:5)"), "{out}");
    assert!(
        out.contains("PASS  maintenance-window: during maintenance"),
        "{out}"
    );
    assert!(
        out.ends_with("test result: 8 passed, 0 failed. 8 cases in 2 files\n"),
        "{out}"
    );
}

#[test]
fn header_auth_body_and_logging_plugins_pass() {
    let (code, out, err) = run_plugsync(&root(), &["test", "-s", "testdata/pdktest"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    for case in [
        "security-headers: adds headers and strips revealing ones",
        "token-gate: no token is rejected with 401 and a challenge",
        "token-gate: a wrong token is rejected with 403 and logged",
        "body-redactor: masks passwords in JSON responses",
        "audit-log: server errors are logged at err level",
    ] {
        assert!(out.contains(&format!("PASS  {case}")), "{case}: {out}");
    }
    assert!(out.contains("13 passed, 0 failed"), "{out}");
}

#[test]
fn a_wrong_expectation_fails_with_expected_and_actual_side_by_side() {
    let (code, out, _) = run_plugsync(
        &root(),
        &["test", "-s", "testdata/pdktest", "testdata/pdktest/failing"],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    let expected = "\
FAIL  security-headers: claims the wrong frame option and keeps Server  (testdata/pdktest/failing/wrong-expectation.test.yaml:4:5)
      field                             expected                                  actual
      response.headers.X-Frame-Options  \"SAMEORIGIN\"                              \"DENY\"
      response.headers.Server           \"nginx\"                                   (absent)
";
    assert!(out.starts_with(expected), "{out}");
    assert!(out.contains("      response.body (- expected, + actual):\n          line one\n        - line 2\n        + line two\n"), "{out}");
    assert!(
        out.ends_with("test result: 0 passed, 1 failed. 1 case in 1 file\n"),
        "{out}"
    );
}

#[test]
fn an_invalid_file_is_reported_at_its_line_and_column() {
    let (code, out, _) = run_plugsync(
        &root(),
        &[
            "test",
            "-s",
            "testdata/pdktest",
            "testdata/pdktest/invalid/bad-key.test.yaml",
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("testdata/pdktest/invalid/bad-key.test.yaml:6:7: error[test-file]: unknown key `respone` in `expect`"), "{out}");
}

#[test]
fn json_and_junit_reports() {
    let (code, out, _) = run_plugsync(
        &root(),
        &[
            "test",
            "-s",
            "testdata/pdktest",
            "--format",
            "json",
            "testdata/pdktest/failing",
            "testdata/pdktest/tests/token-gate.test.yaml",
        ],
        &[],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(v["summary"]["passed"], 4);
    assert_eq!(v["summary"]["failed"], 1);
    assert_eq!(v["ok"], false);
    let failed = &v["files"][0]["cases"][0];
    assert_eq!(failed["status"], "fail");
    assert_eq!(
        failed["mismatches"][0]["field"],
        "response.headers.X-Frame-Options"
    );
    assert_eq!(failed["mismatches"][0]["actual"], "\"DENY\"");

    let (code, out, _) = run_plugsync(
        &root(),
        &[
            "test",
            "-s",
            "testdata/pdktest",
            "--format",
            "junit",
            "testdata/pdktest/failing",
            "testdata/pdktest/invalid",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"plugsync test\" tests=\"2\" failures=\"1\" errors=\"1\""), "{out}");
    assert!(
        out.contains("<failure message=\"response.headers.X-Frame-Options differs"),
        "{out}"
    );
    assert!(
        out.contains(
            "<error message=\"testdata/pdktest/invalid/bad-key.test.yaml:6:7: unknown key"
        ),
        "{out}"
    );
}

#[test]
fn test_files_inside_a_plugin_directory_are_refused_and_a_missing_plugin_is_named() {
    let dir = tempfile::tempdir().unwrap();
    super::copy_dir(&root().join("examples/quickstart"), dir.path());
    std::fs::write(
        dir.path().join("plugins/request-tagger/tagger.test.yaml"),
        "plugin: request-tagger\ncases: [ { name: x } ]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tests/other.test.yaml"),
        "# a comment\nplugin: not-declared\ncases: [ { name: x } ]\n",
    )
    .unwrap();
    let (code, out, _) = run_plugsync(dir.path(), &["test", "-s", ".", ".", "tests"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("plugins/request-tagger/tagger.test.yaml:1:1: error[test-file]: a test file may not live in a plugin directory"), "{out}");
    assert!(out.contains("tests/other.test.yaml:2:9: error[test-file]: `not-declared` is not a custom plugin declared in the state (declared: request-tagger, maintenance-window)"), "{out}");
}

#[test]
fn no_test_files_is_an_error() {
    let (code, _, err) = run_plugsync(&root(), &["test", "-s", "examples/quickstart-v2"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no test files (*.test.yaml) found in examples/quickstart-v2/tests"),
        "{err}"
    );
}

//! The read commands, `events --follow` with a cursor file, errors and exit codes.
use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::ChildStdout,
};

use crate::{
    command, daap,
    helpers::{TestApp, col, simple_table, table_body},
};

crate::cli_scenarios!(
    events_follow_prints_a_change_made_while_it_runs_and_keeps_its_cursor,
    a_wrong_command_line_exits_3_and_a_refusal_exits_1_with_the_problem,
    ls_get_versions_diff_and_export_print_what_the_api_holds,
);

/// The events a run printed, one JSON object per line.
fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

/// The next line a follower prints, as JSON (at most 20 s away).
async fn next_event(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("an event line within 20 s")
        .expect("stdout is readable")
        .expect("the follower is still running");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
}

async fn events_follow_prints_a_change_made_while_it_runs_and_keeps_its_cursor(app: TestApp) {
    app.create_product("sales").await;
    app.put_table_ok("sales", "t", &simple_table()).await;
    app.create_product("other").await;
    let dir = tempfile::tempdir().expect("a directory");
    let cursor_file = dir.path().join("cursor");
    let cursor_arg = cursor_file.to_str().unwrap();

    let mut child = command(
        &app,
        dir.path(),
        &["events", "--follow", "--product", "sales", "--cursor-file", cursor_arg, "--wait", "2"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // What happened before it started (only product `sales`'s).
    assert_eq!(next_event(&mut lines).await["type"], "data_product.created");
    assert_eq!(next_event(&mut lines).await["type"], "schema.created");

    // A change made while it waits arrives on its own line.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.put_table_ok("sales", "u", &simple_table()).await;
    let event = next_event(&mut lines).await;
    assert_eq!(event["type"], "schema.created", "{event}");
    assert_eq!(event["table"], "u", "{event}");
    assert_eq!(event["dataProduct"], "sales", "{event}");
    let last_cursor = event["cursor"].as_str().expect("a cursor").to_owned();
    // The cursor file follows what was printed.
    let mut kept = String::new();
    for _ in 0..50 {
        kept = std::fs::read_to_string(&cursor_file).unwrap_or_default();
        if kept.trim() == last_cursor {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kept.trim(), last_cursor);
    child.kill().await.expect("the follower stops");

    // Started again from the cursor file: nothing twice, then only what came since.
    let run = daap(&app, dir.path(), &["events", "--product", "sales", "--cursor-file", cursor_arg], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stdout, "", "nothing new yet: {}", run.all());
    app.put_table_ok("sales", "t", &table_body("Changed", vec![col("id", "int"), col("label", "string")])).await;
    let run = daap(&app, dir.path(), &["events", "--product", "sales", "--cursor-file", cursor_arg], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&run.stdout);
    assert_eq!(got.len(), 1, "{}", run.all());
    assert_eq!(got[0]["type"], "schema.updated");
    assert_eq!(std::fs::read_to_string(&cursor_file).unwrap().trim(), got[0]["cursor"].as_str().unwrap());

    // `--type` filters; without a cursor file it starts at the beginning of the feed.
    let run = daap(&app, dir.path(), &["events", "--type", "data_product.created"], &[]).await;
    let names: Vec<Value> = events(&run.stdout).iter().map(|e| e["dataProduct"].clone()).collect();
    assert_eq!(names, vec![json!("sales"), json!("other")], "{}", run.all());
}

async fn a_wrong_command_line_exits_3_and_a_refusal_exits_1_with_the_problem(app: TestApp) {
    let dir = tempfile::tempdir().expect("a directory");
    let state = dir.path();

    let help = daap(&app, state, &["--help"], &[]).await;
    assert_eq!(help.code, 0, "{}", help.all());
    for line in ["Exit codes:", "0  ok", "1  failure", "2  plan has changes", "3  usage"] {
        assert!(help.stdout.contains(line), "`{line}` in {}", help.all());
    }
    for command in ["plan", "apply", "upload", "get", "ls", "versions", "diff", "events", "export", "serve"] {
        assert!(help.stdout.contains(&format!("  {command} ")), "`{command}` in {}", help.all());
    }

    let missing = daap(&app, state, &["upload", "x.csv"], &[]).await;
    assert_eq!(missing.code, 3, "{}", missing.all());
    assert!(missing.stderr.contains("--product"), "{}", missing.all());
    let unknown = daap(&app, state, &["ls", "--no-such-flag"], &[]).await;
    assert_eq!(unknown.code, 3, "{}", unknown.all());
    let bad_wait = daap(&app, state, &["events", "--wait", "31"], &[]).await;
    assert_eq!(bad_wait.code, 3, "{}", bad_wait.all());

    let not_found = daap(&app, state, &["get", "no_such_product"], &[]).await;
    assert_eq!(not_found.code, 1, "{}", not_found.all());
    assert!(not_found.stderr.contains("error: Not found (404) [/problems/not-found]"), "{}", not_found.all());
    assert!(not_found.stderr.contains("no_such_product"), "the detail: {}", not_found.all());
    assert_eq!(not_found.stdout, "");

    // A 422: every field error is printed.
    app.create_product("sales").await;
    app.put_table_ok("sales", "t", &simple_table()).await;
    let file = dir.path().join("data.txt");
    std::fs::write(&file, "id,label\n1,one\n").expect("written");
    let refused =
        daap(&app, state, &["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t"], &[]).await;
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("(422) [/problems/validation]"), "{}", refused.all());
    assert!(refused.stderr.contains("  /filename: "), "{}", refused.all());

    // No token: 401, with a hint.
    let mut cmd = command(&app, state, &["ls"]);
    cmd.env_remove("DAAP_TOKEN");
    let out = cmd.output().await.expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(401)") && stderr.contains("DAAP_TOKEN"), "{stderr}");

    // Nothing listening: a failure that names the server.
    let mut cmd = command(&app, state, &["ls"]);
    cmd.args(["--url", "http://127.0.0.1:9"]);
    let out = cmd.output().await.expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach http://127.0.0.1:9"));
}

async fn ls_get_versions_diff_and_export_print_what_the_api_holds(app: TestApp) {
    let dir = tempfile::tempdir().expect("a directory");
    let state = dir.path();
    app.create_product("alpha").await;
    app.create_product("beta").await;
    app.put_table_ok("alpha", "t", &simple_table()).await;
    // v1.2: a column removed is major, so v2.0.
    app.put_table_ok("alpha", "t", &table_body("A simple table", vec![col("label", "string")])).await;

    let ls = daap(&app, state, &["ls"], &[]).await;
    assert_eq!(ls.code, 0, "{}", ls.all());
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("VERSION"), "{}", ls.all());
    assert!(lines[1].starts_with("alpha ") && lines[1].contains("v2.0"), "{}", ls.all());
    assert!(lines[2].starts_with("beta ") && lines[2].contains("v1.0"), "{}", ls.all());
    let ls = daap(&app, state, &["ls", "--json", "-q", "bet"], &[]).await;
    let items: Value = serde_json::from_str(&ls.stdout).unwrap_or_else(|e| panic!("{e}: {}", ls.all()));
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["name"], "beta");

    let versions = daap(&app, state, &["versions", "alpha"], &[]).await;
    assert_eq!(versions.code, 0, "{}", versions.all());
    let rows: Vec<Vec<&str>> = versions.stdout.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let firsts: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(firsts, vec![("v2.0", "major"), ("v1.1", "minor"), ("v1.0", "major")], "{}", versions.all());
    assert!(versions.stdout.contains("table `t` was added"), "{}", versions.all());

    let diff = daap(&app, state, &["diff", "alpha", "v1.0", "latest"], &[]).await;
    assert_eq!(diff.code, 0, "{}", diff.all());
    assert!(diff.stdout.starts_with("alpha v1.0 -> v2.0: minor (1 change)"), "{}", diff.all());
    assert!(diff.stdout.contains("  minor  table `t` was added"), "{}", diff.all());
    let diff = daap(&app, state, &["diff", "alpha", "v1.1", "v2.0", "--json"], &[]).await;
    let body: Value = serde_json::from_str(&diff.stdout).unwrap_or_else(|e| panic!("{e}: {}", diff.all()));
    assert_eq!(body["changeType"], "major");
    assert_eq!(body["changes"][0]["kind"], "column_removed", "{body}");
    let bad = daap(&app, state, &["diff", "alpha", "v9.9", "latest"], &[]).await;
    assert_eq!(bad.code, 1, "{}", bad.all());

    let get = daap(&app, state, &["get", "alpha"], &[]).await;
    assert_eq!(get.code, 0, "{}", get.all());
    assert!(get.stdout.contains("version:     v2.0  (dp:alpha:v2.0)"), "{}", get.all());
    assert!(get.stdout.contains("domain:      HMPPS"), "{}", get.all());
    assert!(get.stdout.contains("tables:      t"), "{}", get.all());
    let old = daap(&app, state, &["get", "alpha", "--version", "v1.1", "--table", "t"], &[]).await;
    assert_eq!(old.code, 0, "{}", old.all());
    assert!(old.stdout.starts_with("t  dp:alpha:v1.1:t"), "{}", old.all());
    assert!(
        old.stdout.lines().any(|l| l.starts_with("id ") && l.contains("int") && l.contains("not null")),
        "{}",
        old.all()
    );
    let json = daap(&app, state, &["get", "alpha", "--json"], &[]).await;
    let body: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.all()));
    assert_eq!(body["version"], "v2.0");

    let yaml = daap(&app, state, &["export", "alpha", "--version", "v1.1"], &[]).await;
    assert_eq!(yaml.code, 0, "{}", yaml.all());
    assert!(yaml.stdout.contains("kind: \"DataContract\""), "{}", yaml.all());
    assert!(yaml.stdout.contains("version: \"1.1.0\""), "{}", yaml.all());
    let contract = daap(&app, state, &["export", "alpha", "--format", "json"], &[]).await;
    let body: Value = serde_json::from_str(&contract.stdout).unwrap_or_else(|e| panic!("{e}: {}", contract.all()));
    assert_eq!(body["kind"], "DataContract");
    assert_eq!(body["version"], "2.0.0");
    let schema = daap(&app, state, &["export", "alpha", "--version", "v1", "--table", "t"], &[]).await;
    let body: Value = serde_json::from_str(&schema.stdout).unwrap_or_else(|e| panic!("{e}: {}", schema.all()));
    assert_eq!(body["properties"]["id"]["type"], "integer", "{body}");
}

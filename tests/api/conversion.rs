//! Upgrades: a database that release 1 filled (tests/fixtures/release1, made by `fill.py` and
//! `regen.sh` there) is started under this release, whose migrations run at start-up, and
//! every read release 1 answered is asked again and must come back identical, field for
//! field. Writes made after the upgrade continue the history where release 1 left it.
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, expect, read, run_on_postgres_dump, run_on_sqlite_copy};

/// The fixture directory.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release1")
}

/// What release 1 answered on `backend`: request path (with query) -> body.
fn expected(backend: Backend) -> Map<String, Value> {
    let file = match backend {
        Backend::Sqlite => "expected.sqlite.json",
        Backend::Postgres => "expected.pg.json",
    };
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    match serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}")) {
        Value::Object(answers) => answers,
        _ => panic!("{file} is not a JSON object"),
    }
}

/// Runs `scenario` on the release-1 database of `backend`, upgraded at start-up.
async fn on_release1<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestApp, Map<String, Value>) -> Fut,
    Fut: Future<Output = ()>,
{
    let answers = expected(backend);
    match backend {
        Backend::Sqlite => run_on_sqlite_copy(&fixtures().join("daap.sqlite"), |app| scenario(app, answers)).await,
        Backend::Postgres => {
            let dump = std::fs::read_to_string(fixtures().join("daap.pg.sql")).expect("daap.pg.sql");
            run_on_postgres_dump(&dump, |app| scenario(app, answers)).await
        }
    }
}

/// The JSON pointer of the first place where `got` differs from `want`, with both values.
fn first_difference(pointer: String, want: &Value, got: &Value) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let mut keys: Vec<&String> = w.keys().chain(g.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (w.get(k), g.get(k)) {
                (Some(w), Some(g)) => first_difference(format!("{pointer}/{k}"), w, g),
                (Some(w), None) => Some(format!("`{pointer}/{k}` is gone (release 1 had {w})")),
                (None, Some(g)) => Some(format!("`{pointer}/{k}` is new: {g}")),
                (None, None) => None,
            })
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            w.iter().zip(g).enumerate().find_map(|(i, (w, g))| first_difference(format!("{pointer}/{i}"), w, g))
        }
        _ if want == got => None,
        _ => Some(format!("at `{pointer}` release 1 had {want}, now {got}")),
    }
}

/// GETs every path release 1 answered and lists each answer that is not the same.
async fn differences(app: &TestApp, answers: &Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    for (path, want) in answers {
        let reply = read(app.get(path).await).await;
        if reply.status.as_u16() != 200 {
            found.push(format!("{path}: status {} ({})", reply.status, reply.text));
        } else if &reply.body != want {
            let at = first_difference(String::new(), want, &reply.body).unwrap_or_default();
            found.push(format!("{path}: {at}"));
        }
    }
    found
}

async fn every_answer_release1_gave_is_given_again_after_the_upgrade(app: TestApp, answers: Map<String, Value>) {
    assert!(answers.len() > 250, "the fixture holds {} answers", answers.len());
    let found = differences(&app, &answers).await;
    assert!(
        found.is_empty(),
        "{} of {} answers differ from release 1's:\n{}",
        found.len(),
        answers.len(),
        found.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );

    // What was deleted stays hidden, and what was purged stays gone.
    assert_problem(app.get("/v1/data-products/prison_reference").await, 404, "/problems/not-found").await;
    assert_problem(app.get("/v1/data-products/prison_reference/versions/v1.5").await, 404, "/problems/not-found").await;
    assert_problem(app.get("/v1/data-products/opg_tmp?includeDeleted=true").await, 404, "/problems/not-found").await;
    let live = expect(app.get("/v1/data-products?limit=200").await, 200).await.body;
    let names: Vec<&str> =
        live["items"].as_array().expect("items").iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["court_bundles", "lpa_register", "opg_scratch", "prison_regimes", "prison_visits_archive", "prisons"]
    );
}

/// `body` (a table read in `from`) as it reads in version `to`, when it did not change.
fn carried_to(body: &Value, from: &str, to: &str) -> Value {
    let mut body = body.clone();
    body["version"] = json!(to);
    body["id"] = json!(body["id"].as_str().expect("an id").replace(&format!(":{from}:"), &format!(":{to}:")));
    body
}

async fn writes_after_the_upgrade_continue_the_history(app: TestApp, answers: Map<String, Value>) {
    let old_tables = answers["/v1/data-products/prisons/versions/v2.3/schemas"]["items"]
        .as_array()
        .expect("the tables of prisons v2.3")
        .clone();
    let table = |name: &str| old_tables.iter().find(|t| t["name"] == name).expect("a table of v2.3").clone();
    let last_cursor = answers
        .iter()
        .filter(|(path, _)| path.starts_with("/v1/events"))
        .find(|(_, page)| page["items"].as_array().is_some_and(|items| items.is_empty()))
        .map(|(_, page)| page["nextCursor"].as_str().expect("a cursor").to_owned())
        .expect("the fixture's last, empty page of events");

    // A widened column: the next minor version of a converted product.
    let mut cells = table("cells");
    cells["columns"][1]["type"] = json!("int");
    let body = json!({ "tableDescription": cells["tableDescription"], "columns": cells["columns"] });
    let written = expect(app.put_table("prisons", "cells", &body).await, 200).await.body;
    assert_eq!(written["dataProduct"]["version"], "v2.4", "{written}");
    assert_eq!(written["changeType"], "minor", "{written}");
    assert_eq!(written["changes"][0]["kind"], "column_type_changed", "{written}");
    assert_eq!(written["changes"].as_array().map(Vec::len), Some(1), "{written}");
    for old in &old_tables {
        let name = old["name"].as_str().expect("a name");
        let now = expect(app.get(&format!("/v1/data-products/prisons/versions/v2.4/schemas/{name}")).await, 200).await;
        let want = if name == "cells" { carried_to(&cells, "v2.3", "v2.4") } else { carried_to(old, "v2.3", "v2.4") };
        assert_eq!(now.body, want, "table {name} in v2.4");
    }

    // The copy of `establishments` back to the same content as it: shared content again.
    let establishments = table("establishments");
    let body = json!({ "tableDescription": establishments["tableDescription"], "columns": establishments["columns"] });
    let written = expect(app.put_table("prisons", "establishments_copy", &body).await, 200).await.body;
    assert_eq!(written["dataProduct"]["version"], "v2.5", "{written}");
    assert_eq!(written["changes"][0]["kind"], "column_description_changed", "{written}");
    let copy = expect(app.get("/v1/data-products/prisons/versions/v2.5/schemas/establishments_copy").await, 200).await;
    assert_eq!(copy.body["columns"], establishments["columns"]);
    assert_eq!(copy.body["tableDescription"], establishments["tableDescription"]);

    // A table removed after the upgrade leaves the versions before it whole.
    let written = expect(app.delete("/v1/data-products/prisons/schemas/sentences").await, 200).await.body;
    assert_eq!(written["dataProduct"]["version"], "v3.0", "{written}");
    let v3 = expect(app.get("/v1/data-products/prisons/versions/v3.0/schemas").await, 200).await.body;
    let v3_names: Vec<&str> = v3["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(!v3_names.contains(&"sentences") && v3_names.len() == old_tables.len() - 1, "{v3_names:?}");

    // Nothing release 1 wrote changed; the history only grew.
    let untouched: Map<String, Value> = answers
        .iter()
        .filter(|(path, _)| path.starts_with("/v1/data-products/prisons/versions/v"))
        .map(|(path, body)| (path.clone(), body.clone()))
        .collect();
    let found = differences(&app, &untouched).await;
    assert!(found.is_empty(), "release 1's versions changed after new writes:\n{}", found.join("\n"));
    let list = expect(app.get("/v1/data-products/prisons/versions?limit=200").await, 200).await.body;
    let list = list["items"].as_array().expect("items");
    let newest: Vec<&str> = list.iter().take(3).map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(newest, ["v3.0", "v2.5", "v2.4"]);
    assert_eq!(
        list[3..],
        answers["/v1/data-products/prisons/versions?limit=200"]["items"].as_array().expect("release 1's list")[..]
    );

    // A soft-deleted product still refuses writes, and comes back as it was.
    let refused = app.put_table("prison_reference", "wings", &body).await;
    assert_problem(refused, 409, "/problems/conflict").await;
    let restored = expect(app.post("/v1/data-products/prison_reference/restore").await, 200).await.body;
    let mut as_deleted = answers["/v1/data-products/prison_reference?includeDeleted=true"].clone();
    assert!(as_deleted.as_object_mut().expect("a product").remove("deletedAt").is_some(), "{as_deleted}");
    assert_eq!(restored, as_deleted);

    // The feed goes on right after release 1's last event.
    let feed = expect(app.get(&format!("/v1/events?after={last_cursor}")).await, 200).await.body;
    let events: Vec<(&str, &str, &str)> = feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (e["type"].as_str().unwrap(), e["dataProduct"].as_str().unwrap(), e["version"].as_str().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        events,
        [
            ("schema.updated", "prisons", "v2.4"),
            ("schema.updated", "prisons", "v2.5"),
            ("schema.deleted", "prisons", "v3.0"),
            ("data_product.restored", "prison_reference", ""),
        ]
    );
}

mod every_answer_release1_gave_is_given_again_after_the_upgrade {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::on_release1(Backend::Sqlite, super::every_answer_release1_gave_is_given_again_after_the_upgrade).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::on_release1(Backend::Postgres, super::every_answer_release1_gave_is_given_again_after_the_upgrade).await
    }
}

mod writes_after_the_upgrade_continue_the_history {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::on_release1(Backend::Sqlite, super::writes_after_the_upgrade_continue_the_history).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::on_release1(Backend::Postgres, super::writes_after_the_upgrade_continue_the_history).await
    }
}

//! `plan -f` and `apply -f`: a whole product from one file, its changes and their classes,
//! the question before a major change, `--expect`, and files in every format the server takes.
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    Run, daap,
    helpers::{TestApp, col, col_not_null, metadata_body},
};

crate::cli_scenarios!(
    plan_then_apply_creates_a_product_and_a_major_change_needs_yes,
    a_yaml_definition_and_an_exported_contract_apply_back_as_no_changes,
);

/// A definition of `sales` with the given tables (`(name, columns)`).
fn definition(tables: Vec<(&str, Vec<Value>)>) -> Value {
    let mut doc = metadata_body();
    doc["name"] = json!("sales");
    doc["tables"] = tables
        .into_iter()
        .map(|(name, columns)| json!({ "name": name, "tableDescription": format!("The {name} table"), "columns": columns }))
        .collect();
    doc
}

fn two_tables() -> Value {
    definition(vec![
        ("orders", vec![col_not_null("id", "bigint"), col("total", "decimal(10, 2)")]),
        ("customers", vec![col_not_null("id", "bigint"), col("name", "varchar(200)")]),
    ])
}

/// The latest version of `sales` as the server holds it.
async fn version(app: &TestApp) -> Value {
    let body: Value = app.get("/v1/data-products/sales").await.json().await.expect("a product");
    body["version"].clone()
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, content).expect("written");
    file.to_str().expect("a UTF-8 path").to_owned()
}

fn ok(run: &Run, code: i32) {
    assert_eq!(run.code, code, "{}", run.all());
}

async fn plan_then_apply_creates_a_product_and_a_major_change_needs_yes(app: TestApp) {
    let dir = tempfile::tempdir().expect("a directory");
    let state = dir.path();
    let file = write(state, "sales.json", &two_tables().to_string());

    // A new product: plan lists its tables and exits 2; nothing exists yet.
    let plan = daap(&app, state, &["plan", "-f", &file], &[]).await;
    ok(&plan, 2);
    assert!(plan.stdout.contains("table `orders`"), "{}", plan.all());
    assert!(plan.stdout.contains("table `customers`"), "{}", plan.all());
    assert!(plan.stdout.contains("(new) -> v1.0 (major)"), "{}", plan.all());
    assert_eq!(app.get("/v1/data-products/sales").await.status(), 404);

    // Apply creates it; planning the same file again finds nothing to do.
    let apply = daap(&app, state, &["apply", "-f", &file, "--verbose"], &[]).await;
    ok(&apply, 0);
    assert!(apply.stdout.contains("(new) -> v1.0 (major)"), "{}", apply.all());
    assert!(apply.stderr.contains("Idempotency-Key: "), "{}", apply.all());
    assert_eq!(version(&app).await, "v1.0");
    let again = daap(&app, state, &["plan", "-f", &file], &[]).await;
    ok(&again, 0);
    assert!(again.stdout.contains("no changes (v1.0)"), "{}", again.all());

    // A minor change (a column added) applies without a question.
    let mut doc = two_tables();
    doc["tables"][0]["columns"].as_array_mut().unwrap().push(col("note", "string"));
    let file = write(state, "sales.json", &doc.to_string());
    let minor = daap(&app, state, &["apply", "-f", &file], &[]).await;
    ok(&minor, 0);
    assert!(minor.stdout.contains("minor  "), "each change with its class: {}", minor.all());
    assert!(minor.stdout.contains("v1.0 -> v1.1 (minor)"), "{}", minor.all());

    // A major change (a table left out): refused from a non-terminal, nothing changes.
    doc["tables"].as_array_mut().unwrap().pop();
    let file = write(state, "sales.json", &doc.to_string());
    let plan = daap(&app, state, &["plan", "-f", &file], &[]).await;
    ok(&plan, 2);
    assert!(plan.stdout.contains("major  "), "{}", plan.all());
    assert!(plan.stdout.contains("v1.1 -> v2.0 (major)"), "{}", plan.all());
    let refused = daap(&app, state, &["apply", "-f", &file], &[]).await;
    ok(&refused, 1);
    assert!(refused.stderr.contains("--yes") && refused.stderr.contains("--expect major"), "{}", refused.all());
    assert_eq!(version(&app).await, "v1.1");

    // `--expect minor` on a major change: the server's 409, nothing changes.
    let wrong = daap(&app, state, &["apply", "-f", &file, "--expect", "minor"], &[]).await;
    ok(&wrong, 1);
    assert!(wrong.stderr.contains("(409)"), "{}", wrong.all());
    assert!(wrong.stderr.contains("Idempotency-Key of this apply"), "{}", wrong.all());
    assert_eq!(version(&app).await, "v1.1");

    // `--yes` applies it.
    let yes = daap(&app, state, &["apply", "-f", &file, "--yes"], &[]).await;
    ok(&yes, 0);
    assert!(yes.stdout.contains("v1.1 -> v2.0 (major)"), "{}", yes.all());
    assert_eq!(version(&app).await, "v2.0");
    let json = daap(&app, state, &["plan", "-f", &file, "--json"], &[]).await;
    ok(&json, 0);
    let body: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.all()));
    assert_eq!(body["changeType"], "none");

    // Usage errors exit 3.
    let txt = write(state, "sales.txt", "{}");
    for args in [
        vec!["plan"],
        vec!["plan", "-f", txt.as_str()],
        vec!["apply", "-f", "/no/such/file.json"],
        vec!["apply", "-f", &file, "--expect", "huge"],
    ] {
        let run = daap(&app, state, &args, &[]).await;
        assert_eq!(run.code, 3, "`daap {}`: {}", args.join(" "), run.all());
    }
    let mut nameless = two_tables();
    nameless.as_object_mut().unwrap().remove("name");
    let nameless = write(state, "nameless.json", &nameless.to_string());
    let run = daap(&app, state, &["plan", "-f", &nameless], &[]).await;
    ok(&run, 3);
    assert!(run.stderr.contains("--product"), "{}", run.all());
    // ... and `--product` supplies the name.
    let run = daap(&app, state, &["plan", "-f", &nameless, "--product", "sales"], &[]).await;
    ok(&run, 2);
}

async fn a_yaml_definition_and_an_exported_contract_apply_back_as_no_changes(app: TestApp) {
    let dir = tempfile::tempdir().expect("a directory");
    let state = dir.path();
    let file = write(state, "sales.json", &two_tables().to_string());
    ok(&daap(&app, state, &["apply", "-f", &file], &[]).await, 0);

    // The definition as YAML, as the server writes it.
    let yaml = app
        .send(app.request(Method::GET, "/v1/data-products/sales/definition").header("Accept", "application/yaml"))
        .await
        .text()
        .await
        .expect("a body");
    let yaml_file = write(state, "sales.yml", &yaml);
    let plan = daap(&app, state, &["plan", "-f", &yaml_file], &[]).await;
    ok(&plan, 0);
    assert!(plan.stdout.contains("no changes"), "{}", plan.all());
    let apply = daap(&app, state, &["apply", "-f", &yaml_file], &[]).await;
    ok(&apply, 0);
    assert_eq!(version(&app).await, "v1.0");

    // An ODCS contract exported by `daap export`, in YAML and in JSON.
    for (format, name) in [("yaml", "contract.yaml"), ("json", "contract.json")] {
        let export = daap(&app, state, &["export", "sales", "--format", format], &[]).await;
        ok(&export, 0);
        let contract = write(state, name, &export.stdout);
        let plan = daap(&app, state, &["plan", "-f", &contract], &[]).await;
        ok(&plan, 0);
        assert!(plan.stdout.contains("no changes"), "{format}: {}", plan.all());
        ok(&daap(&app, state, &["apply", "-f", &contract], &[]).await, 0);
    }
    assert_eq!(version(&app).await, "v1.0");

    // A YAML definition of a change: plan shows it, apply writes it.
    let changed = yaml.replace("The orders table", "Orders placed");
    assert_ne!(changed, yaml, "the YAML holds the description: {yaml}");
    let yaml_file = write(state, "sales.yaml", &changed);
    ok(&daap(&app, state, &["plan", "-f", &yaml_file], &[]).await, 2);
    let apply = daap(&app, state, &["apply", "-f", &yaml_file], &[]).await;
    ok(&apply, 0);
    assert_eq!(version(&app).await, "v1.1");
}

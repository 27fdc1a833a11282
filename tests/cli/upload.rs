//! `daap upload`: small files in one PUT, large ones in parallel parts (a broken part
//! retried, an interrupted upload resumed), and a rejected file's reasons.
use std::path::Path;

use serde_json::Value;

use crate::{
    MIB, daap,
    helpers::{TestApp, expect, simple_table},
};

crate::cli_scenarios!(
    a_small_file_is_uploaded_in_one_put_and_ends_validated,
    a_file_above_the_threshold_goes_in_parts_and_a_broken_part_is_retried,
    an_interrupted_multipart_upload_resumes_with_the_parts_already_stored,
    a_rejected_file_exits_1_and_says_which_columns_are_wrong,
);

/// A product `sales` with the table `t` (`id int not null`, `label string`).
async fn product_with_table(app: &TestApp) {
    app.create_product("sales").await;
    app.put_table_ok("sales", "t", &simple_table()).await;
}

/// A CSV of `t` with at least `bytes` bytes; answers its data rows.
fn write_csv(path: &Path, bytes: u64) -> u64 {
    let mut text = String::from("id,label\n");
    let mut rows = 0;
    while (text.len() as u64) < bytes {
        rows += 1;
        text.push_str(&format!("{rows},row number {rows} of a file cut in parts\n"));
    }
    std::fs::write(path, text).expect("the file is written");
    rows
}

async fn upload_of(app: &TestApp, id: &str) -> Value {
    expect(app.get(&format!("/v1/uploads/{id}")).await, 200).await.body
}

/// The upload id a run printed (`... upload <id> ...`).
fn upload_id(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_hexdigit()))
        .find(|w| w.len() == 36 && w.chars().filter(|c| *c == '-').count() == 4)
        .unwrap_or_else(|| panic!("no upload id in {text}"))
        .to_owned()
}

async fn a_small_file_is_uploaded_in_one_put_and_ends_validated(app: TestApp) {
    product_with_table(&app).await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("small.csv");
    std::fs::write(&file, "id,label\n1,one\n2,two\n").expect("written");
    let state = dir.path().join("state");

    let run = daap(&app, &state, &["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.starts_with("validated: upload "), "{}", run.all());
    assert!(run.stdout.contains("2 rows"), "{}", run.all());
    // Not a terminal here: plain progress lines, no bar.
    assert!(run.stderr.contains("upload: 21 B in"), "{}", run.all());
    let upload = upload_of(&app, &upload_id(&run.stdout)).await;
    assert_eq!(upload["status"], "validated", "{upload}");
    assert_eq!(upload["filename"], "small.csv");
    assert_eq!(upload["size"], 21);
    assert!(upload.get("partCount").is_none(), "one PUT: {upload}");
    assert_eq!(std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0), 0, "nothing left to resume");

    // `--json`: the final Upload on stdout, for scripts.
    let run =
        daap(&app, &state, &["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t", "--json"], &[])
            .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let body: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()));
    assert_eq!(body["status"], "validated");
    assert_eq!(body["validation"]["rowsChecked"], 2);
    assert_ne!(body["id"], upload["id"], "uploading a file again is a new upload");
}

async fn a_file_above_the_threshold_goes_in_parts_and_a_broken_part_is_retried(app: TestApp) {
    product_with_table(&app).await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("big.csv");
    let rows = write_csv(&file, 13 * MIB);
    let state = dir.path().join("state");

    let run = daap(
        &app,
        &state,
        &["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t"],
        &[("DAAP_CLI_FAIL_PART_ONCE", "2")],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains(": 3 parts"), "{}", run.all());
    assert!(run.stderr.contains("part 2: sending part 2 to the object store"), "{}", run.all());
    assert!(run.stderr.contains("retrying (2 of 6)"), "{}", run.all());
    assert!(!run.stderr.contains("part 1:") && !run.stderr.contains("part 3:"), "{}", run.all());
    let upload = upload_of(&app, &upload_id(&run.stdout)).await;
    assert_eq!(upload["status"], "validated", "{upload}");
    assert_eq!(upload["partCount"], 3, "{upload}");
    assert_eq!(upload["size"].as_u64(), Some(std::fs::metadata(&file).unwrap().len()), "{upload}");
    // Every row arrived once and in place: the retried part was not stored twice or torn.
    assert_eq!(upload["validation"]["rowsChecked"].as_u64(), Some(rows), "{upload}");
    assert!(run.stdout.contains(&format!("{rows} rows")), "{}", run.all());
}

async fn an_interrupted_multipart_upload_resumes_with_the_parts_already_stored(app: TestApp) {
    product_with_table(&app).await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("resumed.csv");
    let rows = write_csv(&file, 16 * MIB);
    let state = dir.path().join("state");
    let args = ["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t", "--parallel", "1"];

    let stopped = daap(&app, &state, &args, &[("DAAP_CLI_STOP_AFTER_PARTS", "2")]).await;
    assert_eq!(stopped.code, 1, "{}", stopped.all());
    assert!(stopped.stderr.contains("stopping on purpose after 2 parts"), "{}", stopped.all());
    let id = upload_id(&stopped.stderr);
    assert_eq!(upload_of(&app, &id).await["status"], "pending");

    let resumed = daap(&app, &state, &args, &[]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert!(
        resumed.stderr.contains(&format!("resuming upload {id} (2 of its parts already stored)")),
        "{}",
        resumed.all()
    );
    let upload = upload_of(&app, &id).await;
    assert_eq!(upload["status"], "validated", "{upload}");
    assert_eq!(upload["partCount"], 4, "{upload}");
    assert_eq!(upload["validation"]["rowsChecked"].as_u64(), Some(rows), "{upload}");
    let others = expect(app.get("/v1/data-products/sales/uploads").await, 200).await.body;
    assert_eq!(others["items"].as_array().map(Vec::len), Some(1), "no second upload was made: {others}");

    // `--restart` starts over even though the file is the same.
    let again = daap(&app, &state, &[&args[..], &["--restart", "--no-wait"]].concat(), &[]).await;
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(!again.stderr.contains("resuming"), "{}", again.all());
    assert_ne!(upload_id(&again.stdout), id);
}

async fn a_rejected_file_exits_1_and_says_which_columns_are_wrong(app: TestApp) {
    product_with_table(&app).await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("wrong.csv");
    std::fs::write(&file, "id,name\n1,one\n").expect("written");

    let run = daap(
        &app,
        &dir.path().join("state"),
        &["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t"],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("rejected: upload "), "{}", run.all());
    assert!(run.stderr.contains("missing columns: `label`"), "{}", run.all());
    assert!(run.stderr.contains("unknown columns: `name`"), "{}", run.all());
    assert!(!run.stdout.contains("validated"), "{}", run.all());
    assert_eq!(upload_of(&app, &upload_id(&run.stderr)).await["status"], "rejected");

    // A value that breaks its column: the rule and the row, never the value.
    std::fs::write(&file, "id,label\n1,one\nnot-a-number,two\n").expect("written");
    let run = daap(
        &app,
        &dir.path().join("state"),
        &["upload", file.to_str().unwrap(), "--product", "sales", "--table", "t"],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("row 2, column `id`: not an int"), "{}", run.all());
    assert!(!run.stderr.contains("not-a-number"), "{}", run.all());
}

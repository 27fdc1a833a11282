//! The OpenAPI document is an artifact: `openapi/openapi.yaml` must equal what the code
//! generates, and the document must describe every operation and field.
use std::path::Path;

const REGENERATE: &str =
    "regenerate it with `cargo run -- openapi > openapi/openapi.yaml` (or run the tests with UPDATE_OPENAPI=1)";

#[test]
fn checked_in_openapi_yaml_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.yaml");
    let generated = daap::api::openapi_yaml();
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("writing openapi/openapi.yaml");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(checked_in == generated, "openapi/openapi.yaml is stale: {REGENERATE}");
}

fn spec() -> serde_json::Value {
    serde_json::from_str(&daap::api::openapi_json()).expect("the generated spec is JSON")
}

#[test]
fn every_operation_has_an_id_a_summary_and_problem_answers() {
    let doc = spec();
    let paths = doc["paths"].as_object().expect("paths");
    let mut ids = std::collections::HashSet::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
            if path.starts_with("/v1/") {
                let responses = op["responses"].as_object().expect("responses");
                for status in ["400", "404", "422", "500"] {
                    let problem = &responses[status]["content"]["application/problem+json"];
                    assert!(problem.is_object(), "{method} {path} does not document a {status} problem");
                }
            }
        }
    }
    assert!(ids.len() >= 17, "only {} operations documented", ids.len());
}

#[test]
fn every_schema_property_has_a_description() {
    let doc = spec();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (name, schema) in schemas {
        let Some(props) = schema["properties"].as_object() else { continue };
        for (prop, def) in props {
            let described = def["description"].as_str().is_some_and(|d| !d.is_empty())
                || def["allOf"].is_array()
                    && def["allOf"].as_array().unwrap().iter().any(|s| s["description"].is_string());
            assert!(described, "{name}.{prop} has no description");
        }
    }
}

#[test]
fn request_schemas_state_their_constraints() {
    let doc = spec();
    let create = &doc["components"]["schemas"]["DataProductCreate"]["properties"]["name"];
    assert_eq!(create["pattern"], "^[a-z][a-z0-9_]{1,62}$", "name pattern: {create}");
    let columns = &doc["components"]["schemas"]["TableSchemaPut"]["properties"]["columns"];
    assert_eq!(columns["maxItems"], 1000, "columns limit: {columns}");
}

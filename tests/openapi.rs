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
                for status in ["401", "403", "429", "500", "503"] {
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
            // A reference is plain (`$ref` alone); what it names carries the description.
            let described = def["description"].as_str().is_some_and(|d| !d.is_empty())
                || def["$ref"].as_str().is_some_and(|r| {
                    let target = r.trim_start_matches("#/components/schemas/");
                    schemas[target]["description"].as_str().is_some_and(|d| !d.is_empty())
                });
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

/// Every operation of the document, with its path and method.
fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut all = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            all.push((path.clone(), method.clone(), op.clone()));
        }
    }
    all
}

#[test]
fn each_operation_documents_only_the_problems_it_can_answer() {
    let doc = spec();
    let op = |path: &str, method: &str| doc["paths"][path][method]["responses"].clone();
    let stats = op("/v1/stats", "get");
    for status in ["400", "404", "409", "412", "413", "415", "422"] {
        assert!(stats.get(status).is_none(), "GET /v1/stats documents a {status} it cannot answer");
    }
    let create = op("/v1/data-products", "post");
    for status in ["400", "409", "413", "415", "422"] {
        assert!(create.get(status).is_some(), "POST /v1/data-products does not document {status}");
    }
    assert!(create.get("404").is_none() && create.get("412").is_none(), "create documents 404 or 412");
    let put = op("/v1/data-products/{name}/schemas/{table}", "put");
    assert!(put["412"].is_object() && put["409"].is_object(), "PUT schema lacks 409 or 412");
    assert!(op("/health/live", "get").get("500").is_none(), "liveness cannot answer a problem");
}

#[test]
fn the_document_uses_plain_references_json_media_types_and_canonical_header_names() {
    let text = daap::api::openapi_json();
    assert!(
        !text.contains("\"allOf\""),
        "a schema wraps a $ref in allOf; put the description on the referenced schema"
    );
    assert!(!text.contains("charset"), "a media type key carries a charset parameter");
    assert!(!text.contains("\"propertyNames\""), "`propertyNames` is not an OpenAPI 3.0 keyword");
    let doc = spec();
    let canonical = [
        "ETag",
        "Location",
        "Cache-Control",
        "Content-Location",
        "X-Request-Id",
        "WWW-Authenticate",
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Idempotent-Replayed",
    ];
    for (path, method, op) in operations(&doc) {
        for (status, resp) in op["responses"].as_object().expect("responses") {
            for name in resp["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_else(Vec::new) {
                assert!(
                    canonical.contains(&name.as_str()),
                    "{method} {path} {status}: header `{name}` is not spelt canonically"
                );
            }
            for media in resp["content"].as_object().map(|c| c.keys().cloned().collect()).unwrap_or_else(Vec::new) {
                assert!(!media.contains(';'), "{method} {path} {status}: media type key `{media}`");
            }
        }
        assert!(
            op["responses"].as_object().unwrap().values().all(|r| r["headers"]["X-Request-Id"].is_object()),
            "{method} {path}: an answer does not declare X-Request-Id"
        );
        if path.starts_with("/v1/") {
            assert_eq!(op["responses"]["401"]["headers"]["WWW-Authenticate"]["required"], true, "{method} {path}");
            assert!(
                op["responses"]["429"]["headers"]["Retry-After"].is_object(),
                "{method} {path}: 429 without Retry-After"
            );
        } else {
            assert_eq!(
                op["security"],
                serde_json::json!([]),
                "{method} {path} is open but does not say `security: []`"
            );
        }
        if path.starts_with("/v1/") && method != "get" {
            let ok = op["responses"].as_object().unwrap().iter().find(|(s, _)| s.starts_with('2')).expect("a 2xx").1;
            assert!(ok["headers"]["Idempotent-Replayed"].is_object(), "{method} {path}: 2xx lacks Idempotent-Replayed");
        }
    }
    assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()), "no servers entry");
}

#[test]
fn schemas_name_times_event_types_and_limits_as_generators_need() {
    let doc = spec();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (name, schema) in schemas {
        assert!(!name.ends_with("Dto"), "schema `{name}` carries a Rust suffix");
        for (prop, def) in schema["properties"].as_object().into_iter().flatten() {
            if prop.ends_with("At") {
                assert_eq!(def["format"], "date-time", "{name}.{prop} is a time without `format: date-time`");
            }
        }
    }
    let event_type = serde_json::json!({"$ref": "#/components/schemas/EventType"});
    assert_eq!(schemas["Event"]["properties"]["type"], event_type);
    assert_eq!(schemas["WebhookCreate"]["properties"]["eventTypes"]["items"], event_type);
    assert_eq!(schemas["Webhook"]["properties"]["eventTypes"]["items"], event_type);
    let feed = doc["paths"]["/v1/events"]["get"]["parameters"].as_array().expect("parameters");
    let filter = feed.iter().find(|p| p["name"] == "type").expect("a type filter");
    assert_eq!(filter["schema"], event_type);
    assert_eq!(schemas["EventType"]["enum"].as_array().map(Vec::len), Some(12));
    assert_eq!(schemas["WebhookCreate"]["properties"]["dataProducts"]["maxItems"], 100);
    assert_eq!(schemas["WebhookCreate"]["properties"]["eventTypes"]["maxItems"], 100);
}

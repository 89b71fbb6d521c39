//! The committed spec is the generated one, and it is good enough to generate typed clients from.

use farmlokal::app::cli::openapi_spec;
use serde_json::Value;

const REGENERATE: &str = "cargo run --quiet -- openapi > openapi/openapi.yaml";

fn spec() -> Value {
    serde_json::from_str(&openapi_spec(true)).expect("the generated spec is JSON")
}

#[test]
fn the_committed_spec_is_the_generated_one() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml"))
        .unwrap_or_else(|e| panic!("openapi/openapi.yaml is missing ({e}); create it with `{REGENERATE}`"));
    let generated = openapi_spec(false);
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.yaml is out of date with the code; regenerate it with `{REGENERATE}` and commit it"
    );
}

fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            out.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    out
}

#[test]
fn every_operation_has_an_id_a_summary_a_description_and_a_tag() {
    let spec = spec();
    let ops = operations(&spec);
    assert!(ops.len() >= 8, "expected every route in the spec, got {}", ops.len());
    let mut ids = std::collections::HashSet::new();
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        assert!(op["description"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no description");
        assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
    }
}

#[test]
fn every_parameter_has_a_description_and_an_example() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or("?");
            assert!(
                param["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: {name} has no description"
            );
            let example = if param["example"].is_null() { &param["schema"]["example"] } else { &param["example"] };
            assert!(!example.is_null(), "{method} {path}: {name} has no example");
        }
    }
}

#[test]
fn every_error_response_is_a_documented_problem() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            assert!(
                response["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} {status}: no description"
            );
            let is_error = status.starts_with('4') || status.starts_with('5');
            if is_error && path != "/health/ready" {
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(
                    schema.as_str(),
                    Some("#/components/schemas/Problem"),
                    "{method} {path} {status} is not a Problem"
                );
            }
        }
    }
}

#[test]
fn bodies_use_named_schemas_and_sort_orders_and_event_types_are_enums() {
    let spec = spec();
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for name in
        ["ProductPage", "ProductDto", "CategoryList", "DeliveryEstimate", "WebhookAck", "Problem", "PartnerBEvent"]
    {
        assert!(schemas.contains_key(name), "schema {name} is missing");
    }
    let list = spec["paths"]["/products"]["get"]["parameters"].as_array().expect("parameters");
    let sort = list.iter().find(|p| p["name"] == "sort").expect("sort parameter");
    let sort_schema = if sort["schema"]["allOf"].is_array() { &sort["schema"]["allOf"][0] } else { &sort["schema"] };
    let sort_ref = sort_schema["$ref"].as_str().expect("sort is a named enum");
    let sort_enum = &schemas[sort_ref.trim_start_matches("#/components/schemas/")]["enum"];
    assert_eq!(sort_enum.as_array().map(Vec::len), Some(6), "six sort orders");
    let mapping = &schemas["PartnerBEvent"]["discriminator"]["mapping"];
    assert!(mapping.get("product.stock_adjusted").is_some() && mapping.get("product.price_updated").is_some());
}

//! The committed spec is the generated one, and it is good enough to generate typed clients from.

use farmlokal::startup::cli::openapi_spec;
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

/// Parameters whose values only the service can give: Swagger UI's "Try it out" sends a parameter's example,
/// and any example of these would be refused (an invented cursor is `invalid_cursor`).
const WITHOUT_EXAMPLE: [&str; 2] = ["cursor", "If-None-Match"];

#[test]
fn every_parameter_has_a_description_and_an_example_unless_only_the_service_can_give_one() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or("?");
            assert!(
                param["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: {name} has no description"
            );
            let example = if param["example"].is_null() { &param["schema"]["example"] } else { &param["example"] };
            if WITHOUT_EXAMPLE.contains(&name) {
                assert!(example.is_null(), "{method} {path}: {name} must have no example (Try it out would send it)");
            } else {
                assert!(!example.is_null(), "{method} {path}: {name} has no example");
            }
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

/// Checks `value` against an OpenAPI 3.0 schema: `$ref`, `allOf`, `oneOf`, `type`, `properties`, `required`,
/// `enum`, `nullable`, `minimum`/`maximum`, `minLength`/`maxLength`. Returns what does not conform.
fn conformance(spec: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return conformance(spec, &spec["components"]["schemas"][name], value, at);
    }
    let mut problems = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        problems.extend(conformance(spec, part, value, at));
    }
    if let Some(options) = schema["oneOf"].as_array() {
        if !options.iter().any(|option| conformance(spec, option, value, at).is_empty()) {
            problems.push(format!("{at}: matches none of oneOf"));
        }
    }
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) && schema.get("type").is_some() {
            problems.push(format!("{at}: null but not nullable"));
        }
        return problems;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        problems.push(format!("{at}: {value} is not of type {}", schema["type"]));
        return problems;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema["minimum"].as_f64()) {
        if n < min {
            problems.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema["maximum"].as_f64()) {
        if n > max {
            problems.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(s) = value.as_str() {
        let chars = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| chars < min)
            || schema["maxLength"].as_u64().is_some_and(|max| chars > max)
        {
            problems.push(format!("{at}: {s:?} has a length outside the schema's bounds"));
        }
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(required) {
                problems.push(format!("{at}: required {required} is missing"));
            }
        }
        for (key, field) in object {
            match schema["properties"].get(key) {
                Some(field_schema) => problems.extend(conformance(spec, field_schema, field, &format!("{at}.{key}"))),
                None if schema.get("properties").is_some() && key != "type" => {
                    problems.push(format!("{at}: {key} is not a documented property"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            problems.extend(conformance(spec, schema_items, item, &format!("{at}[{i}]")));
        }
    }
    problems
}

#[test]
fn every_example_in_the_spec_validates_against_its_schema() {
    let spec = spec();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        if let Some(example) = schema.get("example") {
            checked += 1;
            problems.extend(conformance(&spec, schema, example, name));
        }
    }
    for (method, path, op) in operations(&spec) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            let example = if param["example"].is_null() { &param["schema"]["example"] } else { &param["example"] };
            if !example.is_null() {
                checked += 1;
                let at = format!("{method} {path} {}", param["name"]);
                problems.extend(conformance(&spec, &param["schema"], example, &at));
            }
        }
    }
    assert!(checked >= 15, "only {checked} examples found");
    // The checker itself catches what it should: a wrong type, a missing field, a value outside an enum.
    let page = &spec["components"]["schemas"]["ProductPage"];
    assert!(!conformance(&spec, page, &serde_json::json!({"data": [], "next_cursor": null, "has_more": "yes"}), "t")
        .is_empty());
    assert!(!conformance(&spec, page, &serde_json::json!({"data": []}), "t").is_empty());
    let problem = &spec["components"]["schemas"]["Problem"];
    let bad_code = serde_json::json!({"type": "x", "title": "x", "status": 400, "detail": "x", "code": "nope"});
    assert!(!conformance(&spec, problem, &bad_code, "t").is_empty());
    assert!(problems.is_empty(), "examples that do not match their schemas:\n{}", problems.join("\n"));
}

/// Every `allOf` in `value` with more than one member, one of them a reference to an enum of `enums`, by JSON
/// pointer: openapi-python-client models such an `allOf` as an object and drops what holds it.
fn enum_compositions(value: &Value, enums: &[String], at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            let refs_enum = |member: &Value| member["$ref"].as_str().is_some_and(|r| enums.iter().any(|e| e == r));
            let all_of = object.get("allOf").and_then(Value::as_array);
            if all_of.is_some_and(|members| members.len() > 1 && members.iter().any(refs_enum)) {
                out.push(at.clone());
            }
            for (key, child) in object {
                enum_compositions(child, enums, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                enum_compositions(child, enums, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn no_enum_reference_is_wrapped_in_a_composition_that_python_generators_drop() {
    let spec = spec();
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    let enums: Vec<String> = schemas
        .iter()
        .filter(|(_, schema)| schema.get("enum").is_some())
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect();
    let mut found = Vec::new();

    enum_compositions(&spec, &enums, String::new(), &mut found);

    assert!(found.is_empty(), "a described $ref must stay alone in allOf (openapi-python-client): {found:?}");
}

#[test]
fn enums_whose_values_are_not_identifiers_name_them_for_generators() {
    let spec = spec();
    let sort = &spec["components"]["schemas"]["SortOrder"];

    let names: Vec<&str> =
        sort["x-enum-varnames"].as_array().expect("x-enum-varnames").iter().filter_map(Value::as_str).collect();

    assert_eq!(names.len(), sort["enum"].as_array().map_or(0, Vec::len));
    assert!(names.contains(&"PRICE_DESC") && names.contains(&"CREATED_AT_DESC"), "{names:?}");
}

#[test]
fn every_response_documents_the_headers_the_middleware_adds_and_limited_routes_the_rate_limit_fields() {
    let spec = spec();
    for (method, path, operation) in operations(&spec) {
        let limited = path != "/webhooks/partner-b" && !path.starts_with("/health/") && path != "/metrics";
        for (status, response) in operation["responses"].as_object().expect("responses") {
            let headers = &response["headers"];
            for name in ["X-Request-Id", "Cache-Control", "Vary", "X-Content-Type-Options"] {
                assert!(headers.get(name).is_some(), "{method} {path} {status}: {name} is not documented");
            }
            assert_eq!(
                headers.get("RateLimit-Policy").is_some(),
                limited,
                "{method} {path} {status}: RateLimit-Policy"
            );
        }
    }
}

//! The OpenAPI document as published (`/openapi.json`, `/openapi.yaml`, the copy inside `/docs`, and
//! `farmlokal openapi`): poem-openapi's, with two adjustments so every SDK generator reads it as meant.
//!
//! - A `$ref` that carries a description or an example is written by poem-openapi as
//!   `allOf: [{$ref}, {description, example}]`. Generators that model a two-member `allOf` as an object
//!   composition (openapi-python-client) then drop the operation or schema when the reference is an enum. The
//!   published form keeps the reference alone in `allOf` and moves the annotations beside it, which means the
//!   same to every reader.
//! - A string enum whose values are not identifiers (`-price`) gets `x-enum-varnames`, so generated enums read
//!   `PRICE_DESC` rather than `VALUE_3`.
//!
//! It also documents the headers the middleware puts on every response (the request id, `Cache-Control`,
//! `Vary`, `X-Content-Type-Options`, and the rate-limit fields on the routes the limit applies to), which no
//! operation declares itself, so generated clients can read them.

use poem::http::Method;
use serde_json::{json, Map, Value};

use super::rate_limit;

/// Headers on every response: name, description, whether always present, schema type.
const COMMON_HEADERS: [(&str, &str, bool, &str); 4] = [
    ("X-Request-Id", "The request's id (the caller's when valid, else generated); our logs carry it.", true, "string"),
    (
        "Cache-Control",
        "How long the answer may be kept: listings and categories are `public` with `max-age` up to the cache TTL; \
         a product is `no-cache`; an estimate is `private`; errors, 429, webhook answers and operations are `no-store`.",
        true,
        "string",
    ),
    ("Vary", "`accept-encoding` (and `origin` when CORS is on): the request headers the answer depends on.", true, "string"),
    ("X-Content-Type-Options", "Always `nosniff`.", true, "string"),
];

/// Headers on every response of a rate-limited route (absent when the limit is switched off).
const RATE_LIMIT_HEADERS: [(&str, &str, bool, &str); 5] = [
    (
        "RateLimit-Policy",
        "The quota (`q`) per window (`w`, seconds) of the `per-ip` policy (draft-ietf-httpapi-ratelimit-headers).",
        false,
        "string",
    ),
    ("RateLimit", "What is left of the quota (`r`) and seconds until it resets (`t`).", false, "string"),
    (
        "RateLimit-Limit",
        "Requests allowed per window (the earlier draft's field, same number as `q`).",
        false,
        "integer",
    ),
    ("RateLimit-Remaining", "Requests left in this window (same number as `r`).", false, "integer"),
    ("RateLimit-Reset", "Seconds until the window resets (same number as `t`).", false, "integer"),
];

/// The published document in each form.
pub struct Published {
    /// The document as a value, for what reads it at start-up (the `Allow` table).
    pub document: Value,
    pub json: String,
    pub yaml: String,
    /// The Swagger UI page, with the published document inside.
    pub docs_html: String,
}

impl Published {
    /// Publishes the document of `service`.
    pub fn of<T: poem_openapi::OpenApi, W: poem_openapi::Webhook>(
        service: &poem_openapi::OpenApiService<T, W>,
    ) -> Self {
        Self::new(&service.spec(), &service.swagger_ui_html())
    }

    /// Publishes `spec_json` (poem-openapi's JSON document), whose Swagger UI page is `docs_html`.
    pub fn new(spec_json: &str, docs_html: &str) -> Self {
        let mut document: Value = serde_json::from_str(spec_json).unwrap_or_default();
        adjust(&mut document);
        document_middleware_headers(&mut document);
        let json = serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec_json.to_owned());
        let yaml = serde_yaml::to_string(&document).unwrap_or_default();
        // The page embeds the document verbatim: the one occurrence is replaced by the published form.
        let docs_html = docs_html.replacen(spec_json, &json, 1);
        Self { document, json, yaml, docs_html }
    }
}

/// Adds the middleware's headers to every response of every operation.
fn document_middleware_headers(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (path, item) in paths {
        let Some(operations) = item.as_object_mut() else { continue };
        for (method, operation) in operations {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap_or(Method::GET);
            let limited = !rate_limit::is_exempt(&method, path);
            let Some(responses) = operation["responses"].as_object_mut() else { continue };
            for response in responses.values_mut() {
                let Some(response) = response.as_object_mut() else { continue };
                let headers = response.entry("headers").or_insert_with(|| json!({}));
                let Some(headers) = headers.as_object_mut() else { continue };
                let extra = COMMON_HEADERS.iter().chain(if limited { &RATE_LIMIT_HEADERS[..] } else { &[] });
                for (name, description, required, kind) in extra {
                    let header = json!({"description": description, "required": required, "schema": {"type": kind}});
                    headers.insert((*name).to_owned(), header);
                }
            }
        }
    }
}

/// Applies both adjustments everywhere in the document.
fn adjust(value: &mut Value) {
    match value {
        Value::Object(object) => {
            lift_ref_annotations(object);
            name_enum_values(object);
            object.values_mut().for_each(adjust);
        }
        Value::Array(items) => items.iter_mut().for_each(adjust),
        _ => {}
    }
}

/// `allOf: [{$ref}, {description, ...}]` becomes `allOf: [{$ref}], description, ...`.
fn lift_ref_annotations(object: &mut Map<String, Value>) {
    let Some(Value::Array(all_of)) = object.get_mut("allOf") else { return };
    let is_ref = |v: &Value| v.as_object().is_some_and(|o| o.len() == 1 && o.contains_key("$ref"));
    let annotation_only = |v: &Value| {
        v.as_object().is_some_and(|o| {
            o.keys().all(|k| matches!(k.as_str(), "description" | "example" | "default" | "readOnly" | "title"))
        })
    };
    if all_of.len() != 2 || !is_ref(&all_of[0]) || !annotation_only(&all_of[1]) {
        return;
    }
    if let Some(Value::Object(annotations)) = all_of.pop() {
        object.extend(annotations);
    }
}

/// Adds `x-enum-varnames` to a string enum with a value that does not start with a letter: upper case, other
/// characters as `_`, and a leading `-` (a descending sort) as a `_DESC` suffix.
fn name_enum_values(object: &mut Map<String, Value>) {
    let Some(Value::Array(values)) = object.get("enum") else { return };
    let Some(values) = values.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() else { return };
    if values.iter().all(|v| v.starts_with(|c: char| c.is_ascii_alphabetic())) {
        return;
    }
    let names: Vec<Value> = values
        .iter()
        .map(|value| {
            let bare = value.trim_start_matches('-');
            let mut name: String =
                bare.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
            if bare.len() != value.len() {
                name.push_str("_DESC");
            }
            Value::String(name)
        })
        .collect();
    object.insert("x-enum-varnames".to_owned(), Value::Array(names));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_of_a_reference_move_beside_a_one_member_all_of() {
        let mut doc = json!({"p": {"allOf": [{"$ref": "#/x"}, {"description": "d", "example": "e"}]}});
        adjust(&mut doc);
        assert_eq!(doc, json!({"p": {"allOf": [{"$ref": "#/x"}], "description": "d", "example": "e"}}));

        let mut composed = json!({"allOf": [{"$ref": "#/x"}, {"type": "object", "properties": {}}]});
        let before = composed.clone();
        adjust(&mut composed);
        assert_eq!(composed, before, "a real composition is left alone");
    }

    #[test]
    fn enum_values_that_are_not_identifiers_get_names() {
        let mut doc = json!({"enum": ["-created_at", "created_at", "-price"], "type": "string"});
        adjust(&mut doc);
        assert_eq!(doc["x-enum-varnames"], json!(["CREATED_AT_DESC", "CREATED_AT", "PRICE_DESC"]));

        let mut plain = json!({"enum": ["live", "stale"]});
        adjust(&mut plain);
        assert!(plain.get("x-enum-varnames").is_none());
    }
}

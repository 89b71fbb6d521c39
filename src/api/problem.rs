//! RFC 9457 problem details: the one error shape of the API, its stable codes and their statuses, and the
//! problems of the catalogue's errors and of the errors poem raises itself. Each operation picks the documented
//! response variant for its use case's errors; the body is always built here.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use serde::Serialize;

use crate::app::catalogue::CatalogueError;
use crate::domain::QueryError;

/// The content type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem type of a 429 (draft-ietf-httpapi-ratelimit-headers, "Quota Exceeded").
pub const QUOTA_EXCEEDED_TYPE: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// A stable, machine-readable error code. Branch on this, not on `title` or `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// A query, path or header parameter breaks its rule.
    InvalidQuery,
    /// The cursor was altered, or belongs to other filters or another sort.
    InvalidCursor,
    /// No such resource or route.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// Too many requests from this client; see `Retry-After`.
    RateLimited,
    /// The delivery partner is failing and no recent answer is known; see `Retry-After`.
    PartnerUnavailable,
    /// A storage dependency is failing, or the instance holds as many connections as it takes; see `Retry-After`.
    ServiceUnavailable,
    /// The webhook signature or timestamp is missing, wrong or too old.
    InvalidSignature,
    /// The request body is too large.
    PayloadTooLarge,
    /// The request body is not of the documented shape.
    MalformedBody,
    /// The body's content type is not accepted.
    UnsupportedMediaType,
    /// The event names a product that does not exist.
    UnknownProduct,
    /// The same webhook delivery is being processed right now; retry later.
    InFlight,
    /// The request took too long and was stopped.
    Timeout,
    /// Something failed on our side; the cause is in our logs under the request id.
    InternalError,
    /// The request is not valid HTTP (refused by the server's parser).
    MalformedRequest,
    /// The request target (path and query) is too long.
    UriTooLong,
    /// The request's header block is too large or has too many fields.
    HeadersTooLarge,
}

impl ProblemCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidQuery | Self::InvalidCursor | Self::MalformedBody | Self::MalformedRequest => {
                StatusCode::BAD_REQUEST
            }
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InFlight => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnknownProduct => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::PartnerUnavailable | Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::InvalidQuery => "Invalid request parameter",
            Self::InvalidCursor => "Invalid cursor",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::RateLimited => "Too many requests",
            Self::PartnerUnavailable => "Delivery partner unavailable",
            Self::ServiceUnavailable => "Service unavailable",
            Self::InvalidSignature => "Invalid webhook signature",
            Self::PayloadTooLarge => "Payload too large",
            Self::MalformedBody => "Malformed request body",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::UnknownProduct => "Unknown product",
            Self::InFlight => "Delivery in progress",
            Self::Timeout => "Request timed out",
            Self::InternalError => "Internal error",
            Self::MalformedRequest => "Malformed request",
            Self::UriTooLong => "URI too long",
            Self::HeadersTooLarge => "Request headers too large",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidQuery => "invalid_query",
            Self::InvalidCursor => "invalid_cursor",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::PartnerUnavailable => "partner_unavailable",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InvalidSignature => "invalid_signature",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MalformedBody => "malformed_body",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnknownProduct => "unknown_product",
            Self::InFlight => "in_flight",
            Self::Timeout => "timeout",
            Self::InternalError => "internal_error",
            Self::MalformedRequest => "malformed_request",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
        }
    }
}

/// An RFC 9457 problem: what went wrong, for people (`title`, `detail`) and for programs (`code`, `status`).
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(example)]
pub struct Problem {
    /// A URI identifying the problem type.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code of this response.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The stable machine-readable code.
    pub code: ProblemCode,
    /// On a 429: the names of the quota policies (as in `RateLimit-Policy`) this request went over.
    #[oai(rename = "violated-policies", skip_serializing_if_is_none)]
    #[serde(rename = "violated-policies", skip_serializing_if = "Option::is_none")]
    pub violated_policies: Option<Vec<String>>,
}

impl Example for Problem {
    fn example() -> Self {
        Problem::new(ProblemCode::InvalidQuery, "limit must be between 1 and 100")
    }
}

impl Problem {
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:farmlokal:problem:{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.status().as_u16(),
            detail: detail.into(),
            code,
            violated_policies: None,
        }
    }

    /// A 429 over the quota of `policy`: the problem type registered for it by draft-ietf-httpapi-ratelimit-headers
    /// (`quota-exceeded`), naming the policy of the `RateLimit-Policy` field that was exceeded.
    pub fn quota_exceeded(policy: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: QUOTA_EXCEEDED_TYPE.to_owned(),
            violated_policies: Some(vec![policy.to_owned()]),
            ..Self::new(ProblemCode::RateLimited, detail)
        }
    }

    /// A 400 `invalid_query` for a parameter poem could not parse or validate, for `bad_request_handler`s: names
    /// the parameter and the rule, without the framework's type names.
    pub fn invalid_parameter(error: &poem::Error) -> Self {
        use poem_openapi::error::{ParseParamError, ParsePathError};
        let detail = if let Some(param) = error.downcast_ref::<ParseParamError>() {
            format!("parameter `{}`: {}", param.name, plain_reason(&param.reason))
        } else if let Some(path) = error.downcast_ref::<ParsePathError>() {
            format!("path: {}", plain_reason(&path.reason))
        } else {
            plain_reason(&error.to_string())
        };
        Self::new(ProblemCode::InvalidQuery, detail)
    }

    /// A 500 that says nothing of its cause; the caller logs the cause.
    pub fn internal() -> Self {
        Self::new(ProblemCode::InternalError, "an unexpected error occurred; it has been logged")
    }

    /// The problem as a plain poem response, for middleware that answers outside an operation.
    pub fn into_poem_response(self) -> Response {
        let status = self.code.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        Response::builder().status(status).content_type(PROBLEM_JSON).body(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_poem_response()
    }
}

impl From<&QueryError> for Problem {
    fn from(error: &QueryError) -> Self {
        match error {
            QueryError::Invalid { reason, .. } => Problem::new(ProblemCode::InvalidQuery, reason.clone()),
            QueryError::InvalidCursor(_) => Problem::new(ProblemCode::InvalidCursor, error.to_string()),
        }
    }
}

impl From<&CatalogueError> for Problem {
    fn from(error: &CatalogueError) -> Self {
        match error {
            CatalogueError::Query(e) => e.into(),
            CatalogueError::NotFound => Problem::new(ProblemCode::NotFound, "no product has this id"),
            CatalogueError::Unavailable(cause) => {
                tracing::error!(error = ?cause, "catalogue unavailable");
                Problem::new(ProblemCode::ServiceUnavailable, "the catalogue is temporarily unavailable")
            }
        }
    }
}

/// The problem+json response for an error poem raised itself, keeping the operation id for the metrics.
pub fn error_response(error: &poem::Error) -> Response {
    let mut response = from_poem_error(error).into_poem_response();
    if let Some(operation) = error.data::<poem_openapi::OperationId>().copied() {
        response.set_data(operation);
    }
    response
}

/// Maps an error poem raised itself (unknown route, wrong method, unreadable parameter or body) to a problem.
pub fn from_poem_error(error: &poem::Error) -> Problem {
    let status = error.status();
    let code = match status {
        StatusCode::NOT_FOUND => ProblemCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ProblemCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ProblemCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemCode::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ProblemCode::RateLimited,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ProblemCode::Timeout,
        StatusCode::SERVICE_UNAVAILABLE => ProblemCode::ServiceUnavailable,
        StatusCode::URI_TOO_LONG => ProblemCode::UriTooLong,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ProblemCode::HeadersTooLarge,
        s if s.is_client_error() => ProblemCode::InvalidQuery,
        _ => ProblemCode::InternalError,
    };
    if code == ProblemCode::InternalError {
        tracing::error!(error = %error, "unhandled error");
        return Problem::internal();
    }
    let detail = match code {
        ProblemCode::NotFound => "no such resource".to_owned(),
        ProblemCode::MethodNotAllowed => "this route does not accept that method".to_owned(),
        _ => error.to_string(),
    };
    Problem::new(code, detail)
}

/// A framework parse error's reason without the framework's own type names: `failed to parse
/// "optional_integer(uint32)": invalid digit found in string` reads `invalid digit found in string`.
fn plain_reason(reason: &str) -> String {
    let mut out = reason.to_owned();
    for (start, end) in [("failed to parse \"", "\": "), (" (occurred while parsing \"", "\")")] {
        while let Some(at) = out.find(start) {
            let Some(len) = out[at + start.len()..].find(end) else { break };
            out.replace_range(at..at + start.len() + len + end.len(), "");
        }
    }
    if let Some(rest) = out.strip_prefix("Expected input type \"") {
        if let Some((_, found)) = rest.split_once("\", found ") {
            out = format!("not an accepted value: {}", found.trim_end_matches('.'));
        }
    }
    if out.starts_with("Type \"") && out.ends_with("expects an input value.") {
        out = "a value is required".to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::plain_reason;

    #[test]
    fn framework_type_names_are_left_out_of_details() {
        assert_eq!(
            plain_reason("failed to parse \"optional_integer(uint32)\": invalid digit found in string"),
            "invalid digit found in string"
        );
        assert_eq!(plain_reason("Expected input type \"SortOrder\", found \"up\"."), "not an accepted value: \"up\"");
        assert_eq!(plain_reason("Type \"integer(uint64)\" expects an input value."), "a value is required");
        assert_eq!(
            plain_reason("verification failed. maximum(100, exclusive: false) (occurred while parsing \"optional_integer(uint32)\")"),
            "verification failed. maximum(100, exclusive: false)"
        );
    }
}

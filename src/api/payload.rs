//! `JsonBytes<T>`: a JSON body that is already serialised (a cached page), documented in the spec as `T`.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;

/// The `Content-Type` of JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Pre-serialised JSON whose schema is `T`'s.
pub struct JsonBytes<T> {
    bytes: Bytes,
    _schema: PhantomData<fn() -> T>,
}

impl<T> JsonBytes<T> {
    /// Wraps bytes that are the JSON serialisation of a `T`.
    pub fn new(bytes: Bytes) -> Self {
        Self { bytes, _schema: PhantomData }
    }
}

impl<T: Type> Payload for JsonBytes<T> {
    const CONTENT_TYPE: &'static str = JSON_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(JSON_CONTENT_TYPE).body(self.bytes)
    }
}

/// A JSON request body kept as raw bytes (webhook signatures are computed over the exact bytes), documented in
/// the spec as `T`. The body-limit middleware has already capped its size.
pub struct RawJson<T> {
    pub bytes: Bytes,
    _schema: PhantomData<fn() -> T>,
}

impl<T: Type> Payload for RawJson<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> poem_openapi::payload::ParsePayload for RawJson<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &poem::Request, body: &mut poem::RequestBody) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes().await?;
        Ok(Self { bytes, _schema: PhantomData })
    }
}

poem_openapi::impl_apirequest_for_payload!(RawJson<T>, T: Type);

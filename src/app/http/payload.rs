//! `JsonBytes<T>`: a JSON body that is already serialised (a cached page), documented in the spec as `T`.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;

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
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type("application/json; charset=utf-8").body(self.bytes)
    }
}

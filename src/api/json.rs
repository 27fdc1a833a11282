//! `Json<T>`: a JSON answer documented as `application/json`. poem-openapi's own `Json`
//! documents `application/json; charset=utf-8`, a media type key that generated clients do
//! not look up; the bytes and the `Content-Type` sent are the same as before.
use std::ops::Deref;

use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

/// The media type the document names for JSON answers.
pub const APPLICATION_JSON: &str = "application/json";

/// A JSON answer.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for Json<T> {
    const CONTENT_TYPE: &'static str = APPLICATION_JSON;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        poem::web::Json(self.0.to_json()).into_response()
    }
}

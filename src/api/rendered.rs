//! A JSON answer rendered once and served as bytes: exact versions never change, so their
//! DataProduct and TableSchema documents are rendered when first asked for and kept with the
//! cached snapshot. The OpenAPI document sees the same schema and media type as `Json<T>`.
use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

/// What is sent; the document names `application/json` (see `api::json`).
const JSON: &str = "application/json; charset=utf-8";

/// `T`, already serialised.
pub struct Rendered<T> {
    body: Bytes,
    _shape: PhantomData<fn() -> T>,
}

impl<T: ToJSON> Rendered<T> {
    /// Serialises `value` now.
    pub fn of(value: &T) -> Rendered<T> {
        Rendered::from_bytes(render(value))
    }
}

impl<T> Rendered<T> {
    /// Bytes that hold a serialised `T`.
    pub fn from_bytes(body: Bytes) -> Rendered<T> {
        Rendered { body, _shape: PhantomData }
    }
}

/// The JSON text of `value`.
pub fn render<T: ToJSON>(value: &T) -> Bytes {
    Bytes::from(value.to_json_string())
}

impl<T: Type> Payload for Rendered<T> {
    const CONTENT_TYPE: &'static str = super::json::APPLICATION_JSON;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for Rendered<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(JSON).body(self.body)
    }
}

use super::dto::{DataProduct, TableSchema, TableSchemaList};
use crate::catalog::{Head, VersionSnapshot};

/// The product as `head` shows this version: rendered once while the product is live (a
/// deleted product's answer carries `deletedAt` and is rendered each time).
pub fn product(head: &Head, snapshot: &VersionSnapshot) -> Rendered<DataProduct> {
    if head.deleted_at.is_some() {
        return Rendered::of(&DataProduct::from(&snapshot.view(head)));
    }
    let body = snapshot.product_json.get_or_init(|| render(&DataProduct::from(&snapshot.view(head))));
    Rendered::from_bytes(body.clone())
}

/// Table `index` of the snapshot.
pub fn table(snapshot: &VersionSnapshot, index: usize) -> Rendered<TableSchema> {
    let body = snapshot.table_json[index].get_or_init(|| render(&TableSchema::from(&snapshot.tables[index])));
    Rendered::from_bytes(body.clone())
}

/// Every table of the snapshot.
pub fn tables(snapshot: &VersionSnapshot) -> Rendered<TableSchemaList> {
    let body = snapshot
        .tables_json
        .get_or_init(|| render(&TableSchemaList { items: snapshot.tables.iter().map(TableSchema::from).collect() }));
    Rendered::from_bytes(body.clone())
}

//! The kinds of change the feed records, and an event about to be appended. Pure data.
/// Every event type of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    DataProductCreated,
    DataProductUpdated,
    DataProductDeleted,
    DataProductRestored,
    DataProductPurged,
    SchemaCreated,
    SchemaUpdated,
    SchemaDeleted,
    UploadReceived,
    UploadValidated,
    UploadRejected,
    UploadExpired,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        Self::DataProductCreated,
        Self::DataProductUpdated,
        Self::DataProductDeleted,
        Self::DataProductRestored,
        Self::DataProductPurged,
        Self::SchemaCreated,
        Self::SchemaUpdated,
        Self::SchemaDeleted,
        Self::UploadReceived,
        Self::UploadValidated,
        Self::UploadRejected,
        Self::UploadExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataProductCreated => "data_product.created",
            Self::DataProductUpdated => "data_product.updated",
            Self::DataProductDeleted => "data_product.deleted",
            Self::DataProductRestored => "data_product.restored",
            Self::DataProductPurged => "data_product.purged",
            Self::SchemaCreated => "schema.created",
            Self::SchemaUpdated => "schema.updated",
            Self::SchemaDeleted => "schema.deleted",
            Self::UploadReceived => "upload.received",
            Self::UploadValidated => "upload.validated",
            Self::UploadRejected => "upload.rejected",
            Self::UploadExpired => "upload.expired",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    pub data_product: String,
    pub version: Option<String>,
    pub table: Option<String>,
    pub actor: String,
    pub data: serde_json::Value,
}

//! Who is calling. Every request currently acts as the admin principal `anonymous`;
//! this extractor is the one seam that token verification replaces.
use poem::{FromRequest, Request, RequestBody};

/// The caller of a request: its `sub`, as recorded in `createdBy`/`updatedBy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal { sub: "anonymous".to_owned() }
    }
}

impl<'a> FromRequest<'a> for Principal {
    async fn from_request(_req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Principal::anonymous())
    }
}

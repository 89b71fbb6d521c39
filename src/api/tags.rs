//! The groups operations are listed under in the docs and the spec.

use poem_openapi::Tags;

/// Groups of operations in the docs.
#[derive(Tags)]
pub enum ApiTags {
    /// Products and categories.
    Catalogue,
    /// Delivery estimates from the logistics partner.
    Delivery,
    /// Signed events from partners.
    Webhooks,
    /// Health and metrics.
    Operations,
}

//! Claims of docs/SECURITY.md that no other suite pins: the webhook takes no property beyond the documented
//! ones (no mass assignment), so an extra field in `data` is refused and changes nothing.

use serde_json::json;

use crate::harness::partners::{Delivery, PRODUCT};
use crate::harness::spawn_app;

#[tokio::test]
async fn an_undocumented_property_in_a_signed_event_is_400_and_changes_nothing() {
    let (_world, app) = spawn_app(100).await;
    let before = app.product(PRODUCT).await;
    let bodies = [
        json!({"type": "product.stock_adjusted", "data": {"product_id": PRODUCT, "delta": 5, "stock": 0}}),
        json!({"type": "product.price_updated",
               "data": {"product_id": PRODUCT, "price_paise": 100, "effective_at": "2026-01-01T00:00:00Z",
                        "name": "Renamed"}}),
    ];

    for (n, body) in bodies.iter().enumerate() {
        let reply = app.deliver(&Delivery::signed(&format!("msg_extra_{n}"), body.to_string())).await;
        reply.assert_problem(400, "malformed_body");
    }

    assert_eq!(app.product(PRODUCT).await, before, "a refused event changed the product");
}

//! The one integration-test harness, after zero-to-production's `TestApp`: a `World` (the storage a test owns,
//! in memory or on MySQL + Redis), a `TestApp` started from it (in process, on a port, or as the binary), one
//! `Reply` for every answer, the partners as tests play them, the listing oracle and the waits. Test modules
//! import from here and never from each other.

pub mod app;
pub mod cluster;
pub mod oracle;
pub mod partners;
pub mod reply;
pub mod servers;
pub mod wait;
pub mod world;

pub use app::{Binary, Run, TestApp};
pub use reply::Reply;
pub(crate) use world::in_both_worlds;
pub use world::World;

/// A memory world of `products` sample products and its service in process: what most HTTP tests need.
pub async fn spawn_app(products: u64) -> (World, TestApp) {
    let world = World::memory(products);
    let app = world.app(Run::InProcess).await;
    (world, app)
}

//! What the operations surface reads: the store's gauges, as of the engine's clock.

use crate::{Engine, Result};
use backflow_store::Gauges;

impl Engine {
    pub async fn gauges(&self) -> Result<Gauges> {
        Ok(self.store().gauges(self.clock().now()).await?)
    }
}

//! Port knowledge: port values and ranges (`range`: the one type and the one parser), service names
//! (`/etc/services` and the built-in table), port classes, the host's ephemeral range and reserved ports, the
//! exposure audit and ephemeral-port pressure, and conntrack port forwards.

pub mod audit;
pub mod classes;
pub mod conntrack;
pub mod range;
pub mod services;
pub mod services_table;

pub use range::{PortError, PortRange, PortSpec};

//! `sockscope services` flags and their check into a [`ServicesConfig`].

use std::path::PathBuf;

use super::UsageError;
use crate::commands::services::{ServicesConfig, parse_query};
use crate::model::Proto;

pub(crate) const HELP: &str = "\
Names come from the services file (/etc/services) first and from sockscope's built-in table \
of common IANA assignments for every port the file does not name; the Source column says \
which. Class is IANA's: well-known 0-1023 (privileged on Linux), registered 1024-49151, \
dynamic 49152-65535. Host says whether the port is inside this host's ephemeral range \
(net.ipv4.ip_local_port_range, where outgoing connections take their local port) or \
reserved (net.ipv4.ip_local_reserved_ports).

Examples:
  sockscope services              the whole table
  sockscope services 443          one port
  sockscope services https        a name or alias, every protocol it is used with
  sockscope services 8000-8100    the named ports of a range, and what the range is

Exit status: 0 on success, 1 for a name neither source knows, 2 for a malformed port or \
range.";

/// The protocols the table knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Udp,
    Sctp,
}

impl ProtoArg {
    pub fn proto(self) -> Proto {
        match self {
            ProtoArg::Tcp => Proto::Tcp,
            ProtoArg::Udp => Proto::Udp,
            ProtoArg::Sctp => Proto::Sctp,
        }
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = HELP)]
pub struct ServicesArgs {
    /// A port (443), a range (8000-8100) or a service name (https); none lists the whole table
    #[arg(value_name = "PORT|NAME")]
    pub query: Option<String>,
    /// Only this protocol
    #[arg(long, value_enum, value_name = "PROTO")]
    pub proto: Option<ProtoArg>,
    /// One JSON object: `services` (proto, port, name, aliases, class, ephemeral, reserved, source,
    /// description), `host` (ephemeral range, reserved ports, capacity) and, for a port or range, `ports`
    #[arg(long)]
    pub json: bool,
    /// The services file to read
    #[arg(long, value_name = "FILE", default_value = "/etc/services")]
    pub services_file: PathBuf,
    /// The proc filesystem to read the ephemeral range from
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
}

impl ServicesArgs {
    pub fn resolve(&self) -> Result<ServicesConfig, UsageError> {
        let query = parse_query(self.query.as_deref()).map_err(|e| {
            UsageError(format!("invalid value '{}' for [PORT|NAME]: {e}", self.query.as_deref().unwrap_or("")))
        })?;
        Ok(ServicesConfig {
            query,
            proto: self.proto.map(ProtoArg::proto),
            json: self.json,
            services_file: self.services_file.clone(),
            proc_root: self.proc_root.clone(),
        })
    }
}

//! The columns of the dashboard's two tables (groups, sockets) by name: which one each table is sorted by.

/// A column of the group table, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortCol {
    /// The group's namespace (and container); shown only when several namespaces are (`--all-netns`).
    Namespace,
    Proto,
    Endpoint,
    Service,
    Class,
    Sockets,
    Established,
    SynRecv,
    TimeWait,
    CloseWait,
    FinWait,
    AcceptQueue,
    Peers,
    Process,
    Trend,
}

/// A column of the socket table, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockCol {
    Local,
    Peer,
    State,
    RecvQ,
    SendQ,
    Age,
    Process,
    Rtt,
    Retrans,
}

impl PortCol {
    /// The columns in display order (the order of the presentation's `PORT_COLUMNS`).
    pub const ALL: [PortCol; 15] = [
        PortCol::Namespace,
        PortCol::Proto,
        PortCol::Endpoint,
        PortCol::Service,
        PortCol::Class,
        PortCol::Sockets,
        PortCol::Established,
        PortCol::SynRecv,
        PortCol::TimeWait,
        PortCol::CloseWait,
        PortCol::FinWait,
        PortCol::AcceptQueue,
        PortCol::Peers,
        PortCol::Process,
        PortCol::Trend,
    ];
}

impl SockCol {
    /// The columns in display order (the order of the presentation's `SOCK_COLUMNS`).
    pub const ALL: [SockCol; 9] = [
        SockCol::Local,
        SockCol::Peer,
        SockCol::State,
        SockCol::RecvQ,
        SockCol::SendQ,
        SockCol::Age,
        SockCol::Process,
        SockCol::Rtt,
        SockCol::Retrans,
    ];
}

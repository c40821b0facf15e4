//! The compiled-in service table: the IANA assignments operators meet daily, used for every (protocol, port)
//! that `/etc/services` does not name (a minimal container has no `/etc/services` at all).
//!
//! Names follow IANA's service-name registry, which is what `/etc/services` ships. Where IANA's registration
//! for a port is not what runs there in practice (9092 is registered as `XmlIpcRegSvc`, but it is Kafka), the
//! table uses the de facto name and the description says so; `/etc/services` still wins for any port it lists.

/// One compiled-in assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub name: &'static str,
    pub port: u16,
    pub tcp: bool,
    pub udp: bool,
    pub aliases: &'static [&'static str],
    /// What it is, in a few words.
    pub description: &'static str,
}

const fn t(name: &'static str, port: u16, aliases: &'static [&'static str], description: &'static str) -> Builtin {
    Builtin { name, port, tcp: true, udp: false, aliases, description }
}
const fn u(name: &'static str, port: u16, aliases: &'static [&'static str], description: &'static str) -> Builtin {
    Builtin { name, port, tcp: false, udp: true, aliases, description }
}
const fn tu(name: &'static str, port: u16, aliases: &'static [&'static str], description: &'static str) -> Builtin {
    Builtin { name, port, tcp: true, udp: true, aliases, description }
}

/// The table, by port.
pub const BUILTIN: &[Builtin] = &[
    t("tcpmux", 1, &[], "TCP port service multiplexer"),
    tu("echo", 7, &[], "echo"),
    tu("discard", 9, &["sink", "null"], "discard"),
    tu("daytime", 13, &[], "daytime"),
    tu("chargen", 19, &["ttytst", "source"], "character generator"),
    t("ftp-data", 20, &[], "FTP data"),
    t("ftp", 21, &[], "FTP control"),
    t("ssh", 22, &[], "Secure Shell"),
    t("telnet", 23, &[], "Telnet (clear text)"),
    t("smtp", 25, &["mail"], "mail transfer (SMTP)"),
    tu("time", 37, &["timserver"], "time protocol"),
    t("whois", 43, &["nicname"], "WHOIS"),
    tu("tacacs", 49, &[], "TACACS login host protocol"),
    tu("domain", 53, &["dns"], "DNS"),
    u("bootps", 67, &[], "BOOTP/DHCP server"),
    u("bootpc", 68, &[], "BOOTP/DHCP client"),
    u("tftp", 69, &[], "Trivial File Transfer (no authentication)"),
    t("gopher", 70, &[], "Gopher"),
    t("finger", 79, &[], "Finger"),
    t("http", 80, &["www"], "HTTP"),
    tu("kerberos", 88, &["kerberos5", "krb5", "kerberos-sec"], "Kerberos v5"),
    t("pop3", 110, &["pop-3"], "POP3 mail retrieval"),
    tu("sunrpc", 111, &["portmapper", "rpcbind"], "ONC RPC port mapper (rpcbind)"),
    t("auth", 113, &["ident", "authentication", "tap"], "ident"),
    t("nntp", 119, &["readnews", "untp"], "network news (NNTP)"),
    tu("ntp", 123, &[], "Network Time Protocol"),
    tu("epmap", 135, &["loc-srv", "msrpc"], "Microsoft RPC endpoint mapper"),
    tu("netbios-ns", 137, &[], "NetBIOS name service"),
    tu("netbios-dgm", 138, &[], "NetBIOS datagram service"),
    tu("netbios-ssn", 139, &[], "NetBIOS session service (SMB over NetBIOS)"),
    t("imap", 143, &["imap2"], "IMAP mail access"),
    tu("snmp", 161, &[], "SNMP"),
    tu("snmp-trap", 162, &["snmptrap"], "SNMP traps"),
    tu("xdmcp", 177, &[], "X display manager control"),
    t("bgp", 179, &[], "Border Gateway Protocol"),
    t("irc", 194, &[], "Internet Relay Chat"),
    tu("ldap", 389, &[], "LDAP directory"),
    tu("https", 443, &[], "HTTP over TLS (and HTTP/3 over UDP)"),
    tu("microsoft-ds", 445, &["smb", "cifs"], "SMB file sharing (Windows, Samba)"),
    tu("kpasswd", 464, &[], "Kerberos password change"),
    t("submissions", 465, &["ssmtp", "smtps"], "mail submission over TLS"),
    u("isakmp", 500, &["ike"], "IPsec key exchange (IKE)"),
    t("exec", 512, &[], "rexec (clear text)"),
    u("biff", 512, &["comsat"], "mail notification"),
    t("login", 513, &[], "rlogin (clear text)"),
    u("who", 513, &["whod"], "rwho"),
    t("shell", 514, &["cmd"], "rsh (clear text)"),
    u("syslog", 514, &[], "syslog"),
    t("printer", 515, &["spooler"], "line printer daemon (LPD)"),
    u("route", 520, &["router", "routed"], "RIP routing"),
    u("dhcpv6-client", 546, &[], "DHCPv6 client"),
    u("dhcpv6-server", 547, &[], "DHCPv6 server"),
    t("submission", 587, &[], "mail submission (MSA)"),
    tu("ipp", 631, &[], "Internet Printing Protocol (CUPS)"),
    tu("ldaps", 636, &[], "LDAP over TLS"),
    tu("rsync", 873, &[], "rsync daemon"),
    t("ftps-data", 989, &[], "FTP data over TLS"),
    t("ftps", 990, &[], "FTP control over TLS"),
    t("telnets", 992, &[], "Telnet over TLS"),
    t("imaps", 993, &[], "IMAP over TLS"),
    t("pop3s", 995, &[], "POP3 over TLS"),
    tu("socks", 1080, &[], "SOCKS proxy"),
    tu("openvpn", 1194, &[], "OpenVPN"),
    t("ms-sql-s", 1433, &["mssql"], "Microsoft SQL Server"),
    u("ms-sql-m", 1434, &[], "Microsoft SQL Server browser"),
    t("ncube-lm", 1521, &["oracle"], "Oracle database listener (IANA: ncube-lm)"),
    u("l2tp", 1701, &[], "L2TP"),
    t("pptp", 1723, &[], "PPTP VPN"),
    u("radius", 1812, &[], "RADIUS authentication"),
    u("radius-acct", 1813, &[], "RADIUS accounting"),
    t("mqtt", 1883, &[], "MQTT broker"),
    u("ssdp", 1900, &["upnp"], "SSDP / UPnP discovery"),
    tu("nfs", 2049, &["nfsd"], "NFS"),
    t("zookeeper", 2181, &[], "Apache ZooKeeper client port (de facto; IANA: eforward)"),
    t("docker", 2375, &[], "Docker API, plain (no TLS)"),
    t("docker-s", 2376, &[], "Docker API over TLS"),
    t("etcd-client", 2379, &["etcd"], "etcd client API"),
    t("etcd-server", 2380, &[], "etcd peer traffic"),
    t("iscsi-target", 3260, &["iscsi"], "iSCSI target"),
    t("mysql", 3306, &["mariadb"], "MySQL / MariaDB"),
    tu("ms-wbt-server", 3389, &["rdp"], "Remote Desktop (RDP)"),
    tu("stun", 3478, &["turn"], "STUN / TURN"),
    t("svn", 3690, &[], "Subversion"),
    t("nats", 4222, &[], "NATS messaging (de facto)"),
    t("epmd", 4369, &[], "Erlang port mapper (RabbitMQ, CouchDB clustering)"),
    u("ipsec-nat-t", 4500, &[], "IPsec NAT traversal"),
    tu("sip", 5060, &[], "SIP"),
    t("sip-tls", 5061, &[], "SIP over TLS"),
    t("xmpp-client", 5222, &[], "XMPP client connections"),
    t("xmpp-server", 5269, &[], "XMPP server-to-server"),
    u("mdns", 5353, &[], "multicast DNS"),
    t("postgresql", 5432, &["postgres"], "PostgreSQL"),
    t("kibana", 5601, &[], "Kibana (de facto; IANA: esmagent)"),
    t("amqp", 5672, &[], "AMQP broker (RabbitMQ)"),
    u("coap", 5683, &[], "Constrained Application Protocol"),
    t("rfb", 5900, &["vnc"], "VNC remote framebuffer"),
    t("couchdb", 5984, &[], "CouchDB"),
    t("x11", 6000, &["x11-0"], "X Window System"),
    t("redis", 6379, &[], "Redis"),
    t("kube-apiserver", 6443, &[], "Kubernetes API server (de facto; IANA: sun-sr-https)"),
    t("syslog-tls", 6514, &[], "syslog over TLS"),
    t("ircd", 6667, &[], "IRC server"),
    t("neo4j", 7474, &[], "Neo4j HTTP"),
    t("http-alt", 8080, &["webcache"], "alternative HTTP, proxies"),
    t("influxdb", 8086, &[], "InfluxDB HTTP API (de facto; IANA: d-s-n)"),
    t("puppet", 8140, &[], "Puppet server"),
    t("vault", 8200, &[], "HashiCorp Vault API (de facto)"),
    t("https-alt", 8443, &[], "alternative HTTPS (de facto; IANA: pcsync-https)"),
    t("consul", 8500, &[], "HashiCorp Consul HTTP API (de facto; IANA: fmtp)"),
    t("secure-mqtt", 8883, &["mqtts"], "MQTT over TLS"),
    t("cassandra", 9042, &[], "Apache Cassandra native protocol (de facto)"),
    t("prometheus", 9090, &[], "Prometheus server (de facto; IANA: websm)"),
    t("kafka", 9092, &[], "Apache Kafka broker (de facto; IANA: XmlIpcRegSvc)"),
    t("elasticsearch", 9200, &[], "Elasticsearch / OpenSearch HTTP API (de facto; IANA: wap-wsp)"),
    t("elasticsearch-transport", 9300, &[], "Elasticsearch node-to-node transport (de facto)"),
    t("git", 9418, &[], "git daemon"),
    t("zabbix-agent", 10050, &[], "Zabbix agent"),
    t("zabbix-trapper", 10051, &[], "Zabbix server"),
    t("kubelet", 10250, &[], "Kubernetes kubelet API (de facto)"),
    t("kubelet-ro", 10255, &[], "Kubernetes kubelet read-only API (de facto)"),
    tu("memcache", 11211, &["memcached"], "memcached"),
    t("rabbitmq-mgmt", 15672, &[], "RabbitMQ management UI (de facto)"),
    t("redis-sentinel", 26379, &[], "Redis Sentinel (de facto)"),
    t("mongodb", 27017, &[], "MongoDB"),
    t("mysqlx", 33060, &[], "MySQL X protocol"),
    u("wireguard", 51820, &[], "WireGuard (de facto)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_covers_the_issue_list() {
        for w in BUILTIN.windows(2) {
            assert!(w[0].port <= w[1].port, "{} before {}", w[0].name, w[1].name);
            let overlap = w[0].tcp && w[1].tcp || w[0].udp && w[1].udp;
            assert!(w[0].port != w[1].port || !overlap, "duplicate {}", w[0].port);
        }
        for b in BUILTIN {
            assert!(b.tcp || b.udp, "{}", b.name);
            assert!(!b.description.is_empty());
        }
        for (name, port) in [
            ("ftp-data", 20),
            ("ftp", 21),
            ("ssh", 22),
            ("telnet", 23),
            ("smtp", 25),
            ("domain", 53),
            ("bootps", 67),
            ("bootpc", 68),
            ("http", 80),
            ("pop3", 110),
            ("nntp", 119),
            ("ntp", 123),
            ("netbios-ns", 137),
            ("netbios-dgm", 138),
            ("netbios-ssn", 139),
            ("imap", 143),
            ("snmp", 161),
            ("ldap", 389),
            ("https", 443),
            ("microsoft-ds", 445),
            ("submission", 587),
            ("mysql", 3306),
            ("postgresql", 5432),
            ("redis", 6379),
            ("mongodb", 27017),
            ("memcached", 11211),
            ("kafka", 9092),
            ("elasticsearch", 9200),
            ("prometheus", 9090),
            ("rdp", 3389),
            ("vnc", 5900),
        ] {
            let hit = BUILTIN.iter().find(|b| b.name == name || b.aliases.contains(&name));
            assert_eq!(hit.map(|b| b.port), Some(port), "{name}");
        }
    }
}

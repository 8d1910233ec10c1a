//! `CLUSTER NODES`, parsed once for every caller: discovery, the
//! `cluster.*` checks, cleanup and drills.

use crate::address::Addr;

/// One line of `CLUSTER NODES` (7.0 form: `id ip:port@bus[,hostname] flags
/// primary ping pong epoch link slot…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    /// Node id.
    pub id: String,
    /// The IP the node announces on the bus (before `,hostname`).
    pub ip: String,
    /// Hostname when announced, else the IP, with the client port: what
    /// clients are redirected to.
    pub announced: Addr,
    /// Flags such as `myself`, `master`, `slave`, `fail`, `fail?`.
    pub flags: Vec<String>,
    /// The primary's id, for replicas.
    pub primary: Option<String>,
    /// Slot ranges it serves (importing/migrating markers not counted).
    pub slots: usize,
}

impl ClusterNode {
    /// Whether it carries `flag`.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Marked failing (`fail`) or suspected (`fail?`).
    pub fn failing(&self) -> bool {
        self.has("fail") || self.has("fail?")
    }
}

/// Parses `CLUSTER NODES` text, skipping nodes without an address.
pub fn parse(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [id, addr, flags, primary, _ping, _pong, _epoch, _link, slots @ ..] = f.as_slice()
            else {
                return None;
            };
            let flags: Vec<String> = flags.split(',').map(str::to_owned).collect();
            if flags.iter().any(|x| x == "noaddr" || x == "handshake") {
                return None;
            }
            let (ip_port, hostname) = match addr.split_once(',') {
                Some((a, h)) => (a, Some(h).filter(|h| !h.is_empty())),
                None => (*addr, None),
            };
            let (ip, port) = ip_port.split('@').next()?.rsplit_once(':')?;
            Some(ClusterNode {
                id: (*id).to_owned(),
                ip: ip.to_owned(),
                announced: Addr::new(hostname.unwrap_or(ip), port.parse().ok()?),
                flags,
                primary: Some(*primary)
                    .filter(|p| *p != "-")
                    .map(|p| (*p).to_owned()),
                slots: slots.iter().filter(|s| !s.starts_with('[')).count(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hostnames_roles_primaries_and_slots() {
        let text = "\
07c3 172.18.0.2:7001@17001,cluster-1 myself,master - 0 0 1 connected 0-5460 [93->-9a1e]
9a1e 172.18.0.5:7004@17004,cluster-4 slave 07c3 0 1700 1 connected
ffff :0@0 master,noaddr - 0 0 0 disconnected
b0b0 127.0.0.1:7002@17002 master,fail - 0 0 2 connected 5461-10922
";
        let nodes = parse(text);
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].announced, Addr::new("cluster-1", 7001));
        assert_eq!(nodes[0].ip, "172.18.0.2");
        assert_eq!(nodes[0].slots, 1);
        assert!(nodes[0].has("master"));
        assert_eq!(nodes[1].primary.as_deref(), Some("07c3"));
        assert_eq!(nodes[2].announced, Addr::new("127.0.0.1", 7002));
        assert!(nodes[2].failing());
    }
}

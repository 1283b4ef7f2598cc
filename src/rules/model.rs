//! The one model between parsing and everything else: a [`Rule`] is what
//! ipsecctl would load for one line of configuration after expansion — one
//! flow direction, one SA, one bundle, or one ike connection.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::diag::{FileId, Span};
use crate::rules::xf::Transforms;
pub use crate::syntax::load::PskMacro;

// The keyword-valued settings are the syntax's words; the rules use them as
// they are.
pub use crate::syntax::words::{Direction, FlowType, IkeMode, SaType, Tmode, XfKind};

/// A resolved address or network, as ipsecctl's `ipsec_addr_wrap`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostAddr {
    pub ip: IpAddr,
    pub prefix: u8,
    /// Written as a network (`/bits`, or `any`): never taken as the peer.
    pub net: bool,
    /// The name isakmpd tags are built from: the address as written, or the
    /// interface name, or the address a host name resolved to.  Made once
    /// and shared by every rule (and finding) that names the host.
    pub name: Arc<str>,
    /// Flow NAT: the network the source is translated to.
    pub nat: Option<Box<HostAddr>>,
}

impl HostAddr {
    pub fn is_v4(&self) -> bool {
        self.ip.is_ipv4()
    }

    /// The full-length prefix for the address family.
    pub fn max_prefix(&self) -> u8 {
        if self.is_v4() { 32 } else { 128 }
    }
}

/// An IKE identity and the ID type isakmpd is told.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Id {
    /// Shared by the rules a statement's lists expand to.
    pub name: Arc<str>,
    pub kind: IdKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    Ipv4,
    Ipv6,
    Fqdn,
    UserFqdn,
}

impl Id {
    /// Classifies an identity as ipsecctl does: an address, `user@fqdn`, or
    /// an FQDN.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let name: Arc<str> = name.into();
        let kind = if crate::rules::inet::pton4(&name).is_some() {
            IdKind::Ipv4
        } else if crate::rules::inet::pton6(&name).is_some() {
            IdKind::Ipv6
        } else if name.contains('@') {
            IdKind::UserFqdn
        } else {
            IdKind::Fqdn
        };
        Id { name, kind }
    }
}

/// The fewest characters a pre-shared key should have (lint's L202, and
/// what `key set` takes).
pub const MIN_PSK: usize = 20;

/// A secret that must not be shown unless asked for: a pre-shared key,
/// and the macro it was written with (`psk $acme_psk`), when the key is
/// that macro's whole value.  Two secrets are equal when their keys are,
/// however written.
#[derive(Clone)]
pub struct Secret(pub Arc<str>, pub Option<PskMacro>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Secret {
        Secret(value.into(), None)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0 == other.0
    }
}

impl Eq for Secret {}

impl std::hash::Hash for Secret {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Keying material for a manual SA or tcpmd5.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(pub Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IkeAuth {
    Rsa,
    Psk(Secret),
}

/// One direction of a flow: what the kernel's SPD gets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub satype: SaType,
    pub direction: Direction,
    pub proto: u8,
    pub src: HostAddr,
    pub sport: u16,
    pub dst: HostAddr,
    pub dport: u16,
    pub local: Option<HostAddr>,
    pub peer: Option<HostAddr>,
    /// `None` for deny and bypass flows, which carry no identities.
    pub ids: Option<(Option<String>, Option<String>)>,
    pub flow_type: FlowType,
}

/// A manually keyed SA, or a tcpmd5 SA.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sa {
    pub satype: SaType,
    pub tmode: Tmode,
    pub src: HostAddr,
    pub dst: HostAddr,
    pub spi: u32,
    pub udpencap: bool,
    pub udp_port: u16,
    pub xfs: Transforms,
    pub authkey: Option<Key>,
    pub enckey: Option<Key>,
}

/// Two SAs grouped into a bundle (`bundle NAME`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bundle {
    pub dst: HostAddr,
    pub satype: SaType,
    pub spi: u32,
    pub dst2: HostAddr,
    pub satype2: SaType,
    pub spi2: u32,
}

/// Phase 1 or phase 2 settings of an ike rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Phase {
    pub aggressive: bool,
    pub xfs: Transforms,
    /// Lifetime in seconds, when set.
    pub lifetime: Option<i32>,
}

/// One ike connection: what ipsecctl writes into isakmpd's FIFO.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ike {
    pub mode: IkeMode,
    pub satype: SaType,
    pub tmode: Tmode,
    pub proto: u8,
    pub src: HostAddr,
    pub sport: u16,
    pub dst: HostAddr,
    pub dport: u16,
    pub local: Option<HostAddr>,
    /// `None`: the default peer.
    pub peer: Option<HostAddr>,
    pub phase1: Phase,
    pub phase2: Phase,
    pub srcid: Option<Id>,
    pub dstid: Option<Id>,
    /// The key and tag are shared, as the names are, by the rules a
    /// statement's lists expand to.
    pub auth: IkeAuth,
    pub tag: Option<Arc<str>>,
    /// `ike interface secN`: the unit N.
    pub iface: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
/// Each kind boxed: a rule is then a few words (a large gateway holds tens
/// of thousands), and the vector of rules grows without copying them.
pub enum RuleKind {
    Flow(Box<Flow>),
    Sa(Box<Sa>),
    Bundle(Box<Bundle>),
    Ike(Box<Ike>),
}

/// Where a rule came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: FileId,
    /// Number of the statement, in reading order.
    pub stmt: u32,
    /// The statement's first token.
    pub span: Span,
    /// The statement's last line, which ipsecctl names in its messages.
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub kind: RuleKind,
    pub origin: Origin,
}

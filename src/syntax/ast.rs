//! The syntax tree of one statement.  Nodes point at their tokens by index
//! into the statement's token list, which carries the spans.  Values are
//! kept as written; the resolve stage gives them meaning.

use crate::syntax::words::{Direction, FlowType, IkeMode, SaType, Tmode, XfKind};

/// Index of a token within its statement.
pub type Tok = u32;

/// A string token and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub value: String,
    pub tok: Tok,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// An empty line.
    Empty,
    Include(Text),
    /// `name = "value" ...`; `end` is the closing newline.
    Macro {
        name: Text,
        value: String,
        end: Tok,
    },
    Flow(Flow),
    Ike(Ike),
    Sa(Sa),
    Tcpmd5(Tcpmd5),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub satype: Option<SaType>,
    pub direction: Option<Direction>,
    pub proto: Option<Proto>,
    pub hosts: Hosts,
    pub peers: Vec<PeerClause>,
    pub ids: Ids,
    pub flow_type: Option<FlowType>,
    /// The newline closing the rule.
    pub end: Tok,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ike {
    pub mode: Option<IkeMode>,
    pub satype: Option<SaType>,
    pub tmode: Option<Tmode>,
    pub proto: Option<Proto>,
    /// `from .. to ..`, or `interface secN` in its place.
    pub target: IkeTarget,
    pub peers: Vec<PeerClause>,
    pub phase1: Option<Phase>,
    pub phase2: Option<Phase>,
    pub ids: Ids,
    pub auth: Option<IkeAuth>,
    pub tag: Option<Text>,
    pub end: Tok,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IkeTarget {
    Hosts(Box<Hosts>),
    Interface(Text),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sa {
    pub satype: Option<SaType>,
    pub tmode: Option<Tmode>,
    pub hosts: Hosts,
    pub spi: Spi,
    /// `udpencap`, with the port when given.
    pub udpencap: Option<Option<(i64, Tok)>>,
    pub transforms: Vec<Transform>,
    pub authkey: Option<KeySpec>,
    pub enckey: Option<KeySpec>,
    pub bundle: Option<Text>,
    pub end: Tok,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcpmd5 {
    pub hosts: Hosts,
    pub spi: Spi,
    pub authkey: Option<KeySpec>,
    pub end: Tok,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    Name(Text),
    Number(i64, Tok),
    Esp(Tok),
    Ah(Tok),
}

/// `from SRC [port P] to DST [port P]`, or the same the other way round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hosts {
    pub src: Host,
    pub sport: Option<Port>,
    pub dst: Host,
    pub dport: Option<Port>,
    /// The first token after the whole clause.
    pub next: Tok,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Any(Tok),
    Spec(HostSpec),
    /// `net (nat-net)`: flow NAT.
    Nat {
        host: HostSpec,
        nat: HostSpec,
        close: Tok,
    },
    List(Vec<Host>),
}

/// An address, network, interface or host name: `name` or `name/bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// As ipsecctl rebuilds it: the string, then `/bits` when given.
    pub text: String,
    pub first: Tok,
    pub last: Tok,
    pub has_mask: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Port {
    Name(Text),
    Number(i64, Tok),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerClause {
    /// `peer [any|ADDRESS]`
    Peer(Option<PeerHost>, Tok),
    /// `local [ADDRESS]`
    Local(Option<Text>, Tok),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerHost {
    Any(Tok),
    Name(Text),
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Ids {
    pub srcid: Option<Text>,
    pub dstid: Option<Text>,
}

/// `main|aggressive|quick [transforms] [lifetime L]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    pub aggressive: bool,
    pub transforms: Vec<Transform>,
    pub lifetime: Option<Lifetime>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    pub kind: XfKind,
    pub name: Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifetime {
    Number(i64, Tok),
    Text(Text),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IkeAuth {
    Rsa,
    Psk(Text),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spi {
    Text(Text),
    Number(i64, Tok),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Hex(Text),
    File(Text),
}

//! Resolving: syntax trees → [`Rule`]s, with every check ipsecctl makes and
//! its defaults.  Host names are looked up, lists multiplied out (one rule
//! per source and destination of the same address family), a flow gains its
//! reverse direction, an SA with two SPIs its reverse SA.
//!
//! Diagnostics carry the line ipsecctl names: checks of a whole rule run when
//! its parser reaches the end of the line, so they name the rule's last
//! line; checks of a value name the line of the token after it, or of the
//! value itself.  When a check fails the way ipsecctl abandons the statement,
//! the statement's number goes into `aborted`.

use crate::diag::{Diagnostic, Kind};
use crate::rules::hosts::{self, HostError};
use crate::rules::keys;
use crate::rules::model::*;
use crate::rules::netdb;
use crate::rules::num;
use crate::rules::xf::{self, Transforms};
use crate::syntax::ast::{self, Tok};
use crate::syntax::load::Statement;
use crate::system::files::Root;
use crate::system::names::Names;

/// One rule's source × destination list may not expand to more than this.
pub const MAX_EXPANSION: usize = 65_536;
/// A configuration may not expand to more rules than this in all.
pub const MAX_RULES: usize = 2_000_000;

pub struct ResolveOptions<'a> {
    pub names: &'a Names,
    /// Where key files are read from.
    pub root: &'a Root,
    /// The identity of `ike dynamic` rules that have no srcid.
    pub hostname: String,
}

#[derive(Debug, Default)]
pub struct Resolved {
    pub rules: Vec<Rule>,
    pub diags: Vec<Diagnostic>,
    /// Statements abandoned after an error (ipsecctl's parser recovers from
    /// these as from a syntax error).
    pub aborted: Vec<u32>,
}

/// Resolves parsed statements, in order.
pub fn resolve(statements: &[Statement], opts: &ResolveOptions) -> Resolved {
    let mut r = Resolver::new(opts);
    for st in statements {
        r.statement(st);
    }
    r.finish()
}

/// The statement was abandoned.
struct Abort;
type R<T> = Result<T, Abort>;

/// One element of a host list before `any` is expanded.
#[derive(Clone, Debug)]
enum Entry {
    Any,
    Addr(HostAddr),
}

/// `peer` and `local` as written.
#[derive(Default)]
struct Peers {
    /// `None`: not given; `Some(None)`: `peer any`.
    peer: Option<Option<HostAddr>>,
    local: Option<HostAddr>,
}

/// What the first ike rule with the default peer set, which later ones
/// must agree with: isakmpd has only one default peer.
struct DefaultPeer {
    local: Option<std::sync::Arc<str>>,
    psk: Option<std::sync::Arc<str>>,
    aggressive: bool,
    srcid: Option<String>,
    dstid: Option<String>,
}

/// SAs named in the same `bundle` between the same hosts.
struct BundleGroup {
    src: String,
    dst: String,
    name: String,
    last: (HostAddr, SaType, u32),
}

/// Resolves statements one at a time, in order (some checks look at the
/// statements before).
pub struct Resolver<'a> {
    opts: &'a ResolveOptions<'a>,
    out: Resolved,
    default_peer: Option<DefaultPeer>,
    bundles: Vec<BundleGroup>,
}

impl<'a> Resolver<'a> {
    pub fn new(opts: &'a ResolveOptions<'a>) -> Self {
        Resolver {
            opts,
            out: Resolved::default(),
            default_peer: None,
            bundles: Vec::new(),
        }
    }

    /// Resolves the next statement.
    pub fn statement(&mut self, st: &Statement) {
        let done = match &st.stmt {
            ast::Stmt::Flow(f) => self.flow(st, f),
            ast::Stmt::Ike(i) => self.ike(st, i),
            ast::Stmt::Sa(s) => self.sa(st, s),
            ast::Stmt::Tcpmd5(t) => self.tcpmd5(st, t),
            _ => Ok(()),
        };
        if done.is_err() {
            self.out.aborted.push(st.seq);
        }
    }

    pub fn finish(self) -> Resolved {
        self.out
    }

    fn err(&mut self, st: &Statement, kind: Kind, tok: Tok, msg: impl Into<String>) {
        self.out
            .diags
            .push(Diagnostic::error(kind, st.span(tok), msg).ordered((st.seq, tok)));
    }

    /// Reports an error and abandons the statement.
    fn abort<T>(&mut self, st: &Statement, kind: Kind, tok: Tok, msg: impl Into<String>) -> R<T> {
        self.err(st, kind, tok, msg);
        Err(Abort)
    }

    fn push(&mut self, st: &Statement, end: Tok, kind: RuleKind) {
        self.out.rules.push(Rule {
            kind,
            origin: Origin {
                file: st.file,
                stmt: st.seq,
                span: st.start(),
                line: st.span(end).line,
            },
        });
    }

    // ---- values ------------------------------------------------------------

    fn proto(&mut self, st: &Statement, p: &Option<ast::Proto>) -> R<u8> {
        match p.as_ref() {
            None => Ok(0),
            Some(ast::Proto::Esp(_)) => Ok(netdb::IPPROTO_ESP),
            Some(ast::Proto::Ah(_)) => Ok(netdb::IPPROTO_AH),
            Some(ast::Proto::Name(t)) => match netdb::protocol_number(&t.value) {
                Some(n) => Ok(n),
                None => {
                    let msg = format!("unknown protocol: {}", t.value);
                    self.abort(st, Kind::UnknownProtocol, t.tok, msg)
                }
            },
            Some(&ast::Proto::Number(n, tok)) => match u8::try_from(n) {
                Ok(n) => Ok(n),
                Err(_) => self.abort(st, Kind::ProtocolRange, tok, "protocol outside range"),
            },
        }
    }

    fn port(&mut self, st: &Statement, p: &Option<ast::Port>) -> R<u16> {
        match p.as_ref() {
            None => Ok(0),
            Some(ast::Port::Name(t)) => match netdb::port_number(&t.value) {
                Some(n) => Ok(n),
                None => {
                    let msg = format!("unknown port: {}", t.value);
                    self.abort(st, Kind::UnknownPort, t.tok, msg)
                }
            },
            Some(&ast::Port::Number(n, tok)) => match u16::try_from(n) {
                Ok(n) => Ok(n),
                Err(_) => self.abort(st, Kind::PortRange, tok, "port outside range"),
            },
        }
    }

    /// Looks a host specification up; `report` is the token ipsecctl's
    /// parser is at when it does.
    fn lookup(&mut self, st: &Statement, text: &str, report: Tok) -> R<Vec<HostAddr>> {
        match hosts::resolve(text, self.opts.names) {
            Ok(addrs) => Ok(addrs),
            Err(HostError::InvalidNetmask(mask)) => {
                let msg = format!("invalid netmask '{mask}'");
                self.abort(st, Kind::InvalidNetmask, report, msg)
            }
            Err(HostError::Undeclared) => {
                let msg = format!(
                    "{text} is not declared in [hosts] or [interfaces]; not looked up (offline)"
                );
                let d = Diagnostic::error(Kind::NameUndeclared, st.span(report), msg)
                    .warning()
                    .ordered((st.seq, report));
                self.out.diags.push(d);
                Err(Abort)
            }
            Err(_) => {
                let note = format!("no IP address found for {text}");
                let d = Diagnostic::error(
                    Kind::HostUnresolved,
                    st.span(report),
                    "could not parse host specification",
                )
                .ordered((st.seq, report))
                .note(note);
                self.out.diags.push(d);
                Err(Abort)
            }
        }
    }

    fn host_spec(&mut self, st: &Statement, h: &ast::HostSpec) -> R<Vec<HostAddr>> {
        // `name` alone is taken once the parser sees the next token;
        // `name/bits` as soon as it has read the bits.
        let report = if h.has_mask { h.last } else { h.last + 1 };
        self.lookup(st, &h.text, report)
    }

    fn host(&mut self, st: &Statement, h: &ast::Host) -> R<Vec<Entry>> {
        match h {
            ast::Host::Any(_) => Ok(vec![Entry::Any]),
            ast::Host::Spec(spec) => Ok(self
                .host_spec(st, spec)?
                .into_iter()
                .map(Entry::Addr)
                .collect()),
            ast::Host::Nat { host, nat, close } => {
                let mut addrs = self.host_spec(st, host)?;
                let nat = self.host_spec(st, nat)?.swap_remove(0);
                if addrs[0].is_v4() != nat.is_v4() {
                    let msg = "Flow NAT address family mismatch";
                    return self.abort(st, Kind::NatFamilyMismatch, *close, msg);
                }
                addrs[0].nat = Some(Box::new(nat));
                Ok(addrs.into_iter().map(Entry::Addr).collect())
            }
            ast::Host::List(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(self.host(st, item)?);
                }
                Ok(all)
            }
        }
    }

    /// `from .. to ..`: source list, port, destination list, port — looked up
    /// in the order written.
    fn hosts(&mut self, st: &Statement, h: &ast::Hosts) -> R<(Vec<Entry>, u16, Vec<Entry>, u16)> {
        let src_first = first_tok(&h.src) < first_tok(&h.dst);
        let (src, sport, dst, dport) = if src_first {
            let src = self.host(st, &h.src)?;
            let sport = self.port(st, &h.sport)?;
            let dst = self.host(st, &h.dst)?;
            let dport = self.port(st, &h.dport)?;
            (src, sport, dst, dport)
        } else {
            let dst = self.host(st, &h.dst)?;
            let dport = self.port(st, &h.dport)?;
            let src = self.host(st, &h.src)?;
            let sport = self.port(st, &h.sport)?;
            (src, sport, dst, dport)
        };
        let last_port = if src_first { &h.dport } else { &h.sport };
        let report = match last_port {
            Some(ast::Port::Name(t)) => t.tok,
            Some(ast::Port::Number(_, tok)) => *tok,
            None => h.next,
        };
        for e in &dst {
            if let Entry::Addr(a) = e
                && a.nat.is_some()
            {
                let msg = format!("no flow NAT support for destination network: {}", a.name);
                return self.abort(st, Kind::NatOnDestination, report, msg);
            }
        }
        Ok((src, sport, dst, dport))
    }

    fn peers(&mut self, st: &Statement, clauses: &[ast::PeerClause]) -> R<Peers> {
        let mut peers = Peers::default();
        for clause in clauses {
            match clause {
                ast::PeerClause::Peer(None, _) => {}
                ast::PeerClause::Peer(Some(ast::PeerHost::Any(_)), _) => peers.peer = Some(None),
                ast::PeerClause::Peer(Some(ast::PeerHost::Name(t)), _) => {
                    let a = self.lookup(st, &t.value, t.tok)?.swap_remove(0);
                    peers.peer = Some(Some(a));
                }
                ast::PeerClause::Local(None, _) => {}
                ast::PeerClause::Local(Some(t), _) => {
                    peers.local = Some(self.lookup(st, &t.value, t.tok)?.swap_remove(0));
                }
            }
        }
        Ok(peers)
    }

    /// `auth|enc|comp|group NAME ...`: problems are reported and the rest
    /// of the rule still read, as ipsecctl does.
    fn transforms(&mut self, st: &Statement, list: &[ast::Transform]) -> Transforms {
        let mut xfs = Transforms::default();
        for t in list {
            let name = t.name.value.as_str();
            let (set, found) = match t.kind {
                XfKind::Auth => set_xf(&mut xfs.auth, xf::lookup(xf::AUTH, name)),
                XfKind::Enc => set_xf(&mut xfs.enc, xf::lookup(xf::ENC, name)),
                XfKind::Comp => set_xf(&mut xfs.comp, xf::lookup(xf::COMP, name)),
                XfKind::Group => set_xf(&mut xfs.group, xf::lookup(xf::GROUP, name)),
            };
            if !set {
                let msg = format!("{} already set", t.kind);
                self.err(st, Kind::TransformTwice, t.name.tok, msg);
            } else if !found {
                let msg = format!("{name} not a valid transform");
                self.err(st, Kind::UnknownTransform, t.name.tok, msg);
            }
        }
        xfs
    }

    fn lifetime(&mut self, st: &Statement, l: &Option<ast::Lifetime>) -> R<Option<i32>> {
        let seconds = match l {
            None => return Ok(None),
            Some(ast::Lifetime::Number(n, _)) => *n as i32,
            Some(ast::Lifetime::Text(t)) => match parse_life(&t.value) {
                Ok(s) => s,
                Err(msg) => return self.abort(st, Kind::InvalidLifetime, t.tok, msg),
            },
        };
        // -1 is how ipsecctl marks an unset lifetime
        Ok((seconds != -1).then_some(seconds))
    }

    fn phase(&mut self, st: &Statement, p: &Option<ast::Phase>) -> R<Phase> {
        let Some(p) = p else {
            return Ok(Phase::default());
        };
        let xfs = self.transforms(st, &p.transforms);
        Ok(Phase {
            aggressive: p.aggressive,
            xfs,
            lifetime: self.lifetime(st, &p.lifetime)?,
        })
    }

    /// `spi OUT[:IN]`: the inbound SPI is read first, as ipsecctl does.
    fn spi(&mut self, st: &Statement, spi: &ast::Spi) -> R<(u32, u32)> {
        match spi {
            ast::Spi::Text(t) => {
                let (out, inb) = match t.value.split_once(':') {
                    Some((o, i)) => (o, Some(i)),
                    None => (t.value.as_str(), None),
                };
                let inb = match inb {
                    Some(i) => self.spi_text(st, i, t.tok)?,
                    None => 0,
                };
                Ok((self.spi_text(st, out, t.tok)?, inb))
            }
            &ast::Spi::Number(n, tok) => match u32::try_from(n) {
                Err(_) => self.abort(st, Kind::InvalidSpi, tok, format!("{n} not a valid spi")),
                Ok(1..=255) => {
                    let msg = format!("{n} within reserved spi range");
                    self.abort(st, Kind::ReservedSpi, tok, msg)
                }
                Ok(v) => Ok((v, 0)),
            },
        }
    }

    fn spi_text(&mut self, st: &Statement, text: &str, tok: Tok) -> R<u32> {
        let Some(v) = num::strtoul(text) else {
            return self.abort(st, Kind::InvalidSpi, tok, format!("{text} not a valid spi"));
        };
        match u32::try_from(v) {
            Err(_) => self.abort(st, Kind::InvalidSpi, tok, format!("{v} not a valid spi")),
            Ok(1..=255) => {
                let msg = format!("{v} within reserved spi range");
                self.abort(st, Kind::ReservedSpi, tok, msg)
            }
            Ok(v) => Ok(v),
        }
    }

    fn hex_key(&mut self, st: &Statement, text: &[u8], tok: Tok) -> Key {
        let (key, bad) = keys::parse_hex(text);
        for _ in 0..bad {
            let msg = "keys need to be specified in hex digits";
            self.err(st, Kind::KeyNotHex, tok, msg);
        }
        key
    }

    /// `authkey|enckey OUT[:IN]` or `file "OUT[:IN]"`; the inbound key is
    /// read first, as ipsecctl does.
    fn keys(
        &mut self,
        st: &Statement,
        spec: &Option<ast::KeySpec>,
    ) -> R<(Option<Key>, Option<Key>)> {
        match spec {
            None => Ok((None, None)),
            Some(ast::KeySpec::Hex(t)) => {
                let (out, inb) = keys::split_pair(&t.value);
                let inb = inb.map(|i| self.hex_key(st, i.as_bytes(), t.tok));
                Ok((Some(self.hex_key(st, out.as_bytes(), t.tok)), inb))
            }
            Some(ast::KeySpec::File(t)) => {
                let (out, inb) = match t.value.split_once(':') {
                    Some((o, i)) => (o, Some(i)),
                    None => (t.value.as_str(), None),
                };
                let inb = match inb {
                    Some(path) => Some(self.key_file(st, path, t.tok)?),
                    None => None,
                };
                Ok((Some(self.key_file(st, out, t.tok)?), inb))
            }
        }
    }

    fn key_file(&mut self, st: &Statement, path: &str, tok: Tok) -> R<Key> {
        match keys::read_file(path, self.opts.root) {
            Ok(text) => Ok(self.hex_key(st, &text, tok)),
            Err(msg) => self.abort(st, Kind::KeyFile, tok, msg),
        }
    }

    // ---- rules -------------------------------------------------------------

    fn flow(&mut self, st: &Statement, f: &ast::Flow) -> R<()> {
        let satype = f.satype.unwrap_or(SaType::Esp);
        let proto = self.proto(st, &f.proto)?;
        let (src, sport, dst, dport) = self.hosts(st, &f.hosts)?;
        let peers = self.peers(st, &f.peers)?;
        check_ports(self, st, f.end, proto, sport, dport)?;
        let flow_type = f.flow_type.unwrap_or(match satype {
            SaType::Ipcomp | SaType::Ipip => FlowType::Use,
            _ => FlowType::Require,
        });
        let no_peers = matches!(flow_type, FlowType::Deny | FlowType::Bypass);
        let ids = (!no_peers).then(|| {
            (
                f.ids.srcid.as_ref().map(|t| t.value.clone()),
                f.ids.dstid.as_ref().map(|t| t.value.clone()),
            )
        });
        let template = Flow {
            satype,
            direction: f.direction.unwrap_or(Direction::Out),
            proto,
            src: hosts::any()[0].clone(),
            sport,
            dst: hosts::any()[0].clone(),
            dport,
            local: None,
            peer: None,
            ids,
            flow_type,
        };
        let both_ways = f.direction.is_none();
        self.expand(st, f.end, src, dst, &mut |r, s, d| {
            let mut flow = template.clone();
            flow.src = s.clone();
            flow.dst = d.clone();
            if !no_peers {
                let into = flow.direction == Direction::In;
                let (local, peer) = r.flow_peers(st, f.end, into, s, d, &peers)?;
                flow.local = local;
                flow.peer = peer;
            }
            let reverse = both_ways.then(|| Flow {
                direction: Direction::In,
                src: flow.dst.clone(),
                dst: flow.src.clone(),
                sport: flow.dport,
                dport: flow.sport,
                ..flow.clone()
            });
            r.push(st, f.end, RuleKind::Flow(Box::new(flow)));
            if let Some(rev) = reverse {
                r.push(st, f.end, RuleKind::Flow(Box::new(rev)));
            }
            Ok(())
        });
        Ok(())
    }

    /// The peer of a flow: as given, else the remote address when it is a
    /// single host; `peer any` means none.
    fn flow_peers(
        &mut self,
        st: &Statement,
        end: Tok,
        into: bool,
        src: &HostAddr,
        dst: &HostAddr,
        peers: &Peers,
    ) -> R<(Option<HostAddr>, Option<HostAddr>)> {
        let peer = match &peers.peer {
            Some(given) => given.clone(),
            None => {
                let remote = if into { src } else { dst };
                if remote.net {
                    let msg = format!("no peer specified for destination {}", dst.name);
                    return self.abort(st, Kind::NoPeer, end, msg);
                }
                Some(remote.clone())
            }
        };
        Ok((peers.local.clone(), peer))
    }

    fn ike(&mut self, st: &Statement, i: &ast::Ike) -> R<()> {
        let mode = i.mode.unwrap_or(IkeMode::Active);
        let (satype, tmode, proto, src, sport, dst, dport, iface);
        match &i.target {
            ast::IkeTarget::Hosts(h) => {
                satype = i.satype.unwrap_or(SaType::Esp);
                tmode = i.tmode.unwrap_or(Tmode::Tunnel);
                proto = self.proto(st, &i.proto)?;
                (src, sport, dst, dport) = self.hosts(st, h)?;
                iface = None;
            }
            ast::IkeTarget::Interface(t) => {
                iface = Some(self.interface_unit(st, t)?);
                let all = Entry::Addr(hosts::any()[0].clone());
                (satype, tmode, proto) = (SaType::Esp, Tmode::Tunnel, 0);
                (src, sport, dst, dport) = (vec![all.clone()], 0, vec![all], 0);
            }
        }
        let peers = self.peers(st, &i.peers)?;
        let phase1 = self.phase(st, &i.phase1)?;
        let phase2 = self.phase(st, &i.phase2)?;
        check_ports(self, st, i.end, proto, sport, dport)?;
        if let (Some(enc), Some(_)) = (phase2.xfs.enc, phase2.xfs.auth)
            && enc.noauth
        {
            let msg = format!("authentication is implicit for {}", enc.name);
            return self.abort(st, Kind::ImplicitAuth, i.end, msg);
        }
        let auth = match &i.auth {
            Some(ast::IkeAuth::Psk(t)) => {
                IkeAuth::Psk(Secret(t.value.as_str().into(), st.psk_macro.clone()))
            }
            _ => IkeAuth::Rsa,
        };
        let srcid = i.ids.srcid.as_ref().map(|t| Id::new(t.value.clone()));
        let template = Ike {
            mode,
            satype,
            tmode,
            proto,
            src: hosts::any()[0].clone(),
            sport,
            dst: hosts::any()[0].clone(),
            dport,
            local: peers.local.clone(),
            peer: None,
            phase1,
            phase2,
            // isakmpd needs an identity for a dynamic peer: the host name
            srcid: srcid.clone().or_else(|| {
                (mode == IkeMode::Dynamic).then(|| Id {
                    name: self.opts.hostname.as_str().into(),
                    kind: IdKind::Fqdn,
                })
            }),
            dstid: i.ids.dstid.as_ref().map(|t| Id::new(t.value.clone())),
            auth,
            tag: if iface.is_some() {
                None
            } else {
                i.tag.as_ref().map(|t| t.value.as_str().into())
            },
            iface,
        };
        self.expand(st, i.end, src, dst, &mut |r, s, d| {
            let mut ike = template.clone();
            ike.src = s.clone();
            ike.dst = d.clone();
            ike.peer = match &peers.peer {
                Some(given) => given.clone(),
                None => (!d.net).then(|| d.clone()),
            };
            if ike.peer.is_none() {
                r.check_default_peer(st, i.end, &ike, srcid.as_ref());
            }
            r.push(st, i.end, RuleKind::Ike(Box::new(ike)));
            Ok(())
        });
        Ok(())
    }

    fn interface_unit(&mut self, st: &Statement, t: &ast::Text) -> R<u32> {
        let Some(unit) = t.value.strip_prefix("sec").filter(|u| !u.is_empty()) else {
            return self.abort(
                st,
                Kind::InvalidInterface,
                t.tok,
                "invalid sec interface name",
            );
        };
        match unit.parse::<i64>() {
            Ok(n) if (0..=i64::from(u32::MAX)).contains(&n) => Ok(n as u32),
            Ok(n) => {
                let why = if n < 0 { "too small" } else { "too large" };
                let msg = format!("invalid sec interface unit: {why}");
                self.abort(st, Kind::InvalidInterface, t.tok, msg)
            }
            Err(e) => {
                let why = match e.kind() {
                    std::num::IntErrorKind::PosOverflow => "too large",
                    std::num::IntErrorKind::NegOverflow => "too small",
                    _ => "invalid",
                };
                let msg = format!("invalid sec interface unit: {why}");
                self.abort(st, Kind::InvalidInterface, t.tok, msg)
            }
        }
    }

    /// isakmpd has one default peer: every ike rule that uses it must set it
    /// up the same way, or the last one silently wins.
    fn check_default_peer(&mut self, st: &Statement, end: Tok, ike: &Ike, srcid: Option<&Id>) {
        let local = ike.local.as_ref().map(|l| l.name.clone());
        let psk = match &ike.auth {
            IkeAuth::Psk(s) => Some(s.0.clone()),
            IkeAuth::Rsa => None,
        };
        let Some(first) = &self.default_peer else {
            self.default_peer = Some(DefaultPeer {
                local,
                psk,
                aggressive: ike.phase1.aggressive,
                // as written: the host name a dynamic rule falls back to
                // is not part of what has to agree
                srcid: srcid.map(|i| i.name.to_string()),
                dstid: ike.dstid.as_ref().map(|i| i.name.to_string()),
            });
            return;
        };
        let mut found = Vec::new();
        if first.local != local {
            found.push("default peer local mismatch");
        }
        if first.psk.is_some() != psk.is_some() {
            found.push("default peer phase 1 auth mismatch");
        }
        if first.psk.is_some() && psk.is_some() && first.psk != psk {
            found.push("default peer psk mismatch");
        }
        if first.aggressive != ike.phase1.aggressive {
            found.push("default peer phase 1 mode mismatch");
        }
        if first.srcid.as_deref() != srcid.map(|i| &*i.name) {
            found.push("default peer srcid mismatch");
        }
        if first.dstid.as_deref() != ike.dstid.as_ref().map(|i| &*i.name) {
            found.push("default peer dstid mismatch");
        }
        for msg in found {
            self.err(st, Kind::DefaultPeerMismatch, end, msg);
        }
    }

    fn sa(&mut self, st: &Statement, s: &ast::Sa) -> R<()> {
        let satype = s.satype.unwrap_or(SaType::Esp);
        let tmode = s.tmode.unwrap_or(Tmode::Tunnel);
        let (src, _, dst, _) = self.hosts(st, &s.hosts)?;
        let (spi_out, spi_in) = self.spi(st, &s.spi)?;
        let (udpencap, udp_port) = match s.udpencap {
            None => (false, 0),
            Some(None) => (true, 0),
            Some(Some((port, _))) => (true, port as u16),
        };
        let xfs = self.transforms(st, &s.transforms);
        let (auth_out, auth_in) = self.keys(st, &s.authkey)?;
        let (enc_out, enc_in) = self.keys(st, &s.enckey)?;
        let xfs = match validate_sa(
            spi_out,
            satype,
            Some(xfs),
            auth_out.as_ref(),
            enc_out.as_ref(),
        ) {
            Ok(xfs) => xfs,
            Err((kind, msg)) => return self.abort(st, kind, s.end, msg),
        };
        let sa = Sa {
            satype,
            tmode,
            src: hosts::any()[0].clone(),
            dst: hosts::any()[0].clone(),
            spi: spi_out,
            udpencap,
            udp_port,
            xfs: xfs.unwrap_or_default(),
            authkey: auth_out,
            enckey: enc_out,
        };
        let reverse = (spi_in, auth_in, enc_in);
        self.sa_expand(
            st,
            s.end,
            src,
            dst,
            sa,
            reverse,
            s.bundle.as_ref(),
            xfs.is_some(),
        );
        Ok(())
    }

    fn tcpmd5(&mut self, st: &Statement, t: &ast::Tcpmd5) -> R<()> {
        let (src, _, dst, _) = self.hosts(st, &t.hosts)?;
        let (spi_out, spi_in) = self.spi(st, &t.spi)?;
        let (key_out, key_in) = self.keys(st, &t.authkey)?;
        if let Err((kind, msg)) = validate_sa(spi_out, SaType::Tcpmd5, None, key_out.as_ref(), None)
        {
            return self.abort(st, kind, t.end, msg);
        }
        let sa = Sa {
            satype: SaType::Tcpmd5,
            tmode: Tmode::Transport,
            src: hosts::any()[0].clone(),
            dst: hosts::any()[0].clone(),
            spi: spi_out,
            udpencap: false,
            udp_port: 0,
            xfs: Transforms::default(),
            authkey: key_out,
            enckey: None,
        };
        self.sa_expand(st, t.end, src, dst, sa, (spi_in, key_in, None), None, false);
        Ok(())
    }

    /// One SA per source and destination, each followed by its reverse when
    /// an inbound SPI or key was given, and grouped into its bundle.
    #[allow(clippy::too_many_arguments)]
    fn sa_expand(
        &mut self,
        st: &Statement,
        end: Tok,
        src: Vec<Entry>,
        dst: Vec<Entry>,
        template: Sa,
        (spi_in, auth_in, enc_in): (u32, Option<Key>, Option<Key>),
        bundle: Option<&ast::Text>,
        has_xfs: bool,
    ) {
        let wants_reverse = spi_in != 0 || auth_in.is_some() || enc_in.is_some();
        self.expand(st, end, src, dst, &mut |r, s, d| {
            let mut sa = template.clone();
            sa.src = s.clone();
            sa.dst = d.clone();
            r.push_sa(st, end, sa.clone(), bundle);
            if wants_reverse {
                let xfs = has_xfs.then_some(sa.xfs);
                if let Err((kind, msg)) =
                    validate_sa(spi_in, sa.satype, xfs, auth_in.as_ref(), enc_in.as_ref())
                {
                    r.err(st, kind, end, msg);
                    return Err(Abort);
                }
                let rev = Sa {
                    src: sa.dst.clone(),
                    dst: sa.src.clone(),
                    spi: spi_in,
                    authkey: auth_in.clone(),
                    enckey: enc_in.clone(),
                    ..sa
                };
                r.push_sa(st, end, rev, bundle);
            }
            Ok(())
        });
    }

    fn push_sa(&mut self, st: &Statement, end: Tok, sa: Sa, bundle: Option<&ast::Text>) {
        let grouped = bundle.and_then(|name| self.bundle(&sa, &name.value));
        self.push(st, end, RuleKind::Sa(Box::new(sa)));
        if let Some(b) = grouped {
            self.push(st, end, RuleKind::Bundle(Box::new(b)));
        }
    }

    /// Adds an SA to its bundle; from the second SA on, each is grouped
    /// with the one before it.
    fn bundle(&mut self, sa: &Sa, name: &str) -> Option<Bundle> {
        let this = (sa.dst.clone(), sa.satype, sa.spi);
        let group = self
            .bundles
            .iter_mut()
            .find(|g| *g.src == *sa.src.name && *g.dst == *sa.dst.name && g.name == name);
        match group {
            Some(g) => {
                let (dst, satype, spi) = std::mem::replace(&mut g.last, this);
                Some(Bundle {
                    dst,
                    satype,
                    spi,
                    dst2: sa.dst.clone(),
                    satype2: sa.satype,
                    spi2: sa.spi,
                })
            }
            None => {
                self.bundles.push(BundleGroup {
                    src: sa.src.name.to_string(),
                    dst: sa.dst.name.to_string(),
                    name: name.to_string(),
                    last: this,
                });
                None
            }
        }
    }

    /// Multiplies out source and destination lists: one call of `each` per
    /// pair of the same address family.
    fn expand(
        &mut self,
        st: &Statement,
        end: Tok,
        src: Vec<Entry>,
        dst: Vec<Entry>,
        each: &mut dyn FnMut(&mut Self, &HostAddr, &HostAddr) -> R<()>,
    ) {
        if families_conflict(&src, &dst) {
            let msg = "source/destination address families do not match";
            self.err(st, Kind::FamilyMismatch, end, msg);
            return;
        }
        let (src, dst) = (expand_any(src), expand_any(dst));
        let combinations = src.len().saturating_mul(dst.len());
        if let Some(msg) = expansion_limit(combinations, self.out.rules.len()) {
            self.err(st, Kind::TooManyRules, end, msg);
            return;
        }
        let mut added = 0;
        for s in &src {
            for d in dst.iter().filter(|d| d.is_v4() == s.is_v4()) {
                if each(self, s, d).is_err() {
                    return;
                }
                added += 1;
            }
        }
        if added == 0 {
            let msg = "rule expands to no valid combination";
            self.err(st, Kind::NoValidCombination, end, msg);
        }
    }
}

/// Why a rule of `combinations` pairs, after `before` rules, is refused:
/// the message names the limit that was passed, the rule's own or the
/// configuration's in all.
fn expansion_limit(combinations: usize, before: usize) -> Option<String> {
    if combinations > MAX_EXPANSION {
        return Some(format!(
            "rule expands to {combinations} source/destination pairs; \
             at most {MAX_EXPANSION} per rule and {MAX_RULES} in all are allowed"
        ));
    }
    (before + combinations > MAX_RULES).then(|| {
        format!(
            "rule expands to {combinations} source/destination pairs, \
             which with the {before} rules before it passes the limit of \
             {MAX_RULES} in all (this rule is within the {MAX_EXPANSION} per rule)"
        )
    })
}

/// Sets a transform once; returns (was unset, name was valid).
fn set_xf<A>(
    slot: &mut Option<&'static xf::Xf<A>>,
    found: Option<&'static xf::Xf<A>>,
) -> (bool, bool) {
    if slot.is_some() {
        return (false, true);
    }
    *slot = found;
    (true, found.is_some())
}

fn check_ports(
    r: &mut Resolver,
    st: &Statement,
    end: Tok,
    proto: u8,
    sport: u16,
    dport: u16,
) -> R<()> {
    if (sport != 0 || dport != 0) && proto != netdb::IPPROTO_TCP && proto != netdb::IPPROTO_UDP {
        let msg = "no protocol supplied with source/destination ports";
        return r.abort(st, Kind::PortWithoutProtocol, end, msg);
    }
    Ok(())
}

fn first_tok(h: &ast::Host) -> Tok {
    match h {
        ast::Host::Any(t) => *t,
        ast::Host::Spec(s) | ast::Host::Nat { host: s, .. } => s.first,
        ast::Host::List(items) => items.first().map_or(0, first_tok),
    }
}

/// ipsecctl's address family check: sources and destinations must share a
/// family, unless `any` shows up before both families were seen.
fn families_conflict(src: &[Entry], dst: &[Entry]) -> bool {
    fn families(list: &[Entry]) -> Option<(bool, bool)> {
        let (mut v4, mut v6) = (false, false);
        for e in list {
            match e {
                Entry::Any => return None,
                Entry::Addr(a) if a.is_v4() => v4 = true,
                Entry::Addr(_) => v6 = true,
            }
            if v4 && v6 {
                break;
            }
        }
        Some((v4, v6))
    }
    match (families(src), families(dst)) {
        (Some((s4, s6)), Some((d4, d6))) => s4 != d4 && s6 != d6,
        _ => false,
    }
}

fn expand_any(list: Vec<Entry>) -> Vec<HostAddr> {
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        match e {
            Entry::Any => out.extend(hosts::any()),
            Entry::Addr(a) => out.push(a),
        }
    }
    out
}

/// `lifetime "10m"`: seconds, or minutes or hours with a unit, as sscanf
/// `%d%c` reads it (a 32-bit count that wraps, anything after the unit
/// ignored).
fn parse_life(text: &str) -> Result<i32, String> {
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let sign_len = usize::from(t.starts_with(['-', '+']));
    let digits = t[sign_len..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid time specification: {text}"));
    }
    let number = &t[..sign_len + digits];
    let value = number.parse::<i64>().unwrap_or(if number.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    }) as i32;
    match t[sign_len + digits..].chars().next() {
        None => Ok(value),
        Some('m' | 'M') => Ok(value.wrapping_mul(60)),
        Some('h' | 'H') => Ok(value.wrapping_mul(3600)),
        Some(_) => Err("invalid time unit".into()),
    }
}

/// ipsecctl's checks of a manual SA, filling in default transforms.
/// `xfs` is `None` for tcpmd5, which has none.
fn validate_sa(
    spi: u32,
    satype: SaType,
    xfs: Option<Transforms>,
    authkey: Option<&Key>,
    enckey: Option<&Key>,
) -> Result<Option<Transforms>, (Kind, String)> {
    let fail = |msg: &str| Err((Kind::SaInvalid, msg.to_string()));
    if spi == 0 {
        return fail("no SPI specified");
    }
    let Some(mut x) = xfs else {
        return Ok(None);
    };
    match satype {
        SaType::Ah => {
            x.auth = x.auth.or(Some(xf::entry(xf::AUTH, xf::Auth::HmacSha2_256)));
            if x.enc.is_some() {
                return fail("ah does not provide encryption");
            }
            if x.comp.is_some() {
                return fail("ah does not provide compression");
            }
        }
        SaType::Esp => {
            if x.comp.is_some() {
                return fail("esp does not provide compression");
            }
            let enc = *x.enc.get_or_insert(xf::entry(xf::ENC, xf::Enc::Aes));
            if enc.nostatic {
                return fail(&format!("{} is disallowed with static keys", enc.name));
            }
            if enc.noauth && x.auth.is_some() {
                return fail(&format!("authentication is implicit for {}", enc.name));
            } else if !enc.noauth && x.auth.is_none() {
                x.auth = Some(xf::entry(xf::AUTH, xf::Auth::HmacSha2_256));
            }
        }
        SaType::Ipcomp => {
            if x.auth.is_some() || x.enc.is_some() {
                return fail("no encryption or authentication with ipcomp");
            }
            x.comp = x.comp.or(Some(xf::entry(xf::COMP, xf::Comp::Deflate)));
        }
        SaType::Ipip => {
            if x.auth.is_some() || x.enc.is_some() || x.comp.is_some() {
                return fail("no encryption, authentication or compression with ipip");
            }
        }
        SaType::Tcpmd5 => {}
    }
    if let Some(auth) = x.auth {
        match authkey {
            None if auth.alg != xf::Auth::None => return fail("no authentication key specified"),
            Some(k) if k.0.len() != auth.keymin => {
                return fail(&format!(
                    "wrong authentication key length, needs to be {} bits",
                    auth.keymin * 8
                ));
            }
            _ => {}
        }
    }
    if let Some(enc) = x.enc {
        match enckey {
            None if enc.alg != xf::Enc::Null => return fail("no encryption key specified"),
            Some(k) if k.0.len() < enc.keymin => {
                return fail(&format!(
                    "encryption key too short ({} bits), minimum {} bits",
                    k.0.len() * 8,
                    enc.keymin * 8
                ));
            }
            Some(k) if k.0.len() > enc.keymax => {
                return fail(&format!(
                    "encryption key too long ({} bits), maximum {} bits",
                    k.0.len() * 8,
                    enc.keymax * 8
                ));
            }
            _ => {}
        }
    }
    Ok(Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_life("10m"), Ok(600));
        assert_eq!(parse_life("2H"), Ok(7200));
        assert_eq!(parse_life(" 30"), Ok(30));
        assert_eq!(parse_life("10mx"), Ok(600));
        assert_eq!(parse_life("10 m"), Err("invalid time unit".into()));
        assert_eq!(
            parse_life("soon"),
            Err("invalid time specification: soon".into())
        );
    }

    #[test]
    fn sa_checks_and_defaults() {
        let k = |n: usize| Key(vec![0; n]);
        let x = validate_sa(
            0x1000,
            SaType::Esp,
            Some(Transforms::default()),
            Some(&k(32)),
            Some(&k(16)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(x.enc.unwrap().name, "aes");
        assert_eq!(x.auth.unwrap().name, "hmac-sha2-256");
        let e = validate_sa(
            0x1000,
            SaType::Esp,
            Some(Transforms::default()),
            Some(&k(20)),
            Some(&k(16)),
        );
        assert_eq!(
            e.unwrap_err().1,
            "wrong authentication key length, needs to be 256 bits"
        );
        let e = validate_sa(
            0x1000,
            SaType::Esp,
            Some(Transforms::default()),
            Some(&k(32)),
            Some(&k(8)),
        );
        assert_eq!(
            e.unwrap_err().1,
            "encryption key too short (64 bits), minimum 128 bits"
        );
        assert_eq!(
            validate_sa(0, SaType::Ipip, Some(Transforms::default()), None, None)
                .unwrap_err()
                .1,
            "no SPI specified"
        );
        assert!(validate_sa(0x1000, SaType::Tcpmd5, None, None, None).is_ok());
    }
}

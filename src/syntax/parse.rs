//! The parser: one statement's tokens → its syntax tree, by the pest
//! grammar in `grammar/ipsec.pest`.
//!
//! The tokens are written out in the grammar's token form (see the grammar's
//! head comment) and pest parses that text.  What the grammar sees of a
//! token is only its kind, so the parse of one sequence of token kinds
//! (a statement's shape) serves every statement of that shape: real
//! configurations repeat a few shapes thousands of times, and each is
//! parsed once.  The tree built from the parse refers to tokens by index,
//! so every node keeps its span.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use pest::Parser as _;
use pest::iterators::Pair;
use pest_derive::Parser;

use crate::syntax::ast::*;
use crate::syntax::lex::{TokKind, Token};
use crate::syntax::words::{Direction, FlowType, IkeMode, SaType, Tmode, XfKind};

#[derive(Parser)]
#[grammar = "../grammar/ipsec.pest"]
struct IpsecGrammar;

/// A grammar rule matched over tokens `first..=last`.
#[derive(Debug)]
struct Node {
    rule: Rule,
    first: Tok,
    last: Tok,
    children: Vec<Node>,
}

/// The statement's tokens as the grammar reads them, and where each starts.
struct Rendered {
    text: String,
    starts: Vec<usize>,
}

impl Rendered {
    fn new(tokens: &[Token]) -> Self {
        let mut text = String::new();
        let mut starts = Vec::with_capacity(tokens.len());
        for t in tokens {
            starts.push(text.len());
            match &t.kind {
                TokKind::Keyword(k) => text.push_str(k.as_str()),
                // what a string or number holds does not matter to the grammar
                TokKind::Str(_) => text.push_str("\"\""),
                TokKind::Number(_) => text.push('0'),
                TokKind::Char(c @ (b'{' | b'}' | b'(' | b')' | b',' | b'/' | b'=')) => {
                    text.push(*c as char)
                }
                TokKind::Char(_) | TokKind::Error => text.push('!'),
                TokKind::Newline => text.push('\n'),
                TokKind::Eof => {}
            }
            if !matches!(t.kind, TokKind::Newline | TokKind::Eof) {
                text.push(' ');
            }
        }
        Rendered { text, starts }
    }

    /// The token a position in the text belongs to.
    fn tok_at(&self, pos: usize) -> Tok {
        match self.starts.binary_search(&pos) {
            Ok(i) => i as Tok,
            Err(0) => 0,
            Err(i) => (i - 1) as Tok,
        }
    }

    fn node(&self, pair: Pair<'_, Rule>) -> Node {
        let span = pair.as_span();
        Node {
            rule: pair.as_rule(),
            first: self.tok_at(span.start()),
            last: self.tok_at(span.end().saturating_sub(1)),
            children: pair.into_inner().map(|p| self.node(p)).collect(),
        }
    }
}

/// A statement's shape: its tokens' kinds, into `out`.
fn shape(tokens: &[Token], out: &mut Vec<u8>) {
    out.clear();
    out.extend(tokens.iter().map(|t| match &t.kind {
        TokKind::Keyword(k) => 0x80 | *k as u8,
        TokKind::Str(_) => b's',
        TokKind::Number(_) => b'n',
        TokKind::Char(c @ (b'{' | b'}' | b'(' | b')' | b',' | b'/' | b'=')) => *c,
        TokKind::Char(_) | TokKind::Error => b'!',
        TokKind::Newline => b'\n',
        TokKind::Eof => b'$',
    }));
}

/// Statements longer than this are parsed afresh each time.
const CACHED_TOKENS: usize = 4096;

/// Parses statements, remembering the parse of each shape.
#[derive(Default)]
pub struct StatementParser {
    shapes: HashMap<Vec<u8>, Result<Arc<Node>, Tok>>,
    /// The shape of the statement being parsed (reused).
    key: Vec<u8>,
}

impl StatementParser {
    /// Parses one statement.  On a syntax error, returns the index of the
    /// token where the grammar could not go on.
    pub fn parse(&mut self, tokens: &[Token]) -> Result<Stmt, Tok> {
        if tokens.len() > CACHED_TOKENS {
            // a shape this long is seldom met twice: keeping its tree
            // would only hold the memory
            let tree = parse_shape(tokens)?;
            return Ok(build(&Vals { tokens }, &tree));
        }
        shape(tokens, &mut self.key);
        let tree = match self.shapes.get(self.key.as_slice()) {
            Some(tree) => tree.clone(),
            None => {
                let tree = parse_shape(tokens);
                self.shapes.insert(self.key.clone(), tree.clone());
                tree
            }
        }?;
        Ok(build(&Vals { tokens }, &tree))
    }
}

fn parse_shape(tokens: &[Token]) -> Result<Arc<Node>, Tok> {
    let r = Rendered::new(tokens);
    match IpsecGrammar::parse(Rule::statement, &r.text) {
        Ok(mut pairs) => {
            let statement = pairs.next().expect("a parse has the statement pair");
            Ok(Arc::new(r.node(statement)))
        }
        Err(e) => {
            let pos = match e.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((p, _)) => p,
            };
            Err(r.tok_at(pos))
        }
    }
}

/// Parses one statement on its own.
pub fn parse_statement(tokens: &[Token]) -> Result<Stmt, Tok> {
    StatementParser::default().parse(tokens)
}

/// The values of a statement's tokens, for building its tree.
struct Vals<'t> {
    tokens: &'t [Token],
}

impl Vals<'_> {
    fn tok(&self, n: &Node) -> Tok {
        n.first
    }

    fn last_tok(&self, n: &Node) -> Tok {
        n.last
    }

    /// The value of the string token a node starts at.
    fn text(&self, n: &Node) -> Text {
        let tok = n.first;
        let value = match &self.tokens[tok as usize].kind {
            TokKind::Str(s) => s.clone(),
            other => format!("{other:?}"),
        };
        Text { value, tok }
    }

    fn number(&self, n: &Node) -> (i64, Tok) {
        let tok = n.first;
        match self.tokens[tok as usize].kind {
            TokKind::Number(n) => (n, tok),
            _ => (0, tok),
        }
    }
}

fn build(r: &Vals, statement: &Node) -> Stmt {
    let end = (r.tokens.len() - 1) as Tok;
    let Some(body) = statement
        .children
        .iter()
        .find(|p| !matches!(p.rule, Rule::EOI | Rule::nl))
    else {
        return Stmt::Empty;
    };
    match body.rule {
        Rule::include => Stmt::Include(r.text(&body.children[1])),
        Rule::varset => varset(r, body, end),
        Rule::flow_rule => Stmt::Flow(flow(r, body, end)),
        Rule::ike_rule => Stmt::Ike(ike(r, body, end)),
        Rule::sa_rule => Stmt::Sa(sa(r, body, end)),
        Rule::tcpmd5_rule => Stmt::Tcpmd5(tcpmd5(r, body, end)),
        _ => Stmt::Empty,
    }
}

/// A node's children (a slice: most statements ask for them several times).
fn inner(p: &Node) -> &[Node] {
    &p.children
}

fn varset(r: &Vals, p: &Node, end: Tok) -> Stmt {
    let parts: Vec<&Node> = p
        .children
        .iter()
        .filter(|x| x.rule == Rule::string)
        .collect();
    let name = r.text(parts[0]);
    let value = parts[1..]
        .iter()
        .map(|s| r.text(s).value)
        .collect::<Vec<_>>()
        .join(" ");
    Stmt::Macro { name, value, end }
}

fn flow(r: &Vals, p: &Node, end: Tok) -> Flow {
    let mut f = Flow {
        satype: None,
        direction: None,
        proto: None,
        hosts: placeholder_hosts(),
        peers: Vec::new(),
        ids: Ids::default(),
        flow_type: None,
        end,
    };
    for part in p.children.iter() {
        match part.rule {
            Rule::satype => f.satype = Some(satype(part)),
            Rule::direction => f.direction = Some(direction(part)),
            Rule::proto => f.proto = Some(proto(r, part)),
            Rule::hosts => f.hosts = hosts(r, part),
            Rule::peers => f.peers = peers(r, part),
            Rule::ids => f.ids = ids(r, part),
            Rule::flow_type => f.flow_type = Some(flow_type(part)),
            _ => {}
        }
    }
    f
}

fn ike(r: &Vals, p: &Node, end: Tok) -> Ike {
    let mut i = Ike {
        mode: None,
        satype: None,
        tmode: None,
        proto: None,
        target: IkeTarget::Hosts(Box::new(placeholder_hosts())),
        peers: Vec::new(),
        phase1: None,
        phase2: None,
        ids: Ids::default(),
        auth: None,
        tag: None,
        end,
    };
    for part in p.children.iter() {
        match part.rule {
            Rule::ike_mode => i.mode = Some(ike_mode(part)),
            Rule::ike_body | Rule::ike_iface_body => ike_body(r, part, &mut i),
            _ => {}
        }
    }
    i
}

fn ike_body(r: &Vals, p: &Node, i: &mut Ike) {
    for part in p.children.iter() {
        match part.rule {
            Rule::satype => i.satype = Some(satype(part)),
            Rule::tmode => i.tmode = Some(tmode(part)),
            Rule::proto => i.proto = Some(proto(r, part)),
            Rule::hosts => i.target = IkeTarget::Hosts(Box::new(hosts(r, part))),
            Rule::iface => i.target = IkeTarget::Interface(r.text(&inner(part)[1])),
            Rule::peers => i.peers = peers(r, part),
            Rule::phase1 => i.phase1 = Some(phase(r, part)),
            Rule::phase2 => i.phase2 = Some(phase(r, part)),
            Rule::ids => i.ids = ids(r, part),
            Rule::ike_auth => {
                let parts = inner(part);
                i.auth = Some(match parts.get(1) {
                    Some(psk) => IkeAuth::Psk(r.text(psk)),
                    None => IkeAuth::Rsa,
                });
            }
            Rule::tag => i.tag = Some(r.text(&inner(part)[1])),
            _ => {}
        }
    }
}

fn sa(r: &Vals, p: &Node, end: Tok) -> Sa {
    let mut s = Sa {
        satype: None,
        tmode: None,
        hosts: placeholder_hosts(),
        spi: Spi::Number(0, 0),
        udpencap: None,
        transforms: Vec::new(),
        authkey: None,
        enckey: None,
        bundle: None,
        end,
    };
    for part in p.children.iter() {
        match part.rule {
            Rule::satype => s.satype = Some(satype(part)),
            Rule::tmode => s.tmode = Some(tmode(part)),
            Rule::hosts => s.hosts = hosts(r, part),
            Rule::spi => s.spi = spi(r, part),
            Rule::udpencap => {
                let port = part.children.iter().find(|p| p.rule == Rule::number);
                s.udpencap = Some(port.map(|n| r.number(n)));
            }
            Rule::transforms => s.transforms = transforms(r, part),
            Rule::authkey => s.authkey = Some(keyspec(r, part)),
            Rule::enckey => s.enckey = Some(keyspec(r, part)),
            Rule::bundle => s.bundle = Some(r.text(&inner(part)[1])),
            _ => {}
        }
    }
    s
}

fn tcpmd5(r: &Vals, p: &Node, end: Tok) -> Tcpmd5 {
    let mut t = Tcpmd5 {
        hosts: placeholder_hosts(),
        spi: Spi::Number(0, 0),
        authkey: None,
        end,
    };
    for part in p.children.iter() {
        match part.rule {
            Rule::hosts => t.hosts = hosts(r, part),
            Rule::spi => t.spi = spi(r, part),
            Rule::authkey => t.authkey = Some(keyspec(r, part)),
            _ => {}
        }
    }
    t
}

/// Every rule has a hosts clause; this stands in until it is read.
fn placeholder_hosts() -> Hosts {
    Hosts {
        src: Host::Any(0),
        sport: None,
        dst: Host::Any(0),
        dport: None,
        next: 0,
    }
}

fn first_keyword(p: &Node) -> Rule {
    p.children.first().map_or(Rule::EOI, |k| k.rule)
}

fn satype(p: &Node) -> SaType {
    match first_keyword(p) {
        Rule::kw_ah => SaType::Ah,
        Rule::kw_ipcomp => SaType::Ipcomp,
        Rule::kw_ipip => SaType::Ipip,
        _ => SaType::Esp,
    }
}

fn tmode(p: &Node) -> Tmode {
    match first_keyword(p) {
        Rule::kw_transport => Tmode::Transport,
        _ => Tmode::Tunnel,
    }
}

fn direction(p: &Node) -> Direction {
    match first_keyword(p) {
        Rule::kw_in => Direction::In,
        _ => Direction::Out,
    }
}

fn ike_mode(p: &Node) -> IkeMode {
    match first_keyword(p) {
        Rule::kw_passive => IkeMode::Passive,
        Rule::kw_dynamic => IkeMode::Dynamic,
        _ => IkeMode::Active,
    }
}

fn flow_type(p: &Node) -> FlowType {
    match inner(p).get(1).map(|k| k.rule) {
        Some(Rule::kw_use) => FlowType::Use,
        Some(Rule::kw_acquire) => FlowType::Acquire,
        Some(Rule::kw_deny) => FlowType::Deny,
        Some(Rule::kw_bypass) => FlowType::Bypass,
        Some(Rule::kw_dontacq) => FlowType::Dontacq,
        _ => FlowType::Require,
    }
}

fn proto(r: &Vals, p: &Node) -> Proto {
    let value = &inner(p)[1];
    match value.rule {
        Rule::string => Proto::Name(r.text(value)),
        Rule::number => {
            let (n, tok) = r.number(value);
            Proto::Number(n, tok)
        }
        Rule::kw_ah => Proto::Ah(r.tok(value)),
        _ => Proto::Esp(r.tok(value)),
    }
}

fn hosts(r: &Vals, p: &Node) -> Hosts {
    let next = r.last_tok(p) + 1;
    let clause = p.children.first().expect("hosts has a direction");
    let from_first = clause.rule == Rule::from_to;
    let mut hosts = Vec::new();
    let mut ports: [Option<Port>; 2] = [None, None];
    for part in clause.children.iter() {
        match part.rule {
            Rule::host => hosts.push(host(r, part)),
            Rule::port => ports[hosts.len() - 1] = Some(port(r, part)),
            _ => {}
        }
    }
    let [p0, p1] = ports;
    let mut it = hosts.into_iter();
    let (h0, h1) = (it.next().expect("two hosts"), it.next().expect("two hosts"));
    if from_first {
        Hosts {
            src: h0,
            sport: p0,
            dst: h1,
            dport: p1,
            next,
        }
    } else {
        Hosts {
            src: h1,
            sport: p1,
            dst: h0,
            dport: p0,
            next,
        }
    }
}

fn host(r: &Vals, p: &Node) -> Host {
    let h = p.children.first().expect("host has one alternative");
    match h.rule {
        Rule::kw_any => Host::Any(r.tok(h)),
        Rule::host_list => Host::List(
            h.children
                .iter()
                .filter(|x| x.rule == Rule::host)
                .map(|x| host(r, x))
                .collect(),
        ),
        Rule::host_nat => {
            let close = r.last_tok(h);
            let mut specs = h
                .children
                .iter()
                .filter(|x| x.rule == Rule::host_spec)
                .map(|s| host_spec(r, s));
            let host = specs.next().expect("nat has a host");
            let nat = specs.next().expect("nat has a translation");
            Host::Nat { host, nat, close }
        }
        _ => Host::Spec(host_spec(r, h)),
    }
}

fn host_spec(r: &Vals, p: &Node) -> HostSpec {
    let last = r.last_tok(p);
    let parts = inner(p);
    let name = r.text(&parts[0]);
    match parts.iter().find(|x| x.rule == Rule::number) {
        Some(bits) => HostSpec {
            text: {
                // `name/bits`, without the formatting machinery: every
                // network of every rule is written so
                let mut text = name.value;
                text.push('/');
                text.push_str(itoa::Buffer::new().format(r.number(bits).0));
                text
            },
            first: name.tok,
            last,
            has_mask: true,
        },
        None => HostSpec {
            text: name.value,
            first: name.tok,
            last,
            has_mask: false,
        },
    }
}

fn port(r: &Vals, p: &Node) -> Port {
    let value = &inner(p)[1];
    match value.rule {
        Rule::number => {
            let (n, tok) = r.number(value);
            Port::Number(n, tok)
        }
        _ => Port::Name(r.text(value)),
    }
}

fn peers(r: &Vals, p: &Node) -> Vec<PeerClause> {
    let order = p.children.first().expect("peers has an order");
    order
        .children
        .iter()
        .map(|clause| {
            let tok = r.tok(clause);
            let rule = clause.rule;
            let value = clause.children.get(1);
            match rule {
                Rule::peer => PeerClause::Peer(
                    value.map(|v| match v.rule {
                        Rule::kw_any => PeerHost::Any(r.tok(v)),
                        _ => PeerHost::Name(r.text(v)),
                    }),
                    tok,
                ),
                _ => PeerClause::Local(value.map(|v| r.text(v)), tok),
            }
        })
        .collect()
}

fn ids(r: &Vals, p: &Node) -> Ids {
    let mut ids = Ids::default();
    for part in p.children.iter() {
        let rule = part.rule;
        let value = r.text(&inner(part)[1]);
        if rule == Rule::srcid {
            ids.srcid = Some(value);
        } else {
            ids.dstid = Some(value);
        }
    }
    ids
}

fn phase(r: &Vals, p: &Node) -> Phase {
    let mut phase = Phase {
        aggressive: false,
        transforms: Vec::new(),
        lifetime: None,
    };
    for part in p.children.iter() {
        match part.rule {
            Rule::kw_aggressive => phase.aggressive = true,
            Rule::transforms => phase.transforms = transforms(r, part),
            Rule::lifetime => {
                let value = &inner(part)[1];
                phase.lifetime = Some(match value.rule {
                    Rule::number => {
                        let (n, tok) = r.number(value);
                        Lifetime::Number(n, tok)
                    }
                    _ => Lifetime::Text(r.text(value)),
                });
            }
            _ => {}
        }
    }
    phase
}

fn transforms(r: &Vals, p: &Node) -> Vec<Transform> {
    p.children
        .iter()
        .map(|t| {
            let parts = inner(t);
            let kind = match parts[0].rule {
                Rule::kw_auth => XfKind::Auth,
                Rule::kw_enc => XfKind::Enc,
                Rule::kw_comp => XfKind::Comp,
                _ => XfKind::Group,
            };
            Transform {
                kind,
                name: r.text(&parts[1]),
            }
        })
        .collect()
}

fn spi(r: &Vals, p: &Node) -> Spi {
    let value = &inner(p)[1];
    match value.rule {
        Rule::number => {
            let (n, tok) = r.number(value);
            Spi::Number(n, tok)
        }
        _ => Spi::Text(r.text(value)),
    }
}

fn keyspec(r: &Vals, p: &Node) -> KeySpec {
    let spec = &inner(p)[1];
    let parts = inner(spec);
    match parts.len() {
        2 => KeySpec::File(r.text(&parts[1])),
        _ => KeySpec::Hex(r.text(&parts[0])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::keyword::Keyword;

    fn toks(kinds: Vec<TokKind>) -> Vec<Token> {
        kinds
            .into_iter()
            .map(|kind| Token {
                kind,
                span: Default::default(),
                macro_use: None,
            })
            .collect()
    }

    fn kw(k: Keyword) -> TokKind {
        TokKind::Keyword(k)
    }

    fn s(v: &str) -> TokKind {
        TokKind::Str(v.into())
    }

    #[test]
    fn parses_a_flow_with_a_network_list() {
        use Keyword::*;
        let t = toks(vec![
            kw(Flow),
            kw(Esp),
            kw(From),
            TokKind::Char(b'{'),
            s("10.0.2"),
            TokKind::Char(b'/'),
            TokKind::Number(24),
            s("1.1.1.1"),
            TokKind::Char(b'}'),
            kw(To),
            kw(Any),
            kw(Peer),
            s("2.2.2.2"),
            TokKind::Newline,
        ]);
        let Stmt::Flow(f) = parse_statement(&t).unwrap() else {
            panic!("not a flow")
        };
        assert_eq!(f.satype, Some(SaType::Esp));
        let Host::List(list) = &f.hosts.src else {
            panic!("not a list")
        };
        assert_eq!(list.len(), 2);
        assert!(matches!(&list[0], Host::Spec(h) if h.text == "10.0.2/24" && h.last == 6));
        assert_eq!(f.hosts.dst, Host::Any(10));
        assert_eq!(f.hosts.next, 11);
        assert_eq!(
            f.peers,
            vec![PeerClause::Peer(
                Some(PeerHost::Name(Text {
                    value: "2.2.2.2".into(),
                    tok: 12
                })),
                11
            )]
        );
        assert_eq!(f.end, 13);
    }

    #[test]
    fn reports_the_token_where_parsing_stops() {
        use Keyword::*;
        let t = toks(vec![
            kw(Ike),
            kw(Esp),
            kw(From),
            s("a"),
            kw(To),
            s("b"),
            kw(Spi),
            TokKind::Newline,
        ]);
        assert_eq!(parse_statement(&t), Err(6));
        let t = toks(vec![kw(Ike), kw(Esp), kw(From), TokKind::Newline]);
        assert_eq!(parse_statement(&t), Err(3));
        let t = toks(vec![
            kw(Flow),
            kw(From),
            s("a"),
            kw(To),
            s("b"),
            TokKind::Eof,
        ]);
        assert_eq!(parse_statement(&t), Err(5));
    }

    #[test]
    fn keywords_as_values_and_strings_as_keywords() {
        use Keyword::*;
        // a quoted "from" is a string, not the keyword
        let t = toks(vec![
            s("from"),
            TokKind::Char(b'='),
            s("x"),
            s("y"),
            TokKind::Newline,
        ]);
        assert_eq!(
            parse_statement(&t),
            Ok(Stmt::Macro {
                name: Text {
                    value: "from".into(),
                    tok: 0
                },
                value: "x y".into(),
                end: 4
            })
        );
        let t = toks(vec![
            kw(Ike),
            kw(From),
            s("a"),
            kw(To),
            s("b"),
            kw(Psk),
            kw(Any),
            TokKind::Newline,
        ]);
        assert_eq!(parse_statement(&t), Err(6));
    }
}

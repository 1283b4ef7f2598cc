//! The isakmpd FIFO commands for an ike rule, line for line as ipsecctl
//! writes them (ui.c reads them): `C set [section]:tag=value force` for each
//! setting, `C add [Phase 2]:Connections=NAME` to start the connection, and
//! for removal `t NAME`, `C rmv` and `C rms`.
//!
//! Transforms isakmpd cannot use stop the output part-way, where ipsecctl
//! stops it, with an error.

use std::fmt::Write as _;

use crate::emit::tags::{self, IkeTags};
use crate::rules::inet;
use crate::rules::model::{HostAddr, IdKind, Ike, IkeAuth, IkeMode, SaType, Tmode};
use crate::rules::xf::{Auth, Enc, Group, Transforms, Xf};

/// Shown instead of a pre-shared key unless secrets were asked for.
pub use crate::syntax::secret_tokens::REDACTED;

/// A transform isakmpd has no name for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitError(pub String);

/// isakmpd's timers for `ike dynamic` peers, in seconds.
const DYNAMIC_CHECK_INTERVAL: u32 = 30;
const DYNAMIC_DPD_CHECK_INTERVAL: u32 = 5;

struct Out<'a>(&'a mut String);

/// A value of a `C set` command.  Text is copied as it is: a large
/// gateway's listing is millions of these, and the formatting machinery
/// costs several times the copy.
trait Value {
    fn push_to(&self, out: &mut String);
}

impl Value for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Value for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Value for std::sync::Arc<str> {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: Value + ?Sized> Value for &T {
    fn push_to(&self, out: &mut String) {
        (**self).push_to(out);
    }
}

macro_rules! number_values {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn push_to(&self, out: &mut String) {
                out.push_str(itoa::Buffer::new().format(*self));
            }
        }
    )*};
}
number_values!(i32, i64, u32, u64, u8, u16, usize);

impl Out<'_> {
    fn set(&mut self, section: &str, tag: &str, value: impl Value) {
        let out = &mut *self.0;
        out.push_str("C set [");
        out.push_str(section);
        out.push_str("]:");
        out.push_str(tag);
        out.push('=');
        value.push_to(out);
        out.push_str(" force\n");
    }
}

/// Writes the commands that configure and start the connection.
pub fn add_commands(ike: &Ike, out: &mut String, show_secrets: bool) -> Result<(), EmitError> {
    let tags = tags::ike_tags(ike);
    let mut o = Out(out);
    if ike.mode == IkeMode::Dynamic {
        o.set("General", "Check-interval", DYNAMIC_CHECK_INTERVAL);
        o.set("General", "DPD-check-interval", DYNAMIC_DPD_CHECK_INTERVAL);
    }
    peer_section(&mut o, ike, &tags, show_secrets);
    phase1_section(&mut o, ike, &tags.phase1)?;
    id_sections(&mut o, ike, &tags.phase1);
    connection_section(&mut o, ike, &tags);
    phase2_section(&mut o, ike, &tags.phase2)?;
    phase2_ids(&mut o, ike, &tags);
    let list = connection_list(ike.mode);
    for part in ["C add [Phase 2]:", list, "=", &tags.phase2, "\n"] {
        o.0.push_str(part);
    }
    Ok(())
}

/// Writes what `ipsecctl -d` sends: stop the phase 2 connection and remove
/// its two sections.
pub fn delete_commands(ike: &Ike, out: &mut String) {
    let p2 = tags::ike_tags(ike).phase2;
    let list = connection_list(ike.mode);
    let _ = writeln!(out, "t {p2}");
    let _ = writeln!(out, "C rmv [Phase 2]:{list}={p2}");
    let _ = writeln!(out, "C rms [{p2}]");
    let _ = writeln!(out, "C rms [phase2-{p2}]");
}

fn connection_list(mode: IkeMode) -> &'static str {
    match mode {
        IkeMode::Passive => "Passive-Connections",
        IkeMode::Active | IkeMode::Dynamic => "Connections",
    }
}

fn peer_section(o: &mut Out, ike: &Ike, tags: &IkeTags, show_secrets: bool) {
    let p1 = tags.phase1.as_str();
    match &ike.peer {
        Some(peer) => o.set("Phase 1", &peer.name, p1),
        None => o.set("Phase 1", "Default", p1),
    }
    o.set(p1, "Phase", 1);
    if let Some(peer) = &ike.peer {
        o.set(p1, "Address", &peer.name);
    }
    if let Some(local) = &ike.local {
        o.set(p1, "Local-address", &local.name);
    }
    if let IkeAuth::Psk(psk) = &ike.auth {
        let shown = if show_secrets { &*psk.0 } else { REDACTED };
        o.set(p1, "Authentication", shown);
    }
}

fn group_name(g: &'static Xf<Group>) -> Result<Option<&'static str>, EmitError> {
    Ok(Some(match g.alg {
        Group::None => return Ok(None),
        Group::Modp(1) => "MODP_768",
        Group::Modp(2) => "MODP_1024",
        Group::Modp(5) => "MODP_1536",
        Group::Modp(14) => "MODP_2048",
        Group::Modp(15) => "MODP_3072",
        Group::Modp(16) => "MODP_4096",
        Group::Modp(17) => "MODP_6144",
        Group::Modp(18) => "MODP_8192",
        Group::Modp(19) => "ECP_256",
        Group::Modp(20) => "ECP_384",
        Group::Modp(21) => "ECP_521",
        Group::Modp(25) => "ECP_192",
        Group::Modp(26) => "ECP_224",
        Group::Modp(27) => "BP_224",
        Group::Modp(28) => "BP_256",
        Group::Modp(29) => "BP_384",
        Group::Modp(30) => "BP_512",
        _ => return Err(EmitError(format!("illegal group {}", g.name))),
    }))
}

fn illegal<A>(x: &Xf<A>) -> EmitError {
    EmitError(format!("illegal transform {}", x.name))
}

/// The AES key length isakmpd is told: default, then the range.
fn aes_bits(enc: Enc) -> Option<&'static str> {
    match enc {
        Enc::Aes => Some("128,128:256"),
        Enc::Aes128 | Enc::AesCtr | Enc::Aes128Ctr | Enc::Aes128Gcm | Enc::Aes128Gmac => {
            Some("128,128:128")
        }
        Enc::Aes192 | Enc::Aes192Ctr | Enc::Aes192Gcm | Enc::Aes192Gmac => Some("192,192:192"),
        Enc::Aes256 | Enc::Aes256Ctr | Enc::Aes256Gcm | Enc::Aes256Gmac => Some("256,256:256"),
        _ => None,
    }
}

/// The part of a key length before the comma, for transform names (isakmpd
/// names may not contain a comma).
fn bits_label(key_length: Option<&str>) -> &str {
    key_length.map_or("", |k| k.split(',').next().unwrap_or(""))
}

fn lifetime(o: &mut Out, transform: &str, seconds: Option<i32>, default: &str) {
    match seconds {
        Some(s) => {
            let life = [transform, "-life"].concat();
            o.set(transform, "Life", &life);
            o.set(&life, "LIFE_TYPE", "SECONDS");
            o.set(&life, "LIFE_DURATION", s);
        }
        None => o.set(transform, "Life", default),
    }
}

/// What phase 1 tells isakmpd: its transform, by isakmpd's names.
pub struct Phase1Transform {
    pub enc: &'static str,
    pub key_length: Option<&'static str>,
    pub hash: &'static str,
    pub group: &'static str,
    pub method: &'static str,
}

impl Phase1Transform {
    /// The transform's section name (unique per peer and settings).
    pub fn name(&self, p1: &str) -> String {
        [
            "phase1-transform-",
            p1,
            "-",
            self.method,
            "-",
            self.hash,
            "-",
            self.enc,
            bits_label(self.key_length),
            "-",
            self.group,
        ]
        .concat()
    }
}

/// Phase 1's transform, or the transform isakmpd has no name for.
pub fn phase1_transform(ike: &Ike) -> Result<Phase1Transform, EmitError> {
    let xfs = &ike.phase1.xfs;
    let (enc, key_length) = match xfs.enc {
        None => ("AES", Some("128,128:256")),
        Some(x) => match x.alg {
            Enc::TripleDesCbc => ("3DES", None),
            Enc::Aes | Enc::Aes128 | Enc::Aes192 | Enc::Aes256 => ("AES", aes_bits(x.alg)),
            Enc::Blowfish => ("BLOWFISH", Some("128,96:192")),
            Enc::Cast128 => ("CAST", None),
            _ => return Err(illegal(x)),
        },
    };
    let hash = match xfs.auth {
        None => "SHA",
        Some(x) => match x.alg {
            Auth::HmacMd5 => "MD5",
            Auth::HmacSha1 => "SHA",
            Auth::HmacSha2_256 => "SHA2_256",
            Auth::HmacSha2_384 => "SHA2_384",
            Auth::HmacSha2_512 => "SHA2_512",
            _ => return Err(illegal(x)),
        },
    };
    let group = match xfs.group {
        None => "MODP_3072",
        Some(g) => group_name(g)?.ok_or_else(|| EmitError(format!("illegal group {}", g.name)))?,
    };
    let method = match ike.auth {
        IkeAuth::Psk(_) => "PRE_SHARED",
        IkeAuth::Rsa => "RSA_SIG",
    };
    Ok(Phase1Transform {
        enc,
        key_length,
        hash,
        group,
        method,
    })
}

fn phase1_section(o: &mut Out, ike: &Ike, p1: &str) -> Result<(), EmitError> {
    let config = ["phase1-", p1].concat();
    o.set(p1, "Configuration", &config);
    let exchange = if ike.phase1.aggressive {
        "AGGRESSIVE"
    } else {
        "ID_PROT"
    };
    o.set(&config, "EXCHANGE_TYPE", exchange);
    let t = phase1_transform(ike)?;
    let transform = t.name(p1);
    for part in ["C add [", &config, "]:Transforms=", &transform, " force\n"] {
        o.0.push_str(part);
    }
    o.set(&transform, "AUTHENTICATION_METHOD", t.method);
    o.set(&transform, "HASH_ALGORITHM", t.hash);
    o.set(&transform, "ENCRYPTION_ALGORITHM", [t.enc, "_CBC"].concat());
    if let Some(k) = t.key_length {
        o.set(&transform, "KEY_LENGTH", k);
    }
    o.set(&transform, "GROUP_DESCRIPTION", t.group);
    lifetime(o, &transform, ike.phase1.lifetime, "LIFE_MAIN_MODE");
    Ok(())
}

fn id_sections(o: &mut Out, ike: &Ike, p1: &str) {
    for (id, tag) in [(&ike.srcid, "ID"), (&ike.dstid, "Remote-ID")] {
        let Some(id) = id else { continue };
        let section = tags::id_section(&id.name);
        o.set(p1, tag, &section);
        let (kind, field) = match id.kind {
            IdKind::Ipv4 => ("IPV4_ADDR", "Address"),
            IdKind::Ipv6 => ("IPV6_ADDR", "Address"),
            IdKind::Fqdn => ("FQDN", "Name"),
            IdKind::UserFqdn => ("USER_FQDN", "Name"),
        };
        o.set(&section, "ID-type", kind);
        o.set(&section, field, &id.name);
    }
}

fn connection_section(o: &mut Out, ike: &Ike, tags: &IkeTags) {
    let p2 = tags.phase2.as_str();
    o.set(p2, "Phase", 2);
    o.set(p2, "ISAKMP-peer", &tags.phase1);
    o.set(p2, "Configuration", ["phase2-", p2].concat());
    o.set(p2, "Local-ID", &tags.local_id);
    if let Some(nat) = &tags.nat_id {
        o.set(p2, "NAT-ID", nat);
    }
    o.set(p2, "Remote-ID", &tags.remote_id);
    if let Some(tag) = &ike.tag {
        o.set(p2, "PF-Tag", tag);
    }
    if let Some(unit) = ike.iface {
        o.set(p2, "Interface", unit);
    }
}

/// Phase 2 cipher: isakmpd's name, key length, and whether it brings its
/// own authentication.
fn phase2_enc(
    ike: &Ike,
    xfs: &Transforms,
) -> Result<(Option<&'static str>, Option<&'static str>, bool), EmitError> {
    let Some(x) = xfs.enc else {
        return Ok(match ike.satype {
            SaType::Esp => (Some("AES"), Some("128,128:256"), true),
            _ => (None, None, true),
        });
    };
    if ike.satype != SaType::Esp {
        return Err(illegal(x));
    }
    let bits = aes_bits(x.alg);
    Ok(match x.alg {
        Enc::TripleDesCbc => (Some("3DES"), None, true),
        Enc::Aes | Enc::Aes128 | Enc::Aes192 | Enc::Aes256 => (Some("AES"), bits, true),
        Enc::AesCtr | Enc::Aes128Ctr | Enc::Aes192Ctr | Enc::Aes256Ctr => {
            (Some("AES_CTR"), bits, true)
        }
        Enc::Aes128Gcm | Enc::Aes192Gcm | Enc::Aes256Gcm => (Some("AES_GCM_16"), bits, false),
        Enc::Aes128Gmac | Enc::Aes192Gmac | Enc::Aes256Gmac => (Some("AES_GMAC"), bits, false),
        Enc::Blowfish => (Some("BLOWFISH"), Some("128,96:192"), true),
        Enc::Cast128 => (Some("CAST"), None, true),
        Enc::Null => (Some("NULL"), None, false),
        _ => return Err(illegal(x)),
    })
}

/// What phase 2 tells isakmpd: its transform, by isakmpd's names.
pub struct Phase2Transform {
    pub enc: Option<&'static str>,
    pub key_length: Option<&'static str>,
    pub auth: Option<&'static str>,
    pub group: Option<&'static str>,
    pub encap: &'static str,
}

impl Phase2Transform {
    /// The transform's section name (unique per connection and settings).
    pub fn name(&self, p2: &str) -> String {
        [
            "phase2-transform-",
            p2,
            "-",
            self.enc.unwrap_or("NONE"),
            bits_label(self.key_length),
            "-",
            self.auth.unwrap_or("NONE"),
            "-",
            self.group.unwrap_or("NONE"),
            "-",
            self.encap,
        ]
        .concat()
    }
}

fn protocol_id(ike: &Ike) -> Result<&'static str, EmitError> {
    match ike.satype {
        SaType::Esp => Ok("IPSEC_ESP"),
        SaType::Ah => Ok("IPSEC_AH"),
        other => Err(EmitError(format!("illegal satype {other}"))),
    }
}

/// Phase 2's transform, or the transform isakmpd has no name for.
pub fn phase2_transform(ike: &Ike) -> Result<Phase2Transform, EmitError> {
    protocol_id(ike)?;
    let xfs = &ike.phase2.xfs;
    let (enc, key_length, needs_auth) = phase2_enc(ike, xfs)?;
    let encap = match ike.tmode {
        Tmode::Tunnel => "TUNNEL",
        Tmode::Transport => "TRANSPORT",
    };
    let auth = match xfs.auth {
        None => needs_auth.then_some("SHA2_256"),
        Some(x) => Some(match x.alg {
            Auth::HmacMd5 => "MD5",
            Auth::HmacSha1 => "SHA",
            Auth::HmacRipemd160 => "RIPEMD",
            Auth::HmacSha2_256 => "SHA2_256",
            Auth::HmacSha2_384 => "SHA2_384",
            Auth::HmacSha2_512 => "SHA2_512",
            _ => return Err(illegal(x)),
        }),
    };
    let group = match xfs.group {
        None => Some("MODP_3072"),
        Some(g) => group_name(g)?,
    };
    Ok(Phase2Transform {
        enc,
        key_length,
        auth,
        group,
        encap,
    })
}

fn phase2_section(o: &mut Out, ike: &Ike, p2: &str) -> Result<(), EmitError> {
    let config = ["phase2-", p2].concat();
    let suite = ["phase2-suite-", p2].concat();
    let protocol = ["phase2-protocol-", p2].concat();
    o.set(&config, "EXCHANGE_TYPE", "QUICK_MODE");
    o.set(&config, "Suites", &suite);
    o.set(&suite, "Protocols", &protocol);
    for part in ["C set [", &protocol, "]:PROTOCOL_ID="] {
        o.0.push_str(part);
    }
    let id = protocol_id(ike)?;
    o.0.push_str(id);
    o.0.push_str(" force\n");
    let t = phase2_transform(ike)?;
    let transform = t.name(p2);
    o.set(&protocol, "Transforms", &transform);
    let id = if ike.satype == SaType::Ah {
        t.auth
    } else {
        t.enc
    };
    o.set(&transform, "TRANSFORM_ID", id.unwrap_or("(null)"));
    if let Some(k) = t.key_length {
        o.set(&transform, "KEY_LENGTH", k);
    }
    o.set(&transform, "ENCAPSULATION_MODE", t.encap);
    if let Some(a) = t.auth {
        o.set(
            &transform,
            "AUTHENTICATION_ALGORITHM",
            ["HMAC_", a].concat(),
        );
    }
    if let Some(g) = t.group {
        o.set(&transform, "GROUP_DESCRIPTION", g);
    }
    lifetime(o, &transform, ike.phase2.lifetime, "LIFE_QUICK_MODE");
    Ok(())
}

/// An IPv4 netmask of `prefix` bits, written out: made once for each.
fn mask4_text(prefix: u8) -> &'static str {
    static MASKS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let masks = MASKS.get_or_init(|| (0..=32).map(|p| inet::mask4(p).to_string()).collect());
    &masks[usize::from(prefix.min(32))]
}

/// isakmpd's ID type of an address (`net`: a network) of a family.
fn addr_type(v4: bool, net: bool) -> &'static str {
    match (v4, net) {
        (true, true) => "IPV4_ADDR_SUBNET",
        (false, true) => "IPV6_ADDR_SUBNET",
        (true, false) => "IPV4_ADDR",
        (false, false) => "IPV6_ADDR",
    }
}

/// An identity section for an address or network.  Networks are given by
/// the name as written up to the `/` and the netmask; `v4` is the address
/// family of the rule's source, which a NAT network is taken to share.
fn network_id(o: &mut Out, section: &str, a: &HostAddr, v4: bool) {
    let bare = a.name.rsplit_once('/').map_or(&*a.name, |(n, _)| n);
    if a.net {
        let mask = if v4 {
            mask4_text(a.prefix).to_string()
        } else {
            inet::ntop6(&inet::mask6(a.prefix))
        };
        o.set(section, "ID-type", addr_type(v4, true));
        o.set(section, "Network", bare);
        o.set(section, "Netmask", mask);
    } else {
        o.set(section, "ID-type", addr_type(a.is_v4(), false));
        o.set(section, "Address", bare);
    }
}

fn phase2_ids(o: &mut Out, ike: &Ike, tags: &IkeTags) {
    let v4 = ike.src.is_v4();
    network_id(o, &tags.local_id, &ike.src, v4);
    if let (Some(nat), Some(section)) = (&ike.src.nat, &tags.nat_id) {
        if nat.net {
            network_id(o, section, nat, v4);
        } else {
            o.set(section, "ID-type", addr_type(v4, false));
            let bare = nat.name.rsplit_once('/').map_or(&*nat.name, |(n, _)| n);
            o.set(section, "Address", bare);
        }
    }
    network_id(o, &tags.remote_id, &ike.dst, ike.dst.is_v4());
    if ike.proto != 0 {
        o.set(&tags.local_id, "Protocol", ike.proto);
        o.set(&tags.remote_id, "Protocol", ike.proto);
    }
    if ike.sport != 0 {
        o.set(&tags.local_id, "Port", ike.sport);
    }
    if ike.dport != 0 {
        o.set(&tags.remote_id, "Port", ike.dport);
    }
}

//! Transforms: the algorithms `auth`, `enc`, `comp` and `group` name, with
//! the key sizes ipsecctl checks.  The names here are the ones ipsec.conf
//! accepts and ipsecctl prints; the isakmpd names live with the emitter.

/// One algorithm a transform keyword can name.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Xf<A: 'static> {
    pub name: &'static str,
    pub alg: A,
    /// Key length bounds in bytes (for auth, the exact length).
    pub keymin: usize,
    pub keymax: usize,
    /// Authentication is part of the cipher (AEAD, null).
    pub noauth: bool,
    /// Needs a nonce that static keys cannot provide.
    pub nostatic: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Auth {
    Unknown,
    None,
    HmacMd5,
    HmacRipemd160,
    HmacSha1,
    HmacSha2_256,
    HmacSha2_384,
    HmacSha2_512,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Enc {
    Unknown,
    None,
    TripleDesCbc,
    Aes,
    Aes128,
    Aes192,
    Aes256,
    AesCtr,
    Aes128Ctr,
    Aes192Ctr,
    Aes256Ctr,
    Aes128Gcm,
    Aes192Gcm,
    Aes256Gcm,
    Aes128Gmac,
    Aes192Gmac,
    Aes256Gmac,
    Blowfish,
    Cast128,
    Chacha20Poly1305,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comp {
    Unknown,
    Deflate,
}

/// Diffie-Hellman groups by IANA number (0: "unknown", none: no PFS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Unknown,
    None,
    Modp(u16),
}

const fn xf<A>(name: &'static str, alg: A, keymin: usize, keymax: usize) -> Xf<A> {
    Xf {
        name,
        alg,
        keymin,
        keymax,
        noauth: false,
        nostatic: false,
    }
}

const fn aead<A>(name: &'static str, alg: A, key: usize) -> Xf<A> {
    Xf {
        name,
        alg,
        keymin: key,
        keymax: key,
        noauth: true,
        nostatic: true,
    }
}

pub static AUTH: &[Xf<Auth>] = &[
    xf("unknown", Auth::Unknown, 0, 0),
    xf("none", Auth::None, 0, 0),
    xf("hmac-md5", Auth::HmacMd5, 16, 0),
    xf("hmac-ripemd160", Auth::HmacRipemd160, 20, 0),
    xf("hmac-sha1", Auth::HmacSha1, 20, 0),
    xf("hmac-sha2-256", Auth::HmacSha2_256, 32, 0),
    xf("hmac-sha2-384", Auth::HmacSha2_384, 48, 0),
    xf("hmac-sha2-512", Auth::HmacSha2_512, 64, 0),
];

pub static ENC: &[Xf<Enc>] = &[
    xf("unknown", Enc::Unknown, 0, 0),
    xf("none", Enc::None, 0, 0),
    xf("3des-cbc", Enc::TripleDesCbc, 24, 24),
    xf("aes", Enc::Aes, 16, 32),
    xf("aes-128", Enc::Aes128, 16, 16),
    xf("aes-192", Enc::Aes192, 24, 24),
    xf("aes-256", Enc::Aes256, 32, 32),
    Xf {
        nostatic: true,
        ..xf("aesctr", Enc::AesCtr, 20, 36)
    },
    Xf {
        nostatic: true,
        ..xf("aes-128-ctr", Enc::Aes128Ctr, 20, 20)
    },
    Xf {
        nostatic: true,
        ..xf("aes-192-ctr", Enc::Aes192Ctr, 28, 28)
    },
    Xf {
        nostatic: true,
        ..xf("aes-256-ctr", Enc::Aes256Ctr, 36, 36)
    },
    aead("aes-128-gcm", Enc::Aes128Gcm, 20),
    aead("aes-192-gcm", Enc::Aes192Gcm, 28),
    aead("aes-256-gcm", Enc::Aes256Gcm, 36),
    aead("aes-128-gmac", Enc::Aes128Gmac, 20),
    aead("aes-192-gmac", Enc::Aes192Gmac, 28),
    aead("aes-256-gmac", Enc::Aes256Gmac, 36),
    xf("blowfish", Enc::Blowfish, 5, 56),
    xf("cast128", Enc::Cast128, 5, 16),
    aead("chacha20-poly1305", Enc::Chacha20Poly1305, 36),
    xf("null", Enc::Null, 0, 0),
];

pub static COMP: &[Xf<Comp>] = &[
    xf("unknown", Comp::Unknown, 0, 0),
    xf("deflate", Comp::Deflate, 0, 0),
];

pub static GROUP: &[Xf<Group>] = &[
    xf("unknown", Group::Unknown, 0, 0),
    xf("none", Group::None, 0, 0),
    xf("modp768", Group::Modp(1), 768, 0),
    xf("grp1", Group::Modp(1), 768, 0),
    xf("modp1024", Group::Modp(2), 1024, 0),
    xf("grp2", Group::Modp(2), 1024, 0),
    xf("modp1536", Group::Modp(5), 1536, 0),
    xf("grp5", Group::Modp(5), 1536, 0),
    xf("modp2048", Group::Modp(14), 2048, 0),
    xf("grp14", Group::Modp(14), 2048, 0),
    xf("modp3072", Group::Modp(15), 3072, 0),
    xf("grp15", Group::Modp(15), 3072, 0),
    xf("modp4096", Group::Modp(16), 4096, 0),
    xf("grp16", Group::Modp(16), 4096, 0),
    xf("modp6144", Group::Modp(17), 6144, 0),
    xf("grp17", Group::Modp(17), 6144, 0),
    xf("modp8192", Group::Modp(18), 8192, 0),
    xf("grp18", Group::Modp(18), 8192, 0),
    xf("ecp256", Group::Modp(19), 256, 0),
    xf("grp19", Group::Modp(19), 256, 0),
    xf("ecp384", Group::Modp(20), 384, 0),
    xf("grp20", Group::Modp(20), 384, 0),
    xf("ecp521", Group::Modp(21), 521, 0),
    xf("grp21", Group::Modp(21), 521, 0),
    xf("ecp192", Group::Modp(25), 192, 0),
    xf("grp25", Group::Modp(25), 192, 0),
    xf("ecp224", Group::Modp(26), 224, 0),
    xf("grp26", Group::Modp(26), 224, 0),
    xf("bp224", Group::Modp(27), 224, 0),
    xf("grp27", Group::Modp(27), 224, 0),
    xf("bp256", Group::Modp(28), 256, 0),
    xf("grp28", Group::Modp(28), 256, 0),
    xf("bp384", Group::Modp(29), 384, 0),
    xf("grp29", Group::Modp(29), 384, 0),
    xf("bp512", Group::Modp(30), 512, 0),
    xf("grp30", Group::Modp(30), 512, 0),
];

/// Finds an algorithm by name.  As in ipsecctl, a name matches the first
/// table entry it is a prefix of: `3des` is `3des-cbc`, `hmac-sha2` is
/// `hmac-sha2-256`.
pub fn lookup<A>(table: &'static [Xf<A>], name: &str) -> Option<&'static Xf<A>> {
    table.iter().find(|x| x.name.starts_with(name))
}

/// The transforms set on a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Transforms {
    pub auth: Option<&'static Xf<Auth>>,
    pub enc: Option<&'static Xf<Enc>>,
    pub comp: Option<&'static Xf<Comp>>,
    pub group: Option<&'static Xf<Group>>,
}

/// The named entry of a table; used for defaults, which are always present.
pub fn entry<A: PartialEq>(table: &'static [Xf<A>], alg: A) -> &'static Xf<A> {
    table
        .iter()
        .find(|x| x.alg == alg)
        .expect("default algorithms are in their tables")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_by_prefix_in_table_order() {
        assert_eq!(lookup(ENC, "3des").unwrap().alg, Enc::TripleDesCbc);
        assert_eq!(lookup(ENC, "aes").unwrap().alg, Enc::Aes);
        assert_eq!(lookup(ENC, "aes-1").unwrap().alg, Enc::Aes128);
        assert_eq!(lookup(AUTH, "hmac-sha2").unwrap().alg, Auth::HmacSha2_256);
        assert_eq!(lookup(AUTH, "").unwrap().alg, Auth::Unknown);
        assert_eq!(lookup(GROUP, "grp1").unwrap().name, "grp1");
        assert_eq!(lookup(GROUP, "modp").unwrap().name, "modp768");
        assert!(lookup(ENC, "aes-512").is_none());
    }
}

//! The reserved words of ipsec.conf(5).  A bare word that is one of these is
//! a keyword; any other word, and every quoted string, is a plain string.

macro_rules! keywords {
    ($($variant:ident => $text:literal,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Keyword { $($variant,)* }

        /// Sorted by text, for binary search.
        #[cfg(test)]
        const TABLE: &[(&str, Keyword)] = &[$(($text, Keyword::$variant),)*];

        impl Keyword {
            pub fn as_str(self) -> &'static str {
                match self { $(Keyword::$variant => $text,)* }
            }
        }
    };
}

keywords! {
    Acquire => "acquire",
    Active => "active",
    Aggressive => "aggressive",
    Ah => "ah",
    Any => "any",
    Auth => "auth",
    Authkey => "authkey",
    Bundle => "bundle",
    Bypass => "bypass",
    Comp => "comp",
    Deny => "deny",
    Dontacq => "dontacq",
    Dstid => "dstid",
    Dynamic => "dynamic",
    Enc => "enc",
    Enckey => "enckey",
    Esp => "esp",
    File => "file",
    Flow => "flow",
    From => "from",
    Group => "group",
    Ike => "ike",
    In => "in",
    Include => "include",
    Interface => "interface",
    Ipcomp => "ipcomp",
    Ipip => "ipip",
    Lifetime => "lifetime",
    Local => "local",
    Main => "main",
    Out => "out",
    Passive => "passive",
    Peer => "peer",
    Port => "port",
    Proto => "proto",
    Psk => "psk",
    Quick => "quick",
    Require => "require",
    Rsa => "rsa",
    Spi => "spi",
    Srcid => "srcid",
    Tag => "tag",
    Tcpmd5 => "tcpmd5",
    To => "to",
    Transport => "transport",
    Tunnel => "tunnel",
    Type => "type",
    Udpencap => "udpencap",
    Use => "use",
}

impl Keyword {
    /// The keyword a bare word stands for, if it is one.
    pub fn lookup(word: &[u8]) -> Option<Keyword> {
        Some(match word {
            b"acquire" => Keyword::Acquire,
            b"active" => Keyword::Active,
            b"aggressive" => Keyword::Aggressive,
            b"ah" => Keyword::Ah,
            b"any" => Keyword::Any,
            b"auth" => Keyword::Auth,
            b"authkey" => Keyword::Authkey,
            b"bundle" => Keyword::Bundle,
            b"bypass" => Keyword::Bypass,
            b"comp" => Keyword::Comp,
            b"deny" => Keyword::Deny,
            b"dontacq" => Keyword::Dontacq,
            b"dstid" => Keyword::Dstid,
            b"dynamic" => Keyword::Dynamic,
            b"enc" => Keyword::Enc,
            b"enckey" => Keyword::Enckey,
            b"esp" => Keyword::Esp,
            b"file" => Keyword::File,
            b"flow" => Keyword::Flow,
            b"from" => Keyword::From,
            b"group" => Keyword::Group,
            b"ike" => Keyword::Ike,
            b"in" => Keyword::In,
            b"include" => Keyword::Include,
            b"interface" => Keyword::Interface,
            b"ipcomp" => Keyword::Ipcomp,
            b"ipip" => Keyword::Ipip,
            b"lifetime" => Keyword::Lifetime,
            b"local" => Keyword::Local,
            b"main" => Keyword::Main,
            b"out" => Keyword::Out,
            b"passive" => Keyword::Passive,
            b"peer" => Keyword::Peer,
            b"port" => Keyword::Port,
            b"proto" => Keyword::Proto,
            b"psk" => Keyword::Psk,
            b"quick" => Keyword::Quick,
            b"require" => Keyword::Require,
            b"rsa" => Keyword::Rsa,
            b"spi" => Keyword::Spi,
            b"srcid" => Keyword::Srcid,
            b"tag" => Keyword::Tag,
            b"tcpmd5" => Keyword::Tcpmd5,
            b"to" => Keyword::To,
            b"transport" => Keyword::Transport,
            b"tunnel" => Keyword::Tunnel,
            b"type" => Keyword::Type,
            b"udpencap" => Keyword::Udpencap,
            b"use" => Keyword::Use,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        for (text, kw) in TABLE {
            assert_eq!(Keyword::lookup(text.as_bytes()), Some(*kw));
            assert_eq!(kw.as_str(), *text);
        }
        assert_eq!(Keyword::lookup(b"Ike"), None);
        assert_eq!(Keyword::lookup(b"ikes"), None);
    }
}

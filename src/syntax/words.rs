//! The settings whose values are keywords (`esp`, `tunnel`, `in`, `require`,
//! `passive`, `enc`): the words a rule is written with.  The syntax tree
//! holds them as parsed and the resolved rules keep them unchanged.

use std::fmt;

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)* }

        impl $name {
            /// The word ipsec.conf and ipsecctl's output use for it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum! {
    /// The encapsulating protocol.
    SaType { Esp => "esp", Ah => "ah", Ipcomp => "ipcomp", Tcpmd5 => "tcpmd5", Ipip => "ipip", }
}
keyword_enum! {
    Tmode { Transport => "transport", Tunnel => "tunnel", }
}
keyword_enum! {
    Direction { In => "in", Out => "out", }
}
keyword_enum! {
    FlowType {
        Use => "use", Acquire => "acquire", Require => "require",
        Deny => "deny", Bypass => "bypass", Dontacq => "dontacq",
    }
}
keyword_enum! {
    IkeMode { Active => "active", Passive => "passive", Dynamic => "dynamic", }
}
keyword_enum! {
    /// Which transform a `auth|enc|comp|group NAME` sets.
    XfKind { Auth => "auth", Enc => "enc", Comp => "comp", Group => "group", }
}
